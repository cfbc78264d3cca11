"""Importance sampling against the exact marginal likelihood of probabilistic PCA."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from genlatent.core import maths
from genlatent.estimators import importance_sampled_log_likelihood

D, K, SIGMA2 = 5, 2, 0.5


def _ppca():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(D, K)).astype(np.float32)
  b = rng.normal(size=D).astype(np.float32)
  x = rng.multivariate_normal(b, w @ w.T + SIGMA2 * np.eye(D), size=6).astype(np.float32)
  exact = scipy.stats.multivariate_normal(b, w @ w.T + SIGMA2 * np.eye(D)).logpdf(x)
  # A deliberately imperfect proposal: the exact posterior mean, inflated variance.
  m_inv = np.linalg.inv(w.T @ w + SIGMA2 * np.eye(K))
  post_mean = (x - b) @ w @ m_inv.T
  post_log_var = np.log(np.diag(SIGMA2 * m_inv) * 1.5) * np.ones_like(post_mean)
  return w, b, x, exact, post_mean.astype(np.float32), post_log_var.astype(np.float32)


def _log_weights(w, b, x, mean, log_var):
  def fn(key, n):
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, (n,) + mean.shape)
    log_joint = (maths.diag_gaussian_log_prob(x, z @ w.T + b, jnp.log(SIGMA2) * jnp.ones(D))
                 + maths.standard_normal_log_prob(z))
    return log_joint - maths.diag_gaussian_log_prob(z, mean, log_var)
  return fn


def test_importance_sampling_converges_to_exact_ppca_likelihood():
  w, b, x, exact, mean, log_var = _ppca()
  fn = _log_weights(w, b, x, mean, log_var)
  key = jax.random.PRNGKey(0)
  estimate = importance_sampled_log_likelihood(fn, key, 5000, chunk_size=512)
  elbo = fn(jax.random.PRNGKey(1), 20000).mean(0)
  np.testing.assert_allclose(estimate, exact, atol=0.05)
  assert np.all(np.asarray(estimate) >= np.asarray(elbo))
  assert np.all(exact - np.asarray(elbo) > 0.05)  # the bound is visibly loose


def test_chunking_equals_one_big_chunk():
  w, b, x, _, mean, log_var = _ppca()
  fn = _log_weights(w, b, x, mean, log_var)
  key = jax.random.PRNGKey(3)
  chunked = importance_sampled_log_likelihood(fn, key, 250, chunk_size=100)
  # The same draws by hand: chunks of 100 from fold_in(key, c), the last 50 of chunk 2 unused.
  log_w = jnp.concatenate([fn(jax.random.fold_in(key, c), 100) for c in range(3)])[:250]
  np.testing.assert_allclose(chunked, maths.log_mean_exp(log_w), rtol=1e-6)


def test_huge_log_weights_stay_finite():
  fn = lambda key, n: 5000.0 + jax.random.normal(key, (n, 3))
  got = importance_sampled_log_likelihood(fn, jax.random.PRNGKey(0), 1000, chunk_size=64)
  assert np.all(np.isfinite(got)) and np.all(np.asarray(got) > 5000.0)
