"""RAISE: conservative log-likelihoods of Boltzmann machines by reverse annealing.

Burda, Grosse & Salakhutdinov (2015), "Accurate and conservative estimates of
MRF log-likelihood using reverse annealing". Forward AIS from a base model p_0
through f_0, ..., f_K (f_K the target's unnormalised marginal, e.g. e^{−F(v)}
for an RBM) with transitions T_1, ..., T_K is itself a normalised generative
model, the annealing model:

  p_ann(x_0, ..., x_K) = p_0(x_0) Π_{k=1..K} T_k(x_k | x_{k−1}).

Its marginal p_ann(v) of the last state is close to the target p(v) when the
schedule is long. RAISE importance-samples p_ann(v) with the reverse chain as
proposal: x_K = v (the data), x_{k−1} ~ T_k(· | x_k) for k = K, ..., 1 (a block
Gibbs sweep of an RBM over v with h summed out is reversible, so it is its own
reversal), and

  log w = log f_K(v) − log Z_0 + Σ_{k=0..K−1} [log f_k(x_k) − log f_{k+1}(x_k)],

with E[w] = p_ann(v). log mean_m w_m over M chains is then a stochastic lower
bound on log p_ann(v), and E_{v ~ p}[log p_ann(v)] = E[log p(v)] − KL(p ‖ p_ann):
on data the model fits, RAISE is conservative (low) where AIS — which
underestimates log Z — is optimistic. No log Z is needed: p_ann is normalised.

Nothing here is specific to one family: an `AnnealingPath` (the tempered
densities, their Gibbs transition, the base model) and a start from the data
are what a family supplies. The RBM's path is `genlatent.boltzmann.annealing_path`,
the same path `genlatent.boltzmann.ais_log_partition` anneals, started at the
data. A DBN anneals its top RBM, started at draws of the top RBM's visible layer
from the recognition model, each weighted by p(v | h) / Q(h | v); a DBM anneals
its RBM view over (v, h2), started at (v, h2) with h2 from the mean-field
posterior, weighted by 1 / Q(h2). Either way the weights' expectation is the
annealing model's marginal p_ann(v) (Burda et al., 2015, section 4). All values
are nats.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from genlatent.core import ESTIMATORS, Estimator, Kind, LogLikelihood
from genlatent.estimators import ais as ais_lib
from genlatent.estimators import hmc_ais

DEFAULT_SCHEDULE = "sigmoid:1000"
AUTO_ROWS_PER_CHUNK = 2048


class AnnealingPath(NamedTuple):
  """A family's path of tempered distributions f_β, β ∈ [0, 1], with Gibbs transitions.

  Attributes:
    step: (x [M, *state], beta_prev, beta, key) -> (delta [M], x' [M, *state]): the
      weight increment log f_β(x) − log f_{β_prev}(x) and a draw x' ~ T_β(· | x) of
      a transition that leaves f_β invariant and is reversible (so that RAISE may
      use it backwards), as `ais.annealed_importance_sampling` takes it.
    log_f: (x [M, *state], beta) -> [M] log f_β(x), unnormalised, nats.
    sample_base: (key, n) -> [n, *state] exact draws of the base p_0 = f_0 / Z_0.
    log_z_base: [] log Z_0, nats.
  """

  step: Callable
  log_f: Callable
  sample_base: Callable
  log_z_base: jax.Array


class RAISEResult(NamedTuple):
  """Per-example RAISE estimates.

  Attributes:
    log_likelihood: [B] log mean_m w_m, nats: a stochastic lower bound on
      log p_ann(v), conservative on average for log p(v).
    log_weights: [B, M] the chains' log weights, nats.
    effective_sample_size: [B] (Σ w)² / Σ w², between 1 and M.
  """

  log_likelihood: jax.Array
  log_weights: jax.Array
  effective_sample_size: jax.Array


def raise_label(num_chains: int, schedule) -> str:
  """'raise-MxK': M reverse chains per example, K intermediate distributions."""
  return f"raise-{int(num_chains)}x{ais_lib.schedule_steps(schedule)}"


def raise_log_likelihood(path: AnnealingPath, v: jax.Array, key: jax.Array, *,
                         num_chains: int = 16, schedule=DEFAULT_SCHEDULE,
                         chunk_size: int = 0, start: Callable | None = None) -> RAISEResult:
  """Per-example RAISE estimates of log p(v) (traceable: wrap it in `jax.jit`).

  Each example's M chains start at the example, take one transition at β = 1
  and then run the schedule backwards to β = 0, accumulating
  log f_{β_{k−1}}(x) − log f_{β_k}(x) before each further transition. Examples
  are processed `chunk_size` rows (examples × chains) at a time (`lax.map`), so
  memory does not grow with the number of examples.

  Where the path's states are more than the data (a DBN's top layer, a DBM's
  (v, h2)), `start` draws each chain's last state s from a proposal q(s | v) and
  weights it by p(v | s) / q(s | v): the chain's weight then has expectation
  Σ_s p(v | s) p_ann(s) = p_ann(v), the annealing model's marginal of the data.

  Args:
    path: the family's `AnnealingPath`.
    v: [B, ...] examples: states of the path itself (for an RBM with Gaussian
      units, standardised) when `start` is None, else whatever `start` takes.
    key: example i draws from `fold_in(key, i)`; its reverse step k from
      `fold_in(fold_in(key, i), k)`, its start from `fold_in(fold_in(key, i),
      K + 1)` (so a value does not depend on chunking).
    num_chains: M ≥ 1 reverse chains per example.
    schedule: a `beta_schedule` spec; K = its number of intermediate distributions.
    chunk_size: rows per chunk; 0 picks ~`AUTO_ROWS_PER_CHUNK`.
    start: optional (x [1, ...], key, M) -> (states [1, M, *state], log_weights
      [1, M]): M draws s ~ q(s | x) and log p(x | s) − log q(s | x), nats.
      None: every chain starts at the example itself, weight 1.
  Returns:
    A `RAISEResult`.
  """
  if num_chains < 1:
    raise ValueError(f"RAISE needs at least one chain per example; got {num_chains}.")
  betas = jnp.asarray(ais_lib.beta_schedule(schedule), jnp.float32)[::-1]  # 1 → 0
  num_steps = int(betas.shape[0]) - 1
  batch = int(v.shape[0])
  per_chunk = max(1, min(batch, (chunk_size or AUTO_ROWS_PER_CHUNK) // num_chains))
  num_chunks = math.ceil(batch / per_chunk)
  padded = num_chunks * per_chunk
  if padded > batch:  # repeat the last example; its results are dropped
    v = jnp.concatenate([v, jnp.repeat(v[-1:], padded - batch, axis=0)])
  index = jnp.arange(padded, dtype=jnp.uint32).reshape(num_chunks, per_chunk)
  v = v.reshape((num_chunks, per_chunk) + v.shape[1:])
  # One example's M chains through the family's batched step, examples vmapped
  # so that each draws from its own key.
  step = jax.vmap(path.step, in_axes=(0, None, None, 0))
  log_f_end = jax.vmap(path.log_f, in_axes=(0, None))

  def initial(v_c, keys):
    """([P, M, *state] last states of the annealing model, [P, M] their log weights)."""
    if start is None:
      return (jnp.broadcast_to(v_c[:, None], (per_chunk, num_chains) + v_c.shape[1:]),
              jnp.zeros((per_chunk, num_chains), jnp.float32))
    keys = jax.vmap(lambda k: jax.random.fold_in(k, num_steps + 1))(keys)
    x, log_w = jax.vmap(lambda xi, k: start(xi[None], k, num_chains))(v_c, keys)
    return x[:, 0], log_w[:, 0]

  def run_chunk(inputs):
    v_c, idx = inputs
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, idx)
    x_end, log_w_start = initial(v_c, keys)
    # x_end is the annealing model's last state; its predecessor is one T_K step back.
    _, x = step(x_end, 1.0, 1.0, jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys))

    def body(carry, inputs):
      x, log_w = carry
      beta_prev, beta, k = inputs
      delta, x = step(x, beta_prev, beta, jax.vmap(lambda kk: jax.random.fold_in(kk, k))(keys))
      return (x, log_w + delta), None

    steps = (betas[:-1], betas[1:], jnp.arange(1, num_steps + 1, dtype=jnp.uint32))
    init = (x, jnp.zeros((per_chunk, num_chains), jnp.float32))
    (_, log_w), _ = jax.lax.scan(body, init, steps)
    return log_w + log_w_start + log_f_end(x_end, 1.0) - path.log_z_base

  if num_chunks == 1:
    log_w = run_chunk((v[0], index[0]))
  else:
    log_w = jax.lax.map(run_chunk, (v, index)).reshape(padded, num_chains)
  log_w = log_w[:batch]
  return RAISEResult(
      log_likelihood=jax.nn.logsumexp(log_w, axis=1) - math.log(num_chains),
      log_weights=log_w,
      effective_sample_size=hmc_ais.effective_sample_size(log_w, axis=1))


def _supports(model) -> bool:
  boltzmann = model.densities.boltzmann
  return (boltzmann is not None and boltzmann.annealing_path is not None
          and boltzmann.annealing_start is not None)


def _log_likelihood(model, params, state, x, key, num_samples) -> LogLikelihood:
  """[B] RAISE estimates of log p(x), nats, `num_samples` reverse chains per example
  along the family's AIS schedule: conservative where AIS is optimistic."""
  del state
  boltzmann = model.densities.boltzmann
  schedule = boltzmann.normaliser.schedule
  result = raise_log_likelihood(
      boltzmann.annealing_path(params), x, key, num_chains=num_samples, schedule=schedule,
      start=lambda xi, k, m: boltzmann.annealing_start(params, xi, k, m))
  return LogLikelihood(result.log_likelihood, raise_label(num_samples, schedule), Kind.ESTIMATE)


ESTIMATORS.register("raise")(Estimator(
    needs="a Boltzmann density with an annealing path and a start for it from the data "
          "(RBM, DBN, DBM)",
    supports=_supports, log_likelihood=_log_likelihood))
