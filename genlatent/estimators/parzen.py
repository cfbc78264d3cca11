"""Parzen-window (Gaussian kernel density) log-likelihood of a model's samples.

A WEAK, BIASED ESTIMATE, kept only because the GAN and adversarial auto-encoder
literature reports it (Breuleux et al., 2011; Goodfellow et al., 2014; Makhzani
et al., 2016), so that our numbers can be set beside theirs. Read it with care:

  - It scores a kernel density fitted to N model samples, p̂(x) = (1/N) Σ_i
    N(x; s_i, σ² I), not the model. For finite N it is not a bound on, nor an
    unbiased estimate of, the model's log p(x); in high dimension it converges
    to it only for astronomically large N (Theis et al., 2016, "A note on the
    evaluation of generative models"). Blurry samples near the data mean can
    outscore sharp ones; a model that memorises the training set scores well.
  - It depends on σ, chosen here by grid search on the validation split, and on
    N (10,000 by default, as in the literature). Compare numbers only under the
    same N, the same bandwidth protocol and the same data.
  - Its reported standard error is across test examples only. The N samples are
    shared by every example, so their own randomness (a shift common to the whole
    split) is not in it.

Hence its own kind, `Kind.PARZEN`, never sorted with importance-sampling or AIS
estimates. Everything here is in log space:

  log p̂(x) = logsumexp_i(−|x − s_i|² / 2σ²) − log N − (D/2) log(2πσ²),  nats.

Any model with `sample(params, key, n)` can be scored: `draw_samples`, then
`fit_parzen_window` (bandwidth on validation data), then `parzen_log_likelihood`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from genlatent.core import ESTIMATORS, Estimator, Kind, LogLikelihood, Summary, summarize
from genlatent.core.maths import LOG_2PI

DEFAULT_NUM_SAMPLES = 10_000
# Coarse grid, as a multiple of the data's per-dimension standard deviation, then
# a finer one around the best coarse value: 13 + 11 evaluations, cheap because
# the [B, N] distances are computed once per chunk for every σ at once.
COARSE_RELATIVE_BANDWIDTHS = tuple(np.geomspace(1e-3, 10.0, 13))
FINE_POINTS = 11


@struct.dataclass
class ParzenWindow:
  """A Gaussian kernel density over [D] vectors.

  Attributes:
    centres: [N, D] the kernel centres (model samples, flattened).
    sigma: scalar, the kernel's standard deviation per dimension.
  """

  centres: jax.Array
  sigma: jax.Array


def log_kernel_density(x: jax.Array, centres: jax.Array, sigmas: jax.Array,
                       chunk_size: int = 2048) -> jax.Array:
  """[S, B] log p̂_σ(x) for every bandwidth σ in `sigmas` at once, nats.

  The centres are visited `chunk_size` at a time inside a `lax.scan` with a
  running log-sum-exp, so memory is [B, chunk] whatever N is. Squared distances
  come from |x|² − 2x·s + |s|² (one matrix product, clipped at 0); its float32
  rounding error, ~1e-7·|x|², is far below σ² for data in [0, 1].

  Args:
    x: [B, D] points.
    centres: [N, D] kernel centres.
    sigmas: [S] bandwidths > 0.
    chunk_size: centres per scan step; N need not be a multiple of it.
  """
  x = jnp.asarray(x, jnp.float32)
  centres = jnp.asarray(centres, jnp.float32)
  sigmas = jnp.atleast_1d(jnp.asarray(sigmas, jnp.float32))
  n, d = centres.shape
  chunk = min(chunk_size, n)
  num_chunks = math.ceil(n / chunk)
  padded = jnp.pad(centres, ((0, num_chunks * chunk - n), (0, 0)))
  valid = (jnp.arange(num_chunks * chunk) < n).reshape(num_chunks, chunk)
  inv_two_var = 0.5 / jnp.square(sigmas)  # [S]
  x_sq = jnp.sum(x * x, axis=-1)  # [B]

  def body(carry, inputs):
    running_max, running_sum = carry  # [S, B] each
    c, ok = inputs
    sq = jnp.maximum(x_sq[:, None] - 2.0 * x @ c.T + jnp.sum(c * c, axis=-1), 0.0)  # [B, chunk]
    log_k = jnp.where(ok, -sq[None] * inv_two_var[:, None, None], -jnp.inf)  # [S, B, chunk]
    new_max = jnp.maximum(running_max, log_k.max(axis=-1))
    running_sum = (running_sum * jnp.exp(running_max - new_max)
                   + jnp.exp(log_k - new_max[..., None]).sum(axis=-1))
    return (new_max, running_sum), None

  shape = (sigmas.shape[0], x.shape[0])
  init = (jnp.full(shape, -jnp.inf), jnp.zeros(shape))
  (final_max, final_sum), _ = jax.lax.scan(
      body, init, (padded.reshape(num_chunks, chunk, d), valid))
  log_norm = math.log(n) + 0.5 * d * (LOG_2PI + 2.0 * jnp.log(sigmas))  # [S]
  return final_max + jnp.log(final_sum) - log_norm[:, None]


def parzen_log_likelihood(window: ParzenWindow, x: jax.Array,
                          chunk_size: int = 2048) -> jax.Array:
  """[B] log p̂(x) under `window`, nats per example; x is [B, ...] (flattened here)."""
  flat = jnp.reshape(x, (x.shape[0], -1))
  return log_kernel_density(flat, window.centres, window.sigma, chunk_size)[0]


def draw_samples(sample_fn: Callable[[jax.Array, int], jax.Array], key: jax.Array,
                 num_samples: int = DEFAULT_NUM_SAMPLES, batch_size: int = 1000) -> np.ndarray:
  """[num_samples, D] float32 host array: `sample_fn(fold_in(key, i), batch_size)`, flattened.

  Batched so a large N never holds a whole decoder's activations at once; batch
  i draws from `fold_in(key, i)` and the last batch is cut to size.
  """
  if num_samples < 1:
    raise ValueError(f"num_samples must be ≥ 1, got {num_samples}.")
  batch_size = min(batch_size, num_samples)
  run = jax.jit(lambda k: sample_fn(k, batch_size))
  parts, drawn = [], 0
  for i in range(math.ceil(num_samples / batch_size)):
    out = np.asarray(run(jax.random.fold_in(key, i)), np.float32)
    parts.append(out.reshape(out.shape[0], -1))
    drawn += out.shape[0]
  return np.concatenate(parts)[:num_samples]


@functools.partial(jax.jit, static_argnames=("chunk_size",))
def _scores(x, centres, sigmas, chunk_size):
  return log_kernel_density(x, centres, sigmas, chunk_size)


def mean_log_density(centres: np.ndarray, x: np.ndarray, sigmas: Sequence[float], *,
                     batch_size: int = 500, chunk_size: int = 2048) -> np.ndarray:
  """[S] mean over the rows of x [M, ...] of log p̂_σ(x), for each σ; nats per example.

  Host loop over padded batches (one compilation), so M can be any size.
  """
  x = np.asarray(x, np.float32).reshape(len(x), -1)
  centres = jnp.asarray(centres, jnp.float32)
  sigmas = jnp.asarray(np.asarray(sigmas, np.float32))
  m = len(x)
  batch_size = min(batch_size, m)
  total = np.zeros(sigmas.shape[0], np.float64)
  for start in range(0, m, batch_size):
    rows = x[start:start + batch_size]
    real = len(rows)
    if real < batch_size:
      rows = np.concatenate([rows, np.zeros((batch_size - real,) + rows.shape[1:], np.float32)])
    scores = np.asarray(_scores(rows, centres, sigmas, chunk_size), np.float64)
    total += scores[:, :real].sum(axis=1)
  return total / m


def bandwidth_grid(x_validation: np.ndarray) -> np.ndarray:
  """The default coarse grid: `COARSE_RELATIVE_BANDWIDTHS` × the data's scale.

  The scale is the root-mean-square per-dimension standard deviation of the
  validation data, so the grid suits binary images and unit Gaussians alike.
  """
  x = np.asarray(x_validation, np.float64).reshape(len(x_validation), -1)
  scale = float(np.sqrt(np.mean(x.var(axis=0)))) if len(x) > 1 else 1.0
  return np.asarray(COARSE_RELATIVE_BANDWIDTHS) * (scale if scale > 0 else 1.0)


def select_bandwidth(centres: np.ndarray, x_validation: np.ndarray,
                     sigmas: Sequence[float] | None = None, *, refine: bool = True,
                     batch_size: int = 500, chunk_size: int = 2048):
  """σ maximising the mean validation log p̂_σ, by grid search.

  Args:
    centres: [N, D] model samples.
    x_validation: [M, ...] validation examples.
    sigmas: the grid; default `bandwidth_grid(x_validation)`.
    refine: then search `FINE_POINTS` log-spaced values between the best grid
      value's neighbours (only between grid points, so it never leaves the grid).
  Returns:
    (σ, report): report holds host floats for eval.json: `bandwidth`,
    `validation_mean_nats` at σ, `validation_examples`, `bandwidth_at_grid_edge`
    (True if the best coarse σ was the grid's first or last value: widen the grid),
    and the grid searched with its scores.
  """
  grid = np.sort(np.asarray(bandwidth_grid(x_validation) if sigmas is None else sigmas,
                            np.float64))
  if grid.size == 0 or np.any(grid <= 0):
    raise ValueError(f"Bandwidths must be positive; got {grid}.")
  score = functools.partial(mean_log_density, centres, x_validation, batch_size=batch_size,
                            chunk_size=chunk_size)
  scores = score(grid)
  best = int(np.nanargmax(scores))
  at_edge = grid.size > 1 and best in (0, grid.size - 1)
  searched, searched_scores = list(grid), list(scores)
  if refine and grid.size > 1:
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    fine = np.geomspace(low, high, FINE_POINTS)
    fine_scores = score(fine)
    searched += list(fine)
    searched_scores += list(fine_scores)
  # Sorted, without the coarse values the fine grid repeats.
  searched, first = np.unique(np.asarray(searched), return_index=True)
  searched_scores = np.asarray(searched_scores)[first]
  i = int(np.nanargmax(searched_scores))
  sigma = float(searched[i])
  report = {"bandwidth": sigma, "validation_mean_nats": float(searched_scores[i]),
            "validation_examples": int(len(x_validation)),
            "bandwidth_at_grid_edge": bool(at_edge),
            "bandwidth_grid": [float(s) for s in searched],
            "validation_mean_nats_grid": [float(v) for v in searched_scores]}
  return sigma, report


def fit_parzen_window(sample_fn: Callable[[jax.Array, int], jax.Array], key: jax.Array,
                      x_validation: np.ndarray, *, num_samples: int = DEFAULT_NUM_SAMPLES,
                      sigmas: Sequence[float] | None = None, sigma: float | None = None,
                      sample_batch_size: int = 1000, batch_size: int = 500,
                      chunk_size: int = 2048):
  """Draws `num_samples` model samples and picks σ on the validation split.

  Args:
    sample_fn: (key, n) -> [n, ...] data-space samples (e.g. a model's `sample`
      with its params bound).
    key: PRNG key for the samples.
    x_validation: [M, ...] validation examples, for the bandwidth only.
    num_samples: N kernel centres (10,000 by default, as in the literature).
    sigmas: the bandwidth grid (default `bandwidth_grid`).
    sigma: a fixed bandwidth instead of the search.
  Returns:
    (ParzenWindow, report): report as `select_bandwidth`'s, plus `num_samples`.
  """
  centres = draw_samples(sample_fn, key, num_samples, sample_batch_size)
  if sigma is not None and sigma > 0:
    report = {"bandwidth": float(sigma), "bandwidth_search": "fixed"}
  else:
    sigma, report = select_bandwidth(centres, x_validation, sigmas, batch_size=batch_size,
                                     chunk_size=chunk_size)
  report["num_samples"] = int(num_samples)
  return ParzenWindow(jnp.asarray(centres), jnp.asarray(sigma, jnp.float32)), report


def parzen_label(num_samples: int) -> str:
  """The estimator's name in a `LogLikelihood`: `parzen-<N>`."""
  return f"parzen-{num_samples}"


def parzen_summary(sample_fn: Callable[[jax.Array, int], jax.Array], key: jax.Array,
                   x_validation: np.ndarray, x_test: np.ndarray, *,
                   num_samples: int = DEFAULT_NUM_SAMPLES, sigmas: Sequence[float] | None = None,
                   batch_size: int = 500, chunk_size: int = 2048) -> Summary:
  """The whole protocol for any sampler: σ on validation, mean ± stderr on test.

  For models evaluated outside the trainer (e.g. a table of families scored the
  same way). Returns a `Summary` of kind `Kind.PARZEN`, its details holding the
  bandwidth search.
  """
  window, report = fit_parzen_window(sample_fn, key, x_validation, num_samples=num_samples,
                                     sigmas=sigmas, batch_size=batch_size, chunk_size=chunk_size)
  x_test = np.asarray(x_test, np.float32).reshape(len(x_test), -1)
  values = []
  for start in range(0, len(x_test), batch_size):
    rows = x_test[start:start + batch_size]
    real = len(rows)
    if real < batch_size and start:
      rows = np.concatenate([rows, np.zeros((batch_size - real, rows.shape[1]), np.float32)])
    values.append(np.asarray(_scores(rows, window.centres, window.sigma[None], chunk_size))[0, :real])
  summary = summarize(np.concatenate(values), parzen_label(num_samples), Kind.PARZEN)
  return dataclasses.replace(summary, details=report)


def _prepare(model, params, key, num_samples, validation_x):
  """N model samples as kernel centres, σ chosen on the validation split."""
  if validation_x is None or len(validation_x) < 2:
    raise ValueError("The Parzen estimate chooses its bandwidth on the validation split: "
                     "give the data a validation split (--config.data.validation_size > 1).")
  window, report = fit_parzen_window(functools.partial(model.sample, params), key,
                                     validation_x, num_samples=num_samples)
  return {"centres": window.centres, "sigma": window.sigma}, report


def _log_likelihood(model, params, state, x, key, num_samples) -> LogLikelihood:
  """[B] log of the Gaussian kernel density of the model's samples at x, nats."""
  del model, params, key, num_samples
  window = ParzenWindow(state["centres"], state["sigma"])
  return LogLikelihood(parzen_log_likelihood(window, x),
                       parzen_label(window.centres.shape[0]), Kind.PARZEN)


ESTIMATORS.register("parzen")(Estimator(
    needs="a sampler", supports=lambda model: model.sample is not None,
    log_likelihood=_log_likelihood, prepare=_prepare))
