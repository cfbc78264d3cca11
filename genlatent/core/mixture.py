"""Mixtures of Gaussians: the one density behind the GMM family and the `mog` prior.

p(x) = Σ_k π_k N(x; μ_k, Σ_k) over [D] vectors, evaluated in log space as
logsumexp_k [log π_k + log N(x; μ_k, Σ_k)]. Each Σ_k is held through the
Cholesky factor of its precision, as scikit-learn's `precisions_cholesky_`:

  Σ_k⁻¹ = U_k U_kᵀ, U_k upper triangular with a positive diagonal, so
  (x − μ_k)ᵀ Σ_k⁻¹ (x − μ_k) = |(x − μ_k) U_k|²  and  log|Σ_k|⁻½ = Σ_d log U_k,dd.

No matrix is inverted or factorised to evaluate the density; sampling solves one
triangular system. Covariance types, with the shape of `precision_cholesky`:

  full       [K, D, D]  one U_k per component
  tied       [D, D]     one U shared by every component
  diag       [K, D]     U_k = diag(1/σ_k)
  spherical  [K]        U_k = I/σ_k
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from genlatent.core.maths import LOG_2PI

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def check_covariance_type(covariance_type: str) -> str:
  if covariance_type not in COVARIANCE_TYPES:
    raise ValueError(f"Unknown covariance type {covariance_type!r}. "
                     f"Known: {', '.join(COVARIANCE_TYPES)}.")
  return covariance_type


@struct.dataclass
class MixtureOfGaussians:
  """A K-component Gaussian mixture over [D] vectors (a pytree; the type is static).

  Attributes:
    logits: [K] unnormalised log mixture weights; π = softmax(logits).
    means: [K, D] component means μ_k.
    precision_cholesky: U, shaped by `covariance_type` (module docstring).
    covariance_type: 'full' | 'tied' | 'diag' | 'spherical'.
  """

  logits: jax.Array
  means: jax.Array
  precision_cholesky: jax.Array
  covariance_type: str = struct.field(pytree_node=False, default="full")

  @property
  def num_components(self) -> int:
    return self.means.shape[0]

  @property
  def dim(self) -> int:
    return self.means.shape[1]

  @property
  def log_weights(self) -> jax.Array:
    """[K] log π_k, normalised."""
    return jax.nn.log_softmax(self.logits)


# ----------------------------------------------------------------------------- evaluation


def log_det_precision_cholesky(mog: MixtureOfGaussians) -> jax.Array:
  """[K] Σ_d log U_k,dd = −½ log|Σ_k|."""
  u = mog.precision_cholesky
  k, d = mog.num_components, mog.dim
  if mog.covariance_type == "full":
    return jnp.sum(jnp.log(jnp.diagonal(u, axis1=-2, axis2=-1)), axis=-1)
  if mog.covariance_type == "tied":
    return jnp.broadcast_to(jnp.sum(jnp.log(jnp.diagonal(u))), (k,))
  if mog.covariance_type == "diag":
    return jnp.sum(jnp.log(u), axis=-1)
  return d * jnp.log(u)


def component_log_normalizer(mog: MixtureOfGaussians) -> jax.Array:
  """[K] log π_k − (D/2) log 2π − ½ log|Σ_k|: log π_k N(x; μ_k, Σ_k) at x = μ_k, nats."""
  return mog.log_weights - 0.5 * mog.dim * LOG_2PI + log_det_precision_cholesky(mog)


def reference_point(mog: MixtureOfGaussians) -> jax.Array:
  """[D] the mixture's mean, held constant: the origin for |x U − μ U|.

  Computing (x − c) U − (μ − c) U instead of x U − μ U leaves the value unchanged
  but keeps both products small when the data sit far from the origin, which
  is what float32 needs (the rounding error of x U grows with |x|).
  """
  return jax.lax.stop_gradient(jnp.exp(mog.log_weights) @ mog.means)


def whitened_frame(mog: MixtureOfGaussians, x: jax.Array):
  """(x − c, [K, D] (μ_k − c) U_k) for 'full' and 'tied': y_kb = (x_b − c) U_k − that_k.

  c is `reference_point`; y_kb = (x_b − μ_k) U_k, whose squared norm is the
  Mahalanobis distance.
  """
  c = reference_point(mog)
  u = mog.precision_cholesky
  mc = mog.means - c
  offsets = jnp.einsum("kd,kde->ke", mc, u) if mog.covariance_type == "full" else mc @ u
  return x - c, offsets


def whitened_residuals(mog: MixtureOfGaussians, x: jax.Array) -> jax.Array:
  """[K, B, D] y_kb = (x_b − μ_k) U_k, for 'full' and 'tied' (|y_kb|² is the Mahalanobis distance).

  Materialises K·B·D values; `mahalanobis` does not.

  Args:
    x: [B, D].
  """
  if mog.covariance_type not in ("full", "tied"):
    raise ValueError(f"whitened_residuals is for 'full' and 'tied', not {mog.covariance_type!r}.")
  xc, offsets = whitened_frame(mog, x)
  u = mog.precision_cholesky
  xu = jnp.einsum("bd,kde->kbe", xc, u) if mog.covariance_type == "full" else (xc @ u)[None]
  return xu - offsets[:, None, :]


def mahalanobis(mog: MixtureOfGaussians, x: jax.Array) -> jax.Array:
  """[B, K] squared Mahalanobis distances (x_b − μ_k)ᵀ Σ_k⁻¹ (x_b − μ_k).

  Args:
    x: [B, D].
  """
  ct = mog.covariance_type
  u = mog.precision_cholesky
  if ct == "full":
    # One (x − μ_k) U_k per component, in a loop: no [K, B, D] buffer, each
    # product stays in cache (faster on CPU than one batched product), and the
    # difference is taken before the product, so nothing cancels.
    return jax.lax.map(lambda a: jnp.sum(jnp.square((x - a[1]) @ a[0]), axis=-1),
                       (u, mog.means)).T
  if ct == "tied":
    xc, offsets = whitened_frame(mog, x)
    return jnp.sum(jnp.square((xc @ u)[:, None, :] - offsets), axis=-1)
  scale = u if ct == "diag" else u[:, None]
  # Differences first, then scaling: exact where an expanded |x|² − 2xμ + |μ|²
  # would cancel. XLA fuses this into one pass without a [B, K, D] buffer.
  return jnp.sum(jnp.square((x[:, None, :] - mog.means) * scale), axis=-1)


# A diag/spherical distance expanded about the mixture mean c,
#   Σ_d p (x − c)² − 2 Σ_d p m (x − c) + Σ_d p m²,  m = μ − c,  p = 1/σ²,
# is one [B, 2D] × [2D, K] product over the moments [x − c, (x − c)²], which EM's
# E-step also needs for its sums, but it cancels: for a point near its component
# the terms are about 2 Σ p m² + D, and float32 rounding of a 2D-term sum leaves
# about eps·√(2D) of that. Where that could exceed MAX_EXPANSION_ERROR (nats of
# log p, half the distance's error) for some component, e.g. clusters many of
# their own widths apart, the distances are differenced first instead.
MAX_EXPANSION_ERROR = 1e-3


def diagonal_precision(mog: MixtureOfGaussians) -> jax.Array:
  """[K, D] 1/σ² of a 'diag' or 'spherical' mixture."""
  u = mog.precision_cholesky
  u = u if mog.covariance_type == "diag" else jnp.broadcast_to(u[:, None], mog.means.shape)
  return jnp.square(u)


def expansion_is_accurate(mog: MixtureOfGaussians, precision: jax.Array) -> jax.Array:
  """[] bool: whether every diag/spherical component's expanded distance is good to
  MAX_EXPANSION_ERROR nats of log p near that component (see above).

  Args:
    precision: [K, D] 1/σ² (`diagonal_precision`).
  """
  d = mog.dim
  mc = mog.means - reference_point(mog)
  terms = 2.0 * jnp.sum(precision * mc * mc, axis=-1) + d  # [K]
  error = 0.5 * jnp.finfo(precision.dtype).eps * math.sqrt(2 * d) * jnp.max(terms)
  return error <= MAX_EXPANSION_ERROR


def expanded_mahalanobis(mog: MixtureOfGaussians, precision: jax.Array,
                         moments: jax.Array) -> jax.Array:
  """[B, K] diag/spherical distances as one product; accurate only where
  `expansion_is_accurate` (see above).

  Args:
    precision: [K, D] 1/σ² (`diagonal_precision`).
    moments: [B, 2D] [x − c, (x − c)²] with c = `reference_point(mog)`.
  """
  mc = mog.means - reference_point(mog)
  stacked = jnp.concatenate([-2.0 * precision * mc, precision], axis=1)  # [K, 2D]
  return moments @ stacked.T + jnp.sum(precision * mc * mc, axis=1)


def _flat(mog: MixtureOfGaussians, x: jax.Array):
  if x.shape[-1] != mog.dim:
    raise ValueError(f"Expected [..., {mog.dim}] points for a mixture over {mog.dim} "
                     f"dimensions; got shape {x.shape}.")
  return x.reshape((-1, mog.dim)), x.shape[:-1]


def log_joint(mog: MixtureOfGaussians, x: jax.Array) -> jax.Array:
  """[..., K] log π_k N(x; μ_k, Σ_k), nats, for x [..., D]."""
  flat, batch_shape = _flat(mog, x)
  out = component_log_normalizer(mog) - 0.5 * mahalanobis(mog, flat)
  return out.reshape(batch_shape + (mog.num_components,))


def log_prob(mog: MixtureOfGaussians, x: jax.Array) -> jax.Array:
  """[...] log p(x), nats, for x [..., D] (logsumexp over components)."""
  return jax.nn.logsumexp(log_joint(mog, x), axis=-1)


def elbo_from_log_joint(log_joint_values: jax.Array, responsibilities=None) -> jax.Array:
  """[B] Σ_k q_k (log p(x, k) − log q_k), nats: the EM view of log p(x), for any mixture.

  Args:
    log_joint_values: [B, K] log π_k p(x | k).
    responsibilities: [B, K] q(k | x); default the exact posterior p(k | x), for
      which the bound is tight (equals log p(x)).
  """
  q = (jax.nn.softmax(log_joint_values, axis=-1) if responsibilities is None
       else responsibilities)
  return jnp.sum(q * log_joint_values - jax.scipy.special.xlogy(q, q), axis=-1)


def log_responsibilities(mog: MixtureOfGaussians, x: jax.Array) -> jax.Array:
  """[..., K] log p(k | x), the exact posterior over components."""
  return jax.nn.log_softmax(log_joint(mog, x), axis=-1)


def responsibilities(mog: MixtureOfGaussians, x: jax.Array) -> jax.Array:
  """[..., K] p(k | x); rows sum to 1."""
  return jax.nn.softmax(log_joint(mog, x), axis=-1)


# ----------------------------------------------------------------------------- sampling


def sample_with_components(mog: MixtureOfGaussians, key: jax.Array, n: int):
  """n draws and the component each came from.

  Returns:
    (x [n, D], k [n] int32). x = μ_k + U_k⁻ᵀ ε with ε ~ N(0, I), whose covariance
    is U_k⁻ᵀ U_k⁻¹ = Σ_k.
  """
  key_k, key_eps = jax.random.split(key)
  k = jax.random.categorical(key_k, mog.logits, shape=(n,))
  eps = jax.random.normal(key_eps, (n, mog.dim), mog.means.dtype)
  u = mog.precision_cholesky
  if mog.covariance_type == "full":
    # U_kᵀ is lower triangular: solve U_kᵀ z = ε.
    z = jax.vmap(lambda uk, e: jax.scipy.linalg.solve_triangular(uk, e, trans="T"))(u[k], eps)
  elif mog.covariance_type == "tied":
    z = jax.scipy.linalg.solve_triangular(u, eps.T, trans="T").T
  elif mog.covariance_type == "diag":
    z = eps / u[k]
  else:
    z = eps / u[k][:, None]
  return mog.means[k] + z, k.astype(jnp.int32)


def sample(mog: MixtureOfGaussians, key: jax.Array, n: int) -> jax.Array:
  """[n, D] draws from the mixture."""
  return sample_with_components(mog, key, n)[0]


# ----------------------------------------------------------------------------- closed forms


def component_covariances(mog: MixtureOfGaussians) -> jax.Array:
  """[K, D, D] Σ_k = (U_k U_kᵀ)⁻¹."""
  u = mog.precision_cholesky
  k, d = mog.num_components, mog.dim
  eye = jnp.eye(d, dtype=mog.means.dtype)
  if mog.covariance_type in ("full", "tied"):
    u = jnp.broadcast_to(u, (k, d, d))
    # U⁻¹ by a triangular solve; Σ = U⁻ᵀ U⁻¹.
    u_inv = jax.vmap(lambda m: jax.scipy.linalg.solve_triangular(m, eye))(u)
    return jnp.einsum("kji,kjl->kil", u_inv, u_inv)
  var = 1.0 / jnp.square(u if mog.covariance_type == "diag" else u[:, None] * jnp.ones(d))
  return var[:, :, None] * eye


def mean(mog: MixtureOfGaussians) -> jax.Array:
  """[D] E[x] = Σ_k π_k μ_k."""
  return jnp.exp(mog.log_weights) @ mog.means


def covariance(mog: MixtureOfGaussians) -> jax.Array:
  """[D, D] Cov[x] = Σ_k π_k (Σ_k + μ_k μ_kᵀ) − E[x] E[x]ᵀ."""
  w = jnp.exp(mog.log_weights)
  m = mean(mog)
  centred = mog.means - m  # the between-component term, without cancellation
  return (jnp.einsum("k,kij->ij", w, component_covariances(mog))
          + jnp.einsum("k,ki,kj->ij", w, centred, centred))


# ----------------------------------------------------------------------------- construction


def precision_cholesky_from_covariances(covariances: jax.Array, covariance_type: str) -> jax.Array:
  """U from covariances shaped as scikit-learn's `covariances_`.

  Args:
    covariances: full [K, D, D]; tied [D, D]; diag [K, D] variances;
      spherical [K] variances. Must be positive definite.
  Returns:
    U as the `precision_cholesky` of that type: with L = chol(Σ) lower,
    U = L⁻ᵀ (so U Uᵀ = L⁻ᵀ L⁻¹ = Σ⁻¹). NaN where Σ is not positive definite.
  """
  check_covariance_type(covariance_type)
  if covariance_type in ("diag", "spherical"):
    return jax.lax.rsqrt(covariances)

  def one(cov):
    chol = jnp.linalg.cholesky(cov)
    eye = jnp.eye(cov.shape[-1], dtype=cov.dtype)
    return jax.scipy.linalg.solve_triangular(chol, eye, lower=True).T

  return one(covariances) if covariance_type == "tied" else jax.vmap(one)(covariances)


def from_covariances(log_weights, means, covariances, covariance_type: str) -> MixtureOfGaussians:
  """A mixture from weights (as logs), means and covariances (scikit-learn's shapes)."""
  return MixtureOfGaussians(jnp.asarray(log_weights), jnp.asarray(means),
                            precision_cholesky_from_covariances(jnp.asarray(covariances),
                                                                covariance_type),
                            covariance_type)


def num_parameters(num_components: int, dim: int, covariance_type: str) -> int:
  """Free parameters: K − 1 weights, K·D means, and the covariances.

  Counts as scikit-learn's `GaussianMixture._n_parameters`, so BIC and AIC agree.
  """
  check_covariance_type(covariance_type)
  k, d = num_components, dim
  cov = {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d,
         "spherical": k}[covariance_type]
  return cov + k * d + k - 1


def bic(log_likelihood_sum: float, num_params: int, num_examples: int) -> float:
  """Bayesian information criterion −2 Σ log p(x) + p log N (lower is better)."""
  return -2.0 * float(log_likelihood_sum) + num_params * math.log(num_examples)


def aic(log_likelihood_sum: float, num_params: int) -> float:
  """Akaike information criterion −2 Σ log p(x) + 2p (lower is better)."""
  return -2.0 * float(log_likelihood_sum) + 2.0 * num_params
