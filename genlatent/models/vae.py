"""Variational auto-encoder with a Gaussian encoder and a Bernoulli decoder.

log p(x) ≥ ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) || p(z)), all in nats per
example. Images x are [B, H, W, C] in {0, 1}; codes z are [B, latent_dim].
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from genlatent import nets
from genlatent.core import MODELS, Kind, LogLikelihood, Model
from genlatent.core import maths, rng
from genlatent.estimators import importance_sampled_log_likelihood
from genlatent.priors import build_prior

ESTIMATORS = ("importance", "elbo")


@MODELS.register("vae")
def build_vae(config, data_shape) -> Model:
  """A VAE from `config` (the `model` part of an experiment config).

  Config fields: latent_dim, encoder_hidden, decoder_hidden, activation,
  prior (a registered prior name), beta (weight of the KL term in the loss),
  chunk_size (samples per chunk in importance sampling).
  """
  data_shape = tuple(data_shape)
  event_ndim = len(data_shape)
  latent_dim = config.latent_dim
  beta = config.get("beta", 1.0)
  chunk_size = config.get("chunk_size", 100)
  encoder = nets.GaussianMLPEncoder(tuple(config.encoder_hidden), latent_dim, config.activation)
  decoder = nets.MLPDecoder(tuple(config.decoder_hidden), data_shape, config.activation)
  prior = build_prior(config.get("prior", "standard_normal"), latent_dim, config.get("prior_config"))

  def init(key, x_example):
    k_enc, k_dec, k_prior = jax.random.split(key, 3)
    return {"encoder": encoder.init(k_enc, x_example)["params"],
            "decoder": decoder.init(k_dec, jnp.zeros((1, latent_dim)))["params"],
            "prior": prior.init(k_prior)}

  def posterior(params, x):
    return encoder.apply({"params": params["encoder"]}, x)

  def decoder_logits(params, z):
    return decoder.apply({"params": params["decoder"]}, z)

  def kl_term(params, mean, log_var, z):
    """[B] nats: analytic where the prior has it, else the one-sample MC estimate."""
    if prior.kl_from_diag_gaussian is not None:
      return prior.kl_from_diag_gaussian(params["prior"], mean, log_var)
    return maths.diag_gaussian_log_prob(z, mean, log_var) - prior.log_prob(params["prior"], z)

  def elbo_terms(params, x, eps):
    """One-sample ELBO pieces for noise eps [B, latent_dim]: (recon [B], kl [B])."""
    mean, log_var = posterior(params, x)
    z = mean + jnp.exp(0.5 * log_var) * eps
    recon = maths.bernoulli_log_prob(x, decoder_logits(params, z), event_ndim)
    return recon, kl_term(params, mean, log_var, z)

  def loss(params, batch, key):
    """−(recon − β·KL) averaged over the batch; metrics in nats per example."""
    eps = rng.example_normal(key, batch["index"], (latent_dim,))
    recon, kl = elbo_terms(params, batch["x"], eps)
    elbo = recon - kl
    return -jnp.mean(recon - beta * kl), {
        "elbo": elbo.mean(), "recon": recon.mean(), "kl": kl.mean()}

  def elbo(params, x, key, num_samples: int = 1):
    """[B] nats: the ELBO averaged over `num_samples` posterior samples."""
    eps = jax.random.normal(key, (num_samples, x.shape[0], latent_dim))
    recon, kl = jax.vmap(lambda e: elbo_terms(params, x, e))(eps)
    return (recon - kl).mean(axis=0)

  def log_weights(params, x, key, n):
    """[n, B] log p(x, z) − log q(z|x) for z ~ q(z|x)."""
    mean, log_var = posterior(params, x)
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, (n,) + mean.shape)
    log_px_z = maths.bernoulli_log_prob(x, decoder_logits(params, z), event_ndim)
    return (log_px_z + prior.log_prob(params["prior"], z)
            - maths.diag_gaussian_log_prob(z, mean, log_var))

  def log_likelihood(params, x, key, *, estimator: str = "importance",
                     num_samples: int = 1000) -> LogLikelihood:
    """Per-example log p(x), nats: `importance` (k = num_samples) or `elbo`."""
    if estimator == "importance":
      values = importance_sampled_log_likelihood(
          functools.partial(log_weights, params, x), key, num_samples, chunk_size)
      return LogLikelihood(values, f"importance-{num_samples}", Kind.ESTIMATE)
    if estimator == "elbo":
      return LogLikelihood(elbo(params, x, key, num_samples), "elbo", Kind.LOWER_BOUND)
    raise ValueError(f"Unknown estimator {estimator!r} for the VAE. Known: {', '.join(ESTIMATORS)}.")

  def sample(params, key, n):
    """[n, *data_shape] Bernoulli means of p(x|z), z ~ p(z)."""
    return jax.nn.sigmoid(decoder_logits(params, prior.sample(params["prior"], key, n)))

  def encode(params, x, key=None):
    """[B, latent_dim] posterior means."""
    del key
    return posterior(params, x)[0]

  def decode(params, z):
    """[B, *data_shape] Bernoulli means."""
    return jax.nn.sigmoid(decoder_logits(params, z))

  def reconstruct(params, x, key=None):
    return decode(params, encode(params, x, key))

  return Model(name="vae", init=init, loss=loss, log_likelihood=log_likelihood,
               estimators=ESTIMATORS, elbo=elbo, sample=sample, encode=encode,
               decode=decode, reconstruct=reconstruct)
