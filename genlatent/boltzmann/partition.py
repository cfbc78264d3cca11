"""log Z of an RBM: exactly by enumeration (≤ 20 units on one side) or by AIS."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from genlatent.boltzmann.energy import (LOG_2, LOG_2PI, free_energy, hidden_free_energy,
                                        hidden_input, is_gaussian, num_units, visible_input,
                                        visible_term)
from genlatent.boltzmann.contrastive import rate_logits
from genlatent.boltzmann.energy import hidden_probs, visible_mean
from genlatent.boltzmann.gibbs import base_samples, bernoulli, sample_visible
from genlatent.core import rng
from genlatent.estimators import ais as ais_lib
from genlatent.estimators import bdmc as bdmc_lib
from genlatent.estimators.raise_ais import AnnealingPath


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


def annealing_path(params: dict, base_visible_bias: jax.Array) -> AnnealingPath:
  """The RBM's path from the base-rate model (Salakhutdinov & Murray, 2008), h summed out.

  The base model A has W = 0, hidden bias 0, visible bias `base_visible_bias`
  (the data's base-rate logits, or mean for Gaussian units) and the target's σ.
  Intermediate distributions scale the target's energy by β and the base's by
  1 − β on the joint (v, h), so after summing h out

    f_β(v) = (1 − β)·vis_A(v) + β·vis_B(v) + Σ_j softplus(β (c + (v/σ²)W)_j),

  with f_0 = base (times 2^H, in log Z_A) and f_1 = −F_B. The transition is one
  Gibbs sweep of the tempered RBM: h ~ σ(β(c + (v/σ²)W)), then v from visible
  input (1 − β)·b_A + β·(b + Wh), reversible in v (so RAISE may run it
  backwards). One step costs two [M, V]×[V, H] products; the weight increment
  reuses the first.

  Args:
    params: RBM params (extra entries are ignored).
    base_visible_bias: [V].
  Returns:
    An `AnnealingPath` over v [M, V] (forward AIS, RAISE and BDMC all take it).
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

  def log_f(v, beta):
    return ((1.0 - beta) * visible_term(base, v) + beta * visible_term(params, v)
            + jnp.sum(jax.nn.softplus(beta * hidden_input(params, v)), axis=-1))

  def step(v, beta_prev, beta, key):
    x = hidden_input(params, v)
    delta = ((beta - beta_prev) * visible_difference(v)
             + jnp.sum(jax.nn.softplus(beta * x) - jax.nn.softplus(beta_prev * x), axis=-1))
    # One draw of uniforms per step for both layers, two numbers per Threefry
    # block (`rng.uniform`): the generator is a third of a step on CPU.
    u = rng.uniform(key, (x.shape[0], x.shape[1] + (0 if gaussian else v.shape[1])))
    h = (u[:, :x.shape[1]] < jax.nn.sigmoid(beta * x)).astype(jnp.float32)
    a = (1.0 - beta) * base_visible_bias + beta * visible_input(params, h)
    if gaussian:
      v = a + jnp.exp(params["log_sigma"]) * jax.random.normal(jax.random.fold_in(key, 1), a.shape)
    else:
      v = (u[:, x.shape[1]:] < jax.nn.sigmoid(a)).astype(jnp.float32)
    return delta, v

  sample_base = lambda key, m: base_samples(params, base_visible_bias, key, m)
  return AnnealingPath(step=step, log_f=log_f, sample_base=sample_base, log_z_base=log_z_base)


# How the AIS base model's visible side is chosen: 'data' anneals once from the data's base
# rates (Salakhutdinov & Murray, 2008); 'fitted' runs that as a pilot, matches a base model
# to the pilot's final states and anneals again from it (see `ais_log_partition`).
AIS_BASES = ("fitted", "data")


def ais_base_of(config) -> str:
  """A family config's `ais_base` ('fitted' when absent), checked against `AIS_BASES`."""
  base = config.get("ais_base", "fitted")
  if base not in AIS_BASES:
    raise ValueError(f"Unknown model.ais_base {base!r}. Known: {', '.join(AIS_BASES)}.")
  return base


def fitted_base_bias(params: dict, states: jax.Array, key: jax.Array,
                     log_weights: jax.Array | None = None) -> jax.Array:
  """[V] base-model visible side matched to weighted samples `states` [M, V] of the RBM.

  The factorial model closest to the RBM's marginal (in KL(p ‖ q)) has the RBM's
  visible marginals. They are estimated from the states with their importance
  weights (an AIS run's final states weighted by its `log_weights` [M] estimate
  expectations under the target; unweighted they are draws of the annealing
  process, which on a multimodal RBM sits in the wrong modes), Rao-Blackwellised:
  Σ_m w_m E[v | h_m] with h_m ~ p(h | v_m). Logits for binary units, the mean for
  Gaussian ones (the base model keeps the RBM's σ).
  """
  h = bernoulli(hidden_probs(params, states), key)
  weights = (jnp.full((states.shape[0],), 1.0 / states.shape[0]) if log_weights is None
             else jax.nn.softmax(log_weights))
  mean = weights @ visible_mean(params, h)
  return mean if is_gaussian(params) else rate_logits(mean)


def ais_log_partition(params: dict, base_visible_bias: jax.Array, key: jax.Array,
                      num_chains: int, schedule="classic", unroll: int = 1,
                      base: str = "data") -> ais_lib.AISResult:
  """AIS estimate of log Z along `annealing_path` with `num_chains` chains in parallel.

  With base='fitted' the run from `base_visible_bias` is a pilot: its weighted
  final states fix a base model matched to the RBM's own marginals
  (`fitted_base_bias`), and a second run of `num_chains` chains anneals from
  that. Near the target the RBM's modes hold chains that Gibbs sampling cannot
  move between, so from the data's base rates a few chains, those that reached
  the modes holding most of the mass, carry the weight (effective sample size
  1-8 of 100 on Fashion-MNIST's DBN and DBM); the fitted base starts every
  chain near them (ESS 35-85 of 100). Both runs are stochastic lower bounds (an
  estimate exceeds log Z by t nats with probability at most e^−t), so the
  result keeps the pilot's log Ẑ and effective sample size for `ais.ais_report`
  to check that the pilot is not far the higher one.

  Args:
    params: RBM params (extra entries are ignored).
    base_visible_bias: [V], the data's base-rate logits (means for Gaussian units).
    schedule: a `beta_schedule` spec; 'classic' is 14,500 steps.
    base: one of `AIS_BASES`; 'fitted' costs two runs.
  Returns:
    `AISResult` (log Ẑ, its delta-method stderr, the ±3σ bracket, ESS, and with
    base='fitted' the pilot's log Ẑ and ESS).
  """
  if base not in AIS_BASES:
    raise ValueError(f"Unknown AIS base {base!r} (model.ais_base). Known: {', '.join(AIS_BASES)}.")
  betas = ais_lib.beta_schedule(schedule)

  def run(bias, run_key):
    path = annealing_path(params, bias)
    return ais_lib.annealed_importance_sampling(
        path.step, path.sample_base, path.log_z_base, betas, run_key, num_chains, unroll=unroll)

  if base == "data":
    return run(base_visible_bias, key)
  pilot = run(base_visible_bias, jax.random.fold_in(key, 1))
  fitted = fitted_base_bias(params, pilot.final_states, jax.random.fold_in(key, 2),
                            pilot.log_weights)
  return run(fitted, jax.random.fold_in(key, 3)).replace(
      pilot_log_z=pilot.log_z, pilot_effective_sample_size=pilot.effective_sample_size)


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
    ais_base: one of `AIS_BASES` (see `ais_log_partition`).
  """
  as_rbm: Callable[[dict], dict]
  base_logits: Callable[[dict], jax.Array]
  schedule: object
  enumerable: bool
  ais_chains: int
  ais_base: str = "fitted"

  def exact(self, params) -> jax.Array:
    """Scalar log Z by enumeration."""
    return exact_log_partition(self.as_rbm(params))

  def ais(self, params, key: jax.Array, num_chains: int) -> ais_lib.AISResult:
    """log Ẑ by AIS with `num_chains` chains (`ais_log_partition` with `ais_base`)."""
    return ais_log_partition(self.as_rbm(params), self.base_logits(params), key, num_chains,
                             self.schedule, base=self.ais_base)

  def annealing_path(self, params) -> AnnealingPath:
    """The path `ais` anneals along (over the RBM view's visible states)."""
    return annealing_path(self.as_rbm(params), self.base_logits(params))

  def exact_sampling_supported(self, params) -> bool:
    """Whether `sample_exact` can enumerate the RBM view's hidden side (≤ 20 units)."""
    return num_units(self.as_rbm(params))[1] <= ais_lib.MAX_ENUMERATION_BITS

  def sample_exact(self, params, key: jax.Array, n: int) -> jax.Array:
    """[n, V] exact draws of the RBM view's visible states (h by enumeration, then v | h)."""
    rbm = self.as_rbm(params)
    return bdmc_lib.sample_by_enumeration(lambda h: -hidden_free_energy(rbm, h),
                                          lambda h, k: sample_visible(rbm, h, k)[0],
                                          num_units(rbm)[1], key, n)
