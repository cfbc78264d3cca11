"""RBM: energies and conditionals against enumeration, Gibbs sampling against the exact
distribution, the CD gradient against the exact one (PCD chains through a checkpoint and
on eight devices: tests/train/test_parallel.py)."""

import itertools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import rbm as rbm_config
from genlatent import train
from genlatent import boltzmann, estimators
from genlatent.models import rbm
from tests.train.helpers import random_rbm


def _states(n):
  return np.array(list(itertools.product([0.0, 1.0], repeat=n)), np.float32)


def _exact_probs(params):
  """[2^V] p(v) over every binary v (in `_states` order), float64."""
  v = _states(params["weights"].shape[0])
  log_p = -np.asarray(boltzmann.free_energy(params, v), np.float64)
  return np.exp(log_p - np.logaddexp.reduce(log_p))


def test_free_energy_and_conditionals_match_enumeration():
  params = random_rbm(0, 4, 3)
  vs, hs = _states(4), _states(3)
  # E[v, h] for every pair: [16, 8].
  e = np.stack([np.asarray(boltzmann.energy(params, vs, np.tile(h, (16, 1)))) for h in hs], axis=1)
  joint = np.exp(-e.astype(np.float64))
  np.testing.assert_allclose(boltzmann.free_energy(params, vs), -np.log(joint.sum(1)), rtol=1e-5)
  np.testing.assert_allclose(boltzmann.hidden_free_energy(params, hs), -np.log(joint.sum(0)),
                             rtol=1e-5)
  np.testing.assert_allclose(boltzmann.exact_log_partition(params), np.log(joint.sum()), rtol=1e-5)
  p_h_given_v = joint / joint.sum(1, keepdims=True)
  np.testing.assert_allclose(boltzmann.hidden_probs(params, vs), p_h_given_v @ hs, atol=1e-5)
  p_v_given_h = joint / joint.sum(0, keepdims=True)
  np.testing.assert_allclose(boltzmann.visible_mean(params, hs), p_v_given_h.T @ vs, atol=1e-5)


def test_gaussian_rbm_against_numerical_integration():
  params = random_rbm(1, 2, 3, gaussian=True)
  hs = _states(3)
  grid = np.linspace(-12.0, 12.0, 801, dtype=np.float32)
  step = float(grid[1] - grid[0])
  v = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
  e = np.stack([np.asarray(boltzmann.energy(params, v, np.tile(h, (len(v), 1)))) for h in hs], 1)
  joint = np.exp(-e.astype(np.float64))  # [grid points, 8]
  np.testing.assert_allclose(boltzmann.free_energy(params, v[::997]), -np.log(joint[::997].sum(1)),
                             rtol=1e-4)
  log_z = np.log(joint.sum() * step ** 2)
  assert float(boltzmann.exact_log_partition(params)) == pytest.approx(log_z, abs=1e-3)
  np.testing.assert_allclose(np.exp(-boltzmann.hidden_free_energy(params, hs)),
                             joint.sum(0) * step ** 2, rtol=1e-3)
  mean_v = (joint / joint.sum(0)).T @ v  # E[v | h] by quadrature, [8, 2]
  np.testing.assert_allclose(boltzmann.visible_mean(params, hs), mean_v, atol=1e-3)
  p_h = joint / joint.sum(1, keepdims=True)
  np.testing.assert_allclose(boltzmann.hidden_probs(params, v[::997]), p_h[::997] @ hs, atol=1e-5)


@pytest.mark.slow
def test_gibbs_chains_reach_the_exact_distribution():
  params = random_rbm(2, 5, 4)
  exact = _exact_probs(params)
  start = jnp.zeros((20000, 5))
  final, _ = jax.jit(boltzmann.gibbs_chain, static_argnums=3)(params, start, jax.random.PRNGKey(0), 50)
  codes = np.asarray(final, np.int64) @ (2 ** np.arange(4, -1, -1))  # `_states` order
  empirical = np.bincount(codes, minlength=32) / len(codes)
  total_variation = 0.5 * np.abs(empirical - exact).sum()
  assert total_variation < 0.02, total_variation
  # From an all-zero start, one sweep is visibly not there yet.
  one, _ = jax.jit(boltzmann.gibbs_chain, static_argnums=3)(params, start, jax.random.PRNGKey(0), 1)
  codes = np.asarray(one, np.int64) @ (2 ** np.arange(4, -1, -1))
  assert 0.5 * np.abs(np.bincount(codes, minlength=32) / len(codes) - exact).sum() > 0.05


@pytest.mark.slow
def test_pcd_gradient_at_equilibrium_is_the_exact_gradient():
  params = random_rbm(3, 5, 3)
  vs = _states(5)
  exact = _exact_probs(params)
  data = jnp.asarray(vs[[1, 6, 7, 20, 31, 12]])
  rows = np.random.default_rng(0).choice(32, size=20000, p=exact)
  chains = jnp.asarray(vs[rows])  # exact model samples; a Gibbs sweep keeps them so

  def nll(p):
    log_z = boltzmann.exact_log_partition(p)
    return jnp.mean(boltzmann.free_energy(p, data)) + log_z

  grads, new_chains, sums = jax.jit(lambda p, k, c: boltzmann.contrastive_divergence(
      p, data, k, jnp.arange(6), chains=c))(params, jax.random.PRNGKey(1), chains)
  expected = jax.jit(jax.grad(nll))(params)
  for name in ("weights", "visible_bias", "hidden_bias"):
    np.testing.assert_allclose(grads[name], expected[name], atol=0.02)
  assert new_chains.shape == chains.shape and float(sums["count"]) == 6.0


def test_pseudo_likelihood_flips_one_unit():
  params = random_rbm(4, 30, 7)
  v = (jax.random.uniform(jax.random.PRNGKey(1), (5, 30)) < 0.5).astype(jnp.float32)
  key, index = jax.random.PRNGKey(2), jnp.arange(5)
  got = boltzmann.pseudo_log_likelihood(params, v, key, index)
  unit = np.floor(np.asarray(boltzmann.uniform_noise(key, index, (5, 1)))[:, 0] * 30).astype(int)
  flipped = np.array(v)
  flipped[np.arange(5), unit] = 1 - flipped[np.arange(5), unit]
  expected = 30 * jax.nn.log_sigmoid(boltzmann.free_energy(params, flipped) - boltzmann.free_energy(params, v))
  np.testing.assert_allclose(got, expected, rtol=1e-4)


def _smoke(workdir, variant="smoke,pcd", **overrides):
  config = rbm_config.get_config(variant)
  config.data.validation_size = 197  # 1240 train rows, divisible by 8 devices and 40
  config.update(final_evaluation=False, eval_every=0)
  for name, value in overrides.items():
    config[name] = value
  return train.train_and_evaluate(config, str(workdir))


@pytest.mark.slow
def test_smoke_run_writes_an_ais_estimate_with_its_spread_and_figures(tmp_path):
  _smoke(tmp_path, variant="smoke", final_evaluation=True, num_steps=10)
  with open(tmp_path / "eval.json", encoding="utf-8") as f:
    results = {r["estimator"]: r for r in json.load(f)["splits"]["test"]}
  ais, exact = results["ais-16x300"], results["exact"]
  assert ais["kind"] == "estimate" and exact["kind"] == "exact"
  details = ais["details"]
  assert details["log_z_low_3sigma"] <= details["log_z"] <= details["log_z_high_3sigma"]
  # The shared log Z error is part of the reported stderr, added in quadrature.
  assert ais["stderr_nats"] == pytest.approx(
      np.hypot(details["stderr_across_examples"], details["log_z_stderr"]))
  assert abs(details["log_z"] - exact["details"]["log_z"]) < 0.1
  assert ais["mean_nats"] == pytest.approx(exact["mean_nats"], abs=0.1)
  for name in ("samples.png", "reconstructions.png", "filters.png", "gibbs_chains.png"):
    assert os.path.getsize(tmp_path / name) > 0


def test_unknown_estimator_and_oversized_exact_are_clear_errors():
  config = rbm_config.get_config("digits").model
  model = rbm.build_rbm(config, (8, 8, 1))
  # 64 visible, 100 hidden: nothing to enumerate.
  assert estimators.supported(model) == ["ais", "parzen", "raise"]
  params = model.init(jax.random.PRNGKey(0), None)
  with pytest.raises(ValueError, match="Estimator 'exact' needs .*Estimators for this model: "
                     "ais, parzen"):
    estimators.log_likelihood(model, params, jnp.zeros((2, 8, 8, 1)), jax.random.PRNGKey(0),
                              estimator="exact")
  with pytest.raises(KeyError, match="Unknown estimator 'exakt'. Known estimators: ais, elbo"):
    estimators.log_likelihood(model, params, jnp.zeros((2, 8, 8, 1)), jax.random.PRNGKey(0),
                              estimator="exakt")
  with pytest.raises(ValueError, match="cannot be enumerated"):
    boltzmann.exact_log_partition(params)


def test_a_weight_dominated_ais_run_is_flagged_not_trusted():
  from genlatent.estimators import ais
  lopsided = ais.summarize_log_weights(jnp.array([0.0] * 99 + [30.0]))
  report = ais.ais_report("ais-100x10", lopsided)
  assert not report["ais_reliable"] and "underestimated" in report["ais_warning"]
  assert report["log_z_low_3sigma"] is None  # −∞ has no JSON form
  json.dumps(report, allow_nan=False)
  even = ais.ais_report("ais-100x10", ais.summarize_log_weights(jnp.linspace(0.0, 1.0, 100)))
  assert even["ais_reliable"] and "ais_warning" not in even
