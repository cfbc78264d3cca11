"""Mixture of multivariate Bernoullis: p(x) = Σ_k π_k Π_d μ_kd^x_d (1 − μ_kd)^(1 − x_d).

The classic baseline for binary images (binarized digits, MNIST): an exact
log-likelihood in nats per image, on the same scale as the VAE's and RBM's
estimates for the same binarized test set. Images x are [B, *data_shape] in
{0, 1}, flattened to [B, D]. Everything is in log space with logits l_kd:

  log p(x | k) = Σ_d x_d log σ(l_kd) + (1 − x_d) log σ(−l_kd)   (one matrix product)
  log p(x)     = logsumexp_k (log π_k + log p(x | k)).

Trained by EM (`training='em'`, full batch) or stepwise EM (`'stepwise_em'`,
the better choice under dynamic binarization, where every epoch draws new
binary images: the running statistics average over the draws). The M-step
is the posterior mean under a symmetric Beta(α, α) pseudo-count,

  μ_kd = (Σ_b r_bk x_bd + α) / (Σ_b r_bk + 2α),

which keeps every μ strictly inside (0, 1), so a test pixel never seen on in a
component costs a finite number of nats instead of −∞. The density is the Linen
module `BernoulliMixture`; the family adds EM around it.
"""

from __future__ import annotations

import functools
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
from genlatent.viz import grids

TRAININGS = ("em", "stepwise_em")


@struct.dataclass
class Statistics:
  """Sums (or per-example means) for the M-step: count [K] Σ r_bk, ones [K, D] Σ r_bk x_bd."""

  count: jax.Array
  ones: jax.Array


def log_joint(params, x: jax.Array) -> jax.Array:
  """[B, K] log π_k + log p(x | k), nats, for x [B, D] in {0, 1} (or [0, 1]).

  log p(x | k) = x · log μ_k + (1 − x) · log(1 − μ_k), with log μ = log σ(l) and
  log(1 − μ) = log σ(−l): every term is ≤ 0, so nothing cancels (the shorter
  x · l − Σ softplus(l) subtracts two large sums). One [B, 2D] × [2D, K] product.
  """
  logits = params["pixel_logits"]
  table = jnp.concatenate([jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)], axis=1)
  return jnp.concatenate([x, 1.0 - x], axis=1) @ table.T + jax.nn.log_softmax(params["logits"])


def log_prob(params, x: jax.Array) -> jax.Array:
  """[B] log p(x), nats."""
  return jax.nn.logsumexp(log_joint(params, x), axis=1)


def m_step(stats: Statistics, pseudo_count) -> dict:
  """Params from statistics and the Beta(α, α) pseudo-count α, in the statistics' units.

  With per-example statistics (count sums to 1), α is the pseudo-count in
  examples divided by the number of training examples.
  """
  count = stats.count
  ones = jnp.clip(stats.ones, 0.0, count[:, None])  # rounding can step outside [0, count]
  pixel_logits = jnp.log(ones + pseudo_count) - jnp.log(count[:, None] - ones + pseudo_count)
  tiny = 10 * jnp.finfo(count.dtype).eps
  return {"logits": jnp.log((count + tiny) / jnp.sum(count + tiny)), "pixel_logits": pixel_logits}


@functools.partial(jax.jit, static_argnums=(2,))
def hard_m_step(x: jax.Array, labels: jax.Array, k: int, pseudo_count: float):
  """Params one M-step makes of a hard assignment [N] of x [N, D], and the per-example statistics."""
  onehot = jax.nn.one_hot(labels, k, dtype=x.dtype)
  n = x.shape[0]
  stats = Statistics(onehot.sum(axis=0) / n, onehot.T @ x / n)
  return m_step(stats, pseudo_count / n), stats


class BernoulliMixture(nn.Module):
  """p(x) = Σ_k π_k Π_d μ_kd^x_d (1 − μ_kd)^(1 − x_d) over [D] binary vectors, as a Linen module.

  Params: logits [K] (π = softmax), pixel_logits [K, D] (μ = σ(pixel_logits)); D is
  read from the data at `init`. Methods take flattened x [B, D] in {0, 1} (or
  [0, 1], as expected pixel values); values in nats.

    model = BernoulliMixture(num_components=10)
    params = model.init(key, x)["params"]
    log_px = model.apply({"params": params}, x, method="log_prob")   # [B]
  """

  num_components: int

  @nn.compact
  def parameters(self, dim: int | None = None) -> dict:
    """{'logits' [K], 'pixel_logits' [K, D]} (D = `dim` at init, else the params' own)."""
    if dim is None:
      dim = self.variables["params"]["pixel_logits"].shape[-1]
    return {"logits": self.param("logits", nn.initializers.zeros, (self.num_components,)),
            "pixel_logits": self.param("pixel_logits", nn.initializers.normal(0.1),
                                       (self.num_components, dim))}

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.log_prob(x)

  def log_joint(self, x: jax.Array) -> jax.Array:
    """[B, K] log π_k + log p(x | k), nats."""
    return log_joint(self.parameters(x.shape[-1]), x)

  def log_prob(self, x: jax.Array) -> jax.Array:
    """[B] log p(x), nats."""
    return jax.nn.logsumexp(self.log_joint(x), axis=1)

  def responsibilities(self, x: jax.Array) -> jax.Array:
    """[B, K] p(k | x); rows sum to 1."""
    return jax.nn.softmax(self.log_joint(x), axis=-1)

  def elbo(self, x: jax.Array) -> jax.Array:
    """[B] the EM view of log p(x) with the exact posterior (equals log p(x)), nats."""
    return mixture.elbo_from_log_joint(self.log_joint(x))

  def probabilities(self) -> jax.Array:
    """[K, D] every component's pixel probabilities μ_k."""
    return jax.nn.sigmoid(self.parameters()["pixel_logits"])

  def sample(self, key: jax.Array, n: int) -> jax.Array:
    """[n, D] Bernoulli means μ_k of components k ~ π (mean images, as the VAE's samples)."""
    params = self.parameters()
    ks = jax.random.categorical(key, params["logits"], shape=(n,))
    return jax.nn.sigmoid(params["pixel_logits"][ks])


@MODELS.register("bernoulli_mixture")
def build_bernoulli_mixture(config, data_shape) -> Model:
  """A mixture of multivariate Bernoullis from `config` (the `model` part).

  Config fields:
    num_components: K.
    pseudo_count: α of the Beta(α, α) smoothing, in examples of the whole
      training set (e.g. 0.1).
    training: 'em' | 'stepwise_em'.
    init: 'kmeans' | 'random' (as the GMM's); kmeans_iterations.
    stepwise_offset, stepwise_power: ρ_t = (t + offset)^(−power).
    reseed_min_count: components with less responsibility than this many
      examples in a batch are re-seeded at the worst-explained example (0: never).
  """
  data_shape = tuple(data_shape)
  d = int(np.prod(data_shape))
  k = int(config.num_components)
  alpha = float(config.pseudo_count)
  training = config.training
  if training not in TRAININGS:
    raise ValueError(f"Unknown training {training!r} for the Bernoulli mixture. "
                     f"Known: {', '.join(TRAININGS)}.")
  init_method = config.init
  kmeans_iterations = int(config.kmeans_iterations)
  offset = float(config.stepwise_offset)
  power = float(config.stepwise_power) if training == "stepwise_em" else 0.0
  reseed_min_count = float(config.reseed_min_count)
  module = BernoulliMixture(k)

  def apply(params, *args, method):
    return module.apply({"params": params}, *args, method=method)

  def flat(x):
    """[B, *data_shape] -> [B, D], float (float64 stays float64, for reference checks)."""
    x = jnp.asarray(x)
    return x.reshape((x.shape[0], d)).astype(jnp.promote_types(x.dtype, jnp.float32))

  def init(key, x_example):
    """Data-free params: uniform weights, pixel probabilities near ½."""
    del x_example
    return {"logits": jnp.zeros((k,)), "pixel_logits": 0.1 * jax.random.normal(key, (k, d))}

  def init_state(key, params, x_train) -> TrainState:
    """k-means (or random) hard assignment of the training set, then one M-step.

    Under dynamic binarization x_train holds grey levels (probabilities): the
    assignment and first statistics use them as expected pixel values.
    """
    del params
    x = jnp.asarray(x_train, jnp.float32).reshape(x_train.shape[0], d)
    labels = em.initial_labels(key, x, k, init_method, kmeans_iterations)
    params, stats = hard_m_step(x, labels, k, alpha)
    # α per training example: the same smoothing whatever the batch size.
    per_example = jnp.asarray(alpha / x.shape[0], jnp.float32)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=(),
                      extra={"statistics": stats, "pseudo_count": per_example})

  def update(state: TrainState, batch, key, collective: Collective = LOCAL):
    """One (stepwise) EM step. Metrics: log_likelihood (before the step), loss, step_size."""
    del key
    x, mask = flat(batch["x"]), batch["mask"].astype(jnp.float32)
    joint = apply(state.params, x, method="log_joint")
    log_px = jax.nn.logsumexp(joint, axis=1)
    r = jnp.exp(joint - log_px[:, None]) * mask[:, None]
    stats = collective.sum(Statistics(r.sum(axis=0), r.T @ x))
    total = collective.sum(mask.sum())
    log_lik = collective.sum(jnp.sum(mask * log_px)) / total
    rho = em.stepwise_rate(state.step, offset, power)
    running = jax.tree.map(lambda a, b: (1.0 - rho) * a + rho * b / total,
                           state.extra["statistics"], stats)
    num_reseeded = jnp.zeros((), jnp.int32)
    if reseed_min_count > 0:
      empty = running.count * total < reseed_min_count
      candidates = em.worst_examples(log_px, x, mask, k, collective)
      slot = em.reseed_slots(empty, candidates.shape[0])
      running = Statistics(jnp.where(empty, 1.0 / total, running.count),
                           jnp.where(empty[:, None], candidates[slot] / total, running.ones))
      num_reseeded = jnp.sum(empty).astype(jnp.int32)
    params = m_step(running, state.extra["pseudo_count"])
    metrics = {"log_likelihood": log_lik, "loss": -log_lik, "step_size": rho,
               "num_reseeded": num_reseeded,
               "min_weight": jnp.exp(jax.nn.log_softmax(params["logits"]).min())}
    return state.replace(step=state.step + 1, params=params,
                         extra=dict(state.extra, statistics=running)), metrics

  def sample(params, key, n):
    """[n, *data_shape] Bernoulli means μ_k of components k ~ π (as the VAE's samples)."""
    return apply(params, key, n, method="sample").reshape((n,) + data_shape)

  def encode(params, x, key=None):
    """[B, K] responsibilities p(k | x)."""
    del key
    return apply(params, flat(x), method="responsibilities")

  def decode(params, z):
    """[B, *data_shape] Σ_k z_k μ_k for responsibilities z [B, K]."""
    return (z @ apply(params, method="probabilities")).reshape((z.shape[0],) + data_shape)

  def reconstruct(params, x, key=None):
    return decode(params, encode(params, x, key))

  def figures(params, key, workdir, dataset=None):
    """components.png: every component's pixel probabilities, heaviest first."""
    del dataset  # the figures need no data
    del key
    if len(data_shape) != 3:
      return []
    order = np.argsort(-np.asarray(params["logits"]))
    means = np.asarray(jax.nn.sigmoid(jnp.asarray(params["pixel_logits"])))[order]
    return [grids.save_image_grid(means.reshape((k,) + data_shape),
                                  os.path.join(workdir, "components.png"),
                                  scale=max(1, 112 // data_shape[0]))]

  densities = Densities(log_prob=lambda params, x: apply(params, flat(x), method="log_prob"),
                        elbo=lambda params, x, key, num_samples: apply(
                            params, flat(x), method="elbo"))
  return Model(name="bernoulli_mixture", init=init, densities=densities,
               update=update, init_state=init_state,
               sample=sample, encode=encode, decode=decode, reconstruct=reconstruct,
               figures=figures, discrete=True)
