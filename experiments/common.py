"""What every command-line action shares: one-line errors, a quiet console, multi-host start-up.

Multi-process runs fail in bounded time with one line on every surviving process:
a process that never joins (`GENLATENT_INIT_TIMEOUT_S`, default 300 s), a peer that
dies or hangs (`GENLATENT_HEARTBEAT_TIMEOUT_S`, default 100 s), a coordinator port
already in use, or a collective that loses its peer. JAX's own timeouts are set
beyond these, so its multi-hundred-line abort never comes first.
"""

import atexit
import contextlib
import difflib
import errno
import importlib.util
import os
import re
import socket
import subprocess
import sys
import threading
import time

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

INIT_TIMEOUT_ENV = "GENLATENT_INIT_TIMEOUT_S"
HEARTBEAT_TIMEOUT_ENV = "GENLATENT_HEARTBEAT_TIMEOUT_S"
DEFAULT_INIT_TIMEOUT_S = 300.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 100.0
_ALIVE = "genlatent/alive/"  # coordinator key-value directory: one entry per process

_watch = None  # the _PeerWatch of this process, once the distributed runtime is up
_multi_process = False  # set once jax.distributed.initialize has returned

# Run as a child process that this process's stderr goes through (see `_filter_stderr`).
_STDERR_FILTER = r"""
import os, re, select, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
  signal.signal(s, signal.SIG_IGN)  # live until the parent's last byte, however it ends
who, address = sys.argv[1], sys.argv[2]
FATAL = b"JAX distributed service detected fatal errors"
LOG = re.compile(rb"^[IWEF][0-9]{4} ")
COORDINATION = (b"coordination", b"client.h", b"distributed service", b"Barrier",
                b"preemption", b"GRPC", b"grpc")
held, fatal, said, partial, passing, holding = [], [], False, b"", False, False

def line_done(line):
  global said, holding
  if fatal or FATAL in line:
    fatal.append(line)
    return
  if LOG.match(line):
    holding = line[:1] in b"WEF" and any(c in line for c in COORDINATION)
  elif line.startswith(b"error: "):
    holding = False
  if holding:  # with its continuation lines; shown at the end unless a one-line error
    held.append(line)  # (this process's own, or the fatal abort's) explains them
  else:
    said = said or line.startswith(b"error: ")
    os.write(2, line)

while True:
  ready, _, _ = select.select([0], [], [], 0.1)
  if not ready:  # a progress bar's line without a newline yet: show it now
    if partial and not fatal and not LOG.match(partial):
      said = said or partial.startswith(b"error: ")
      os.write(2, partial)
      partial, passing = b"", True
    continue
  chunk = os.read(0, 65536)
  if not chunk:
    break
  while chunk:
    end = chunk.find(b"\n") + 1
    piece, chunk = (chunk, b"") if end == 0 else (chunk[:end], chunk[end:])
    if passing:
      os.write(2, piece)
      passing = end == 0
    elif end:
      line_done(partial + piece)
      partial = b""
    else:
      partial += piece
if partial and not passing:
  line_done(partial)
if not fatal and not said:  # said: a peer's death also makes the runtime warn, often
  for line in held:         # after the error line that names it
    os.write(2, line)
elif not said:
  text = b"".join(fatal).decode(errors="replace")
  tasks = re.search(r"stopped sending heartbeats\):\s*([0-9][0-9,\s]*)", text)
  if tasks:
    ids = ", ".join(tasks.group(1).replace(",", " ").split())
    what = f"process(es) {ids} stopped sending heartbeats: killed, crashed or hung"
  elif any(s in text for s in ("PollForError", "Socket closed", "UNAVAILABLE", "unavailable")):
    what = (f"the coordinator (process 0 at {address}) is gone: process 0 was killed, "
            "crashed or is unreachable")
  else:
    status = text.split("absl::Status:", 1)[-1].strip().splitlines()[0][:200]
    what = f"the distributed runtime failed ({status})"
  os.write(2, (f"error: {who}: {what}. Check the other processes' output, then restart "
               "all of them; training resumes from the last checkpoint.\n").encode())
"""


def _fail(message: str, code: int = 1):
  """Prints `error: message` and leaves at once: no atexit handlers, so no shutdown
  barrier with peers that are gone (JAX would wait for them, then abort)."""
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.stdout.flush()
  if _watch is not None:  # tell the peers; a dead coordinator must not hold us here
    tell = threading.Thread(target=_watch.announce, args=("failed",), daemon=True)
    tell.start()
    tell.join(timeout=2.0)
  os._exit(code)


def _is_peer_failure(error: BaseException) -> bool:
  """A collective or the coordination service lost another process."""
  text = str(error)
  return _multi_process and any(
      s in text for s in ("Gloo", "gloo", "Connection closed by peer", "heartbeat",
                          "coordination service", "Connection reset by peer"))


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
  except Exception as e:  # pylint: disable=broad-except
    if _is_peer_failure(e):
      _fail(f"{_who()}: {_peer_failure_text(e)}")
    if isinstance(e, (UnknownNameError, DataSourceNotFoundError, CheckpointError,
                      NonFiniteError, FileNotFoundError, ValueError)):
      message = str(e)
    elif isinstance(e, PermissionError):
      message = (f"permission denied: {e.filename or e}; fix its permissions or use another "
                 "--workdir.")
    elif workdir_lib.is_disk_full(e):
      message = (f"no space left on device ({type(e).__name__}); free some space and rerun "
                 "the same command to resume from the last checkpoint.")
      if own_process:
        print("error: " + message, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)  # pylint: disable=protected-access
    else:
      raise
    if _multi_process:  # a plain exit would wait at JAX's shutdown barrier for the peers
      _fail(" ".join(message.split()))
    fail(message)


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


def _who() -> str:
  return f"process {jax.process_index()} of {jax.process_count()}"


def _peer_failure_text(error: BaseException) -> str:
  first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
  gone = _watch.gone_peers() if _watch is not None else []
  if not gone and jax.process_count() == 2:
    gone = [1 - jax.process_index()]  # the only peer there is
  whom = (f"process{'es' if len(gone) > 1 else ''} {', '.join(map(str, gone))} stopped"
          if gone else "another process has stopped or hangs")
  return (f"a collective with the other processes failed ({first}): {whom}. Check "
          "every process's output for its own error, then restart all of them; training "
          "resumes from the last checkpoint.")


def _seconds(value, env: str, default: float) -> float:
  if value is None:
    value = os.environ.get(env, default)
  try:
    seconds = float(value)
  except ValueError:
    seconds = -1.0
  if not seconds > 0:
    _fail(f"{env}={value!r} is not a positive number of seconds; e.g. {env}={default:.0f}.")
  return seconds


def _filter_stderr(who: str, address: str):
  """Sends this process's stderr through a child that passes it on unchanged, except
  JAX's abort when the coordination service fails (a peer or the coordinator died
  outside a collective): that C++ stack dump becomes one line naming what died. The
  abort itself cannot be caught in-process; the child outlives it to say so."""
  read, write = os.pipe()
  try:
    subprocess.Popen([sys.executable, "-c", _STDERR_FILTER, who, address], stdin=read,
                     start_new_session=True)
  except OSError:
    os.close(write)
    return
  finally:
    os.close(read)
  sys.stderr.flush()
  os.dup2(write, 2)
  os.close(write)


def _check_port_free(address: str, who: str):
  """Process 0 serves the coordinator on the port of `address`: fail at once if taken."""
  port = int(address.rsplit(":", 1)[1])
  for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
    try:
      with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no conflict
        s.bind((host, port))
      return
    except OSError as e:
      if e.errno == errno.EADDRINUSE:
        _fail(f"{who}: the coordinator port {port} (JAX_COORDINATOR_ADDRESS={address}) is "
              "in use by another program, perhaps an earlier run still alive; stop it or "
              "give every process a free port.")
      # e.g. no IPv6 on this host: try IPv4


def maybe_initialize_distributed(init_timeout_s: float | None = None,
                                 heartbeat_timeout_s: float | None = None):
  """Starts JAX's distributed runtime when this is one process of several.

  Either set JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and
  JAX_PROCESS_ID on every process, or run under a launcher JAX detects on its own
  (SLURM, Open MPI, a Cloud TPU slice). On CPU the collectives go through gloo.

  Args:
    init_timeout_s: how long every process waits for all of them to join
      (default: $GENLATENT_INIT_TIMEOUT_S, else 300 s).
    heartbeat_timeout_s: how long a silent peer is tolerated once running
      (default: $GENLATENT_HEARTBEAT_TIMEOUT_S, else 100 s).
  """
  global _multi_process
  num_processes = int(os.environ.get("JAX_NUM_PROCESSES", "1"))
  cluster = any(v in os.environ for v in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE",
                                           "TPU_WORKER_HOSTNAMES"))
  if num_processes <= 1 and not cluster:
    return
  init_timeout = _seconds(init_timeout_s, INIT_TIMEOUT_ENV, DEFAULT_INIT_TIMEOUT_S)
  heartbeat = _seconds(heartbeat_timeout_s, HEARTBEAT_TIMEOUT_ENV, DEFAULT_HEARTBEAT_TIMEOUT_S)
  if os.environ.get("JAX_PLATFORMS", "").startswith("cpu") or jax.default_backend() == "cpu":
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  kwargs, address, who = {}, "the coordinator", "this process"
  if num_processes > 1:
    missing = [v for v in ("JAX_COORDINATOR_ADDRESS", "JAX_PROCESS_ID") if v not in os.environ]
    if missing:
      _fail(f"JAX_NUM_PROCESSES={num_processes} but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set; set JAX_COORDINATOR_ADDRESS="
            "host:port of process 0 and JAX_PROCESS_ID=0.. on every process.")
    address = os.environ["JAX_COORDINATOR_ADDRESS"]
    process_id = int(os.environ["JAX_PROCESS_ID"])
    who = f"process {process_id} of {num_processes}"
    if process_id == 0:
      _check_port_free(address, who)
    kwargs = dict(coordinator_address=address, num_processes=num_processes,
                  process_id=process_id)
  _filter_stderr(who, address)
  # JAX aborts with a C++ stack dump when its own timeouts expire; ours expire first.
  deadline = threading.Timer(init_timeout, _fail, args=(
      f"{who}: not all {num_processes if num_processes > 1 else ''} processes joined "
      f"{address} within {init_timeout:.0f}s. Check that every process is started "
      f"(JAX_PROCESS_ID 0 to {num_processes - 1}, each with JAX_NUM_PROCESSES={num_processes}"
      f" and the same JAX_COORDINATOR_ADDRESS), that process 0 runs and that this host "
      f"reaches {address}; {INIT_TIMEOUT_ENV} sets this wait.",))
  deadline.daemon = True
  deadline.start()
  jax.distributed.initialize(**kwargs, initialization_timeout=int(2 * init_timeout + 10),
                             heartbeat_timeout_seconds=int(2 * heartbeat + 10))
  deadline.cancel()
  _multi_process = jax.process_count() > 1
  _start_peer_watch(heartbeat, address)


def _start_peer_watch(heartbeat: float, address: str):
  global _watch
  from jax._src import distributed  # the coordinator's key-value store has no public API
  client = getattr(distributed.global_state, "client", None)
  if client is None or not hasattr(client, "key_value_dir_get"):
    return
  _watch = _PeerWatch(client, heartbeat, address)
  _watch.start()
  atexit.register(_watch.announce, "done")  # runs before JAX's own shutdown handler


class _PeerWatch(threading.Thread):
  """Each process posts a counter to the coordinator every heartbeat / 5 seconds and
  reads the others'; a peer whose counter stands still for `heartbeat` seconds, or
  that posted 'failed', ends this process with one line naming it."""

  def __init__(self, client, heartbeat: float, address: str):
    super().__init__(name="genlatent-peer-watch", daemon=True)
    self.client, self.heartbeat, self.address = client, heartbeat, address
    self.index, self.count = jax.process_index(), jax.process_count()
    self.who = _who()
    self._stop = threading.Event()
    self._lock = threading.Lock()
    self._states: dict[int, str] = {}

  def announce(self, state: str):
    """Tells the peers this process is 'done' (a normal exit) or 'failed'."""
    self._stop.set()
    with self._lock, contextlib.suppress(Exception):
      self.client.key_value_set(f"{_ALIVE}{self.index}", state, allow_overwrite=True)

  def gone_peers(self) -> list[int]:
    return sorted(i for i, s in self._states.items() if s in ("failed", "done"))

  def _read(self) -> dict[int, str]:
    return {int(key.rsplit("/", 1)[1]): value
            for key, value in self.client.key_value_dir_get(_ALIVE)}

  def run(self):
    period = max(self.heartbeat / 5, 0.2)
    seen = {i: (None, time.monotonic()) for i in range(self.count) if i != self.index}
    beat = 0
    while not self._stop.wait(0 if beat == 0 else period):
      try:
        with self._lock:
          if self._stop.is_set():
            return
          self.client.key_value_set(f"{_ALIVE}{self.index}", str(beat), allow_overwrite=True)
          self._states = states = self._read()
      except Exception as e:  # pylint: disable=broad-except
        if self._stop.is_set():
          return
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        _fail(f"{self.who}: lost the coordinator (process 0 at {self.address}): {first}. "
              "Check process 0's output, then restart all processes; training resumes "
              "from the last checkpoint.")
      beat += 1
      now = time.monotonic()
      for i, (value, since) in seen.items():
        state = states.get(i)
        if state == "failed":
          _fail(f"{self.who}: process {i} stopped with an error (see the line it printed); "
                "fix it, then restart all processes.")
        if state == "done":
          continue
        if state != value:
          seen[i] = (state, now)
        elif now - since > self.heartbeat:
          _fail(f"{self.who}: process {i} sent no heartbeat for {self.heartbeat:.0f}s: it "
                "was killed, crashed or hangs. Check its output and its host, then restart "
                f"all processes ({HEARTBEAT_TIMEOUT_ENV} sets this wait); training resumes "
                "from the last checkpoint.")


def run_in_process(define_flags, run, argv, config_file_flag: str | None = None) -> None:
  """A command in this process with its own flags (tests run several in one process).

  Args:
    define_flags: (flag_values) -> None, the command's flags.
    run: (flag_values, own_process) -> None, the command once its flags are parsed.
    argv: the command line, program name first.
    config_file_flag: the command's config-file flag, if it has one (see `parse_flags`).
  """
  flag_values = flags.FlagValues()
  define_flags(flag_values)
  parse_flags(argv, flag_values, config_file_flag=config_file_flag)
  try:
    run(flag_values, own_process=False)
  finally:
    workdir_lib.release_library_logs()
