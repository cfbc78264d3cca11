"""The Gibbs samplers' uniforms: JAX's Threefry stream, per example where asked."""

import jax
import numpy as np
import pytest
import scipy.stats

from genlatent.core import rng


@pytest.mark.parametrize("shape", [(1,), (7,), (100, 1284), (3, 4, 5)])
def test_uniform_is_jax_threefry_in_its_two_numbers_per_block_mode(shape):
  key = jax.random.PRNGKey(11)
  with jax.threefry_partitionable(False):
    expected = jax.random.uniform(key, shape)
  np.testing.assert_array_equal(rng.uniform(key, shape), expected)
  np.testing.assert_array_equal(rng.uniform(jax.random.key(11), shape), expected)
  np.testing.assert_array_equal(jax.jit(rng.uniform, static_argnums=1)(key, shape), expected)


def test_uniform_is_uniform_and_its_halves_are_independent():
  u = np.asarray(rng.uniform(jax.random.PRNGKey(0), (200_000,)))
  assert u.min() >= 0.0 and u.max() < 1.0
  assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3
  # The two numbers of one Threefry block are the first and second halves.
  first, second = u[:100_000], u[100_000:]
  assert abs(np.corrcoef(first, second)[0, 1]) < 0.01


def test_example_uniform_rows_depend_on_the_example_not_the_batch():
  key = jax.random.PRNGKey(5)
  index = np.array([3, 9, 4, 0], np.int32)
  whole = np.asarray(rng.example_uniform(key, index, (6,)))
  for i in range(len(index)):
    np.testing.assert_array_equal(rng.example_uniform(key, index[i:i + 1], (6,))[0], whole[i])
  assert len({tuple(row) for row in whole}) == len(index)
