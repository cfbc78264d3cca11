"""RBM energies, in nats: Bernoulli–Bernoulli and Gaussian–Bernoulli units.

Visible units v [B, V] (images flattened), binary hidden units h [B, H], and
params {weights [V, H], visible_bias b [V], hidden_bias c [H]}, plus log_sigma
[V] for Gaussian visible units:

  Bernoulli:  E(v, h) = −v·b − h·c − vᵀWh
  Gaussian:   E(v, h) = Σ_i (v_i − b_i)² / 2σ_i² − h·c − (v/σ²)ᵀWh   (Cho et al., 2011)

so that p(h_j = 1 | v) = σ(c_j + Σ_i (v_i/σ_i²) W_ij) (σ_i = 1 for Bernoulli),
p(v_i = 1 | h) = σ(b_i + (Wh)_i) or p(v_i | h) = N(b_i + (Wh)_i, σ_i²). The free
energy F(v) = −log Σ_h exp(−E(v, h)) is closed form; log p(v) = −F(v) − log Z.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

LOG_2 = math.log(2.0)
LOG_2PI = math.log(2.0 * math.pi)
VISIBLE_TYPES = ("bernoulli", "gaussian")


# ----------------------------------------------------------------------------- params


def init_params(key: jax.Array, num_visible: int, num_hidden: int, *,
                visible: str = "bernoulli", init_scale: float = 0.01) -> dict:
  """Small random weights, zero biases (and σ = 1 for Gaussian visible units).

  Returns:
    {weights [V, H] ~ N(0, init_scale²), visible_bias [V], hidden_bias [H]}, plus
    log_sigma [V] = 0 when `visible` is 'gaussian'.
  """
  if visible not in VISIBLE_TYPES:
    raise ValueError(f"Unknown visible type {visible!r}. Known: {', '.join(VISIBLE_TYPES)}.")
  params = {
      "weights": init_scale * jax.random.normal(key, (num_visible, num_hidden), jnp.float32),
      "visible_bias": jnp.zeros((num_visible,), jnp.float32),
      "hidden_bias": jnp.zeros((num_hidden,), jnp.float32),
  }
  if visible == "gaussian":
    params["log_sigma"] = jnp.zeros((num_visible,), jnp.float32)
  return params


def is_gaussian(params: dict) -> bool:
  """Whether `params` describe Gaussian visible units (they carry log_sigma)."""
  return "log_sigma" in params


def num_units(params: dict) -> tuple[int, int]:
  """(V, H)."""
  return tuple(int(d) for d in params["weights"].shape)


# ----------------------------------------------------------------------------- energies


def hidden_input(params: dict, v: jax.Array) -> jax.Array:
  """[B, H] c + (v/σ²)W: the logits of p(h = 1 | v)."""
  if is_gaussian(params):
    v = v * jnp.exp(-2.0 * params["log_sigma"])
  return params["hidden_bias"] + v @ params["weights"]


def visible_input(params: dict, h: jax.Array) -> jax.Array:
  """[B, V] b + Wh: the logits of p(v = 1 | h), or the mean of the Gaussian p(v | h)."""
  return params["visible_bias"] + h @ params["weights"].T


def visible_term(params: dict, v: jax.Array) -> jax.Array:
  """[B] the part of −E(v, h) without h: v·b, or −Σ (v − b)² / 2σ²."""
  if is_gaussian(params):
    return -0.5 * jnp.sum(((v - params["visible_bias"]) * jnp.exp(-params["log_sigma"])) ** 2,
                          axis=-1)
  return v @ params["visible_bias"]


def energy(params: dict, v: jax.Array, h: jax.Array) -> jax.Array:
  """[B] E(v, h), nats."""
  return -visible_term(params, v) - jnp.sum(h * hidden_input(params, v), axis=-1)


def free_energy(params: dict, v: jax.Array) -> jax.Array:
  """[B] F(v) = −log Σ_h exp(−E(v, h)) = −visible_term(v) − Σ_j softplus(c + (v/σ²)W)_j."""
  return -visible_term(params, v) - jnp.sum(jax.nn.softplus(hidden_input(params, v)), axis=-1)


def hidden_free_energy(params: dict, h: jax.Array) -> jax.Array:
  """[B] −log Σ_v exp(−E(v, h)) (an integral for Gaussian v), h summed over nothing.

  Bernoulli: −h·c − Σ_i softplus(b + Wh)_i. Gaussian: −h·c − Σ_i [((b + Wh)_i² − b_i²)
  / 2σ_i² + ½ log 2πσ_i²], completing the square.
  """
  a = visible_input(params, h)
  if is_gaussian(params):
    var = jnp.exp(2.0 * params["log_sigma"])
    b = params["visible_bias"]
    per_unit = (a ** 2 - b ** 2) / (2.0 * var) + 0.5 * (LOG_2PI + 2.0 * params["log_sigma"])
  else:
    per_unit = jax.nn.softplus(a)
  return -h @ params["hidden_bias"] - jnp.sum(per_unit, axis=-1)


def hidden_probs(params: dict, v: jax.Array) -> jax.Array:
  """[B, H] p(h_j = 1 | v)."""
  return jax.nn.sigmoid(hidden_input(params, v))


def visible_mean(params: dict, h: jax.Array) -> jax.Array:
  """[B, V] E[v | h]: σ(b + Wh) for Bernoulli, b + Wh for Gaussian units."""
  a = visible_input(params, h)
  return a if is_gaussian(params) else jax.nn.sigmoid(a)
