"""Likelihood estimators shared by families."""

from genlatent.estimators.importance import importance_sampled_log_likelihood

__all__ = ["importance_sampled_log_likelihood"]
