"""Metrics to `metrics.jsonl` (one JSON object per line) and TensorBoard event files."""

from __future__ import annotations

import json
import math
import os

import jax

from genlatent.train import workdir as workdir_lib

METRICS_FILE = "metrics.jsonl"


class MetricWriter:
  """Writes scalars from process 0 only; other processes are no-ops."""

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    from tensorboardX import SummaryWriter  # needs no TensorFlow
    self._tb = SummaryWriter(logdir=os.path.join(workdir, "tensorboard"))
    self._jsonl = open(os.path.join(workdir, METRICS_FILE), "a", encoding="utf-8")

  def write(self, step: int, scalars: dict, prefix: str = "train") -> None:
    if not self.enabled:
      return
    row = {"step": int(step), "split": prefix}
    for name, value in scalars.items():
      value = float(value)
      row[name] = value if math.isfinite(value) else str(value)
      self._tb.add_scalar(f"{prefix}/{name}", value, int(step))
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()

  def close(self) -> None:
    if self.enabled:
      self._tb.close()
      self._jsonl.close()


def _rows(path: str) -> tuple[list[dict], bool]:
  """(rows, whether a line was unreadable): a run killed mid-write leaves a torn last line."""
  rows, torn = [], False
  with open(path, encoding="utf-8", errors="replace") as f:
    for line in f:
      if not line.strip():
        continue
      try:
        rows.append(json.loads(line))
      except ValueError:
        torn = True
  return rows, torn


def read_metrics(workdir: str) -> list[dict]:
  """All complete rows of `<workdir>/metrics.jsonl`."""
  return _rows(os.path.join(workdir, METRICS_FILE))[0]


def truncate_after(workdir: str, step: int) -> int:
  """Drops the rows past `step` (and torn lines) from metrics.jsonl; returns how many.

  A run resumed from the checkpoint at `step` logs the later steps again, so
  rows a killed run wrote after its last checkpoint would otherwise appear twice.
  """
  path = os.path.join(workdir, METRICS_FILE)
  if jax.process_index() != 0 or not os.path.exists(path):
    return 0
  rows, torn = _rows(path)
  kept = [r for r in rows if int(r.get("step", 0)) <= step]
  if len(kept) == len(rows) and not torn:
    return 0
  workdir_lib.write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
  return len(rows) - len(kept) + int(torn)
