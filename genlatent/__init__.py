"""genlatent: generative latent-variable models in JAX on one likelihood scale."""

__version__ = "0.1.0"
