"""Checkpoints with orbax: keep the last N, fall back past an unreadable step, lose nothing."""

from __future__ import annotations

import logging
import os
import shutil
import time

import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
  """No checkpoint in a workdir that has some could be read."""


class Checkpointer:
  """Saves and restores a `TrainState` under `<workdir>/checkpoints`.

  Restoring goes into an abstract target (`ocp.args.StandardRestore`) so the
  optimizer state keeps its NamedTuple types. If the latest step cannot be read,
  earlier steps are tried in turn; the unreadable ones are moved to
  `<workdir>/corrupt_checkpoints/` (kept for inspection, out of the way of new
  saves). If none can be read, nothing is moved and `CheckpointError` says what
  to do — a run never silently starts fresh over existing checkpoints.
  """

  def __init__(self, workdir: str, max_to_keep: int = 3):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    self.corrupt_directory = os.path.abspath(os.path.join(workdir, "corrupt_checkpoints"))
    self.max_to_keep = max_to_keep
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
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self._manager.wait_until_finished()

  def restore(self, abstract_state):
    """The newest readable checkpoint as a state, or None if there are none.

    Args:
      abstract_state: a pytree of `jax.ShapeDtypeStruct` (with shardings) shaped
        like the state to restore.
    """
    steps = sorted(self._manager.all_steps(), reverse=True)
    failures = []
    for step in steps:
      try:
        # A manager that has seen a failed restore can keep stale metadata;
        # a fresh one per attempt reads each step cleanly.
        manager = self._new_manager()
        state = manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
      except Exception as e:  # orbax raises many types for a damaged step
        log.warning("Checkpoint step %d in %s is unreadable: %s: %s",
                    step, self.directory, type(e).__name__, e)
        failures.append((step, f"{type(e).__name__}: {e}"))
        continue
      if failures:
        self._quarantine([s for s, _ in failures])
        log.warning("Resumed from step %d; unreadable newer steps %s were moved to %s.",
                    step, [s for s, _ in failures], self.corrupt_directory)
      self._manager = self._new_manager()
      return state
    if failures:
      details = "\n".join(f"  step {s}: {msg[:300]}" for s, msg in failures)
      raise CheckpointError(
          f"None of the checkpoints in {self.directory} could be restored:\n{details}\n"
          "Nothing was deleted. If the config changed since they were written, run with "
          "the original config; to start fresh, use a new --workdir (or move "
          f"{self.directory} away).")
    return None

  def _quarantine(self, steps: list[int]) -> None:
    os.makedirs(self.corrupt_directory, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for step in steps:
      source = os.path.join(self.directory, str(step))
      if os.path.exists(source):
        shutil.move(source, os.path.join(self.corrupt_directory, f"{step}-{stamp}"))

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
