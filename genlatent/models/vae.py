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

The densities are the Linen module `VAE` (nets, prior and likelihood as its fields);
`build_vae` adds the training objective and the estimators' view.
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlatent import nets
from genlatent.core import MODELS, Densities, LatentVariable, Model
from genlatent.core import maths, rng
from genlatent.estimators import importance
from genlatent.nets.likelihoods import Likelihood, build_likelihood
from genlatent.priors import Prior, PriorContext, build_prior

OBJECTIVES = ("elbo", "iwae")


def kl_weight(beta: float, warmup_steps: int, step) -> jax.Array:
  """β_t = β · min(1, step / warmup_steps); β when there is no warm-up."""
  if not warmup_steps:
    return jnp.asarray(beta, jnp.float32)
  return beta * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / warmup_steps)


def standard_noise(key: jax.Array, shape_lead: tuple, dims: tuple):
  """N(0, I) noise [*shape_lead, d] for one stochastic layer (dims = (d,)), or a pair
  ([*shape_lead, d1], [*shape_lead, d2]) for two (dims = (d1, d2))."""
  if len(dims) == 1:
    return jax.random.normal(key, shape_lead + (dims[0],))
  k1, k2 = jax.random.split(key)
  return (jax.random.normal(k1, shape_lead + (dims[0],)),
          jax.random.normal(k2, shape_lead + (dims[1],)))


class VAE(nn.Module):
  """A VAE as a Linen module: q(z|x), p(z), p(x|z), and the bounds they give.

  One stochastic layer: q(z|x) = N(encoder(x)), p(z) = `prior`, p(x|z) =
  `likelihood` of decoder(z). Two (Burda et al.): q(z1|x) q(z2|z1) and p(z2)
  p(z1|z2) p(x|z1), with `encoder_2` giving q(z2|z1) and `decoder_2` p(z1|z2)
  (both (mean, log_var) nets, e.g. `nets.GaussianMLP`); z2 is the prior's.

  Params: {'encoder', 'decoder', 'prior'} (+ 'encoder_2', 'decoder_2'), the nets'
  Linen params and the prior's own `init(key)`. x is [B, *data_shape]; codes are
  [B, d]; every value is nats per example.

    vae = VAE(nets.GaussianMLPEncoder((64,), 2), nets.MLPDecoder((64,), (8, 8, 1)),
              build_likelihood("bernoulli", 3), build_prior("standard_normal", 2))
    params = vae.init(key, x)["params"]
    elbo = vae.apply({"params": params}, x, key, 10, method="elbo")   # [B]
  """

  encoder: nn.Module
  decoder: nn.Module
  likelihood: Likelihood
  prior: Prior
  encoder_2: Optional[nn.Module] = None
  decoder_2: Optional[nn.Module] = None
  latent_dim_1: int = 0  # z1's size with two layers; 0: the prior's
  chunk_size: int = 0  # posterior samples per chunk in `elbo`; 0: ~2048 decoder rows

  @property
  def two_layers(self) -> bool:
    return self.encoder_2 is not None

  @property
  def noise_dims(self) -> tuple:
    """(d,) for one stochastic layer, (d1, d2) for two."""
    if not self.two_layers:
      return (self.prior.latent_dim,)
    return (self.latent_dim_1 or self.prior.latent_dim, self.prior.latent_dim)

  def setup(self):
    self.own_prior_params = self.param("prior", lambda key: self.prior.init(key))

  def __call__(self, x: jax.Array) -> jax.Array:
    """[1, B] log p(x, z) − log q(z|x) at z = the posterior mean (zero noise); `init`
    goes through here, creating every param."""
    zeros = tuple(jnp.zeros((1, x.shape[0], d)) for d in self.noise_dims)
    log_px_z, log_pz, log_q, _ = self.terms(x, zeros if self.two_layers else zeros[0])
    return log_px_z + log_pz - log_q

  def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean, log_var) [B, d1] of q(z|x) (of q(z1|x) with two layers)."""
    return self.encoder(x)

  def prior_params(self):
    """The prior's params (with the encoder's, for a prior defined through it)."""
    if self.prior.uses_encoder:  # the VampPrior: the encoder at learned pseudo-inputs
      return dict(self.own_prior_params, encoder=self.encoder.variables["params"])
    return self.own_prior_params

  def prior_log_prob(self, z: jax.Array) -> jax.Array:
    """[...] log p(z), nats, for top-layer codes z [..., d]."""
    return self.prior.log_prob(self.prior_params(), z)

  def prior_sample(self, key: jax.Array, n: int) -> jax.Array:
    """[n, d] codes z ~ p(z)."""
    return self.prior.sample(self.prior_params(), key, n)

  def decoder_log_prob(self, x: jax.Array, z: jax.Array) -> jax.Array:
    """[...] log p(x | z), nats, for bottom-layer codes z [..., B, d1]."""
    return self.likelihood.log_prob(x, self.decoder(z))

  def decoder_sample(self, z: jax.Array, key: jax.Array) -> jax.Array:
    """[..., B, *data_shape] exact draws x ~ p(x | z) (BDMC simulates data with them)."""
    return self.likelihood.sample(self.decoder(z), key)

  def terms(self, x: jax.Array, eps):
    """Per-sample pieces for noise eps ([S, B, d], or a pair for two layers).

    Returns (log p(x|z) [S, B], log p(z) [S, B], log q(z|x) [S, B], the analytic
    KL [B] or None); z is the reparameterised sample.
    """
    mean, log_var = self.encode(x)
    if not self.two_layers:
      z = mean + jnp.exp(0.5 * log_var) * eps
      log_q = maths.diag_gaussian_log_prob(z, mean, log_var)
      log_pz = self.prior_log_prob(z)
      kl = (self.prior.kl_from_diag_gaussian(self.prior_params(), mean, log_var)
            if self.prior.kl_from_diag_gaussian is not None else None)
      return self.decoder_log_prob(x, z), log_pz, log_q, kl
    eps_1, eps_2 = eps
    z1 = mean + jnp.exp(0.5 * log_var) * eps_1
    mean_2, log_var_2 = self.encoder_2(z1)
    z2 = mean_2 + jnp.exp(0.5 * log_var_2) * eps_2
    log_q = (maths.diag_gaussian_log_prob(z1, mean, log_var)
             + maths.diag_gaussian_log_prob(z2, mean_2, log_var_2))
    p_mean, p_log_var = self.decoder_2(z2)
    log_pz = self.prior_log_prob(z2) + maths.diag_gaussian_log_prob(z1, p_mean, p_log_var)
    return self.decoder_log_prob(x, z1), log_pz, log_q, None

  def elbo(self, x: jax.Array, key: jax.Array, num_samples: int = 1) -> jax.Array:
    """[B] nats: the ELBO averaged over `num_samples` posterior samples per example.

    Samples are drawn in chunks (as in importance sampling), so memory does not
    grow with `num_samples`.
    """
    batch = x.shape[0]
    chunk = importance.samples_per_chunk(self.chunk_size, batch, num_samples)
    num_chunks = -(-num_samples // chunk)

    def body(total, c):
      eps = standard_noise(jax.random.fold_in(key, c), (chunk, batch), self.noise_dims)
      log_px_z, log_pz, log_q, kl = self.terms(x, eps)
      per_sample = log_px_z - kl if kl is not None else log_px_z + log_pz - log_q
      valid = (c * chunk + jnp.arange(chunk)) < num_samples
      return total + jnp.sum(jnp.where(valid[:, None], per_sample, 0.0), axis=0), None

    total, _ = jax.lax.scan(body, jnp.zeros((batch,)), jnp.arange(num_chunks))
    return total / num_samples

  def log_weights(self, x: jax.Array, key: jax.Array, n: int) -> jax.Array:
    """[n, B] log p(x, z) − log q(z|x) for z ~ q(z|x) (the encoder is the proposal)."""
    log_px_z, log_pz, log_q, _ = self.terms(x, standard_noise(key, (n, x.shape[0]),
                                                              self.noise_dims))
    return log_px_z + log_pz - log_q

  def decode(self, z: jax.Array) -> jax.Array:
    """[B, *data_shape] mean of p(x|z) for top-layer codes z [B, d]."""
    if self.two_layers:
      z = self.decoder_2(z)[0]
    return self.likelihood.mean(self.decoder(z))

  def posterior_mean(self, x: jax.Array) -> jax.Array:
    """[B, d] E_q[z|x]; with two layers, the mean of q(z2 | E_q[z1|x]) (a summary)."""
    mean, _ = self.encode(x)
    if self.two_layers:
      mean = self.encoder_2(mean)[0]
    return mean

  def sample(self, key: jax.Array, n: int) -> jax.Array:
    """[n, *data_shape]: the mean of p(x|z) for z ~ p(z) (mean images)."""
    return self.decode(self.prior_sample(key, n))

  def reconstruct(self, x: jax.Array) -> jax.Array:
    """[B, *data_shape] the mean of p(x|z) at the bottom layer's posterior mean."""
    mean, _ = self.encode(x)
    return self.likelihood.mean(self.decoder(mean))


@MODELS.register("vae")
def build_vae(config, data_shape) -> Model:
  """A VAE from `config` (the `model` part of an experiment config).

  Fields: latent_dim; encoder_type/decoder_type (mlp | conv) with encoder_hidden,
  decoder_hidden (mlp) or conv_features, conv_dense (conv); activation;
  likelihood (bernoulli | gaussian | gaussian_learned | discretized_logistic) and
  likelihood_config; prior (a registered name) and prior_config; objective
  (elbo | iwae), num_train_samples, beta, kl_warmup_steps; stochastic_layers (1 | 2)
  with latent_dim_1 and hidden_2 for the second layer; chunk_size (importance
  samples per chunk at evaluation); ais_schedule, ais_leapfrog_steps (HMC-AIS).
  The densities are the `VAE` module's; this adds training and the estimators' view.
  """
  data_shape = tuple(data_shape)
  event_ndim = len(data_shape)
  latent_dim = config.latent_dim
  beta = config.beta
  warmup = config.kl_warmup_steps
  objective = config.objective
  if objective not in OBJECTIVES:
    raise ValueError(f"Unknown objective {objective!r}. Known: {', '.join(OBJECTIVES)}.")
  if objective == "iwae" and (beta != 1.0 or warmup):
    raise ValueError("The IWAE objective has no KL weight: leave beta=1 and kl_warmup_steps=0.")
  num_train_samples = config.num_train_samples
  chunk_size = config.chunk_size  # 0: ~2048 decoder rows per chunk
  layers = config.stochastic_layers
  if layers not in (1, 2):
    raise ValueError(f"stochastic_layers must be 1 or 2, got {layers}.")
  likelihood = build_likelihood(config.likelihood, event_ndim, config.likelihood_config)
  out_shape = data_shape[:-1] + (data_shape[-1] * likelihood.params_per_channel,)

  bottom_dim = (config.latent_dim_1 or latent_dim) if layers == 2 else latent_dim
  encoder = nets.build_gaussian_encoder(config, bottom_dim)
  decoder = nets.build_decoder(config, out_shape)
  encoder_2 = decoder_2 = None
  if layers == 2:
    hidden_2 = tuple(config.hidden_2)
    encoder_2 = nets.GaussianMLP(hidden_2, latent_dim, config.activation)   # q(z2|z1)
    decoder_2 = nets.GaussianMLP(hidden_2, bottom_dim, config.activation)   # p(z1|z2)

  def encode_gaussian(encoder_params, x):
    return encoder.apply({"params": encoder_params}, x)

  prior = build_prior(config.prior, latent_dim, config.prior_config,
                      PriorContext(data_shape, encode_gaussian if layers == 1 else None))
  module = VAE(encoder, decoder, likelihood, prior, encoder_2, decoder_2,
               latent_dim_1=bottom_dim, chunk_size=chunk_size)
  dims = module.noise_dims

  def apply(params, *args, method):
    return module.apply({"params": params}, *args, method=method)

  def init(key, x_example):
    keys = jax.random.split(key, 5)
    params = {"encoder": encoder.init(keys[0], x_example)["params"],
              "decoder": decoder.init(keys[1], jnp.zeros((1, bottom_dim)))["params"],
              "prior": prior.init(keys[2])}
    if layers == 2:
      params["encoder_2"] = encoder_2.init(keys[3], jnp.zeros((1, bottom_dim)))["params"]
      params["decoder_2"] = decoder_2.init(keys[4], jnp.zeros((1, latent_dim)))["params"]
    return params

  def example_noise(key, index, samples):
    """[S, B, d] noise where example b's rows depend only on (key, index[b])."""
    def one(k):
      return standard_noise(k, (samples,), dims)
    per_example = jax.vmap(one)(rng.example_keys(key, index))  # [B, S, d]
    return jax.tree.map(lambda e: jnp.swapaxes(e, 0, 1), per_example)

  def loss(params, batch, key, step):
    """The training objective, nats per example averaged over the batch."""
    eps = example_noise(key, batch["index"], num_train_samples)
    log_px_z, log_pz, log_q, kl_analytic = apply(params, batch["x"], eps, method="terms")
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
    """[B] nats: the ELBO averaged over `num_samples` posterior samples (`VAE.elbo`)."""
    return apply(params, x, key, num_samples, method="elbo")

  def log_weights(params, x, key, n, proposal=None):
    """[n, B] log p(x, z) − log q(z|x) for z ~ q(z|x) (the encoder is the proposal)."""
    del proposal
    return apply(params, x, key, n, method="log_weights")

  def diagnostics(params, x, key):
    """Per-example reconstruction term and KL (one posterior sample), nats: {name: [B]}."""
    eps = standard_noise(key, (1, x.shape[0]), dims)
    log_px_z, log_pz, log_q, kl = apply(params, x, eps, method="terms")
    return {"recon": log_px_z[0], "kl": kl if kl is not None else (log_q - log_pz)[0]}

  def decode(params, z):
    """[B, *data_shape] mean of p(x|z) for top-layer codes z [B, latent_dim]."""
    return apply(params, z, method="decode")

  def encode(params, x, key=None):
    """[B, latent_dim] deterministic codes: the posterior mean E_q[z|x]; with two
    layers, the mean of q(z2 | E_q[z1|x]) (a summary, not E_q[z2|x])."""
    del key
    return apply(params, x, method="posterior_mean")

  def sample(params, key, n):
    """[n, *data_shape]: the mean of p(x|z) for z ~ p(z) (mean images, as figures show)."""
    return apply(params, key, n, method="sample")

  def reconstruct(params, x, key=None):
    """[B, *data_shape] the mean of p(x|z) at the posterior mean of the bottom layer
    (z for one layer, z1 for two; so with two layers not decode(encode(x)))."""
    del key
    return apply(params, x, method="reconstruct")

  # With two stochastic layers z = (z1, z2) has no single prior and decoder to
  # anneal between here, so HMC-AIS is offered for one layer only.
  annealing = dict(
      prior_log_prob=lambda params, z: apply(params, z, method="prior_log_prob"),
      decoder_log_prob=lambda params, x, z: apply(params, x, z, method="decoder_log_prob"),
      prior_sample=lambda params, key, n: apply(params, key, n, method="prior_sample"),
      decoder_sample=lambda params, z, key: apply(params, z, key, method="decoder_sample"),
      ais_schedule=config.ais_schedule,
      ais_leapfrog_steps=int(config.ais_leapfrog_steps)) if layers == 1 else {}
  densities = Densities(elbo=elbo, latent=LatentVariable(log_weights=log_weights,
                                                         chunk_size=chunk_size, **annealing))
  return Model(name="vae", init=init, loss=loss, densities=densities, sample=sample, encode=encode,
               decode=decode, reconstruct=reconstruct, diagnostics=diagnostics,
               discrete=likelihood.discrete)
