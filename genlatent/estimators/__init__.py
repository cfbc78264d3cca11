"""Likelihood estimators shared by families."""

from genlatent.estimators.ais import AISResult, annealed_importance_sampling, beta_schedule
from genlatent.estimators.importance import importance_sampled_log_likelihood

__all__ = ["AISResult", "annealed_importance_sampling", "beta_schedule",
           "importance_sampled_log_likelihood"]
