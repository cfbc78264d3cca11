"""What the EM-trained mixture families share: seeding, step sizes, cross-device sums.

Used by `gmm` and `bernoulli_mixture`; not a family itself.

Data parallelism: every sum over examples goes through the update's
`Collective` (`genlatent.core.collective`), the identity under the mesh backend
and an all-reduce under `pmap`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from genlatent.core.collective import Collective

INITS = ("kmeans", "random")


def stepwise_rate(step: jax.Array, offset: float, power: float) -> jax.Array:
  """ρ_t = (t + offset)^(−power), the weight of batch t's statistics in stepwise EM.

  Σ ρ_t = ∞ and Σ ρ_t² < ∞ for power in (0.5, 1], the conditions under which
  stepwise EM converges (Cappé & Moulines 2009; Liang & Klein 2009). power = 0
  gives ρ = 1: plain (batch) EM.
  """
  return jnp.power(step.astype(jnp.float32) + offset, -power)


def worst_examples(values: jax.Array, x: jax.Array, mask: jax.Array, k: int,
                   collective: Collective):
  """The k examples with the lowest values (e.g. log p(x)) over the whole batch.

  Args:
    values: [B] per-example, this device's slice under pmap.
    x: [B, D] the examples.
    mask: [B] 1 for real rows; padding is never chosen.
    k: how many, at most B.
  Returns:
    [k, D] examples, worst first, the same on every device.
  """
  k = min(k, values.shape[0])
  score = jnp.where(mask > 0, -values, -jnp.inf)
  top, rows = jax.lax.top_k(score, k)
  picked = x[rows]
  if collective.gather is not None:
    # Each device's k worst, gathered, then the k worst of those.
    top, picked = collective.gather(top), collective.gather(picked)
    top, rows = jax.lax.top_k(top, k)
    picked = picked[rows]
  return picked


def reseed_slots(empty: jax.Array, num_candidates: int) -> jax.Array:
  """[K] index into the candidates for each empty component (the j-th empty gets the j-th)."""
  return jnp.clip(jnp.cumsum(empty.astype(jnp.int32)) - 1, 0, num_candidates - 1)


# ----------------------------------------------------------------------------- k-means


def squared_distances(x: jax.Array, centers: jax.Array) -> jax.Array:
  """[N, K] |x_n − c_k|², clipped at 0 (the expanded form may round below it)."""
  d = (jnp.sum(x * x, axis=1, keepdims=True) - 2.0 * x @ centers.T
       + jnp.sum(centers * centers, axis=1))
  return jnp.maximum(d, 0.0)


def kmeans_plus_plus(key: jax.Array, x: jax.Array, k: int, num_trials: int | None = None):
  """k-means++ seeding (Arthur & Vassilvitskii 2007), greedy as scikit-learn's.

  Each new center is the best of `num_trials` candidates drawn with probability
  ∝ squared distance to the nearest center so far (default 2 + ⌊log k⌋).

  Args:
    x: [N, D].
  Returns:
    [k] int32 rows of x chosen as centers.
  """
  n = x.shape[0]
  trials = num_trials or 2 + int(math.log(k))
  x = jnp.asarray(x, jnp.float32)
  keys = jax.random.split(key, k)
  first = jax.random.randint(keys[0], (), 0, n)
  closest = jnp.sum((x - x[first]) ** 2, axis=1)
  rows = jnp.zeros((k,), jnp.int32).at[0].set(first)

  def body(i, carry):
    rows, closest = carry
    # Sampling by squared distance; where all are 0 (fewer distinct points
    # than k), uniformly.
    logits = jnp.where(jnp.sum(closest) > 0, jnp.log(closest), 0.0)
    candidates = jax.random.categorical(keys[i], logits, shape=(trials,))
    dist = squared_distances(x, x[candidates])  # [N, trials]
    potentials = jnp.minimum(closest[:, None], dist)
    best = jnp.argmin(jnp.sum(potentials, axis=0))
    return rows.at[i].set(candidates[best]), potentials[:, best]

  rows, _ = jax.lax.fori_loop(1, k, body, (rows, closest))
  return rows


def lloyd(x: jax.Array, centers: jax.Array, num_iterations: int):
  """Lloyd's k-means iterations from `centers`; an empty cluster keeps its center.

  Args:
    x: [N, D]; centers: [K, D].
  Returns:
    (centers [K, D], labels [N] int32 of the final centers).
  """

  def body(_, centers):
    labels = jnp.argmin(squared_distances(x, centers), axis=1)
    onehot = jax.nn.one_hot(labels, centers.shape[0], dtype=x.dtype)
    counts = onehot.sum(axis=0)
    sums = onehot.T @ x
    return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1.0)[:, None], centers)

  centers = jax.lax.fori_loop(0, num_iterations, body, centers)
  return centers, jnp.argmin(squared_distances(x, centers), axis=1).astype(jnp.int32)


def initial_labels(key: jax.Array, x, k: int, method: str = "kmeans",
                   kmeans_iterations: int = 10) -> jax.Array:
  """[N] a hard assignment of every example to one of k components, to start EM from.

  Args:
    x: [N, D] host or device array (all the training data).
    method: 'kmeans': k-means++ seeding then `kmeans_iterations` Lloyd steps
      (0: seeding only); 'random': k distinct random examples as centers, each
      example assigned to the nearest.
  """
  if method not in INITS:
    raise ValueError(f"Unknown init {method!r}. Known: {', '.join(INITS)}.")
  x = jnp.asarray(x, jnp.float32).reshape(x.shape[0], -1)
  if k > x.shape[0]:
    raise ValueError(f"Cannot start {k} components from {x.shape[0]} examples.")
  return _initial_labels(key, x, k, method, kmeans_iterations if method == "kmeans" else 0)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _initial_labels(key, x, k: int, method: str, iterations: int):
  # One compiled function per (shape, k, method, iterations), shared by every model.
  if method == "kmeans":
    rows = kmeans_plus_plus(key, x, k)
  else:
    rows = jax.random.choice(key, x.shape[0], (k,), replace=False)
  return lloyd(x, x[rows], iterations)[1]
