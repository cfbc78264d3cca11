"""Randomness that depends on the example, not on how the batch is split.

Noise drawn as `normal(key, (B, d))` inside a per-device function changes with the
number of devices under `pmap`. Folding each example's dataset index into the
step key instead makes every example's noise the same on 1 or 8 devices, under
either parallel backend.
"""

import jax


def example_keys(key: jax.Array, index: jax.Array) -> jax.Array:
  """One key per example.

  Args:
    key: the step's key.
    index: [B] int, each example's position in its data split.
  Returns:
    [B] keys.
  """
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, index)


def example_normal(key: jax.Array, index: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Standard normal noise of shape [B, *shape], a function of (key, index[i]) per row."""
  return jax.vmap(lambda k: jax.random.normal(k, shape))(example_keys(key, index))


def example_uniform(key: jax.Array, index: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Uniform [0, 1) noise of shape [B, *shape], a function of (key, index[i]) per row."""
  return jax.vmap(lambda k: jax.random.uniform(k, shape))(example_keys(key, index))
