"""BDMC brackets exact log p(x) on pPCA and exact log Z on tiny RBMs; exact sampling."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlatent.estimators import bdmc, raise_ais
from genlatent.models import rbm
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
    # Each bound holds in expectation; on the mean over 16 examples, within noise.
    assert np.mean(result.lower) <= np.mean(exact) + 0.02
    assert np.mean(result.upper) >= np.mean(exact) - 0.02
  np.testing.assert_array_equal(short.x, long.x)  # the same simulated data
  short_gap = bdmc.bdmc_report(short)["gap"]
  long_report = bdmc.bdmc_report(long)
  assert short_gap > 0.5 and long_report["gap"] < short_gap / 5, (short_gap, long_report)
  assert long_report["num_examples"] == 16 and long_report["gap_stderr"] > 0
  assert long_report["lower"] == pytest.approx(float(np.mean(long.lower)), abs=1e-5)
  assert long.reverse.acceptance_rate.shape == (500,)


def _hard_rbm():
  # Gaussian visible units far from the base model: short schedules visibly fail.
  return random_rbm(3, 6, 8, scale=0.5, gaussian=True)


def _exact_rbm_samples(params, key, n):
  num_hidden = params["weights"].shape[1]
  return bdmc.sample_by_enumeration(lambda h: -rbm.hidden_free_energy(params, h),
                                    lambda h, k: rbm.sample_visible(params, h, k)[0],
                                    num_hidden, key, n)


def test_boltzmann_bdmc_brackets_exact_log_z_and_its_gap_shrinks():
  params = _hard_rbm()
  path = raise_ais.rbm_annealing_path(params, jnp.zeros((6,)))
  log_z = float(rbm.exact_log_partition(params))
  simulated = _exact_rbm_samples(params, jax.random.PRNGKey(1), 64)
  gaps = []
  for schedule in ("sigmoid:30", "sigmoid:1000"):
    result = jax.jit(lambda s, k: bdmc.boltzmann_bdmc(path, s, k, num_chains=64,
                                                      schedule=schedule))(
        simulated, jax.random.PRNGKey(2))
    report = bdmc.bdmc_report(result)
    noise = 3 * max(report["log_z_lower_stderr"], report["log_z_upper_stderr"])
    assert report["log_z_lower"] <= log_z + noise and log_z - noise <= report["log_z_upper"]
    exact = -rbm.free_energy(params, simulated) - log_z
    assert np.mean(result.lower) <= np.mean(exact) + noise
    assert np.mean(result.upper) >= np.mean(exact) - noise
    assert report["gap_stderr"] == pytest.approx(0.0, abs=1e-4)  # one log Z for every x
    gaps.append(report["gap"])
  assert gaps[0] > 0.5 and abs(gaps[1]) < 0.15, gaps


def test_sampling_by_enumeration_is_exact():
  params = random_rbm(0, 3, 2, scale=1.5)
  samples = np.asarray(_exact_rbm_samples(params, jax.random.PRNGKey(0), 40000))
  states = np.array(list(itertools.product([0.0, 1.0], repeat=3)), np.float32)
  probs = np.exp(np.asarray(-rbm.free_energy(params, states) - rbm.exact_log_partition(params)))
  counts = (samples[:, None, :] == states[None]).all(axis=2).mean(axis=0)
  np.testing.assert_allclose(counts, probs, atol=4 * np.sqrt(probs * (1 - probs) / 40000))
  with pytest.raises(ValueError, match="limit is 20"):
    bdmc.sample_by_enumeration(lambda s: s[:, 0], lambda s, k: s, 21, jax.random.PRNGKey(0), 1)
