"""Likelihood estimators shared by families."""

from genlatent.estimators.ais import AISResult, annealed_importance_sampling, beta_schedule
from genlatent.estimators.importance import importance_sampled_log_likelihood
from genlatent.estimators.parzen import (ParzenWindow, fit_parzen_window, parzen_log_likelihood,
                                         parzen_summary)

__all__ = ["AISResult", "annealed_importance_sampling", "beta_schedule",
           "importance_sampled_log_likelihood", "ParzenWindow", "fit_parzen_window",
           "parzen_log_likelihood", "parzen_summary"]
