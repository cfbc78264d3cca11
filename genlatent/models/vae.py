"""Variational auto-encoders: β-VAE, IWAE, and two stochastic layers.

log p(x) ≥ ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) || p(z)), nats per example.
Images x are [B, H, W, C]; codes z are [B, latent_dim]. The observation model
(Bernoulli, Gaussian, discretised logistic), the nets (MLP or conv) and the prior
(any registered name) come from the config.

Training objectives (`objective`):
  elbo  −(recon − β_t·KL), β_t = β·min(1, step / kl_warmup_steps). The KL is
        analytic when the prior has a closed form against a diagonal Gaussian,
        else the Monte-Carlo estimate log q(z|x) − log p(z).
  iwae  −log (1/k) Σ_i p(x, z_i)/q(z_i|x) with k = num_train_samples (Burda et al.).

`stochastic_layers=2` is Burda et al.'s two-layer model: q(z1|x) q(z2|z1) and
p(z2) p(z1|z2) p(x|z1), with `latent_dim` the top layer z2 and `latent_dim_1` z1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genlatent import nets
from genlatent.core import MODELS, Densities, LatentVariable, Model
from genlatent.core import maths, rng
from genlatent.estimators import importance
from genlatent.nets.likelihoods import build_likelihood
from genlatent.priors import PriorContext, build_prior

OBJECTIVES = ("elbo", "iwae")


def kl_weight(beta: float, warmup_steps: int, step) -> jax.Array:
  """β_t = β · min(1, step / warmup_steps); β when there is no warm-up."""
  if not warmup_steps:
    return jnp.asarray(beta, jnp.float32)
  return beta * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / warmup_steps)


@MODELS.register("vae")
def build_vae(config, data_shape) -> Model:
  """A VAE from `config` (the `model` part of an experiment config).

  Fields: latent_dim; encoder_type/decoder_type (mlp | conv) with encoder_hidden,
  decoder_hidden (mlp) or conv_features, conv_dense (conv); activation;
  likelihood (bernoulli | gaussian | gaussian_learned | discretized_logistic) and
  likelihood_config; prior (a registered name) and prior_config; objective
  (elbo | iwae), num_train_samples, beta, kl_warmup_steps; stochastic_layers (1 | 2)
  with latent_dim_1 and hidden_2 for the second layer; chunk_size (importance
  samples per chunk at evaluation).
  """
  data_shape = tuple(data_shape)
  event_ndim = len(data_shape)
  latent_dim = config.latent_dim
  beta = config.get("beta", 1.0)
  warmup = config.get("kl_warmup_steps", 0)
  objective = config.get("objective", "elbo")
  if objective not in OBJECTIVES:
    raise ValueError(f"Unknown objective {objective!r}. Known: {', '.join(OBJECTIVES)}.")
  if objective == "iwae" and (beta != 1.0 or warmup):
    raise ValueError("The IWAE objective has no KL weight: leave beta=1 and kl_warmup_steps=0.")
  num_train_samples = config.get("num_train_samples", 1)
  chunk_size = config.get("chunk_size", 0)  # 0: ~2048 decoder rows per chunk
  layers = config.get("stochastic_layers", 1)
  if layers not in (1, 2):
    raise ValueError(f"stochastic_layers must be 1 or 2, got {layers}.")
  likelihood = build_likelihood(config.get("likelihood", "bernoulli"), event_ndim,
                                config.get("likelihood_config"))
  out_shape = data_shape[:-1] + (data_shape[-1] * likelihood.params_per_channel,)

  bottom_dim = (config.get("latent_dim_1", 0) or latent_dim) if layers == 2 else latent_dim
  encoder = nets.build_gaussian_encoder(config, bottom_dim)
  decoder = nets.build_decoder(config, out_shape)
  if layers == 2:
    hidden_2 = tuple(config.get("hidden_2", (100, 100)))
    encoder_2 = nets.GaussianMLP(hidden_2, latent_dim, config.activation)   # q(z2|z1)
    decoder_2 = nets.GaussianMLP(hidden_2, bottom_dim, config.activation)   # p(z1|z2)

  def encode_gaussian(encoder_params, x):
    return encoder.apply({"params": encoder_params}, x)

  prior = build_prior(config.get("prior", "standard_normal"), latent_dim,
                      config.get("prior_config"),
                      PriorContext(data_shape, encode_gaussian if layers == 1 else None))

  def init(key, x_example):
    keys = jax.random.split(key, 5)
    params = {"encoder": encoder.init(keys[0], x_example)["params"],
              "decoder": decoder.init(keys[1], jnp.zeros((1, bottom_dim)))["params"],
              "prior": prior.init(keys[2])}
    if layers == 2:
      params["encoder_2"] = encoder_2.init(keys[3], jnp.zeros((1, bottom_dim)))["params"]
      params["decoder_2"] = decoder_2.init(keys[4], jnp.zeros((1, latent_dim)))["params"]
    return params

  def prior_params(params):
    if prior.uses_encoder:
      return dict(params["prior"], encoder=params["encoder"])
    return params["prior"]

  def decoder_out(params, z):
    return decoder.apply({"params": params["decoder"]}, z)

  def terms(params, x, eps):
    """Per-sample pieces for noise eps ([S, B, d] or a pair for two layers).

    Returns (log p(x|z) [S, B], log p(z) [S, B], log q(z|x) [S, B],
    analytic KL [B] or None). z is the reparameterised sample.
    """
    mean, log_var = encode_gaussian(params["encoder"], x)
    if layers == 1:
      z = mean + jnp.exp(0.5 * log_var) * eps
      log_q = maths.diag_gaussian_log_prob(z, mean, log_var)
      log_pz = prior.log_prob(prior_params(params), z)
      kl = (prior.kl_from_diag_gaussian(prior_params(params), mean, log_var)
            if prior.kl_from_diag_gaussian is not None else None)
      return likelihood.log_prob(x, decoder_out(params, z)), log_pz, log_q, kl
    eps_1, eps_2 = eps
    z1 = mean + jnp.exp(0.5 * log_var) * eps_1
    mean_2, log_var_2 = encoder_2.apply({"params": params["encoder_2"]}, z1)
    z2 = mean_2 + jnp.exp(0.5 * log_var_2) * eps_2
    log_q = (maths.diag_gaussian_log_prob(z1, mean, log_var)
             + maths.diag_gaussian_log_prob(z2, mean_2, log_var_2))
    p_mean, p_log_var = decoder_2.apply({"params": params["decoder_2"]}, z2)
    log_pz = (prior.log_prob(prior_params(params), z2)
              + maths.diag_gaussian_log_prob(z1, p_mean, p_log_var))
    return likelihood.log_prob(x, decoder_out(params, z1)), log_pz, log_q, None

  def noise(key, shape_lead):
    """Standard normal noise [*shape_lead, d] (a pair for two layers)."""
    if layers == 1:
      return jax.random.normal(key, shape_lead + (bottom_dim,))
    k1, k2 = jax.random.split(key)
    return (jax.random.normal(k1, shape_lead + (bottom_dim,)),
            jax.random.normal(k2, shape_lead + (latent_dim,)))

  def example_noise(key, index, samples):
    """[S, B, d] noise where example b's rows depend only on (key, index[b])."""
    def one(k):
      return noise(k, (samples,))
    per_example = jax.vmap(one)(rng.example_keys(key, index))  # [B, S, d]
    return jax.tree.map(lambda e: jnp.swapaxes(e, 0, 1), per_example)

  def loss(params, batch, key, step):
    """The training objective, nats per example averaged over the batch."""
    eps = example_noise(key, batch["index"], num_train_samples)
    log_px_z, log_pz, log_q, kl_analytic = terms(params, batch["x"], eps)
    log_w = log_px_z + log_pz - log_q                     # [S, B]
    recon = log_px_z.mean(0)
    kl = kl_analytic if kl_analytic is not None else (log_q - log_pz).mean(0)
    elbo_value = recon - kl
    metrics = {"elbo": elbo_value.mean(), "recon": recon.mean(), "kl": kl.mean()}
    if objective == "iwae":
      bound = maths.log_mean_exp(log_w, axis=0)
      metrics["iwae_bound"] = bound.mean()
      return -bound.mean(), metrics
    weight = kl_weight(beta, warmup, step)
    metrics["kl_weight"] = weight
    return -jnp.mean(recon - weight * kl), metrics

  def elbo(params, x, key, num_samples: int = 1):
    """[B] nats: the ELBO averaged over `num_samples` posterior samples per example.

    Samples are drawn in chunks (as in importance sampling), so memory does not
    grow with `num_samples`.
    """
    batch = x.shape[0]
    chunk = importance.samples_per_chunk(chunk_size, batch, num_samples)
    num_chunks = -(-num_samples // chunk)

    def body(total, c):
      log_px_z, log_pz, log_q, kl = terms(params, x, noise(jax.random.fold_in(key, c),
                                                           (chunk, batch)))
      per_sample = log_px_z - kl if kl is not None else log_px_z + log_pz - log_q
      valid = (c * chunk + jnp.arange(chunk)) < num_samples
      return total + jnp.sum(jnp.where(valid[:, None], per_sample, 0.0), axis=0), None

    total, _ = jax.lax.scan(body, jnp.zeros((batch,)), jnp.arange(num_chunks))
    return total / num_samples

  def log_weights(params, x, key, n, proposal=None):
    """[n, B] log p(x, z) − log q(z|x) for z ~ q(z|x) (the encoder is the proposal)."""
    del proposal
    log_px_z, log_pz, log_q, _ = terms(params, x, noise(key, (n, x.shape[0])))
    return log_px_z + log_pz - log_q

  def diagnostics(params, x, key):
    """Per-example reconstruction term and KL (one posterior sample), nats: {name: [B]}."""
    log_px_z, log_pz, log_q, kl = terms(params, x, noise(key, (1, x.shape[0])))
    return {"recon": log_px_z[0], "kl": kl if kl is not None else (log_q - log_pz)[0]}

  def decode(params, z):
    """[B, *data_shape] mean of p(x|z) for top-layer codes z [B, latent_dim]."""
    if layers == 2:
      z = decoder_2.apply({"params": params["decoder_2"]}, z)[0]
    return likelihood.mean(decoder_out(params, z))

  def encode(params, x, key=None):
    """[B, latent_dim] deterministic codes: the posterior mean E_q[z|x]; with two
    layers, the mean of q(z2 | E_q[z1|x]) (a summary, not E_q[z2|x])."""
    del key
    mean, _ = encode_gaussian(params["encoder"], x)
    if layers == 2:
      mean = encoder_2.apply({"params": params["encoder_2"]}, mean)[0]
    return mean

  def sample(params, key, n):
    """[n, *data_shape]: the mean of p(x|z) for z ~ p(z) (mean images, as figures show)."""
    return decode(params, prior.sample(prior_params(params), key, n))

  def reconstruct(params, x, key=None):
    """[B, *data_shape] the mean of p(x|z) at the posterior mean of the bottom layer
    (z for one layer, z1 for two; so with two layers not decode(encode(x)))."""
    del key
    mean, _ = encode_gaussian(params["encoder"], x)
    return likelihood.mean(decoder_out(params, mean))

  # With two stochastic layers z = (z1, z2) has no single prior and decoder to
  # anneal between here, so HMC-AIS is offered for one layer only.
  annealing = dict(
      prior_log_prob=lambda params, z: prior.log_prob(prior_params(params), z),
      decoder_log_prob=lambda params, x, z: likelihood.log_prob(x, decoder_out(params, z)),
      prior_sample=lambda params, key, n: prior.sample(prior_params(params), key, n),
      ais_schedule=config.get("ais_schedule", "sigmoid:1000"),
      ais_leapfrog_steps=int(config.get("ais_leapfrog_steps", 10)),
      decoder_sample=lambda params, z, key: likelihood.sample(decoder_out(params, z), key),
  ) if layers == 1 else {}
  densities = Densities(elbo=elbo, latent=LatentVariable(log_weights=log_weights,
                                                         chunk_size=chunk_size, **annealing))
  return Model(name="vae", init=init, loss=loss, densities=densities, sample=sample, encode=encode,
               decode=decode, reconstruct=reconstruct, diagnostics=diagnostics,
               discrete=likelihood.discrete)
