"""p(z) = N(0, I)."""

import jax

from genlatent.core import PRIORS
from genlatent.core import maths
from genlatent.priors.base import Prior


@PRIORS.register("standard_normal")
def standard_normal(latent_dim: int) -> Prior:
  zeros = lambda mean: 0.0 * mean
  return Prior(
      latent_dim=latent_dim,
      init=lambda key: {},
      log_prob=lambda params, z: maths.standard_normal_log_prob(z),
      sample=lambda params, key, n: jax.random.normal(key, (n, latent_dim)),
      kl_from_diag_gaussian=lambda params, mean, log_var: maths.kl_diag_gaussians(
          mean, log_var, zeros(mean), zeros(log_var)),
  )
