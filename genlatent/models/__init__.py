"""Model families, each registered by name in `MODELS`, and their densities as Linen
modules usable on their own (`init`/`apply`, no trainer)."""

from genlatent.boltzmann import RBM
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


from genlatent.models.bernoulli_mixture import BernoulliMixture
from genlatent.models.dbm import DBM
from genlatent.models.dbn import DBN
from genlatent.models.gmm import GaussianMixture
from genlatent.models.vae import VAE

__all__ = ["MODELS", "build_model", "BernoulliMixture", "DBM", "DBN", "GaussianMixture", "RBM",
           "VAE"]
