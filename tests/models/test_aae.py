"""The AAE family: the discriminator's optimum, phase isolation, matching a prior,
label regularisation, clustering and importance sampling (its 1-vs-8-device run:
tests/train/test_parallel.py)."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
import scipy.integrate
import scipy.stats

from configs import aae as aae_config
from genlatent import nets
from genlatent.core import PRIORS
from genlatent.data import load_dataset
from genlatent import estimators
from genlatent.metrics import clustering_accuracy
from genlatent.models.aae import build_aae_parts, discriminator_loss, generator_loss
from tests import xla

LOG_4 = float(np.log(4.0))


def _model_config(**overrides):
  config = aae_config.get_config("smoke").model
  for name, value in overrides.items():
    config[name] = value
  return config


def _set_lr(config, reconstruction, adversarial, b1=0.5):
  config.optimizers.reconstruction.learning_rate = reconstruction
  config.optimizers.discriminator.update(learning_rate=adversarial, b1=b1)
  config.optimizers.generator.update(learning_rate=adversarial, b1=b1)
  return config


def _batch(x, index, label=None):
  n = len(index)
  return {"x": x[index], "index": index,
          "label": jnp.zeros(n, jnp.int32) if label is None else label[index],
          "mask": jnp.ones(n)}


def _train(parts, x, steps, key, batch_size=128, labels=None):
  """`steps` updates on random batches of x [N, ...], in one compiled scan."""
  model = parts.model
  params = model.init(key, x[:2])
  state = model.init_state(key, params, x)

  def body(state, i):
    k = jax.random.fold_in(key, i)
    index = jax.random.choice(k, x.shape[0], (batch_size,), replace=False)
    return model.update(state, _batch(x, index, labels), jax.random.fold_in(k, 1))

  final, metrics = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(steps)))(state)
  return params, final, metrics


def _mmd(a, b, scale=1.0):
  """Squared maximum mean discrepancy with an RBF kernel of width `scale`."""
  kernel = lambda u, v: jnp.exp(-jnp.sum((u[:, None] - v[None]) ** 2, -1) / (2 * scale ** 2))
  return float(jnp.mean(kernel(a, a)) + jnp.mean(kernel(b, b)) - 2 * jnp.mean(kernel(a, b)))


# --------------------------------------------------------------------------- the discriminator


@pytest.mark.slow
def test_discriminator_loss_at_the_known_optimum():
  """At D* = log p − log q the loss is log 4 − 2·JSD(p‖q); here p = N(0, I₂), q = N((1, 0), I₂)."""
  key_p, key_q = jax.random.split(jax.random.PRNGKey(0))
  n = 200_000
  shift = jnp.array([1.0, 0.0])
  z_p = jax.random.normal(key_p, (n, 2))
  z_q = shift + jax.random.normal(key_q, (n, 2))
  optimal = lambda z: (scipy.stats.norm.logpdf(z[:, 0]) - scipy.stats.norm.logpdf(z[:, 0] - 1.0))
  loss = float(discriminator_loss(optimal(np.asarray(z_p)), optimal(np.asarray(z_q))))
  # JSD by quadrature along the one axis where p and q differ (independent reference).
  p, q = scipy.stats.norm(0, 1).pdf, scipy.stats.norm(1, 1).pdf
  m = lambda t: 0.5 * (p(t) + q(t))
  kl = lambda a: scipy.integrate.quad(lambda t: a(t) * np.log(a(t) / m(t)), -12, 13)[0]
  jsd = 0.5 * (kl(p) + kl(q))
  assert abs(loss - (LOG_4 - 2 * jsd)) < 0.005
  # Equal distributions: D* = 0 everywhere and the loss is log 4 exactly.
  zeros = jnp.zeros(10)
  np.testing.assert_allclose(discriminator_loss(zeros, zeros), LOG_4, rtol=1e-6)
  np.testing.assert_allclose(generator_loss(zeros), np.log(2.0), rtol=1e-6)

  # A trained MLP discriminator gets down to (but not below) that optimum.
  disc = nets.Discriminator((64, 64), "relu")
  params = disc.init(jax.random.PRNGKey(1), jnp.zeros((1, 2)))
  tx = optax.adam(3e-3)

  def step(carry, i):
    params, opt = carry
    k_p, k_q = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(2), i))
    real = jax.random.normal(k_p, (512, 2))
    fake = shift + jax.random.normal(k_q, (512, 2))
    value, grads = jax.value_and_grad(
        lambda p: discriminator_loss(disc.apply(p, real), disc.apply(p, fake)))(params)
    updates, opt = tx.update(grads, opt, params)
    return (optax.apply_updates(params, updates), opt), value

  (params, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(600)))(
      (params, tx.init(params)))
  trained = float(discriminator_loss(disc.apply(params, z_p), disc.apply(params, z_q)))
  assert LOG_4 - 2 * jsd - 0.01 < trained < LOG_4 - 2 * jsd + 0.02


# --------------------------------------------------------------------------- phases


def _changed(before, after):
  """{top-level name: whether any leaf changed}."""
  return {name: any(not np.array_equal(a, b) for a, b in
                    zip(jax.tree.leaves(before[name]), jax.tree.leaves(after[name])))
          for name in before}


# 'labels' has the same groups as 'unsupervised' (only D's input differs); clustering adds one.
@pytest.mark.slow
@pytest.mark.parametrize("variant", ["unsupervised", "clustering"])
def test_each_phase_changes_only_its_parameter_groups(variant):
  extra = dict(prior="swiss_roll", prior_config=ml_collections.ConfigDict(
      dict(num_components=10))) if variant == "labels" else {}
  parts = build_aae_parts(_model_config(variant=variant, posterior="gaussian", **extra),
                          (8, 8, 1))
  model = parts.model
  x = (jax.random.uniform(jax.random.PRNGKey(0), (16, 8, 8, 1)) < 0.4).astype(jnp.float32)
  labels = jnp.arange(16) % 10
  batch = _batch(x, jnp.arange(16), labels)
  key = jax.random.PRNGKey(1)
  state = model.init_state(key, model.init(key, x[:2]), x)
  discriminators = {"discriminator"} | ({"class_discriminator"} if variant == "clustering" else set())
  expected = {"reconstruction_phase": {"encoder", "decoder"},
              "discriminator_phase": discriminators,
              "generator_phase": {"encoder"}}
  opt_names = {"reconstruction_phase": "reconstruction", "discriminator_phase": "discriminator",
               "generator_phase": "generator"}
  # One compilation for all four: each phase from the same state, and a whole step.
  results = jax.jit(lambda s: ({p: getattr(parts, p)(s, batch, key) for p in expected},
                               model.update(s, batch, key)))(state)
  for phase, groups in expected.items():
    new, metrics = results[0][phase]
    changed = _changed(state.params, new.params)
    assert {n for n, c in changed.items() if c} == groups, phase
    assert _changed(state.opt_state, new.opt_state) == {
        n: n == opt_names[phase] for n in state.opt_state}, phase
    assert int(new.step) == 0 and all(np.isfinite(float(v)) for v in metrics.values())
  new, metrics = results[1]
  assert int(new.step) == 1
  assert {n for n, c in _changed(state.params, new.params).items() if c} == (
      {"encoder", "decoder"} | discriminators)  # the prior is held fixed
  assert float(metrics["loss"]) == float(metrics["reconstruction_loss"])


# --------------------------------------------------------------------------- matching the prior


def _blobs(n=2048):
  rng = np.random.default_rng(0)
  centres = np.array([[0.0, 0.0], [3.0, 3.0], [-3.0, 2.0]], np.float32)
  label = rng.integers(0, 3, n)
  return jnp.asarray(centres[label] + 0.5 * rng.normal(size=(n, 2)), jnp.float32), label


MOG = dict(num_components=10, layout="circle", radius=4.0, scale=0.5, learnable=False)


@pytest.mark.slow
@pytest.mark.parametrize("prior, prior_config, ratio", [
    ("mog", MOG, 0.2),  # measured 0.557 -> 0.035 at 500 steps
    ("swiss_roll", dict(num_components=10), 0.5),  # measured 0.316 -> 0.128
])
def test_aggregated_posterior_moves_toward_the_prior(prior, prior_config, ratio):
  assert prior in PRIORS, f"prior {prior!r} is not registered"
  config = _set_lr(_model_config(
      latent_dim=2, posterior="deterministic", encoder_hidden=(64, 64), decoder_hidden=(64, 64),
      discriminator_hidden=(64, 64), prior=prior,
      prior_config=ml_collections.ConfigDict(prior_config), likelihood="gaussian",
      likelihood_config=ml_collections.ConfigDict(dict(scale=0.1))), 1e-3, 1e-3)
  parts = build_aae_parts(config, (2,))
  x, _ = _blobs()
  key = jax.random.PRNGKey(0)
  params, state, metrics = _train(parts, x, 500, key)
  z_prior = parts.prior.sample(parts.prior_params(params), jax.random.PRNGKey(9), 1000)
  encode = jax.jit(parts.model.encode)
  before = _mmd(encode(params, x[:1000]), z_prior)
  after = _mmd(encode(state.params, x[:1000]), z_prior)
  assert after < ratio * before, (before, after)
  # The discriminator is near chance by the end: the codes fool it about half the time.
  assert float(metrics["discriminator_accuracy"][-50:].mean()) < 0.7


@pytest.mark.slow
def test_label_regularisation_puts_each_class_on_its_component():
  """3 labelled blobs, 3 swiss-roll segments, half the labels hidden."""
  config = _set_lr(_model_config(
      latent_dim=2, posterior="deterministic", encoder_hidden=(64, 64), decoder_hidden=(64, 64),
      discriminator_hidden=(64, 64), prior="swiss_roll", variant="labels", num_classes=3,
      label_fraction=0.5, prior_config=ml_collections.ConfigDict(dict(num_components=3)),
      likelihood="gaussian", likelihood_config=ml_collections.ConfigDict(dict(scale=0.1))),
      1e-3, 1e-3)
  parts = build_aae_parts(config, (2,))
  x, label = _blobs()
  _, state, _ = _train(parts, x, 600, jax.random.PRNGKey(0), labels=jnp.asarray(label))
  z = np.asarray(jax.jit(parts.model.encode)(state.params, x))
  # The segment of a code: that of the nearest point of a fine sampling of the prior.
  ref, ref_k = parts.prior.sample_with_components({}, jax.random.PRNGKey(5), 20_000)
  nearest = np.argmin(((z[:, None] - np.asarray(ref)[None]) ** 2).sum(-1), axis=1)
  segment = np.asarray(ref_k)[nearest]
  accuracy = float(np.mean(segment == label))
  assert accuracy > 0.9, accuracy  # chance is 1/3


def test_label_variant_needs_a_prior_with_components():
  with pytest.raises(ValueError, match="needs a prior made of components"):
    build_aae_parts(_model_config(variant="labels"), (8, 8, 1))
  with pytest.raises(ValueError, match="num_classes=10"):
    build_aae_parts(_model_config(variant="labels", prior="swiss_roll", latent_dim=2,
                                  prior_config=ml_collections.ConfigDict(
                                      dict(num_components=4))), (8, 8, 1))


# --------------------------------------------------------------------------- clustering


def test_hungarian_matching():
  labels = np.array([0, 0, 1, 1, 2, 2, -1])
  assert clustering_accuracy(labels, np.array([2, 2, 0, 0, 1, 1, 0]), 3)["accuracy"] == 1.0
  # One cluster for everything: the best match gets one label right.
  out = clustering_accuracy(labels, np.zeros(7, int), 3)
  assert out["accuracy"] == pytest.approx(2 / 6) and out["clusters_used"] == 1
  # More clusters than labels: unmatched clusters count as errors, majority does not.
  out = clustering_accuracy(labels, np.array([0, 3, 1, 1, 2, 2, 0]), 4)
  assert out["accuracy"] == pytest.approx(5 / 6) and out["accuracy_majority"] == 1.0


@pytest.mark.slow
def test_clustering_accuracy_on_digits():
  """Budget: 2000 steps of 100 dynamically binarized digits, 128-unit nets (~20 s here).

  Threshold 0.45 (Hungarian, test split). For scale: a collapse onto one cluster
  scores 0.12, k-means on the same binarized pixels 0.71; this config measured
  0.58–0.64 over three seeds.
  """
  config = aae_config.get_config("clustering")
  config.data.validation_size = 197
  config.model.update(encoder_hidden=(128, 128), decoder_hidden=(128, 128),
                      discriminator_hidden=(128, 128), latent_dim=3)
  dataset = load_dataset(config.data)
  parts = build_aae_parts(config.model, dataset.shape)
  x = jnp.asarray(dataset.train.x)
  key = jax.random.PRNGKey(0)
  model = parts.model
  state = model.init_state(key, model.init(key, x[:2]), x)

  def body(state, i):
    k = jax.random.fold_in(key, i)
    index = jax.random.choice(k, x.shape[0], (100,), replace=False)
    binary = jax.random.bernoulli(jax.random.fold_in(k, 2), x[index]).astype(jnp.float32)
    batch = {"x": binary, "index": index, "label": jnp.zeros(100, jnp.int32),
             "mask": jnp.ones(100)}
    return model.update(state, batch, jax.random.fold_in(k, 1))

  state, _ = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(2000)),
                     compiler_options=xla.OPTIMIZED)(state)
  metrics = model.split_metrics(state.params, key, dataset, "test")
  assert metrics["clustering_accuracy"] > 0.45, metrics
  assert metrics["clustering_clusters_used"] >= 8 and metrics["clustering_examples"] == 360


# --------------------------------------------------------------------------- likelihoods


def test_importance_estimate_matches_the_exact_linear_gaussian_likelihood():
  """Linear decoder, N(x; Wz + b, σ²I), N(0, I) prior: p(x) = N(x; b, WWᵀ + σ²I)."""
  d, k, sigma = 5, 2, 0.5
  config = _model_config(latent_dim=k, encoder_hidden=(), decoder_hidden=(),
                         posterior="deterministic", likelihood="gaussian",
                         likelihood_config=ml_collections.ConfigDict(dict(scale=sigma)))
  parts = build_aae_parts(config, (d, 1, 1))
  rng = np.random.default_rng(0)
  w = rng.normal(size=(d, k)).astype(np.float32)
  b = rng.normal(size=d).astype(np.float32)
  x = rng.multivariate_normal(b, w @ w.T + sigma ** 2 * np.eye(d), size=6).astype(np.float32)
  exact = scipy.stats.multivariate_normal(b, w @ w.T + sigma ** 2 * np.eye(d)).logpdf(x)
  x = jnp.asarray(x.reshape(6, d, 1, 1))
  params = parts.model.init(jax.random.PRNGKey(0), x[:2])
  params["decoder"] = {"mlp": {"dense_0": {"kernel": jnp.asarray(w.T), "bias": jnp.asarray(b)}}}
  # Encoder: the exact posterior mean, so r(z|x) = N(mean, s²) is a sensible proposal.
  m_inv = np.linalg.inv(w.T @ w + sigma ** 2 * np.eye(k))
  params["encoder"] = {"head": {"kernel": jnp.asarray(w @ m_inv.T, jnp.float32),
                                "bias": jnp.asarray(-b @ w @ m_inv.T, jnp.float32)}}
  # The proposal widening is evaluation state handed to the estimator, not a param.
  proposal = {"scale": jnp.float32(np.sqrt(np.diag(sigma ** 2 * m_inv)).max() * 1.3)}
  importance = estimators.resolve("importance", parts.model)
  estimate = jax.jit(lambda p, s: importance.log_likelihood(
      parts.model, p, s, x, jax.random.PRNGKey(1), 5000).values)(params, proposal)
  np.testing.assert_allclose(estimate, exact, atol=0.05)


@pytest.mark.slow
def test_parzen_needs_a_validation_split_and_is_labelled():
  parts = build_aae_parts(_model_config(), (8, 8, 1))
  model = parts.model
  x = jnp.zeros((4, 8, 8, 1))
  params = model.init(jax.random.PRNGKey(0), x)
  with pytest.raises(ValueError, match="validation split"):
    estimators.log_likelihood(model, params, x, jax.random.PRNGKey(0), estimator="parzen",
                              num_samples=10)
  dataset = load_dataset(ml_collections.ConfigDict(dict(source="digits", validation_size=100)))
  parzen = estimators.resolve("parzen", model)
  state, report = parzen.prepare(model, params, jax.random.PRNGKey(0), 300, dataset.validation.x)
  assert state["centres"].shape == (300, 64) and report["bandwidth"] > 0
  assert "parzen" not in params  # evaluation state stays out of the params
  out = parzen.log_likelihood(model, params, state, jnp.asarray(dataset.test.x[:5]),
                              jax.random.PRNGKey(0), 300)
  assert out.estimator == "parzen-300" and out.kind.value == "parzen estimate"
  assert np.all(np.isfinite(out.values))
  assert estimators.supported(model) == ["ais", "importance", "parzen"]
  clustering = build_aae_parts(_model_config(variant="clustering"), (8, 8, 1)).model
  squared = build_aae_parts(_model_config(likelihood="squared_error"), (8, 8, 1)).model
  assert estimators.supported(clustering) == estimators.supported(squared) == ["parzen"]


# --------------------------------------------------------------------------- figures


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["labels", "clustering"])
def test_figures_are_written(tmp_path, variant):
  extra = dict(prior="swiss_roll", latent_dim=2, prior_config=ml_collections.ConfigDict(
      dict(num_components=10))) if variant == "labels" else {}
  parts = build_aae_parts(_model_config(variant=variant, **extra), (8, 8, 1))
  dataset = load_dataset(ml_collections.ConfigDict(dict(source="digits", validation_size=100)))
  params = parts.model.init(jax.random.PRNGKey(0), jnp.asarray(dataset.train.x[:2]))
  paths = parts.model.figures(params, jax.random.PRNGKey(1), str(tmp_path), dataset=dataset)
  assert sorted(p.rsplit("/", 1)[1] for p in paths) == ["class_style_grid.png",
                                                         "latent_over_prior.png"]
  assert all((tmp_path / p.rsplit("/", 1)[1]).stat().st_size > 1000 for p in paths)


def test_component_style_codes_walk_each_component_the_same_way():
  from genlatent.viz.aae import component_style_codes
  prior = build_aae_parts(_model_config(prior="swiss_roll", latent_dim=2), (8, 8, 1)).prior
  z, k = prior.sample_with_components({}, jax.random.PRNGKey(0), 5000)
  codes = component_style_codes(np.asarray(z), np.asarray(k), 10, num_styles=6)
  assert codes.shape == (6, 10, 2)
  # Column c holds draws of component c: radii within its segment.
  radius = np.linalg.norm(codes, axis=-1) / 3.0
  for c in range(10):
    assert np.all(radius[:, c] > np.sqrt(c / 10) - 0.1)
    assert np.all(radius[:, c] < np.sqrt((c + 1) / 10) + 0.1)
