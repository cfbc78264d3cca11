"""Numerics shared by families and estimators, all in log space."""

import math

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)


def log_mean_exp(log_w: jax.Array, axis: int = 0) -> jax.Array:
  """log(mean(exp(log_w))) along `axis`, stable for any magnitude."""
  return jax.nn.logsumexp(log_w, axis=axis) - math.log(log_w.shape[axis])


def diag_gaussian_log_prob(z: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
  """log N(z; mean, diag(exp(log_var))), summed over the last axis, nats."""
  return -0.5 * jnp.sum(LOG_2PI + log_var + (z - mean) ** 2 * jnp.exp(-log_var), axis=-1)


def standard_normal_log_prob(z: jax.Array) -> jax.Array:
  """log N(z; 0, I), summed over the last axis, nats."""
  return -0.5 * jnp.sum(LOG_2PI + z ** 2, axis=-1)


def kl_diag_gaussians(mean_q, log_var_q, mean_p, log_var_p) -> jax.Array:
  """KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p))), summed over the last axis."""
  return 0.5 * jnp.sum(
      log_var_p - log_var_q
      + (jnp.exp(log_var_q) + (mean_q - mean_p) ** 2) * jnp.exp(-log_var_p) - 1.0,
      axis=-1)


def bernoulli_log_prob(x: jax.Array, logits: jax.Array, event_ndim: int) -> jax.Array:
  """log Bernoulli(x; sigmoid(logits)), summed over the trailing `event_ndim` axes, nats.

  Written as x·l − softplus(l): exact for large |logits|, where log(sigmoid(l)) is not.
  """
  # Flattened first: XLA on CPU vectorises a long last axis, not a trailing axis of
  # size 1 ([..., 28, 28, 1]); the same sum is ~2.5-7x faster on [..., 784].
  x, logits = flatten_event(x, event_ndim), flatten_event(logits, event_ndim)
  return jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)


def flatten_event(x: jax.Array, event_ndim: int) -> jax.Array:
  """Merges the trailing `event_ndim` axes into one: [..., *event] -> [..., prod(event)]."""
  return x.reshape(x.shape[:x.ndim - event_ndim] + (-1,)) if event_ndim else x[..., None]


def sum_event(x: jax.Array, event_ndim: int) -> jax.Array:
  """Sums the trailing `event_ndim` axes."""
  return x.sum(axis=tuple(range(x.ndim - event_ndim, x.ndim))) if event_ndim else x
