"""Plain auto-encoder baseline, made generative by a Gaussian mixture on its codes.

The "why not just an auto-encoder?" comparison: the same nets and observation model
as the VAE, a deterministic code z = f(x) (the encoder's mean head) trained only to
reconstruct, −log p(x | f(x)) nats per example. After training, `finalize` fits a
K-component Gaussian mixture to the training codes by EM (the GMM family's own
update), which gives p(z) for sampling: x ~ p(x | z), z ~ GMM.

With that density the AE is a latent-variable model p(x) = ∫ p(x|z) p_GMM(z) dz, and
its log-likelihood can be estimated by importance sampling with the proposal
N(f(x), s²I) (`proposal_scale` s). The estimate is valid but usually loose: the
decoder was never trained on codes off the encoder's points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from genlatent import nets
from genlatent.core import MODELS, Densities, LatentVariable, Model
from genlatent.core import maths
from genlatent.models import gmm as gmm_lib
from genlatent.nets.likelihoods import build_likelihood


@MODELS.register("ae")
def build_ae(config, data_shape) -> Model:
  """An auto-encoder from `config`.

  Fields: as the VAE's nets and likelihood (latent_dim, encoder_type, encoder_hidden,
  decoder_type, decoder_hidden, activation, likelihood, likelihood_config); and
  code_density: a GMM model config (num_components, covariance_type, reg_covar, ...)
    and em_iterations; proposal_scale; ais_schedule, ais_leapfrog_steps;
  chunk_size.
  """
  data_shape = tuple(data_shape)
  latent_dim = config.latent_dim
  likelihood = build_likelihood(config.likelihood, len(data_shape), config.likelihood_config)
  out_shape = data_shape[:-1] + (data_shape[-1] * likelihood.params_per_channel,)
  encoder = nets.build_gaussian_encoder(config, latent_dim)
  decoder = nets.build_decoder(config, out_shape)
  # code_density: a 'gmm' model config (the GMM family's fields) and em_iterations.
  em_iterations = config.code_density.em_iterations
  code_gmm = gmm_lib.build_gmm(config.code_density, (latent_dim,))
  proposal_log_var = 2.0 * jnp.log(config.proposal_scale)
  chunk_size = config.chunk_size  # 0: ~2048 decoder rows per chunk

  def init(key, x_example):
    k_enc, k_dec, k_gmm = jax.random.split(key, 3)
    return {"encoder": encoder.init(k_enc, x_example)["params"],
            "decoder": decoder.init(k_dec, jnp.zeros((1, latent_dim)))["params"],
            "code_density": code_gmm.init(k_gmm, None)}

  def encode(params, x, key=None):
    """[B, latent_dim] deterministic codes."""
    del key
    return encoder.apply({"params": params["encoder"]}, x)[0]

  def decoder_out(params, z):
    return decoder.apply({"params": params["decoder"]}, z)

  def decode(params, z):
    return likelihood.mean(decoder_out(params, z))

  def reconstruct(params, x, key=None):
    return decode(params, encode(params, x))

  def loss(params, batch, key, step):
    """−log p(x | f(x)) averaged over the batch, nats."""
    del key, step
    recon = likelihood.log_prob(batch["x"], decoder_out(params, encode(params, batch["x"])))
    return -recon.mean(), {"recon": recon.mean()}

  def finalize(params, key, x_train):
    """Fits the code density: EM on the codes of every training example."""
    codes = np.concatenate([np.asarray(jax.jit(encode)(params, x_train[i:i + 1024]))
                            for i in range(0, len(x_train), 1024)])
    state = code_gmm.init_state(key, None, codes)
    batch = {"x": jnp.asarray(codes), "mask": jnp.ones(len(codes)),
             "index": jnp.arange(len(codes)), "label": jnp.zeros(len(codes), jnp.int32)}
    step = jax.jit(code_gmm.update)
    for _ in range(em_iterations):
      state, _ = step(state, batch, key)
    return dict(params, code_density=state.params)

  def code_log_prob(params, z):
    flat = z.reshape(-1, latent_dim)
    values = code_gmm.densities.log_prob(params["code_density"], flat)
    return values.reshape(z.shape[:-1])

  def log_weights(params, x, key, n, proposal=None):
    """[n, B] log p(x|z) + log p_GMM(z) − log q(z|x), q = N(f(x), s²I)."""
    del proposal
    mean = encode(params, x)
    log_var = jnp.full_like(mean, proposal_log_var)
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, (n,) + mean.shape)
    return (likelihood.log_prob(x, decoder_out(params, z)) + code_log_prob(params, z)
            - maths.diag_gaussian_log_prob(z, mean, log_var))

  def sample(params, key, n):
    """[n, *data_shape] decoder means at codes drawn from the fitted mixture."""
    return decode(params, code_gmm.sample(params["code_density"], key, n))

  densities = Densities(latent=LatentVariable(
      log_weights=log_weights, chunk_size=chunk_size, prior_log_prob=code_log_prob,
      decoder_log_prob=lambda params, x, z: likelihood.log_prob(x, decoder_out(params, z)),
      prior_sample=lambda params, key, n: code_gmm.sample(params["code_density"], key, n),
      ais_schedule=config.ais_schedule,
      ais_leapfrog_steps=int(config.ais_leapfrog_steps),
      decoder_sample=lambda params, z, key: likelihood.sample(decoder_out(params, z), key)))
  return Model(name="ae", init=init, loss=loss, densities=densities, sample=sample, encode=encode, decode=decode,
               reconstruct=reconstruct, finalize=finalize, discrete=likelihood.discrete)
