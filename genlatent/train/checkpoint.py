"""Checkpoints with orbax: keep the last N, verify what is restored, fall back, lose nothing."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from genlatent.train import workdir as workdir_lib

log = logging.getLogger(__name__)

CHECKSUM_FILE = "genlatent_checksum.json"  # inside each step's directory, beside orbax's files


class CheckpointError(RuntimeError):
  """No checkpoint in a workdir that has some could be read, or one may not be read."""


def _host_array(leaf) -> np.ndarray:
  if isinstance(leaf, jax.Array):
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      leaf = jax.random.key_data(leaf)
    # A replicated array's first local shard is the whole array, on any process.
    return np.asarray(leaf if leaf.is_fully_addressable else leaf.addressable_data(0))
  return np.asarray(leaf)


def state_checksum(state) -> str:
  """sha256 over every leaf's dtype, shape and bytes, in tree order."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(state):
    a = np.ascontiguousarray(_host_array(leaf))
    digest.update(f"{a.dtype.str}{a.shape}".encode())
    digest.update(a.tobytes())
  return digest.hexdigest()


def _non_finite(tree) -> bool:
  for leaf in jax.tree.leaves(tree):
    a = _host_array(leaf)
    if np.issubdtype(a.dtype, np.inexact) and not np.all(np.isfinite(a)):
      return True
  return False


def saved_steps(workdir: str) -> list[int]:
  """Finished checkpoint steps under <workdir>/checkpoints, ascending (creates nothing)."""
  directory = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory)
                if name.isdigit() and os.path.isdir(os.path.join(directory, name)))


def _unreadable_path(root: str) -> str | None:
  """The first file or folder under `root` this process may not read, if any."""
  if not os.access(root, os.R_OK | os.X_OK):
    return root
  for folder, dirs, files in os.walk(root):
    for name in dirs:
      if not os.access(os.path.join(folder, name), os.R_OK | os.X_OK):
        return os.path.join(folder, name)
    for name in files:
      if not os.access(os.path.join(folder, name), os.R_OK):
        return os.path.join(folder, name)
  return None


def _permission_error(error: BaseException) -> bool:
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, PermissionError) or "PERMISSION_DENIED" in str(error) \
        or "Permission denied" in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False


class Checkpointer:
  """Saves and restores a `TrainState` under `<workdir>/checkpoints`.

  Each save also writes `genlatent_checksum.json` into the step's directory: a
  sha256 of the state's bytes, taken from the arrays that were saved. A restore
  is accepted only if it reads, its params are finite and its checksum matches
  (a step saved without one, by an older version, is checked for finiteness
  only). Restoring goes into an abstract target (`ocp.args.StandardRestore`) so
  the optimizer state keeps its NamedTuple types.

  If the latest step fails, earlier steps are tried in turn; the failed ones are
  moved to `<workdir>/corrupt_checkpoints/` (kept for inspection, out of the way
  of new saves) and listed in `self.skipped`. If none can be read, nothing is
  moved and `CheckpointError` says what to do — a run never silently starts
  fresh over existing checkpoints. A step this process may not read (a
  permission error) is not damage: restore stops there and moves nothing.
  """

  def __init__(self, workdir: str, max_to_keep: int = 3):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self.corrupt_directory = os.path.abspath(os.path.join(workdir, "corrupt_checkpoints"))
    if max_to_keep < 1:
      raise ValueError(f"keep_checkpoints={max_to_keep} would delete every checkpoint right "
                       "after saving it; keep at least 1.")
    self.max_to_keep = max_to_keep
    self.skipped: list[tuple[int, str, str]] = []  # (step, why, moved to) of the last restore
    self._manager = self._new_manager()

  def _new_manager(self) -> ocp.CheckpointManager:
    # Synchronous saves: the trainer donates the state's buffers to the next
    # step, and a preemption save must be on disk before the process exits.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=self.max_to_keep, create=True, enable_async_checkpointing=False)
    return ocp.CheckpointManager(self.directory, options=options)

  def steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state) -> None:
    if step in self._manager.all_steps():
      return  # already saved (e.g. the final step right after a periodic save)
    checksum = state_checksum(state) if jax.process_index() == 0 else None
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self._manager.wait_until_finished()
    if checksum is not None:
      workdir_lib.write_json(os.path.join(self.directory, str(step), CHECKSUM_FILE),
                             {"sha256": checksum})

  def _verify(self, step: int, state) -> str | None:
    """Why the restored `state` of `step` cannot be trusted, or None."""
    params = getattr(state, "params", state)
    if _non_finite(params):
      return "its params contain NaN/Inf"
    path = os.path.join(self.directory, str(step), CHECKSUM_FILE)
    if not os.path.exists(path):
      log.warning("Checkpoint step %d has no %s (saved by an older genlatent); checked for "
                  "NaN/Inf only.", step, CHECKSUM_FILE)
      return None
    try:
      with open(path, encoding="utf-8") as f:
        expected = json.load(f)["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as e:
      return f"its {CHECKSUM_FILE} is damaged ({type(e).__name__})"
    if state_checksum(state) != expected:
      return "its contents do not match the checksum taken when it was saved"
    return None

  def _refuse_unreadable(self, step: int, what: str):
    raise CheckpointError(
        f"checkpoint step {step} in {self.directory} is unreadable: permission denied "
        f"({what}). It is not damaged, so nothing was moved; fix the permissions (e.g. "
        f"chmod -R u+rwX {os.path.join(self.directory, str(step))}) and rerun.")

  def restore(self, abstract_state):
    """The newest good checkpoint as a state, or None if there are none.

    Args:
      abstract_state: a pytree of `jax.ShapeDtypeStruct` (with shardings) shaped
        like the state to restore.
    """
    steps = sorted(self._manager.all_steps(), reverse=True)
    failures = []
    self.skipped = []
    for step in steps:
      denied = _unreadable_path(os.path.join(self.directory, str(step)))
      if denied is not None:
        self._refuse_unreadable(step, denied)
      try:
        # A manager that has seen a failed restore can keep stale metadata;
        # a fresh one per attempt reads each step cleanly.
        manager = self._new_manager()
        state = manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
      except Exception as e:  # orbax raises many types for a damaged step
        if _permission_error(e):
          self._refuse_unreadable(step, " ".join(str(e).split())[:200])
        reason = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
        log.warning("Checkpoint step %d in %s is unreadable: %s", step, self.directory, reason)
        failures.append((step, reason))
        continue
      problem = self._verify(step, state)
      if problem is not None:
        log.warning("Checkpoint step %d in %s failed verification: %s",
                    step, self.directory, problem)
        failures.append((step, problem))
        continue
      if failures:
        moved = self._quarantine([s for s, _ in failures])
        self.skipped = [(s, why, moved[s]) for s, why in failures]
      self._manager = self._new_manager()
      return state
    if failures:
      details = "; ".join(f"step {s}: {msg}" for s, msg in failures)
      raise CheckpointError(
          f"None of the checkpoints in {self.directory} could be restored ({details}). "
          "Nothing was deleted. If the config changed since they were written, run with "
          "the original config; to start fresh, use a new --workdir (or move "
          f"{self.directory} away).")
    return None

  def _quarantine(self, steps: list[int]) -> dict[int, str]:
    """Moves `steps` to corrupt_checkpoints/<step>-<time>; returns where each went."""
    if jax.process_index() != 0:
      return {s: "" for s in steps}
    os.makedirs(self.corrupt_directory, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moved = {}
    for step in steps:
      source = os.path.join(self.directory, str(step))
      target = os.path.join(self.corrupt_directory, f"{step}-{stamp}")
      if os.path.exists(source):
        try:
          shutil.move(source, target)
        except OSError as e:
          raise CheckpointError(
              f"checkpoint step {step} in {self.directory} is damaged and could not be moved "
              f"to {self.corrupt_directory} ({e.strerror}); move it away by hand and rerun."
          ) from None
      moved[step] = target
    return moved

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
