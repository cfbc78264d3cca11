"""What a model family hands the trainer and the evaluators.

A family module builds a `Model` from its config: plain pure functions over an
explicit params pytree. Gradient families give `loss`; families that are not
plain gradient descent (EM, CD/PCD chains, alternating phases) give `update`
and `init_state` instead. See DESIGN.md for the table.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import jax
from flax import struct

Params = Any
Batch = dict  # {'x': [B, H, W, C] float32, 'label': [B] int32, 'index': [B] int32, 'mask': [B] float32}


@struct.dataclass
class TrainState:
  """Everything a training run carries from step to step (and checkpoints).

  Attributes:
    step: scalar int32, number of updates applied.
    params: the model's params pytree.
    opt_state: optax state (or `()` for families without an optimizer).
    extra: family-specific state, e.g. persistent Gibbs chains; `{}` if none.
  """

  step: jax.Array
  params: Params
  opt_state: Any
  extra: Any


@dataclasses.dataclass(frozen=True)
class LatentVariable:
  """p(x) = ∫ p(z) p(x | z) dz with a proposal q(z | x): what importance sampling needs.

  log_weights(params, x [B, ...], key, n, q) -> [n, B] nats:
      log p(x, z_i) − log q(z_i | x) for z_i ~ q(z | x).
  proposal(params, x, key, state) -> q: optional, the batch's proposal
      parameters, computed once per batch (not per chunk of samples); without
      it q is the evaluation state itself.
  fit_proposal(params, key, validation_x [N, ...] | None, num_samples)
      -> (state pytree, report dict): optional; work one evaluation shares
      (e.g. a widening of a narrow encoder chosen on validation data).
  chunk_size: samples drawn at once (0: about 2048 decoder rows per chunk).

  A prior and a decoder, for annealing from p(z) to p(z | x) (AIS with HMC):
  prior_log_prob(params, z [..., d]) -> [...] nats, normalised;
  decoder_log_prob(params, x [B, ...], z [B, d]) -> [B] log p(x | z), nats;
  prior_sample(params, key, n) -> [n, d];
  ais_schedule: the β schedule spec of that annealing (`estimators.ais.beta_schedule`);
  ais_leapfrog_steps: leapfrog steps per HMC transition;
  decoder_sample(params, z [n, d], key) -> [n, *event]: optional, x ~ p(x | z)
      exactly (data simulated from the model, for BDMC).
  """

  log_weights: Callable
  proposal: Optional[Callable] = None
  fit_proposal: Optional[Callable] = None
  chunk_size: int = 0
  prior_log_prob: Optional[Callable] = None
  decoder_log_prob: Optional[Callable] = None
  prior_sample: Optional[Callable] = None
  ais_schedule: str = "sigmoid:1000"
  ais_leapfrog_steps: int = 10
  decoder_sample: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class Boltzmann:
  """log p(x) = log p*(x) − log Z, with Z the partition function of an RBM view of
  the params: what annealed (and exact, when enumerable) normalisation needs.

  normaliser: log Z's provider (`genlatent.boltzmann.Normaliser`):
      `exact(params)` by enumeration when `enumerable`, `ais(params, key,
      num_chains)` along its `schedule`, and `ais_chains` for the estimators
      that need log Z but do not name a chain count (`elbo`).
  log_unnormalised(params, x, key) -> ([B] nats, label suffix): log p*(x),
      exact (suffix '') or itself estimated (e.g. '+importance-100').
  exact_log_unnormalised(params, x) -> [B]: optional, log p*(x) exactly.
  bound_log_unnormalised(params, x, key, n) -> [B]: optional, a variational
      lower bound on log p*(x) (mean field, a recognition model).
  annealing_path(params) -> `AnnealingPath` over the model's states, and
  annealing_start(params, x [B, ...], key, M) -> (states [B, M, *state],
      log_weights [B, M] nats): optional, for estimators that anneal from the
      data (RAISE): M draws s ~ q(s | x) of the path's last state with
      log p(x | s) − log q(s | x), so that E_q[e^{log_weight} p_ann(s)] = p_ann(x).
      An RBM's s is x's visible units and the weight the standardisation's
      Jacobian; a DBN draws its top layer from the recognition model.
  """

  normaliser: Any
  log_unnormalised: Callable
  exact_log_unnormalised: Optional[Callable] = None
  bound_log_unnormalised: Optional[Callable] = None
  annealing_path: Optional[Callable] = None
  annealing_start: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class Densities:
  """What a family exposes about p(x); each estimator uses what it needs.

  log_prob(params, x) -> [B] nats, the exact normalised log p(x).
  elbo(params, x, key, n) -> [B] nats, a lower bound averaged over n draws.
  latent: a `LatentVariable` (importance sampling).
  boltzmann: a `Boltzmann` (AIS for log Z, exact enumeration).
  The family's `sample` (on `Model`) serves sample-based estimators (Parzen).
  """

  log_prob: Optional[Callable] = None
  elbo: Optional[Callable] = None
  latent: Optional[LatentVariable] = None
  boltzmann: Optional[Boltzmann] = None


@dataclasses.dataclass(frozen=True)
class Model:
  """A model family instance: pure functions over params.

  Signatures (B examples, shapes in each family's docstrings):
    init(key, x_example [B, ...]) -> params
    loss(params, batch, key, step) -> (scalar, metrics dict)   gradient families;
                                      `step` is the update count (KL warm-up)
    update(state, batch, key, collective=LOCAL) -> (state, metrics)
                                      non-gradient families; sums over the batch
                                      go through the `Collective` (the identity
                                      under the mesh backend, a psum under pmap)
    init_state(key, params, x_train) -> TrainState  with `update` (x_train: the whole
                                      training split); a gradient family may give
                                      it too, for a data-dependent start (k-means++):
                                      the trainer keeps its params
    densities: `Densities`, what the registered estimators (`ESTIMATORS`) consume;
                                      the estimators a model accepts follow from it
    sample(params, key, n) -> [n, ...] data-space samples
    encode(params, x, key) -> [B, ...] codes;  decode(params, z) -> [B, ...] means
    reconstruct(params, x, key) -> [B, ...] decoded codes of x
    diagnostics(params, x, key) -> {name: [B]} per-example extras in nats (e.g. the
                                   reconstruction term and KL), summarised at evaluation
    finalize(params, key, x_train) -> params   run once after training (e.g. fitting
                                   a density to an auto-encoder's codes)
    figures(params, key, workdir, dataset) -> [paths]   family-specific PNGs
    split_metrics(params, key, dataset, split) -> {name: float}   numbers about a
                                   whole split that are not log-likelihoods (e.g.
                                   clustering accuracy), written to eval.json
    discrete: log p(x) is a probability mass (so bits/dim is meaningful), not a density.
  """

  name: str
  init: Callable
  densities: Densities
  loss: Optional[Callable] = None
  update: Optional[Callable] = None
  init_state: Optional[Callable] = None
  sample: Optional[Callable] = None
  encode: Optional[Callable] = None
  decode: Optional[Callable] = None
  reconstruct: Optional[Callable] = None
  diagnostics: Optional[Callable] = None
  finalize: Optional[Callable] = None
  figures: Optional[Callable] = None
  split_metrics: Optional[Callable] = None
  discrete: bool = True

  def __post_init__(self):
    if (self.loss is None) == (self.update is None):
      raise ValueError(f"Model {self.name!r} must define exactly one of "
                       "`loss` (gradient training) or `update`.")
    if self.update is not None and self.init_state is None:
      raise ValueError(f"Model {self.name!r} defines `update` but no `init_state`.")
