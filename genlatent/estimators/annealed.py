"""`ais`: annealed importance sampling, for every family with a path to anneal along.

Boltzmann families (RBM, DBN, DBM): log p(x) = log p*(x) − log Ẑ, log Ẑ by AIS
from the base-rate model with M chains (`ais:M`), once per evaluation.

Decoder families (VAE, AE, AAE; Wu et al., 2017): per example, from p(z) to
p(z | x) ∝ p(z) p(x | z) with HMC transitions (`hmc_ais`), M chains per
example, along the family's `ais_schedule`. A stochastic lower bound on log p(x)
in expectation, far tighter than importance sampling with a poor proposal.
`prepare` runs the same annealing on up to `DIAGNOSTIC_EXAMPLES` validation
examples and reports the HMC acceptance rates and the chains' effective sample
size (the test values come from the per-batch runs, which keep only values).
"""

from __future__ import annotations

import jax
import numpy as np

from genlatent.core import ESTIMATORS, Estimator, Kind, LogLikelihood
from genlatent.estimators import ais, hmc_ais

DIAGNOSTIC_EXAMPLES = 32


def _decoder_based(model) -> bool:
  latent = model.densities.latent
  return latent is not None and latent.prior_log_prob is not None


def supports(model) -> bool:
  return model.densities.boltzmann is not None or _decoder_based(model)


def _hmc_ais(model, params, x, key, num_chains) -> hmc_ais.HMCAISResult:
  latent = model.densities.latent
  return hmc_ais.hmc_ais(
      lambda z: latent.prior_log_prob(params, z),
      lambda xi, z: latent.decoder_log_prob(params, xi[None], z[None])[0],
      lambda k, n: latent.prior_sample(params, k, n), x, key, num_chains=num_chains,
      schedule=latent.ais_schedule, num_leapfrog_steps=latent.ais_leapfrog_steps)


def prepare(model, params, key, num_samples, validation_x):
  """Boltzmann: log Ẑ by AIS with `num_samples` chains. Decoder: diagnostics only."""
  if model.densities.boltzmann is not None:
    state, report, _ = ais.log_partition_state(model.densities.boltzmann.normaliser, params,
                                               key, "ais", num_samples)
    return state, report
  if validation_x is None or len(validation_x) == 0:
    return None, {"hmc_diagnostics": "none (no validation split)"}
  x = np.asarray(validation_x[:DIAGNOSTIC_EXAMPLES])
  result = jax.jit(lambda p, xx, k: _hmc_ais(model, p, xx, k, num_samples))(params, x, key)
  acceptance = np.asarray(result.acceptance_rate)
  half = acceptance[len(acceptance) // 2:]
  ess = np.asarray(result.effective_sample_size)
  return None, {
      "hmc_diagnostic_examples": int(len(x)),
      "hmc_acceptance_mean": float(acceptance.mean()),
      "hmc_acceptance_second_half": [float(half.min()), float(half.mean()), float(half.max())],
      "hmc_final_step_size_median": float(np.median(np.asarray(result.step_sizes)[:, -1])),
      "ais_effective_sample_size_mean": float(ess.mean()),
      "ais_effective_sample_size_min": float(ess.min()),
      "validation_mean_nats": float(np.asarray(result.log_likelihood).mean())}


def log_likelihood(model, params, state, x, key, num_samples) -> LogLikelihood:
  """[B] nats, a stochastic estimate (see the module docstring)."""
  boltzmann = model.densities.boltzmann
  if boltzmann is not None:
    _, key_h = jax.random.split(key)
    values, suffix = boltzmann.log_unnormalised(params, x, key_h)
    label = ais.ais_label(num_samples, boltzmann.normaliser.schedule) + suffix
    return LogLikelihood(values - state["log_z"], label, Kind.ESTIMATE)
  result = _hmc_ais(model, params, x, key, num_samples)
  return LogLikelihood(result.log_likelihood,
                       hmc_ais.ais_hmc_label(num_samples, model.densities.latent.ais_schedule),
                       Kind.ESTIMATE)


ESTIMATORS.register("ais")(Estimator(
    needs="an unnormalised density with a tractable base (a Boltzmann family), or a prior "
          "and a decoder to anneal between",
    supports=supports, log_likelihood=log_likelihood, prepare=prepare))
