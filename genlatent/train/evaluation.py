"""Evaluating a model's log-likelihood over a whole data split, every example once."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import uuid
import zipfile

import jax
import numpy as np

from genlatent import data as data_lib
from genlatent import estimators as estimators_lib
from genlatent.core import Kind, Model, Summary, summarize
from genlatent.train import workdir as workdir_lib

log = logging.getLogger(__name__)

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
                   dataset: data_lib.Dataset | None = None,
                   prepare_key: jax.Array | None = None) -> Summary:
  """Mean ± stderr of per-example log p(x) over `split`, nats.

  The estimator is looked up by name (`genlatent.core.ESTIMATORS`) and checked
  against what the model exposes. Its shared work (`prepare`: log Z, a Parzen
  window, a proposal) runs once, on one device, and its state goes to every
  batch beside the params. Batches are padded to `batch_size` and masked so
  every example counts exactly once; batch i draws its randomness from
  `fold_in(key, i)`. `dataset`'s validation split, when there is one, is what
  `prepare` may fit on (a Parzen bandwidth, a proposal widening). `prepare_key`,
  when given, is `prepare`'s key (one key for every estimator of an evaluation lets
  them share a Boltzmann family's log Ẑ); otherwise it is split from `key`.
  """
  chosen = estimators_lib.resolve(estimator, model)
  backend.check_batch_size(batch_size, "Evaluation batch size")

  state, report = None, {}
  if chosen.shares_work(model):
    if prepare_key is None:
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


def fitted_batch_size(backend, batch_size: int, num_examples: int) -> int:
  """`batch_size`, or for fewer examples than that the least multiple of the backend's
  devices that holds them all: a padding row costs as much as a real one (with 100
  annealed examples and eval batches of 500, four fifths of the chains were padding)."""
  if num_examples >= batch_size:
    return batch_size
  multiple = backend.batch_multiple
  return min(batch_size, -(-num_examples // multiple) * multiple)


def map_split(backend, fn, params, split: data_lib.Split, batch_size: int, key: jax.Array):
  """fn(params, x, key) -> pytree of [B, ...] applied to every example of `split` once.

  Batches are padded to `batch_size` and the padding dropped from the result; batch i
  uses key `fold_in(key, i)`. Returns host numpy arrays of [N, ...].
  """
  backend.check_batch_size(batch_size, "Evaluation batch size")
  if split.num_examples == 0:
    raise ValueError("cannot evaluate an empty split (no examples); with "
                     "data.validation_size=0 there is no validation split.")
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


PER_SPLIT_KEYS = ("diagnostics", "metrics")  # entries of `extra` keyed by split
# Sections about the model at this step rather than a split (BDMC on simulated data):
# kept when a split is re-evaluated at the same step.
PER_STEP_KEYS = ("bdmc",)
VALUES_ID_KEY = "_values_id"  # in both files: which eval.json an eval_values.npz belongs to


def write_eval_json(workdir: str, results: dict[str, list[Summary]], *, step: int,
                    num_dims: int, discrete: bool = True, extra: dict | None = None) -> str:
  """Writes `<workdir>/eval.json`: every estimate with its estimator, kind and stderr.

  Bits/dim is given only where log p(x) is a probability mass (`discrete`); for a
  density on continuous data it would not be comparable.

  Only the splits in `results` are replaced: the other splits' entries (and
  their per-split `diagnostics`/`metrics` in `extra`, and their per-example
  values) stay when they were computed at the same `step`; results of another
  step are dropped, never mixed in. eval_values.npz is written first, then
  eval.json, each atomically; both carry one id, so a reader can tell a pair
  that belongs together (see `load_eval_values`).
  """
  path = os.path.join(workdir, "eval.json")
  payload = {"step": int(step), **(extra or {}), "splits": {}}
  values = {}
  old = _previous_results(workdir, path, int(step), keep=set(results))
  if old is not None:
    old_payload, old_values = old
    for name in PER_STEP_KEYS:
      if name in old_payload and name not in payload:
        payload[name] = old_payload[name]
    for split, entries in old_payload.get("splits", {}).items():
      if split in results:
        continue
      payload["splits"][split] = entries
      for entry in entries:
        key = entry.get("values_key")
        if key in old_values:
          values[key] = old_values[key]
        else:
          entry.pop("values_key", None)  # its values were lost; the summary stands
      for name in PER_SPLIT_KEYS:
        old_part = old_payload.get(name) or {}
        if split in old_part:
          payload[name] = dict(payload.get(name) or {}, **{split: old_part[split]})
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
  payload["splits"] = dict(sorted(payload["splits"].items()))
  if jax.process_index() == 0:
    values_id = uuid.uuid4().hex
    payload[VALUES_ID_KEY] = values_id
    # per-example nats, in split order, for paired comparisons across runs
    workdir_lib.write_npz(os.path.join(workdir, VALUES_FILE),
                          dict(values, **{VALUES_ID_KEY: np.array(values_id)}))
    workdir_lib.write_json(path, payload)
  return path


def _previous_results(workdir: str, path: str, step: int, keep: set):
  """(payload, values) of an eval.json at `step`, or None (absent, other step, damaged).

  Splits other than `keep` (those being rewritten) that are dropped for being of
  another step are named in a warning.
  """
  if not os.path.exists(path):
    return None
  try:
    payload = workdir_lib.read_json(path)
  except workdir_lib.WorkdirError as e:
    log.warning("Replacing %s", e)
    return None
  old_step = payload.get("step")
  if old_step != step:
    dropped = sorted(set(payload.get("splits", {})) - keep)
    if dropped:
      log.warning("eval.json held %s results of step %s; the model is now at step %d, so "
                  "they are dropped.", "/".join(dropped), old_step, step)
    return None
  try:
    values = load_eval_values(workdir)
  except workdir_lib.WorkdirError:
    values = {}
  return payload, values


def load_eval_values(workdir: str) -> dict[str, np.ndarray]:
  """{values_key: [N] per-example nats} written beside eval.json ({} where none were kept).

  Raises:
    WorkdirError: eval_values.npz is damaged, or belongs to another eval.json
      than the one beside it (naming both files).
  """
  path = os.path.join(workdir, VALUES_FILE)
  if not os.path.exists(path):
    return {}
  try:
    with np.load(path) as stored:
      values = {key: stored[key] for key in stored.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise workdir_lib.WorkdirError(
        f"{path} is damaged ({type(e).__name__}); rerun python -m experiments.evaluate "
        f"--workdir={workdir} to rewrite it.") from None
  stored_id = values.pop(VALUES_ID_KEY, None)
  json_path = os.path.join(workdir, "eval.json")
  if stored_id is not None and os.path.exists(json_path):
    expected = workdir_lib.read_json(json_path).get(VALUES_ID_KEY)
    if expected is not None and str(stored_id) != expected:
      raise workdir_lib.WorkdirError(
          f"{path} does not belong to {json_path} (written by different evaluations); "
          f"rerun python -m experiments.evaluate --workdir={workdir} to rewrite both.")
  return values
