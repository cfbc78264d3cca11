"""The prior interface: three pure functions, registered by name in `PRIORS`."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional


@dataclasses.dataclass(frozen=True)
class Prior:
  """A prior p(z) over [latent_dim] codes.

  init(key) -> params (a pytree; `{}` for a fixed prior)
  log_prob(params, z [..., latent_dim]) -> [...] nats
  sample(params, key, n) -> [n, latent_dim]
  kl_from_diag_gaussian(params, mean, log_var) -> [B] nats, optional: the analytic
    KL(N(mean, diag exp(log_var)) || p). Where it is None a VAE uses a
    Monte-Carlo estimate from its posterior samples.
  uses_encoder: the prior is defined through the model's encoder (VampPrior): its
    functions then receive `params = {**own_params, 'encoder': encoder_params}`.
  sample_with_components(params, key, n) -> (z [n, latent_dim], k [n] int32), optional:
    draws and the component each came from, for priors made of labelled parts
    (mixtures, swiss-roll segments); a label-regularised AAE pairs data labels
    with them.
  """

  latent_dim: int
  init: Callable
  log_prob: Callable
  sample: Callable
  kl_from_diag_gaussian: Optional[Callable] = None
  uses_encoder: bool = False
  sample_with_components: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class PriorContext:
  """What a prior may need from the model using it.

  data_shape: (H, W, C) of the data.
  encode: (encoder_params, x [B, *data_shape]) -> (mean [B, d], log_var [B, d]),
    the model's Gaussian encoder, or None for models without one.
  """

  data_shape: tuple
  encode: Optional[Callable[[Any, Any], Any]] = None
