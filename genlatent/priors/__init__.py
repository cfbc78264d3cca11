"""Priors p(z) shared by VAEs and AAEs, looked up by name.

A new prior is one module that registers a constructor with
`@PRIORS.register('name')`: `(latent_dim, **fields) -> Prior`, its fields keyword
arguments with their defaults (the one place they are declared; a config's
`prior_config` sets any of them), plus `context` when it needs the model (a
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
  """The prior registered as `name` with the fields `config` (prior_config) sets.

  An unknown name lists the known priors; an unknown field, the prior's fields.
  """
  constructor = PRIORS.get(name)
  parameters = inspect.signature(constructor).parameters
  fields = dict(config) if config is not None else {}
  known = [p for p in list(parameters)[1:] if p != "context"]
  unknown = sorted(set(fields) - set(known))
  if unknown:
    raise ValueError(f"Unknown field prior_config.{unknown[0]} for the {name!r} prior. "
                     f"Known: {', '.join(known) or '(none)'}.")
  if "context" in parameters:
    fields["context"] = context
  return constructor(latent_dim, **fields)


__all__ = ["PRIORS", "Prior", "PriorContext", "build_prior"]
