"""Each prior's log_prob against scipy, sample moments against closed forms, finite gradients."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.stats

from genlatent.core import PRIORS, maths
from genlatent.priors import PriorContext, build_prior

D = 3
N = 200_000


def _check_moments(samples, mean, var):
  samples = np.asarray(samples, np.float64)
  se_mean = np.sqrt(var / len(samples))
  assert np.all(np.abs(samples.mean(0) - mean) < 4 * se_mean + 1e-6)
  np.testing.assert_allclose(samples.var(0), var, rtol=0.03)


def test_standard_normal():
  prior = build_prior("standard_normal", D)
  z = np.random.default_rng(0).normal(size=(5, D))
  np.testing.assert_allclose(prior.log_prob({}, z),
                             scipy.stats.multivariate_normal(np.zeros(D)).logpdf(z), rtol=1e-5)
  _check_moments(prior.sample({}, jax.random.PRNGKey(0), N), np.zeros(D), np.ones(D))


def test_diagonal_gaussian_and_its_analytic_kl():
  prior = build_prior("diagonal_gaussian", D)
  params = {"mean": jnp.array([0.5, -1.0, 2.0]), "log_var": jnp.array([0.2, -0.5, 1.0])}
  z = np.random.default_rng(0).normal(size=(5, D))
  ref = scipy.stats.multivariate_normal(params["mean"], np.diag(np.exp(params["log_var"])))
  np.testing.assert_allclose(prior.log_prob(params, z), ref.logpdf(z), rtol=1e-5)
  _check_moments(prior.sample(params, jax.random.PRNGKey(0), N), params["mean"],
                 np.exp(params["log_var"]))
  # Analytic KL equals the Monte-Carlo one.
  mean_q, log_var_q = jnp.array([[0.1, 0.2, 0.3]]), jnp.array([[-1.0, 0.0, 0.5]])
  zq = mean_q + jnp.exp(0.5 * log_var_q) * jax.random.normal(jax.random.PRNGKey(1), (N, 1, D))
  mc = maths.diag_gaussian_log_prob(zq, mean_q, log_var_q) - prior.log_prob(params, zq)
  closed = prior.kl_from_diag_gaussian(params, mean_q, log_var_q)
  assert abs(float(mc.mean() - closed[0])) < 3 * float(mc.std()) / np.sqrt(N)


def test_laplace():
  prior = build_prior("laplace", D, ml_collections.ConfigDict(dict(scale=0.7)))
  z = np.random.default_rng(0).normal(size=(5, D))
  np.testing.assert_allclose(prior.log_prob({}, z),
                             scipy.stats.laplace(scale=0.7).logpdf(z).sum(-1), rtol=1e-5)
  _check_moments(prior.sample({}, jax.random.PRNGKey(0), N), np.zeros(D),
                 2 * 0.7 ** 2 * np.ones(D))
  assert prior.kl_from_diag_gaussian is None  # VAEs fall back to the Monte-Carlo KL


def _vamp():
  # A linear "encoder": mean = u·A, log_var = u·B, on 4-pixel pseudo-inputs.
  a = jnp.asarray(np.random.default_rng(1).normal(size=(4, D)), jnp.float32)
  b = jnp.asarray(0.3 * np.random.default_rng(2).normal(size=(4, D)), jnp.float32)
  encode = lambda enc, x: (x.reshape(len(x), -1) @ enc["a"], x.reshape(len(x), -1) @ enc["b"])
  prior = build_prior("vamp", D, ml_collections.ConfigDict(dict(num_pseudo_inputs=3,
                                                                pseudo_init_scale=1.0)),
                      PriorContext((2, 2, 1), encode))
  params = dict(prior.init(jax.random.PRNGKey(0)), encoder={"a": a, "b": b})
  means, log_vars = encode(params["encoder"], params["pseudo_inputs"])
  return prior, params, np.asarray(means, np.float64), np.asarray(log_vars, np.float64)


def test_vamp_prior_is_the_mixture_of_encoded_pseudo_inputs():
  prior, params, means, log_vars = _vamp()
  z = np.random.default_rng(0).normal(size=(6, D))
  ref = np.log(np.mean([scipy.stats.multivariate_normal(m, np.diag(np.exp(v))).pdf(z)
                        for m, v in zip(means, log_vars)], axis=0))
  np.testing.assert_allclose(prior.log_prob(params, z), ref, rtol=1e-5)
  mixture_mean = means.mean(0)
  mixture_var = (np.exp(log_vars) + means ** 2).mean(0) - mixture_mean ** 2
  _check_moments(prior.sample(params, jax.random.PRNGKey(0), N), mixture_mean, mixture_var)


@pytest.mark.parametrize("name", ["standard_normal", "diagonal_gaussian", "laplace", "vamp"])
def test_gradients_are_finite(name):
  if name == "vamp":
    prior, params, _, _ = _vamp()
  else:
    prior = build_prior(name, D)
    params = prior.init(jax.random.PRNGKey(0))
  z = jnp.asarray(np.random.default_rng(0).normal(size=(7, D)) * 30.0, jnp.float32)  # far tails
  grad_z = jax.grad(lambda z: prior.log_prob(params, z).sum())(z)
  assert np.all(np.isfinite(grad_z))
  if params:
    grads = jax.grad(lambda p: prior.log_prob(p, z).sum())(params)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_unknown_prior_lists_known_names():
  with pytest.raises(KeyError, match="Known priors: .*standard_normal"):
    build_prior("gaussian", D)
  assert {"standard_normal", "diagonal_gaussian", "vamp", "laplace"} <= set(PRIORS.names())


def test_a_misspelt_prior_field_is_named_with_the_known_ones():
  # A field the prior does not have used to be ignored silently (its default stood).
  with pytest.raises(ValueError, match=r"prior_config\.scle for the 'laplace' prior\. Known: scale"):
    build_prior("laplace", D, ml_collections.ConfigDict(dict(scle=0.5)))
  with pytest.raises(ValueError, match="Known: num_components, layout, radius, scale"):
    build_prior("mog", D, ml_collections.ConfigDict(dict(components=3)))
