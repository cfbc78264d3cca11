"""Bidirectional Monte Carlo: a bracket on log p(x) from data simulated by the model.

Grosse, Ghahramani & Adams (2015), "Sandwiching the marginal likelihood using
bidirectional Monte Carlo". On data drawn from the model, (x, z) ~ p(z) p(x | z),
the latent z is an exact sample of the posterior p(z | x). Forward AIS (prior →
posterior) gives a stochastic lower bound on log p(x); reverse AIS started from
the exact z (posterior → prior) a stochastic upper bound. Both bounds hold in
expectation, and their gap bounds the error of either on such data: a small gap
says the schedule is long enough (for data like the model's own; real data can
be harder).

Two forms:
  `decoder_bdmc`: models with a prior p(z) and a decoder p(x | z), by HMC-AIS
    (`hmc_ais.py`) per example;
  `boltzmann_bdmc`: models with an `AnnealingPath` (`raise_ais.py`), e.g. an
    RBM: the bracket is on the shared log Z (forward AIS from the base model is
    low, reverse AIS from exact samples of the model is high), hence on each
    log p(x) = log f_1(x) − log Z. Exact samples of a tiny RBM come from
    `sample_by_enumeration`.

All values are nats.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from genlatent.core import Kind, paired_difference, summarize
from genlatent.estimators import ais as ais_lib
from genlatent.estimators import hmc_ais
from genlatent.estimators.raise_ais import AnnealingPath


class BDMCResult(NamedTuple):
  """A BDMC bracket on simulated data.

  Attributes:
    x: [N, *event] the simulated examples.
    lower: [N] stochastic lower bounds on log p(x), nats (forward AIS).
    upper: [N] stochastic upper bounds on log p(x), nats (reverse AIS).
    forward, reverse: the two runs' diagnostics: `hmc_ais.HMCAISResult`s
      (decoder models) or `ais.AISResult`s of log Z and of log(Z_0 / Z) (Boltzmann).
  """

  x: jax.Array
  lower: jax.Array
  upper: jax.Array
  forward: object
  reverse: object


def decoder_bdmc(
    log_prior: Callable[[jax.Array], jax.Array],
    log_likelihood: Callable[[jax.Array, jax.Array], jax.Array],
    sample_prior: Callable[[jax.Array, int], jax.Array],
    sample_joint: Callable[[jax.Array, int], tuple[jax.Array, jax.Array]],
    key: jax.Array,
    num_examples: int,
    **hmc_options,
) -> BDMCResult:
  """BDMC for a model with a prior and a decoder (traceable: wrap it in `jax.jit`).

  The reverse run reuses the forward run's per-example step sizes, each at the
  temperature it was tuned for, so both directions use the same transitions and
  the reverse chains' step sizes depend on neither them nor the exact latents
  (adapting on chains that all start at one exact latent biases the upper bound low).

  Args:
    log_prior, log_likelihood, sample_prior: as `hmc_ais.hmc_ais` takes them.
    sample_joint: (key, n) -> (x [n, *event], z [n, *latent]), z ~ p(z), x ~ p(x | z).
    key: the simulation, forward and reverse runs draw from `fold_in(key, 0/1/2)`.
    num_examples: N simulated examples.
    **hmc_options: `hmc_ais.hmc_ais` keywords (num_chains, schedule, ...), the
      same for both directions.
  Returns:
    A `BDMCResult`.
  """
  x, z = sample_joint(jax.random.fold_in(key, 0), num_examples)
  forward = hmc_ais.hmc_ais(log_prior, log_likelihood, sample_prior, x,
                            jax.random.fold_in(key, 1), **hmc_options)
  # Forward step k moved at β_k; reverse step j moves at β_{K−1−j} (the last, at
  # β_0, changes no weight).
  tuned = forward.step_sizes
  step_sizes = jnp.concatenate([tuned[:, :-1][:, ::-1], tuned[:, :1]], axis=1)
  reverse = hmc_ais.hmc_ais(log_prior, log_likelihood, None, x, jax.random.fold_in(key, 2),
                            reverse_from=z, step_sizes=step_sizes, **hmc_options)
  return BDMCResult(x=x, lower=forward.log_likelihood, upper=reverse.log_likelihood,
                    forward=forward, reverse=reverse)


def boltzmann_bdmc(path: AnnealingPath, simulated: jax.Array, key: jax.Array, *,
                   num_chains: int, schedule) -> BDMCResult:
  """BDMC for a model with an annealing path: a bracket on log Z (traceable).

  Forward AIS: `num_chains` chains from the base model, log Ẑ_fwd low in
  expectation. Reverse AIS: one chain from each simulated state, with weights
  w_rev of mean Z_0 / Z, so log Ẑ_rev = log Z_0 − log mean w_rev is high in
  expectation. Then for each simulated x, log f_1(x) − log Ẑ_rev ≤ log p(x) ≤
  log f_1(x) − log Ẑ_fwd, and the gap log Ẑ_rev − log Ẑ_fwd is every example's.

  Args:
    path: the family's `AnnealingPath`.
    simulated: [N ≥ 2, *state] exact draws of the model (e.g. `sample_by_enumeration`).
    key: forward and reverse draw from `fold_in(key, 1)` and `fold_in(key, 2)`.
    num_chains: forward chains M ≥ 2.
    schedule: a `beta_schedule` spec, the same for both directions.
  Returns:
    A `BDMCResult`; `forward` is the AIS result of log Z, `reverse` that of
    log(Z_0 / Z) (its `log_z` field).
  """
  betas = ais_lib.beta_schedule(schedule)
  forward = ais_lib.annealed_importance_sampling(
      path.step, path.sample_base, path.log_z_base, betas, jax.random.fold_in(key, 1),
      num_chains)
  reverse = ais_lib.annealed_importance_sampling(
      path.step, lambda key, n: simulated, jnp.zeros(()), betas[::-1],
      jax.random.fold_in(key, 2), int(simulated.shape[0]))
  log_z_upper = path.log_z_base - reverse.log_z
  log_f = path.log_f(simulated, 1.0)
  return BDMCResult(x=simulated, lower=log_f - log_z_upper, upper=log_f - forward.log_z,
                    forward=forward, reverse=reverse)


def sample_by_enumeration(log_marginal: Callable[[jax.Array], jax.Array],
                          sample_conditional: Callable[[jax.Array, jax.Array], jax.Array],
                          num_bits: int, key: jax.Array, n: int) -> jax.Array:
  """n exact draws of a model with a small binary layer, by enumerating that layer.

  E.g. an RBM: h ~ p(h) ∝ exp(−hidden_free_energy(h)) over all 2^H states, then
  v ~ p(v | h). Memory is 2^num_bits floats.

  Args:
    log_marginal: [S, num_bits] -> [S] unnormalised log p(s) of binary states s, nats.
    sample_conditional: (s [n, num_bits], key) -> [n, *state] draws of the rest given s.
    num_bits: at most `ais.MAX_ENUMERATION_BITS`.
    key: the layer draws from `fold_in(key, 0)`, the conditional from `fold_in(key, 1)`.
    n: number of draws.
  Returns:
    [n, *state].
  """
  if not 0 <= num_bits <= ais_lib.MAX_ENUMERATION_BITS:
    raise ValueError(f"Exact sampling enumerates 2^{num_bits} states; the limit is "
                     f"{ais_lib.MAX_ENUMERATION_BITS} bits.")
  states = ais_lib.binary_states(jnp.arange(2 ** num_bits, dtype=jnp.uint32), num_bits)
  index = jax.random.categorical(jax.random.fold_in(key, 0), log_marginal(states), shape=(n,))
  return sample_conditional(states[index], jax.random.fold_in(key, 1))


def bdmc_report(result: BDMCResult) -> dict:
  """Host floats for eval.json's `bdmc` section, nats per example.

  Returns:
    {'lower', 'upper', 'gap'} means over the N simulated examples, each with its
    standard error ('gap' paired per example), and 'num_examples'. For a
    Boltzmann model the gap is the same for every example: its stderr is that
    of the two log Z estimates combined, and `log_z_lower`/`log_z_upper` (with
    their delta-method stderrs) are added.
  """
  lower = summarize(result.lower, "bdmc-forward", Kind.ESTIMATE)
  upper = summarize(result.upper, "bdmc-reverse", Kind.ESTIMATE)
  gap, gap_stderr = paired_difference(result.upper, result.lower)
  report = {"lower": lower.mean, "lower_stderr": lower.stderr,
            "upper": upper.mean, "upper_stderr": upper.stderr,
            "gap": gap, "gap_stderr": gap_stderr, "num_examples": lower.count}
  if isinstance(result.forward, ais_lib.AISResult):
    report["gap_stderr"] = math.hypot(float(result.forward.stderr), float(result.reverse.stderr))
    report.update(log_z_lower=float(result.forward.log_z),
                  log_z_lower_stderr=float(result.forward.stderr),
                  log_z_upper=float(result.forward.log_z) + gap,
                  log_z_upper_stderr=float(result.reverse.stderr))
  return report


def unsupported_reason(model, params=None) -> str | None:
  """Why `model_bdmc` cannot bracket `model` (one sentence), or None where it can.

  Decoder models need a prior, a decoder and an exact decoder sampler
  (`LatentVariable.decoder_sample`); Boltzmann models need a normaliser with an
  annealing path whose RBM view can be sampled exactly (≤ 20 hidden units,
  checked only when `params` are given).
  """
  boltzmann, latent = model.densities.boltzmann, model.densities.latent
  if boltzmann is not None:
    normaliser = boltzmann.normaliser
    if getattr(normaliser, "sample_exact", None) is None:
      return (f"model {model.name!r} has a Boltzmann normaliser without an annealing path and "
              "exact sampler")
    if params is not None and not normaliser.exact_sampling_supported(params):
      return (f"BDMC on model {model.name!r} needs exact samples of its RBM view, drawn by "
              f"enumerating at most {ais_lib.MAX_ENUMERATION_BITS} hidden units; this one has "
              "more (train a smaller top layer, or compare with --estimators=ais:M,raise:M)")
    return None
  if latent is not None and latent.prior_log_prob is not None:
    if latent.decoder_sample is None:
      return f"model {model.name!r} exposes no exact sampler of p(x | z) to simulate data from"
    return None
  return (f"model {model.name!r} has no annealing path (neither a Boltzmann normaliser nor a "
          "prior and decoder), so no AIS to run both ways")


def model_bdmc(model, params, key: jax.Array, num_examples: int, num_chains: int):
  """BDMC for any model `unsupported_reason` accepts, along the model's own AIS schedule.

  Decoder models (`decoder_bdmc`): N examples (x, z) ~ p(z) p(x | z), C chains
  per example each way, the family's `ais_schedule` and leapfrog steps.
  Boltzmann models (`boltzmann_bdmc` on the normaliser's RBM view): N exact
  states of the RBM view, C forward chains, N reverse chains, the normaliser's
  schedule; the per-example bounds are on the RBM view's log-probability of
  those states (for an RBM, log p(x)) and the gap is that of log Z, which every
  log p(x) of the model shares.

  Traceable in `params` and `key` (wrap it in `jax.jit`, the counts static).
  Returns a `BDMCResult` (its settings: `bdmc_settings`).
  Raises:
    ValueError: `unsupported_reason` (one sentence) when the model has no BDMC.
  """
  reason = unsupported_reason(model, params)
  if reason is not None:
    raise ValueError(reason)
  boltzmann = model.densities.boltzmann
  if boltzmann is not None:
    normaliser = boltzmann.normaliser
    simulated = normaliser.sample_exact(params, jax.random.fold_in(key, 0), num_examples)
    return boltzmann_bdmc(normaliser.annealing_path(params), simulated,
                          jax.random.fold_in(key, 1), num_chains=num_chains,
                          schedule=normaliser.schedule)
  latent = model.densities.latent

  def sample_joint(k, n):
    z = latent.prior_sample(params, jax.random.fold_in(k, 0), n)
    return latent.decoder_sample(params, z, jax.random.fold_in(k, 1)), z

  return decoder_bdmc(
      lambda z: latent.prior_log_prob(params, z),
      lambda xi, z: latent.decoder_log_prob(params, xi[None], z[None])[0],
      lambda k, n: latent.prior_sample(params, k, n), sample_joint, key, num_examples,
      num_chains=num_chains, schedule=latent.ais_schedule,
      num_leapfrog_steps=latent.ais_leapfrog_steps)


def bdmc_settings(model, num_chains: int) -> dict:
  """What `model_bdmc` runs for `model`: {'path', 'schedule', 'schedule_steps',
  'num_chains', 'label'} (host values for eval.json)."""
  boltzmann = model.densities.boltzmann
  if boltzmann is not None:
    schedule, path = boltzmann.normaliser.schedule, "boltzmann: log Z of the RBM view"
  else:
    schedule, path = model.densities.latent.ais_schedule, "decoder: HMC from p(z) to p(z | x)"
  steps = ais_lib.schedule_steps(schedule)
  return {"path": path, "schedule": str(schedule), "schedule_steps": steps,
          "num_chains": int(num_chains), "label": f"bdmc-{int(num_chains)}x{steps}"}
