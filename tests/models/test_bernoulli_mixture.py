"""The mixture of multivariate Bernoullis against brute force and a numpy EM."""

import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genlatent.core import Kind
from genlatent import estimators
from genlatent.models import bernoulli_mixture, build_model
from tests.models import helpers


def model_config(**overrides):
  return helpers.model_config("bernoulli_mixture", **dict(dict(
      num_components=3, pseudo_count=0.1, training="em", init="kmeans", kmeans_iterations=5,
      reseed_min_count=1e-2), **overrides))


def random_params(k, d, seed=0, scale=3.0):
  rs = np.random.RandomState(seed)
  return {"logits": jnp.asarray(rs.randn(k), jnp.float32),
          "pixel_logits": jnp.asarray(scale * rs.randn(k, d), jnp.float32)}


def brute_force_log_prob(params, x):
  """log Σ_k π_k Π_d μ^x (1 − μ)^(1 − x), as products of probabilities in float64."""
  w = np.exp(np.asarray(params["logits"], np.float64))
  w /= w.sum()
  mu = 1.0 / (1.0 + np.exp(-np.asarray(params["pixel_logits"], np.float64)))
  out = []
  for row in np.asarray(x, np.float64):
    per_k = np.prod(np.where(row > 0.5, mu, 1.0 - mu), axis=1)
    out.append(np.log(np.sum(w * per_k)))
  return np.array(out)


def test_log_likelihood_equals_brute_force_and_sums_to_one():
  d = 5
  model = build_model(model_config(), (d,))
  params = random_params(3, d)
  x = np.array(list(itertools.product([0.0, 1.0], repeat=d)), np.float32)  # all 32 images
  ll = estimators.log_likelihood(model, params, x, None, estimator="exact")
  assert ll.estimator == "exact" and ll.kind == Kind.EXACT and model.discrete
  np.testing.assert_allclose(np.asarray(ll.values), brute_force_log_prob(params, x), rtol=1e-5)
  # A probability mass: it sums to 1 over every binary image.
  assert float(jax.nn.logsumexp(ll.values)) == pytest.approx(0.0, abs=1e-5)
  # ... and the ELBO at the exact posterior is the same number.
  bound = estimators.log_likelihood(model, params, x, None, estimator="elbo")
  assert bound.kind == Kind.LOWER_BOUND
  np.testing.assert_allclose(bound.values, ll.values, atol=1e-5)


def test_extreme_logits_stay_finite():
  params = {"logits": jnp.zeros((2,)), "pixel_logits": jnp.array([[80.0, -80.0], [-80.0, 80.0]])}
  x = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  ll = bernoulli_mixture.log_prob(params, x)
  np.testing.assert_allclose(ll[:2], np.log(0.5), atol=1e-6)
  assert float(ll[2]) == pytest.approx(-80.0, abs=1e-4)  # e^−80 per component, not 0


def numpy_em_step(params, x, alpha):
  """One EM step in float64 numpy, with the Beta(α, α) pseudo-count α (in examples)."""
  w = np.exp(np.asarray(params["logits"], np.float64))
  w /= w.sum()
  mu = 1.0 / (1.0 + np.exp(-np.asarray(params["pixel_logits"], np.float64)))
  like = np.prod(np.where(x[:, None, :] > 0.5, mu, 1.0 - mu), axis=2) * w  # [N, K]
  r = like / like.sum(axis=1, keepdims=True)
  n, ones = r.sum(axis=0), r.T @ x
  mu = (ones + alpha) / (n[:, None] + 2 * alpha)
  return {"logits": np.log(n / n.sum()), "pixel_logits": np.log(mu) - np.log1p(-mu)}


def test_em_matches_a_numpy_reference_and_is_monotone():
  rs = np.random.RandomState(0)
  prototypes = rs.rand(3, 16) < 0.5
  x = np.where(rs.rand(300, 16) < 0.9, prototypes[rs.randint(3, size=300)],
               ~prototypes[rs.randint(3, size=300)]).astype(np.float32)
  alpha = 0.1
  model = build_model(model_config(pseudo_count=alpha), (16,))
  state = model.init_state(jax.random.PRNGKey(0), None, x)
  reference = jax.tree.map(np.asarray, state.params)
  update = jax.jit(model.update)
  batch = {"x": x, "mask": np.ones((len(x),), np.float32)}
  history = []
  for _ in range(15):
    state, metrics = update(state, batch, None)
    reference = numpy_em_step(reference, x.astype(np.float64), alpha)
    history.append(float(metrics["log_likelihood"]))
  np.testing.assert_allclose(state.params["pixel_logits"], reference["pixel_logits"], atol=2e-3)
  np.testing.assert_allclose(jax.nn.log_softmax(state.params["logits"]), reference["logits"],
                             atol=1e-4)
  # The MAP objective (likelihood + Beta prior) never drops; with α this small
  # the likelihood alone does not either, up to rounding.
  assert np.all(np.diff(history) >= -1e-5 * np.abs(history[1:]))
  assert history[-1] > history[0]


def test_empty_component_is_reseeded():
  x = (np.random.RandomState(0).rand(200, 9) < 0.3).astype(np.float32)
  model = build_model(model_config(), (3, 3, 1))
  state = model.init_state(jax.random.PRNGKey(0), None, x.reshape(-1, 3, 3, 1))
  state = state.replace(params=dict(state.params, logits=state.params["logits"].at[1].set(-1e4)))
  batch = {"x": x.reshape(-1, 3, 3, 1), "mask": np.ones((200,), np.float32)}
  state, metrics = jax.jit(model.update)(state, batch, None)
  assert int(metrics["num_reseeded"]) == 1
  assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(state.params))
  samples = model.sample(state.params, jax.random.PRNGKey(0), 7)
  assert samples.shape == (7, 3, 3, 1) and float(samples.min()) > 0.0 and float(samples.max()) < 1.0
  assert model.encode(state.params, batch["x"]).shape == (200, 3)
