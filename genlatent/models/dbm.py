"""Deep Boltzmann machines with two hidden layers (Salakhutdinov & Hinton, 2009).

Visible v [B, V], hidden h1 [B, H1] and h2 [B, H2], all binary, with energy

  E(v, h1, h2) = −v·b − h1·c1 − h2·c2 − vᵀW1 h1 − h1ᵀW2 h2   (nats).

The graph is bipartite between h1 and (v, h2), so the DBM is an RBM whose
"visible" layer is the concatenation (v, h2) and whose hidden layer is h1
(`as_rbm`): block Gibbs sampling, the free energy with h1 summed out, AIS for
log Z and its exact enumeration all come from `genlatent.boltzmann`.

Training is one run of the common trainer in three phases (`phase_steps`):
  0. the bottom RBM (v, h1) with the input doubled: two tied copies of v, so
     p(h1 | v) = σ(c1 + 2vW1) stands in for the missing top-down input;
  1. the top RBM (h1, h2) with h2 doubled (p(h1 | h2) = σ(b' + 2W2h2)), on
     samples of h1 from phase 0's doubled-input conditional;
  2. the DBM itself: the mean-field posterior Q(h) = Π Q(h_i) (fixed-point
     iterations) for the data term and persistent Gibbs chains (PCD) in the
     training state for the model term.
Composing the pretrained RBMs halves each doubled input, which is what the DBM
does with W1 and W2 as they are; the middle layer's bias is the mean of the
two RBMs' biases for h1, kept as that mean throughout (`as_dbm`), so the DBM is
defined, and can be evaluated, at every step.

Likelihood, nats per example, log Z by AIS (or exactly for tiny models):
  elbo:  −E(v, μ1, μ2) + H(μ1) + H(μ2) − log Z, the mean-field variational bound;
  ais:   log (1/S) Σ_s p*(v, h1_s)/Q(h1_s) − log Ẑ with h2 summed out analytically
         and h1_s from the mean-field Q (S = `posterior_samples`): a tighter
         importance-weighted bound on log p*(v);
  raise: RAISE along the same path (Burda et al., 2015), each reverse chain started
         at (v, h2) with h2 from the mean-field Q(h2) and weighted by 1 / Q(h2):
         a stochastic lower bound on log p_ann(v), conservative where ais is not;
  exact: enumeration (min(H1, H2) ≤ 20 and min(H1, V + H2) ≤ 20).
With log Ẑ from AIS, which is biased low, neither is a guaranteed bound, so both
are reported as estimates; with exact log Z the elbo is a lower bound.
The densities are the Linen module `DBM`; the family adds the phased training.
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
from genlatent.estimators import ais as ais_lib
from genlatent.estimators import importance_sampled_log_likelihood
from genlatent import boltzmann
from genlatent.optimizers import make_optimizer
from genlatent.viz import rbm as viz_rbm

PHASE_PARAMS = (
    ("W1", "visible_bias", "h1_bias"),  # 0: bottom RBM, doubled input
    ("W2", "h1_bias_top", "h2_bias"),  # 1: top RBM, doubled h2
    ("W1", "W2", "visible_bias", "h1_bias", "h1_bias_top", "h2_bias"),  # 2: the DBM
)


def _flatten(x):
  return x.reshape(x.shape[0], -1)


def as_dbm(params: dict) -> dict:
  """The DBM's parameters {W1, W2, b, c1, c2} from the training params."""
  return {"W1": params["W1"], "W2": params["W2"], "b": params["visible_bias"],
          "c1": 0.5 * (params["h1_bias"] + params["h1_bias_top"]), "c2": params["h2_bias"]}


def as_rbm(dbm: dict) -> dict:
  """The DBM as an RBM with visible units (v, h2) [V + H2] and hidden units h1 [H1]."""
  return {"weights": jnp.concatenate([dbm["W1"], dbm["W2"].T], axis=0),
          "visible_bias": jnp.concatenate([dbm["b"], dbm["c2"]]),
          "hidden_bias": dbm["c1"]}


def bottom_rbm_doubled(params: dict) -> dict:
  """Phase 0's RBM over two tied copies of v [2V] and h1: p(h1 | v) = σ(c1 + 2vW1)."""
  return {"weights": jnp.concatenate([params["W1"], params["W1"]], axis=0),
          "visible_bias": jnp.concatenate([params["visible_bias"]] * 2),
          "hidden_bias": params["h1_bias"]}


def top_rbm_doubled(params: dict) -> dict:
  """Phase 1's RBM over h1 and two tied copies of h2 [2H2]: p(h1 | h2) = σ(b' + 2W2h2)."""
  return {"weights": jnp.concatenate([params["W2"], params["W2"]], axis=1),
          "visible_bias": params["h1_bias_top"],
          "hidden_bias": jnp.concatenate([params["h2_bias"]] * 2)}


def energy(dbm: dict, v, h1, h2) -> jax.Array:
  """[B] E(v, h1, h2), nats; multilinear, so E_Q[E] = E(v, μ1, μ2) for factorial Q."""
  return -(v @ dbm["b"] + h1 @ dbm["c1"] + h2 @ dbm["c2"]
           + jnp.sum((v @ dbm["W1"]) * h1, axis=-1) + jnp.sum((h1 @ dbm["W2"]) * h2, axis=-1))


def mean_field(dbm: dict, v: jax.Array, num_steps: int):
  """Fixed-point iterations for the mean-field posterior Q(h1) Q(h2) given v [B, V].

  μ1 = σ(c1 + vW1 + W2μ2),  μ2 = σ(c2 + μ1W2), updated a layer at a time (each
  update maximises the bound given the other layer, so it never decreases),
  starting from the doubled bottom-up guess μ1 = σ(c1 + 2vW1).
  Returns:
    (logits1 [B, H1], logits2 [B, H2]); μ = σ(logits). The last update is μ2's.
  """
  bottom_up = v @ dbm["W1"] + dbm["c1"]
  logits1 = bottom_up + v @ dbm["W1"]
  logits2 = dbm["c2"] + jax.nn.sigmoid(logits1) @ dbm["W2"]

  def body(carry, _):
    _, logits2 = carry
    logits1 = bottom_up + jax.nn.sigmoid(logits2) @ dbm["W2"].T
    return (logits1, dbm["c2"] + jax.nn.sigmoid(logits1) @ dbm["W2"]), None

  (logits1, logits2), _ = jax.lax.scan(body, (logits1, logits2), None, length=num_steps)
  return logits1, logits2


def bernoulli_entropy(logits: jax.Array) -> jax.Array:
  """[B] Σ_j H(Bernoulli(σ(a_j))) = Σ_j softplus(a_j) − σ(a_j)·a_j, nats."""
  return jnp.sum(jax.nn.softplus(logits) - jax.nn.sigmoid(logits) * logits, axis=-1)


def mean_field_bound(dbm: dict, v: jax.Array, num_steps: int) -> jax.Array:
  """[B] −E(v, μ1, μ2) + H(μ1) + H(μ2) ≤ log p*(v) = log Σ_h exp(−E(v, h)), nats."""
  logits1, logits2 = mean_field(dbm, v, num_steps)
  mu1, mu2 = jax.nn.sigmoid(logits1), jax.nn.sigmoid(logits2)
  return -energy(dbm, v, mu1, mu2) + bernoulli_entropy(logits1) + bernoulli_entropy(logits2)


def log_joint_h1(dbm: dict, v: jax.Array, h1: jax.Array) -> jax.Array:
  """log p*(v, h1) = v·b + h1·(c1 + vW1) + Σ_k softplus(c2 + h1W2)_k, h2 summed out.

  v [B, V], h1 [..., B, H1] -> [..., B].
  """
  return (v @ dbm["b"] + jnp.sum(h1 * (v @ dbm["W1"] + dbm["c1"]), axis=-1)
          + jnp.sum(jax.nn.softplus(dbm["c2"] + h1 @ dbm["W2"]), axis=-1))


def exact_unnormalized_log_prob(dbm: dict, v: jax.Array, chunk_size: int = 1024) -> jax.Array:
  """[B] log p*(v) = log Σ_{h1, h2} exp(−E(v, h1, h2)), enumerating h1 or h2 (≤ 20 units)."""
  h1_size, h2_size = dbm["W2"].shape
  if h1_size <= min(h2_size, ais_lib.MAX_ENUMERATION_BITS):
    x = v @ dbm["W1"] + dbm["c1"]  # [B, H1]

    def log_f(h1):  # [N, H1] -> [N, B]
      return (h1 @ x.T + jnp.sum(jax.nn.softplus(dbm["c2"] + h1 @ dbm["W2"]), axis=-1,
                                 keepdims=True))

    return v @ dbm["b"] + ais_lib.log_sum_over_binary_states(log_f, h1_size, chunk_size)
  x = v @ dbm["W1"] + dbm["c1"]

  def log_f(h2):  # [N, H2] -> [N, B]
    a = x[None, :, :] + (h2 @ dbm["W2"].T)[:, None, :]  # [N, B, H1]
    return (h2 @ dbm["c2"])[:, None] + jnp.sum(jax.nn.softplus(a), axis=-1)

  return v @ dbm["b"] + ais_lib.log_sum_over_binary_states(
      log_f, h2_size, max(1, chunk_size // max(1, v.shape[0])))


def importance_log_weights(dbm: dict, v: jax.Array, logits1: jax.Array, key: jax.Array,
                           n: int) -> jax.Array:
  """[n, B] log p*(v, h1) − log Q(h1) for h1 ~ Q(h1) = σ(logits1 [B, H1]), h2 summed out."""
  h1 = boltzmann.bernoulli(jnp.broadcast_to(jax.nn.sigmoid(logits1), (n,) + logits1.shape), key)
  log_q = jnp.sum(h1 * logits1 - jax.nn.softplus(logits1), axis=-1)
  return log_joint_h1(dbm, v, h1) - log_q


class DBM(nn.Module):
  """A two-hidden-layer deep Boltzmann machine over [V] binary units, as a Linen module.

  Params (the training params, module docstring): W1 [V, H1], W2 [H1, H2],
  visible_bias [V], h1_bias and h1_bias_top [H1] (the DBM's c1 is their mean),
  h2_bias [H2]; V is read from the data at `init`. v is [B, V]; values in nats;
  log p(v) = log p*(v) − log Z, with Z that of `as_rbm` (`genlatent.boltzmann`).

    dbm = DBM(hidden=(32, 16))
    params = dbm.init(key, v)["params"]
    bound = dbm.apply({"params": params}, v, method="mean_field_bound")   # ≤ log p*(v)
  """

  hidden: Sequence[int]
  mean_field_steps: int = 10
  init_scale: float = 0.01

  @nn.compact
  def dbm(self, num_visible: Optional[int] = None) -> dict:
    """{W1, W2, b, c1, c2}, the DBM's energy parameters (`as_dbm`)."""
    if num_visible is None:
      num_visible = self.variables["params"]["visible_bias"].shape[-1]
    h1, h2 = (int(h) for h in self.hidden)
    weights = nn.initializers.normal(self.init_scale)
    zeros = nn.initializers.zeros
    return as_dbm({"W1": self.param("W1", weights, (num_visible, h1)),
                   "W2": self.param("W2", weights, (h1, h2)),
                   "visible_bias": self.param("visible_bias", zeros, (num_visible,)),
                   "h1_bias": self.param("h1_bias", zeros, (h1,)),
                   "h1_bias_top": self.param("h1_bias_top", zeros, (h1,)),
                   "h2_bias": self.param("h2_bias", zeros, (h2,))})

  def __call__(self, v: jax.Array) -> jax.Array:
    return self.mean_field_bound(v)

  def as_rbm(self) -> dict:
    """The DBM as an RBM over (v, h2) [V + H2] and h1 (`genlatent.boltzmann` params)."""
    return as_rbm(self.dbm())

  def energy(self, v: jax.Array, h1: jax.Array, h2: jax.Array) -> jax.Array:
    """[B] E(v, h1, h2), nats."""
    return energy(self.dbm(v.shape[-1]), v, h1, h2)

  def mean_field(self, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(logits1 [B, H1], logits2 [B, H2]) of the mean-field posterior Q(h1) Q(h2) given v."""
    return mean_field(self.dbm(v.shape[-1]), v, self.mean_field_steps)

  def mean_field_bound(self, v: jax.Array) -> jax.Array:
    """[B] −E(v, μ1, μ2) + H(μ1) + H(μ2) ≤ log p*(v), nats."""
    return mean_field_bound(self.dbm(v.shape[-1]), v, self.mean_field_steps)

  def log_joint_h1(self, v: jax.Array, h1: jax.Array) -> jax.Array:
    """[..., B] log p*(v, h1) with h2 summed out, for h1 [..., B, H1]."""
    return log_joint_h1(self.dbm(v.shape[-1]), v, h1)

  def importance_log_weights(self, v: jax.Array, logits1: jax.Array, key: jax.Array,
                             n: int) -> jax.Array:
    """[n, B] log p*(v, h1) − log Q(h1), h1 ~ Q = σ(logits1) (e.g. `mean_field`'s)."""
    return importance_log_weights(self.dbm(v.shape[-1]), v, logits1, key, n)

  def exact_log_unnormalised(self, v: jax.Array) -> jax.Array:
    """[B] log p*(v) by enumerating h1 or h2 (≤ 20 units), nats."""
    return exact_unnormalized_log_prob(self.dbm(v.shape[-1]), v)

  def gibbs_step(self, state: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One block Gibbs sweep (v, h2) → h1 → (v, h2)' on state [B, V + H2]: (state', its mean)."""
    return boltzmann.gibbs_step(self.as_rbm(), state, key)

  def reconstruct(self, v: jax.Array) -> jax.Array:
    """[B, V] E[v | μ1] with μ1 the mean-field posterior of v."""
    dbm = self.dbm(v.shape[-1])
    logits1, _ = mean_field(dbm, v, self.mean_field_steps)
    return jax.nn.sigmoid(dbm["b"] + jax.nn.sigmoid(logits1) @ dbm["W1"].T)


@MODELS.register("dbm")
def build_dbm(config, data_shape) -> Model:
  """A two-hidden-layer DBM from `config` (the `model` part of an experiment config).

  Config fields:
    hidden: (H1, H2).
    phase_steps: (bottom RBM, top RBM, DBM) updates; num_steps should be their sum.
    gibbs_steps: k for CD-k pretraining and the DBM's PCD chains;  num_chains: M.
    mean_field_steps: fixed-point iterations in training and evaluation.
    init_scale, optimizer (pretraining), joint_optimizer (phase 2; default: optimizer).
    ais_schedule, ais_chains (log Z for 'elbo'), posterior_samples (S for 'ais'),
    sample_steps: as for the 'dbn' family.
  Estimators: 'ais' (num_samples = AIS chains), 'elbo', 'raise' (num_samples =
  reverse chains per example, along ais_schedule), and 'exact' for tiny models.
  """
  data_shape = tuple(data_shape)
  num_visible = int(np.prod(data_shape))
  h1_size, h2_size = (int(h) for h in config.hidden)
  phase_steps = tuple(int(s) for s in config.phase_steps)
  if len(phase_steps) != 3:
    raise ValueError(f"phase_steps must give (bottom RBM, top RBM, DBM) updates; "
                     f"got {phase_steps}.")
  num_gibbs = int(config.gibbs_steps)
  num_chains = int(config.num_chains)
  mf_steps = int(config.mean_field_steps)
  schedule = config.ais_schedule
  ais_lib.beta_schedule(schedule)
  ais_base = boltzmann.ais_base_of(config)
  ais_chains = int(config.ais_chains)
  posterior_samples = int(config.posterior_samples)
  chunk_size = int(config.chunk_size)
  sample_steps = int(config.sample_steps)
  tx_pretrain = make_optimizer(config.optimizer)
  tx_joint = make_optimizer(config.joint_optimizer or config.optimizer)
  module = DBM((h1_size, h2_size), mf_steps, float(config.init_scale))

  def apply(params, *args, method):
    """The DBM module's `method` on the family's params (base rates are the family's)."""
    return module.apply({"params": params}, *args, method=method)

  txs = (tx_pretrain, tx_pretrain, tx_joint)
  limit = ais_lib.MAX_ENUMERATION_BITS
  z_enumerable = min(h1_size, num_visible + h2_size) <= limit
  enumerable = z_enumerable and min(h1_size, h2_size) <= limit

  def init(key, x_example):
    del x_example
    k1, k2 = jax.random.split(key)
    scale = config.init_scale
    return {"W1": scale * jax.random.normal(k1, (num_visible, h1_size), jnp.float32),
            "W2": scale * jax.random.normal(k2, (h1_size, h2_size), jnp.float32),
            "visible_bias": jnp.zeros((num_visible,), jnp.float32),
            "h1_bias": jnp.zeros((h1_size,), jnp.float32),
            "h1_bias_top": jnp.zeros((h1_size,), jnp.float32),
            "h2_bias": jnp.zeros((h2_size,), jnp.float32),
            "base_visible_bias": jnp.zeros((num_visible,), jnp.float32),
            # Running mean of the mean-field Q(h2) over training batches (phase 2):
            # the h2 side of the AIS base model, 0.5 (uniform) until the DBM trains.
            "base_h2_rate": jnp.full((h2_size,), 0.5, jnp.float32)}

  def init_state(key, params, x_train):
    """Base rates and visible biases from the data; PCD chains (v, h2) for phase 2."""
    x = x_train.reshape(x_train.shape[0], -1).astype(np.float32)  # traceable (eval_shape)
    logits = boltzmann.base_rate_logits(x)
    # Two device arrays, not one shared twice: the trainer donates the state's buffers.
    params = dict(params, visible_bias=jnp.asarray(logits), base_visible_bias=jnp.asarray(logits))
    key_v, key_h = jax.random.split(key)
    chains = jnp.concatenate([boltzmann.initial_chains(key_v, x, num_chains),
                              boltzmann.bernoulli(jnp.full((num_chains, h2_size), 0.5), key_h)], axis=1)
    opt_state = [tx.init({k: params[k] for k in names}) for tx, names in zip(txs, PHASE_PARAMS)]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state,
                      extra={"chains": chains})

  def finish(state, phase, grads, metrics, chains=None):
    opt_state = list(state.opt_state)
    params, opt_state[phase] = boltzmann.apply_gradients(txs[phase], state.params, grads,
                                                   opt_state[phase])
    extra = state.extra if chains is None else dict(state.extra, chains=chains)
    metrics = dict(metrics, loss=metrics["reconstruction_error"],
                   phase=jnp.asarray(phase, jnp.float32))
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                         extra=extra), metrics

  def pretrain(phase, state, batch, key, collective):
    """CD-k on the doubled bottom RBM (phase 0) or the doubled top RBM (phase 1)."""
    params = state.params
    v, index = _flatten(batch["x"]), batch["index"]
    key_up, key_cd = jax.random.split(key)
    if phase == 0:
      data, view = jnp.concatenate([v, v], axis=1), bottom_rbm_doubled
    else:
      data, _ = boltzmann.sample_hidden(bottom_rbm_doubled(params), jnp.concatenate([v, v], axis=1),
                                  key_up, index)
      view = top_rbm_doubled
    frozen = {k: val for k, val in params.items() if k not in PHASE_PARAMS[phase]}
    grads, _, sums = boltzmann.contrastive_divergence(
        {k: params[k] for k in PHASE_PARAMS[phase]}, data, key_cd, index, num_gibbs=num_gibbs,
        view=lambda p: view(dict(frozen, **p)), collective=collective)
    count = sums.pop("count")
    return finish(state, phase, grads, {k: val / count for k, val in sums.items()})

  def train_dbm(state, batch, key, collective):
    """Mean-field data term, PCD model term: ∇[mean E(v, μ) − mean F_(v,h2)(chains)]."""
    params = state.params
    v = _flatten(batch["x"])
    dbm = as_dbm(params)
    logits1, logits2 = mean_field(dbm, v, mf_steps)
    mu1, mu2 = jax.nn.sigmoid(logits1), jax.nn.sigmoid(logits2)
    chains = state.extra["chains"]
    chains, _ = boltzmann.gibbs_chain(as_rbm(dbm), chains, key, num_gibbs,
                                jnp.arange(chains.shape[0], dtype=jnp.int32))
    count = collective.sum(jnp.asarray(v.shape[0], jnp.float32))
    num_devices = collective.sum(1.0)

    def surrogate(p):
      d = as_dbm(dict(params, **p))
      data_term = jnp.sum(energy(d, v, mu1, mu2)) / count
      model_term = jnp.mean(boltzmann.free_energy(as_rbm(d), chains)) / num_devices
      return data_term - model_term

    grads = jax.grad(surrogate)({k: params[k] for k in PHASE_PARAMS[2]})
    sums = {"reconstruction_error": jnp.sum((v - jax.nn.sigmoid(
                dbm["b"] + mu1 @ dbm["W1"].T)) ** 2),
            "free_energy": -jnp.sum(-energy(dbm, v, mu1, mu2) + bernoulli_entropy(logits1)
                                    + bernoulli_entropy(logits2))}
    grads, sums = collective.sum(grads), collective.sum(sums)
    rate = boltzmann.update_base_rate(params["base_h2_rate"], mu2, collective=collective)
    state = state.replace(params=dict(params, base_h2_rate=rate))
    return finish(state, 2, grads, {k: val / count for k, val in sums.items()}, chains)

  def update(state, batch, key, collective: Collective = LOCAL):
    """One step of the phase the step falls in. Metrics: reconstruction_error (= loss;
    of the doubled RBM in pretraining, of E[v | μ1] for the DBM), free_energy (the
    RBM's, or the DBM's mean-field variational free energy), and `phase`."""
    branches = [functools.partial(pretrain, 0, collective=collective),
                functools.partial(pretrain, 1, collective=collective),
                functools.partial(train_dbm, collective=collective)]
    return jax.lax.switch(boltzmann.training_phase(state.step, phase_steps), branches,
                          state, batch, key)

  def base_logits(params):
    """AIS base model over (v, h2): the data's base rates for v, and for h2 the running
    mean of the mean-field Q(h2) of the training data (uniform before phase 2). With
    a uniform h2 base the Fashion-MNIST DBM's AIS had 1-5 effective chains of 100."""
    return jnp.concatenate([params["base_visible_bias"],
                            boltzmann.rate_logits(params["base_h2_rate"])])

  normaliser = boltzmann.Normaliser(as_rbm=lambda params: as_rbm(as_dbm(params)),
                              base_logits=base_logits, schedule=schedule,
                              enumerable=z_enumerable, ais_chains=ais_chains,
                              ais_base=ais_base)

  def log_unnormalised(params, x, key):
    """([B] log p*(x), label suffix), nats: importance sampling over h1 with the
    mean-field posterior as proposal (`posterior_samples` draws; h2 summed out)."""
    v = _flatten(x)
    logits1, _ = apply(params, v, method="mean_field")
    log_p_star = importance_sampled_log_likelihood(
        lambda k, n: apply(params, v, logits1, k, n, method="importance_log_weights"), key,
        posterior_samples, chunk_size)
    return log_p_star, f"+importance-{posterior_samples}"

  def bound_log_unnormalised(params, x, key, num_samples):
    """[B] the mean-field variational bound on log p*(x), nats (deterministic)."""
    del key, num_samples
    return apply(params, _flatten(x), method="mean_field_bound")

  def annealing_start(params, x, key, num_chains):
    """RAISE's start in the RBM view's visible states (v, h2) [B, M, V + H2]: h2 drawn
    from the mean-field posterior Q(h2), log weights [B, M] −log Q(h2)."""
    v = _flatten(x)
    _, logits2 = apply(params, v, method="mean_field")
    h2 = boltzmann.bernoulli(
        jnp.broadcast_to(jax.nn.sigmoid(logits2)[:, None], (v.shape[0], num_chains, h2_size)), key)
    log_q = jnp.sum(h2 * logits2[:, None] - jax.nn.softplus(logits2)[:, None], axis=-1)
    v_chains = jnp.broadcast_to(v[:, None], (v.shape[0], num_chains, v.shape[1]))
    return jnp.concatenate([v_chains, h2], axis=-1), -log_q

  density = Boltzmann(
      normaliser=normaliser, log_unnormalised=log_unnormalised,
      exact_log_unnormalised=(
          (lambda params, x: apply(params, _flatten(x), method="exact_log_unnormalised"))
          if enumerable else None),
      bound_log_unnormalised=bound_log_unnormalised,
      annealing_path=normaliser.annealing_path, annealing_start=annealing_start)

  def chain_start(params, key, n):
    key_init, key_chain = jax.random.split(key)
    model = as_rbm(as_dbm(params))
    return model, boltzmann.base_samples(model, base_logits(params), key_init, n), key_chain

  def sample(params, key, n):
    """[n, *data_shape] E[v | h1] after `sample_steps` block Gibbs sweeps h1 | (v, h2)."""
    model, start, key_chain = chain_start(params, key, n)
    _, mean = boltzmann.gibbs_chain(model, start, key_chain, sample_steps)
    return mean[:, :num_visible].reshape((n,) + data_shape)

  def reconstruct(params, x, key=None):
    """[B, *data_shape] E[v | μ1] with μ1 the mean-field posterior of x."""
    del key
    return apply(params, _flatten(x), method="reconstruct").reshape(x.shape)

  def figures(params, key, workdir, dataset=None):
    """filters.png (W1) and gibbs_chains.png (E[v | h1] along block Gibbs chains)."""
    del dataset  # the figures need no data
    model, start, key_chain = chain_start(params, key, 10)
    steps = viz_rbm.CHAIN_STEPS
    snapshots = jax.jit(boltzmann.gibbs_snapshots, static_argnums=3)(model, start, key_chain, steps)
    return viz_rbm.write_figures(workdir, np.asarray(params["W1"]),
                                 np.asarray(snapshots[:, :, :num_visible]), data_shape, steps)

  return Model(name="dbm", init=init, update=update, init_state=init_state,
               densities=Densities(boltzmann=density), sample=sample,
               reconstruct=reconstruct, figures=figures)
