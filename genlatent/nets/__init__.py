"""Encoders, decoders and discriminators as Flax Linen modules, built from config."""

from genlatent.nets.code_encoder import CodeEncoder
from genlatent.nets.conv import ConvDecoder, ConvTrunk, GaussianConvEncoder
from genlatent.nets.discriminator import Discriminator
from genlatent.nets.mlp import MLP, GaussianMLP, GaussianMLPEncoder, MLPDecoder

NET_TYPES = ("mlp", "conv")


def build_gaussian_encoder(config, latent_dim: int):
  """q(z|x) network from `config.encoder_type` (mlp | conv) and its sizes."""
  kind = config.encoder_type
  if kind == "mlp":
    return GaussianMLPEncoder(tuple(config.encoder_hidden), latent_dim, config.activation)
  if kind == "conv":
    return GaussianConvEncoder(latent_dim, tuple(config.conv_features), config.conv_dense,
                               config.activation)
  raise ValueError(f"Unknown encoder_type {kind!r}. Known: {', '.join(NET_TYPES)}.")


def build_decoder(config, out_shape):
  """z -> [..., *out_shape] network from `config.decoder_type` (mlp | conv)."""
  kind = config.decoder_type
  if kind == "mlp":
    return MLPDecoder(tuple(config.decoder_hidden), tuple(out_shape), config.activation)
  if kind == "conv":
    if len(out_shape) != 3:
      raise ValueError(f"A conv decoder needs [H, W, C] data, got shape {tuple(out_shape)}.")
    features = tuple(config.conv_features)[::-1]
    return ConvDecoder(tuple(out_shape), features, config.conv_dense, config.activation)
  raise ValueError(f"Unknown decoder_type {kind!r}. Known: {', '.join(NET_TYPES)}.")


__all__ = ["MLP", "CodeEncoder", "ConvDecoder", "ConvTrunk", "GaussianConvEncoder", "GaussianMLP", "GaussianMLPEncoder",
           "MLPDecoder", "build_decoder", "build_gaussian_encoder", "Discriminator"]
