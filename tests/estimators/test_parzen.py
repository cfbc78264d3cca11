"""The Parzen-window estimator: exact kernel sums, convergence on Gaussian data, bandwidth choice."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

from genlatent.core import Kind
from genlatent.estimators import parzen


def test_kernel_density_equals_the_direct_sum_for_any_chunking():
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(7, 5)).astype(np.float32)
  centres = rng.uniform(size=(23, 5)).astype(np.float32)
  sigmas = np.array([0.05, 0.3, 2.0], np.float32)
  # Reference: log (1/N) Σ_i N(x; c_i, σ²I) through scipy, in float64.
  ref = np.stack([
      scipy.special.logsumexp(np.stack([scipy.stats.multivariate_normal(c, s ** 2).logpdf(x)
                                        for c in centres.astype(np.float64)]), axis=0)
      - np.log(len(centres)) for s in sigmas])
  for chunk in (4, 23, 100):  # N = 23 is not a multiple of 4
    got = jax.jit(parzen.log_kernel_density, static_argnums=3)(x, centres, sigmas, chunk)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-4)


def test_converges_to_the_true_log_density_on_gaussian_data():
  rng = np.random.default_rng(0)
  d = 2
  x_val = rng.normal(size=(500, d)).astype(np.float32)
  x_test = rng.normal(size=(1000, d)).astype(np.float32)
  true = scipy.stats.multivariate_normal(np.zeros(d)).logpdf(x_test)
  mean_errors, abs_errors = [], []
  for n in (100, 1000, 10_000):
    centres = rng.normal(size=(n, d)).astype(np.float32)
    sigma, report = parzen.select_bandwidth(centres, x_val)
    assert not report["bandwidth_at_grid_edge"]
    window = parzen.ParzenWindow(jnp.asarray(centres), jnp.asarray(sigma, jnp.float32))
    values = np.asarray(jax.jit(parzen.parzen_log_likelihood)(window, x_test))
    mean_errors.append(abs(values.mean() - true.mean()))
    abs_errors.append(np.abs(values - true).mean())
  # Measured: mean errors 0.052, 0.022, 0.007 nats for N = 1e2, 1e3, 1e4; per-example
  # absolute errors shrink likewise, to 0.055 nats.
  assert mean_errors[0] > mean_errors[1] > mean_errors[2]
  assert abs_errors[0] > abs_errors[1] > abs_errors[2]
  assert mean_errors[2] < 0.015 and abs_errors[2] < 0.08


def test_bandwidth_search_picks_near_the_test_optimum():
  rng = np.random.default_rng(1)
  d = 5
  centres = rng.normal(size=(2000, d)).astype(np.float32)
  x_val = rng.normal(size=(2000, d)).astype(np.float32)
  x_test = rng.normal(size=(5000, d)).astype(np.float32)
  sigma, report = parzen.select_bandwidth(centres, x_val)
  grid = np.geomspace(0.2, 1.2, 25)
  test_ll = parzen.mean_log_density(centres, x_test, grid)
  best = grid[np.argmax(test_ll)]
  assert abs(np.log(sigma / best)) < 0.2, (sigma, best)
  # And the test log-likelihood lost by using the validation choice is tiny.
  at_choice = parzen.mean_log_density(centres, x_test, [sigma])[0]
  assert test_ll.max() - at_choice < 0.02
  assert report["bandwidth"] == sigma and len(report["bandwidth_grid"]) > 13


def test_samples_are_drawn_in_batches_from_folded_keys():
  sample_fn = lambda key, n: jax.random.normal(key, (n, 2, 2, 1))
  key = jax.random.PRNGKey(3)
  samples = parzen.draw_samples(sample_fn, key, 2500, batch_size=1000)
  assert samples.shape == (2500, 4)
  np.testing.assert_array_equal(samples[1000:2000],
                                np.asarray(sample_fn(jax.random.fold_in(key, 1), 1000)).reshape(-1, 4))


def test_summary_is_labelled_as_a_parzen_estimate():
  rng = np.random.default_rng(2)
  sample_fn = lambda key, n: jax.random.normal(key, (n, 3))
  summary = parzen.parzen_summary(sample_fn, jax.random.PRNGKey(0),
                                  rng.normal(size=(300, 3)), rng.normal(size=(401, 3)),
                                  num_samples=1000, batch_size=200)
  assert summary.kind is Kind.PARZEN and summary.estimator == "parzen-1000"
  assert summary.count == 401 and summary.stderr > 0
  assert "parzen estimate" in str(summary) and summary.details["num_samples"] == 1000
  # Near the true mean log density of N(0, I₃), −(3/2)(1 + log 2π) = −4.26 nats.
  assert abs(summary.mean + 1.5 * (1 + np.log(2 * np.pi))) < 0.15
  assert Kind.PARZEN not in (Kind.EXACT, Kind.LOWER_BOUND, Kind.ESTIMATE)


def test_bad_inputs_fail_clearly():
  with pytest.raises(ValueError, match="positive"):
    parzen.select_bandwidth(np.zeros((3, 2)), np.zeros((3, 2)), sigmas=[0.0, 1.0])
  with pytest.raises(ValueError, match="num_samples"):
    parzen.draw_samples(lambda k, n: jnp.zeros((n, 2)), jax.random.PRNGKey(0), 0)
