"""Priors p(z) shared by VAEs and AAEs, looked up by name.

A new prior is one module that registers a constructor
`(latent_dim, config) -> Prior` with `@PRIORS.register('name')`.
"""

from genlatent.core import PRIORS
from genlatent.priors import standard_normal  # registers
from genlatent.priors.base import Prior


def build_prior(name: str, latent_dim: int, config=None) -> Prior:
  """The prior registered as `name`; an unknown name lists the known ones."""
  return PRIORS.get(name)(latent_dim, config)


__all__ = ["PRIORS", "Prior", "build_prior"]
