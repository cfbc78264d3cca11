"""Likelihood estimators, registered by name in `genlatent.core.ESTIMATORS`.

Each module registers one estimator that serves every family exposing what it
needs (`Model.densities`): `exact`, `elbo`, `importance`, `ais` (annealed.py), `raise` (raise_ais.py), `parzen`.
"""

from genlatent.estimators import annealed, elbo, exact, importance, parzen, raise_ais  # register
from genlatent.estimators.ais import AISResult, annealed_importance_sampling, beta_schedule
from genlatent.estimators.base import (UnsupportedEstimatorError, log_likelihood, prepare,
                                       resolve, supported)
from genlatent.estimators.importance import importance_sampled_log_likelihood
from genlatent.estimators.parzen import (ParzenWindow, fit_parzen_window, parzen_log_likelihood,
                                         parzen_summary)

# Estimators whose cost per example is a whole annealing run: evaluations may
# limit them to a split's first N examples (eval.annealed_examples).
ANNEALED = ("ais", "raise")

__all__ = ["ANNEALED", "AISResult", "ParzenWindow", "UnsupportedEstimatorError",
           "annealed_importance_sampling", "beta_schedule", "fit_parzen_window",
           "importance_sampled_log_likelihood", "log_likelihood", "parzen_log_likelihood",
           "parzen_summary", "prepare", "resolve", "supported"]
