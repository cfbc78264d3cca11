"""BDMC brackets exact log p(x) on pPCA and exact log Z on tiny RBMs; exact sampling."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlatent.estimators import bdmc
from genlatent import boltzmann
from tests.estimators.test_hmc_ais import PPCA
from tests.train.helpers import random_rbm


def _decoder_bdmc(model, schedule):
  run = jax.jit(lambda key: bdmc.decoder_bdmc(
      model.log_prior, model.log_likelihood, model.sample_prior, model.sample_joint, key, 16,
      num_chains=8, schedule=schedule, num_leapfrog_steps=5))
  return run(jax.random.PRNGKey(0))


def test_decoder_bdmc_brackets_exact_ppca_likelihood_and_its_gap_shrinks():
  model = PPCA(seed=1)
  short, long = _decoder_bdmc(model, "sigmoid:20"), _decoder_bdmc(model, "sigmoid:500")
  for result in (short, long):
    exact = np.asarray(model.exact(result.x))
    # Each bound holds in expectation; on the mean over 16 examples, within 3 stderrs.
    for bound, sign in ((result.lower, 1.0), (result.upper, -1.0)):
      error = sign * (np.asarray(bound) - exact)
      assert error.mean() <= 3 * error.std(ddof=1) / np.sqrt(error.size), error
  np.testing.assert_array_equal(short.x, long.x)  # the same simulated data
  short_gap = bdmc.bdmc_report(short)["gap"]
  long_report = bdmc.bdmc_report(long)
  assert short_gap > 0.5 and long_report["gap"] < short_gap / 5, (short_gap, long_report)
  assert long_report["num_examples"] == 16 and long_report["gap_stderr"] > 0
  assert long_report["lower"] == pytest.approx(float(np.mean(long.lower)), abs=1e-5)
  assert long.reverse.acceptance_rate.shape == (500,)


def _exact_rbm_samples(params, key, n):
  num_hidden = params["weights"].shape[1]
  return bdmc.sample_by_enumeration(lambda h: -boltzmann.hidden_free_energy(params, h),
                                    lambda h, k: boltzmann.sample_visible(params, h, k)[0],
                                    num_hidden, key, n)


def test_boltzmann_bdmc_brackets_exact_log_z_and_its_gap_shrinks():
  # Strong weights: a 5-step schedule visibly fails, a 1000-step one does not.
  params = random_rbm(0, 16, 8, scale=4.0)
  path = boltzmann.annealing_path(params, jnp.zeros((16,)))
  log_z = float(boltzmann.exact_log_partition(params))
  repeats, chains = 4, 32

  def one(key, schedule):
    simulated = _exact_rbm_samples(params, jax.random.fold_in(key, 0), chains)
    result = bdmc.boltzmann_bdmc(path, simulated, jax.random.fold_in(key, 1),
                                 num_chains=chains, schedule=schedule)
    return (result.forward.log_z, result.forward.stderr, path.log_z_base - result.reverse.log_z,
            result.reverse.stderr, result.upper - result.lower)

  keys = jax.random.split(jax.random.PRNGKey(0), repeats)
  mean_gaps = []
  for schedule in ("sigmoid:5", "sigmoid:1000"):
    low, low_err, high, high_err, gaps = (np.asarray(a) for a in jax.jit(
        jax.vmap(lambda k: one(k, schedule)))(keys))
    # Each bound holds in expectation: here, within 3 of its own stderrs every time.
    assert np.all(low <= log_z + 3 * low_err), (low - log_z, low_err)
    assert np.all(high >= log_z - 3 * high_err), (high - log_z, high_err)
    np.testing.assert_allclose(gaps, (high - low)[:, None] * np.ones_like(gaps), atol=1e-4)
    mean_gaps.append(float(np.mean(high - low)))
  assert mean_gaps[0] > 1.5 and abs(mean_gaps[1]) < 0.1, mean_gaps


def test_boltzmann_bdmc_report():
  params = random_rbm(1, 6, 5)
  path = boltzmann.annealing_path(params, jnp.zeros((6,)))
  result = jax.jit(lambda key: bdmc.boltzmann_bdmc(
      path, _exact_rbm_samples(params, jax.random.fold_in(key, 0), 32),
      jax.random.fold_in(key, 1), num_chains=16, schedule="linear:50"))(jax.random.PRNGKey(0))
  report = bdmc.bdmc_report(result)
  exact = -boltzmann.free_energy(params, result.x)
  assert report["num_examples"] == 32
  assert report["gap_stderr"] == pytest.approx(np.hypot(report["log_z_lower_stderr"],
                                                        report["log_z_upper_stderr"]))
  assert report["upper"] == pytest.approx(float(np.mean(exact)) - report["log_z_lower"], abs=1e-4)
  assert report["lower"] == pytest.approx(float(np.mean(exact)) - report["log_z_upper"], abs=1e-4)
  assert report["gap"] == pytest.approx(report["log_z_upper"] - report["log_z_lower"], abs=1e-4)


def test_sampling_by_enumeration_is_exact():
  params = random_rbm(0, 3, 2, scale=1.5)
  samples = np.asarray(_exact_rbm_samples(params, jax.random.PRNGKey(0), 40000))
  states = np.array(list(itertools.product([0.0, 1.0], repeat=3)), np.float32)
  probs = np.exp(np.asarray(-boltzmann.free_energy(params, states) - boltzmann.exact_log_partition(params)))
  counts = (samples[:, None, :] == states[None]).all(axis=2).mean(axis=0)
  assert np.all(np.abs(counts - probs) <= 4 * np.sqrt(probs * (1 - probs) / 40000)), (counts,
                                                                                      probs)
  with pytest.raises(ValueError, match="limit is 20"):
    bdmc.sample_by_enumeration(lambda s: s[:, 0], lambda s, k: s, 21, jax.random.PRNGKey(0), 1)
