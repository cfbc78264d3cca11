"""Evaluating a model's log-likelihood over a whole data split, every example once."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os

import jax
import numpy as np

from genlatent import data as data_lib
from genlatent import estimators as estimators_lib
from genlatent.core import Kind, Model, Summary, summarize

VALUES_FILE = "eval_values.npz"  # beside eval.json: each entry's per-example nats


def parse_estimators(spec: str) -> list[tuple[str, int]]:
  """'elbo:100,importance:1000' -> [('elbo', 100), ('importance', 1000)]."""
  pairs = []
  for item in filter(None, (s.strip() for s in spec.split(","))):
    name, _, count = item.partition(":")
    try:
      pairs.append((name, int(count) if count else 1))
    except ValueError:
      raise ValueError(f"Bad estimator spec {item!r} in {spec!r}; expected name:num_samples, "
                       "e.g. 'elbo:100,importance:1000'.") from None
  return pairs


def evaluate_split(model: Model, backend, params, split: data_lib.Split, *, estimator: str,
                   num_samples: int, batch_size: int, key: jax.Array,
                   dataset: data_lib.Dataset | None = None) -> Summary:
  """Mean ± stderr of per-example log p(x) over `split`, nats.

  The estimator is looked up by name (`genlatent.core.ESTIMATORS`) and checked
  against what the model exposes. Its shared work (`prepare`: log Z, a Parzen
  window, a proposal) runs once, on one device, and its state goes to every
  batch beside the params. Batches are padded to `batch_size` and masked so
  every example counts exactly once; batch i draws its randomness from
  `fold_in(key, i)`. `dataset`'s validation split, when there is one, is what
  `prepare` may fit on (a Parzen bandwidth, a proposal widening).
  """
  chosen = estimators_lib.resolve(estimator, model)
  backend.check_batch_size(batch_size, "Evaluation batch size")

  state, report = None, {}
  if chosen.shares_work(model):
    key, prepare_key = jax.random.split(key)
    validation_x = (dataset.validation.x if dataset is not None
                    and dataset.validation.num_examples else None)
    state, report = estimators_lib.prepare(chosen, model, host_params(backend, params),
                                           prepare_key, num_samples, validation_x)
    state = backend.put_state(state)

  per_example = _per_example_log_likelihood(model, estimator, num_samples)
  label = jax.eval_shape(
      lambda ps, x, k: chosen.log_likelihood(model, ps[0], ps[1], x, k, num_samples),
      host_params(backend, (params, state)), split.x[:batch_size], key)
  values = map_split(backend, per_example, (params, state), split, batch_size, key)
  summary = summarize(values, label.estimator, label.kind)
  if not report:
    return summary
  # A term shared by every example (AIS's log Z) has its own error, which the
  # spread across examples does not show: add it in quadrature, keep both.
  shared = float(report.get("shared_stderr", 0.0))
  return dataclasses.replace(
      summary, stderr=math.hypot(summary.stderr, shared),
      details=dict(report, stderr_across_examples=summary.stderr))


@functools.lru_cache(maxsize=64)
def _per_example_log_likelihood(model: Model, estimator: str, num_samples: int):
  """One function object per (model, estimator, k), so jit reuses its compilation
  across calls (periodic validation would otherwise recompile every time)."""
  chosen = estimators_lib.resolve(estimator, model)

  def per_example(params_and_state, x, k):
    params, state = params_and_state
    return chosen.log_likelihood(model, params, state, x, k, num_samples).values

  return per_example


def host_params(backend, params):
  """This process's one copy of backend-placed (replicated) params, as numpy arrays."""
  if backend.name == "mesh":  # replicated: this process's copy is the whole array
    return jax.tree.map(lambda a: np.asarray(
        a.addressable_data(0) if isinstance(a, jax.Array) else a), params)
  return jax.tree.map(lambda a: np.asarray(a[0]), params)


def map_split(backend, fn, params, split: data_lib.Split, batch_size: int, key: jax.Array):
  """fn(params, x, key) -> pytree of [B, ...] applied to every example of `split` once.

  Batches are padded to `batch_size` and the padding dropped from the result; batch i
  uses key `fold_in(key, i)`. Returns host numpy arrays of [N, ...].
  """
  backend.check_batch_size(batch_size, "Evaluation batch size")
  run = backend.compile_per_example(fn)
  parts = []
  for i, batch in enumerate(data_lib.eval_batches(
      split, batch_size, jax.process_index(), jax.process_count())):
    out = run(params, batch["x"], jax.random.fold_in(key, i))
    # Rows are in split order, so the global mask is known without a gather.
    keep = i * batch_size + np.arange(batch_size) < split.num_examples
    parts.append(jax.tree.map(lambda a: a[keep], out))
  return jax.tree.map(lambda *a: np.concatenate(a), *parts)


def evaluate_diagnostics(model: Model, backend, params, split: data_lib.Split, *,
                         batch_size: int, key: jax.Array) -> dict:
  """The family's per-example diagnostics (mean ± stderr) and, for models with a
  continuous code, the number of active units: latent dimensions whose posterior
  mean varies across the data, Cov_x(E_q[z|x]) > 0.01 (Burda et al., 2016)."""
  out = {}
  if model.diagnostics is not None:
    values = map_split(backend, model.diagnostics, params, split, batch_size, key)
    for name, v in values.items():
      v = np.asarray(v, np.float64)
      out[name] = {"mean_nats": float(v.mean()),
                   "stderr_nats": float(v.std(ddof=1) / np.sqrt(v.size))}
  if model.encode is not None and model.diagnostics is not None:
    codes = map_split(backend, model.encode, params, split, batch_size, key)
    variances = np.asarray(codes, np.float64).reshape(len(codes), -1).var(axis=0)
    out["active_units"] = int((variances > 0.01).sum())
    out["latent_dims"] = int(variances.size)
  return out


def write_eval_json(workdir: str, results: dict[str, list[Summary]], *, step: int,
                    num_dims: int, discrete: bool = True, extra: dict | None = None) -> str:
  """Writes `<workdir>/eval.json`: every estimate with its estimator, kind and stderr.

  Bits/dim is given only where log p(x) is a probability mass (`discrete`); for a
  density on continuous data it would not be comparable.
  """
  payload = {"step": int(step), **(extra or {}), "splits": {}}
  values = {}
  for split, summaries in results.items():
    payload["splits"][split] = []
    for i, s in enumerate(summaries):
      entry = dict(s.to_dict(),
                   bits_per_dim=(s.bits_per_dim(num_dims)
                                 if discrete and s.kind != Kind.PARZEN else None),
                   text=str(s))
      if s.values is not None:
        entry["values_key"] = f"{split}.{i}"
        values[entry["values_key"]] = s.values
      payload["splits"][split].append(entry)
  path = os.path.join(workdir, "eval.json")
  if jax.process_index() == 0:
    if values:  # per-example nats, in split order, for paired comparisons across runs
      np.savez_compressed(os.path.join(workdir, VALUES_FILE), **values)
    with open(path, "w", encoding="utf-8") as f:
      json.dump(payload, f, indent=2)
  return path


def load_eval_values(workdir: str) -> dict[str, np.ndarray]:
  """{values_key: [N] per-example nats} written beside eval.json ({} where none were kept)."""
  path = os.path.join(workdir, VALUES_FILE)
  if not os.path.exists(path):
    return {}
  with np.load(path) as values:
    return {key: values[key] for key in values.files}
