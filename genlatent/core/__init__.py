"""The contract every family keeps, the registries, and shared numerics."""

from genlatent.core.likelihood import (Kind, LogLikelihood, Summary, concatenate,
                                       paired_difference, summarize)
from genlatent.core.estimator import Estimator
from genlatent.core.model import (Batch, Boltzmann, Densities, LatentVariable, Model,
                                  TrainState)
from genlatent.core.registry import Registry, UnknownNameError

MODELS: Registry = Registry("model")
PRIORS: Registry = Registry("prior")
DATA_SOURCES: Registry = Registry("data source")
ESTIMATORS: Registry = Registry("estimator")

__all__ = [
    "Batch", "Boltzmann", "DATA_SOURCES", "Densities", "ESTIMATORS", "Estimator", "Kind",
    "LatentVariable", "LogLikelihood", "MODELS", "Model", "PRIORS",
    "Registry", "Summary", "TrainState", "UnknownNameError", "concatenate",
    "paired_difference", "summarize",
]
