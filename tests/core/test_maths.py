import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from genlatent.core import maths


def test_kl_diag_gaussians_matches_monte_carlo():
  key = jax.random.PRNGKey(0)
  k1, k2, k3 = jax.random.split(key, 3)
  mean_q = jax.random.normal(k1, (3, 4))
  log_var_q = 0.5 * jax.random.normal(k2, (3, 4))
  mean_p, log_var_p = 0.3 * jnp.ones((3, 4)), -0.2 * jnp.ones((3, 4))
  closed = maths.kl_diag_gaussians(mean_q, log_var_q, mean_p, log_var_p)
  n = 200_000
  z = mean_q + jnp.exp(0.5 * log_var_q) * jax.random.normal(k3, (n, 3, 4))
  terms = (maths.diag_gaussian_log_prob(z, mean_q, log_var_q)
           - maths.diag_gaussian_log_prob(z, mean_p, log_var_p))
  mc, stderr = terms.mean(0), terms.std(0) / math.sqrt(n)
  assert np.all(np.abs(np.asarray(mc - closed)) < 3 * np.asarray(stderr))


def test_standard_normal_kl_is_zero_at_prior():
  zeros = jnp.zeros((2, 5))
  np.testing.assert_allclose(maths.kl_diag_gaussians(zeros, zeros, zeros, zeros), 0.0, atol=1e-7)


def test_log_probs_match_scipy():
  rng = np.random.default_rng(0)
  z, mean, log_var = rng.normal(size=(3, 6, 4))
  expected = scipy.stats.multivariate_normal(mean[0], np.diag(np.exp(log_var[0]))).logpdf(z[0])
  np.testing.assert_allclose(maths.diag_gaussian_log_prob(z[0], mean[0], log_var[0]), expected,
                             rtol=1e-5)
  np.testing.assert_allclose(maths.standard_normal_log_prob(z),
                             scipy.stats.norm.logpdf(z).sum(-1), rtol=1e-5)


@pytest.mark.parametrize("logit", [-200.0, -30.0, 0.0, 30.0, 200.0])
def test_bernoulli_log_prob_is_exact_for_large_logits(logit):
  logits = jnp.full((1, 2), logit)
  x = jnp.array([[0.0, 1.0]])
  got = maths.bernoulli_log_prob(x, logits, 1)
  # log(1 - σ(l)) + log σ(l) = -softplus(l) - softplus(-l), computed in float64.
  expected = -np.logaddexp(0, logit) - np.logaddexp(0, -logit)
  assert np.isfinite(got).all()
  np.testing.assert_allclose(got, [expected], rtol=1e-6)


def test_log_mean_exp_does_not_overflow():
  log_w = jnp.array([1000.0, 1000.0, -1000.0, 990.0])
  expected = 1000.0 + np.log((2 + np.exp(-10.0)) / 4)
  np.testing.assert_allclose(maths.log_mean_exp(log_w), expected, rtol=1e-6)


def test_paired_difference_is_tighter_than_the_two_error_bars_and_exact_in_the_mean():
  from genlatent.core import paired_difference, summarize
  rs = np.random.RandomState(0)
  hardness = rs.randn(2000) * 10.0          # shared across the two models
  a = hardness + rs.randn(2000) * 0.5
  b = hardness - 0.3 + rs.randn(2000) * 0.5
  delta, stderr = paired_difference(a, b)
  np.testing.assert_allclose(delta, a.mean() - b.mean(), rtol=1e-12)
  np.testing.assert_allclose(stderr, np.std(a - b, ddof=1) / np.sqrt(2000), rtol=1e-12)
  unpaired = np.hypot(summarize(a, "x", "estimate").stderr, summarize(b, "x", "estimate").stderr)
  assert stderr < unpaired / 10
  assert abs(delta - 0.3) < 3 * stderr        # the true difference, within 3σ
  # A shared term (AIS log Z) adds in quadrature; different examples are refused.
  np.testing.assert_allclose(paired_difference(a, b, 0.3, 0.4)[1], np.hypot(stderr, 0.5))
  with pytest.raises(ValueError, match="same examples"):
    paired_difference(a, b[:-1])
