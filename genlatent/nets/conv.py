"""Convolutional encoders and decoders for [B, H, W, C] images of any size."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlatent.nets.mlp import activation


class ConvTrunk(nn.Module):
  """Stride-2 3×3 convolutions then a dense layer: [B, H, W, C] -> [B, dense]."""

  features: Sequence[int] = (32, 64)
  dense: int = 256
  activation: str = "relu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    act = activation(self.activation)
    h = x
    for i, f in enumerate(self.features):
      h = act(nn.Conv(f, (3, 3), strides=(2, 2), padding="SAME", name=f"conv_{i}")(h))
    h = h.reshape(h.shape[0], -1)
    return act(nn.Dense(self.dense, name="dense")(h))


class GaussianConvEncoder(nn.Module):
  """q(z|x) = N(mean, diag exp(log_var)): x [B, H, W, C] -> ([B, latent], [B, latent])."""

  latent_dim: int
  features: Sequence[int] = (32, 64)
  dense: int = 256
  activation: str = "relu"

  @nn.compact
  def __call__(self, x):
    h = ConvTrunk(self.features, self.dense, self.activation, name="trunk")(x)
    mean, log_var = jnp.split(nn.Dense(2 * self.latent_dim, name="head")(h), 2, axis=-1)
    return mean, log_var


class ConvDecoder(nn.Module):
  """z [..., latent] -> [..., H, W, out_channels] through transposed stride-2 convolutions.

  Starts from a ceil(H/2^L) × ceil(W/2^L) map and crops the upsampled result to
  H × W, so odd sizes (e.g. 28 → 7 → 14 → 28, or 5 → 2 → 4 → 8 → crop 5) work.
  """

  out_shape: Sequence[int]  # (H, W, out_channels)
  features: Sequence[int] = (64, 32)
  dense: int = 256
  activation: str = "relu"

  @nn.compact
  def __call__(self, z):
    act = activation(self.activation)
    height, width, channels = self.out_shape
    factor = 2 ** len(self.features)
    h0, w0 = -(-height // factor), -(-width // factor)
    lead = z.shape[:-1]
    h = z.reshape((-1, z.shape[-1]))
    h = act(nn.Dense(self.dense, name="dense")(h))
    h = act(nn.Dense(h0 * w0 * self.features[0], name="project")(h))
    h = h.reshape((-1, h0, w0, self.features[0]))
    for i, f in enumerate(self.features):
      h = nn.ConvTranspose(f, (3, 3), strides=(2, 2), padding="SAME", name=f"deconv_{i}")(h)
      h = act(h)
    h = nn.Conv(channels, (3, 3), padding="SAME", name="out")(h)
    return h[:, :height, :width, :].reshape(lead + (height, width, channels))
