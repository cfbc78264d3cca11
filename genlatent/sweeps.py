"""Sweeps: a config module's `get_sweep()` lists override dicts; each is one run."""

from __future__ import annotations

import inspect
import os

from genlatent import compare, runs


def expand(ref: str) -> list[dict]:
  """The sweep points of `path.py[:arg]`: the list its `get_sweep(arg)` returns."""
  module = runs.load_config_module(ref)
  if not hasattr(module, "get_sweep"):
    raise ValueError(f"{ref.partition(':')[0]} defines no get_sweep(); add one returning a "
                     "list of override dicts, e.g. [{'model.latent_dim': 2}, ...].")
  arg = ref.partition(":")[2]
  takes_arg = bool(inspect.signature(module.get_sweep).parameters)
  points = module.get_sweep(arg) if takes_arg else module.get_sweep()
  if not points:
    raise ValueError(f"get_sweep() of {ref} returned no points.")
  return [dict(p) for p in points]


def point_name(index: int, overrides: dict) -> str:
  """A folder name that says what the point is: `003_model.latent_dim=8`."""
  parts = [f"{k}={v}" for k, v in sorted(overrides.items())]
  text = ",".join(parts).replace("/", "_").replace(" ", "")
  return f"{index:03d}_{text}"[:120]


def run_point(ref: str, points: list[dict], index: int, workdir: str) -> dict:
  config = runs.load_config_ref(ref, points[index])
  return runs.run_or_reuse(config, os.path.join(workdir, point_name(index, points[index])))


def aggregate(ref: str, points: list[dict], workdir: str) -> list[compare.Row]:
  """One row per (point, estimator); writes results.{md,csv,json} into `workdir`."""
  rows = []
  for i, overrides in enumerate(points):
    name = point_name(i, overrides)
    rows += compare.rows_from_eval(name, ref, os.path.join(workdir, name))
  compare.write_results(rows, workdir, f"Sweep of {ref}")
  return rows
