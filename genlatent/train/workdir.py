"""What keeps a workdir whole: one run at a time, atomic bookkeeping, configs checked on resume.

A workdir holds one run: `config.json` (the resolved config, and the history of
the changes a resume was allowed to make), `checkpoints/`, `metrics.jsonl`,
`train_time.json`, `eval.json` with `eval_values.npz`, and `log.txt` (library
logs). Everything here is written by process 0 through a temporary file and a
rename, so a crash leaves the old file or the new one, never half of one; and a
file that is damaged anyway is named in the error.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib.util
import json
import logging
import math
import os
import socket
import sys
import tempfile
import time
from typing import Any, Iterator

import jax
import ml_collections
import numpy as np

log = logging.getLogger(__name__)

_UMASK = os.umask(0o022)
os.umask(_UMASK)

CONFIG_FILE = "config.json"
CONFIGS_DIR = "configs"  # today's config modules, for fields an older config.json lacks
HISTORY_KEY = "config_history"  # in config.json: [{"from_step", "changes": {field: [old, new]}}]
LOCK_FILE = "lock"
LOG_FILE = "log.txt"
TRAIN_TIME_FILE = "train_time.json"

# Fields a resumed run may change, because the steps already taken stay valid
# under the new value: when to log, checkpoint or evaluate, how to evaluate,
# how many devices (results do not depend on it beyond float rounding), and how
# long to train (see `check_resume`). Every other field shapes the trained model.
# Model fields read by the annealed estimators and by `sample` alone (no family
# trains with them: the Boltzmann families' PCD chains persist in the train state).
EVALUATION_MODEL_FIELDS = ("model.ais_schedule", "model.ais_leapfrog_steps", "model.ais_chains",
                           "model.ais_base", "model.sample_steps")
RESUMABLE_FIELDS = ("num_steps", "progress_bar", "final_evaluation", "log_every",
                    "checkpoint_every", "keep_checkpoints", "eval_every", "parallelism",
                    "num_devices") + EVALUATION_MODEL_FIELDS
EVALUATION_PREFIX = "eval."  # fields that change only how a trained model is evaluated
RESUMABLE_PREFIXES = (EVALUATION_PREFIX,)


def evaluation_only(field: str) -> bool:
  """Whether a config field changes how a trained model is evaluated, not the training."""
  return field.startswith(EVALUATION_PREFIX) or field in EVALUATION_MODEL_FIELDS


class WorkdirError(ValueError):
  """A workdir, or a file in it, that a run cannot use as it is (a user-fixable problem)."""


class WorkdirBusyError(WorkdirError):
  """Another live process holds the workdir's lock."""


class ConfigChangedError(WorkdirError):
  """A resume asked for config changes that the saved checkpoints cannot honour."""


# ---------------------------------------------------------------------------
# The workdir itself and its lock.


def check_path(workdir: str) -> str:
  """The absolute workdir, after checking it can be one (creates nothing).

  Raises:
    WorkdirError: empty, a file, or (it or its nearest existing parent) not writable.
  """
  if not workdir or not str(workdir).strip():
    raise WorkdirError("--workdir is empty; give the directory for this run's checkpoints "
                       "and results, e.g. --workdir=runs/vae_digits.")
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    raise WorkdirError(f"workdir {path} is a file, not a directory; choose another --workdir.")
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise WorkdirError(f"workdir {path} cannot be created: {existing} is a file.")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise WorkdirError(f"workdir {path} is not writable ({existing} denies writing); "
                       "choose another --workdir or fix its permissions.")
  return path


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # alive, owned by someone else
    return True
  return True


def _holder(path: str) -> str:
  """Who the lock file says holds it, for the error message."""
  try:
    with open(path, encoding="utf-8") as f:
      info = json.load(f)
    return (f"process {info['pid']} on {info['host']} (started {info['started']}: "
            f"{info['command']})")
  except (OSError, ValueError, KeyError, TypeError):
    return "another process"


@contextlib.contextmanager
def claim(workdir: str, create: bool = True) -> Iterator[str]:
  """Creates `workdir` if needed and holds its lock for the block; yields the absolute path.

  With `create=False` (evaluating a trained run) a missing workdir is a `WorkdirError`.

  The lock is an exclusive `flock` on `<workdir>/lock`, so the kernel releases it
  when its holder dies: a lock left by a killed run is simply taken over. A
  second live run gets `WorkdirBusyError` at once. Only process 0 of a
  multi-process run takes it. If the block fails and this call created the
  workdir, the then empty workdir is removed again, so a refused run leaves
  nothing behind.
  """
  path = check_path(workdir)
  created = not os.path.exists(path)
  if created and not create:
    raise WorkdirError(f"no workdir {path}; train first (python -m experiments.train "
                       f"--config=... --workdir={workdir}).")
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise WorkdirError(f"workdir {path} cannot be created: {e.strerror}.") from None
  ok = False
  try:
    if jax.process_index() == 0:
      with _lock(os.path.join(path, LOCK_FILE)):
        yield path
    else:
      yield path
    ok = True
  finally:
    if created and not ok:
      with contextlib.suppress(OSError):
        os.rmdir(path)  # only succeeds while empty


@contextlib.contextmanager
def _lock(path: str):
  while True:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      os.close(fd)
      raise WorkdirBusyError(
          f"workdir {os.path.dirname(path)} is in use by {_holder(path)}; wait for it to "
          "finish or stop it (a killed run's lock is taken over), or use another "
          "--workdir.") from None
    # The previous holder may have removed the file between our open and flock:
    # then we hold a lock on a file nobody else will see; start again.
    try:
      same = os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
      same = False
    if same:
      break
    os.close(fd)
  try:
    stale = os.read(fd, 4096)
    if stale.strip():
      with contextlib.suppress(ValueError, KeyError, TypeError):
        pid = json.loads(stale)["pid"]
        log.info("Took over the lock of process %s, which is no longer running.", pid)
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    yield
  finally:
    with contextlib.suppress(OSError):
      os.unlink(path)
    os.close(fd)  # releases the flock


# ---------------------------------------------------------------------------
# Atomic writes and readers that name the damaged file.


def _atomic(path: str, write) -> None:
  """Calls write(file) on a temporary file beside `path`, then renames it over `path`."""
  directory = os.path.dirname(path) or "."
  fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
  try:
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from the group
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise


def write_json(path: str, obj: Any, indent: int | None = 2) -> None:
  """`obj` as JSON at `path`, atomically."""
  text = json.dumps(obj, indent=indent)
  _atomic(path, lambda f: f.write(text.encode("utf-8")))


def write_text(path: str, text: str) -> None:
  _atomic(path, lambda f: f.write(text.encode("utf-8")))


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
  """`np.savez_compressed(path, **arrays)`, atomically."""
  _atomic(path, lambda f: np.savez_compressed(f, **arrays))


def read_json(path: str) -> Any:
  """The JSON in `path`; a damaged file is a `WorkdirError` that names it."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    size = os.path.getsize(path)
    what = "is empty" if size == 0 else f"is not valid JSON ({e})"
    raise WorkdirError(f"{path} {what}; restore it from a backup or delete it "
                       "(see README, Robustness).") from None


# ---------------------------------------------------------------------------
# Library logs: to <workdir>/log.txt, not the console.


class _LogFile(logging.Handler):
  """Keeps records in memory until `open(path)`, then appends them and all later ones there.

  Held back so that a run refused for a bad input leaves its workdir untouched.
  """

  MAX_HELD = 20000

  def __init__(self):
    super().__init__(logging.INFO)
    self.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname).1s %(name)s:%(lineno)d] %(message)s"))
    self._held: list[logging.LogRecord] = []
    self._stream = None
    self.path = None

  def emit(self, record):
    if self._stream is None:
      if len(self._held) < self.MAX_HELD:
        self._held.append(record)
      return
    try:
      self._stream.write(self.format(record) + "\n")
      self._stream.flush()
    except OSError:  # a full disk must not turn every log call into a traceback
      pass

  def open(self, path: str) -> None:
    if self.path == path:
      return
    if self._stream is not None:
      self._stream.close()
    self._stream = open(path, "a", encoding="utf-8")
    self.path = path
    held, self._held = self._held, []
    for record in held:
      self.emit(record)

  def close(self):
    if self._stream is not None:
      self._stream.close()
      self._stream = None
    super().close()


_log_file: _LogFile | None = None
_saved_levels: dict = {}  # what capture_library_logs changed: {handler or logger: level}


def capture_library_logs() -> None:
  """Sends INFO logs to the workdir's log.txt (see `open_log`); the console keeps WARNING+.

  Console handlers already on the root logger (absl's, when run under `app.run`)
  are raised to WARNING, and library records that carry a traceback go to the
  file only (see `_OnlyToFile`).
  """
  global _log_file
  root = logging.getLogger()
  if _log_file is None:
    _log_file = _LogFile()
    root.addHandler(_log_file)
    _saved_levels[root] = root.level
  for handler in root.handlers:
    if handler is not _log_file and handler not in _saved_levels:
      _saved_levels[handler] = handler.level
      handler.setLevel(max(handler.level, logging.WARNING))
      handler.addFilter(_ONLY_TO_FILE)
  root.setLevel(logging.INFO)


class _OnlyToFile(logging.Filter):
  """Keeps library tracebacks off the console: orbax logs each failed write of a
  checkpoint (a full disk) with its own, before the run's one-line error says what
  happened. They stay in log.txt."""

  def filter(self, record):
    if record.name.startswith("asyncio"):
      return False
    return record.exc_info is None or record.name.startswith(("genlatent", "__main__"))


_ONLY_TO_FILE = _OnlyToFile()


def open_log(workdir: str) -> None:
  """Starts writing captured logs to <workdir>/log.txt (log.process<i>.txt on process i > 0)."""
  if _log_file is None:
    return
  name = LOG_FILE if jax.process_index() == 0 else f"log.process{jax.process_index()}.txt"
  _log_file.open(os.path.join(workdir, name))


def say(message: str) -> None:
  """A line for the console (process 0), also kept in the log file."""
  log.info(message)
  if jax.process_index() == 0:
    print(message, flush=True)


def release_library_logs() -> None:
  """Undoes `capture_library_logs` (tests run several commands in one process)."""
  global _log_file
  if _log_file is not None:
    logging.getLogger().removeHandler(_log_file)
    _log_file.close()
    _log_file = None
  for target, level in _saved_levels.items():
    target.setLevel(level)
    if isinstance(target, logging.Handler):
      target.removeFilter(_ONLY_TO_FILE)
  _saved_levels.clear()


# ---------------------------------------------------------------------------
# The config: checked before any work, compared with the saved one on resume.


def _flatten(tree: dict, prefix: str = "") -> dict:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict) and value:
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def config_as_json(config) -> dict:
  """A ConfigDict as config.json holds it (tuples become lists)."""
  return json.loads(config.to_json_best_effort())


def load_config_file(ref: str) -> ml_collections.ConfigDict:
  """`path/to/config.py[:arg]` -> its `get_config(arg)` (as `--config` loads it)."""
  path, _, arg = ref.partition(":")
  if not os.path.exists(path):
    raise FileNotFoundError(f"No config file {path!r} (from {ref!r}); paths are relative to "
                            "the repository root.")
  name = "genlatent_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _configs_dirs() -> list[str]:
  """Where today's config modules may be: ./configs (as --config paths are relative to the
  current directory), then the configs/ beside an editable install of genlatent."""
  package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  return [os.path.abspath(CONFIGS_DIR), os.path.join(package_root, CONFIGS_DIR)]


def current_defaults(model_name: str | None) -> tuple[dict, str] | None:
  """(today's declared fields, their file) for a run of model `model_name`.

  configs/<model_name>.py's default config where that file exists, else
  configs/common.py's `base_config()`; None where neither can be loaded.
  """
  for directory in _configs_dirs():
    family = os.path.join(directory, f"{model_name}.py")
    common = os.path.join(directory, "common.py")
    try:
      if model_name and os.path.exists(family):
        return config_as_json(load_config_file(family)), family
      if os.path.exists(common):
        spec = importlib.util.spec_from_file_location("genlatent_config_common", common)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return config_as_json(module.base_config()), f"{common}:base_config"
    except Exception as e:  # pylint: disable=broad-except
      log.warning("Cannot load today's config defaults from %s: %s", directory, e)
  return None


def fill_missing(saved: dict, defaults: dict, prefix: str = "") -> dict[str, Any]:
  """Adds to `saved` (in place) every field of `defaults` it lacks; {dotted name: value added}."""
  filled = {}
  for key, value in defaults.items():
    if key not in saved:
      saved[key] = value
      filled[f"{prefix}{key}"] = value
    elif isinstance(value, dict) and isinstance(saved[key], dict):
      filled.update(fill_missing(saved[key], value, f"{prefix}{key}."))
  return filled


def saved_config(workdir: str) -> tuple[dict, list] | None:
  """(config dict, history of allowed changes) from <workdir>/config.json, or None.

  A config.json written by an older genlatent may lack fields declared since:
  they are filled from today's defaults for its model (`current_defaults`),
  which are the values the older code used, and named in the log file.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  saved = read_json(path)
  if not isinstance(saved, dict):
    raise WorkdirError(f"{path} is not a config (a JSON object expected); restore it or "
                       "use a new --workdir.")
  history = saved.pop(HISTORY_KEY, [])
  model = saved.get("model")
  found = current_defaults(model.get("name") if isinstance(model, dict) else None)
  if found is not None:
    filled = fill_missing(saved, found[0])
    if filled:
      log.info("%s lacks %d field(s) declared since it was written; using today's defaults "
               "from %s: %s", path, len(filled), found[1],
               ", ".join(f"{k}={json.dumps(v)}" for k, v in filled.items()))
  return saved, history


def config_differences(saved: dict, new: dict) -> dict[str, tuple]:
  """{dotted field: (saved value, new value)} for every field that differs."""
  a, b = _flatten(saved), _flatten(new)
  missing = object()
  diffs = {}
  for name in sorted(set(a) | set(b)):
    old, value = a.get(name, missing), b.get(name, missing)
    if old != value:
      diffs[name] = (None if old is missing else old, None if value is missing else value)
  return diffs


def _resumable(name: str) -> bool:
  return name in RESUMABLE_FIELDS or name.startswith(RESUMABLE_PREFIXES)


def _show(value) -> str:
  return "(absent)" if value is None else json.dumps(value)


def check_resume(workdir: str, config, trained_step: int | None) -> list:
  """The config history to save, after checking `config` may continue this workdir's run.

  Args:
    workdir: the run's directory.
    config: the config of the run about to start.
    trained_step: the newest checkpoint's step, None if there is none (then any
      config may start over in the workdir).
  Returns:
    The history for config.json: earlier entries, plus one
    {"from_step": trained_step, "changes": {field: [old, new]}} when allowed
    fields changed.
  Raises:
    ConfigChangedError: a change that the checkpoints cannot honour (a field
      that shapes the trained model, or num_steps below the trained step); the
      one line lists every differing field with its saved and new value.
    WorkdirError: config.json is damaged, or missing beside checkpoints.
  """
  found = saved_config(workdir)
  if trained_step is None:
    return []
  if found is None:
    raise WorkdirError(
        f"{workdir} has checkpoints (step {trained_step}) but no {CONFIG_FILE}, so they "
        "cannot be checked against this config; restore config.json or use a new --workdir.")
  saved, history = found
  diffs = config_differences(saved, config_as_json(config))
  refused = {k: v for k, v in diffs.items() if not _resumable(k)}
  num_steps = diffs.get("num_steps")
  if num_steps is not None and num_steps[1] is not None and num_steps[1] < trained_step:
    refused["num_steps"] = num_steps
  if refused:
    listed = ", ".join(f"{k} {_show(old)} -> {_show(new)}" for k, (old, new) in refused.items())
    raise ConfigChangedError(
        f"the config differs from the run in {workdir} (config.json, trained to step "
        f"{trained_step}): {listed}; a resumed run cannot change these. Rerun with the saved "
        "values, or use a new --workdir for the new config.")
  if diffs:
    history = history + [{"from_step": trained_step,
                          "changes": {k: [old, new] for k, (old, new) in diffs.items()}}]
  return history


def write_config(workdir: str, config, history: list) -> None:
  """config.json: the resolved config, plus its history of allowed changes if any."""
  payload = config_as_json(config)
  if history:
    payload[HISTORY_KEY] = history
  write_json(os.path.join(workdir, CONFIG_FILE), payload)


def _get(config, dotted: str, default=None):
  node = config
  for part in dotted.split("."):
    if not hasattr(node, "get") or part not in node:
      return default
    node = node[part]
  return node


# (field, test, what the field needs). Model fields are checked where a family has them.
_FIELD_RULES = (
    ("num_steps", lambda v: v >= 1, "a positive number of steps"),
    ("batch_size", lambda v: v >= 1, "a positive batch size"),
    ("log_every", lambda v: v >= 1, "a positive step interval"),
    ("checkpoint_every", lambda v: v >= 1, "a positive step interval"),
    ("eval_every", lambda v: v >= 0, "a step interval, or 0 for no validation"),
    ("keep_checkpoints", lambda v: v >= 1,
     "at least 1 (0 would delete each checkpoint right after saving it)"),
    ("eval.batch_size", lambda v: v >= 1, "a positive batch size"),
    ("data.validation_size", lambda v: v >= 0, "0 or more examples"),
    ("model.latent_dim", lambda v: v >= 1, "at least 1 latent dimension"),
    ("model.latent_dim_1", lambda v: v >= 0, "at least 1 latent dimension, or 0 for latent_dim"),
    ("model.latent_dim_2", lambda v: v >= 1, "at least 1 latent dimension"),
    ("model.num_components", lambda v: v >= 1, "at least 1 component"),
    ("model.num_hidden", lambda v: v >= 1, "at least 1 hidden unit"),
    ("model.num_chains", lambda v: v >= 1, "at least 1 chain"),
    ("model.reg_covar", lambda v: v > 0, "a positive variance floor, e.g. 1e-6"),
    ("optimizer.learning_rate", lambda v: v > 0 and math.isfinite(v),
     "a positive, finite rate"),
)


def parse_estimator_spec(spec, field: str) -> list[tuple[str, int]]:
  """'elbo:100,importance:1000' -> [('elbo', 100), ('importance', 1000)], checked.

  Raises:
    ValueError: one line naming `field`, for an empty spec, a bad count or a count < 1.
  """
  pairs = []
  for item in filter(None, (s.strip() for s in str(spec or "").split(","))):
    name, _, count = item.partition(":")
    try:
      k = int(count) if count else 1
    except ValueError:
      k = None
    if not name or k is None or k < 1:
      raise ValueError(f"{field}: bad estimator {item!r} in {spec!r}; expected "
                       "name:num_samples with num_samples >= 1, e.g. 'elbo:100,importance:1000'.")
    pairs.append((name, k))
  if not pairs:
    raise ValueError(f"{field}={spec!r} names no estimator; give e.g. "
                     "'elbo:100,importance:1000'.")
  return pairs


def check_config(config) -> None:
  """Every check of `config` that needs neither data nor model, before any work.

  Raises:
    ValueError: one line naming the field, its value and what would work.
  """
  for field, test, needs in _FIELD_RULES:
    value = _get(config, field)
    if value is None:
      continue
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not test(value):
      raise ValueError(f"{field}={value!r} is invalid; it needs {needs} "
                       f"(--config.{field}=...).")
  model_lr = _get(config, "model.optimizer.learning_rate")
  if model_lr is not None and not (model_lr > 0 and math.isfinite(model_lr)):
    raise ValueError(f"model.optimizer.learning_rate={model_lr!r} is invalid; it needs a "
                     "positive, finite rate.")
  if _get(config, "eval") is not None:
    parse_estimator_spec(config.eval.estimators, "eval.estimators")
    if len(parse_estimator_spec(config.eval.validation_estimator,
                                "eval.validation_estimator")) != 1:
      raise ValueError(f"eval.validation_estimator={config.eval.validation_estimator!r} "
                       "must name one estimator, e.g. 'elbo:1'.")


def check_divisible(value: int, parts: int, field: str) -> None:
  """One line naming `field` when `value` does not split evenly over `parts` devices."""
  if value % parts:
    raise ValueError(f"{field}={value} is not divisible by the {parts} devices it is split "
                     f"over; use a multiple of {parts}, e.g. --config.{field}="
                     f"{parts * max(1, round(value / parts))}.")


# ---------------------------------------------------------------------------
# Training time, which a resume carries on from (but never depends on).


def train_seconds(workdir: str, step: int) -> float:
  """Training wall time recorded up to checkpoint `step` (0 for a fresh run or if unknown)."""
  path = os.path.join(workdir, TRAIN_TIME_FILE)
  if not step or not os.path.exists(path):
    return 0.0
  try:
    return float(read_json(path).get(str(step), 0.0))
  except (WorkdirError, AttributeError, TypeError, ValueError) as e:
    log.warning("Ignoring %s (training time only): %s", path, e)
    return 0.0


def record_train_time(workdir: str, step: int, seconds: float) -> None:
  """Cumulative training seconds at each saved step, so a resumed run keeps counting."""
  if jax.process_index() != 0:
    return
  path = os.path.join(workdir, TRAIN_TIME_FILE)
  table = {}
  if os.path.exists(path):
    try:
      table = dict(read_json(path))
    except (WorkdirError, TypeError, ValueError):
      table = {}  # damaged: start the table again rather than stop the run
  table[str(step)] = round(seconds, 3)
  write_json(path, table, indent=None)


def is_disk_full(error: BaseException) -> bool:
  """Whether `error` (or one it was raised from) is ENOSPC/EDQUOT."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
      return True
    if "No space left on device" in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False
