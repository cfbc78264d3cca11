"""Annealed importance sampling (AIS) for log partition functions, and exact enumeration.

AIS (Neal, 2001; Salakhutdinov & Murray, 2008) estimates log Z_B of an
unnormalised model p*_B from a tractable base p_A (log Z_A known) through a path
of intermediate distributions f_β, β_0 = 0 < β_1 < ... < β_K = 1:

  x_1 ~ p_A;  log w = Σ_k [f_{β_k}(x_k) − f_{β_{k−1}}(x_k)],  x_{k+1} ~ T_{β_k}(x_k),

with T_β any transition that leaves f_β invariant. E[w] = Z_B / Z_A, so
Ẑ_B = Z_A · mean(w) is unbiased, and log Ẑ_B is biased low (Jensen): an AIS
log-likelihood −F(v) − log Ẑ tends to be optimistic. Everything here is in log
space; the spread of the weights gives the estimate's own uncertainty.

This module knows nothing about any particular model: a family supplies the
per-step function (weight increment plus transition, so that the two can share
work such as one matrix product) and the sampler of the base distribution.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


# Salakhutdinov & Murray (2008): 0→0.5 by 1e-3, 0.5→0.9 by 1e-4, 0.9→1 by 1e-5.
CLASSIC_SEGMENTS = ((0.5, 500), (0.9, 4000), (1.0, 10000))
CLASSIC_STEPS = sum(n for _, n in CLASSIC_SEGMENTS)  # 14,500
# An AIS log Ẑ exceeds log Z by t nats with probability at most e^−t (Markov's
# inequality, E[Ẑ] = Z): were a run right, an independent estimate would be this far above
# it with probability at most e^−3 ≈ 5%. (With a pilot whose weight sits on one chain,
# excesses of 2.4 nats occur over a right run; 1 nat would flag those.)
MAX_PILOT_EXCESS = 3.0
# Largest number of binary units enumerated exactly (2^20 ≈ 10^6 states).
MAX_ENUMERATION_BITS = 20


def beta_schedule(spec) -> np.ndarray:
  """Inverse temperatures β_0 = 0 < ... < β_K = 1 as a float32 numpy array [K + 1].

  Args:
    spec: one of
      'classic'        the 14,500-interval schedule of Salakhutdinov & Murray (2008);
      'classic:K'      its three segments (β to 0.5, 0.9, 1) in the same 1 : 8 : 20
                       proportion of K intervals (K ≥ 29), e.g. 'classic:58000';
      'linear:K' or K  K equal intervals;
      'sigmoid:K'      K intervals, dense near both ends (Grosse et al., 2013),
                       σ(δ·(2t−1)) rescaled to [0, 1] with δ = 4.
  """
  if isinstance(spec, (int, np.integer)):
    spec = f"linear:{int(spec)}"
  name, _, arg = str(spec).partition(":")
  total = CLASSIC_STEPS
  if name == "classic" and (not arg or (arg.isdigit() and int(arg) >= total // 500)):
    counts = [count for _, count in CLASSIC_SEGMENTS]
    if arg:  # the same proportions, K intervals in all
      counts = [round(c * int(arg) / total) for c in counts[:-1]]
      counts.append(int(arg) - sum(counts))
    parts, start = [np.zeros(1)], 0.0
    for (stop, _), count in zip(CLASSIC_SEGMENTS, counts):
      parts.append(np.linspace(start, stop, count + 1)[1:])
      start = stop
    betas = np.concatenate(parts)
  elif name in ("linear", "sigmoid") and arg.isdigit() and int(arg) >= 1:
    t = np.linspace(0.0, 1.0, int(arg) + 1)
    if name == "linear":
      betas = t
    else:
      s = 1.0 / (1.0 + np.exp(-4.0 * (2.0 * t - 1.0)))
      betas = (s - s[0]) / (s[-1] - s[0])
  else:
    raise ValueError(f"Unknown AIS schedule {spec!r}; use 'classic', 'classic:K' (K ≥ 29), "
                     "'linear:K', 'sigmoid:K' or an integer K.")
  return betas.astype(np.float32)


def schedule_steps(spec) -> int:
  """K, the number of intermediate distributions a schedule spec names."""
  return len(beta_schedule(spec)) - 1


@struct.dataclass
class AISResult:
  """An AIS estimate of log Z with its spread.

  Attributes:
    log_z: scalar, log Ẑ = log Z_A + log mean(w), nats.
    stderr: scalar, the delta-method standard error of log Ẑ:
      std(w) / (√M · mean(w)). Small only if the weights are not heavy-tailed;
      read it together with `effective_sample_size`.
    log_z_low, log_z_high: scalars, log(Ẑ ∓ 3σ̂_Z) with σ̂_Z = Z_A std(w)/√M, the
      bracket Salakhutdinov & Murray report (log_z_low is −inf when the
      bracket reaches zero).
    effective_sample_size: scalar, (Σw)² / Σw², between 1 and M.
    log_weights: [M] the chains' log importance weights (plus log Z_A).
    final_states: the chains' last states, approximately samples of p_B.
    pilot_log_z, pilot_effective_sample_size: scalars, where this run's base model
      was fitted to the final states of a pilot run from another base (e.g.
      `genlatent.boltzmann.ais_log_partition` with base='fitted'): that run's
      log Ẑ and effective sample size; None otherwise.
  """

  log_z: jax.Array
  stderr: jax.Array
  log_z_low: jax.Array
  log_z_high: jax.Array
  effective_sample_size: jax.Array
  log_weights: jax.Array
  final_states: jax.Array
  pilot_log_z: Optional[jax.Array] = None
  pilot_effective_sample_size: Optional[jax.Array] = None


def summarize_log_weights(log_w: jax.Array, final_states=None) -> AISResult:
  """Estimate and spread from [M] log weights (log Z_A already added), in log space."""
  m = log_w.shape[0]
  top = jnp.max(log_w)
  w = jnp.exp(log_w - top)  # in (0, 1], the largest is 1
  mean_w = jnp.mean(w)
  std_w = jnp.std(w, ddof=1) if m > 1 else jnp.zeros(())
  sigma = std_w / math.sqrt(m)
  log_z = top + jnp.log(mean_w)
  return AISResult(
      log_z=log_z,
      stderr=sigma / mean_w,
      log_z_low=top + jnp.log(jnp.maximum(mean_w - 3.0 * sigma, 0.0)),
      log_z_high=top + jnp.log(mean_w + 3.0 * sigma),
      effective_sample_size=jnp.sum(w) ** 2 / jnp.sum(w ** 2),
      log_weights=log_w,
      final_states=final_states)


def annealed_importance_sampling(
    step_fn: Callable,
    init_fn: Callable[[jax.Array, int], jax.Array],
    log_z_base: jax.Array,
    betas,
    key: jax.Array,
    num_chains: int,
    unroll: int = 1,
) -> AISResult:
  """log Z of the target by AIS with `num_chains` independent chains.

  Args:
    step_fn: (x, beta_prev, beta, key) -> (delta [M], x_next): the weight
      increment f_β(x) − f_{β_prev}(x), nats, and a draw from a transition that
      leaves f_β invariant. A family computes both from one pass over x.
    init_fn: (key, M) -> x, M exact samples of the base distribution p_A = f_0 / Z_A.
    log_z_base: scalar log Z_A, nats.
    betas: [K + 1] increasing from 0 to 1 (see `beta_schedule`).
    key: step k draws from `fold_in(key, k)`; the base sample from `fold_in(key, 0)`.
    num_chains: M ≥ 2.
    unroll: `lax.scan` unrolling (fewer loop trips for small models).
  Returns:
    An `AISResult`.
  """
  if num_chains < 2:
    raise ValueError(f"AIS needs at least 2 chains for its spread; got {num_chains}.")
  betas = jnp.asarray(betas, jnp.float32)
  x0 = init_fn(jax.random.fold_in(key, 0), num_chains)

  def body(carry, inputs):
    x, log_w = carry
    beta_prev, beta, k = inputs
    delta, x = step_fn(x, beta_prev, beta, jax.random.fold_in(key, k))
    return (x, log_w + delta), None

  steps = jnp.arange(1, betas.shape[0], dtype=jnp.uint32)
  (x, log_w), _ = jax.lax.scan(body, (x0, jnp.zeros((num_chains,), jnp.float32)),
                               (betas[:-1], betas[1:], steps), unroll=unroll)
  return summarize_log_weights(log_w + log_z_base, x)


def binary_states(index: jax.Array, num_bits: int) -> jax.Array:
  """[N, num_bits] float32 0/1: the binary expansions of integer states `index` [N]."""
  bits = jnp.arange(num_bits, dtype=jnp.uint32)
  return ((index.astype(jnp.uint32)[:, None] >> bits) & 1).astype(jnp.float32)


def log_sum_over_binary_states(log_f: Callable[[jax.Array], jax.Array], num_bits: int,
                               chunk_size: int = 4096) -> jax.Array:
  """log Σ_s exp(log_f(s)) over all 2^num_bits binary vectors s, exactly.

  The states are enumerated `chunk_size` at a time inside a `lax.scan` with a
  running log-sum-exp, so memory is that of one chunk.

  Args:
    log_f: [N, num_bits] -> [N] or [N, B] unnormalised log-probabilities, nats.
    num_bits: at most `MAX_ENUMERATION_BITS`.
  Returns:
    A scalar, or [B] when log_f returns [N, B].
  """
  if not 0 <= num_bits <= MAX_ENUMERATION_BITS:
    raise ValueError(f"Exact enumeration of {num_bits} binary units (2^{num_bits} states) "
                     f"is not offered; the limit is {MAX_ENUMERATION_BITS}.")
  total = 2 ** num_bits
  # A power of two, so that the chunks tile the 2^n states exactly.
  chunk = min(2 ** max(0, int(chunk_size).bit_length() - 1), total)
  num_chunks = total // chunk

  def body(carry, c):
    running = carry
    states = binary_states(c * chunk + jnp.arange(chunk, dtype=jnp.uint32), num_bits)
    part = jax.nn.logsumexp(log_f(states), axis=0)
    return jnp.logaddexp(running, part), None

  shape = jax.eval_shape(log_f, jax.ShapeDtypeStruct((chunk, num_bits), jnp.float32)).shape[1:]
  init = jnp.full(shape, -jnp.inf, jnp.float32)
  out, _ = jax.lax.scan(body, init, jnp.arange(num_chunks, dtype=jnp.uint32))
  return out


# ---------------------------------------------------------------- log Z of a Boltzmann family


def ais_label(num_chains: int, schedule) -> str:
  """'ais-MxK': M chains, K intermediate distributions."""
  return f"ais-{num_chains}x{schedule_steps(schedule)}"


def ais_report(label: str, result: AISResult) -> dict:
  """Host floats for eval.json; `shared_stderr` is log Ẑ's, common to every example.

  When one or a few chains carry all the weight (effective sample size under a
  tenth of the chains, or a −∞ lower bracket), the delta-method stderr is itself
  unreliable and log Ẑ is most likely too low (the log-likelihood too high). When
  the run's base was fitted to a pilot run (`AISResult.pilot_log_z`) and the pilot's
  log Ẑ is more than `MAX_PILOT_EXCESS` nats higher, the run is most likely too low
  however even its weights. Either way the report says so (`ais_reliable`,
  `ais_warning`) and the warning is logged.
  """
  num_chains = int(result.log_weights.shape[0])
  ess = float(result.effective_sample_size)
  low = float(result.log_z_low)
  log_z = float(result.log_z)
  problems = []
  if ess < 0.1 * num_chains or not math.isfinite(low):
    problems.append(f"AIS effective sample size {ess:.1f} of {num_chains} chains")
  report = {"log_partition_estimator": label,
            "log_z": log_z, "log_z_stderr": float(result.stderr),
            # JSON has no −∞: a bracket reaching Ẑ = 0 is written as null.
            "log_z_low_3sigma": low if math.isfinite(low) else None,
            "log_z_high_3sigma": float(result.log_z_high),
            "ais_effective_sample_size": ess}
  if result.pilot_log_z is not None:
    excess = float(result.pilot_log_z) - log_z
    report.update(ais_base="fitted", pilot_log_z=float(result.pilot_log_z),
                  pilot_effective_sample_size=float(result.pilot_effective_sample_size),
                  pilot_excess=excess)
    if not excess <= MAX_PILOT_EXCESS:
      problems.append(f"the pilot run from the data's base rates found log Ẑ {excess:.2f} "
                      "nats higher than the run from its fitted base")
  report.update(ais_reliable=not problems, shared_stderr=float(result.stderr))
  if problems:
    report["ais_warning"] = (
        f"{'; '.join(problems)}: log Z is probably underestimated, so log p(x) is probably "
        "too high, by more than its stderr says. Use more intermediate distributions "
        "(model.ais_schedule) or chains.")
    logging.warning("%s: %s", label, report["ais_warning"])
  return report


# The last few log Ẑ computed, by (normaliser, method, chains, key, params): an evaluation's
# AIS and ELBO rows ask for the same one, and a DBM's costs minutes.
_LOG_PARTITION_MEMO: "collections.OrderedDict[tuple, tuple]" = collections.OrderedDict()
_LOG_PARTITION_MEMO_SIZE = 4


def _fingerprint(tree) -> str:
  digest = hashlib.sha1()
  for leaf in jax.tree.leaves(tree):
    leaf = np.asarray(leaf)
    digest.update(f"{leaf.dtype}{leaf.shape}".encode())
    digest.update(np.ascontiguousarray(leaf).tobytes())
  return digest.hexdigest()


def log_partition_state(normaliser, params, key: jax.Array, method: str, num_chains: int):
  """log Z of a Boltzmann family once per evaluation: ({'log_z': []}, report, label).

  The same (normaliser, params, key, method, chains) return the same result, so
  estimators that share an evaluation's key share its log Ẑ; the last
  `_LOG_PARTITION_MEMO_SIZE` results are kept rather than recomputed.

  Args:
    normaliser: the family's `Boltzmann.normaliser` (`exact(params)`,
      `ais(params, key, num_chains)`, `schedule`).
    method: 'exact' (enumeration) or 'ais' (`num_chains` chains).
  """
  memo_key = (normaliser, method, num_chains if method == "ais" else 0,
              _fingerprint(jax.random.key_data(key) if jax.dtypes.issubdtype(
                  key.dtype, jax.dtypes.prng_key) else key), _fingerprint(params))
  if memo_key in _LOG_PARTITION_MEMO:
    _LOG_PARTITION_MEMO.move_to_end(memo_key)
    state, report, label = _LOG_PARTITION_MEMO[memo_key]
    return dict(state), dict(report), label
  if method == "exact":
    log_z = jax.jit(normaliser.exact)(params)
    result = ({"log_z": log_z},
              {"log_partition_estimator": "exact", "log_z": float(log_z), "shared_stderr": 0.0},
              "exact")
  else:
    ais_result = jax.jit(functools.partial(normaliser.ais, num_chains=num_chains))(params, key)
    label = ais_label(num_chains, normaliser.schedule)
    result = {"log_z": ais_result.log_z}, ais_report(label, ais_result), label
  _LOG_PARTITION_MEMO[memo_key] = result
  while len(_LOG_PARTITION_MEMO) > _LOG_PARTITION_MEMO_SIZE:
    _LOG_PARTITION_MEMO.popitem(last=False)
  return dict(result[0]), dict(result[1]), result[2]
