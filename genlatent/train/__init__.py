"""The common trainer: jit-compiled, data-parallel, checkpointed."""

from genlatent.train.build import setup
from genlatent.train.checkpoint import Checkpointer, CheckpointError
from genlatent.train.restore import load_config, restore_workdir
from genlatent.train.results import check_estimators, evaluate_and_write, write_figures
from genlatent.train.trainer import Interrupted, NonFiniteError, train_and_evaluate
from genlatent.train.workdir import ConfigChangedError, WorkdirBusyError, WorkdirError

__all__ = ["CheckpointError", "Checkpointer", "ConfigChangedError", "Interrupted",
           "NonFiniteError", "WorkdirBusyError", "WorkdirError", "check_estimators",
           "evaluate_and_write", "load_config", "restore_workdir", "setup", "train_and_evaluate",
           "write_figures"]
