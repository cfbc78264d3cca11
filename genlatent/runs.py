"""Loading configs by reference and running (or reusing) a training run in a workdir.

A config reference is what `--config` takes: `configs/vae.py:digits`. Overrides are
a flat dict of dotted field names, as on the command line (`model.latent_dim`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time

import ml_collections

from genlatent import train
from genlatent.train import workdir as workdir_lib

def load_config_ref(ref: str, overrides: dict | None = None) -> ml_collections.ConfigDict:
  """`path/to/config.py[:arg]` -> its `get_config(arg)` with `overrides` applied."""
  return apply_overrides(workdir_lib.load_config_file(ref), overrides or {})


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


def _config_changes(workdir: str, config) -> list[str] | None:
  """'field: saved → new' for each field `config` changes against the run in `workdir`
  (its config.json without the history of allowed changes); None where there is no run."""
  fields = _config_differences(workdir, config)
  if fields is None:
    return None
  return [f"{name}: {old!r} → {new!r}" for name, (old, new) in fields.items()]


def _config_differences(workdir: str, config) -> dict[str, tuple] | None:
  saved = workdir_lib.saved_config(workdir)
  if saved is None:
    return None
  return workdir_lib.config_differences(saved[0], workdir_lib.config_as_json(config))


def keep_results(workdir: str) -> str:
  """Copies eval.json (and eval_values.npz) to `eval.replaced-<UTC time>.*` in `workdir`
  before a re-evaluation replaces them; the copy of eval.json's path."""
  stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
  kept = None
  for name in ("eval.json", train.evaluation.VALUES_FILE):
    stem, ext = os.path.splitext(name)
    source, target = os.path.join(workdir, name), os.path.join(workdir, f"{stem}.replaced-{stamp}{ext}")
    if os.path.exists(source):
      shutil.copy2(source, target)
      kept = kept or target
  return kept


def is_finished(workdir: str, config) -> bool:
  """A finished run: eval.json at the config's last step, written for the same config."""
  path = os.path.join(workdir, "eval.json")
  if _config_changes(workdir, config) != [] or not os.path.exists(path):
    return False
  return workdir_lib.read_json(path).get("step") == config.num_steps


def set_aside(workdir: str) -> str:
  """Renames `workdir` to `<workdir>.replaced-<UTC time>` (never deletes it); the new path."""
  stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
  aside = f"{workdir.rstrip(os.sep)}.replaced-{stamp}"
  n = 1
  while os.path.exists(aside):  # two replacements within one second
    n += 1
    aside = f"{workdir.rstrip(os.sep)}.replaced-{stamp}-{n}"
  os.rename(workdir, aside)
  return aside


def run_or_reuse(config, workdir: str, name: str | None = None, log=print) -> dict:
  """Trains and evaluates `config` in `workdir` unless a finished run is there already.

  A run whose config differs only in evaluation settings (`eval.*`, or an annealed
  estimator's schedule: `workdir.evaluation_only`) is re-evaluated from its
  checkpoints, not retrained: eval.json is rewritten, the old one kept as
  `eval.replaced-<UTC time>.json` beside it.
  A run in `workdir` made from another config is neither reused nor resumed (its
  checkpoints belong to the other config): the folder is set aside as
  `<workdir>.replaced-<UTC time>`, one line through `log` names the fields that
  differ, and `config` trains from scratch. A run of the same config that was
  stopped resumes from its newest checkpoint.

  Args:
    name: how `log` names the run (the member or sweep point); default the folder name.

  Returns:
    {'workdir', 'reused': bool, 'replaced': the set-aside folder or None,
     'seconds': wall time of this call}.
  """
  start = time.perf_counter()
  fields, replaced = _config_differences(workdir, config) or {}, None
  differences = [f"{name}: {old!r} → {new!r}" for name, (old, new) in fields.items()]
  if fields and all(workdir_lib.evaluation_only(name) for name in fields):
    # Only how the trained model is evaluated changed (e.g. a suite adds an
    # estimator): the checkpoints stand; re-evaluate them, keeping the old results.
    kept = keep_results(workdir)
    log(f"[{name or os.path.basename(workdir)}] evaluation settings changed since the last run "
        f"({'; '.join(differences)}); re-evaluating the trained model"
        + (f"; the old results are kept in {kept}." if kept else "."))
    train.train_and_evaluate(config, workdir)
    return {"workdir": workdir, "reused": False, "replaced": None,
            "seconds": time.perf_counter() - start}
  if differences:
    # Under the run's lock: a folder another process is training in is never moved.
    with workdir_lib.claim(workdir, create=False):
      replaced = set_aside(workdir)
    shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more"
                                          if len(differences) > 6 else "")
    log(f"[{name or os.path.basename(workdir)}] config changed since the last run ({shown}); "
        f"the old run is kept in {replaced}; training from scratch.")
  elif is_finished(workdir, config):
    return {"workdir": workdir, "reused": True, "replaced": None, "seconds": 0.0}
  train.train_and_evaluate(config, workdir)
  return {"workdir": workdir, "reused": False, "replaced": replaced,
          "seconds": time.perf_counter() - start}
