"""Discriminators on codes: an MLP from z (and optionally a condition) to one logit."""

from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlatent.nets.mlp import MLP


class Discriminator(nn.Module):
  """D(z[, c]) -> logit of "z came from the prior" (not from the encoder).

  Maps z [B, d] (and a condition c [B, m], e.g. a one-hot label, concatenated to
  z) to logits [B]; σ(logit) is the probability of the prior. Dense layers of
  `hidden` widths with `activation` between them, a linear last layer.
  """

  hidden: Sequence[int] = (1000, 1000)
  activation: str = "relu"

  @nn.compact
  def __call__(self, z: jax.Array, condition: Optional[jax.Array] = None) -> jax.Array:
    h = z if condition is None else jnp.concatenate([z, condition.astype(z.dtype)], axis=-1)
    return MLP(tuple(self.hidden) + (1,), self.activation, name="mlp")(h)[..., 0]
