"""The Gaussian mixture family against scikit-learn and closed forms (its 1-vs-8-device run:
tests/train/test_parallel.py)."""

import copy
import warnings

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from genlatent import data
from genlatent.core import Kind, mixture
from genlatent import estimators
from genlatent.models import build_model, gmm
from tests.models import helpers

TYPES = mixture.COVARIANCE_TYPES


def blobs(n=600, d=4, k=3, seed=0):
  """[n, d] float64 points from k well-separated, correlated Gaussian blobs."""
  rs = np.random.RandomState(seed)
  centers = 6.0 * rs.randn(k, d)
  labels = rs.randint(k, size=n)
  mixing = rs.randn(k, d, d) / np.sqrt(d) + np.eye(d)
  return centers[labels] + np.einsum("nd,nde->ne", rs.randn(n, d), mixing[labels])


def model_config(**overrides):
  return helpers.model_config("gmm", **dict(dict(
      num_components=3, covariance_type="full", reg_covar=1e-6, training="em",
      init="kmeans", kmeans_iterations=10), **overrides))


def params_of(fitted: GaussianMixture, dtype) -> dict:
  return {"logits": jnp.asarray(np.log(fitted.weights_), dtype),
          "means": jnp.asarray(fitted.means_, dtype),
          "precision_cholesky": jnp.asarray(fitted.precisions_cholesky_, dtype)}


def sklearn_from(params, covariance_type, **kwargs) -> GaussianMixture:
  """An unfitted GaussianMixture that starts from genlatent's params."""
  u = np.asarray(params["precision_cholesky"], np.float64)
  precisions = {"full": lambda: np.einsum("kij,klj->kil", u, u), "tied": lambda: u @ u.T,
                "diag": lambda: u ** 2, "spherical": lambda: u ** 2}[covariance_type]()
  w = np.exp(np.asarray(params["logits"], np.float64))
  return GaussianMixture(len(w), covariance_type=covariance_type, weights_init=w / w.sum(),
                         means_init=np.asarray(params["means"], np.float64),
                         precisions_init=precisions, init_params="random_from_data",
                         random_state=0, tol=0.0, **kwargs)


def full_batch(x):
  return {"x": np.asarray(x, np.float32), "mask": np.ones((len(x),), np.float32)}


@pytest.fixture(autouse=True)
def one_blas_thread():
  """scikit-learn's tiny BLAS calls here run ~30× cheaper without thread spin-up."""
  with threadpool_limits(1):
    yield


@pytest.fixture(scope="module")
def fitted():
  """scikit-learn fits of every covariance type on the blobs."""
  x = blobs()
  with threadpool_limits(1):
    return x, {ct: GaussianMixture(3, covariance_type=ct, random_state=0).fit(x) for ct in TYPES}


@pytest.mark.parametrize("covariance_type", TYPES)
def test_log_likelihood_equals_sklearn_score_samples(fitted, covariance_type):
  x, fits = fitted
  model = build_model(model_config(covariance_type=covariance_type), (4,))
  ref = fits[covariance_type].score_samples(x)
  with jax.enable_x64(True):  # the formula, at float64
    ll = model.densities.log_prob(params_of(fits[covariance_type], jnp.float64), jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(ll), ref, rtol=1e-10)
  # float32 arithmetic, against the reference on the same float32-rounded points
  # and parameters (rounding the inputs alone moves log p by ~1e-6 relative).
  x32 = x.astype(np.float32)
  params32 = params_of(fits[covariance_type], jnp.float32)
  rounded = copy.deepcopy(fits[covariance_type])
  rounded.weights_ = np.exp(np.asarray(params32["logits"], np.float64))
  rounded.means_ = np.asarray(params32["means"], np.float64)
  rounded.precisions_cholesky_ = np.asarray(params32["precision_cholesky"], np.float64)
  ll = estimators.log_likelihood(model, params32, jnp.asarray(x32), None, estimator="exact")
  assert ll.estimator == "exact" and ll.kind == Kind.EXACT
  np.testing.assert_allclose(np.asarray(ll.values), rounded.score_samples(x32.astype(np.float64)),
                             rtol=1e-6)
  # encode gives the responsibilities.
  np.testing.assert_allclose(np.asarray(model.encode(params_of(fits[covariance_type], jnp.float32),
                                                     x.astype(np.float32))),
                             fits[covariance_type].predict_proba(x), atol=1e-5)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_e_step_expanded_distances_are_guarded_against_cancellation(covariance_type):
  """The E-step's one-product distances agree with float64 where the guard allows
  them, and the guard falls back to differences for clusters far apart."""
  def case(separation, width):
    rs = np.random.RandomState(0)
    means = separation * rs.randn(5, 20)
    x = means[rs.randint(5, size=400)] + width * rs.randn(400, 20)
    # The reference is float64 arithmetic on the float32-rounded inputs.
    x, means = x.astype(np.float32).astype(np.float64), means.astype(np.float32).astype(np.float64)
    u = np.full((5, 20) if covariance_type == "diag" else (5,), np.float32(1.0 / width), np.float64)
    exact = np.sum(np.square((x[:, None] - means) * (u if covariance_type == "diag"
                                                     else u[:, None])), -1)
    mog = mixture.MixtureOfGaussians(jnp.zeros(5), jnp.asarray(means, jnp.float32),
                                     jnp.asarray(u, jnp.float32), covariance_type)
    xj = jnp.asarray(x, jnp.float32)
    xc = xj - mixture.reference_point(mog)
    moments = jnp.concatenate([xc, xc * xc], axis=1)
    log_px = jax.jit(gmm.batch_statistics)(mog, xj, jnp.ones(400))[1]
    exact_log_px = logsumexp(np.asarray(mixture.component_log_normalizer(mog), np.float64)
                             - 0.5 * exact, axis=1)
    return mog, moments, exact, np.asarray(log_px) - exact_log_px

  near = lambda exact: exact < 200  # the distances that move log p (the rest have no weight)
  mog, moments, exact, log_px_error = case(separation=5.0, width=1.0)  # ordinary: expanded
  precision = mixture.diagonal_precision(mog)
  assert mixture.expansion_is_accurate(mog, precision)
  error = np.abs(np.asarray(mixture.expanded_mahalanobis(mog, precision, moments)) - exact)
  assert 0.5 * error[near(exact)].max() < mixture.MAX_EXPANSION_ERROR
  assert np.abs(log_px_error).max() < mixture.MAX_EXPANSION_ERROR

  mog, moments, exact, log_px_error = case(separation=1e3, width=1e-2)  # far apart
  precision = mixture.diagonal_precision(mog)
  assert not mixture.expansion_is_accurate(mog, precision)
  unguarded = np.asarray(mixture.expanded_mahalanobis(mog, precision, moments))
  assert 0.5 * np.abs(unguarded - exact)[near(exact)].max() > 1.0  # what the guard prevents
  assert np.abs(log_px_error).max() < mixture.MAX_EXPANSION_ERROR  # the E-step differenced


def test_elbo_with_exact_posterior_equals_log_likelihood(fitted):
  x, fits = fitted
  model = build_model(model_config(), (4,))
  params = params_of(fits["full"], jnp.float32)
  xs = jnp.asarray(x[:50], jnp.float32)
  ll = model.densities.log_prob(params, xs)
  bound = estimators.log_likelihood(model, params, xs, None, estimator="elbo")
  np.testing.assert_allclose(bound.values, ll, rtol=1e-6, atol=1e-5)
  assert bound.kind == Kind.LOWER_BOUND
  # Any other q gives less: the gap is KL(q || p(k|x)) ≥ 0.
  q = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(0), (50, 3)), axis=-1)
  log_joint = mixture.log_joint(mixture.MixtureOfGaussians(
      params["logits"], params["means"], params["precision_cholesky"], "full"), xs)
  np.testing.assert_allclose(mixture.elbo_from_log_joint(log_joint), ll, rtol=1e-6, atol=1e-5)
  assert np.all(np.asarray(mixture.elbo_from_log_joint(log_joint, q)) <= np.asarray(ll) + 1e-5)


def mean_log_likelihood(model, params, x) -> float:
  return float(jax.jit(lambda p, x: model.densities.log_prob(p, x).mean())(
      params, jnp.asarray(x, jnp.float32)))


def run_em(model, state, x, steps):
  update = jax.jit(model.update)
  batch = full_batch(x)
  history = []
  for _ in range(steps):
    state, metrics = update(state, batch, jax.random.PRNGKey(0))
    history.append(float(metrics["log_likelihood"]))
  return state, history


def em_against_sklearn(x, covariance_type, k, steps, reg_covar=1e-6, init="kmeans"):
  """(ours, scikit-learn's) final average log-likelihood from the same start, and our history."""
  model = build_model(model_config(num_components=k, covariance_type=covariance_type,
                                   reg_covar=reg_covar, init=init), x.shape[1:])
  state = model.init_state(jax.random.PRNGKey(1), None, x.astype(np.float32))
  reference = sklearn_from(state.params, covariance_type, max_iter=steps, reg_covar=reg_covar)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
    reference.fit(x)
  state, history = run_em(model, state, x.astype(np.float32), steps)
  ours = mean_log_likelihood(model, state.params, x)
  return ours, reference.score(x), history


@pytest.mark.parametrize("covariance_type", TYPES)
def test_em_reaches_sklearn_on_synthetic_data_and_is_monotone(covariance_type):
  x = blobs()
  # A random start (Forgy) leaves EM real work to do.
  ours, theirs, history = em_against_sklearn(x, covariance_type, 3, 40, init="random")
  assert abs(ours - theirs) <= 1e-3 * abs(theirs)
  # Full-batch EM never lowers the log-likelihood (up to float32 rounding).
  assert np.all(np.diff(history) >= -1e-5 * np.abs(history[1:]))
  assert history[-1] > history[0]


@pytest.mark.slow
def test_em_reaches_sklearn_on_digits_pca(covariance_type="full"):
  config = ml_collections.ConfigDict(dict(source="digits", validation_size=197,
                                          binarization="none", pca_components=10))
  x = data.load_dataset(config).train.x.astype(np.float64)
  ours, theirs, history = em_against_sklearn(x, covariance_type, 10, 60, reg_covar=1e-3)
  assert abs(ours - theirs) <= 1e-3 * abs(theirs)
  assert np.all(np.diff(history) >= -1e-5 * np.abs(history[1:]))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag"])  # spherical: diag's code
def test_chunked_e_step_equals_the_whole_batch(covariance_type):
  x = blobs(n=1200).astype(np.float32)
  model = build_model(model_config(covariance_type=covariance_type), (4,))
  mog = mixture.MixtureOfGaussians(*(model.init_state(jax.random.PRNGKey(0), None, x).params[name]
                                     for name in ("logits", "means", "precision_cholesky")),
                                   covariance_type)
  mask = np.ones((1200,), np.float32)
  mask[::7] = 0.0  # padding rows are ignored in every chunk
  whole, log_whole = jax.jit(gmm.batch_statistics)(mog, x, mask)
  chunked, log_chunked = jax.jit(gmm.batch_statistics, static_argnums=3)(mog, x, mask, 100)
  assert gmm._num_chunks(1200, 100) == 12  # pylint: disable=protected-access
  np.testing.assert_allclose(log_chunked, log_whole, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(chunked), jax.tree.leaves(whole)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(np.abs(b).max()))
  np.testing.assert_allclose(whole.count.sum(), mask.sum(), rtol=1e-5)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_sample_moments_match_the_closed_forms(covariance_type):
  rs = np.random.RandomState(0)
  u = {"full": np.triu(rs.randn(3, 2, 2) * 0.3) + 2 * np.eye(2), "tied": np.array([[1.5, 0.4], [0, 2.0]]),
       "diag": rs.uniform(0.5, 2.0, (3, 2)), "spherical": rs.uniform(0.5, 2.0, 3)}[covariance_type]
  mog = mixture.MixtureOfGaussians(jnp.log(jnp.array([0.2, 0.5, 0.3])),
                                   jnp.asarray(rs.randn(3, 2) * 3, jnp.float32),
                                   jnp.asarray(u, jnp.float32), covariance_type)
  n = 400_000
  x = np.asarray(mixture.sample(mog, jax.random.PRNGKey(0), n), np.float64)
  mean, cov = np.asarray(mixture.mean(mog)), np.asarray(mixture.covariance(mog))
  se = np.sqrt(np.diag(cov) / n)
  assert np.all(np.abs(x.mean(0) - mean) < 5 * se)
  np.testing.assert_allclose(np.cov(x.T), cov, rtol=0.02, atol=0.02 * np.abs(cov).max())
  # Component covariances are the inverses of U Uᵀ.
  sigma = np.asarray(mixture.component_covariances(mog))
  precision = {"full": lambda: np.einsum("kij,klj->kil", u, u),
               "tied": lambda: np.broadcast_to(u @ u.T, (3, 2, 2)),
               "diag": lambda: np.stack([np.diag(v ** 2) for v in u]),
               "spherical": lambda: np.stack([np.eye(2) * v ** 2 for v in u])}[covariance_type]()
  np.testing.assert_allclose(np.einsum("kij,kjl->kil", sigma, precision),
                             np.broadcast_to(np.eye(2), (3, 2, 2)), atol=1e-4)


def test_bic_and_aic_equal_sklearn(fitted):
  x, fits = fitted
  for ct in TYPES:
    model = build_model(model_config(covariance_type=ct), (4,))
    ll = model.densities.log_prob(params_of(fits[ct], jnp.float32), jnp.asarray(x, jnp.float32))
    criteria = gmm.information_criteria(ll, 3, 4, ct)
    assert criteria["num_parameters"] == fits[ct]._n_parameters()  # pylint: disable=protected-access
    assert criteria["bic"] == pytest.approx(fits[ct].bic(x), rel=1e-5)
    assert criteria["aic"] == pytest.approx(fits[ct].aic(x), rel=1e-5)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_empty_component_is_reseeded_and_nothing_is_nan(covariance_type):
  x = blobs(n=400).astype(np.float32)
  model = build_model(model_config(covariance_type=covariance_type), (4,))
  state = model.init_state(jax.random.PRNGKey(0), None, x)
  # Move component 0 far from every point: it gets no responsibility.
  params = dict(state.params, means=state.params["means"].at[0].set(1e4))
  state = state.replace(params=params)
  state, metrics = jax.jit(model.update)(state, full_batch(x), jax.random.PRNGKey(0))
  assert int(metrics["num_reseeded"]) == 1
  assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(state.params))
  # It now sits on a data point, the worst explained one.
  assert np.min(np.abs(x - np.asarray(state.params["means"][0])).sum(1)) < 1e-4
  state, history = run_em(model, state, x, 10)
  assert np.all(np.isfinite(history))
  assert float(jnp.exp(state.params["logits"]).min()) > 1e-3  # it found work


def test_collapsing_component_is_floored_not_nan():
  # 30 copies of one point: a component on them would have zero variance.
  rs = np.random.RandomState(0)
  x = np.concatenate([np.tile([[5.0, 5.0]], (30, 1)), rs.randn(200, 2)]).astype(np.float32)
  reg = 1e-4
  model = build_model(model_config(num_components=2, reg_covar=reg), (2,))
  state = model.init_state(jax.random.PRNGKey(0), None, x)
  state, history = run_em(model, state, x, 30)
  assert np.all(np.isfinite(history))
  cov = np.asarray(mixture.component_covariances(
      mixture.MixtureOfGaussians(state.params["logits"], state.params["means"],
                                 state.params["precision_cholesky"], "full")))
  assert np.linalg.eigvalsh(cov).min() >= reg * 0.99  # the floor holds


def test_stepwise_em_approaches_full_batch_em():
  x = blobs(n=1200).astype(np.float32)
  full = build_model(model_config(), (4,))
  state = full.init_state(jax.random.PRNGKey(1), None, x)
  start = state
  state, _ = run_em(full, state, x, 30)
  target = mean_log_likelihood(full, state.params, x)
  stepwise = build_model(model_config(training="stepwise_em"), (4,))
  state = start  # the same start: init_state does not depend on the training mode
  update = jax.jit(stepwise.update)
  for i in range(60):
    rows = np.arange(i * 100, (i + 1) * 100) % len(x)
    state, metrics = update(state, full_batch(x[rows]), None)
  assert float(metrics["step_size"]) < 0.1
  ours = mean_log_likelihood(stepwise, state.params, x)
  assert abs(ours - target) < 0.01 * abs(target)


@pytest.mark.slow
def test_gradient_training_reaches_the_em_optimum():
  x = blobs(n=400).astype(np.float32)
  em_model = build_model(model_config(init="random", reg_covar=1e-3), (4,))
  state, history = run_em(em_model, em_model.init_state(jax.random.PRNGKey(0), None, x), x, 60)
  model = build_model(model_config(training="gradient", init="random", reg_covar=1e-3), (4,))
  params = model.init_state(jax.random.PRNGKey(0), None, x).params
  assert "unconstrained_precision_cholesky" in params
  tx = optax.adam(5e-2)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt):
    (loss, _), grads = jax.value_and_grad(model.loss, has_aux=True)(params, full_batch(x), None, 0)
    updates, opt = tx.update(grads, opt)
    return optax.apply_updates(params, updates), opt, loss

  for _ in range(200):
    params, opt, loss = step(params, opt)
  assert np.isfinite(float(loss))
  assert -float(loss) == pytest.approx(history[-1], rel=1e-3)
  # The constrained factor round-trips.
  ceiling = 1 / np.sqrt(1e-3)
  u = gmm.constrain(params["unconstrained_precision_cholesky"], "full", ceiling)
  np.testing.assert_allclose(gmm.constrain(gmm.unconstrain(u, "full", ceiling), "full", ceiling),
                             u, rtol=1e-4, atol=1e-5)


def test_unknown_training_and_covariance_type_are_clear_errors():
  with pytest.raises(ValueError, match="Known: em, stepwise_em, gradient"):
    build_model(model_config(training="gibbs"), (4,))
  with pytest.raises(ValueError, match="Known: full, tied, diag, spherical"):
    build_model(model_config(covariance_type="banded"), (4,))
