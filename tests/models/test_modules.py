"""Each family's Linen module used alone (plain `init`/`apply`, no trainer): the same
numbers as the family's `Model`, and each against an independent reference."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SklearnMixture

from genlatent import boltzmann, estimators, nets
from genlatent.models import (DBM, DBN, RBM, VAE, BernoulliMixture, GaussianMixture,
                              build_model)
from genlatent.nets.likelihoods import build_likelihood
from genlatent.priors import build_prior
from tests.models import helpers

KEY = jax.random.PRNGKey(0)


def blobs(n=300, d=3, seed=0):
  rs = np.random.RandomState(seed)
  centers = 5.0 * rs.randn(3, d)
  return (centers[rs.randint(3, size=n)] + rs.randn(n, d)).astype(np.float32)


def binary(n, d, seed=0):
  return (np.random.RandomState(seed).rand(n, d) < 0.4).astype(np.float32)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gaussian_mixture_is_sklearns_density(covariance_type):
  x = blobs()
  fitted = SklearnMixture(3, covariance_type=covariance_type, random_state=0).fit(x)
  module = GaussianMixture(3, covariance_type)
  params = module.init(KEY, x)["params"]
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, {
      "logits": np.zeros(3), "means": np.zeros((3, 3)),
      "precision_cholesky": fitted.precisions_cholesky_})
  params = {"logits": jnp.log(jnp.asarray(fitted.weights_, jnp.float32)),
            "means": jnp.asarray(fitted.means_, jnp.float32),
            "precision_cholesky": jnp.asarray(fitted.precisions_cholesky_, jnp.float32)}
  log_prob = module.apply({"params": params}, x, method="log_prob")
  np.testing.assert_allclose(log_prob, fitted.score_samples(x), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(module.apply({"params": params}, x, method="responsibilities"),
                             fitted.predict_proba(x), atol=1e-4)
  # The family evaluates through the same module: the same bits.
  model = build_model(helpers.model_config("gmm", num_components=3,
                                           covariance_type=covariance_type), (3,))
  assert np.array_equal(model.densities.log_prob(params, x), log_prob)
  samples = module.apply({"params": params}, KEY, 5000, method="sample")
  np.testing.assert_allclose(samples.mean(0), fitted.means_.T @ fitted.weights_, atol=0.2)


def test_gaussian_mixture_unconstrained_is_the_gradient_family():
  x = blobs()
  module = GaussianMixture(3, "full", reg_covar=1e-3, unconstrained=True)
  params = module.init(KEY, x)["params"]
  assert set(params) == {"logits", "means", "unconstrained_precision_cholesky"}
  model = build_model(helpers.model_config("gmm", num_components=3, reg_covar=1e-3,
                                           training="gradient"), (3,))
  state = model.init_state(KEY, model.init(KEY, x), x)
  np.testing.assert_array_equal(
      module.apply({"params": state.params}, x), model.densities.log_prob(state.params, x))
  grads = jax.grad(lambda p: module.apply({"params": p}, x).mean())(params)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_bernoulli_mixture_sums_to_one_and_is_the_family():
  d = 5
  x = np.array(list(itertools.product([0.0, 1.0], repeat=d)), np.float32)
  module = BernoulliMixture(4)
  params = module.init(KEY, x)["params"]
  params = dict(params, pixel_logits=3.0 * jax.random.normal(KEY, (4, d)))
  log_prob = module.apply({"params": params}, x, method="log_prob")
  assert float(jax.nn.logsumexp(log_prob)) == pytest.approx(0.0, abs=1e-5)
  mu = jax.nn.sigmoid(params["pixel_logits"])  # products of probabilities, by brute force
  per_k = jnp.prod(jnp.where(x[:, None, :] > 0.5, mu, 1.0 - mu), axis=-1)
  np.testing.assert_allclose(log_prob, jnp.log(per_k.mean(axis=1)), rtol=1e-5)
  model = build_model(helpers.model_config("bernoulli_mixture", num_components=4), (d,))
  assert np.array_equal(model.densities.log_prob(params, x), log_prob)
  np.testing.assert_allclose(module.apply({"params": params}, x, method="elbo"), log_prob,
                             atol=1e-5)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_rbm_free_energy_is_the_sum_over_hidden_states(visible):
  v_size, h_size = 4, 3
  rbm = RBM(h_size, visible, init_scale=1.0)
  v = binary(6, v_size) if visible == "bernoulli" else np.random.RandomState(1).randn(6, 4)
  v = jnp.asarray(v, jnp.float32)
  params = rbm.init(KEY, v)["params"]
  params = dict(params, visible_bias=jnp.linspace(-1.0, 1.0, v_size),
                hidden_bias=jnp.array([0.5, -0.3, 0.1]))
  if visible == "gaussian":
    params["log_sigma"] = jnp.log(jnp.array([0.5, 1.0, 0.8, 1.2]))
  hs = jnp.array(list(itertools.product([0.0, 1.0], repeat=h_size)))  # all 8 hidden states
  energies = jax.vmap(lambda h: rbm.apply({"params": params}, v, jnp.broadcast_to(h, (6, 3)),
                                          method="energy"))(hs)  # [8, B]
  free_energy = rbm.apply({"params": params}, v, method="free_energy")
  np.testing.assert_allclose(free_energy, -jax.nn.logsumexp(-energies, axis=0), rtol=1e-5)
  # The energy itself, written out for Bernoulli units.
  if visible == "bernoulli":
    w, b, c = params["weights"], params["visible_bias"], params["hidden_bias"]
    h = hs[3] * jnp.ones((6, 1))
    np.testing.assert_allclose(energies[3], -(v @ b + h @ c + jnp.sum((v @ w) * h, axis=1)),
                               rtol=1e-5)
  # The family scores through the same module (log p*(x) = −F for Bernoulli units).
  model = build_model(helpers.model_config("rbm", num_hidden=h_size, visible=visible),
                      (v_size,))
  family_params = model.init(KEY, v)
  family_params.update(params)
  exact = model.densities.boltzmann.exact_log_unnormalised(family_params, v)
  if visible == "bernoulli":
    assert np.array_equal(exact, -free_energy)
  # Gibbs: the module's sweep is the machinery's, bit for bit.
  step = rbm.apply({"params": params}, v, KEY, method="gibbs_step")
  for a, b in zip(step, boltzmann.gibbs_step(params, v, KEY)):
    assert np.array_equal(a, b)
  log_z = rbm.apply({"params": params}, method="exact_log_partition")
  assert np.isfinite(float(log_z))


def test_rbm_normalises_over_every_visible_state():
  rbm = RBM(3)
  v = jnp.asarray(list(itertools.product([0.0, 1.0], repeat=4)), jnp.float32)
  params = rbm.init(jax.random.PRNGKey(3), v)["params"]
  params = dict(params, weights=10.0 * params["weights"] + 0.5)
  variables = {"params": params}
  log_p = -rbm.apply(variables, v) - rbm.apply(variables, method="exact_log_partition")
  assert float(jax.nn.logsumexp(log_p)) == pytest.approx(0.0, abs=1e-5)


def test_dbn_module_bounds_and_is_the_family():
  v = jnp.asarray(binary(8, 6))
  dbn = DBN(hidden=(5, 4), init_scale=0.5)
  params = dbn.init(KEY, v)["params"]
  assert [jax.tree.map(jnp.shape, layer) for layer in params["layers"]] == [
      {"weights": (6, 5), "visible_bias": (6,), "hidden_bias": (5,)},
      {"weights": (5, 4), "visible_bias": (5,), "hidden_bias": (4,)}]
  exact = dbn.apply({"params": params}, v, method="exact_log_unnormalised")
  bound = dbn.apply({"params": params}, v, KEY, 200, method="bound_log_unnormalised")
  assert np.all(np.asarray(bound) <= np.asarray(exact) + 1e-4)
  model = build_model(helpers.model_config("dbn", hidden=(5, 4)), (6,))
  family_params = dict(model.init(KEY, v), layers=params["layers"])
  density = model.densities.boltzmann
  assert np.array_equal(density.exact_log_unnormalised(family_params, v), exact)
  assert np.array_equal(density.bound_log_unnormalised(family_params, v, KEY, 200), bound)
  assert dbn.apply({"params": params}, v).shape == v.shape  # reconstruction


def test_dbm_module_bounds_and_is_the_family():
  v = jnp.asarray(binary(8, 6))
  dbm = DBM(hidden=(5, 4), mean_field_steps=10, init_scale=0.5)
  params = dbm.init(KEY, v)["params"]
  exact = dbm.apply({"params": params}, v, method="exact_log_unnormalised")
  bound = dbm.apply({"params": params}, v, method="mean_field_bound")
  assert np.all(np.asarray(bound) <= np.asarray(exact) + 1e-4)
  # log p*(v) = log Σ_{h1} p*(v, h1), h2 summed out analytically.
  h1 = jnp.asarray(list(itertools.product([0.0, 1.0], repeat=5)))[:, None, :] * jnp.ones((1, 8, 1))
  joint = dbm.apply({"params": params}, v, h1, method="log_joint_h1")
  np.testing.assert_allclose(jax.nn.logsumexp(joint, axis=0), exact, rtol=1e-5)
  model = build_model(helpers.model_config("dbm", hidden=(5, 4), mean_field_steps=10), (6,))
  family_params = dict(model.init(KEY, v), **params)
  density = model.densities.boltzmann
  assert np.array_equal(density.exact_log_unnormalised(family_params, v), exact)
  assert np.array_equal(density.bound_log_unnormalised(family_params, v, KEY, 1), bound)


@pytest.mark.parametrize("layers", [1, 2])
def test_vae_module_is_the_family_and_its_elbo_bounds_log_px(layers):
  shape = (8, 8, 1)
  config = helpers.model_config("vae", latent_dim=2, stochastic_layers=layers, latent_dim_1=3,
                                hidden_2=(8,))
  model = build_model(config, shape)
  x = jnp.asarray(binary(6, 64).reshape((6,) + shape))
  bottom = 3 if layers == 2 else 2
  vae = VAE(nets.GaussianMLPEncoder((16,), bottom), nets.MLPDecoder((16,), shape),
            build_likelihood("bernoulli", 3), build_prior("standard_normal", 2),
            nets.GaussianMLP((8,), 2) if layers == 2 else None,
            nets.GaussianMLP((8,), 3) if layers == 2 else None, latent_dim_1=bottom)
  params = vae.init(KEY, x)["params"]
  # The module's params are the family's: the same tree, so either reads the other's.
  family_params = model.init(KEY, x)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, family_params)
  elbo = vae.apply({"params": params}, x, KEY, 16, method="elbo")
  assert np.array_equal(model.densities.elbo(params, x, KEY, 16), elbo)
  iwae = estimators.log_likelihood(model, params, x, KEY, estimator="importance",
                                   num_samples=256)
  assert np.all(np.asarray(elbo) < np.asarray(iwae.values) + 0.5)
  codes = vae.apply({"params": params}, x, method="posterior_mean")
  assert np.array_equal(model.encode(params, x), codes)
  images = vae.apply({"params": params}, KEY, 4, method="sample")
  assert images.shape == (4,) + shape and np.all((images >= 0) & (images <= 1))
