"""Multi-layer perceptrons used as encoders and decoders."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh, "softplus": nn.softplus,
               "elu": nn.elu, "gelu": nn.gelu}


def activation(name: str):
  if name not in ACTIVATIONS:
    raise ValueError(f"Unknown activation {name!r}. Known: {', '.join(sorted(ACTIVATIONS))}.")
  return ACTIVATIONS[name]


class MLP(nn.Module):
  """Dense layers with a nonlinearity between them and none after the last.

  Maps [..., D_in] to [..., features[-1]].
  """

  features: Sequence[int]
  activation: str = "relu"

  @nn.compact
  def __call__(self, h: jax.Array) -> jax.Array:
    act = activation(self.activation)
    for i, width in enumerate(self.features):
      h = nn.Dense(width, name=f"dense_{i}")(h)
      if i < len(self.features) - 1:
        h = act(h)
    return h


class GaussianMLPEncoder(nn.Module):
  """q(z|x) = N(mean(x), diag(exp(log_var(x)))) from flattened images.

  Maps x [B, H, W, C] to (mean [B, latent_dim], log_var [B, latent_dim]).
  """

  hidden: Sequence[int]
  latent_dim: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, x: jax.Array):
    h = x.reshape(x.shape[0], -1)
    if self.hidden:  # no hidden layers: a linear map, as in probabilistic PCA
      h = activation(self.activation)(MLP(self.hidden, self.activation, name="trunk")(h))
    out = nn.Dense(2 * self.latent_dim, name="head")(h)
    mean, log_var = jnp.split(out, 2, axis=-1)
    return mean, log_var


class MLPDecoder(nn.Module):
  """Maps z [..., latent_dim] to per-pixel parameters [..., H, W, C] (e.g. Bernoulli logits)."""

  hidden: Sequence[int]
  out_shape: Sequence[int]
  activation: str = "relu"

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    size = 1
    for d in self.out_shape:
      size *= d
    h = MLP(tuple(self.hidden) + (size,), self.activation, name="mlp")(z)
    return h.reshape(z.shape[:-1] + tuple(self.out_shape))


class GaussianMLP(nn.Module):
  """[..., D_in] -> (mean [..., out_dim], log_var [..., out_dim]) through an MLP trunk.

  Used for the conditionals of deeper stochastic layers, q(z2|z1) and p(z1|z2).
  """

  hidden: Sequence[int]
  out_dim: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, h: jax.Array):
    if self.hidden:
      h = activation(self.activation)(MLP(self.hidden, self.activation, name="trunk")(h))
    mean, log_var = jnp.split(nn.Dense(2 * self.out_dim, name="head")(h), 2, axis=-1)
    return mean, log_var
