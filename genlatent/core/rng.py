"""Randomness that depends on the example, not on how the batch is split.

Noise drawn as `normal(key, (B, d))` inside a per-device function changes with the
number of devices under `pmap`. Folding each example's dataset index into the
step key instead makes every example's noise the same on 1 or 8 devices, under
either parallel backend.

Uniforms come from `uniform`: Threefry-2x32 in counter mode with each block giving
two numbers, JAX's own stream under `jax.threefry_partitionable(False)`.
`jax.random.uniform`'s default (partitionable) stream spends one block per number;
on CPU that doubled what a Gibbs sweep pays for its random numbers (the generator
was 24% of a CD-1 step and 30% of a Boltzmann AIS step, more than the sigmoids).
"""

import math

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

_FLOAT32_ONE_BITS = np.uint32(0x3F800000)


def uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """U[0, 1) float32 noise of `shape` from `key`, two numbers per Threefry block.

  Equal to `jax.random.uniform(key, shape)` under `jax.threefry_partitionable(False)`
  (23 random mantissa bits per number), at half the cost of the partitionable
  default on CPU. `key`: a raw uint32[2] key or a typed Threefry key.
  """
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  size = math.prod(shape)
  bits = jax.extend.random.threefry_2x32(key, jnp.arange(size, dtype=jnp.uint32))
  mantissa = jax.lax.shift_right_logical(bits, np.uint32(9)) | _FLOAT32_ONE_BITS
  return (jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0).reshape(shape)


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
  return jax.vmap(lambda k: uniform(k, shape))(example_keys(key, index))
