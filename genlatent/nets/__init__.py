"""Encoders, decoders and discriminators as Flax Linen modules."""

from genlatent.nets.mlp import MLP, GaussianMLPEncoder, MLPDecoder

__all__ = ["MLP", "GaussianMLPEncoder", "MLPDecoder"]
