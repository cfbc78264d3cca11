"""The one JSON line every benchmark ends with, and how a script reads it back.

A benchmark's last line of stdout is one JSON object:

  {"benchmark": "vae_step",
   "ratios":  {"jax_over_torch": {"value": 1.62, "goal": 1.5, "direction": ">=",
                                  "meets": true}, ...},
   "medians": {"jax_steps_per_s": 91.3, ...},     # the seconds and rates the ratios came from
   "versions": {"python": "3.11.7", "jax": "...", "jaxlib": "...", "numpy": "...",
                "sklearn": "..." | absent, "torch": "..." | absent},
   "devices": {"platform": "cpu", "kind": "cpu", "count": 1, "cores": 2,
               "load_average_1min": 0.4},
   "time": "2026-12-03T00:12:00Z",
   "settings": {...}}                              # the flags that shaped the run

A ratio's `value` is a plain number (a fraction of peak is 0.65, not 65%); `meets`
says whether it reached its `goal` in `direction`; both `value` and `meets` are
null where that ratio was not measured in this run (e.g. PyTorch not installed).
Non-finite numbers are written as null, so the line is strict JSON. scikit-learn's
and PyTorch's versions appear where the benchmark imported them.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import sys
from typing import Any

import jax
import numpy as np

from experiments.benchmarks import common

KEYS = ("benchmark", "ratios", "medians", "versions", "devices", "time")
RATIO_KEYS = ("value", "goal", "direction", "meets")
# Libraries a benchmark may measure against; their versions are reported where imported.
REFERENCES = {"sklearn": "sklearn", "torch": "torch"}


def ratio(value: float | None, goal: float, direction: str = ">=") -> dict:
  """{"value", "goal", "direction", "meets"} of one ratio; `value` None: not measured."""
  if direction not in (">=", "<="):
    raise ValueError(f"direction must be '>=' or '<=', not {direction!r}")
  if value is None or not math.isfinite(value):
    return {"value": None, "goal": goal, "direction": direction, "meets": None}
  meets = value >= goal if direction == ">=" else value <= goal
  return {"value": float(value), "goal": goal, "direction": direction, "meets": bool(meets)}


def versions() -> dict[str, str]:
  """Python, jax, jaxlib and numpy versions, and those of reference libraries imported."""
  import jaxlib  # pylint: disable=import-outside-toplevel
  found = {"python": platform.python_version(), "jax": jax.__version__,
           "jaxlib": jaxlib.__version__, "numpy": np.__version__}
  for name, module in REFERENCES.items():
    if module in sys.modules:
      found[name] = getattr(sys.modules[module], "__version__", "unknown")
  return found


def devices() -> dict[str, Any]:
  """Platform, device kind and count, usable cores, and the 1-minute load average."""
  first = jax.devices()[0]
  return {"platform": first.platform, "kind": first.device_kind, "count": jax.device_count(),
          "cores": common.num_cores(), "load_average_1min": os.getloadavg()[0]}


def _strict(value):
  """`value` with numpy scalars as Python numbers and NaN/inf as None (strict JSON)."""
  if isinstance(value, dict):
    return {str(k): _strict(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_strict(v) for v in value]
  if isinstance(value, (np.generic,)):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def line(benchmark: str, ratios: dict[str, dict], medians: dict[str, Any],
         settings: dict[str, Any] | None = None) -> str:
  """The JSON line (no newline) of one benchmark's figures; see the module docstring."""
  for name, entry in ratios.items():
    if sorted(entry) != sorted(RATIO_KEYS):
      raise ValueError(f"ratio {name!r} has keys {sorted(entry)}; make it with report.ratio().")
  payload = {"benchmark": benchmark, "ratios": ratios, "medians": medians,
             "versions": versions(), "devices": devices(),
             "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "settings": settings or {}}
  return json.dumps(_strict(payload), allow_nan=False, sort_keys=False)


def emit(benchmark: str, ratios: dict[str, dict], medians: dict[str, Any],
         settings: dict[str, Any] | None = None) -> dict:
  """Prints the benchmark's JSON line as its last line of stdout; returns it parsed."""
  text = line(benchmark, ratios, medians, settings)
  print(text, flush=True)
  return json.loads(text)


def parse(stdout: str) -> dict:
  """The figures of a benchmark's output: its last non-empty line, as JSON.

  Raises:
    ValueError: that line is not a benchmark's JSON object with every key of `KEYS`.
  """
  lines = [l for l in stdout.splitlines() if l.strip()]
  if not lines:
    raise ValueError("the benchmark printed nothing")
  try:
    figures = json.loads(lines[-1])
  except json.JSONDecodeError as e:
    raise ValueError(f"the benchmark's last line is not JSON ({e}): {lines[-1][:200]}") from None
  missing = [k for k in KEYS if not isinstance(figures, dict) or k not in figures]
  if missing:
    raise ValueError(f"the benchmark's JSON line lacks {', '.join(missing)}")
  return figures
