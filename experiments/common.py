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
  """Starts JAX's distributed runtime when this is one process of several.

  Either set JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and
  JAX_PROCESS_ID on every process, or run under a launcher JAX detects on its own
  (SLURM, Open MPI, a Cloud TPU slice). On CPU the collectives go through gloo.
  """
  num_processes = int(os.environ.get("JAX_NUM_PROCESSES", "1"))
  cluster = any(v in os.environ for v in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE",
                                           "TPU_WORKER_HOSTNAMES"))
  if num_processes <= 1 and not cluster:
    return
  if os.environ.get("JAX_PLATFORMS", "").startswith("cpu") or jax.default_backend() == "cpu":
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if num_processes > 1:
    jax.distributed.initialize(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
                               num_processes=num_processes,
                               process_id=int(os.environ["JAX_PROCESS_ID"]))
  else:
    jax.distributed.initialize()
