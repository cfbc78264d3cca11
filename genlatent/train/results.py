"""A trained model's results in its workdir: eval.json (with eval_values.npz) and figures.

Used at the end of training and by `experiments.evaluate` / `experiments.sample`
on a restored workdir; the estimates themselves come from `evaluation`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import jax
import numpy as np

from genlatent import estimators as estimators_lib
from genlatent import data as data_lib
from genlatent import viz
from genlatent.core import ESTIMATORS, Model
from genlatent.train import evaluation
from genlatent.train import workdir as workdir_lib
from genlatent.train.build import run_keys

log = logging.getLogger(__name__)


def check_estimators(spec: str, field: str, model: Model, dataset) -> list[tuple[str, int]]:
  """`spec` parsed, every estimator known to `model` and servable on `dataset`.

  Raises:
    ValueError: one line naming `field` and what would work.
  """
  pairs = workdir_lib.parse_estimator_spec(spec, field)
  for name, _ in pairs:
    if name not in ESTIMATORS:
      raise ValueError(f"{field}: no estimator {name!r}; known: "
                       f"{', '.join(ESTIMATORS.names())}.")
    if not ESTIMATORS.get(name).supports(model):
      raise ValueError(f"{field}: model {model.name!r} does not expose what estimator "
                       f"{name!r} needs ({ESTIMATORS.get(name).needs}); estimators for it: "
                       f"{', '.join(estimators_lib.supported(model))}.")
    if name == "parzen" and dataset.validation.num_examples == 0:
      raise ValueError(f"{field}: parzen picks its bandwidth on the validation split, which "
                       "is empty; set --config.data.validation_size > 0.")
  return pairs


def evaluate_and_write(config, model: Model, backend, state, dataset, workdir: str,
                       estimators: str | None = None, split: str = "test",
                       annealed_examples: int | None = None) -> dict:
  """Evaluates every configured estimator on `split` and writes it into eval.json.

  `estimators` (default: the config's eval.estimators) is checked before any
  work, so an evaluation that would compute nothing changes nothing. The other
  splits' results in eval.json stay (see `evaluation.write_eval_json`).
  The annealed estimators (`estimators.ANNEALED`) score only the split's first
  `annealed_examples` examples when that is > 0 (default: eval.annealed_examples,
  0 = all), recorded in their details as `first_examples` of `split_examples`:
  every run with the same N scores the same examples, so two models' annealed
  values stay paired.

  Returns:
    {split: [Summary per estimator]}, log p(x) in nats per example.
  """
  field = "eval.estimators" if estimators is None else "--estimators"
  spec = config.eval.estimators if estimators is None else estimators
  check_estimators(spec, field, model, dataset)
  if getattr(dataset, split).num_examples == 0:
    raise ValueError(f"the {split} split is empty (data.validation_size="
                     f"{config.data.validation_size}); evaluate another --split.")
  keys = run_keys(config)
  if annealed_examples is None:
    annealed_examples = config.eval.get("annealed_examples", 0)  # set by suites only
  whole = getattr(dataset, split)
  summaries = []
  for i, (name, num_samples) in enumerate(evaluation.parse_estimators(spec)):
    start = time.perf_counter()
    data, batch_size = whole, config.eval.batch_size
    if name in estimators_lib.ANNEALED and 0 < annealed_examples < whole.num_examples:
      data = data_lib.Split(whole.x[:annealed_examples], whole.labels[:annealed_examples])
      # No padding rows: they cost as much as real ones. RAISE and HMC-AIS draw per
      # row, so their values do not change; an estimator drawing for the whole batch at
      # once (a DBN's or DBM's posterior samples) gets other draws of the same estimate.
      batch_size = evaluation.fitted_batch_size(backend, batch_size, data.num_examples)
    summary = evaluation.evaluate_split(
        model, backend, backend.params(state), data, estimator=name,
        num_samples=num_samples, batch_size=batch_size,
        key=jax.random.fold_in(keys["eval"], 1_000_000 + i), dataset=dataset,
        # One key for every estimator's shared work: the AIS and ELBO rows of a
        # Boltzmann family then use one log Ẑ (computed once, `ais.log_partition_state`).
        prepare_key=jax.random.fold_in(keys["eval"], 500_000))
    seconds = time.perf_counter() - start  # compilation included: what a budget pays
    details = dict(summary.details or {}, seconds=round(seconds, 1))
    if data is not whole:
      details.update(first_examples=data.num_examples, split_examples=whole.num_examples)
    summary = dataclasses.replace(summary, details=details)
    log.info("%s %s: %s (%.1fs)", split, name, summary, seconds)
    print(f"{split} log p(x): {summary}" + (f" on the first {data.num_examples} examples"
                                            if data is not whole else "")
          + f" ({seconds:.0f}s)", flush=True)
    summaries.append(summary)
  diagnostics = evaluation.evaluate_diagnostics(
      model, backend, backend.params(state), getattr(dataset, split),
      batch_size=config.eval.batch_size, key=jax.random.fold_in(keys["eval"], 2_000_000))
  if diagnostics:
    print(f"{split} diagnostics: " + ", ".join(
        f"{k}={v['mean_nats']:.2f}±{v['stderr_nats']:.2f}" if isinstance(v, dict) else f"{k}={v}"
        for k, v in diagnostics.items()), flush=True)
  host = backend.host_state(state)
  metrics = {}
  if model.split_metrics is not None:
    metrics = model.split_metrics(host.params, jax.random.fold_in(keys["eval"], 3_000_000),
                                  dataset, split)
    print(f"{split} metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items()), flush=True)
  step = int(host.step)
  evaluation.write_eval_json(
      workdir, {split: summaries}, step=step, num_dims=dataset.num_dims,
      discrete=model.discrete,
      extra={"model": config.model.name, "data": config.data.source,
             "num_params": int(sum(np.size(a) for a in jax.tree.leaves(host.params))),
             "train_seconds": workdir_lib.train_seconds(workdir, step),
             "binarization": config.data.binarization,
             "features": dataset.features.describe() if dataset.features is not None else None,
             "diagnostics": {split: diagnostics},
             **({"metrics": {split: metrics}} if metrics else {})})
  return {split: summaries}


def write_figures(config, model: Model, params, dataset, workdir: str, num: int = 100) -> list:
  """samples.png (from the model) and reconstructions.png (test images and their codes),
  plus the family's own figures; returns the paths written (none on process > 0)."""
  if jax.process_index() != 0:
    return []
  keys = run_keys(config)
  paths = []
  # Feature data (e.g. PCA) are shown as images through the inverse transform.
  scale = max(1, 112 // dataset.image_shape[0])
  if model.sample is not None:
    samples = np.asarray(jax.jit(model.sample, static_argnums=2)(params, keys["sample"], num))
    paths.append(viz.save_image_grid(dataset.to_images(samples),
                                     os.path.join(workdir, "samples.png"), scale=scale))
  if model.reconstruct is not None:
    x = dataset.test.x[:50]
    recon = np.asarray(jax.jit(model.reconstruct)(params, x, keys["sample"]))
    paths.append(viz.save_reconstruction_grid(
        dataset.to_images(x), dataset.to_images(recon),
        os.path.join(workdir, "reconstructions.png"), scale=scale))
  if model.figures is not None:
    paths.extend(model.figures(params, keys["sample"], workdir, dataset))
  return paths
