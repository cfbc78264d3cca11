"""The auto-encoder baseline: the β=0 VAE objective, the code mixture, its sampler."""

import jax
import jax.numpy as jnp
import numpy as np

from configs import ae as ae_config
from genlatent.core import Kind
from genlatent import estimators
from genlatent.models import build_model
from tests.models import helpers

SHAPE = (8, 8, 1)


def _batch(n=16):
  x = (jax.random.uniform(jax.random.PRNGKey(0), (n,) + SHAPE) < 0.3).astype(jnp.float32)
  return {"x": x, "index": jnp.arange(n), "label": jnp.zeros(n, jnp.int32), "mask": jnp.ones(n)}


def test_beta_zero_vae_with_a_point_posterior_is_the_autoencoder():
  config = ae_config.get_config("smoke").model
  ae = build_model(config, SHAPE)
  vae = build_model(helpers.model_config(
      "vae", latent_dim=config.latent_dim, encoder_hidden=config.encoder_hidden,
      decoder_hidden=config.decoder_hidden, activation=config.activation, beta=0.0), SHAPE)
  batch = _batch()
  params = ae.init(jax.random.PRNGKey(1), batch["x"])
  head = params["encoder"]["head"]
  d = config.latent_dim
  # The VAE's log-variance head pinned at −60: z = posterior mean = the AE's code.
  vae_params = {"encoder": dict(params["encoder"], head={
      "kernel": head["kernel"].at[:, d:].set(0.0), "bias": head["bias"].at[d:].set(-60.0)}),
      "decoder": params["decoder"], "prior": {}}
  ae_loss, _ = jax.jit(ae.loss)(params, batch, jax.random.PRNGKey(2), 0)
  vae_loss, _ = jax.jit(vae.loss)(vae_params, batch, jax.random.PRNGKey(2), 0)
  np.testing.assert_allclose(vae_loss, ae_loss, rtol=1e-5)


def test_finalize_fits_the_code_mixture_and_sampling_uses_it():
  model = build_model(ae_config.get_config("smoke").model, SHAPE)
  x = np.asarray(_batch(64)["x"])
  params = model.init(jax.random.PRNGKey(1), x)
  fitted = model.finalize(params, jax.random.PRNGKey(2), x)
  codes = np.asarray(model.encode(fitted, x))
  gmm = build_model(ae_config.get_config("smoke").model.code_density, (codes.shape[1],))
  before = gmm.densities.log_prob(params["code_density"], codes)
  after = gmm.densities.log_prob(fitted["code_density"], codes)
  assert float(after.mean()) > float(before.mean()) + 1.0
  # Decoded mixture samples are images; IS log-likelihood is labelled an estimate.
  samples = jax.jit(model.sample, static_argnums=2)(fitted, jax.random.PRNGKey(3), 8)
  assert samples.shape == (8,) + SHAPE and np.all((samples >= 0) & (samples <= 1))
  ll = estimators.log_likelihood(model, fitted, x[:8], jax.random.PRNGKey(4),
                                 estimator="importance", num_samples=50)
  assert ll.kind == Kind.ESTIMATE and ll.estimator == "importance-50"
  assert np.all(np.isfinite(ll.values))
