"""What every command-line action shares: one-line errors, a quiet console, multi-host start-up."""

import contextlib
import difflib
import importlib.util
import os
import re
import sys

import jax
from absl import flags
from absl import logging as absl_logging

from genlatent.core import UnknownNameError
from genlatent.data import DataSourceNotFoundError
from genlatent.train import CheckpointError, NonFiniteError
from genlatent.train import workdir as workdir_lib


def fail(message: str) -> None:
  """Prints `error: message` as one line on stderr and exits 1."""
  print("error: " + " ".join(str(message).split()), file=sys.stderr, flush=True)
  sys.exit(1)


@contextlib.contextmanager
def clear_errors(own_process: bool = False):
  """Errors a user can fix print as one line and exit 1, not as a stack trace.

  A full disk or a permission error on a file is the user's to fix too; any
  other error is a bug in genlatent and keeps its traceback. With
  `own_process` (a command run from the shell), a full disk ends the process at
  once: orbax's background writer threads would otherwise print their own
  "Event loop is closed" tracebacks while the interpreter shuts down.
  """
  try:
    yield
  except (UnknownNameError, DataSourceNotFoundError, CheckpointError, NonFiniteError,
          FileNotFoundError, ValueError) as e:
    fail(e)
  except PermissionError as e:
    fail(f"permission denied: {e.filename or e}; fix its permissions or use another "
         "--workdir.")
  except Exception as e:  # pylint: disable=broad-except
    if workdir_lib.is_disk_full(e):
      message = (f"no space left on device ({type(e).__name__}); free some space and rerun "
                 "the same command to resume from the last checkpoint.")
      if own_process:
        print("error: " + message, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)  # pylint: disable=protected-access
      fail(message)
    raise


def _condense(message: str) -> str:
  """A multi-line flag error as one line: its first line and the exception it ends with."""
  lines = [line.strip() for line in str(message).splitlines() if line.strip()]
  if len(lines) <= 1:
    return lines[0] if lines else str(message)
  last = next((line for line in reversed(lines)
               if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line)), lines[-1])
  return f"{lines[0].rstrip(':')} {last}"


def _unknown_field(name: str, config) -> str:
  """'unknown field model.latnet_dim; did you mean model.latent_dim?' for --config.<name>."""
  node, done = config, []
  for part in name.split("."):
    keys = list(node.keys()) if hasattr(node, "keys") else []
    if part not in keys:
      close = difflib.get_close_matches(part, keys, n=1)
      where = ".".join(done)
      hint = (f"did you mean {'.'.join(done + close)}?" if close else
              f"fields{' of ' + where if where else ''}: {', '.join(sorted(keys))}.")
      return f"unknown field {name} (--config.{name}); {hint}"
    node, done = node[part], done + [part]
  return f"bad override --config.{name}"


def _load_config(argv, flag: str):
  """The config `--<flag>=path[:arg]` names, as config_flags loads it (None if it cannot)."""
  ref = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith(f"--{flag}=")), None)
  if ref is None:
    return None
  path, _, arg = ref.partition(":")
  try:
    spec = importlib.util.spec_from_file_location("genlatent_cli_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()
  except Exception:  # pylint: disable=broad-except
    return None  # the original error is re-raised


def parse_flags(argv, flag_values=flags.FLAGS, config_file_flag: str | None = None):
  """Parses `argv` like absl does, but every flag mistake is one line (exit 1).

  With `config_file_flag`, a missing config file and a `--<flag>.<field>=`
  override naming no field of the config are said plainly.
  """
  if config_file_flag:
    prefix = f"--{config_file_flag}="
    for arg in argv[1:]:
      if arg.startswith(prefix):
        path = arg[len(prefix):].partition(":")[0]
        if not os.path.isfile(path):
          fail(f"no config file {path!r} ({arg}); paths are relative to the current "
               "directory, e.g. --config=configs/vae.py:smoke.")
  try:
    return flag_values(argv)
  except flags.UnrecognizedFlagError as e:
    name = getattr(e, "flagname", "") or ""
    if config_file_flag and name.startswith(config_file_flag + "."):
      config = flag_values[config_file_flag].value
      if config is not None:
        fail(_unknown_field(name[len(config_file_flag) + 1:], config))
    fail(f"{e}; see --helpfull for the flags.")
  except flags.Error as e:
    fail(_condense(e))
  except (AttributeError, KeyError):  # config_flags: an override names no field
    if config_file_flag:
      config = _load_config(argv, config_file_flag)
      prefix = f"--{config_file_flag}."
      for arg in argv[1:]:
        if arg.startswith(prefix) and config is not None:
          name = arg[len(prefix):].partition("=")[0]
          message = _unknown_field(name, config)
          if message.startswith("unknown field"):
            fail(message)
    raise


def quiet_console(flag_values=flags.FLAGS) -> None:
  """Library INFO logs go to <workdir>/log.txt instead of the console; --verbosity keeps them."""
  if "verbosity" in flag_values and flag_values["verbosity"].present:
    absl_logging.set_verbosity(flag_values.verbosity)
    return
  workdir_lib.capture_library_logs()


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
