"""The RBM as a Linen module: energies, conditionals and Gibbs sampling by name.

A thin face over `energy` and `gibbs` (pure functions of a params dict, which
CD/PCD, AIS and the DBN/DBM use directly): the same params, `apply`-able.

  rbm = RBM(num_hidden=16)                                   # Bernoulli visible units
  params = rbm.init(key, v)["params"]                        # v [B, V] sets V
  f = rbm.apply({"params": params}, v, method="free_energy")    # [B] nats
  v1, mean = rbm.apply({"params": params}, v, key, method="gibbs_step")
"""

from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax

# The functions by name: `genlatent.boltzmann.energy` is also the name of a function there.
from genlatent.boltzmann.energy import (VISIBLE_TYPES, energy, free_energy, hidden_probs,
                                        visible_mean)
from genlatent.boltzmann.gibbs import gibbs_chain, gibbs_step
from genlatent.boltzmann.partition import exact_log_partition


class RBM(nn.Module):
  """An RBM over [V] visible and [H] binary hidden units (`genlatent.boltzmann.energy`).

  Params: weights [V, H] ~ N(0, init_scale²), visible_bias [V], hidden_bias [H],
  and log_sigma [V] (σ = 1 at init) for Gaussian visible units. V is read from
  the data at `init`. Energies are nats; v is [B, V], h is [B, H].
  """

  num_hidden: int
  visible: str = "bernoulli"  # or "gaussian"
  init_scale: float = 0.01

  @nn.compact
  def parameters(self, num_visible: Optional[int] = None) -> dict:
    """The params dict the pure functions of `genlatent.boltzmann` take."""
    if self.visible not in VISIBLE_TYPES:
      raise ValueError(f"Unknown visible type {self.visible!r}. "
                       f"Known: {', '.join(VISIBLE_TYPES)}.")
    if num_visible is None:
      num_visible = self.variables["params"]["visible_bias"].shape[-1]
    params = {
        "weights": self.param("weights", nn.initializers.normal(self.init_scale),
                              (num_visible, self.num_hidden)),
        "visible_bias": self.param("visible_bias", nn.initializers.zeros, (num_visible,)),
        "hidden_bias": self.param("hidden_bias", nn.initializers.zeros, (self.num_hidden,)),
    }
    if self.visible == "gaussian":
      params["log_sigma"] = self.param("log_sigma", nn.initializers.zeros, (num_visible,))
    return params

  def __call__(self, v: jax.Array) -> jax.Array:
    return self.free_energy(v)

  def energy(self, v: jax.Array, h: jax.Array) -> jax.Array:
    """[B] E(v, h), nats."""
    return energy(self.parameters(v.shape[-1]), v, h)

  def free_energy(self, v: jax.Array) -> jax.Array:
    """[B] F(v) = −log Σ_h exp(−E(v, h)), nats; log p(v) = −F(v) − log Z."""
    return free_energy(self.parameters(v.shape[-1]), v)

  def hidden_probs(self, v: jax.Array) -> jax.Array:
    """[B, H] p(h_j = 1 | v)."""
    return hidden_probs(self.parameters(v.shape[-1]), v)

  def visible_probs(self, h: jax.Array) -> jax.Array:
    """[B, V] E[v | h]: p(v_i = 1 | h) for Bernoulli units, the Gaussian mean otherwise."""
    return visible_mean(self.parameters(), h)

  def gibbs_step(self, v: jax.Array, key: jax.Array,
                 index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
    """One block Gibbs sweep v → h → v'. Returns (v' [B, V], E[v' | h] [B, V]).

    With `index` [B], example b's noise depends only on (key, index[b]).
    """
    return gibbs_step(self.parameters(v.shape[-1]), v, key, index)

  def gibbs_chain(self, v: jax.Array, key: jax.Array, num_steps: int,
                  index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
    """`num_steps` Gibbs sweeps from v [B, V]: (the last state, its mean E[v | h])."""
    return gibbs_chain(self.parameters(v.shape[-1]), v, key, num_steps, index)

  def exact_log_partition(self) -> jax.Array:
    """[] log Z by enumeration (≤ 20 units on a summable side), nats."""
    return exact_log_partition(self.parameters())
