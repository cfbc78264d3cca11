"""Model families, each registered by name in `MODELS`."""

from genlatent.core import MODELS, Model
from genlatent.models import vae  # registers
from genlatent.models import gmm  # registers
from genlatent.models import bernoulli_mixture  # registers
from genlatent.models import rbm  # registers
from genlatent.models import dbn  # registers
from genlatent.models import dbm  # registers
from genlatent.models import aae  # registers
from genlatent.models import ae  # registers


def build_model(config, data_shape) -> Model:
  """The model named `config.name`, built for data of shape `data_shape` (H, W, C)."""
  return MODELS.get(config.name)(config, data_shape)


__all__ = ["MODELS", "build_model"]
