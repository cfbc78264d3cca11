"""The adversarial auto-encoder's encoder: a deterministic, Gaussian or universal posterior."""

from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlatent.nets.conv import ConvTrunk
from genlatent.nets.mlp import MLP
from genlatent.nets.mlp import activation as activation_fn


class CodeEncoder(nn.Module):
  """x [B, ...] (and noise η [B, noise_dim] for a universal posterior) -> outputs.

  Returns a dict: `mean` [B, latent_dim] (z itself unless Gaussian), `log_var`
  [B, latent_dim] for a Gaussian posterior, `logits` [B, num_classes] for the
  clustering variant's categorical head. The trunk is an MLP on flattened x or
  convolutions (`encoder_type`); η enters with x (MLP) or after the
  convolutions through one more dense layer (conv).
  """

  posterior: str
  latent_dim: int
  encoder_type: str = "mlp"
  hidden: Sequence[int] = (1000, 1000)
  conv_features: Sequence[int] = (32, 64)
  conv_dense: int = 256
  activation: str = "relu"
  num_classes: int = 0

  @nn.compact
  def __call__(self, x: jax.Array, noise: Optional[jax.Array] = None) -> dict:
    act = activation_fn(self.activation)
    if self.encoder_type == "conv":
      h = ConvTrunk(tuple(self.conv_features), self.conv_dense, self.activation,
                         name="trunk")(x)
      if noise is not None:
        h = act(nn.Dense(self.conv_dense, name="noise_dense")(jnp.concatenate([h, noise], -1)))
    elif self.encoder_type == "mlp":
      h = x.reshape(x.shape[0], -1)
      if noise is not None:
        h = jnp.concatenate([h, noise], axis=-1)
      if self.hidden:
        h = act(MLP(tuple(self.hidden), self.activation, name="trunk")(h))
    else:
      raise ValueError(f"Unknown encoder_type {self.encoder_type!r}. Known: mlp, conv.")
    out = {}
    if self.posterior == "gaussian":
      out["mean"], out["log_var"] = jnp.split(nn.Dense(2 * self.latent_dim, name="head")(h), 2, -1)
    else:
      out["mean"] = nn.Dense(self.latent_dim, name="head")(h)
    if self.num_classes:
      out["logits"] = nn.Dense(self.num_classes, name="class_head")(h)
    return out
