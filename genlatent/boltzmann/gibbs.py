"""Block Gibbs sampling in an RBM, with per-example noise where an index is given."""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from genlatent.boltzmann.energy import hidden_probs, is_gaussian, visible_mean
from genlatent.core import rng


# ----------------------------------------------------------------------------- sampling


def uniform_noise(key: jax.Array, index: Optional[jax.Array], shape: tuple) -> jax.Array:
  """[B, n] U[0, 1): row i a function of (key, index[i]) when `index` [B] is given.

  Per-example rows keep training independent of how a batch is split over
  devices (`genlatent.core.rng`); without `index`, one draw of the whole array.
  """
  if index is None:
    return rng.uniform(key, tuple(shape))
  return rng.example_uniform(key, index, tuple(shape[1:]))


def normal_noise(key: jax.Array, index: Optional[jax.Array], shape: tuple) -> jax.Array:
  """[B, n] N(0, 1), per example when `index` is given (see `uniform_noise`)."""
  if index is None:
    return jax.random.normal(key, shape)
  return rng.example_normal(key, index, tuple(shape[1:]))


def bernoulli(probs: jax.Array, key: jax.Array, index: Optional[jax.Array] = None) -> jax.Array:
  """Binary float32 draws with P(1) = probs [B, n]."""
  return (uniform_noise(key, index, probs.shape) < probs).astype(jnp.float32)


def sample_hidden(params: dict, v: jax.Array, key: jax.Array,
                  index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """(h ~ p(h | v) [B, H] binary, p(h = 1 | v) [B, H])."""
  probs = hidden_probs(params, v)
  return bernoulli(probs, key, index), probs


def sample_visible(params: dict, h: jax.Array, key: jax.Array,
                   index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """(v ~ p(v | h) [B, V], E[v | h] [B, V])."""
  mean = visible_mean(params, h)
  if is_gaussian(params):
    return mean + jnp.exp(params["log_sigma"]) * normal_noise(key, index, mean.shape), mean
  return bernoulli(mean, key, index), mean


def gibbs_step(params: dict, v: jax.Array, key: jax.Array,
               index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """One block Gibbs sweep v → h → v'. Returns (v' [B, V], E[v' | h] [B, V])."""
  key_h, key_v = jax.random.split(key)
  h, _ = sample_hidden(params, v, key_h, index)
  return sample_visible(params, h, key_v, index)


def gibbs_chain(params: dict, v: jax.Array, key: jax.Array, num_steps: int,
                index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """`num_steps` ≥ 1 Gibbs sweeps from v [B, V]; sweep t draws from `fold_in(key, t)`.

  Returns:
    (the last state [B, V], its mean E[v | h] [B, V]).
  """
  if num_steps < 1:
    raise ValueError(f"A Gibbs chain needs at least one step; got {num_steps}.")

  def body(carry, t):
    state, _ = carry
    return gibbs_step(params, state, jax.random.fold_in(key, t), index), None

  init = (v, jnp.zeros_like(v))
  (v, mean), _ = jax.lax.scan(body, init, jnp.arange(num_steps, dtype=jnp.uint32))
  return v, mean


def gibbs_snapshots(params: dict, v: jax.Array, key: jax.Array,
                    steps: tuple[int, ...]) -> jax.Array:
  """E[v | h] of chains started at v [n, V], recorded after each of `steps` sweeps.

  Args:
    steps: increasing sweep counts ≥ 1, e.g. (1, 10, 100, 1000).
  Returns:
    [len(steps), n, V].
  """
  steps = tuple(int(s) for s in steps)
  if not steps or steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:])):
    raise ValueError(f"steps must be increasing and ≥ 1; got {steps}.")
  keep = np.zeros((steps[-1],), bool)
  keep[np.asarray(steps) - 1] = True

  def body(state, t):
    state, mean = gibbs_step(params, state, jax.random.fold_in(key, t))
    return state, mean

  _, means = jax.lax.scan(body, v, jnp.arange(steps[-1], dtype=jnp.uint32))
  return means[np.flatnonzero(keep)]


def base_samples(params: dict, base_visible_bias: jax.Array, key: jax.Array,
                 n: int) -> jax.Array:
  """[n, V] exact samples of the base-rate model (W = 0, visible bias = base)."""
  mean = base_visible_bias[None, :] * jnp.ones((n, 1), jnp.float32)
  if is_gaussian(params):
    return mean + jnp.exp(params["log_sigma"]) * jax.random.normal(key, mean.shape)
  return bernoulli(jax.nn.sigmoid(mean), key)
