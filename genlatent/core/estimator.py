"""What a likelihood estimator is: the families it serves and two pure functions.

An estimator never asks which family it scores; it asks what the family exposes
(`Model.densities`, `Model.sample`). Work that every batch of one evaluation
shares (log Z by AIS, a Parzen window, a widened proposal) is an explicit
evaluation state that `prepare` returns and `log_likelihood` receives; it is
never stored in the params.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Estimator(NamedTuple):
  """A registered log-likelihood estimator (see `genlatent.core.ESTIMATORS`).

  Attributes:
    needs: what a family must expose, in words (for the error when it does not).
    supports(model) -> bool: whether `model` exposes what this estimator needs.
    log_likelihood(model, params, state, x [B, ...], key, num_samples)
        -> `LogLikelihood` ([B] nats, labelled): pure and jit-compatible; `state`
        is what `prepare` returned (a pytree, or None).
    prepare(model, params, key, num_samples, validation_x [N, ...] | None)
        -> (state, report): run once per evaluation on the host params; report
        holds host floats for eval.json, and its `shared_stderr` (nats), the
        standard error of a term common to every example (log Ẑ), is added in
        quadrature to the across-example standard error. None: no shared work.
    prepares(model) -> bool: optional, whether `prepare` has work for `model`.
  """

  needs: str
  supports: Callable[[Any], bool]
  log_likelihood: Callable
  prepare: Callable | None = None
  prepares: Callable[[Any], bool] | None = None

  def shares_work(self, model) -> bool:
    """Whether an evaluation of `model` runs `prepare` first (`prepares`, when
    given, decides per model: importance sampling only fits a proposal for
    families that have one to fit)."""
    return self.prepare is not None and (self.prepares is None or self.prepares(model))
