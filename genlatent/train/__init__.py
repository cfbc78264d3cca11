"""The common trainer: jit-compiled, data-parallel, checkpointed."""

from genlatent.train.checkpoint import Checkpointer, CheckpointError
from genlatent.train.trainer import (Interrupted, NonFiniteError, evaluate_and_write, load_config,
                                     restore_workdir, setup, train_and_evaluate, write_figures)

__all__ = ["CheckpointError", "Checkpointer", "Interrupted", "NonFiniteError", "evaluate_and_write",
           "load_config", "restore_workdir", "setup", "train_and_evaluate", "write_figures"]
