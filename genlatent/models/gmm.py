"""Gaussian mixture model: p(x) = Σ_k π_k N(x; μ_k, Σ_k), exact log-likelihood.

The simplest model with a discrete latent k. Its log-likelihood is exact (kind
`exact`), which anchors the shared scale: on the same data every other family's
estimate can be read against it. Examples x are [B, *data_shape], flattened to
[B, D]; all values are nats per example. The density itself is
`genlatent.core.mixture` (shared with the `mog` prior), and as a Linen module
`GaussianMixture`, through which the family evaluates it.

Training, chosen by `config.training`:

  em           full-batch EM when the batch is the whole training set (set
               batch_size = N_train); each update is one E-step and one M-step.
  stepwise_em  mini-batch (stepwise) EM: running sufficient statistics
               s ← (1 − ρ_t) s + ρ_t ŝ_batch with ρ_t = (t + offset)^(−power).
  gradient     Adam (or any `config.optimizer`) on −mean log p(x), through the
               common trainer's gradient path.

EM statistics are kept in the frame of the current means,
  count_k = Σ_b r_bk,  first_k = Σ_b r_bk (x_b − μ_k),
  second_k = Σ_b r_bk (x_b − μ_k)(x_b − μ_k)ᵀ   (diagonal only for diag/spherical;
                                                summed over k for tied),
normalised per example. A batch's sums are taken about the mixture mean c
(matrix products, in cache-sized chunks) and moved to each component's frame,
so float32 never forms Σ xxᵀ − N μμᵀ about the origin; what cancels is the
between- over within-component spread. Under data parallelism the per-device
sums are `psum`-med (pmap) or all-reduced by XLA (mesh backend).

The covariance floor `reg_covar` is added to every M-step covariance, as in
scikit-learn, so a component that collapses onto a point keeps a finite
density. A component left with (almost) no responsibility is re-seeded at the
worst-explained example of the batch, with the pooled covariance.
"""

from __future__ import annotations

import functools
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from genlatent.core import MODELS, Densities, Model, TrainState
from genlatent.core import mixture
from genlatent.core.collective import LOCAL, Collective
from genlatent.models import em
from genlatent.viz import grids, mixtures

TRAININGS = ("em", "stepwise_em", "gradient")


@struct.dataclass
class Statistics:
  """EM sufficient statistics in the frame of the current means (sums or per-example means).

  Attributes:
    count: [K] Σ r_bk.
    first: [K, D] Σ r_bk (x_b − μ_k).
    second: full [K, D, D]; tied [D, D] (summed over k); diag and spherical
      [K, D] (the diagonal).
  """

  count: jax.Array
  first: jax.Array
  second: jax.Array


# ----------------------------------------------------------------------------- E-step


def _chunk_sums(mog: mixture.MixtureOfGaussians, x: jax.Array, mask: jax.Array):
  """E-step over one chunk: sums about the common origin c, and each example's log p(x).

  Args:
    x: [C, D] examples.
    mask: [C], 1 for real rows, 0 for padding (ignored).
  Returns:
    ((count [K], first, second), log p(x) [C] nats), for `_finish`:
      full/tied: first = Σ r (x − μ_k) [K, D]; second = Σ r (x − μ_k)(x − c)ᵀ,
        [K, D, D] (full) or summed over k, [D, D] (tied);
      diag/spherical: first = Σ r (x − c); second = Σ r (x − c)², both [K, D].
    c is `mixture.reference_point`, the mixture mean.
  """
  ct = mog.covariance_type
  u = mog.precision_cholesky
  k, d = mog.num_components, mog.dim
  c = mixture.reference_point(mog)
  xc, mc = x - c, mog.means - c
  normalizer = mixture.component_log_normalizer(mog)
  if ct == "full":
    # y_k = (x − c) U_k − (μ_k − c) U_k for every k in one [C, D] × [D, K·D]
    # product; |y_k|² is the Mahalanobis distance.
    y = (xc @ u.transpose(1, 0, 2).reshape(d, k * d)).reshape(-1, k, d)
    maha = jnp.sum(jnp.square(y - jnp.einsum("kd,kde->ke", mc, u)), axis=-1)
  elif ct == "tied":
    maha = jnp.sum(jnp.square((xc @ u)[:, None, :] - mc @ u), axis=-1)  # fused, no [C, K, D]
  else:
    # The moments [x − c, (x − c)²] serve both the distances (one product, where
    # float32 keeps it accurate) and the sums (one product).
    precision = mixture.diagonal_precision(mog)
    moments = jnp.concatenate([xc, xc * xc], axis=1)  # [C, 2D]
    maha = jax.lax.cond(mixture.expansion_is_accurate(mog, precision),
                        lambda: mixture.expanded_mahalanobis(mog, precision, moments),
                        lambda: mixture.mahalanobis(mog, x))
  log_joint = normalizer - 0.5 * maha  # [C, K]
  log_px = jax.nn.logsumexp(log_joint, axis=1)
  r = jnp.exp(log_joint - log_px[:, None]) * mask[:, None]
  count = r.sum(axis=0)
  if ct == "full":
    # Σ_c r_ck (x − μ_k)(x − c)ᵀ for every k as one [K·D, C] × [C, D] product:
    # one factor centred on its component, so the float32 error grows with
    # |μ_k − c|/σ, not with its square as Σ r (x − c)(x − c)ᵀ would.
    centred = r[:, :, None] * (xc[:, None, :] - mc)  # [C, K, D]
    second = (centred.reshape(-1, k * d).T @ xc).reshape(k, d, d)
    return (count, centred.sum(axis=0), second), log_px
  if ct == "tied":
    centred = xc * r.sum(axis=1)[:, None] - r @ mc  # Σ_k r_ck (x − μ_k), [C, D]
    return (count, r.T @ xc - count[:, None] * mc, centred.T @ xc), log_px
  sums = r.T @ moments  # [K, 2D]
  return (count, sums[:, :d], sums[:, d:]), log_px


def _finish(mog: mixture.MixtureOfGaussians, sums) -> Statistics:
  """`Statistics` in the frame of the current means from accumulated `_chunk_sums`.

  With m_k = μ_k − c: full/tied second_k = Σ r (x − μ_k)(x − c)ᵀ − first_k m_kᵀ
  (symmetrised); diag/spherical first_k = s1_k − n_k m_k and
  second_k = s2_k − 2 m_k s1_k + n_k m_k², whose cancellation is a between- over
  within-component ratio (c is the mixture mean) that the M-step's likelihood
  is flat to, to first order.
  """
  count, first, second = sums
  ct = mog.covariance_type
  m = mog.means - mixture.reference_point(mog)
  if ct == "full":
    second = second - first[:, :, None] * m[:, None, :]
    return Statistics(count, first, 0.5 * (second + jnp.swapaxes(second, 1, 2)))
  if ct == "tied":
    second = second - first.T @ m
    return Statistics(count, first, 0.5 * (second + second.T))
  s1 = first
  first = s1 - count[:, None] * m
  second = jnp.maximum(second - 2.0 * m * s1 + count[:, None] * m * m, 0.0)
  return Statistics(count, first, second)


def _num_chunks(batch: int, chunk_size: int) -> int:
  """How many equal chunks of about `chunk_size` rows (a divisor of `batch`; 1 if none fits)."""
  if not chunk_size or batch <= chunk_size:
    return 1
  for n in range(math.ceil(batch / chunk_size), batch + 1):
    if batch % n == 0:
      return n if batch // n >= chunk_size // 4 else 1
  return 1


def batch_statistics(mog: mixture.MixtureOfGaussians, x: jax.Array, mask: jax.Array,
                     chunk_size: int = 0):
  """The E-step over a batch: sums for the M-step and each example's log p(x).

  The batch is taken in chunks of about `chunk_size` rows (0: all at once) by a
  `lax.scan`; chunk j holds rows j, j + n, j + 2n, ... (n chunks), so under the
  mesh backend every chunk stays spread over all devices. Chunks bound memory
  ([C, K, D] residuals for full covariances) and keep each one in cache, which
  on CPU is worth several times the speed.

  Args:
    x: [B, D]; mask: [B], 1 for real rows, 0 for padding (ignored).
  Returns:
    (Statistics of sums over this batch (frame: the current means),
    log p(x) [B] nats).
  """
  x = x.astype(mog.means.dtype)
  b = x.shape[0]
  n = _num_chunks(b, chunk_size)
  if n == 1:
    sums, log_px = _chunk_sums(mog, x, mask)
    return _finish(mog, sums), log_px
  xs = jnp.swapaxes(x.reshape(b // n, n, -1), 0, 1)  # [n, B/n, D]
  ms = mask.reshape(b // n, n).T

  def body(total, chunk):
    sums, log_px = _chunk_sums(mog, *chunk)
    return jax.tree.map(jnp.add, total, sums), log_px

  zero = jax.tree.map(jnp.zeros_like, jax.eval_shape(lambda: _chunk_sums(mog, xs[0], ms[0])[0]))
  sums, log_px = jax.lax.scan(body, zero, (xs, ms))
  return _finish(mog, sums), log_px.T.reshape(b)


# ----------------------------------------------------------------------------- M-step


def m_step(mog: mixture.MixtureOfGaussians, stats: Statistics, reg_covar: float):
  """Parameters that maximise the expected complete log-likelihood, and the statistics re-framed.

  Args:
    mog: the current mixture (its means are the frame of `stats`).
    stats: per-example statistics (count sums to 1 over k).
  Returns:
    (new mixture, the same statistics in the frame of the new means, the new
    covariances in scikit-learn's `covariances_` shapes, floor included).
  """
  ct = mog.covariance_type
  d = mog.dim
  dtype = mog.means.dtype
  # As scikit-learn: 10 ε keeps an empty component's division finite.
  count = stats.count + 10 * jnp.finfo(dtype).eps
  delta = stats.first / count[:, None]
  means = mog.means + delta
  # Scatter about the new means: second − count δδᵀ (small minus small).
  if ct == "full":
    second = stats.second - count[:, None, None] * delta[:, :, None] * delta[:, None, :]
    cov = second / count[:, None, None] + reg_covar * jnp.eye(d, dtype=dtype)
  elif ct == "tied":
    second = stats.second - jnp.einsum("k,ki,kj->ij", count, delta, delta)
    cov = second / jnp.sum(count) + reg_covar * jnp.eye(d, dtype=dtype)
  else:
    second = jnp.maximum(stats.second - count[:, None] * delta * delta, 0.0)
    cov = second / count[:, None] + reg_covar
    if ct == "spherical":
      cov = cov.mean(axis=1)
  u = mixture.precision_cholesky_from_covariances(cov, ct)
  # Rounding can leave a nearly singular covariance not positive definite;
  # such a component keeps its previous factor rather than turning NaN.
  axes = tuple(range(1, u.ndim)) if ct != "tied" else tuple(range(u.ndim))
  finite = jnp.all(jnp.isfinite(u), axis=axes, keepdims=True)
  u = jnp.where(finite, u, mog.precision_cholesky)
  new = mixture.MixtureOfGaussians(jnp.log(count / jnp.sum(count)), means, u, ct)
  reframed = Statistics(stats.count, jnp.zeros_like(stats.first), second)
  return new, reframed, cov


def reseed(mog: mixture.MixtureOfGaussians, stats: Statistics, covariances: jax.Array,
           empty: jax.Array, candidates: jax.Array, count: jax.Array, reg_covar: float):
  """Moves each empty component onto a candidate point, with the pooled covariance.

  Args:
    mog, stats, covariances: an M-step's output.
    empty: [K] bool.
    candidates: [M, D] points, worst-explained first; the j-th empty component
      takes the j-th.
    count: per-example weight a re-seeded component starts with (one example's worth).
  Returns:
    (mixture, statistics) with the empty components replaced.
  """
  ct = mog.covariance_type
  slot = em.reseed_slots(empty, candidates.shape[0])
  means = jnp.where(empty[:, None], candidates[slot], mog.means)
  new_count = jnp.where(empty, count, stats.count)
  u, second = mog.precision_cholesky, stats.second
  if ct != "tied":  # a tied covariance is already shared: only the mean moves
    pooled = jnp.tensordot(jnp.exp(mog.log_weights) * ~empty, covariances, axes=1)
    pooled = pooled / jnp.maximum(jnp.sum(jnp.exp(mog.log_weights) * ~empty), 1e-30)
    u_pooled = mixture.precision_cholesky_from_covariances(pooled[None], ct)[0]
    floor = reg_covar * (jnp.eye(mog.dim) if ct == "full" else 1.0)
    scatter = count * (pooled - floor)
    if ct == "spherical":
      scatter = jnp.full((mog.dim,), scatter)
    pick = lambda e, a, b: jnp.where(e.reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
    u = pick(empty, jnp.broadcast_to(u_pooled, u.shape), u)
    second = pick(empty, jnp.broadcast_to(scatter, second.shape), second)
  new = mixture.MixtureOfGaussians(jnp.log(new_count / jnp.sum(new_count)), means, u, ct)
  return new, Statistics(new_count, stats.first, second)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def hard_m_step(x: jax.Array, labels: jax.Array, k: int, covariance_type: str, reg_covar: float):
  """The mixture one M-step makes of a hard assignment, and its per-example statistics.

  Args:
    x: [N, D]; labels: [N] ints in [0, k).
  """
  d = x.shape[1]
  onehot = jax.nn.one_hot(labels, k, dtype=x.dtype)  # [N, K]
  n = x.shape[0]
  counts = onehot.sum(axis=0)
  means = (onehot.T @ x) / jnp.maximum(counts, 1.0)[:, None]
  # Exact two-pass scatter: residuals about each example's own center.
  resid = x - means[labels]
  if covariance_type in ("full", "tied"):
    second = jnp.einsum("nk,nd,ne->kde", onehot, resid, resid)
    if covariance_type == "tied":
      second = second.sum(axis=0)
  else:
    second = onehot.T @ (resid * resid)
  stats = Statistics(counts / n, jnp.zeros((k, d), x.dtype), second / n)
  # The frame's factor is only the fallback for a covariance that cannot be factorised.
  frame = mixture.MixtureOfGaussians(jnp.zeros((k,)), means, unit_precision(covariance_type, k, d),
                                     covariance_type)
  mog, stats, _ = m_step(frame, stats, reg_covar)
  return mog, stats


# ----------------------------------------------------------------------------- parameters


def _constrain_diagonal(raw, max_precision):
  """U's diagonal from unconstrained values, in (0, max_precision): σ² ≥ reg_covar on the diagonal."""
  return max_precision * jax.nn.sigmoid(raw)


def _unconstrain_diagonal(u, max_precision):
  u = jnp.clip(u / max_precision, 1e-30, 1.0 - 1e-7)
  return jnp.log(u) - jnp.log1p(-u)


def unit_precision(covariance_type: str, k: int, d: int) -> jax.Array:
  """U of unit covariances, shaped for `covariance_type`."""
  return {"full": lambda: jnp.broadcast_to(jnp.eye(d), (k, d, d)), "tied": lambda: jnp.eye(d),
          "diag": lambda: jnp.ones((k, d)), "spherical": lambda: jnp.ones((k,))}[covariance_type]()


def constrain(raw: jax.Array, covariance_type: str, max_precision: float) -> jax.Array:
  """The precision Cholesky factor U from gradient-trained unconstrained values.

  full/tied: the strict upper triangle as is, the diagonal through a scaled
  sigmoid (positive and at most 1/√reg_covar, so |Σ| ≥ reg_covar^D and no
  component can collapse to a point); diag/spherical: the same sigmoid.
  """
  if covariance_type in ("full", "tied"):
    diag = jnp.diagonal(raw, axis1=-2, axis2=-1)
    off = jnp.triu(raw, 1)
    return off + _constrain_diagonal(diag, max_precision)[..., None] * jnp.eye(raw.shape[-1])
  return _constrain_diagonal(raw, max_precision)


def unconstrain(u: jax.Array, covariance_type: str, max_precision: float) -> jax.Array:
  """Inverse of `constrain` (a diagonal at or above the ceiling is clipped just below it)."""
  if covariance_type in ("full", "tied"):
    diag = jnp.diagonal(u, axis1=-2, axis2=-1)
    eye = jnp.eye(u.shape[-1])
    return jnp.triu(u, 1) + _unconstrain_diagonal(diag, max_precision)[..., None] * eye
  return _unconstrain_diagonal(u, max_precision)


def params_from_mixture(mog: mixture.MixtureOfGaussians) -> dict:
  """EM-mode params ({'logits', 'means', 'precision_cholesky'}) of a mixture."""
  return {"logits": mog.log_weights, "means": mog.means,
          "precision_cholesky": mog.precision_cholesky}


def information_criteria(log_likelihood_values, num_components: int, dim: int,
                         covariance_type: str) -> dict:
  """{'bic', 'aic', 'num_parameters'} of a fit, from its per-example log p(x) (nats).

  The same definitions as scikit-learn's `GaussianMixture.bic`/`.aic`; lower is better.
  """
  values = np.asarray(log_likelihood_values, np.float64)
  p = mixture.num_parameters(num_components, dim, covariance_type)
  total = float(values.sum())
  return {"bic": mixture.bic(total, p, values.size), "aic": mixture.aic(total, p),
          "num_parameters": p}



# ----------------------------------------------------------------------------- the module


class GaussianMixture(nn.Module):
  """p(x) = Σ_k π_k N(x; μ_k, Σ_k) over [D] vectors, as a Linen module.

  Params: logits [K] (π = softmax), means [K, D], and the precision Cholesky
  factor U (`genlatent.core.mixture`), stored as `precision_cholesky` or, with
  `unconstrained=True` (gradient training), as `unconstrained_precision_cholesky`
  (`constrain`: U's diagonal in (0, 1/√reg_covar)). D is read from the data at
  `init`. Every method works on flattened [B, D] (or [..., D]) points, in nats.

    model = GaussianMixture(num_components=4, covariance_type="full")
    params = model.init(key, x)["params"]               # N(0, I) means, unit covariances
    log_px = model.apply({"params": params}, x, method="log_prob")   # [B]
  """

  num_components: int
  covariance_type: str = "full"
  reg_covar: float = 1e-6
  unconstrained: bool = False

  @nn.compact
  def distribution(self, dim: int | None = None) -> mixture.MixtureOfGaussians:
    """The mixture the params describe (D = `dim` at init, else the params' own)."""
    ct = mixture.check_covariance_type(self.covariance_type)
    k = self.num_components
    if dim is None:
      dim = self.variables["params"]["means"].shape[-1]
    logits = self.param("logits", nn.initializers.zeros, (k,))
    means = self.param("means", nn.initializers.normal(1.0), (k, dim))
    max_precision = 1.0 / math.sqrt(self.reg_covar)
    if self.unconstrained:
      raw = self.param("unconstrained_precision_cholesky",
                       lambda key: unconstrain(unit_precision(ct, k, dim), ct, max_precision))
      u = constrain(raw, ct, max_precision)
    else:
      u = self.param("precision_cholesky", lambda key: unit_precision(ct, k, dim))
    return mixture.MixtureOfGaussians(logits, means, u, ct)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.log_prob(x)

  def log_prob(self, x: jax.Array) -> jax.Array:
    """[...] exact log p(x), nats, for x [..., D]."""
    return mixture.log_prob(self.distribution(x.shape[-1]), x)

  def log_joint(self, x: jax.Array) -> jax.Array:
    """[..., K] log π_k N(x; μ_k, Σ_k), nats."""
    return mixture.log_joint(self.distribution(x.shape[-1]), x)

  def responsibilities(self, x: jax.Array) -> jax.Array:
    """[..., K] p(k | x); rows sum to 1."""
    return mixture.responsibilities(self.distribution(x.shape[-1]), x)

  def elbo(self, x: jax.Array) -> jax.Array:
    """[B] Σ_k p(k|x) (log p(x, k) − log p(k|x)), nats: equals log p(x) (the EM view)."""
    return mixture.elbo_from_log_joint(self.log_joint(x))

  def sample(self, key: jax.Array, n: int) -> jax.Array:
    """[n, D] draws from the mixture."""
    return mixture.sample(self.distribution(), key, n)


# ----------------------------------------------------------------------------- the family


@MODELS.register("gmm")
def build_gmm(config, data_shape) -> Model:
  """A Gaussian mixture from `config` (the `model` part of an experiment config).

  Config fields:
    num_components: K.
    covariance_type: 'full' | 'diag' | 'spherical' | 'tied'.
    reg_covar: variance added to every covariance's diagonal (the floor).
    training: 'em' | 'stepwise_em' | 'gradient' (module docstring).
    init: 'kmeans' (k-means++ seeding and `kmeans_iterations` Lloyd steps) or
      'random' (K random examples as centers); the first parameters are one
      M-step from that hard assignment, as scikit-learn's.
    kmeans_iterations: Lloyd steps after seeding (0: seeding only).
    stepwise_offset, stepwise_power: ρ_t = (t + offset)^(−power).
    reseed_min_count: a component with less than this many examples' worth of
      responsibility in a batch is re-seeded (EM only; 0 disables).
    chunk_size: rows per E-step chunk; 0 (default): automatic, about 2^19 / (K·D)
      rows for full/tied (in cache), 2^22 / K for diag/spherical.
  """
  data_shape = tuple(data_shape)
  d = int(np.prod(data_shape))
  k = int(config.num_components)
  ct = mixture.check_covariance_type(config.covariance_type)
  reg_covar = float(config.reg_covar)
  training = config.training
  if training not in TRAININGS:
    raise ValueError(f"Unknown training {training!r} for the GMM. Known: {', '.join(TRAININGS)}.")
  init_method = config.init
  kmeans_iterations = int(config.kmeans_iterations)
  offset = float(config.stepwise_offset)
  power = float(config.stepwise_power) if training == "stepwise_em" else 0.0
  reseed_min_count = float(config.reseed_min_count)
  # Auto: full covariances keep the [rows, K, D] temporaries near 2 MiB
  # (2^19 floats), in cache on CPU, which measured several times faster than
  # whole batches; the others keep [rows, K] temporaries under 2^22 values.
  per_row, budget = (k * d, 2 ** 19) if ct == "full" else (k, 2 ** 22)
  chunk_size = int(config.chunk_size) or max(256, budget // per_row)
  max_precision = 1.0 / math.sqrt(reg_covar)
  gradient = training == "gradient"
  precision_key = "unconstrained_precision_cholesky" if gradient else "precision_cholesky"
  module = GaussianMixture(k, ct, reg_covar, unconstrained=gradient)

  def to_mixture(params) -> mixture.MixtureOfGaussians:
    return module.apply({"params": params}, method="distribution")

  def from_mixture(mog) -> dict:
    params = params_from_mixture(mog)
    if gradient:
      params[precision_key] = unconstrain(params.pop("precision_cholesky"), ct, max_precision)
    return params

  def flat(x):
    """[B, *data_shape] -> [B, D], float (float64 stays float64, for reference checks)."""
    x = jnp.asarray(x)
    return x.reshape((x.shape[0], d)).astype(jnp.promote_types(x.dtype, jnp.float32))

  def init(key, x_example):
    """Data-free params of the right shapes: N(0, I) means, unit covariances."""
    del x_example
    mog = mixture.MixtureOfGaussians(jnp.zeros((k,)), jax.random.normal(key, (k, d)),
                                     unit_precision(ct, k, d), ct)
    return from_mixture(mog)

  def init_state(key, params, x_train) -> TrainState:
    """k-means (or random) start from the whole training set [N, *data_shape].

    As scikit-learn's: a hard assignment of every example, then one M-step.
    """
    del params
    x = jnp.asarray(x_train, jnp.float32).reshape(x_train.shape[0], d)
    labels = em.initial_labels(key, x, k, init_method, kmeans_iterations)
    mog, stats = hard_m_step(x, labels, k, ct, reg_covar)
    extra = {} if gradient else {"statistics": stats}
    return TrainState(step=jnp.zeros((), jnp.int32), params=from_mixture(mog), opt_state=(),
                      extra=extra)

  def update(state: TrainState, batch, key, collective: Collective = LOCAL):
    """One EM step on `batch`: E-step, (stepwise) blend of statistics, M-step.

    Metrics: log_likelihood, mean log p(x) of the batch under the params before
    the step (nats); loss = −log_likelihood; step_size ρ; num_reseeded; min_weight.
    """
    del key  # EM is deterministic given the batch
    mog = to_mixture(state.params)
    x, mask = flat(batch["x"]), batch["mask"].astype(jnp.float32)
    stats, log_px = batch_statistics(mog, x, mask, chunk_size)
    stats = collective.sum(stats)
    total = collective.sum(mask.sum())
    log_lik = collective.sum(jnp.sum(mask * log_px)) / total
    rho = em.stepwise_rate(state.step, offset, power)
    running = jax.tree.map(lambda a, b: (1.0 - rho) * a + rho * b / total,
                           state.extra["statistics"], stats)
    new, running, covariances = m_step(mog, running, reg_covar)
    num_reseeded = jnp.zeros((), jnp.int32)
    if reseed_min_count > 0:
      empty = running.count * total < reseed_min_count
      candidates = em.worst_examples(log_px, x, mask, k, collective)
      new, running = jax.lax.cond(
          jnp.any(empty),
          lambda: reseed(new, running, covariances, empty, candidates, 1.0 / total, reg_covar),
          lambda: (new, running))
      num_reseeded = jnp.sum(empty).astype(jnp.int32)
    metrics = {"log_likelihood": log_lik, "loss": -log_lik, "step_size": rho,
               "num_reseeded": num_reseeded, "min_weight": jnp.exp(new.log_weights.min())}
    return state.replace(step=state.step + 1, params=from_mixture(new),
                         extra={"statistics": running}), metrics

  def loss(params, batch, key, step):
    """−mean log p(x) over the batch (gradient training); metrics in nats per example."""
    del key, step
    mask = batch["mask"].astype(jnp.float32)
    log_px = module.apply({"params": params}, flat(batch["x"]), method="log_prob")
    ll = jnp.sum(mask * log_px) / jnp.sum(mask)
    return -ll, {"log_likelihood": ll}

  def log_prob(params, x):
    """[B] exact log p(x), nats."""
    return module.apply({"params": params}, flat(x), method="log_prob")

  def sample(params, key, n):
    """[n, *data_shape] draws from the mixture."""
    return module.apply({"params": params}, key, n, method="sample").reshape((n,) + data_shape)

  def encode(params, x, key=None):
    """[B, K] responsibilities p(k | x)."""
    del key
    return module.apply({"params": params}, flat(x), method="responsibilities")

  def decode(params, z):
    """[B, *data_shape] Σ_k z_k μ_k for responsibilities (or one-hot codes) z [B, K]."""
    return (z @ params["means"]).reshape((z.shape[0],) + data_shape)

  def reconstruct(params, x, key=None):
    return decode(params, encode(params, x, key))

  def figures(params, key, workdir, dataset=None):
    """components.png: 2-D data (test split) with each component's ellipses; else the means."""
    del key
    mog = to_mixture(jax.tree.map(jnp.asarray, params))
    weights = np.asarray(jnp.exp(mog.log_weights))
    path = os.path.join(workdir, "components.png")
    if d == 2:
      x = dataset.test.x if dataset is not None else np.asarray(
          mixture.sample(mog, jax.random.PRNGKey(0), 2000))
      labels = dataset.test.labels if dataset is not None else None
      return [mixtures.save_mixture_plot(
          x.reshape(-1, 2), np.asarray(mog.means), np.asarray(mixture.component_covariances(mog)),
          weights, path, labels=labels)]
    to_images = getattr(dataset, "to_images", None)
    means = np.asarray(mog.means)[np.argsort(-weights)].reshape((k,) + data_shape)
    images = to_images(means) if to_images is not None else means
    if images is None or np.ndim(images) != 4:
      return []
    return [grids.save_image_grid(images, path, scale=max(1, 112 // images.shape[1]))]

  # The ELBO with the exact posterior equals log p(x); it is exposed as a bound
  # so the mixture can sit in the lower-bound table beside the VAEs.
  densities = Densities(log_prob=log_prob,
                        elbo=lambda params, x, key, num_samples: module.apply(
                            {"params": params}, flat(x), method="elbo"))
  return Model(name="gmm", init=init, densities=densities,
               loss=loss if gradient else None, update=None if gradient else update,
               init_state=init_state, sample=sample, encode=encode, decode=decode,
               reconstruct=reconstruct, figures=figures, discrete=False)
