"""Annealed importance sampling with HMC transitions, for models with a decoder.

Wu, Burda, Salakhutdinov & Grosse (2017), "On the quantitative analysis of
decoder-based generative models". For one example x and a latent z, the path

  f_β(z) = p(z) · p(x | z)^β,   β_0 = 0 < β_1 < ... < β_K = 1,

runs from the prior (normalised: Z_0 = 1) to the unnormalised posterior, whose
normaliser is Z_1 = p(x). Each of C chains per example draws z_0 ~ p(z) and

  log w = Σ_{k=1..K} (β_k − β_{k−1}) · log p(x | z_{k−1}),   z_k ~ T_{β_k}(· | z_{k−1}),

with T_β an HMC transition (BlackJAX's `hmc` kernel) that leaves f_β invariant.
E[w] = p(x), so log p̂(x) = log mean_c w_c is a stochastic lower bound on
log p(x) (Jensen), tightening as K and C grow.

Reverse mode (Grosse, Ghahramani & Adams, 2015): started from an exact
posterior sample z ~ p(z | x) (available for data simulated from the model,
x ~ p(x | z), z ~ p(z)) and annealed from β = 1 down to 0, the same recursion
gives weights with E[w_rev] = 1/p(x); −log mean_c w_rev,c is then a stochastic
UPPER bound on log p(x). The two together are BDMC (see `bdmc.py`).

The leapfrog step size is one per example, adapted after every temperature
towards a target acceptance rate (multiplicatively, as Wu et al.), inside the
scan, from a few tuning chains beside the estimation chains so that the
estimate stays unbiased (see `hmc_ais`). Every quantity here is in nats.

Cost: per temperature and chain, one value-and-gradient of log p(z) + β log p(x | z)
at the current state (which also gives the weight increment, since the state's
cached density from the previous temperature is at the wrong β) plus L leapfrog
gradients: K · (L + 1) decoder gradient evaluations per chain (tuning chains included).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from genlatent.estimators import ais as ais_lib

# Decoder rows (examples × chains) advanced together when `chunk_size` is 0: the
# size that keeps a small decoder's matmuls efficient on CPU while memory stays
# that of one chunk, whatever the number of examples or chains.
AUTO_ROWS_PER_CHUNK = 2048


class HMCAISResult(NamedTuple):
  """Per-example HMC-AIS estimates and their diagnostics.

  Attributes:
    log_likelihood: [B] nats. Forward mode: log mean_c w_c, a stochastic lower
      bound on log p(x). Reverse mode: −log mean_c w_rev,c, a stochastic upper bound.
    log_weights: [B, C] the chains' log weights, nats (reverse mode: log w_rev).
    effective_sample_size: [B] (Σ_c w_c)² / Σ_c w_c², between 1 and C.
    acceptance_rate: [K] mean HMC acceptance probability of the estimation chains
      at each temperature, over all examples (in the order the temperatures
      were visited).
    step_sizes: [B, K] the leapfrog step size each example used at each temperature.
    final_latents: [B, C, *latent] the chains' last states (forward mode:
      approximate posterior samples; reverse mode: approximate prior samples).
  """

  log_likelihood: jax.Array
  log_weights: jax.Array
  effective_sample_size: jax.Array
  acceptance_rate: jax.Array
  step_sizes: jax.Array
  final_latents: jax.Array


def ais_hmc_label(num_chains: int, schedule) -> str:
  """'ais-hmc-CxK': C chains per example, K intermediate distributions."""
  return f"ais-hmc-{int(num_chains)}x{ais_lib.schedule_steps(schedule)}"


def adapt_step_size(step_size: jax.Array, acceptance: jax.Array, *, target: float,
                    rate: float, bounds: tuple[float, float]) -> jax.Array:
  """The next temperature's step sizes: ε · exp(rate · (acceptance − target)), clipped.

  Args:
    step_size: [B] current step sizes.
    acceptance: [B] mean acceptance probability of each example's chains, in [0, 1].
    target: the acceptance rate aimed at (0.65 as Wu et al.).
    rate: log-step change per unit of acceptance error.
    bounds: (min, max) step size.
  Returns:
    [B] step sizes.
  """
  return jnp.clip(step_size * jnp.exp(rate * (acceptance - target)), *bounds)


def effective_sample_size(log_w: jax.Array, axis: int = -1) -> jax.Array:
  """(Σ w)² / Σ w² along `axis` of log weights, computed in log space."""
  log_w = log_w - jnp.max(log_w, axis=axis, keepdims=True)
  return jnp.exp(2.0 * jax.nn.logsumexp(log_w, axis=axis)
                 - jax.nn.logsumexp(2.0 * log_w, axis=axis))


def examples_per_chunk(chunk_size: int, batch: int, chains_per_example: int) -> int:
  """Examples annealed together: `chunk_size` rows (examples × chains), at least one
  example (its chains share one step size, so they are never split); 0 picks
  about `AUTO_ROWS_PER_CHUNK` rows."""
  rows = chunk_size or AUTO_ROWS_PER_CHUNK
  return max(1, min(batch, rows // chains_per_example))


def hmc_ais(
    log_prior: Callable[[jax.Array], jax.Array],
    log_likelihood: Callable[[jax.Array, jax.Array], jax.Array],
    sample_prior: Optional[Callable[[jax.Array, int], jax.Array]],
    x: jax.Array,
    key: jax.Array,
    *,
    num_chains: int = 16,
    schedule="sigmoid:1000",
    num_leapfrog_steps: int = 10,
    num_tuning_chains: int = 4,
    initial_step_size: float = 0.1,
    target_acceptance: float = 0.65,
    adaptation_rate: float = 0.2,
    step_size_bounds: tuple[float, float] = (1e-4, 2.0),
    step_sizes: Optional[jax.Array] = None,
    chunk_size: int = 0,
    reverse_from: Optional[jax.Array] = None,
) -> HMCAISResult:
  """log p(x) per example by AIS with HMC transitions (traceable: wrap it in `jax.jit`).

  Every example's chains, `chunk_size` rows of examples × chains at a time,
  advance together through one `lax.scan` over the temperatures; chunks of
  examples run one after another (`lax.map`), so peak memory is that of one
  chunk however many examples there are, and flat in the number of chains up to
  a chunk's rows (one example's chains are never split: they share a step size).

  Step sizes. AIS is unbiased only if each transition's parameters do not depend
  on the chain it moves. By default each example runs `num_tuning_chains` extra
  chains beside its C estimation chains, whose weights are discarded: the step
  size for temperature k + 1 is adapted from their mean acceptance at k, so it
  is independent of the estimation chains. `num_tuning_chains=0` adapts on the
  estimation chains themselves, as Wu et al. do (cheaper; measurably biased in
  reverse mode, where all chains start at one point). Given `step_sizes`, no
  adaptation runs (e.g. a reverse run reusing a forward run's step sizes, as
  `bdmc.decoder_bdmc` does).

  Args:
    log_prior: z [*latent] -> [] log p(z), nats, normalised.
    log_likelihood: (x [*event], z [*latent]) -> [] log p(x | z), nats.
    sample_prior: (key, n) -> [n, *latent] exact draws of p(z). Unused in reverse mode.
    x: [B, *event] examples.
    key: example i uses `fold_in(key, i)` (so a value does not depend on chunking):
      its chains start from `fold_in(·, 0)` and temperature k draws from `fold_in(·, k)`.
    num_chains: C ≥ 1 estimation chains per example.
    schedule: a `beta_schedule` spec, e.g. 'sigmoid:1000' (K = 1000).
    num_leapfrog_steps: L leapfrog steps per HMC transition.
    num_tuning_chains: chains per example that only steer the step size (see above).
    initial_step_size: the step size at the first temperature visited (every example).
    target_acceptance: acceptance rate the step size is steered towards.
    adaptation_rate: see `adapt_step_size`.
    step_size_bounds: (min, max) step size.
    step_sizes: None, or [B, K] fixed step sizes per example, in the order the
      temperatures are visited (no adaptation, no tuning chains).
    chunk_size: rows (examples × chains) per chunk; 0 picks ~`AUTO_ROWS_PER_CHUNK`.
    reverse_from: None for forward AIS; or [B, *latent] an exact posterior sample
      per example (its simulated latent), from which all chains anneal β = 1 → 0.
  Returns:
    An `HMCAISResult`.
  """
  if num_chains < 1 or num_tuning_chains < 0:
    raise ValueError(f"HMC-AIS needs num_chains ≥ 1 and num_tuning_chains ≥ 0; got "
                     f"{num_chains} and {num_tuning_chains}.")
  if reverse_from is None and sample_prior is None:
    raise ValueError("Forward HMC-AIS needs sample_prior to start its chains.")
  betas = jnp.asarray(ais_lib.beta_schedule(schedule), jnp.float32)
  reverse = reverse_from is not None
  if reverse:
    betas = betas[::-1]
  num_steps = int(betas.shape[0]) - 1
  batch = int(x.shape[0])
  fixed = step_sizes is not None
  if fixed and tuple(step_sizes.shape) != (batch, num_steps):
    raise ValueError(f"step_sizes must be [examples, steps] = {(batch, num_steps)}; got "
                     f"{tuple(step_sizes.shape)}.")
  tuning = 0 if fixed else num_tuning_chains
  rows = num_chains + tuning  # per example: estimation chains first, then tuning chains
  per_chunk = examples_per_chunk(chunk_size, batch, rows)
  num_chunks = math.ceil(batch / per_chunk)
  padded = num_chunks * per_chunk

  def pad(a):  # repeat the last example; its results are dropped
    extra = padded - batch
    return jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)]) if extra else a

  def split(a):
    return pad(a).reshape((num_chunks, per_chunk) + a.shape[1:])

  index = jnp.arange(padded, dtype=jnp.uint32).reshape(num_chunks, per_chunk)
  xs = {"x": split(x), "index": index}
  if reverse:
    xs["start"] = split(reverse_from)
  if fixed:
    xs["step_sizes"] = split(jnp.asarray(step_sizes, jnp.float32))
  # Imported on use: importing blackjax initialises the XLA backend, which must
  # not happen before a multi-process run's `jax.distributed.initialize`.
  import blackjax  # pylint: disable=import-outside-toplevel
  kernel = blackjax.mcmc.hmc.build_kernel()

  def density_and_state(x_i, z, beta):
    """HMC state of f_β at z, and log p(x | z) for the weight increment."""
    def log_f(z):
      ll = log_likelihood(x_i, z)
      return log_prior(z) + beta * ll, ll

    (log_density, ll), grad = jax.value_and_grad(log_f, has_aux=True)(z)
    return blackjax.mcmc.hmc.HMCState(z, log_density, grad), ll

  def chain_step(x_i, z, beta_prev, beta, step_size, key):
    state, ll = density_and_state(x_i, z, beta)
    log_density = lambda z: log_prior(z) + beta * log_likelihood(x_i, z)
    inverse_mass = jnp.ones((z.size,), z.dtype)
    state, info = kernel(key, state, log_density, step_size, inverse_mass, num_leapfrog_steps)
    return state.position, (beta - beta_prev) * ll, info.acceptance_rate

  per_example = jax.vmap(chain_step, in_axes=(None, 0, None, None, None, 0))
  all_chains = jax.vmap(per_example, in_axes=(0, 0, None, None, 0, 0))

  def run_chunk(inputs):
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, inputs["index"])
    if reverse:
      start = inputs["start"]
      z0 = jnp.broadcast_to(start[:, None], (per_chunk, rows) + start.shape[1:])
    else:
      z0 = jax.vmap(lambda k: sample_prior(jax.random.fold_in(k, 0), rows))(keys)

    def body(carry, step):
      z, log_w, step_size = carry
      if fixed:
        step_size = step["step_size"]
      chain_keys = jax.vmap(lambda kk: jax.random.split(jax.random.fold_in(kk, step["k"]),
                                                        rows))(keys)
      z, delta, accept = all_chains(inputs["x"], z, step["beta_prev"], step["beta"],
                                    step_size, chain_keys)
      steering = accept[:, num_chains:] if tuning else accept
      new_step_size = adapt_step_size(step_size, jnp.mean(steering, axis=1),
                                      target=target_acceptance, rate=adaptation_rate,
                                      bounds=step_size_bounds)
      log_w = log_w + delta[:, :num_chains]
      return (z, log_w, new_step_size), (jnp.mean(accept[:, :num_chains], axis=1), step_size)

    init = (z0, jnp.zeros((per_chunk, num_chains), jnp.float32),
            jnp.full((per_chunk,), initial_step_size, jnp.float32))
    steps = {"beta_prev": betas[:-1], "beta": betas[1:],
             "k": jnp.arange(1, num_steps + 1, dtype=jnp.uint32)}
    if fixed:
      steps["step_size"] = inputs["step_sizes"].T  # [K, per_chunk]
    (z, log_w, _), (accept, used) = jax.lax.scan(body, init, steps)
    return log_w, accept.T, used.T, z[:, :num_chains]

  if num_chunks == 1:
    outs = jax.tree.map(lambda a: a[None], run_chunk(jax.tree.map(lambda a: a[0], xs)))
  else:
    outs = jax.lax.map(run_chunk, xs)
  log_w, accept, used, z = (a.reshape((padded,) + a.shape[2:])[:batch] for a in outs)
  log_mean_w = jax.nn.logsumexp(log_w, axis=1) - math.log(num_chains)
  return HMCAISResult(
      log_likelihood=-log_mean_w if reverse else log_mean_w,
      log_weights=log_w,
      effective_sample_size=effective_sample_size(log_w, axis=1),
      acceptance_rate=accept.mean(axis=0),
      step_sizes=used,
      final_latents=z)


def decoder_gradient_evaluations(batch: int, num_chains: int, schedule,
                                 num_leapfrog_steps: int, num_tuning_chains: int = 4) -> int:
  """Gradient evaluations of log p(x | z) that one `hmc_ais` call makes:
  B · (C + tuning chains) · K · (L + 1)."""
  return int(batch) * (int(num_chains) + int(num_tuning_chains)) * ais_lib.schedule_steps(
      schedule) * (int(num_leapfrog_steps) + 1)

