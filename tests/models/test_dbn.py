"""DBN: the exact likelihood against brute force, the bounds below it, greedy phases."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from configs import dbn as dbn_config
from genlatent import estimators
from genlatent.models import dbn
from tests.models import raise_checks

V, H1, H2 = 6, 5, 4


def _states(n):
  return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _model(**overrides):
  config = dbn_config.get_config("smoke").model
  config.update(**dict(dict(hidden=(H1, H2), ais_schedule="linear:1000", posterior_samples=5000,
                            chunk_size=1000), **overrides))
  return dbn.build_dbn(config, (V, 1, 1))


def _random_params(model, seed=0, scale=0.5):
  """Weights ~ N(0, scale²): with N(0, 1) the recognition model is so far from the true
  posterior that importance sampling needs far more than thousands of samples."""
  params = model.init(jax.random.PRNGKey(seed), None)
  keys = iter(jax.random.split(jax.random.PRNGKey(seed + 1), 8))
  layers = [{"weights": scale * jax.random.normal(next(keys), layer["weights"].shape),
             "visible_bias": jax.random.normal(next(keys), layer["visible_bias"].shape),
             "hidden_bias": jax.random.normal(next(keys), layer["hidden_bias"].shape)}
            for layer in params["layers"]]
  return {"layers": layers, "base_rates": params["base_rates"]}


def _log_bernoulli(x, logits):
  return (x * logits - np.logaddexp(0.0, logits)).sum(-1)


def _brute_force(params, v):
  """(log p(v), the exact ELBO with Q(h1 | v)) for v [B, V], float64 numpy."""
  (w0, b0, c0), (w1, b1, c1) = [
      [np.asarray(layer[k], np.float64) for k in ("weights", "visible_bias", "hidden_bias")]
      for layer in params["layers"]]
  h1, h2 = _states(H1), _states(H2)
  # Top RBM over (h1, h2): log p_top(h1) for each of the 2^H1 states.
  neg_e = (h1 @ b1)[:, None] + (h2 @ c1)[None, :] + h1 @ w1 @ h2.T
  log_p_top = logsumexp(neg_e, axis=1) - logsumexp(neg_e)
  log_p_v_h1 = np.stack([_log_bernoulli(v, b0 + w0 @ h) for h in h1], 1)  # [B, 2^H1]
  log_p = logsumexp(log_p_v_h1 + log_p_top, axis=1)
  log_q = np.stack([_log_bernoulli(h, c0 + v @ w0) for h in h1], 1)
  elbo = (np.exp(log_q) * (log_p_v_h1 + log_p_top - log_q)).sum(1)
  return log_p, elbo


def test_exact_estimator_and_bounds_against_brute_force():
  model = _model()
  assert estimators.supported(model) == ["ais", "elbo", "exact", "parzen", "raise"]
  params = _random_params(model)
  x = jnp.asarray(_states(V)[[0, 5, 17, 40, 63]]).reshape(5, V, 1, 1)
  v = np.asarray(x).reshape(5, V)
  log_p, exact_elbo = _brute_force(params, v)
  key = jax.random.PRNGKey(0)
  exact = estimators.log_likelihood(model, params, x, key, estimator="exact")
  assert exact.estimator == "exact"
  np.testing.assert_allclose(exact.values, log_p, atol=1e-4)
  assert np.all(exact_elbo < log_p - 0.01)  # the bound is below, visibly
  # The top RBM enumerates, so the elbo is a true lower bound; Monte Carlo over Q.
  elbo = estimators.log_likelihood(model, params, x, key, estimator="elbo", num_samples=20000)
  assert (elbo.estimator, elbo.kind.value) == ("elbo", "lower bound")
  np.testing.assert_allclose(elbo.values, exact_elbo, atol=0.05)
  # 'ais': log Z of the top RBM by AIS, importance-weighted over Q: close to exact.
  # The evaluation state (log Ẑ) is returned by `prepare`, never kept in the params.
  ais_estimator = estimators.resolve("ais", model)
  state, report = ais_estimator.prepare(model, params, key, 100, None)
  assert set(state) == {"log_z"}
  assert report["log_z_low_3sigma"] <= report["log_z"] <= report["log_z_high_3sigma"]
  ais = jax.jit(lambda p, s, x, k: ais_estimator.log_likelihood(model, p, s, x, k, 100))(
      params, state, x, key)
  assert (ais.estimator, ais.kind.value) == ("ais-100x1000+importance-5000", "estimate")
  np.testing.assert_allclose(ais.values, log_p, atol=0.1)
  assert np.all(np.asarray(ais.values) > exact_elbo + 0.2)  # tighter than the elbo


def test_raise_against_brute_force_conservative_with_a_short_schedule():
  """RAISE started from top-layer draws from the recognition model, on a tiny DBN (`raise_checks`)."""
  states = _states(V)
  params = _random_params(_model())
  raise_checks.check_raise_against_brute_force(_model, params, states,
                                               _brute_force(params, states)[0])


def _batch(seed, n=20):
  x = (jax.random.uniform(jax.random.PRNGKey(seed), (n, V, 1, 1)) < 0.4).astype(jnp.float32)
  return {"x": x, "label": jnp.zeros((n,), jnp.int32), "index": jnp.arange(n, dtype=jnp.int32),
          "mask": jnp.ones((n,), jnp.float32)}


def test_greedy_phases_train_one_layer_at_a_time():
  model = _model(layer_steps=(3, 3), training="pcd", num_chains=16)
  data = np.asarray(_batch(99, 200)["x"])
  state = model.init_state(jax.random.PRNGKey(0), model.init(jax.random.PRNGKey(1), None), data)
  step = jax.jit(model.update)
  layers = [state.params["layers"]]
  for s in range(6):
    state, metrics = step(state, _batch(s), jax.random.PRNGKey(s))
    assert float(metrics["layer"]) == (0 if s < 3 else 1)
    layers.append(state.params["layers"])
  changed = lambda a, b: not np.allclose(a["weights"], b["weights"])
  assert changed(layers[0][0], layers[3][0]) and not changed(layers[0][1], layers[3][1])
  assert not changed(layers[3][0], layers[6][0]) and changed(layers[3][1], layers[6][1])
  # Layer 1's base rates track its data (layer-0 samples), for the top RBM's AIS.
  assert not np.allclose(state.params["base_rates"][1], 0.5)
  samples = model.sample(state.params, jax.random.PRNGKey(0), 4)
  assert samples.shape == (4, V, 1, 1) and np.all((samples >= 0) & (samples <= 1))
