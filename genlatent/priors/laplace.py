"""p(z) = Π_i Laplace(z_i; 0, b): the worked example of adding a prior (see README).

Heavier tails than N(0, I) and sparse-ish codes. The KL against q(z|x) has no
closed form here, so VAEs use the Monte-Carlo estimate automatically.
"""

import math

import jax
import jax.numpy as jnp

from genlatent.core import PRIORS
from genlatent.priors.base import Prior


@PRIORS.register("laplace")
def laplace(latent_dim: int, scale: float = 1 / math.sqrt(2)) -> Prior:
  """Π_i Laplace(z_i; 0, scale); the default scale gives unit variance."""

  def log_prob(params, z):
    del params  # a fixed prior has none
    return jnp.sum(-jnp.abs(z) / scale - math.log(2 * scale), axis=-1)

  def sample(params, key, n):
    del params
    return scale * jax.random.laplace(key, (n, latent_dim))

  return Prior(latent_dim=latent_dim, init=lambda key: {}, log_prob=log_prob, sample=sample)
