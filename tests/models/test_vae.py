"""The VAE family: objectives, the linear-Gaussian check, β, warm-up, nets and likelihoods."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.stats

from genlatent.core import maths
from genlatent import estimators
from genlatent.models import build_model
from genlatent.models.vae import kl_weight
from tests.models import helpers

SHAPE = (8, 8, 1)


def _config(**overrides):
  return helpers.model_config("vae", **dict(dict(
      latent_dim=3, encoder_hidden=(16,), decoder_hidden=(16,), activation="tanh",
      prior="standard_normal", beta=1.0, chunk_size=64), **overrides))


def _binary_batch(n=12, seed=0):
  x = (jax.random.uniform(jax.random.PRNGKey(seed), (n,) + SHAPE) < 0.3).astype(jnp.float32)
  return {"x": x, "index": jnp.arange(n), "label": jnp.zeros(n, jnp.int32),
          "mask": jnp.ones(n)}


@pytest.mark.slow
def test_iwae_with_one_sample_is_the_monte_carlo_elbo():
  batch = _binary_batch()
  elbo_model = build_model(_config(), SHAPE)
  iwae_model = build_model(_config(objective="iwae", num_train_samples=1), SHAPE)
  params = elbo_model.init(jax.random.PRNGKey(0), batch["x"])
  key = jax.random.PRNGKey(1)
  iwae_loss, metrics = iwae_model.loss(params, batch, key, 0)
  # Same noise: the one-sample IWAE bound is log p(x|z) + log p(z) − log q(z|x).
  np.testing.assert_allclose(-iwae_loss, metrics["iwae_bound"], rtol=1e-6)
  mc_elbo = metrics["recon"] - (metrics["kl"])  # kl here is the analytic one
  # In expectation they agree: average over many keys.
  bounds = jax.jit(jax.vmap(lambda k: -iwae_model.loss(params, batch, k, 0)[0]))(
      jax.random.split(key, 4000))
  # The analytic-KL ELBO still averages its reconstruction term over samples: use
  # 10× more so its own noise is small, and allow for both in the tolerance.
  analytic = jax.jit(elbo_model.densities.elbo, static_argnums=3)(params, batch["x"], key, 40000).mean()
  stderr = float(bounds.std()) / np.sqrt(4000)
  assert abs(float(bounds.mean()) - float(analytic)) < 3 * stderr * np.sqrt(1.1)
  assert np.isfinite(mc_elbo)


def test_iwae_bound_increases_with_k():
  batch = _binary_batch(32)
  model = build_model(_config(), SHAPE)
  params = model.init(jax.random.PRNGKey(0), batch["x"])
  means = []
  for k in (1, 5, 50, 500):
    estimate = jax.jit(lambda key: estimators.log_likelihood(
        model, params, batch["x"], key, estimator="importance", num_samples=k).values)
    means.append(float(jnp.mean(jnp.stack([estimate(jax.random.PRNGKey(i)) for i in range(20)]))))
  assert means == sorted(means) and means[-1] - means[0] > 0.1


D, K_LAT, SIGMA = 6, 2, 0.3


def _linear_gaussian_vae():
  """A VAE whose nets are linear and whose likelihood is N(x; Wz + b, σ²I): pPCA."""
  config = _config(latent_dim=K_LAT, encoder_hidden=(), decoder_hidden=(),
                   likelihood="gaussian",
                   likelihood_config=ml_collections.ConfigDict(dict(scale=SIGMA)))
  return build_model(config, (D, 1, 1))


def _ppca_params(model, x):
  rng = np.random.default_rng(0)
  # Orthogonal columns make the exact posterior covariance σ²(WᵀW + σ²I)⁻¹ diagonal,
  # so it lies inside the encoder's family.
  q, _ = np.linalg.qr(rng.normal(size=(D, K_LAT)))
  w = (q * np.array([2.0, 0.7])).astype(np.float32)
  b = rng.normal(size=D).astype(np.float32)
  params = model.init(jax.random.PRNGKey(0), x)
  m_inv = np.linalg.inv(w.T @ w + SIGMA ** 2 * np.eye(K_LAT))
  # Exact posterior: mean = M⁻¹Wᵀ(x − b), cov = σ²M⁻¹, M = WᵀW + σ²I.
  enc_kernel = np.concatenate([w @ m_inv.T, np.zeros((D, K_LAT))], axis=1)
  enc_bias = np.concatenate([-(b @ w @ m_inv.T), np.log(np.diag(SIGMA ** 2 * m_inv))])
  params["encoder"]["head"] = {"kernel": jnp.asarray(enc_kernel, jnp.float32),
                               "bias": jnp.asarray(enc_bias, jnp.float32)}
  params["decoder"]["mlp"]["dense_0"] = {"kernel": jnp.asarray(w.T), "bias": jnp.asarray(b)}
  exact = scipy.stats.multivariate_normal(b, w @ w.T + SIGMA ** 2 * np.eye(D))
  return params, exact


@pytest.mark.slow
def test_linear_gaussian_estimates_converge_to_exact_log_likelihood():
  model = _linear_gaussian_vae()
  x = jnp.asarray(np.random.default_rng(1).normal(size=(16, D, 1, 1)), jnp.float32)
  params, exact_dist = _ppca_params(model, x)
  exact = exact_dist.logpdf(np.asarray(x).reshape(16, D))
  key = jax.random.PRNGKey(2)
  iwae = estimators.log_likelihood(model, params, x, key, estimator="importance",
                                   num_samples=5000).values
  elbo = estimators.log_likelihood(model, params, x, key, estimator="elbo",
                                   num_samples=5000).values
  np.testing.assert_allclose(iwae, exact, atol=0.05)
  # With the exact posterior every importance weight equals p(x): the ELBO is tight
  # (up to float32 rounding and the Monte-Carlo reconstruction term).
  np.testing.assert_allclose(elbo, exact, atol=0.05)
  # A worse posterior loosens the ELBO but importance sampling still converges.
  params["encoder"]["head"]["bias"] = params["encoder"]["head"]["bias"].at[K_LAT:].add(1.0)
  loose = estimators.log_likelihood(model, params, x, key, estimator="elbo",
                                   num_samples=5000).values
  iwae = estimators.log_likelihood(model, params, x, key, estimator="importance",
                                   num_samples=5000).values
  assert np.all(exact - np.asarray(loose) > 0.1)
  np.testing.assert_allclose(iwae, exact, atol=0.05)
  assert np.all(np.asarray(iwae) > np.asarray(loose))


def test_beta_zero_is_the_autoencoder_objective():
  batch = _binary_batch()
  model = build_model(_config(beta=0.0), SHAPE)
  params = model.init(jax.random.PRNGKey(0), batch["x"])
  # Posterior variance → 0: the code is the posterior mean, as an auto-encoder's.
  bias = params["encoder"]["head"]["bias"]
  params["encoder"]["head"]["bias"] = bias.at[3:].set(-60.0)
  params["encoder"]["head"]["kernel"] = params["encoder"]["head"]["kernel"].at[:, 3:].set(0.0)
  loss, _ = model.loss(params, batch, jax.random.PRNGKey(1), 0)
  recon = maths.bernoulli_log_prob(batch["x"], jax.scipy.special.logit(
      jnp.clip(model.reconstruct(params, batch["x"]), 1e-7, 1 - 1e-7)), 3)
  np.testing.assert_allclose(loss, -recon.mean(), rtol=1e-4)
  # And β=0 means the KL gets no gradient.
  grads = jax.grad(lambda p: model.loss(p, batch, jax.random.PRNGKey(1), 0)[0])(params)
  assert float(jnp.abs(grads["prior"] if grads["prior"] else 0.0)) == 0.0


def test_kl_warmup_schedule():
  np.testing.assert_allclose([kl_weight(2.0, 100, s) for s in (0, 25, 100, 1000)],
                             [0.0, 0.5, 2.0, 2.0])
  assert float(kl_weight(0.5, 0, 7)) == 0.5


def test_warmup_reaches_the_loss_through_the_trainer_step():
  from genlatent.core import TrainState
  from genlatent.train.trainer import gradient_update
  import optax
  batch = _binary_batch()
  model = build_model(_config(kl_warmup_steps=10), SHAPE)
  params = model.init(jax.random.PRNGKey(0), batch["x"])
  tx = optax.sgd(0.0)
  update = gradient_update(model.loss, tx)
  for step, expected in ((0, 0.0), (5, 0.5), (20, 1.0)):
    state = TrainState(jnp.asarray(step), params, tx.init(params), {})
    _, metrics = update(state, batch, jax.random.PRNGKey(0))
    assert float(metrics["kl_weight"]) == pytest.approx(expected)


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [
    dict(encoder_type="conv", decoder_type="conv", conv_features=(4, 8), conv_dense=16),
    dict(stochastic_layers=2, latent_dim_1=4, hidden_2=(8,)),
    dict(objective="iwae", num_train_samples=5),
    dict(likelihood="gaussian_learned"),
    dict(likelihood="discretized_logistic",
         likelihood_config=ml_collections.ConfigDict(dict(num_bins=17))),
    dict(prior="diagonal_gaussian"),
    dict(prior="vamp", prior_config=ml_collections.ConfigDict(dict(num_pseudo_inputs=5))),
])
def test_variants_train_and_evaluate(overrides):
  batch = _binary_batch(8)
  model = build_model(_config(**overrides), SHAPE)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), batch["x"])

  @jax.jit
  def check(params, batch, key):
    (loss, _), grads = jax.value_and_grad(model.loss, has_aux=True)(params, batch, key, 0)
    ll = estimators.log_likelihood(model, params, batch["x"], key, estimator="importance",
                                   num_samples=20).values
    return (loss, grads, ll, model.densities.elbo(params, batch["x"], key, 20),
            model.sample(params, key, 4), model.reconstruct(params, batch["x"]))

  loss, grads, ll, elbo, samples, recon = check(params, batch, jax.random.PRNGKey(1))
  assert np.isfinite(float(loss))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  assert ll.shape == (8,) and np.all(np.isfinite(ll))
  assert float(ll.mean()) >= float(elbo.mean()) - 0.5
  assert samples.shape == (4,) + SHAPE and recon.shape == (8,) + SHAPE


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(28, 28, 1), (5, 7, 3)])
def test_conv_nets_handle_any_image_size(shape):
  model = build_model(_config(encoder_type="conv", decoder_type="conv", conv_features=(4, 8),
                              conv_dense=16), shape)
  x = jnp.zeros((2,) + shape)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), x)
  assert jax.jit(model.reconstruct)(params, x).shape == (2,) + shape


@pytest.mark.slow
def test_discretized_logistic_masses_sum_to_one_and_are_finite_in_the_tails():
  from genlatent.nets.likelihoods import discretized_logistic
  bins = 256
  lik = discretized_logistic(1, bins)
  grid = jnp.arange(bins, dtype=jnp.float32) / (bins - 1)
  for mean, log_scale in ((0.3, -2.0), (0.5, -6.0), (-3.0, -4.0), (4.0, -7.0), (1.0, 1.0)):
    out = jnp.broadcast_to(jnp.array([mean, log_scale]), (bins, 2))
    log_p = jax.vmap(lambda x, o: lik.log_prob(x[None], o[None]))(grid, out)
    assert np.all(np.isfinite(log_p))
    np.testing.assert_allclose(jax.nn.logsumexp(log_p), 0.0, atol=1e-4)


def test_unknown_names_list_the_known_ones():
  with pytest.raises(ValueError, match="Known: bernoulli, gaussian"):
    build_model(_config(likelihood="poisson"), SHAPE)
  with pytest.raises(ValueError, match="Known: elbo, iwae"):
    build_model(_config(objective="vimco"), SHAPE)
