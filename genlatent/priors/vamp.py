"""VampPrior (Tomczak & Welling, 2018): p(z) = (1/K) Σ_k q(z | u_k).

The K pseudo-inputs u_k live in data space and are learned; the prior is the
model's own encoder applied to them, so it needs the encoder (`uses_encoder`).
"""

import math

import jax
import jax.numpy as jnp

from genlatent.core import PRIORS
from genlatent.core import maths
from genlatent.priors.base import Prior, PriorContext


@PRIORS.register("vamp")
def vamp(latent_dim: int, num_pseudo_inputs: int = 500, pseudo_init_scale: float = 0.01,
         context: PriorContext | None = None) -> Prior:
  """K = num_pseudo_inputs learned pseudo-inputs, initialised at 0.5 ± pseudo_init_scale."""
  if context is None or context.encode is None:
    raise ValueError("The 'vamp' prior needs a model with a Gaussian encoder (VAE or AAE).")
  num = num_pseudo_inputs
  init_scale = pseudo_init_scale
  shape = tuple(context.data_shape)

  def init(key):
    # Near mid-grey, as in the paper's initialisation around the data mean.
    return {"pseudo_inputs": 0.5 + init_scale * jax.random.normal(key, (num,) + shape)}

  def components(p):
    return context.encode(p["encoder"], p["pseudo_inputs"])  # [K, d] each

  def log_prob(p, z):
    mean, log_var = components(p)
    per_component = maths.diag_gaussian_log_prob(z[..., None, :], mean, log_var)  # [..., K]
    return jax.nn.logsumexp(per_component, axis=-1) - math.log(num)

  def sample(p, key, n):
    mean, log_var = components(p)
    k_pick, k_noise = jax.random.split(key)
    idx = jax.random.randint(k_pick, (n,), 0, num)
    return mean[idx] + jnp.exp(0.5 * log_var[idx]) * jax.random.normal(k_noise, (n, latent_dim))

  return Prior(latent_dim=latent_dim, init=init, log_prob=log_prob, sample=sample,
               uses_encoder=True)
