"""Priors p(z) shared by VAEs and AAEs, looked up by name.

A new prior is one module that registers a constructor with
`@PRIORS.register('name')`: `(latent_dim, config) -> Prior`, or
`(latent_dim, config, context) -> Prior` when it needs the model (a
`PriorContext`: the data shape and the encoder, as the VampPrior does).
"""

import inspect

from genlatent.core import PRIORS
from genlatent.priors import diagonal_gaussian, laplace, standard_normal, vamp  # register
from genlatent.priors import swiss_roll  # registers
from genlatent.priors import mog  # registers
from genlatent.priors.base import Prior, PriorContext


def build_prior(name: str, latent_dim: int, config=None, context: PriorContext | None = None
                ) -> Prior:
  """The prior registered as `name`; an unknown name lists the known ones."""
  constructor = PRIORS.get(name)
  if "context" in inspect.signature(constructor).parameters:
    return constructor(latent_dim, config, context=context)
  return constructor(latent_dim, config)


__all__ = ["PRIORS", "Prior", "PriorContext", "build_prior"]
