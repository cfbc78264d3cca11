"""p(z) = N(μ, diag σ²) with learned μ and log σ²."""

import jax
import jax.numpy as jnp

from genlatent.core import PRIORS
from genlatent.core import maths
from genlatent.priors.base import Prior


@PRIORS.register("diagonal_gaussian")
def diagonal_gaussian(latent_dim: int) -> Prior:
  # Starts at N(0, I); both moments are learned.
  return Prior(
      latent_dim=latent_dim,
      init=lambda key: {"mean": jnp.zeros(latent_dim), "log_var": jnp.zeros(latent_dim)},
      log_prob=lambda p, z: maths.diag_gaussian_log_prob(z, p["mean"], p["log_var"]),
      sample=lambda p, key, n: p["mean"] + jnp.exp(0.5 * p["log_var"]) * jax.random.normal(
          key, (n, latent_dim)),
      kl_from_diag_gaussian=lambda p, mean, log_var: maths.kl_diag_gaussians(
          mean, log_var, jnp.broadcast_to(p["mean"], mean.shape),
          jnp.broadcast_to(p["log_var"], log_var.shape)),
  )
