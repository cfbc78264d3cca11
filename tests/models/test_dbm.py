"""DBM: the mean-field fixed point, the likelihood and its bounds against brute force,
the doubled pretraining RBMs, and the three training phases."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from configs import dbm as dbm_config
from genlatent import estimators
from genlatent import boltzmann
from genlatent.models import dbm
from tests.models import raise_checks

V, H1, H2 = 6, 5, 4


def _states(n):
  return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _model(**overrides):
  config = dbm_config.get_config("smoke").model
  config.update(**dict(dict(hidden=(H1, H2), ais_schedule="linear:1000", posterior_samples=5000,
                            chunk_size=1000, mean_field_steps=50), **overrides))
  return dbm.build_dbm(config, (V, 1, 1))


def _random_params(model, seed=0, scale=0.7):
  params = model.init(jax.random.PRNGKey(seed), None)
  keys = iter(jax.random.split(jax.random.PRNGKey(seed + 1), len(params)))
  return {k: (scale if a.ndim == 2 else 1.0) * jax.random.normal(next(keys), a.shape)
          if not k.startswith("base_") else a for k, a in params.items()}


def _brute_force(params, v):
  """(log p(v) [B], log Z) by summing exp(−E) over every (v, h1, h2), float64 numpy."""
  d = {k: np.asarray(a, np.float64) for k, a in dbm.as_dbm(params).items()}
  h1, h2 = _states(H1), _states(H2)

  def log_p_star(v):  # [B, V] -> [B]
    neg_e = ((v @ d["b"])[:, None, None] + (h1 @ d["c1"])[None, :, None]
             + (h2 @ d["c2"])[None, None, :] + (v @ d["W1"] @ h1.T)[:, :, None]
             + (h1 @ d["W2"] @ h2.T)[None])
    return logsumexp(neg_e.reshape(len(v), -1), axis=1)

  log_z = logsumexp(log_p_star(_states(V)))
  return log_p_star(v) - log_z, log_z


def test_mean_field_reaches_a_fixed_point_and_never_lowers_the_bound():
  model = _model()
  d = dbm.as_dbm(_random_params(model, scale=1.0))
  v = jnp.asarray(_states(V)[[3, 20, 41, 62]], jnp.float32)
  logits1, logits2 = jax.jit(dbm.mean_field, static_argnums=2)(d, v, 300)
  mu1, mu2 = jax.nn.sigmoid(logits1), jax.nn.sigmoid(logits2)
  np.testing.assert_allclose(mu1, jax.nn.sigmoid(d["c1"] + v @ d["W1"] + mu2 @ d["W2"].T),
                             atol=1e-5)
  np.testing.assert_allclose(mu2, jax.nn.sigmoid(d["c2"] + mu1 @ d["W2"]), atol=1e-5)
  bound = jax.jit(dbm.mean_field_bound, static_argnums=2)
  bounds = np.stack([bound(d, v, n) for n in (0, 1, 3, 300)])
  assert np.all(np.diff(bounds, axis=0) >= -1e-5), bounds


def test_exact_estimator_and_bounds_against_brute_force():
  model = _model()
  assert estimators.supported(model) == ["ais", "elbo", "exact", "parzen", "raise"]
  params = _random_params(model)
  x = jnp.asarray(_states(V)[[0, 9, 22, 45, 63]], jnp.float32).reshape(5, V, 1, 1)
  log_p, log_z = _brute_force(params, np.asarray(x).reshape(5, V))
  key = jax.random.PRNGKey(0)
  exact = estimators.log_likelihood(model, params, x, key, estimator="exact")
  np.testing.assert_allclose(exact.values, log_p, atol=1e-4)
  # The mean-field bound, with exact log Z: a true lower bound, visibly below.
  elbo = estimators.log_likelihood(model, params, x, key, estimator="elbo")
  assert (elbo.estimator, elbo.kind.value) == ("elbo", "lower bound")
  assert np.all(np.asarray(elbo.values) < log_p - 0.01)
  # AIS for log Z (the DBM as an RBM over (v, h2) and h1), importance sampling over h1.
  ais_estimator = estimators.resolve("ais", model)
  state, report = ais_estimator.prepare(model, params, key, 100, None)
  assert abs(report["log_z"] - log_z) < 0.1
  assert report["log_z_low_3sigma"] <= log_z <= report["log_z_high_3sigma"]
  ais = jax.jit(lambda p, s, x, k: ais_estimator.log_likelihood(model, p, s, x, k, 100))(
      params, state, x, key)
  assert (ais.estimator, ais.kind.value) == ("ais-100x1000+importance-5000", "estimate")
  np.testing.assert_allclose(ais.values, log_p, atol=0.1)
  assert np.all(np.asarray(ais.values) > np.asarray(elbo.values))  # tighter than mean field


def test_doubled_pretraining_rbms_double_the_missing_input():
  params = _random_params(_model(), scale=1.0)
  v = jnp.asarray(_states(V)[[5, 33]], jnp.float32)
  h2 = jnp.asarray(_states(H2)[[2, 13]], jnp.float32)
  bottom = dbm.bottom_rbm_doubled(params)
  np.testing.assert_allclose(boltzmann.hidden_probs(bottom, jnp.concatenate([v, v], 1)),
                             jax.nn.sigmoid(params["h1_bias"] + 2 * v @ params["W1"]), rtol=1e-5)
  top = dbm.top_rbm_doubled(params)
  np.testing.assert_allclose(boltzmann.visible_mean(top, jnp.concatenate([h2, h2], 1)),
                             jax.nn.sigmoid(params["h1_bias_top"] + 2 * h2 @ params["W2"].T),
                             rtol=1e-5)


def test_raise_against_brute_force_conservative_with_a_short_schedule():
  """RAISE started from h2 drawn from the mean-field posterior, on a tiny DBM (`raise_checks`)."""
  states = _states(V)
  params = _random_params(_model())
  raise_checks.check_raise_against_brute_force(_model, params, states,
                                               _brute_force(params, states)[0])


def _batch(seed, n=20):
  x = (jax.random.uniform(jax.random.PRNGKey(seed), (n, V, 1, 1)) < 0.4).astype(jnp.float32)
  return {"x": x, "label": jnp.zeros((n,), jnp.int32), "index": jnp.arange(n, dtype=jnp.int32),
          "mask": jnp.ones((n,), jnp.float32)}


def test_phases_train_the_bottom_rbm_then_the_top_then_the_dbm():
  model = _model(phase_steps=(2, 2, 2), num_chains=16, mean_field_steps=5)
  data = np.asarray(_batch(99, 200)["x"])
  state = model.init_state(jax.random.PRNGKey(0), model.init(jax.random.PRNGKey(1), None), data)
  step = jax.jit(model.update)
  history = [state]
  for s in range(6):
    state, metrics = step(state, _batch(s), jax.random.PRNGKey(s))
    assert float(metrics["phase"]) == s // 2
    history.append(state)

  def changed(a, b):
    return {k for k in a.params if not np.allclose(a.params[k], b.params[k])}

  assert changed(history[0], history[2]) == {"W1", "visible_bias", "h1_bias"}
  assert changed(history[2], history[4]) == {"W2", "h1_bias_top", "h2_bias"}
  # The AIS base model's h2 rates follow the mean-field Q(h2) only once the DBM trains.
  assert changed(history[4], history[6]) == {"W1", "W2", "visible_bias", "h1_bias",
                                             "h1_bias_top", "h2_bias", "base_h2_rate"}
  chains = [np.asarray(h.extra["chains"]) for h in history]
  assert np.array_equal(chains[0], chains[4]) and not np.array_equal(chains[4], chains[6])
  samples = model.sample(state.params, jax.random.PRNGKey(0), 4)
  assert samples.shape == (4, V, 1, 1) and np.all((samples >= 0) & (samples <= 1))
