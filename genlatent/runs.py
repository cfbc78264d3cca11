"""Loading configs by reference and running (or reusing) a training run in a workdir.

A config reference is what `--config` takes: `configs/vae.py:digits`. Overrides are
a flat dict of dotted field names, as on the command line (`model.latent_dim`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time

import ml_collections


def load_config_ref(ref: str, overrides: dict | None = None) -> ml_collections.ConfigDict:
  """`path/to/config.py[:arg]` -> its `get_config(arg)` with `overrides` applied."""
  path, _, arg = ref.partition(":")
  if not os.path.exists(path):
    raise FileNotFoundError(f"No config file {path!r} (from {ref!r}); paths are relative to "
                            "the repository root.")
  name = "genlatent_config_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg) if arg else module.get_config()
  return apply_overrides(config, overrides or {})


def load_config_module(ref: str):
  """The Python module of a config reference (for `get_sweep`)."""
  path = ref.partition(":")[0]
  spec = importlib.util.spec_from_file_location("genlatent_sweep_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def flatten_overrides(nested: dict, prefix: str = "") -> dict:
  """{'data': {'binarization': 'none'}} -> {'data.binarization': 'none'}.

  Suites keep overrides nested because a ConfigDict field name cannot hold a dot.
  """
  flat = {}
  for key, value in nested.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(flatten_overrides(value, name + "."))
    else:
      flat[name] = value
  return flat


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict):
  """Sets dotted fields (`{'model.latent_dim': 4}`); an unknown field is an error."""
  config = ml_collections.ConfigDict(config.to_dict())  # a copy, unlocked
  for name, value in overrides.items():
    target = config
    *path, leaf = name.split(".")
    for part in path:
      if part not in target:
        raise KeyError(f"Override {name!r}: the config has no field {part!r}.")
      target = target[part]
    if leaf not in target and not isinstance(value, dict):
      raise KeyError(f"Override {name!r}: the config has no field {leaf!r}. "
                     f"Fields here: {', '.join(sorted(target.keys()))}.")
    target[leaf] = value
  return config


def is_finished(workdir: str, config) -> bool:
  """A finished run: eval.json at the config's last step, written for the same config."""
  path = os.path.join(workdir, "eval.json")
  config_path = os.path.join(workdir, "config.json")
  if not (os.path.exists(path) and os.path.exists(config_path)):
    return False
  with open(path, encoding="utf-8") as f:
    finished = json.load(f).get("step") == config.num_steps
  with open(config_path, encoding="utf-8") as f:
    same = json.load(f) == json.loads(config.to_json_best_effort())
  return finished and same


def run_or_reuse(config, workdir: str) -> dict:
  """Trains and evaluates `config` in `workdir` unless a finished run is there already.

  Returns:
    {'workdir', 'reused': bool, 'seconds': wall time of this call}.
  """
  from genlatent import train  # the trainer imports every family; keep this module light
  start = time.perf_counter()
  if is_finished(workdir, config):
    return {"workdir": workdir, "reused": True, "seconds": 0.0}
  train.train_and_evaluate(config, workdir)
  return {"workdir": workdir, "reused": False, "seconds": time.perf_counter() - start}
