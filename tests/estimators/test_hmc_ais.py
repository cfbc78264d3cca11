"""HMC-AIS against the closed-form marginal likelihood of probabilistic PCA."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import multivariate_normal

from genlatent.core import maths
from genlatent.estimators import hmc_ais, importance_sampled_log_likelihood

# Observations, latents, noise std, examples. Posterior std ≈ 0.2 per latent axis
# against the prior's 1, so a short schedule is visibly too short.
DX, DZ, SIGMA, NUM_EXAMPLES = 6, 2, 0.5, 16


class PPCA:
  """x = W z + μ + σ ε with z, ε standard normal: log p(x) = log N(x; μ, WWᵀ + σ²I)."""

  def __init__(self, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 2)
    self.w = jax.random.normal(keys[0], (DX, DZ))
    self.mu = jax.random.normal(keys[1], (DX,))

  def log_prior(self, z):
    return maths.standard_normal_log_prob(z)

  def log_likelihood(self, x, z):
    return maths.diag_gaussian_log_prob(x, self.w @ z + self.mu,
                                        jnp.full((DX,), 2.0 * np.log(SIGMA)))

  def sample_prior(self, key, n):
    return jax.random.normal(key, (n, DZ))

  def sample_joint(self, key, n):
    key_z, key_x = jax.random.split(key)
    z = jax.random.normal(key_z, (n, DZ))
    return z @ self.w.T + self.mu + SIGMA * jax.random.normal(key_x, (n, DX)), z

  def exact(self, x):
    return multivariate_normal.logpdf(x, self.mu, self.w @ self.w.T + SIGMA ** 2 * jnp.eye(DX))

  def callables(self):
    return self.log_prior, self.log_likelihood, self.sample_prior


def run(model, x, key, **options):
  return jax.jit(lambda x, key: hmc_ais.hmc_ais(*model.callables(), x, key, **options))(x, key)


@pytest.fixture(scope="module")
def ppca():
  model = PPCA()
  x, _ = model.sample_joint(jax.random.PRNGKey(1), NUM_EXAMPLES)
  return model, x, np.asarray(model.exact(x))


@pytest.fixture(scope="module")
def long_run(ppca):
  model, x, _ = ppca
  return run(model, x, jax.random.PRNGKey(2), num_chains=32, schedule="sigmoid:2000",
             num_leapfrog_steps=5)


def test_hmc_ais_is_within_five_hundredths_of_a_nat_on_ppca(ppca, long_run):
  _, _, exact = ppca
  error = np.asarray(long_run.log_likelihood) - exact
  assert abs(error.mean()) < 0.05, error
  assert np.all(np.abs(error) < 0.15), error
  # Diagnostics: shapes, healthy weights, the step size steered to the target acceptance.
  assert long_run.log_weights.shape == (NUM_EXAMPLES, 32)
  assert long_run.final_latents.shape == (NUM_EXAMPLES, 32, DZ)
  assert long_run.acceptance_rate.shape == (2000,)
  assert long_run.step_sizes.shape == (NUM_EXAMPLES, 2000)
  assert np.all(np.asarray(long_run.effective_sample_size) > 16)
  assert abs(float(np.mean(long_run.acceptance_rate[1000:])) - 0.65) < 0.05
  # Grown from the initial 0.1 at the prior's scale, shrunk at the posterior's.
  assert np.all(np.max(long_run.step_sizes, axis=1) > 0.5)
  assert np.all(np.asarray(long_run.step_sizes[:, -1]) < 0.5)


def test_the_estimate_rises_towards_exact_as_the_schedule_lengthens(ppca, long_run):
  model, x, exact = ppca
  short = run(model, x, jax.random.PRNGKey(2), num_chains=32, schedule="sigmoid:4",
              num_leapfrog_steps=5)
  short_error = float(np.mean(np.asarray(short.log_likelihood) - exact))
  long_error = float(np.mean(np.asarray(long_run.log_likelihood) - exact))
  assert short_error < long_error - 0.2, (short_error, long_error)
  assert short_error < -0.2  # too short: biased low, as a lower bound should be
  assert np.mean(short.effective_sample_size) < np.mean(long_run.effective_sample_size) / 2


def test_values_do_not_depend_on_chunking(ppca):
  model, x, _ = ppca
  x = x[:5]  # with 2 examples per chunk, the last chunk is padded
  options = dict(num_chains=8, num_tuning_chains=4, schedule="sigmoid:5", num_leapfrog_steps=2)
  whole = run(model, x, jax.random.PRNGKey(3), **options)
  chunked = run(model, x, jax.random.PRNGKey(3), chunk_size=24, **options)
  assert hmc_ais.examples_per_chunk(24, 5, 8 + 4) == 2
  for a, b in zip(whole, chunked):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_a_deterministic_encoder_proposal_is_far_off_where_hmc_ais_is_tight(ppca, long_run):
  """An AE's fixed N(f(x), σ²) proposal: f the least-squares code (W⁺(x − μ)), σ = 0.01,
  a hundredth of the posterior's spread. Importance sampling through it misses
  the posterior's volume by ~4 nats at any practical sample count; HMC-AIS, which
  needs no encoder, does not."""
  model, x, exact = ppca
  code = (x - model.mu) @ jnp.linalg.pinv(model.w).T
  log_var = jnp.full_like(code, 2.0 * np.log(0.01))

  def log_weights(key, n):
    z = code + 0.01 * jax.random.normal(key, (n,) + code.shape)
    log_joint = (jax.vmap(jax.vmap(model.log_likelihood), in_axes=(None, 0))(x, z)
                 + model.log_prior(z))
    return log_joint - maths.diag_gaussian_log_prob(z, code, log_var)

  proposal = np.asarray(importance_sampled_log_likelihood(log_weights, jax.random.PRNGKey(4),
                                                          1000))
  assert np.mean(exact - proposal) > 3.0, exact - proposal
  hmc_error = np.abs(np.asarray(long_run.log_likelihood) - exact)
  assert np.mean(hmc_error) < 0.05 and np.all(hmc_error < np.abs(exact - proposal) / 20)


def test_label_and_cost():
  assert hmc_ais.ais_hmc_label(16, "sigmoid:1000") == "ais-hmc-16x1000"
  assert hmc_ais.decoder_gradient_evaluations(4, 16, "sigmoid:100", 10) == 4 * 20 * 100 * 11


def test_step_size_adaptation_moves_towards_the_target():
  eps = jnp.array([0.1, 0.1, 0.1])
  out = hmc_ais.adapt_step_size(eps, jnp.array([1.0, 0.65, 0.0]), target=0.65, rate=0.2,
                                bounds=(1e-4, 2.0))
  assert out[0] > 0.1 and out[1] == pytest.approx(0.1) and out[2] < 0.1
  assert float(hmc_ais.adapt_step_size(jnp.array([1.99]), jnp.array([1.0]), target=0.65,
                                       rate=5.0, bounds=(1e-4, 2.0))[0]) == 2.0


def test_fixed_step_sizes_are_used_as_given(ppca):
  model, x, _ = ppca
  x = x[:3]
  step_sizes = jnp.linspace(0.05, 0.3, 3 * 6).reshape(3, 6)
  result = run(model, x, jax.random.PRNGKey(5), num_chains=4, schedule="linear:6",
               num_leapfrog_steps=2, step_sizes=step_sizes)
  np.testing.assert_allclose(result.step_sizes, step_sizes)


def test_mistakes_are_one_line_errors(ppca):
  model, x, _ = ppca
  with pytest.raises(ValueError, match="sample_prior"):
    hmc_ais.hmc_ais(model.log_prior, model.log_likelihood, None, x, jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match=r"step_sizes must be \[examples, steps\] = \(16, 10\)"):
    hmc_ais.hmc_ais(*model.callables(), x, jax.random.PRNGKey(0), schedule="linear:10",
                    step_sizes=jnp.ones((16, 9)))
