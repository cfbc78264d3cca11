"""Restricted Boltzmann machines: Bernoulli–Bernoulli and Gaussian–Bernoulli.

Visible units v [B, V] (images flattened), binary hidden units h [B, H], and
params {weights [V, H], visible_bias b [V], hidden_bias c [H]}, plus log_sigma
[V] for Gaussian visible units. Energies, in nats:

  Bernoulli:  E(v, h) = −v·b − h·c − vᵀWh
  Gaussian:   E(v, h) = Σ_i (v_i − b_i)² / 2σ_i² − h·c − (v/σ²)ᵀWh   (Cho et al., 2011)

so that p(h_j = 1 | v) = σ(c_j + Σ_i (v_i/σ_i²) W_ij) (σ_i = 1 for Bernoulli),
p(v_i = 1 | h) = σ(b_i + (Wh)_i) or p(v_i | h) = N(b_i + (Wh)_i, σ_i²). The free
energy F(v) = −log Σ_h exp(−E(v, h)) is closed form, log p(v) = −F(v) − log Z,
and log Z, a property of the params, is estimated by annealed importance
sampling (`genlatent.estimators.ais`) or, for at most 20 units on one side,
computed exactly by enumeration.

Training is contrastive divergence: CD-k starts k steps of block Gibbs sampling
at the data; persistent CD (PCD, Tieleman 2008) keeps M chains in the training
state (`TrainState.extra['chains']`), so they are checkpointed and a resumed run
continues them exactly. The gradient of −log p(v) is estimated as
∇[F(v_data) − F(v_model)] with v_model held fixed, by autodiff of the free
energy: exact for both visible types and for any reparametrised view (the tied
weights of a DBM's pretraining RBMs).

The module's functions are shared with `dbn.py` and `dbm.py`; the family
registered as 'rbm' is `build_rbm`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genlatent.core import MODELS, Boltzmann, Densities, Model, TrainState
from genlatent.core import rng
from genlatent.estimators import ais as ais_lib

LOG_2 = math.log(2.0)
LOG_2PI = math.log(2.0 * math.pi)
VISIBLE_TYPES = ("bernoulli", "gaussian")
TRAINING = ("cd", "pcd")


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


# ----------------------------------------------------------------------------- sampling


def uniform_noise(key: jax.Array, index: Optional[jax.Array], shape: tuple) -> jax.Array:
  """[B, n] U[0, 1): row i a function of (key, index[i]) when `index` [B] is given.

  Per-example rows keep training independent of how a batch is split over
  devices (`genlatent.core.rng`); without `index`, one draw of the whole array.
  """
  if index is None:
    return jax.random.uniform(key, shape)
  return rng.example_uniform(key, index, tuple(shape[1:]))


def normal_noise(key: jax.Array, index: Optional[jax.Array], shape: tuple) -> jax.Array:
  """[B, n] N(0, 1), per example when `index` is given (see `uniform_noise`)."""
  if index is None:
    return jax.random.normal(key, shape)
  return rng.example_normal(key, index, tuple(shape[1:]))


def bernoulli(probs: jax.Array, key: jax.Array, index: Optional[jax.Array] = None) -> jax.Array:
  """Binary float32 draws with P(1) = probs [B, n]."""
  return (uniform_noise(key, index, probs.shape) < probs).astype(jnp.float32)


def sample_hidden(params: dict, v: jax.Array, key: jax.Array,
                  index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """(h ~ p(h | v) [B, H] binary, p(h = 1 | v) [B, H])."""
  probs = hidden_probs(params, v)
  return bernoulli(probs, key, index), probs


def sample_visible(params: dict, h: jax.Array, key: jax.Array,
                   index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """(v ~ p(v | h) [B, V], E[v | h] [B, V])."""
  mean = visible_mean(params, h)
  if is_gaussian(params):
    return mean + jnp.exp(params["log_sigma"]) * normal_noise(key, index, mean.shape), mean
  return bernoulli(mean, key, index), mean


def gibbs_step(params: dict, v: jax.Array, key: jax.Array,
               index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """One block Gibbs sweep v → h → v'. Returns (v' [B, V], E[v' | h] [B, V])."""
  key_h, key_v = jax.random.split(key)
  h, _ = sample_hidden(params, v, key_h, index)
  return sample_visible(params, h, key_v, index)


def gibbs_chain(params: dict, v: jax.Array, key: jax.Array, num_steps: int,
                index: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """`num_steps` ≥ 1 Gibbs sweeps from v [B, V]; sweep t draws from `fold_in(key, t)`.

  Returns:
    (the last state [B, V], its mean E[v | h] [B, V]).
  """
  if num_steps < 1:
    raise ValueError(f"A Gibbs chain needs at least one step; got {num_steps}.")

  def body(carry, t):
    state, _ = carry
    return gibbs_step(params, state, jax.random.fold_in(key, t), index), None

  init = (v, jnp.zeros_like(v))
  (v, mean), _ = jax.lax.scan(body, init, jnp.arange(num_steps, dtype=jnp.uint32))
  return v, mean


def gibbs_snapshots(params: dict, v: jax.Array, key: jax.Array,
                    steps: tuple[int, ...]) -> jax.Array:
  """E[v | h] of chains started at v [n, V], recorded after each of `steps` sweeps.

  Args:
    steps: increasing sweep counts ≥ 1, e.g. (1, 10, 100, 1000).
  Returns:
    [len(steps), n, V].
  """
  steps = tuple(int(s) for s in steps)
  if not steps or steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:])):
    raise ValueError(f"steps must be increasing and ≥ 1; got {steps}.")
  keep = np.zeros((steps[-1],), bool)
  keep[np.asarray(steps) - 1] = True

  def body(state, t):
    state, mean = gibbs_step(params, state, jax.random.fold_in(key, t))
    return state, mean

  _, means = jax.lax.scan(body, v, jnp.arange(steps[-1], dtype=jnp.uint32))
  return means[np.flatnonzero(keep)]


def base_samples(params: dict, base_visible_bias: jax.Array, key: jax.Array,
                 n: int) -> jax.Array:
  """[n, V] exact samples of the base-rate model (W = 0, visible bias = base)."""
  mean = base_visible_bias[None, :] * jnp.ones((n, 1), jnp.float32)
  if is_gaussian(params):
    return mean + jnp.exp(params["log_sigma"]) * jax.random.normal(key, mean.shape)
  return bernoulli(jax.nn.sigmoid(mean), key)


# ----------------------------------------------------------------------------- training


def contrastive_divergence(params, v0: jax.Array, key: jax.Array, index: jax.Array, *,
                           num_gibbs: int = 1, chains: Optional[jax.Array] = None,
                           view: Optional[Callable] = None,
                           axis_name: Optional[str] = None):
  """A CD-k (or PCD-k) estimate of the gradient of −log p(v), averaged over the batch.

  Args:
    params: the trainable params pytree.
    v0: [B, V] data, in the visible space of `view(params)`.
    key: the step's key. Data-started chains draw per example (`index`);
      persistent chains per chain (their row number), so the result does not
      depend on how the batch is split over devices.
    index: [B] the examples' rows in their split.
    num_gibbs: k ≥ 1 Gibbs sweeps.
    chains: None for CD-k (chains start at the data), or [M, V] persistent
      chains (PCD-k), replicated on every device.
    view: params -> RBM params dict, e.g. a tied-weight doubled RBM; identity
      when None. Gradients flow through it.
    axis_name: the `pmap` axis to sum over, or None under one global jit.
  Returns:
    grads: like params, ∇[mean F(v_data) − mean F(v_model)].
    chains: the advanced persistent chains [M, V], or None for CD.
    sums: {'count', 'reconstruction_error', 'free_energy'} summed over the
      examples of all devices: Σ ‖v0 − E[v | h0]‖², Σ F(v0).
  """
  view = view or (lambda p: p)
  model = view(params)
  key_pos, key_chain = jax.random.split(key)
  h0, _ = sample_hidden(model, v0, key_pos, index)
  v1_mean = visible_mean(model, h0)
  reconstruction = jnp.sum((v0 - v1_mean) ** 2, axis=-1)
  if chains is None:
    if is_gaussian(model):
      noise = normal_noise(jax.random.fold_in(key_chain, 0), index, v1_mean.shape)
      v_model = v1_mean + jnp.exp(model["log_sigma"]) * noise
    else:
      v_model = bernoulli(v1_mean, jax.random.fold_in(key_chain, 0), index)
    if num_gibbs > 1:
      v_model, _ = gibbs_chain(model, v_model, jax.random.fold_in(key_chain, 1),
                               num_gibbs - 1, index)
  else:
    chain_index = jnp.arange(chains.shape[0], dtype=jnp.int32)
    v_model, _ = gibbs_chain(model, chains, jax.random.fold_in(key_chain, 2), num_gibbs,
                             chain_index)
  v_model = jax.lax.stop_gradient(v_model)
  count = jnp.asarray(v0.shape[0], jnp.float32)
  num_devices = 1.0
  if axis_name is not None:
    count = jax.lax.psum(count, axis_name)
    num_devices = jax.lax.psum(1.0, axis_name)

  def surrogate(p):
    m = view(p)
    data_term = jnp.sum(free_energy(m, v0)) / count
    if chains is None:
      model_term = jnp.sum(free_energy(m, v_model)) / count
    else:  # the same chains on every device: their mean counts once in the psum
      model_term = jnp.mean(free_energy(m, v_model)) / num_devices
    return data_term - model_term

  grads = jax.grad(surrogate)(params)
  sums = {"count": count, "reconstruction_error": jnp.sum(reconstruction),
          "free_energy": jnp.sum(free_energy(model, v0))}
  if axis_name is not None:  # `count` is already global
    grads = jax.lax.psum(grads, axis_name)
    sums = {k: v if k == "count" else jax.lax.psum(v, axis_name) for k, v in sums.items()}
  return grads, (v_model if chains is not None else None), sums


def training_phase(step: jax.Array, phase_steps: tuple[int, ...]) -> jax.Array:
  """Index of the phase `step` falls in, phases lasting `phase_steps` updates each.

  Steps past the last boundary stay in the last phase. Greedy layer-wise
  training (DBN, DBM pretraining) runs inside the common trainer this way: one
  `update` that `lax.switch`es on the phase, so one run, one checkpoint format.
  """
  ends = jnp.asarray(np.cumsum(phase_steps), jnp.int32)
  return jnp.minimum(jnp.searchsorted(ends, step, side="right"), len(phase_steps) - 1)


def update_base_rate(rate: jax.Array, v: jax.Array, decay: float = 0.99,
                     axis_name: Optional[str] = None) -> jax.Array:
  """[n] running mean of binary units v [B, n]: the base rates of a layer's input.

  Used for the AIS base model of an RBM whose data are another RBM's hidden
  samples (a DBN's upper layers), which exist only during training.
  """
  batch_mean = jnp.mean(v, axis=0)
  if axis_name is not None:
    batch_mean = jax.lax.pmean(batch_mean, axis_name)
  return decay * rate + (1.0 - decay) * batch_mean


def rate_logits(rate: jax.Array, floor: float = 1e-5) -> jax.Array:
  """logit of rates clipped to [floor, 1 − floor]."""
  rate = jnp.clip(rate, floor, 1.0 - floor)
  return jnp.log(rate) - jnp.log1p(-rate)


def pseudo_log_likelihood(params: dict, v: jax.Array, key: jax.Array,
                          index: Optional[jax.Array] = None) -> jax.Array:
  """[B] stochastic pseudo-log-likelihood of binary v, nats per example.

  V · log σ(F(ṽ) − F(v)), ṽ = v with one uniformly chosen unit flipped: an
  unbiased estimate of Σ_i log p(v_i | v_−i) (as scikit-learn's `score_samples`).
  """
  num_visible = v.shape[-1]
  unit = jnp.floor(uniform_noise(key, index, (v.shape[0], 1))[:, 0] * num_visible)
  unit = jnp.minimum(unit.astype(jnp.int32), num_visible - 1)
  sign = 1.0 - 2.0 * jnp.take_along_axis(v, unit[:, None], axis=1)  # +1 turns a unit on
  # Flipping unit i moves the hidden input by ±W[i] and v·b by ±b_i: no second
  # [B, V]×[V, H] product.
  x = hidden_input(params, v)
  x_flipped = x + sign * params["weights"][unit]
  neg_f = v @ params["visible_bias"] + jnp.sum(jax.nn.softplus(x), axis=-1)
  neg_f_flipped = (neg_f + sign[:, 0] * params["visible_bias"][unit]
                   + jnp.sum(jax.nn.softplus(x_flipped) - jax.nn.softplus(x), axis=-1))
  return num_visible * jax.nn.log_sigmoid(neg_f - neg_f_flipped)


def make_optimizer(config) -> optax.GradientTransformation:
  """An optax transformation for CD gradients from `model.optimizer` fields.

  Fields: name (sgd | adam), learning_rate, momentum (sgd; 0 for none),
  weight_decay (L2 on weight matrices only, not biases), decay_steps (> 0:
  learning rate decays linearly to 0 over that many updates, as Tieleman's PCD).
  """
  name = config.get("name", "sgd")
  learning_rate = config.learning_rate
  if config.get("decay_steps", 0):
    learning_rate = optax.linear_schedule(learning_rate, 0.0, int(config.decay_steps))
  if name == "sgd":
    tx = optax.sgd(learning_rate, momentum=config.get("momentum", 0.0) or None)
  elif name == "adam":
    tx = optax.adam(learning_rate)
  else:
    raise ValueError(f"Unknown RBM optimizer {name!r}. Known: sgd, adam.")
  if config.get("weight_decay", 0.0):
    matrices = lambda p: jax.tree.map(lambda a: a.ndim >= 2, p)
    tx = optax.chain(optax.add_decayed_weights(config.weight_decay, mask=matrices), tx)
  return tx


def apply_gradients(tx, params: dict, grads: dict, opt_state):
  """(params with the updated entries of `grads` merged in, new opt_state)."""
  trainable = {k: params[k] for k in grads}
  updates, opt_state = tx.update(grads, opt_state, trainable)
  return dict(params, **optax.apply_updates(trainable, updates)), opt_state


def base_rate_logits(x: np.ndarray) -> np.ndarray:
  """[V] logit of each unit's smoothed mean (Σx + 1)/(N + 2) over data x [N, V] in [0, 1].

  The visible biases of the base-rate model (Salakhutdinov & Murray, 2008) and
  the usual initial visible biases (Hinton, 2010); smoothing keeps units that
  are always 0 (or 1) finite.
  """
  x = np.asarray(x, np.float64).reshape(x.shape[0], -1)
  p = (x.sum(axis=0) + 1.0) / (x.shape[0] + 2.0)
  return np.log(p / (1.0 - p)).astype(np.float32)


def initial_chains(key: jax.Array, x: np.ndarray, num_chains: int,
                   binary: bool = True) -> jax.Array:
  """[M, V] persistent chains started at random training rows (sampled if binary).

  Under dynamic binarization the rows hold Bernoulli probabilities, so binary
  chains are drawn from them.
  """
  key_rows, key_bits = jax.random.split(key)
  x = np.asarray(x).reshape(x.shape[0], -1)
  rows = np.asarray(jax.random.choice(key_rows, x.shape[0], (num_chains,),
                                      replace=num_chains > x.shape[0]))
  start = jnp.asarray(x[rows], jnp.float32)
  return bernoulli(start, key_bits) if binary else start


# ----------------------------------------------------------------------------- log Z


def exact_log_partition_supported(params: dict) -> bool:
  """Whether `exact_log_partition` can enumerate this RBM (≤ 20 units on a summable side)."""
  v, h = num_units(params)
  return h <= ais_lib.MAX_ENUMERATION_BITS or (
      not is_gaussian(params) and v <= ais_lib.MAX_ENUMERATION_BITS)


def exact_log_partition(params: dict) -> jax.Array:
  """log Z exactly, enumerating the hidden (or, for Bernoulli, visible) side if ≤ 20 units."""
  v, h = num_units(params)
  sides = [(h, "hidden")] if h <= ais_lib.MAX_ENUMERATION_BITS else []
  if not is_gaussian(params) and v <= ais_lib.MAX_ENUMERATION_BITS:
    sides.append((v, "visible"))  # Gaussian visible units are integrated, not enumerated
  if sides and min(sides)[1] == "hidden":
    return ais_lib.log_sum_over_binary_states(lambda s: -hidden_free_energy(params, s), h)
  if sides:
    return ais_lib.log_sum_over_binary_states(lambda s: -free_energy(params, s), v)
  raise ValueError(f"log Z of an RBM with {v} visible and {h} hidden units cannot be "
                   f"enumerated (limit {ais_lib.MAX_ENUMERATION_BITS} units on the summed "
                   "side); use AIS.")


def ais_log_partition(params: dict, base_visible_bias: jax.Array, key: jax.Array,
                      num_chains: int, schedule="classic", unroll: int = 1) -> ais_lib.AISResult:
  """AIS estimate of log Z from the base-rate model (Salakhutdinov & Murray, 2008).

  The base model A has W = 0, hidden bias 0, visible bias `base_visible_bias`
  (the data's base-rate logits, or mean for Gaussian units) and the target's σ.
  Intermediate distributions scale the target's energy by β and the base's by
  1 − β on the joint (v, h), so after summing h out

    f_β(v) = (1 − β)·vis_A(v) + β·vis_B(v) + Σ_j softplus(β (c + (v/σ²)W)_j),

  with f_0 = base (times 2^H, in log Z_A) and f_1 = −F_B. The transition is one
  Gibbs sweep of the tempered RBM: h ~ σ(β(c + (v/σ²)W)), then v from visible
  input (1 − β)·b_A + β·(b + Wh). One step costs two [M, V]×[V, H] products;
  the weight increment reuses the first.

  Args:
    params: RBM params (extra entries are ignored).
    base_visible_bias: [V].
    num_chains: M, run in parallel.
    schedule: a `beta_schedule` spec; 'classic' is 14,500 steps.
  Returns:
    `AISResult` (log Ẑ, its delta-method stderr, the ±3σ bracket, ESS).
  """
  params = {k: params[k] for k in ("weights", "visible_bias", "hidden_bias", "log_sigma")
            if k in params}
  gaussian = is_gaussian(params)
  _, num_hidden = num_units(params)
  base = dict(params, visible_bias=base_visible_bias)
  if gaussian:
    log_z_base = jnp.sum(0.5 * (LOG_2PI + 2.0 * params["log_sigma"])) + num_hidden * LOG_2
  else:
    log_z_base = jnp.sum(jax.nn.softplus(base_visible_bias)) + num_hidden * LOG_2
  visible_difference = lambda v: visible_term(params, v) - visible_term(base, v)

  def step(v, beta_prev, beta, key):
    x = hidden_input(params, v)
    delta = ((beta - beta_prev) * visible_difference(v)
             + jnp.sum(jax.nn.softplus(beta * x) - jax.nn.softplus(beta_prev * x), axis=-1))
    # One draw of uniforms per step for both layers: on CPU the generator's
    # per-call cost, not its per-number cost, dominates for small models.
    u = jax.random.uniform(key, (x.shape[0], x.shape[1] + (0 if gaussian else v.shape[1])))
    h = (u[:, :x.shape[1]] < jax.nn.sigmoid(beta * x)).astype(jnp.float32)
    a = (1.0 - beta) * base_visible_bias + beta * visible_input(params, h)
    if gaussian:
      v = a + jnp.exp(params["log_sigma"]) * jax.random.normal(jax.random.fold_in(key, 1), a.shape)
    else:
      v = (u[:, x.shape[1]:] < jax.nn.sigmoid(a)).astype(jnp.float32)
    return delta, v

  init = lambda key, m: base_samples(params, base_visible_bias, key, m)
  return ais_lib.annealed_importance_sampling(
      step, init, log_z_base, ais_lib.beta_schedule(schedule), key, num_chains, unroll=unroll)


@dataclasses.dataclass(frozen=True)
class Normaliser:
  """log Z of a model whose normaliser is that of an RBM: the RBM itself, a DBN's top
  RBM, a DBM seen as an RBM over (v, h2) | h1. Exact by enumeration or by AIS; an
  evaluation computes it once (`genlatent.estimators.ais.log_partition_state`)
  and hands it to every batch as evaluation state.

  Attributes:
    as_rbm: params -> the RBM params whose partition function is wanted.
    base_logits: params -> [units] logits of the AIS base model's visible side.
    schedule: the AIS schedule (see `genlatent.estimators.ais`).
    enumerable: whether `exact` can enumerate `as_rbm(params)`.
    ais_chains: chains for log Z when an estimator other than 'ais' needs it.
  """
  as_rbm: Callable[[dict], dict]
  base_logits: Callable[[dict], jax.Array]
  schedule: object
  enumerable: bool
  ais_chains: int

  def exact(self, params) -> jax.Array:
    """Scalar log Z by enumeration."""
    return exact_log_partition(self.as_rbm(params))

  def ais(self, params, key: jax.Array, num_chains: int) -> ais_lib.AISResult:
    """log Ẑ by AIS from the base-rate model with `num_chains` chains."""
    return ais_log_partition(self.as_rbm(params), self.base_logits(params), key, num_chains,
                             self.schedule)


# ----------------------------------------------------------------------------- the family


def _flatten(x: jax.Array) -> jax.Array:
  return x.reshape(x.shape[0], -1)


@MODELS.register("rbm")
def build_rbm(config, data_shape) -> Model:
  """An RBM from `config` (the `model` part of an experiment config).

  Config fields:
    num_hidden: H.
    visible: 'bernoulli' (binary data) | 'gaussian' (real-valued data).
    learn_sigma: Gaussian only; learn log σ per unit (else σ = 1).
    min_sigma: Gaussian with learn_sigma: floor on σ (standardised units), since a
      unit the data never move (an image border) would drive σ, and log p, to ∞;
      σ is also kept ≤ 1, the data's own (standardised) spread.
    sigma_gradient_scale: the log σ gradient's weight (with sgd, its relative
      learning rate; learned variances need a much smaller one, Hinton 2010).
    training: 'cd' | 'pcd';  gibbs_steps: k;  num_chains: PCD chains M.
    init_scale: std of the initial weights.
    optimizer: see `make_optimizer` (sgd with momentum, or adam; weight decay).
    ais_schedule: β schedule spec ('classic' = 14,500 steps; see `beta_schedule`).
    sample_steps: Gibbs sweeps behind `sample`.
  Estimators: 'ais' (num_samples = AIS chains) and, when one side has ≤ 20
  units, 'exact'.

  Gaussian units model standardised data v = (x − mean) / scale (per unit, from
  the training set, scale ≥ 0.05): CD gradients scale with 1/σ², so raw grey
  levels with near-constant pixels make training blow up. log p(x) then includes
  the Jacobian, −Σ log scale, so it is a density of x itself (not comparable to
  the probabilities of binary data: the model is marked `discrete=False`).
  """
  data_shape = tuple(data_shape)
  num_visible = int(np.prod(data_shape))
  num_hidden = int(config.num_hidden)
  visible = config.get("visible", "bernoulli")
  gaussian = visible == "gaussian"
  learn_sigma = bool(config.get("learn_sigma", False)) and gaussian
  min_log_sigma = math.log(config.get("min_sigma", 0.1))
  sigma_gradient_scale = float(config.get("sigma_gradient_scale", 0.01))
  training = config.get("training", "cd")
  if training not in TRAINING:
    raise ValueError(f"Unknown RBM training {training!r}. Known: {', '.join(TRAINING)}.")
  num_gibbs = int(config.get("gibbs_steps", 1))
  num_chains = int(config.get("num_chains", 100))
  schedule = config.get("ais_schedule", "classic")
  ais_lib.beta_schedule(schedule)  # fail at build time on a bad spec
  sample_steps = int(config.get("sample_steps", 1000))
  tx = make_optimizer(config.optimizer)
  trainable = ("weights", "visible_bias", "hidden_bias") + (("log_sigma",) if learn_sigma else ())
  enumerable = num_hidden <= ais_lib.MAX_ENUMERATION_BITS or (
      visible == "bernoulli" and num_visible <= ais_lib.MAX_ENUMERATION_BITS)
  normaliser = Normaliser(as_rbm=lambda params: params,
                          base_logits=lambda params: params["base_visible_bias"],
                          schedule=schedule, enumerable=enumerable,
                          ais_chains=0)  # unused: both estimators name their chains

  def init(key, x_example):
    del x_example
    params = init_params(key, num_visible, num_hidden, visible=visible,
                         init_scale=config.get("init_scale", 0.01))
    params["base_visible_bias"] = jnp.zeros((num_visible,), jnp.float32)
    if gaussian:
      params["data_mean"] = jnp.zeros((num_visible,), jnp.float32)
      params["data_scale"] = jnp.ones((num_visible,), jnp.float32)
    return params

  def to_visible(params, x):
    """[B, V] the visible units for data x [B, ...] (standardised for Gaussian units)."""
    v = _flatten(x)
    return (v - params["data_mean"]) / params["data_scale"] if gaussian else v

  def to_data(params, v):
    """[B, *data_shape] data-space values of visible values v [B, V]."""
    if gaussian:
      v = v * params["data_scale"] + params["data_mean"]
    return v.reshape((v.shape[0],) + data_shape)

  def init_state(key, params, x_train):
    """Base rates (and σ) from the training data; PCD chains at random training rows."""
    x = np.asarray(x_train, np.float32).reshape(len(x_train), -1)
    params = dict(params)
    if gaussian:
      mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 0.05)
      params["data_mean"], params["data_scale"] = jnp.asarray(mean), jnp.asarray(scale)
      x = (x - mean) / scale
      base = np.zeros_like(mean)
    else:
      base = base_rate_logits(x)
    params["base_visible_bias"] = jnp.asarray(base, jnp.float32)
    if config.get("visible_bias_init", "data") == "data":
      params["visible_bias"] = jnp.asarray(base, jnp.float32)
    extra = {}
    if training == "pcd":
      extra["chains"] = initial_chains(key, x, num_chains, binary=not gaussian)
    opt_state = tx.init({k: params[k] for k in trainable})
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state,
                      extra=extra)

  def update(state, batch, key, axis_name=None):
    """One CD-k/PCD-k step. Metrics are per-example means, nats where they are energies:
    reconstruction_error (Σ_i (v_i − E[v_i|h])²), free_energy (data), and for
    Bernoulli units pseudo_log_likelihood; loss is the reconstruction error."""
    params = state.params
    v0 = to_visible(params, batch["x"])
    key_cd, key_pl = jax.random.split(key)
    frozen = {k: v for k, v in params.items() if k not in trainable}
    grads, chains, sums = contrastive_divergence(
        {k: params[k] for k in trainable}, v0, key_cd, batch["index"], num_gibbs=num_gibbs,
        chains=state.extra.get("chains"), view=lambda p: dict(frozen, **p),
        axis_name=axis_name)
    if learn_sigma:
      grads = dict(grads, log_sigma=sigma_gradient_scale * grads["log_sigma"])
    new_params, opt_state = apply_gradients(tx, params, grads, state.opt_state)
    if learn_sigma:
      new_params["log_sigma"] = jnp.clip(new_params["log_sigma"], min_log_sigma, 0.0)
    count = sums.pop("count")
    if not gaussian:
      pl = jnp.sum(pseudo_log_likelihood(params, v0, key_pl, batch["index"]))
      sums["pseudo_log_likelihood"] = pl if axis_name is None else jax.lax.psum(pl, axis_name)
    metrics = {k: v / count for k, v in sums.items()}
    metrics["loss"] = metrics["reconstruction_error"]
    extra = dict(state.extra, chains=chains) if chains is not None else state.extra
    return state.replace(step=state.step + 1, params=new_params, opt_state=opt_state,
                         extra=extra), metrics

  def log_unnormalised(params, x):
    """[B] log p*(x) = −F(x), nats (with the Jacobian of the standardisation for
    Gaussian units, so that log p*(x) − log Z is the density of x itself)."""
    values = -free_energy(params, to_visible(params, x))
    if gaussian:  # the density of x = mean + scale·v
      values = values - jnp.sum(jnp.log(params["data_scale"]))
    return values

  boltzmann = Boltzmann(normaliser=normaliser,
                        log_unnormalised=lambda params, x, key: (log_unnormalised(params, x), ""),
                        exact_log_unnormalised=log_unnormalised)

  def sample(params, key, n):
    """[n, *data_shape] E[v | h] after `sample_steps` Gibbs sweeps from the base-rate model."""
    key_init, key_chain = jax.random.split(key)
    v = base_samples(params, params["base_visible_bias"], key_init, n)
    _, mean = gibbs_chain(params, v, key_chain, sample_steps)
    return to_data(params, mean)

  def encode(params, x, key=None):
    """[B, H] p(h = 1 | x)."""
    del key
    return hidden_probs(params, to_visible(params, x))

  def decode(params, h):
    """[B, *data_shape] E[v | h]."""
    return to_data(params, visible_mean(params, h))

  def reconstruct(params, x, key=None):
    return decode(params, encode(params, x, key))

  def figures(params, key, workdir, dataset=None):
    """filters.png (the first 100 hidden units' weights) and gibbs_chains.png."""
    del dataset  # the figures need no data
    from genlatent.viz import rbm as viz_rbm  # matplotlib only when drawing
    key_init, key_chain = jax.random.split(key)
    v = base_samples(params, params["base_visible_bias"], key_init, 10)
    steps = viz_rbm.CHAIN_STEPS
    snapshots = jax.jit(gibbs_snapshots, static_argnums=3)(params, v, key_chain, steps)
    images = jax.vmap(lambda m: to_data(params, m))(snapshots)
    return viz_rbm.write_figures(workdir, np.asarray(params["weights"]), np.asarray(images),
                                 data_shape, steps)

  return Model(name="rbm", init=init, update=update, init_state=init_state,
               densities=Densities(boltzmann=boltzmann), sample=sample,
               encode=encode, decode=decode, reconstruct=reconstruct, figures=figures,
               discrete=not gaussian)
