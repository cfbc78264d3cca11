"""A 2-D swiss-roll prior: a spiral cut into K labelled segments (Makhzani et al., 2016).

  u ~ U(0, 1),  s = √u,  c(s) = R s (cos 2πTs, sin 2πTs),  z = c(s) + σ ε,  ε ~ N(0, I₂)

with R the outer radius, T the number of turns and σ a small thickness (√u makes
the mass per unit length of the spiral roughly even). Segment k, u ∈ [k/K, (k+1)/K),
is component k: a label-regularised AAE maps class k onto it.

An AAE needs only samples. The density is given too, for figures and importance
sampling: with s ~ p(s) = 2s on [0, 1],

  p(z) = ∫₀¹ 2s N(z; c(s), σ² I) ds  ≈  Σ_m w_m N(z; c(s_m), σ² I),

a midpoint rule whose nodes lie at most σ/4 apart along the spiral, so the
quadrature error is negligible beside σ (the integrand is smooth on that scale).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from genlatent.core import PRIORS
from genlatent.core.maths import LOG_2PI
from genlatent.priors.base import Prior

MAX_NODES = 50_000


def spiral(s: jax.Array, radius: float, turns: float) -> jax.Array:
  """[..., 2] points c(s) on the spiral for s [...] in [0, 1]."""
  angle = 2.0 * math.pi * turns * s
  return radius * s[..., None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)


def quadrature_nodes(radius: float, turns: float, noise: float):
  """(s_m [M], log w_m [M]) for the midpoint rule over s ∈ [0, 1] with weight 2s.

  M is set so that nodes lie at most σ/4 apart along the spiral, where it is
  fastest: |c'(1)| = R √(1 + (2πT)²).
  """
  speed = radius * math.sqrt(1.0 + (2.0 * math.pi * turns) ** 2)
  m = int(min(max(math.ceil(speed / (noise / 4.0)), 256), MAX_NODES))
  s = (np.arange(m) + 0.5) / m
  w = 2.0 * s / m
  return s.astype(np.float32), np.log(w / w.sum()).astype(np.float32)


@PRIORS.register("swiss_roll")
def swiss_roll(latent_dim: int, num_components: int = 10, radius: float = 3.0,
               turns: float = 2.0, noise: float = 0.05) -> Prior:
  """K = num_components segments of a spiral of outer radius R, T turns, thickness σ = noise."""
  if latent_dim != 2:
    raise ValueError(f"The 'swiss_roll' prior is 2-D; got latent_dim={latent_dim}. "
                     "Set --config.model.latent_dim=2 or choose another prior.")
  k = int(num_components)
  radius, turns, noise = float(radius), float(turns), float(noise)
  if k < 1 or radius <= 0 or turns <= 0 or noise <= 0:
    raise ValueError("swiss_roll needs num_components ≥ 1 and positive radius, turns and "
                     f"noise; got {k}, {radius}, {turns}, {noise}.")
  nodes, log_w = quadrature_nodes(radius, turns, noise)
  centres = np.asarray(spiral(jnp.asarray(nodes), radius, turns))  # [M, 2], host constant

  def sample_with_components(params, key, n):
    del params  # a fixed prior has none
    key_k, key_u, key_eps = jax.random.split(key, 3)
    component = jax.random.randint(key_k, (n,), 0, k)
    u = (component + jax.random.uniform(key_u, (n,))) / k
    z = spiral(jnp.sqrt(u), radius, turns) + noise * jax.random.normal(key_eps, (n, 2))
    return z, component.astype(jnp.int32)

  def sample(params, key, n):
    return sample_with_components(params, key, n)[0]

  def log_prob(params, z):
    """[...] nats for z [..., 2]."""
    del params
    sq = jnp.sum(jnp.square(z[..., None, :] - centres), axis=-1)  # [..., M]
    return (jax.nn.logsumexp(log_w - 0.5 * sq / noise ** 2, axis=-1)
            - LOG_2PI - 2.0 * math.log(noise))

  return Prior(latent_dim=2, init=lambda key: {}, log_prob=log_prob, sample=sample,
               sample_with_components=sample_with_components)
