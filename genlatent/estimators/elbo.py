"""`elbo`: a variational lower bound on log p(x).

For a Boltzmann family the bound is on log p*(x); subtracting log Z keeps it a
bound only when log Z is exact (enumerable), else the row is an estimate
labelled `elbo+ais-MxK` with the model's `ais_chains`.
"""

from __future__ import annotations

import jax

from genlatent.core import ESTIMATORS, Estimator, Kind, LogLikelihood
from genlatent.estimators import ais


def supports(model) -> bool:
  boltzmann = model.densities.boltzmann
  return model.densities.elbo is not None or (
      boltzmann is not None and boltzmann.bound_log_unnormalised is not None)


def _method(normaliser) -> tuple[str, int]:
  return ("exact", 0) if normaliser.enumerable else ("ais", normaliser.ais_chains)


def prepare(model, params, key, num_samples, validation_x):
  """log Z once per evaluation (exact when enumerable, else AIS)."""
  del num_samples, validation_x
  normaliser = model.densities.boltzmann.normaliser
  state, report, _ = ais.log_partition_state(normaliser, params, key, *_method(normaliser))
  return state, report


def log_likelihood(model, params, state, x, key, num_samples) -> LogLikelihood:
  """[B] nats: the bound averaged over `num_samples` draws (where the family draws)."""
  densities = model.densities
  if densities.elbo is not None:
    return LogLikelihood(densities.elbo(params, x, key, num_samples), "elbo", Kind.LOWER_BOUND)
  normaliser = densities.boltzmann.normaliser
  method, chains = _method(normaliser)
  _, key_h = jax.random.split(key)
  values = densities.boltzmann.bound_log_unnormalised(params, x, key_h, num_samples)
  if method == "exact":
    return LogLikelihood(values - state["log_z"], "elbo", Kind.LOWER_BOUND)
  return LogLikelihood(values - state["log_z"],
                       f"elbo+{ais.ais_label(chains, normaliser.schedule)}", Kind.ESTIMATE)


ESTIMATORS.register("elbo")(Estimator(
    needs="an ELBO (or a variational bound on an unnormalised density)",
    supports=supports, log_likelihood=log_likelihood, prepare=prepare,
    prepares=lambda model: model.densities.elbo is None))
