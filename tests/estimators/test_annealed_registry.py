"""The annealed estimators through the registry, on the families that expose a path:
`ais` with HMC on a decoder model (pPCA as a linear VAE, exact log p(x) known; an AE
whose deterministic encoder makes importance sampling loose) and `raise` on an RBM
with exact log Z."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genlatent import estimators
from genlatent.models import build_model
from tests.models import helpers
from tests.models.test_vae import D, _linear_gaussian_vae, _ppca_params
from tests.train.helpers import random_rbm


def test_hmc_ais_on_a_linear_vae_matches_exact_and_is_labelled():
  model = _linear_gaussian_vae()
  latent = dataclasses.replace(model.densities.latent, ais_schedule="sigmoid:300")
  model = dataclasses.replace(model, densities=dataclasses.replace(model.densities,
                                                                   latent=latent))
  x = jnp.asarray(np.random.default_rng(1).normal(size=(8, D, 1, 1)), jnp.float32)
  params, exact_dist = _ppca_params(model, x)
  exact = exact_dist.logpdf(np.asarray(x).reshape(8, D))
  out = jax.jit(lambda p, xx, k: estimators.log_likelihood(
      model, p, xx, k, estimator="ais", num_samples=8))(params, x, jax.random.PRNGKey(0))
  assert (out.estimator, out.kind.value) == ("ais-hmc-8x300", "estimate")
  # A short schedule (K=300, 8 chains): a stochastic lower bound, close below exact
  # (hmc_ais's own tests tighten it to 0.05 nats with K=2000).
  error = np.asarray(out.values) - exact
  assert -0.25 < float(error.mean()) < 0.02, error
  assert np.all(np.abs(error) < 0.5), error


def test_hmc_ais_diagnostics_come_from_validation_examples():
  model = _linear_gaussian_vae()
  x = jnp.asarray(np.random.default_rng(2).normal(size=(4, D, 1, 1)), jnp.float32)
  params, _ = _ppca_params(model, x)
  ais = estimators.resolve("ais", model)
  state, report = ais.prepare(model, params, jax.random.PRNGKey(0), 4, np.asarray(x))
  assert state is None and report["hmc_diagnostic_examples"] == 4
  low, mean, high = report["hmc_acceptance_second_half"]
  assert 0.0 < low <= mean <= high <= 1.0
  assert 0.45 < mean < 0.85  # steered toward 0.65
  assert 1.0 <= report["ais_effective_sample_size_min"] <= 4.0


def test_raise_on_a_tiny_rbm_is_close_to_exact_and_below_it_on_average():
  config = helpers.model_config(
      "rbm", num_hidden=5, visible="bernoulli", training="cd", ais_schedule="sigmoid:1000",
      optimizer=ml_collections.ConfigDict(dict(name="sgd", learning_rate=0.1)))
  model = build_model(config, (7, 1, 1))
  params = dict(model.init(jax.random.PRNGKey(0), None), **random_rbm(2, 7, 5))
  x = (jax.random.uniform(jax.random.PRNGKey(1), (64, 7, 1, 1)) < 0.5).astype(jnp.float32)
  exact = estimators.log_likelihood(model, params, x, jax.random.PRNGKey(2), estimator="exact")
  raised = jax.jit(lambda p, xx, k: estimators.log_likelihood(
      model, p, xx, k, estimator="raise", num_samples=16))(params, x, jax.random.PRNGKey(3))
  assert (raised.estimator, raised.kind.value) == ("raise-16x1000", "estimate")
  gap = np.asarray(raised.values) - np.asarray(exact.values)
  assert abs(gap.mean()) < 0.2 and gap.mean() < 3 * gap.std() / np.sqrt(gap.size)
