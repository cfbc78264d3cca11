"""Looking estimators up by name for a model, and scoring a batch outside the trainer."""

from __future__ import annotations

import jax

from genlatent.core import ESTIMATORS, Estimator, LogLikelihood


class UnsupportedEstimatorError(ValueError):
  """The model does not expose what the named estimator needs."""


def supported(model) -> list[str]:
  """Names of the registered estimators that can score `model`."""
  return [name for name in ESTIMATORS.names() if ESTIMATORS.get(name).supports(model)]


def resolve(name: str, model) -> Estimator:
  """The estimator `name`, checked against what `model` exposes.

  Raises:
    UnknownNameError: no estimator of that name (the message lists the known ones).
    UnsupportedEstimatorError: `model` does not expose what it needs (the message
      says what is missing and which estimators would work).
  """
  estimator = ESTIMATORS.get(name)
  if not estimator.supports(model):
    raise UnsupportedEstimatorError(
        f"Estimator {name!r} needs {estimator.needs}, which model {model.name!r} does not "
        f"expose. Estimators for this model: {', '.join(supported(model)) or '(none)'}.")
  return estimator


def prepare(estimator: Estimator, model, params, key: jax.Array, num_samples: int,
            validation_x=None):
  """(evaluation state, report) for one evaluation: `estimator.prepare`, or (None, {})."""
  if not estimator.shares_work(model):
    return None, {}
  return estimator.prepare(model, params, key, num_samples, validation_x)


def log_likelihood(model, params, x: jax.Array, key: jax.Array, *, estimator: str,
                   num_samples: int = 1, validation_x=None) -> LogLikelihood:
  """[B] log p(x) of one batch with a named estimator, in nats, labelled.

  The one-call form for notebooks and tests: runs the estimator's shared work
  (if any) on this batch's behalf, with the same key split as an evaluation of
  a split (`genlatent.train.evaluation.evaluate_split`), so the two agree.
  """
  chosen = resolve(estimator, model)
  state = None
  if chosen.shares_work(model):
    key, prepare_key = jax.random.split(key)
    state, _ = prepare(chosen, model, params, prepare_key, num_samples, validation_x)
  return chosen.log_likelihood(model, params, state, x, key, num_samples)
