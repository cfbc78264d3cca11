"""RAISE against exact log p(v) on tiny RBMs; the RBM's annealing path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlatent.estimators import ais, raise_ais
from genlatent import boltzmann
from tests.estimators.test_bdmc import _exact_rbm_samples
from tests.train.helpers import random_rbm

# (visible, hidden, seed, weight scale, gaussian visible units)
TINY_RBMS = [(16, 8, 0, 2.5, False), (6, 8, 3, 0.5, True)]


@pytest.mark.parametrize("gaussian", [False, True])
def test_the_rbm_path_is_the_one_models_rbm_anneals(gaussian):
  params = random_rbm(2, 7, 5, gaussian=gaussian)
  base = jnp.linspace(-1.0, 1.0, 7)
  path = boltzmann.annealing_path(params, base)
  key = jax.random.PRNGKey(3)
  ours = jax.jit(lambda k: ais.annealed_importance_sampling(
      path.step, path.sample_base, path.log_z_base, ais.beta_schedule("linear:20"), k, 8))(key)
  theirs = jax.jit(lambda k: boltzmann.ais_log_partition(params, base, k, 8, "linear:20"))(key)
  np.testing.assert_allclose(ours.log_weights, theirs.log_weights, rtol=1e-6)  # same draws
  # log f at β = 1 is the negative free energy; at β = 0 the base, normalised by log Z_0.
  v = path.sample_base(jax.random.PRNGKey(4), 5)
  np.testing.assert_allclose(path.log_f(v, 1.0), -boltzmann.free_energy(params, v), rtol=1e-5)
  base_params = dict(params, weights=jnp.zeros_like(params["weights"]), visible_bias=base,
                     hidden_bias=jnp.zeros_like(params["hidden_bias"]))
  np.testing.assert_allclose(path.log_f(v, 0.0), -boltzmann.free_energy(base_params, v), rtol=1e-5)
  np.testing.assert_allclose(path.log_z_base, boltzmann.exact_log_partition(base_params), rtol=1e-5)


def _raise_errors(schedule, num_examples=64, num_chains=16):
  """[RBMs, examples] RAISE − exact log p(v) on exact samples of each RBM."""
  errors = []
  for v, h, seed, scale, gaussian in TINY_RBMS:
    params = random_rbm(seed, v, h, scale, gaussian=gaussian)

    def error(key):
      data = _exact_rbm_samples(params, jax.random.fold_in(key, 0), num_examples)
      exact = -boltzmann.free_energy(params, data) - boltzmann.exact_log_partition(params)
      path = boltzmann.annealing_path(params, jnp.zeros((v,)))
      result = raise_ais.raise_log_likelihood(path, data, jax.random.fold_in(key, 1),
                                              num_chains=num_chains, schedule=schedule)
      assert result.log_weights.shape == (num_examples, num_chains)
      return result.log_likelihood - exact

    errors.append(np.asarray(jax.jit(error)(jax.random.PRNGKey(seed))))
  return np.stack(errors)


def test_raise_is_conservative_and_within_a_fifth_of_a_nat_by_default():
  errors = _raise_errors(raise_ais.DEFAULT_SCHEDULE)
  mean, stderr = errors.mean(axis=1), errors.std(axis=1, ddof=1) / np.sqrt(errors.shape[1])
  assert np.all(mean <= 3 * stderr), (mean, stderr)  # low on average, within noise
  assert np.all(np.abs(mean) < 0.2) and np.all(np.abs(errors).mean(axis=1) < 0.2), errors


def test_a_short_schedule_makes_raise_low_where_ais_is_high():
  """The bracket: with 10 steps RAISE falls clearly below exact log p(v) on data from
  the model, while forward AIS (log Z low) puts log p(v) above it."""
  errors = _raise_errors("sigmoid:10")
  assert np.all(errors.mean(axis=1) < -0.2), errors.mean(axis=1)
  params = random_rbm(3, 6, 8, 0.5, gaussian=True)
  ais_log_z = jax.jit(jax.vmap(lambda k: boltzmann.ais_log_partition(
      params, jnp.zeros((6,)), k, 16, "sigmoid:10").log_z))(
          jax.random.split(jax.random.PRNGKey(0), 16))
  assert float(np.mean(ais_log_z)) < float(boltzmann.exact_log_partition(params)) - 0.2


def test_values_do_not_depend_on_chunking():
  params = random_rbm(1, 6, 5)
  path = boltzmann.annealing_path(params, jnp.zeros((6,)))
  data = _exact_rbm_samples(params, jax.random.PRNGKey(0), 7)
  run = lambda chunk: jax.jit(lambda d, k: raise_ais.raise_log_likelihood(
      path, d, k, num_chains=4, schedule="linear:20", chunk_size=chunk))(
          data, jax.random.PRNGKey(1))
  whole, chunked = run(0), run(12)  # 3 examples per chunk, the last one padded
  for a, b in zip(whole, chunked):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  assert raise_ais.raise_label(16, "sigmoid:1000") == "raise-16x1000"
  with pytest.raises(ValueError, match="at least one chain"):
    raise_ais.raise_log_likelihood(path, data, jax.random.PRNGKey(1), num_chains=0)
