"""Importance-sampled log-likelihood, chunked so memory stays bounded for any k."""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from genlatent.core import ESTIMATORS, Estimator, Kind, LogLikelihood


AUTO_ROWS_PER_CHUNK = 2048


def samples_per_chunk(chunk_size: int, batch: int, num_samples: int) -> int:
  """Samples drawn at once for `batch` examples: `chunk_size`, or with 0 about
  2048 / batch, so one chunk is ~2048 decoder rows (samples × examples), the size
  that keeps the decoder's matmuls efficient on CPU without memory growing with
  k; never more than `num_samples`."""
  # An empty batch (an empty split's shape probe) still gets a valid chunk.
  return min(chunk_size or max(1, AUTO_ROWS_PER_CHUNK // max(batch, 1)), num_samples)


def importance_sampled_log_likelihood(
    log_weights_fn: Callable[[jax.Array, int], jax.Array],
    key: jax.Array,
    num_samples: int,
    chunk_size: int = 0,
) -> jax.Array:
  """log (1/k) Σ_i w_i with w_i = p(x, z_i) / q(z_i | x), z_i ~ q(z | x).

  The k samples are drawn `chunk_size` at a time inside a `lax.scan` that keeps
  a running log-sum-exp (max and rescaled sum), so memory is that of one chunk
  whatever k is, and float32 never overflows.

  Args:
    log_weights_fn: (key, n) -> [n, B] log importance weights, nats.
    key: PRNG key; chunk c draws from `fold_in(key, c)`.
    num_samples: k ≥ 1.
    chunk_size: samples per chunk (k need not be a multiple of it); 0 picks
      about 2048 / B, so one chunk is ~2048 decoder rows.
  Returns:
    [B] estimates of log p(x), nats. In expectation a lower bound (the IWAE bound)
    that tightens to log p(x) as k grows.
  """
  if num_samples < 1:
    raise ValueError(f"num_samples must be ≥ 1, got {num_samples}.")
  batch = jax.eval_shape(lambda k: log_weights_fn(k, 1), key).shape[1]
  chunk = samples_per_chunk(chunk_size, batch, num_samples)
  num_chunks = math.ceil(num_samples / chunk)

  def body(carry, c):
    running_max, running_sum = carry
    log_w = log_weights_fn(jax.random.fold_in(key, c), chunk)
    # Samples past k in the last chunk get weight zero.
    valid = (c * chunk + jnp.arange(chunk)) < num_samples
    log_w = jnp.where(valid[:, None], log_w, -jnp.inf)
    new_max = jnp.maximum(running_max, log_w.max(axis=0))
    running_sum = (running_sum * jnp.exp(running_max - new_max)
                   + jnp.exp(log_w - new_max).sum(axis=0))
    return (new_max, running_sum), None

  init = (jnp.full((batch,), -jnp.inf), jnp.zeros((batch,)))
  (final_max, final_sum), _ = jax.lax.scan(body, init, jnp.arange(num_chunks))
  return final_max + jnp.log(final_sum) - math.log(num_samples)


def _prepare(model, params, key, num_samples, validation_x):
  """The family's proposal fitted once per evaluation (e.g. a widened encoder)."""
  return model.densities.latent.fit_proposal(params, key, validation_x, num_samples)


def _log_likelihood(model, params, state, x, key, num_samples) -> LogLikelihood:
  """[B] log (1/k) Σ p(x, z_i)/q(z_i | x), nats: a stochastic estimate."""
  latent = model.densities.latent
  q = state
  if latent.proposal is not None:
    key_q, key = jax.random.split(key)
    q = latent.proposal(params, x, key_q, state)
  values = importance_sampled_log_likelihood(
      lambda k, n: latent.log_weights(params, x, k, n, q), key, num_samples, latent.chunk_size)
  return LogLikelihood(values, f"importance-{num_samples}", Kind.ESTIMATE)


ESTIMATORS.register("importance")(Estimator(
    needs="a joint log p(x, z) with a proposal q(z | x) (a latent-variable family)",
    supports=lambda model: model.densities.latent is not None,
    log_likelihood=_log_likelihood, prepare=_prepare,
    prepares=lambda model: model.densities.latent.fit_proposal is not None))
