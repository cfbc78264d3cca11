"""Observation models p(x|z): how a decoder's output becomes log p(x|z) in nats.

A decoder emits `params_per_channel` numbers per data channel: its output for data
of shape [H, W, C] is [..., H, W, C * params_per_channel]. Each likelihood sums
log p over the event (all of H, W, C), giving nats per example.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from genlatent.core import maths


class Likelihood(NamedTuple):
  """log_prob(x [..., *event], out [..., *event[:-1], C*P]) -> [...] nats;
  mean(out) -> [..., *event] the mean image; discrete: whether log p is a probability
  mass (comparable in bits/dim) rather than a density; sample(out, key) -> [..., *event]
  an exact draw x ~ p(x | out) (simulated data for BDMC)."""

  name: str
  params_per_channel: int
  log_prob: Callable
  mean: Callable
  discrete: bool
  sample: Callable | None = None


def _split(out, parts):
  return jnp.split(out, parts, axis=-1) if parts > 1 else (out,)


def bernoulli(event_ndim: int) -> Likelihood:
  return Likelihood(
      "bernoulli", 1,
      lambda x, out: maths.bernoulli_log_prob(x, out, event_ndim),
      jax.nn.sigmoid, discrete=True,
      sample=lambda out, key: jax.random.bernoulli(
          key, jax.nn.sigmoid(out)).astype(jnp.float32))


def gaussian(event_ndim: int, scale: float | None) -> Likelihood:
  """N(x; mean, σ²) per pixel: σ fixed at `scale`, or learned per pixel when None."""

  def log_prob(x, out):
    if scale is None:
      mean, log_var = _split(out, 2)
      log_var = jnp.clip(log_var, -10.0, 10.0)  # keeps σ in [7e-3, 150]
    else:
      mean, log_var = out, jnp.full_like(out, 2.0 * math.log(scale))
    x, mean, log_var = (maths.flatten_event(a, event_ndim) for a in (x, mean, log_var))
    return jnp.sum(-0.5 * (maths.LOG_2PI + log_var + (x - mean) ** 2 * jnp.exp(-log_var)),
                   axis=-1)

  mean_fn = (lambda out: _split(out, 2)[0]) if scale is None else (lambda out: out)

  def sample(out, key):
    if scale is None:
      mean, log_var = _split(out, 2)
      std = jnp.exp(0.5 * jnp.clip(log_var, -10.0, 10.0))
    else:
      mean, std = out, scale
    return mean + std * jax.random.normal(key, mean.shape)

  return Likelihood("gaussian", 2 if scale is None else 1, log_prob, mean_fn, discrete=False,
                    sample=sample)


def discretized_logistic(event_ndim: int, num_bins: int) -> Likelihood:
  """Logistic(mean, s) integrated over bins of width 1/(num_bins-1) on [0, 1].

  For 8-bit data num_bins = 256; the edge bins extend to ±∞ so the masses sum to
  one. log p is a probability mass, so −log p / (D ln 2) is bits per dimension.
  """
  half = 0.5 / (num_bins - 1)

  def log_prob(x, out):
    mean, log_scale = (maths.flatten_event(a, event_ndim) for a in _split(out, 2))
    x = maths.flatten_event(x, event_ndim)
    inv_s = jnp.exp(-jnp.clip(log_scale, -7.0, 5.0))
    upper = (x + half - mean) * inv_s
    lower = (x - half - mean) * inv_s
    log_cdf_upper = jax.nn.log_sigmoid(upper)          # log F(upper)
    log_sf_lower = jax.nn.log_sigmoid(-lower)          # log (1 − F(lower))
    # log(F(u) − F(l)) = log F(u) + log(1 − exp(log F(l) − log F(u))), stable when the
    # bin is far in a tail; F(l)/F(u) = σ(l)/σ(u).
    log_mid = log_cdf_upper + jnp.log(-jnp.expm1(
        jnp.minimum(jax.nn.log_sigmoid(lower) - log_cdf_upper, -1e-6)))
    # Far in the right tail, use 1 − F(l) − (1 − F(u)) instead.
    log_mid_right = log_sf_lower + jnp.log(-jnp.expm1(
        jnp.minimum(jax.nn.log_sigmoid(-upper) - log_sf_lower, -1e-6)))
    log_mid = jnp.where(lower > 0, log_mid_right, log_mid)
    at_low = x < half
    at_high = x > 1.0 - half
    ll = jnp.where(at_low, log_cdf_upper, jnp.where(at_high, log_sf_lower, log_mid))
    return jnp.sum(ll, axis=-1)

  def sample(out, key):
    # A logistic draw, then the bin it falls in (the edge bins take the tails).
    mean, log_scale = _split(out, 2)
    u = jax.random.uniform(key, mean.shape, minval=1e-6, maxval=1.0 - 1e-6)
    y = mean + jnp.exp(jnp.clip(log_scale, -7.0, 5.0)) * (jnp.log(u) - jnp.log1p(-u))
    return jnp.clip(jnp.round(y * (num_bins - 1)), 0, num_bins - 1) / (num_bins - 1)

  return Likelihood("discretized_logistic", 2, log_prob,
                    lambda out: jnp.clip(_split(out, 2)[0], 0.0, 1.0), discrete=True,
                    sample=sample)


LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned", "discretized_logistic")


def build_likelihood(name: str, event_ndim: int, config=None) -> Likelihood:
  """The observation model `name` (see LIKELIHOODS).

  config (the model's likelihood_config): `scale` for 'gaussian', `num_bins` for
  'discretized_logistic'; the others read nothing.
  """
  if name == "bernoulli":
    return bernoulli(event_ndim)
  if name == "gaussian_learned":
    return gaussian(event_ndim, None)
  if name in ("gaussian", "discretized_logistic"):
    field = "scale" if name == "gaussian" else "num_bins"
    if config is None or field not in config:
      raise ValueError(f"The {name!r} likelihood needs likelihood_config.{field}.")
    if name == "gaussian":
      return gaussian(event_ndim, config.scale)
    return discretized_logistic(event_ndim, config.num_bins)
  raise ValueError(f"Unknown likelihood {name!r}. Known: {', '.join(LIKELIHOODS)}.")
