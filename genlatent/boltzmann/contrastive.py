"""Contrastive divergence (CD-k, persistent CD) and the bookkeeping around it.

CD-k starts k steps of block Gibbs sampling at the data; persistent CD (PCD,
Tieleman 2008) keeps M chains in the training state, so they are checkpointed
and a resumed run continues them exactly. The gradient of −log p(v) is
estimated as ∇[F(v_data) − F(v_model)] with v_model held fixed, by autodiff of
the free energy: exact for both visible types and for any reparametrised view
(the tied weights of a DBM's pretraining RBMs).
"""

from __future__ import annotations

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genlatent.boltzmann.energy import free_energy, hidden_input, is_gaussian, visible_mean
from genlatent.boltzmann.gibbs import (bernoulli, gibbs_chain, normal_noise, sample_hidden,
                                       uniform_noise)
from genlatent.core.collective import LOCAL, Collective

TRAINING = ("cd", "pcd")


# ----------------------------------------------------------------------------- training


def contrastive_divergence(params, v0: jax.Array, key: jax.Array, index: jax.Array, *,
                           num_gibbs: int = 1, chains: Optional[jax.Array] = None,
                           view: Optional[Callable] = None,
                           collective: Collective = LOCAL):
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
    collective: sums over the devices the batch is split across (`LOCAL` under
      one global jit).
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
  count = collective.sum(jnp.asarray(v0.shape[0], jnp.float32))
  num_devices = collective.sum(1.0)

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
  grads = collective.sum(grads)
  sums = {k: v if k == "count" else collective.sum(v)  # `count` is already global
          for k, v in sums.items()}
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
                     collective: Collective = LOCAL) -> jax.Array:
  """[n] running mean of binary units v [B, n]: the base rates of a layer's input.

  Used for the AIS base model of an RBM whose data are another RBM's hidden
  samples (a DBN's upper layers), which exist only during training.
  """
  batch_mean = collective.mean(jnp.mean(v, axis=0))
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
  if isinstance(x, jax.core.Tracer):  # shapes only (jax.eval_shape): the float64 host code
    return jax.pure_callback(base_rate_logits, jax.ShapeDtypeStruct(
        (int(np.prod(x.shape[1:])),), jnp.float32), x)
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
  x = x.reshape(x.shape[0], -1)
  rows = jax.random.choice(key_rows, x.shape[0], (num_chains,), replace=num_chains > x.shape[0])
  start = jnp.asarray(x)[rows].astype(jnp.float32)
  return bernoulli(start, key_bits) if binary else start
