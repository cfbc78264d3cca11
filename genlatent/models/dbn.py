"""Deep belief nets: RBMs stacked and trained greedily (Hinton, Osindero & Teh, 2006).

Layers h_0 = v [B, V], h_1 [B, H_1], ..., h_L [B, H_L]. RBM l models
(h_l, h_{l+1}); the generative model is the top RBM over (h_{L−1}, h_L) and
directed sigmoid layers below it:

  p(v, h_1, ..., h_{L−1}) = p_top(h_{L−1}) Π_{l<L−1} p(h_l | h_{l+1}),
  p(h_l = 1 | h_{l+1}) = σ(b_l + W_l h_{l+1}),   p_top(h) = exp(−F_top(h)) / Z_top.

The recognition model Q(h_{l+1} | h_l) = σ(c_l + h_l W_l) is RBM l's hidden
conditional. With one layer the DBN is an RBM.

Training (greedy, layer-wise) is one run of the common trainer: `update`
switches on the step, training RBM l with CD/PCD for `layer_steps[l]` updates
on binary samples of h_l propagated up through the (frozen) layers below, then
moving on. Each layer keeps its own optimizer state and PCD chains in the
`TrainState`, so a resumed run continues mid-phase exactly.

Likelihood, nats per example:
  elbo:  E_Q[log p(v, h) − log Q(h | v)] − log Z_top ≤ log p(v), Monte Carlo over Q.
  ais:   log (1/S) Σ_s p*(v, h_s)/Q(h_s | v) − log Ẑ_top, the importance-weighted
         bound with S = `posterior_samples` (Burda et al., 2016), with log Z_top by AIS.
  raise: RAISE in the top RBM (Burda et al., 2015), each reverse chain started at
         h_{L−1} from the recognition model and weighted by p(v | h) / Q(h | v):
         a stochastic lower bound on log p_ann(v), conservative where ais is not.
  exact: enumeration, for tiny models (h_1..h_{L−1} ≤ 20 units in all, and one
         side of the top RBM ≤ 20).
With log Z from AIS (biased low in expectation) neither is a guaranteed bound,
so both are labelled estimates; with exact log Z the elbo is a lower bound.
The densities are the Linen module `DBN`; the family adds greedy training and base rates.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genlatent.core import MODELS, Boltzmann, Densities, Model, TrainState
from genlatent.core.collective import LOCAL, Collective
from genlatent.core import maths
from genlatent.estimators import ais as ais_lib
from genlatent.estimators import importance_sampled_log_likelihood
from genlatent import boltzmann
from genlatent.optimizers import make_optimizer
from genlatent.viz import rbm as viz_rbm

TRAINABLE = ("weights", "visible_bias", "hidden_bias")


def _flatten(x):
  return x.reshape(x.shape[0], -1)


def posterior_draws(layers, v: jax.Array, key: jax.Array, n: int):
  """n draws h = (h_1..h_{L−1}) ~ Q(· | v) of the recognition model, L ≥ 2.

  Returns:
    (h_{L−1} [n, B, H_{L−1}], the top RBM's visible layer;
     [n, B] Σ_{l<L−1} log p(h_l | h_{l+1}) − log Q(h | v), nats, with h_0 = v).
  Layer l's samples draw from `fold_in(key, l)`.
  """
  h = jnp.broadcast_to(v, (n,) + v.shape)
  total = jnp.zeros((n, v.shape[0]), jnp.float32)
  for l, layer in enumerate(layers[:-1]):
    logits_up = boltzmann.hidden_input(layer, h)
    h_next = boltzmann.bernoulli(jax.nn.sigmoid(logits_up), jax.random.fold_in(key, l))
    total += (maths.bernoulli_log_prob(h, boltzmann.visible_input(layer, h_next), 1)
              - maths.bernoulli_log_prob(h_next, logits_up, 1))
    h = h_next
  return h, total


def posterior_log_weights(layers, v: jax.Array, key: jax.Array, n: int) -> jax.Array:
  """[n, B] log p*(v, h) − log Q(h | v) for n samples h = (h_1..h_{L−1}) ~ Q(· | v).

  p* is the joint with the top RBM unnormalised: log p* = Σ_{l<L−1} log p(h_l |
  h_{l+1}) − F_top(h_{L−1}) (`posterior_draws`).
  """
  h_top, log_weights = posterior_draws(layers, v, key, n)
  return log_weights - boltzmann.free_energy(layers[-1], h_top)


def exact_unnormalized_log_prob(layers, v: jax.Array, chunk_size: int = 256) -> jax.Array:
  """[B] log p*(v) = log Σ_h p*(v, h), enumerating h_1..h_{L−1} jointly (≤ 20 units)."""
  if len(layers) == 1:
    return -boltzmann.free_energy(layers[0], v)
  sizes = [boltzmann.num_units(layer)[1] for layer in layers[:-1]]
  offsets = np.cumsum([0] + sizes)

  def log_f(states):  # [N, Σ sizes] -> [N, B]
    hs = [states[:, offsets[i]:offsets[i + 1]] for i in range(len(sizes))]
    a = boltzmann.visible_input(layers[0], hs[0])  # [N, V]
    # log p(v | h_1) for every (state, example) pair without an [N, B, V] array.
    out = a @ v.T - jnp.sum(jax.nn.softplus(a), axis=-1, keepdims=True)
    for l in range(1, len(sizes)):
      out += maths.bernoulli_log_prob(hs[l - 1], boltzmann.visible_input(layers[l], hs[l]), 1)[:, None]
    return out - boltzmann.free_energy(layers[-1], hs[-1])[:, None]

  return ais_lib.log_sum_over_binary_states(log_f, int(offsets[-1]), chunk_size)


def down_pass_mean(layers, h_top_visible: jax.Array) -> jax.Array:
  """[B, V] mean-field down pass: E[h_l | h_{l+1}] from the top RBM's visible layer down."""
  h = h_top_visible
  for layer in reversed(layers[:-1]):
    h = boltzmann.visible_mean(layer, h)
  return h


class DBN(nn.Module):
  """A deep belief net over [V] binary units as a Linen module (module docstring).

  Params: layers, a list of L RBM params dicts ({weights [H_{l−1}, H_l],
  visible_bias, hidden_bias}, `genlatent.boltzmann.energy`), bottom first; V is
  read from the data at `init`. v is [B, V]; values are nats; p* is the joint
  with the top RBM unnormalised (log p(v) = log p*(v) − log Z_top).

    dbn = DBN(hidden=(32, 16))
    params = dbn.init(key, v)["params"]
    bound = dbn.apply({"params": params}, v, key, 10, method="bound_log_unnormalised")
  """

  hidden: Sequence[int]
  init_scale: float = 0.01

  @nn.compact
  def layers(self, num_visible: Optional[int] = None) -> list:
    """The L RBMs' params dicts, bottom first."""
    if num_visible is None:
      num_visible = self.variables["params"]["layers"][0]["visible_bias"].shape[-1]
    sizes = (num_visible,) + tuple(self.hidden)

    def init(key):
      keys = jax.random.split(key, len(self.hidden))
      return [boltzmann.init_params(keys[l], sizes[l], sizes[l + 1], init_scale=self.init_scale)
              for l in range(len(self.hidden))]

    return self.param("layers", init)

  def __call__(self, v: jax.Array) -> jax.Array:
    return self.reconstruct(v)

  def top_free_energy(self, h: jax.Array) -> jax.Array:
    """[B] F_top(h) of the top RBM for its visible layer h [B, H_{L−1}], nats."""
    return boltzmann.free_energy(self.layers()[-1], h)

  def posterior_log_weights(self, v: jax.Array, key: jax.Array, n: int) -> jax.Array:
    """[n, B] log p*(v, h) − log Q(h | v), h ~ the recognition model Q (`posterior_log_weights`)."""
    return posterior_log_weights(self.layers(v.shape[-1]), v, key, n)

  def bound_log_unnormalised(self, v: jax.Array, key: jax.Array, n: int) -> jax.Array:
    """[B] E_Q[log p*(v, h) − log Q(h | v)] over n draws ≤ log p*(v), nats."""
    return self.posterior_log_weights(v, key, n).mean(axis=0)

  def exact_log_unnormalised(self, v: jax.Array) -> jax.Array:
    """[B] log p*(v) by enumerating h_1..h_{L−1} (≤ 20 units in all), nats."""
    return exact_unnormalized_log_prob(self.layers(v.shape[-1]), v)

  def down_pass(self, h: jax.Array) -> jax.Array:
    """[B, V] E[h_l | h_{l+1}] from the top RBM's visible layer h [B, H_{L−1}] down to v."""
    return down_pass_mean(self.layers(), h)

  def reconstruct(self, v: jax.Array) -> jax.Array:
    """[B, V] a mean-field up pass to the top hidden layer and down again."""
    layers = self.layers(v.shape[-1])
    h = v
    for layer in layers:
      h = boltzmann.hidden_probs(layer, h)
    return down_pass_mean(layers, boltzmann.visible_mean(layers[-1], h))


@MODELS.register("dbn")
def build_dbn(config, data_shape) -> Model:
  """A DBN from `config` (the `model` part of an experiment config).

  Config fields:
    hidden: (H_1, ..., H_L), L ≥ 1 hidden layers (L RBMs).
    layer_steps: (S_1, ..., S_L) updates spent on each RBM, bottom first;
      the trainer's num_steps should be their sum (later steps train the top).
    training, gibbs_steps, num_chains, init_scale, optimizer: per-layer RBM
      training, as for the 'rbm' family.
    ais_schedule: β schedule of the top RBM's AIS;  ais_chains: chains for the
      'elbo' estimator's log Z.
    posterior_samples: S for the 'ais' estimator's importance weights.
    sample_steps: Gibbs sweeps in the top RBM behind `sample`.
  Estimators: 'ais' (num_samples = AIS chains), 'elbo' (num_samples = Monte
  Carlo samples), 'raise' (num_samples = reverse chains per example, along
  ais_schedule), and 'exact' for tiny models.
  """
  data_shape = tuple(data_shape)
  num_visible = int(np.prod(data_shape))
  hidden = tuple(int(h) for h in config.hidden)
  sizes = (num_visible,) + hidden
  num_layers = len(hidden)
  layer_steps = tuple(int(s) for s in config.layer_steps)
  if num_layers < 1 or len(layer_steps) != num_layers:
    raise ValueError(f"A DBN needs ≥ 1 hidden layer and one entry of layer_steps per layer; "
                     f"got hidden={hidden}, layer_steps={layer_steps}.")
  training = config.training
  if training not in boltzmann.TRAINING:
    raise ValueError(f"Unknown training {training!r}. Known: {', '.join(boltzmann.TRAINING)}.")
  num_gibbs = int(config.gibbs_steps)
  num_chains = int(config.num_chains)
  schedule = config.ais_schedule
  ais_lib.beta_schedule(schedule)
  ais_base = boltzmann.ais_base_of(config)
  ais_chains = int(config.ais_chains)
  posterior_samples = int(config.posterior_samples)
  chunk_size = int(config.chunk_size)
  sample_steps = int(config.sample_steps)
  module = DBN(hidden, float(config.init_scale))

  def apply(params, *args, method):
    """The DBN module's `method` on the family's params (base rates are the family's)."""
    return module.apply({"params": params}, *args, method=method)

  tx = make_optimizer(config.optimizer)
  top_enumerable = min(sizes[-2], sizes[-1]) <= ais_lib.MAX_ENUMERATION_BITS
  middle_bits = sum(hidden[:-1])
  enumerable = top_enumerable and (num_layers == 1 or middle_bits <= ais_lib.MAX_ENUMERATION_BITS)

  def init(key, x_example):
    del x_example
    keys = jax.random.split(key, num_layers)
    layers = [boltzmann.init_params(keys[l], sizes[l], sizes[l + 1],
                              init_scale=config.init_scale)
              for l in range(num_layers)]
    rates = [jnp.full((n,), 0.5, jnp.float32) for n in sizes[:-1]]
    return {"layers": layers, "base_rates": rates}

  def init_state(key, params, x_train):
    """Data base rates and visible biases for layer 0; PCD chains per layer."""
    x = x_train.reshape(x_train.shape[0], -1).astype(np.float32)  # traceable (eval_shape)
    logits = boltzmann.base_rate_logits(x)
    layers = list(params["layers"])
    layers[0] = dict(layers[0], visible_bias=jnp.asarray(logits))
    rates = list(params["base_rates"])
    rates[0] = jax.nn.sigmoid(jnp.asarray(logits))
    params = {"layers": layers, "base_rates": rates}
    extra = {}
    if training == "pcd":
      keys = jax.random.split(key, num_layers)
      extra["chains"] = [boltzmann.initial_chains(keys[0], x, num_chains)] + [
          boltzmann.bernoulli(jnp.full((num_chains, sizes[l]), 0.5), keys[l])
          for l in range(1, num_layers)]
    opt_state = [tx.init({k: layer[k] for k in TRAINABLE}) for layer in layers]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state,
                      extra=extra)

  def train_layer(l, state, batch, key, collective):
    """CD/PCD on RBM l with data propagated up as binary samples; other layers frozen."""
    params = state.params
    layers = list(params["layers"])
    h, index = _flatten(batch["x"]), batch["index"]
    key_up, key_cd = jax.random.split(key)
    for j in range(l):
      h, _ = boltzmann.sample_hidden(layers[j], h, jax.random.fold_in(key_up, j), index)
    chains = state.extra["chains"][l] if training == "pcd" else None
    grads, chains, sums = boltzmann.contrastive_divergence(
        {k: layers[l][k] for k in TRAINABLE}, h, key_cd, index, num_gibbs=num_gibbs,
        chains=chains, collective=collective)
    opt_state = list(state.opt_state)
    layers[l], opt_state[l] = boltzmann.apply_gradients(tx, layers[l], grads, opt_state[l])
    rates = list(params["base_rates"])
    if l > 0:  # layer 0's base rates are the data's, computed once
      rates[l] = boltzmann.update_base_rate(rates[l], h, collective=collective)
    extra = state.extra
    if chains is not None:
      extra = dict(extra, chains=[chains if j == l else c for j, c in enumerate(extra["chains"])])
    count = sums.pop("count")
    metrics = {k: v / count for k, v in sums.items()}
    metrics.update(loss=metrics["reconstruction_error"], layer=jnp.asarray(l, jnp.float32))
    return state.replace(step=state.step + 1, params={"layers": layers, "base_rates": rates},
                         opt_state=opt_state, extra=extra), metrics

  def update(state, batch, key, collective: Collective = LOCAL):
    """One CD/PCD step on the layer the step's phase names (see `boltzmann.training_phase`).
    Metrics: that layer's reconstruction_error (= loss), free_energy, and `layer`."""
    branches = [functools.partial(train_layer, l, collective=collective) for l in range(num_layers)]
    return jax.lax.switch(boltzmann.training_phase(state.step, layer_steps), branches,
                          state, batch, key)

  def top_base_logits(params):
    return boltzmann.rate_logits(params["base_rates"][-1])

  normaliser = boltzmann.Normaliser(as_rbm=lambda params: params["layers"][-1],
                              base_logits=top_base_logits, schedule=schedule,
                              enumerable=top_enumerable, ais_chains=ais_chains,
                              ais_base=ais_base)

  def log_unnormalised(params, x, key):
    """([B] log p*(x), label suffix), nats: −F(x) for one layer; else importance
    sampling over h_1 with the recognition model Q (`posterior_samples` draws)."""
    v = _flatten(x)
    if num_layers == 1:
      return -apply(params, v, method="top_free_energy"), ""
    log_p_star = importance_sampled_log_likelihood(
        lambda k, n: apply(params, v, k, n, method="posterior_log_weights"), key,
        posterior_samples, chunk_size)
    return log_p_star, f"+importance-{posterior_samples}"

  def bound_log_unnormalised(params, x, key, num_samples):
    """[B] E_Q[log p*(x, h) − log Q(h | x)] over `num_samples` draws, nats."""
    return apply(params, _flatten(x), key, num_samples, method="bound_log_unnormalised")

  def annealing_start(params, x, key, num_chains):
    """RAISE's start in the top RBM's visible layer h_{L−1} [B, M, H_{L−1}]: M draws
    from the recognition model, log weights [B, M] log p(v | h) − log Q(h | v)."""
    v = _flatten(x)
    if num_layers == 1:
      return (jnp.broadcast_to(v[:, None], (v.shape[0], num_chains, v.shape[1])),
              jnp.zeros((v.shape[0], num_chains), jnp.float32))
    h_top, log_weights = posterior_draws(params["layers"], v, key, num_chains)
    return jnp.swapaxes(h_top, 0, 1), log_weights.T

  density = Boltzmann(
      normaliser=normaliser, log_unnormalised=log_unnormalised,
      exact_log_unnormalised=(
          (lambda params, x: apply(params, _flatten(x), method="exact_log_unnormalised"))
          if enumerable else None),
      bound_log_unnormalised=bound_log_unnormalised,
      annealing_path=normaliser.annealing_path, annealing_start=annealing_start)

  def top_chains(params, key, n):
    key_init, key_chain = jax.random.split(key)
    return boltzmann.base_samples(params["layers"][-1], top_base_logits(params), key_init, n), key_chain

  def sample(params, key, n):
    """[n, *data_shape]: `sample_steps` Gibbs sweeps in the top RBM, then a down pass
    sampling each directed layer and returning E[v | h_1]."""
    layers = params["layers"]
    start, key_chain = top_chains(params, key, n)
    h, mean = boltzmann.gibbs_chain(layers[-1], start, key_chain, sample_steps)
    if num_layers == 1:
      return mean.reshape((n,) + data_shape)
    for l in range(num_layers - 2, 0, -1):
      h, _ = boltzmann.sample_visible(layers[l], h, jax.random.fold_in(key, 100 + l))
    return boltzmann.visible_mean(layers[0], h).reshape((n,) + data_shape)

  def reconstruct(params, x, key=None):
    """[B, *data_shape]: mean-field up pass to the top hidden layer and down again."""
    del key
    return apply(params, _flatten(x), method="reconstruct").reshape(x.shape)

  def figures(params, key, workdir, dataset=None):
    """filters.png (layer 0) and gibbs_chains.png (top-RBM chains, mean-field down pass)."""
    del dataset  # the figures need no data
    start, key_chain = top_chains(params, key, 10)
    steps = viz_rbm.CHAIN_STEPS
    snapshots = jax.jit(boltzmann.gibbs_snapshots, static_argnums=3)(
        params["layers"][-1], start, key_chain, steps)
    images = jax.vmap(functools.partial(down_pass_mean, params["layers"]))(snapshots)
    return viz_rbm.write_figures(workdir, np.asarray(params["layers"][0]["weights"]),
                                 np.asarray(images), data_shape, steps)

  return Model(name="dbn", init=init, update=update, init_state=init_state,
               densities=Densities(boltzmann=density), sample=sample,
               reconstruct=reconstruct, figures=figures)
