"""The swiss-roll prior: its density against independent quadrature, normalisation, segments."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.integrate
import scipy.stats

from genlatent.priors import build_prior

R, T, SIGMA, K = 3.0, 2.0, 0.1, 10


def _prior(noise=SIGMA):
  return build_prior("swiss_roll", 2, ml_collections.ConfigDict(
      dict(num_components=K, radius=R, turns=T, noise=noise)))


def test_log_prob_equals_an_independent_integral():
  prior = _prior()
  points = np.array([[0.0, 0.0], [1.5, 0.0], [-0.8, 1.9], [3.0, 0.05], [5.0, 5.0]])

  def density(z):  # ∫₀¹ 2s N(z; c(s), σ²I) ds by adaptive quadrature
    def integrand(s):
      c = R * s * np.array([np.cos(2 * np.pi * T * s), np.sin(2 * np.pi * T * s)])
      return 2 * s * scipy.stats.multivariate_normal(c, SIGMA ** 2).pdf(z)
    return scipy.integrate.quad(integrand, 0.0, 1.0, limit=500, points=np.linspace(0, 1, 41))[0]

  ref = np.log([density(z) for z in points[:4]])
  got = np.asarray(jax.jit(lambda z: prior.log_prob({}, z))(jnp.asarray(points, jnp.float32)))
  # Interior points agree to 1e-4 nats; [3, 0.05] sits at the spiral's end s = 1,
  # where the midpoint rule's error is largest (measured 1.5e-3 nats).
  np.testing.assert_allclose(got[:3], ref[:3], rtol=0, atol=1e-4)
  np.testing.assert_allclose(got[3], ref[3], rtol=0, atol=3e-3)
  assert got[4] < -500  # far from the spiral, yet finite
  assert np.isfinite(got[4])


def test_density_integrates_to_one_and_matches_samples():
  prior = _prior(0.05)
  log_prob = jax.jit(lambda z: prior.log_prob({}, z))
  # A Riemann sum with spacing 0.67σ: for a smooth density it is accurate far
  # beyond the tolerances below.
  xs = np.linspace(-4.0, 4.0, 241)
  grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2).astype(np.float32)
  lp = np.concatenate([np.asarray(log_prob(grid[i:i + 14_520]))
                       for i in range(0, len(grid), 14_520)])
  cell = (xs[1] - xs[0]) ** 2
  assert abs(np.exp(lp).sum() * cell - 1.0) < 2e-3
  # E_p[log p] estimated from samples agrees with the grid's −entropy.
  z = prior.sample({}, jax.random.PRNGKey(0), 20_000)
  from_samples = float(jnp.mean(log_prob(z)))
  from_grid = float(np.sum(np.exp(lp) * lp) * cell)
  assert abs(from_samples - from_grid) < 0.03


def test_components_are_consecutive_segments():
  prior = _prior(0.05)
  z, k = prior.sample_with_components({}, jax.random.PRNGKey(1), 100_000)
  z, k = np.asarray(z), np.asarray(k)
  radius = np.linalg.norm(z, axis=1) / R  # = √u for the noise-free point
  slack = 5 * 0.05 / R  # five noise standard deviations, in units of R
  for c in range(K):
    r = radius[k == c]
    assert np.sqrt(c / K) - slack < r.min() and r.max() < np.sqrt((c + 1) / K) + slack
    # and most draws lie well inside their own segment's radii
    inside = (r > np.sqrt(c / K) - slack / 5) & (r < np.sqrt((c + 1) / K) + slack / 5)
    assert inside.mean() > 0.9
  counts = np.bincount(k, minlength=K)
  assert np.all(np.abs(counts - 10_000) < 5 * np.sqrt(100_000 * 0.1 * 0.9))  # binomial sd
  assert k.dtype == np.int32


def test_swiss_roll_is_two_dimensional_and_has_finite_gradients():
  with pytest.raises(ValueError, match="'swiss_roll' prior is 2-D"):
    build_prior("swiss_roll", 3)
  prior = _prior()
  z = jnp.asarray([[30.0, -40.0], [0.0, 0.0], [1.0, 1.0]])
  grad = jax.grad(lambda z: prior.log_prob({}, z).sum())(z)
  assert np.all(np.isfinite(np.asarray(grad)))
