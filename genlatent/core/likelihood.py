"""The one likelihood contract: per-example log p(x) in nats, labelled with what it is.

Every family returns a `LogLikelihood`; a summary over a data set is a mean with
its standard error. No number leaves the library without its estimator and kind,
because an exact value, a lower bound and a stochastic estimate are not
comparable as if they were the same thing.
"""

from __future__ import annotations

import dataclasses
import enum
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


class Kind(str, enum.Enum):
  """What kind of number a log-likelihood is."""

  EXACT = "exact"
  LOWER_BOUND = "lower bound"
  ESTIMATE = "estimate"
  # A kernel density fitted to model samples, scored on held-out data: neither a
  # bound nor a consistent estimate of this model's log p(x) at any finite sample
  # count, so it is never ranked beside the kinds above (see estimators/parzen.py).
  PARZEN = "parzen estimate"


@struct.dataclass
class LogLikelihood:
  """Per-example log p(x).

  Attributes:
    values: [B] float, nats per example.
    estimator: the estimator's name, e.g. `exact`, `elbo`, `iwae-50`,
      `importance-5000`, `ais-100x14500`, `parzen`.
    kind: exact, lower bound, stochastic estimate, or Parzen-window estimate.
  """

  values: jax.Array
  estimator: str = struct.field(pytree_node=False)
  kind: Kind = struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class Summary:
  """A data-set summary of a `LogLikelihood`: mean ± standard error, nats/example."""

  mean: float
  stderr: float
  count: int
  estimator: str
  kind: Kind
  # Estimator-specific extras for eval.json (e.g. AIS's log Z and its spread).
  details: dict | None = dataclasses.field(default=None, compare=False)
  # [count] per-example nats, kept so two models scored on the same examples can
  # be compared pairwise (see `paired_difference`); not part of `to_dict`.
  values: np.ndarray | None = dataclasses.field(default=None, compare=False, repr=False)

  def bits_per_dim(self, num_dims: int) -> float:
    """-mean log p(x) in bits per dimension."""
    return -self.mean / (num_dims * math.log(2.0))

  def to_dict(self) -> dict:
    out = {"mean_nats": self.mean, "stderr_nats": self.stderr,
           "count": self.count, "estimator": self.estimator,
           "kind": self.kind.value}
    if self.details:
      out["details"] = dict(self.details)
    return out

  def __str__(self) -> str:
    return (f"{self.mean:.2f} ± {self.stderr:.2f} nats "
            f"({self.estimator}, {self.kind.value})")


def summarize(values, estimator: str, kind: Kind) -> Summary:
  """Mean and standard error of per-example values (host-side, float64).

  Args:
    values: [N] per-example nats, only the real examples (padding removed).
  """
  v = np.asarray(values, dtype=np.float64).reshape(-1)
  if v.size == 0:
    raise ValueError("Cannot summarize an empty set of log-likelihoods.")
  mean, stderr = _mean_and_stderr(v)
  return Summary(mean, stderr, int(v.size), estimator, Kind(kind), values=v)


def _mean_and_stderr(v: np.ndarray) -> tuple[float, float]:
  """Mean of [N] float64 values and its standard error (NaN for one value)."""
  stderr = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
  return float(v.mean()), stderr


def paired_difference(a, b, shared_stderr_a: float = 0.0,
                      shared_stderr_b: float = 0.0) -> tuple[float, float]:
  """Mean and standard error of a − b, per example, for two models on the same examples.

  Far tighter than the two stderrs combined when the models agree on which
  examples are hard, which is the usual case: the question "is A better than
  B" is answered by this, not by overlapping error bars.

  Args:
    a, b: [N] per-example nats of two models on the same N examples, same order.
    shared_stderr_a, shared_stderr_b: stderr of a term common to every example
      of a model (AIS's log Z), independent across models: added in quadrature.
  Returns:
    (mean of a − b, its standard error), nats per example.
  """
  a, b = (np.asarray(v, np.float64).reshape(-1) for v in (a, b))
  if a.shape != b.shape:
    raise ValueError(f"Paired values need the same examples: {a.size} vs {b.size}.")
  mean, stderr = _mean_and_stderr(a - b)
  return mean, math.hypot(stderr, shared_stderr_a, shared_stderr_b)


def concatenate(parts: list[LogLikelihood]) -> LogLikelihood:
  """Joins per-batch results of one estimator into one `LogLikelihood`."""
  if not parts:
    raise ValueError("Nothing to concatenate.")
  names = {(p.estimator, p.kind) for p in parts}
  if len(names) != 1:
    raise ValueError(f"Cannot join different estimators: {sorted(names)}")
  return LogLikelihood(jnp.concatenate([p.values for p in parts]),
                       parts[0].estimator, parts[0].kind)
