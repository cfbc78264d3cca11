"""The mixture-of-Gaussians prior: scipy densities, closed-form moments, one shared density."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.stats
from scipy.special import logsumexp

from genlatent.core import PRIORS, mixture
from genlatent.priors import build_prior
from genlatent.priors import mog


def scipy_log_prob(params, z):
  w = np.asarray(jax.nn.log_softmax(params["logits"]), np.float64)
  scale = np.exp(np.asarray(params["log_scale"], np.float64))
  means = np.asarray(params["means"], np.float64)
  if scale.ndim == 1:
    scale = np.repeat(scale[:, None], means.shape[1], axis=1)
  per_k = [w[k] + scipy.stats.norm(means[k], scale[k]).logpdf(z).sum(-1) for k in range(len(w))]
  return logsumexp(np.stack(per_k, -1), axis=-1)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_log_prob_matches_scipy_for_any_leading_shape(covariance_type):
  config = ml_collections.ConfigDict(dict(num_components=4, covariance_type=covariance_type))
  prior = build_prior("mog", 3, config)
  params = prior.init(jax.random.PRNGKey(0))
  rs = np.random.RandomState(0)
  params = dict(params, logits=jnp.asarray(rs.randn(4), jnp.float32),
                log_scale=params["log_scale"] + jnp.asarray(0.3 * rs.randn(*params["log_scale"].shape),
                                                             jnp.float32))
  z = rs.randn(2, 5, 3).astype(np.float32)  # [samples, batch, latent], as the VAE asks
  out = prior.log_prob(params, z)
  assert out.shape == (2, 5)
  np.testing.assert_allclose(out, scipy_log_prob(params, z), rtol=1e-5)
  # The prior is the shared density, not a copy of it.
  density = mixture.MixtureOfGaussians(params["logits"], params["means"],
                                       jnp.exp(-params["log_scale"]), covariance_type)
  np.testing.assert_array_equal(out, mixture.log_prob(density, z))


def test_circle_layout_samples_and_moments():
  config = ml_collections.ConfigDict(dict(num_components=8, layout="circle", radius=3.0,
                                          scale=0.2, learnable=False))
  prior = build_prior("mog", 2, config)
  assert prior.init(jax.random.PRNGKey(0)) == {}
  assert prior.kl_from_diag_gaussian is None  # Monte-Carlo KL in the VAE
  means = np.asarray(mog.circle_means(8, 2, 3.0))
  np.testing.assert_allclose(np.linalg.norm(means, axis=1), 3.0, rtol=1e-6)
  z = np.asarray(prior.sample({}, jax.random.PRNGKey(0), 200_000), np.float64)
  # Mean 0; covariance (r²/2 + σ²) I for points evenly on a circle.
  np.testing.assert_allclose(z.mean(0), 0.0, atol=0.03)
  np.testing.assert_allclose(np.cov(z.T), (9.0 / 2 + 0.04) * np.eye(2), atol=0.05)
  # Every sample lies near the ring.
  assert np.abs(np.linalg.norm(z, axis=1) - 3.0).max() < 6 * 0.2 * 2


def test_learnable_prior_has_finite_gradients():
  prior = build_prior("mog", 4)
  params = prior.init(jax.random.PRNGKey(1))
  assert set(params) == {"logits", "means", "log_scale"}
  z = jax.random.normal(jax.random.PRNGKey(2), (64, 4)) * 5.0
  grads = jax.jit(jax.grad(lambda p: prior.log_prob(p, z).mean()))(params)
  assert all(np.all(np.isfinite(g)) and np.any(g != 0) for g in jax.tree.leaves(grads))


def test_registered_and_bad_options_are_clear():
  assert "mog" in PRIORS.names()
  with pytest.raises(ValueError, match="Known: random, circle"):
    build_prior("mog", 2, ml_collections.ConfigDict(dict(layout="grid")))
  with pytest.raises(ValueError, match="'diag' or 'spherical'"):
    build_prior("mog", 2, ml_collections.ConfigDict(dict(covariance_type="full")))
