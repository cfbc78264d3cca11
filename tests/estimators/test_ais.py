"""AIS against exact log Z on tiny RBMs; schedules; enumeration; the weights' summary."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlatent.estimators import ais
from genlatent.models import rbm


def _random_rbm(seed, num_visible, num_hidden, scale=1.0, gaussian=False):
  keys = jax.random.split(jax.random.PRNGKey(seed), 4)
  params = rbm.init_params(keys[0], num_visible, num_hidden, init_scale=scale,
                           visible="gaussian" if gaussian else "bernoulli")
  params["visible_bias"] = jax.random.normal(keys[1], (num_visible,))
  params["hidden_bias"] = jax.random.normal(keys[2], (num_hidden,))
  if gaussian:
    params["log_sigma"] = 0.3 * jax.random.normal(keys[3], (num_visible,))
  return params


def test_classic_schedule_has_the_published_steps():
  betas = ais.beta_schedule("classic")
  assert len(betas) == 14501 and ais.schedule_steps("classic") == 14500
  steps = np.diff(betas.astype(np.float64))
  np.testing.assert_allclose(steps[:500], 1e-3, rtol=1e-3)
  np.testing.assert_allclose(steps[500:4500], 1e-4, rtol=1e-2)
  np.testing.assert_allclose(steps[4500:], 1e-5, rtol=1e-1)
  assert betas[0] == 0.0 and betas[-1] == 1.0 and np.all(steps > 0)


@pytest.mark.parametrize("spec", ["linear:10", 10, "sigmoid:10"])
def test_other_schedules_run_from_zero_to_one(spec):
  betas = ais.beta_schedule(spec)
  assert len(betas) == 11 and betas[0] == 0.0 and betas[-1] == 1.0
  assert np.all(np.diff(betas) > 0)


def test_bad_schedule_is_a_clear_error():
  with pytest.raises(ValueError, match="Unknown AIS schedule 'cosine:5'"):
    ais.beta_schedule("cosine:5")


# (visible, hidden, seed): log Z enumerated over the hidden side, over the visible
# side (H > 20), and a wider model; weights ~ N(0, 1), so the target is far from the base.
TINY_RBMS = [(12, 8, 0), (10, 24, 1), (30, 10, 2)]


@pytest.mark.parametrize("num_visible,num_hidden,seed", TINY_RBMS)
def test_ais_with_the_default_schedule_is_within_a_tenth_of_a_nat(num_visible, num_hidden, seed):
  params = _random_rbm(seed, num_visible, num_hidden)
  exact = float(rbm.exact_log_partition(params))
  base = jnp.zeros((num_visible,))
  result = jax.jit(lambda p, b, k: rbm.ais_log_partition(p, b, k, 100, "classic"))(
      params, base, jax.random.PRNGKey(seed + 10))
  error = float(result.log_z) - exact
  assert abs(error) < 0.1, (exact, float(result.log_z))
  # The reported spread covers the error: inside the ±3σ bracket.
  assert float(result.log_z_low) <= exact <= float(result.log_z_high), (
      exact, float(result.log_z_low), float(result.log_z_high))
  assert abs(error) <= 3 * float(result.stderr) + 1e-3
  assert 1.0 <= float(result.effective_sample_size) <= 100.0


def test_ais_on_a_gaussian_rbm_matches_exact_log_z():
  params = _random_rbm(3, 6, 8, scale=0.5, gaussian=True)
  exact = float(rbm.exact_log_partition(params))
  result = jax.jit(lambda p, k: rbm.ais_log_partition(p, jnp.zeros((6,)), k, 64, "linear:2000"))(
      params, jax.random.PRNGKey(0))
  assert abs(float(result.log_z) - exact) < 0.1
  assert float(result.log_z_low) <= exact <= float(result.log_z_high)


def test_a_short_schedule_has_a_larger_spread_that_still_brackets_the_truth():
  params = _random_rbm(4, 12, 8)
  exact = float(rbm.exact_log_partition(params))
  run = lambda schedule: jax.jit(
      lambda p, k: rbm.ais_log_partition(p, jnp.zeros((12,)), k, 100, schedule))(
          params, jax.random.PRNGKey(1))
  short, longer = run("linear:20"), run("linear:2000")
  assert float(short.stderr) > 3 * float(longer.stderr)
  assert float(short.log_z_low) <= exact <= float(short.log_z_high)


def test_enumeration_matches_brute_force_for_any_chunk_size():
  w = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
  log_f = lambda s: s @ w  # [N, 7] -> [N, 3]
  states = np.array(list(itertools.product([0.0, 1.0], repeat=7)), np.float32)
  expected = jax.nn.logsumexp(states @ np.asarray(w), axis=0)
  for chunk in (1, 5, 16, 1000):
    np.testing.assert_allclose(ais.log_sum_over_binary_states(log_f, 7, chunk), expected,
                               rtol=1e-5)
  with pytest.raises(ValueError, match="limit is 20"):
    ais.log_sum_over_binary_states(log_f, 21)


def test_summary_of_equal_and_huge_weights():
  equal = ais.summarize_log_weights(jnp.full((50,), 3.0))
  assert float(equal.log_z) == pytest.approx(3.0) and float(equal.stderr) == 0.0
  assert float(equal.effective_sample_size) == pytest.approx(50.0)
  huge = ais.summarize_log_weights(jnp.array([5000.0, 5000.0 + math.log(3.0)]))
  assert float(huge.log_z) == pytest.approx(5000.0 + math.log(2.0), abs=1e-3)
  assert np.isfinite(float(huge.stderr)) and float(huge.effective_sample_size) == pytest.approx(1.6, rel=1e-4)
