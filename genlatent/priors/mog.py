"""p(z) = Σ_k π_k N(z; μ_k, diag σ_k²): a mixture-of-Gaussians prior for VAEs and AAEs.

The density is `genlatent.core.mixture`, the same code as the GMM family. The
KL against a Gaussian posterior has no closed form, so `kl_from_diag_gaussian`
is None and a VAE uses its Monte-Carlo estimate.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from genlatent.core import PRIORS
from genlatent.core import mixture
from genlatent.priors.base import Prior

LAYOUTS = ("random", "circle")


def circle_means(num_components: int, latent_dim: int, radius: float) -> jax.Array:
  """[K, d] means evenly spaced on a circle of `radius` in the first two coordinates.

  The classic AAE prior in 2-D (10 Gaussians on a ring, one per digit class);
  coordinates beyond the second are 0. With latent_dim = 1, points on a line.
  """
  angles = 2.0 * math.pi * jnp.arange(num_components) / num_components
  means = jnp.zeros((num_components, latent_dim))
  if latent_dim == 1:
    return means.at[:, 0].set(radius * jnp.linspace(-1.0, 1.0, num_components))
  return means.at[:, 0].set(radius * jnp.cos(angles)).at[:, 1].set(radius * jnp.sin(angles))


@PRIORS.register("mog")
def mixture_of_gaussians(latent_dim: int, num_components: int = 10, layout: str = "random",
                         radius: float = 2.0, scale: float = 0.5, covariance_type: str = "diag",
                         learnable: bool = True) -> Prior:
  """A K-component diagonal (or spherical) Gaussian mixture over [latent_dim] codes.

  Args:
    num_components: K.
    layout: 'random' (means drawn from N(0, radius²/latent_dim · I) by `init`'s
      key) or 'circle' (`circle_means`).
    radius: scale of the means.
    scale: every component's initial standard deviation σ.
    covariance_type: 'diag' or 'spherical'.
    learnable: train means, log σ and the weight logits with the model;
      otherwise the prior is fixed and its params are {}.
  """
  k = int(num_components)
  radius = float(radius)
  scale = float(scale)
  learnable = bool(learnable)
  if layout not in LAYOUTS:
    raise ValueError(f"Unknown layout {layout!r} for the mog prior. Known: {', '.join(LAYOUTS)}.")
  if covariance_type not in ("diag", "spherical"):
    raise ValueError("The mog prior's covariance_type must be 'diag' or 'spherical'; "
                     f"got {covariance_type!r}.")
  scale_shape = (k, latent_dim) if covariance_type == "diag" else (k,)

  def initial(key) -> dict:
    if layout == "circle":
      means = circle_means(k, latent_dim, radius)
    else:
      means = radius / math.sqrt(latent_dim) * jax.random.normal(key, (k, latent_dim))
    return {"logits": jnp.zeros((k,)), "means": means,
            "log_scale": jnp.full(scale_shape, math.log(scale))}

  fixed = None if learnable else initial(jax.random.PRNGKey(0))

  def density(params) -> mixture.MixtureOfGaussians:
    p = params if learnable else fixed
    return mixture.MixtureOfGaussians(p["logits"], p["means"], jnp.exp(-p["log_scale"]),
                                      covariance_type)

  return Prior(
      latent_dim=latent_dim,
      init=lambda key: initial(key) if learnable else {},
      log_prob=lambda params, z: mixture.log_prob(density(params), z),
      sample=lambda params, key, n: mixture.sample(density(params), key, n),
      sample_with_components=lambda params, key, n: mixture.sample_with_components(
          density(params), key, n),
      kl_from_diag_gaussian=None,
  )
