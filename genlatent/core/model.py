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
class Model:
  """A model family instance: pure functions over params.

  Signatures (B examples, shapes in each family's docstrings):
    init(key, x_example [B, ...]) -> params
    loss(params, batch, key[, step]) -> (scalar, metrics dict)  gradient families; a
                                                      `step` argument, if declared,
                                                      receives the update count
                                                      (for schedules like KL warm-up)
    update(state, batch, key, *, axis_name=None) -> (state, metrics)
                                                      non-gradient families; sums
                                                      over the batch must be
                                                      `lax.psum`-ed over
                                                      `axis_name` when it is set
    init_state(key, params, x_train) -> TrainState  with `update` (x_train: the whole
                                                      training split); a gradient
                                                      family may give it too, for a
                                                      data-dependent start (k-means++):
                                                      the trainer keeps its params
    log_likelihood(params, x, key, *, estimator, num_samples) -> LogLikelihood
    elbo(params, x, key) -> [B] nats, a lower bound on log p(x)
    sample(params, key, n) -> [n, ...] data-space samples
    encode(params, x, key) -> [B, ...] codes;  decode(params, z) -> [B, ...] means
    reconstruct(params, x, key) -> [B, ...] decoded codes of x
    diagnostics(params, x, key) -> {name: [B]} per-example extras in nats (e.g. the
                                   reconstruction term and KL), summarised at evaluation
    finalize(params, key, x_train) -> params   run once after training (e.g. fitting
                                   a density to an auto-encoder's codes)
    estimators: names accepted by `log_likelihood`, the best one first.
    discrete: log p(x) is a probability mass (so bits/dim is meaningful), not a density.
    prepare_evaluation(params, key, *, estimator, num_samples) -> (params', report)
        optional: work every batch of one evaluation shares, done once before
        the batches (e.g. AIS for log Z, a property of the params, not of x);
        `log_likelihood` then receives params'. report: host floats recorded
        with the summary; its `shared_stderr` (nats), the standard error of a
        term common to every example, is added in quadrature to the
        across-example standard error.
    figures(params, key, workdir) -> [paths]   optional family-specific PNGs
        (e.g. RBM filters, Gibbs chains over time), written beside samples.png;
        a `dataset` keyword parameter, if declared, receives the `Dataset`
        (e.g. the GMM's ellipses over the test points)
    split_metrics(params, key, dataset, split) -> {name: float}   optional numbers
        about a whole split that are not log-likelihoods (e.g. clustering
        accuracy after Hungarian matching), written to eval.json under `metrics`
  """

  name: str
  init: Callable
  log_likelihood: Callable
  estimators: tuple[str, ...]
  loss: Optional[Callable] = None
  update: Optional[Callable] = None
  init_state: Optional[Callable] = None
  elbo: Optional[Callable] = None
  sample: Optional[Callable] = None
  encode: Optional[Callable] = None
  decode: Optional[Callable] = None
  reconstruct: Optional[Callable] = None
  diagnostics: Optional[Callable] = None
  finalize: Optional[Callable] = None
  prepare_evaluation: Optional[Callable] = None
  figures: Optional[Callable] = None
  split_metrics: Optional[Callable] = None
  discrete: bool = True

  def __post_init__(self):
    if (self.loss is None) == (self.update is None):
      raise ValueError(f"Model {self.name!r} must define exactly one of "
                       "`loss` (gradient training) or `update`.")
    if self.update is not None and self.init_state is None:
      raise ValueError(f"Model {self.name!r} defines `update` but no `init_state`.")
