"""Metrics to `metrics.jsonl` (one JSON object per line) and TensorBoard event files."""

from __future__ import annotations

import json
import math
import os

import jax


class MetricWriter:
  """Writes scalars from process 0 only; other processes are no-ops."""

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    from tensorboardX import SummaryWriter  # needs no TensorFlow
    self._tb = SummaryWriter(logdir=os.path.join(workdir, "tensorboard"))
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")

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


def read_metrics(workdir: str) -> list[dict]:
  """All rows of `<workdir>/metrics.jsonl`."""
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]
