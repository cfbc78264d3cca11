"""`exact`: log p(x) in closed form, or p*(x) and log Z both by enumeration."""

from __future__ import annotations

from genlatent.core import ESTIMATORS, Estimator, Kind, LogLikelihood
from genlatent.estimators import ais


def _enumerable(model) -> bool:
  boltzmann = model.densities.boltzmann
  return (boltzmann is not None and boltzmann.exact_log_unnormalised is not None
          and boltzmann.normaliser.enumerable)


def supports(model) -> bool:
  return model.densities.log_prob is not None or _enumerable(model)


def prepare(model, params, key, num_samples, validation_x):
  """log Z by enumeration, once per evaluation: ({'log_z': []}, report)."""
  del num_samples, validation_x
  state, report, _ = ais.log_partition_state(model.densities.boltzmann.normaliser, params,
                                             key, "exact", 0)
  return state, report


def log_likelihood(model, params, state, x, key, num_samples) -> LogLikelihood:
  """[B] log p(x), nats, exactly."""
  del key, num_samples
  densities = model.densities
  if densities.log_prob is not None:
    return LogLikelihood(densities.log_prob(params, x), "exact", Kind.EXACT)
  values = densities.boltzmann.exact_log_unnormalised(params, x) - state["log_z"]
  return LogLikelihood(values, "exact", Kind.EXACT)


ESTIMATORS.register("exact")(Estimator(
    needs="a normalised log_prob, or an enumerable unnormalised density and partition function",
    supports=supports, log_likelihood=log_likelihood, prepare=prepare,
    prepares=lambda model: model.densities.log_prob is None))
