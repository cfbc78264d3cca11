"""The contract every family keeps, the registries, and shared numerics."""

from genlatent.core.likelihood import (Kind, LogLikelihood, Summary, concatenate,
                                       paired_difference, summarize)
from genlatent.core.model import Batch, Model, TrainState
from genlatent.core.registry import Registry, UnknownNameError

MODELS: Registry = Registry("model")
PRIORS: Registry = Registry("prior")
DATA_SOURCES: Registry = Registry("data source")

__all__ = [
    "Batch", "DATA_SOURCES", "Kind", "LogLikelihood", "MODELS", "Model", "PRIORS",
    "Registry", "Summary", "TrainState", "UnknownNameError", "concatenate",
    "paired_difference", "summarize",
]
