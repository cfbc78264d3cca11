"""The RBM family: Bernoulli–Bernoulli and Gaussian–Bernoulli RBMs on the common trainer.

The machinery (energies, Gibbs sampling, CD/PCD, log Z) is `genlatent.boltzmann`,
shared with the DBN and DBM, and as a Linen module `genlatent.boltzmann.RBM`, through
which this family (registered as 'rbm') evaluates energies and samples.
log p(v) = −F(v) − log Z, with log Z by annealed importance sampling (the `ais`
estimator) or, for at most 20 units on one side, by enumeration (`exact`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from genlatent.boltzmann import (RBM, TRAINING, Normaliser, ais_base_of, annealing_path,
                                 apply_gradients, base_rate_logits, base_samples,
                                 contrastive_divergence, gibbs_snapshots, init_params,
                                 initial_chains, pseudo_log_likelihood)
from genlatent.core import MODELS, Boltzmann, Densities, Model, TrainState
from genlatent.core.collective import LOCAL, Collective
from genlatent.optimizers import make_optimizer
from genlatent.estimators import ais as ais_lib
from genlatent.viz import rbm as viz_rbm


# ----------------------------------------------------------------------------- the family


def _flatten(x: jax.Array) -> jax.Array:
  return x.reshape(x.shape[0], -1)


@MODELS.register("rbm")
def build_rbm(config, data_shape) -> Model:
  """An RBM from `config` (the `model` part of an experiment config).

  Config fields:
    num_hidden: H.
    visible: 'bernoulli' (binary data) | 'gaussian' (real-valued data).
    learn_sigma: Gaussian only; learn log σ per unit (else σ = 1).
    min_sigma: Gaussian with learn_sigma: floor on σ (standardised units), since a
      unit the data never move (an image border) would drive σ, and log p, to ∞;
      σ is also kept ≤ 1, the data's own (standardised) spread.
    sigma_gradient_scale: the log σ gradient's weight (with sgd, its relative
      learning rate; learned variances need a much smaller one, Hinton 2010).
    training: 'cd' | 'pcd';  gibbs_steps: k;  num_chains: PCD chains M.
    init_scale: std of the initial weights.
    optimizer: see `make_optimizer` (sgd with momentum, or adam; weight decay).
    ais_schedule: β schedule spec ('classic' = 14,500 steps; see `beta_schedule`).
    sample_steps: Gibbs sweeps behind `sample`.
  Estimators: 'ais' (num_samples = AIS chains) and, when one side has ≤ 20
  units, 'exact'.

  Gaussian units model standardised data v = (x − mean) / scale (per unit, from
  the training set, scale ≥ 0.05): CD gradients scale with 1/σ², so raw grey
  levels with near-constant pixels make training blow up. log p(x) then includes
  the Jacobian, −Σ log scale, so it is a density of x itself (not comparable to
  the probabilities of binary data: the model is marked `discrete=False`).
  """
  data_shape = tuple(data_shape)
  num_visible = int(np.prod(data_shape))
  num_hidden = int(config.num_hidden)
  visible = config.visible
  gaussian = visible == "gaussian"
  learn_sigma = bool(config.learn_sigma) and gaussian
  min_log_sigma = math.log(config.min_sigma)
  sigma_gradient_scale = float(config.sigma_gradient_scale)
  training = config.training
  if training not in TRAINING:
    raise ValueError(f"Unknown RBM training {training!r}. Known: {', '.join(TRAINING)}.")
  num_gibbs = int(config.gibbs_steps)
  num_chains = int(config.num_chains)
  schedule = config.ais_schedule
  ais_lib.beta_schedule(schedule)  # fail at build time on a bad spec
  ais_base = ais_base_of(config)
  sample_steps = int(config.sample_steps)
  module = RBM(num_hidden, visible, float(config.init_scale))

  def apply(params, *args, method):
    """The RBM module's `method` on the family's params (extra entries are not the RBM's)."""
    return module.apply({"params": params}, *args, method=method)

  tx = make_optimizer(config.optimizer)
  trainable = ("weights", "visible_bias", "hidden_bias") + (("log_sigma",) if learn_sigma else ())
  enumerable = num_hidden <= ais_lib.MAX_ENUMERATION_BITS or (
      visible == "bernoulli" and num_visible <= ais_lib.MAX_ENUMERATION_BITS)
  normaliser = Normaliser(as_rbm=lambda params: params,
                          base_logits=lambda params: params["base_visible_bias"],
                          schedule=schedule, enumerable=enumerable,
                          ais_chains=0,  # unused: both estimators name their chains
                          ais_base=ais_base)

  def init(key, x_example):
    del x_example
    params = init_params(key, num_visible, num_hidden, visible=visible,
                         init_scale=config.init_scale)
    params["base_visible_bias"] = jnp.zeros((num_visible,), jnp.float32)
    if gaussian:
      params["data_mean"] = jnp.zeros((num_visible,), jnp.float32)
      params["data_scale"] = jnp.ones((num_visible,), jnp.float32)
    return params

  def to_visible(params, x):
    """[B, V] the visible units for data x [B, ...] (standardised for Gaussian units)."""
    v = _flatten(x)
    return (v - params["data_mean"]) / params["data_scale"] if gaussian else v

  def to_data(params, v):
    """[B, *data_shape] data-space values of visible values v [B, V]."""
    if gaussian:
      v = v * params["data_scale"] + params["data_mean"]
    return v.reshape((v.shape[0],) + data_shape)

  def init_state(key, params, x_train):
    """Base rates (and σ) from the training data; PCD chains at random training rows."""
    x = x_train.reshape(x_train.shape[0], -1).astype(np.float32)  # traceable (eval_shape)
    params = dict(params)
    if gaussian:
      mean, scale = x.mean(axis=0), x.std(axis=0).clip(min=0.05)
      params["data_mean"], params["data_scale"] = jnp.asarray(mean), jnp.asarray(scale)
      x = (x - mean) / scale
      base = jnp.zeros(mean.shape, jnp.float32)
    else:
      base = base_rate_logits(x)
    params["base_visible_bias"] = jnp.asarray(base, jnp.float32)
    if config.visible_bias_init == "data":
      params["visible_bias"] = jnp.asarray(base, jnp.float32)
    extra = {}
    if training == "pcd":
      extra["chains"] = initial_chains(key, x, num_chains, binary=not gaussian)
    opt_state = tx.init({k: params[k] for k in trainable})
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state,
                      extra=extra)

  def update(state, batch, key, collective: Collective = LOCAL):
    """One CD-k/PCD-k step. Metrics are per-example means, nats where they are energies:
    reconstruction_error (Σ_i (v_i − E[v_i|h])²), free_energy (data), and for
    Bernoulli units pseudo_log_likelihood; loss is the reconstruction error."""
    params = state.params
    v0 = to_visible(params, batch["x"])
    key_cd, key_pl = jax.random.split(key)
    frozen = {k: v for k, v in params.items() if k not in trainable}
    grads, chains, sums = contrastive_divergence(
        {k: params[k] for k in trainable}, v0, key_cd, batch["index"], num_gibbs=num_gibbs,
        chains=state.extra.get("chains"), view=lambda p: dict(frozen, **p),
        collective=collective)
    if learn_sigma:
      grads = dict(grads, log_sigma=sigma_gradient_scale * grads["log_sigma"])
    new_params, opt_state = apply_gradients(tx, params, grads, state.opt_state)
    if learn_sigma:
      new_params["log_sigma"] = jnp.clip(new_params["log_sigma"], min_log_sigma, 0.0)
    count = sums.pop("count")
    if not gaussian:
      pl = jnp.sum(pseudo_log_likelihood(params, v0, key_pl, batch["index"]))
      sums["pseudo_log_likelihood"] = collective.sum(pl)
    metrics = {k: v / count for k, v in sums.items()}
    metrics["loss"] = metrics["reconstruction_error"]
    extra = dict(state.extra, chains=chains) if chains is not None else state.extra
    return state.replace(step=state.step + 1, params=new_params, opt_state=opt_state,
                         extra=extra), metrics

  def log_unnormalised(params, x):
    """[B] log p*(x) = −F(x), nats (with the Jacobian of the standardisation for
    Gaussian units, so that log p*(x) − log Z is the density of x itself)."""
    values = -apply(params, to_visible(params, x), method="free_energy")
    if gaussian:  # the density of x = mean + scale·v
      values = values - jnp.sum(jnp.log(params["data_scale"]))
    return values

  def annealing_start(params, x, key, num_chains):
    """(v [B, M, V], log |dv/dx| [B, M]): x's visible units for each of M chains, and
    the standardisation's Jacobian (RAISE anneals from the data itself)."""
    del key
    v = to_visible(params, x)
    jacobian = -jnp.sum(jnp.log(params["data_scale"])) if gaussian else jnp.zeros(())
    return (jnp.broadcast_to(v[:, None], (v.shape[0], num_chains, v.shape[1])),
            jnp.full((v.shape[0], num_chains), jacobian, jnp.float32))

  density = Boltzmann(normaliser=normaliser,
                      log_unnormalised=lambda params, x, key: (log_unnormalised(params, x), ""),
                      exact_log_unnormalised=log_unnormalised,
                      annealing_path=lambda params: annealing_path(
                          params, params["base_visible_bias"]),
                      annealing_start=annealing_start)

  def sample(params, key, n):
    """[n, *data_shape] E[v | h] after `sample_steps` Gibbs sweeps from the base-rate model."""
    key_init, key_chain = jax.random.split(key)
    v = base_samples(params, params["base_visible_bias"], key_init, n)
    _, mean = apply(params, v, key_chain, sample_steps, method="gibbs_chain")
    return to_data(params, mean)

  def encode(params, x, key=None):
    """[B, H] p(h = 1 | x)."""
    del key
    return apply(params, to_visible(params, x), method="hidden_probs")

  def decode(params, h):
    """[B, *data_shape] E[v | h]."""
    return to_data(params, apply(params, h, method="visible_probs"))

  def reconstruct(params, x, key=None):
    return decode(params, encode(params, x, key))

  def figures(params, key, workdir, dataset=None):
    """filters.png (the first 100 hidden units' weights) and gibbs_chains.png."""
    del dataset  # the figures need no data
    key_init, key_chain = jax.random.split(key)
    v = base_samples(params, params["base_visible_bias"], key_init, 10)
    steps = viz_rbm.CHAIN_STEPS
    snapshots = jax.jit(gibbs_snapshots, static_argnums=3)(params, v, key_chain, steps)
    images = jax.vmap(lambda m: to_data(params, m))(snapshots)
    return viz_rbm.write_figures(workdir, np.asarray(params["weights"]), np.asarray(images),
                                 data_shape, steps)

  return Model(name="rbm", init=init, update=update, init_state=init_state,
               densities=Densities(boltzmann=density), sample=sample,
               encode=encode, decode=decode, reconstruct=reconstruct, figures=figures,
               discrete=not gaussian)
