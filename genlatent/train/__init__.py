"""The common trainer: jit-compiled, data-parallel, checkpointed."""

from genlatent.train.checkpoint import Checkpointer, CheckpointError
from genlatent.train.trainer import (NonFiniteError, evaluate_and_write, load_config,
                                     restore_workdir, setup, train_and_evaluate, write_figures)

__all__ = ["CheckpointError", "Checkpointer", "NonFiniteError", "evaluate_and_write",
           "load_config", "restore_workdir", "setup", "train_and_evaluate", "write_figures"]
