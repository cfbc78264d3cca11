"""What every command-line action shares: clear one-line errors, multi-host start-up."""

import contextlib
import os
import sys

import jax

from genlatent.core import UnknownNameError


@contextlib.contextmanager
def clear_errors():
  """Errors a user can fix print as one message and exit 1, not as a stack trace."""
  from genlatent.data import DataSourceNotFoundError
  from genlatent.train import CheckpointError, NonFiniteError
  try:
    yield
  except (UnknownNameError, DataSourceNotFoundError, CheckpointError, NonFiniteError,
          FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)


def maybe_initialize_distributed():
  """Starts JAX's distributed runtime when the environment says this is one of several processes.

  Set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID (or run under a
  launcher JAX detects on its own, e.g. SLURM or a Cloud TPU slice).
  """
  if os.environ.get("JAX_NUM_PROCESSES", "1") != "1" or "SLURM_NTASKS" in os.environ:
    if jax.default_backend() == "cpu":
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize()
