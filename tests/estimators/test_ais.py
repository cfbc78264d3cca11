"""AIS against exact log Z on tiny RBMs; schedules; enumeration; the weights' summary."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlatent.estimators import ais
from genlatent import boltzmann
from tests import xla
from tests.train.helpers import random_rbm


def test_classic_schedule_has_the_published_steps():
  betas = ais.beta_schedule("classic")
  assert len(betas) == 14501 and ais.schedule_steps("classic") == 14500
  steps = np.diff(betas.astype(np.float64))
  np.testing.assert_allclose(steps[:500], 1e-3, rtol=1e-3)
  np.testing.assert_allclose(steps[500:4500], 1e-4, rtol=1e-2)
  np.testing.assert_allclose(steps[4500:], 1e-5, rtol=1e-1)
  assert betas[0] == 0.0 and betas[-1] == 1.0 and np.all(steps > 0)


@pytest.mark.parametrize("spec", ["linear:10", 10, "sigmoid:10"])
def test_other_schedules_run_from_zero_to_one(spec):
  betas = ais.beta_schedule(spec)
  assert len(betas) == 11 and betas[0] == 0.0 and betas[-1] == 1.0
  assert np.all(np.diff(betas) > 0)


def test_a_scaled_classic_schedule_keeps_its_segments_in_proportion():
  assert np.array_equal(ais.beta_schedule("classic:14500"), ais.beta_schedule("classic"))
  betas = ais.beta_schedule("classic:58000").astype(np.float64)
  assert len(betas) == 58_001 and betas[0] == 0.0 and betas[-1] == 1.0
  steps = np.diff(betas)
  assert np.all(steps > 0)
  np.testing.assert_allclose(steps[:2000], 2.5e-4, rtol=1e-3)  # 0 → 0.5 in 2,000
  np.testing.assert_allclose(steps[18000:], 2.5e-6, rtol=1e-1)  # 0.9 → 1 in 40,000
  assert ais.schedule_steps("classic:29") == 29


@pytest.mark.parametrize("spec", ["cosine:5", "classic:28", "classic:x"])
def test_bad_schedule_is_a_clear_error(spec):
  with pytest.raises(ValueError, match=f"Unknown AIS schedule '{spec}'.*'classic:K' \\(K ≥ 29\\)"):
    ais.beta_schedule(spec)


# (visible, hidden, seed, weight scale): weights ~ N(0, scale²) with biases ~ N(0, 1), so
# each target is far from its base model.
TINY_RBMS = [(12, 8, 0, 1.0), (6, 14, 1, 1.0), (16, 5, 2, 1.5), (9, 9, 3, 0.5)]
PADDED = (16, 14)


def _brute_force_log_z(params):
  """log Z by summing −F(v) over every binary v, in float64 numpy."""
  w, b, c = (np.asarray(params[k], np.float64) for k in ("weights", "visible_bias", "hidden_bias"))
  v = np.array(list(itertools.product([0.0, 1.0], repeat=w.shape[0])))
  neg_f = v @ b + np.logaddexp(0.0, c + v @ w).sum(axis=1)
  return float(np.logaddexp.reduce(neg_f))


def _padded_batch(models):
  """The RBMs padded with decoupled units (zero weights and biases) to one shape, stacked.

  A padded visible or hidden unit contributes exactly log 2 to log Z and exactly 0 to
  every AIS weight increment, so one compiled AIS serves every size.
  """
  v_max, h_max = PADDED
  padded = []
  for p in models:
    v, h = p["weights"].shape
    padded.append({"weights": jnp.pad(p["weights"], ((0, v_max - v), (0, h_max - h))),
                   "visible_bias": jnp.pad(p["visible_bias"], (0, v_max - v)),
                   "hidden_bias": jnp.pad(p["hidden_bias"], (0, h_max - h))})
  offsets = [(v_max - p["weights"].shape[0] + h_max - p["weights"].shape[1]) * math.log(2.0)
             for p in models]
  return jax.tree.map(lambda *a: jnp.stack(a), *padded), np.array(offsets)


def _batched_ais(schedule, num_chains=100, base="data"):
  models = [random_rbm(seed, v, h, scale) for v, h, seed, scale in TINY_RBMS]
  stacked, offsets = _padded_batch(models)
  keys = jax.random.split(jax.random.PRNGKey(7), len(models))
  run = jax.jit(jax.vmap(lambda p, k: boltzmann.ais_log_partition(
      p, jnp.zeros((PADDED[0],)), k, num_chains, schedule, base=base)),
      compiler_options=xla.OPTIMIZED)
  result = run(stacked, keys)
  exact = np.array([_brute_force_log_z(p) for p in models])
  return result, offsets, exact


@pytest.fixture(scope="module")
def classic_results():
  return _batched_ais("classic")


def test_ais_with_the_default_schedule_is_within_a_tenth_of_a_nat(classic_results):
  result, offsets, exact = classic_results
  estimate = np.asarray(result.log_z) - offsets
  error = estimate - exact
  assert np.all(np.abs(error) < 0.1), (estimate, exact)
  # The reported spread covers the error: the truth is inside the ±3σ bracket.
  low, high = np.asarray(result.log_z_low) - offsets, np.asarray(result.log_z_high) - offsets
  assert np.all((low <= exact) & (exact <= high)), (low, exact, high)
  assert np.all(np.abs(error) <= 3 * np.asarray(result.stderr) + 1e-3)
  ess = np.asarray(result.effective_sample_size)
  assert np.all((ess >= 1.0) & (ess <= 100.0))


def test_a_short_schedule_reports_a_wider_spread(classic_results):
  short, offsets, exact = _batched_ais("linear:20")
  assert np.all(np.asarray(short.stderr) > 3 * np.asarray(classic_results[0].stderr))
  # Too short to be trusted, and its spread says so: the errors are of its order.
  error = np.abs(np.asarray(short.log_z) - offsets - exact)
  assert np.all(error <= 10 * np.asarray(short.stderr) + 0.05), (error, short.stderr)


def test_a_fitted_base_evens_the_weights_and_stays_exact():
  data, offsets, exact = _batched_ais("linear:1000")
  fitted, _, _ = _batched_ais("linear:1000", base="fitted")
  error = np.asarray(fitted.log_z) - offsets - exact
  assert np.all(np.abs(error) < 0.1), error
  assert np.all(np.abs(error) <= 3 * np.asarray(fitted.stderr) + 1e-3)
  # The base matched to the pilot's final states is closer to each RBM than the
  # uniform one: more even weights, a smaller spread.
  assert np.all(np.asarray(fitted.effective_sample_size) > np.asarray(data.effective_sample_size))
  assert np.all(np.asarray(fitted.stderr) < np.asarray(data.stderr))
  # The pilot is the data-base run with its own key: an estimate of the same log Z.
  pilot_error = np.asarray(fitted.pilot_log_z) - offsets - exact
  assert np.all(np.abs(pilot_error) < 0.3), pilot_error
  assert data.pilot_log_z is None


def test_a_fitted_base_on_a_gaussian_rbm_matches_exact_log_z():
  params = random_rbm(3, 6, 8, scale=0.5, gaussian=True)
  exact = float(boltzmann.exact_log_partition(params))
  result = jax.jit(lambda p, k: boltzmann.ais_log_partition(
      p, jnp.zeros((6,)), k, 64, "linear:300", base="fitted"))(params, jax.random.PRNGKey(0))
  assert abs(float(result.log_z) - exact) < 0.1
  assert float(result.log_z_low) <= exact <= float(result.log_z_high)


def test_fitted_base_matches_the_marginals_of_exact_samples():
  """On exact draws of a small RBM, or on all states weighted by p*(v), the fitted base's
  rates are the RBM's marginals."""
  params = random_rbm(0, 12, 8, 1.0)
  v = np.array(list(itertools.product([0.0, 1.0], repeat=12)), np.float32)
  neg_f = -np.asarray(boltzmann.free_energy(params, v), np.float64)
  p = np.exp(neg_f - np.logaddexp.reduce(neg_f))
  marginals = p @ v
  draws = v[np.random.default_rng(0).choice(len(v), size=20000, p=p)]
  logits = boltzmann.fitted_base_bias(params, jnp.asarray(draws), jax.random.PRNGKey(1))
  np.testing.assert_allclose(jax.nn.sigmoid(logits), marginals, atol=0.01)
  # Every state 20 times (20 draws of h each), weighted by p*(v): importance weights
  # against a uniform proposal.
  weighted = boltzmann.fitted_base_bias(params, jnp.tile(v, (20, 1)), jax.random.PRNGKey(2),
                                        jnp.tile(jnp.asarray(neg_f, jnp.float32), 20))
  np.testing.assert_allclose(jax.nn.sigmoid(weighted), marginals, atol=0.02)
  # Unweighted, the same states are uniform draws, which one Gibbs half-step (the
  # Rao-Blackwellisation) moves only part of the way to the RBM's marginals.
  uniform = boltzmann.fitted_base_bias(params, jnp.tile(v, (20, 1)), jax.random.PRNGKey(2))
  assert np.abs(np.asarray(jax.nn.sigmoid(uniform)) - marginals).max() > 0.05


def test_a_pilot_far_above_the_run_marks_log_z_unreliable():
  run = ais.summarize_log_weights(jnp.linspace(100.0, 100.5, 50))  # even weights
  agreeing = ais.ais_report("ais-50x10", run.replace(
      pilot_log_z=run.log_z + 2.0, pilot_effective_sample_size=jnp.float32(1.2)))
  assert agreeing["ais_reliable"] and agreeing["ais_base"] == "fitted"
  assert agreeing["pilot_excess"] == pytest.approx(2.0, abs=1e-3)
  above = ais.ais_report("ais-50x10", run.replace(
      pilot_log_z=run.log_z + 3.5, pilot_effective_sample_size=jnp.float32(2.0)))
  assert not above["ais_reliable"] and above["pilot_excess"] > ais.MAX_PILOT_EXCESS
  assert "3.50 nats higher" in above["ais_warning"] and "model.ais_schedule" in above["ais_warning"]


def test_unknown_ais_base_names_the_field_and_the_choices():
  with pytest.raises(ValueError, match=r"model.ais_base 'best'. Known: fitted, data"):
    boltzmann.ais_base_of({"ais_base": "best"})
  assert boltzmann.ais_base_of({}) == "fitted"


def test_exact_log_partition_matches_brute_force_on_either_side():
  for v, h, seed, scale in TINY_RBMS[:2]:  # hidden side summed, then visible side
    params = random_rbm(seed, v, h, scale)
    assert float(boltzmann.exact_log_partition(params)) == pytest.approx(
        _brute_force_log_z(params), abs=2e-4)


def test_ais_on_a_gaussian_rbm_matches_exact_log_z():
  params = random_rbm(3, 6, 8, scale=0.5, gaussian=True)
  exact = float(boltzmann.exact_log_partition(params))
  result = jax.jit(lambda p, k: boltzmann.ais_log_partition(p, jnp.zeros((6,)), k, 64, "linear:1000"))(
      params, jax.random.PRNGKey(0))
  assert abs(float(result.log_z) - exact) < 0.1
  assert float(result.log_z_low) <= exact <= float(result.log_z_high)


def test_enumeration_matches_brute_force_for_any_chunk_size():
  w = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
  log_f = lambda s: s @ w  # [N, 7] -> [N, 3]
  states = np.array(list(itertools.product([0.0, 1.0], repeat=7)), np.float32)
  expected = jax.nn.logsumexp(states @ np.asarray(w), axis=0)
  for chunk in (1, 5, 16, 1000):
    np.testing.assert_allclose(ais.log_sum_over_binary_states(log_f, 7, chunk), expected,
                               rtol=1e-5)
  with pytest.raises(ValueError, match="limit is 20"):
    ais.log_sum_over_binary_states(log_f, 21)


def test_summary_of_equal_and_huge_weights():
  equal = ais.summarize_log_weights(jnp.full((50,), 3.0))
  assert float(equal.log_z) == pytest.approx(3.0) and float(equal.stderr) == 0.0
  assert float(equal.effective_sample_size) == pytest.approx(50.0)
  huge = ais.summarize_log_weights(jnp.array([5000.0, 5000.0 + math.log(3.0)]))
  assert float(huge.log_z) == pytest.approx(5000.0 + math.log(2.0), abs=1e-3)
  assert np.isfinite(float(huge.stderr)) and float(huge.effective_sample_size) == pytest.approx(1.6, rel=1e-4)


def test_log_z_is_computed_once_per_evaluation_key():
  params = random_rbm(0, 12, 8, 1.0)
  built = []

  def as_rbm(p):
    built.append(1)  # runs when `normaliser.ais` is traced, i.e. when log Ẑ is computed
    return p

  normaliser = boltzmann.Normaliser(as_rbm=as_rbm, base_logits=lambda p: jnp.zeros((12,)),
                                    schedule="linear:50", enumerable=False, ais_chains=8)
  key = jax.random.PRNGKey(3)
  first = ais.log_partition_state(normaliser, params, key, "ais", 8)
  again = ais.log_partition_state(normaliser, params, key, "ais", 8)
  assert len(built) == 1 and float(again[0]["log_z"]) == float(first[0]["log_z"])
  assert again[1] == first[1] and again[2] == first[2] == "ais-8x50"
  other = ais.log_partition_state(normaliser, params, jax.random.PRNGKey(4), "ais", 8)
  assert len(built) == 2 and float(other[0]["log_z"]) != float(first[0]["log_z"])
  changed = dict(params, hidden_bias=params["hidden_bias"] + 0.5)
  ais.log_partition_state(normaliser, changed, key, "ais", 8)
  assert len(built) == 3
