"""One table of families on the same splits: every number with its estimator and kind.

Rows are grouped by kind (exact, lower bound, estimate, Parzen estimate) and sorted by
log-likelihood only within a kind: a bound below an estimate says nothing about which
model is better, so the table never ranks across kinds.

Each row carries its estimator's health (AIS effective sample size, HMC acceptance); a
row whose diagnostics fail is flagged and left unranked. For every pair of models within
a kind the table says whether their ordering is certified (`certify_orderings`): by a
bracket (the better model's conservative figure above the worse one's optimistic figure:
RAISE or a bound against AIS, or a BDMC-measured gap) or by a paired interval clear of
zero between healthy estimators whose one-sided errors cannot explain it (the same
estimator on both, or the worse model's figure not a lower bound only); else not
certified, or reversed where the brackets order the models the other way.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import time

import jax
import ml_collections
import numpy as np

from genlatent import runs, train, viz
from genlatent.core import Kind, paired_difference
from genlatent.estimators import bdmc as bdmc_lib
from genlatent.estimators.parzen import parzen_summary
from genlatent.train import evaluation
from genlatent.train import workdir as workdir_lib

KIND_ORDER = [k.value for k in Kind]
COLUMNS = ("member", "family", "config", "binarization", "num_params", "train_seconds",
           "estimator", "kind", "mean_nats", "stderr_nats", "count", "bits_per_dim",
           "paired_best", "paired_delta_nats", "paired_delta_stderr", "first_examples",
           "diagnostics", "diagnostics_ok", "bdmc_gap_nats", "bdmc_gap_stderr")
# HMC-AIS is healthy when its leapfrog step size settled: the acceptance rate over the
# second half of the schedule (where p(x | z)^β dominates) near the 0.65 aimed at.
HMC_ACCEPTANCE_RANGE = (0.3, 0.95)
CERTIFY_Z = 2.0  # a paired difference counts as clear of zero beyond 2 stderr


@dataclasses.dataclass
class Row:
  member: str
  family: str
  config: str
  binarization: str
  num_params: int
  train_seconds: float
  estimator: str
  kind: str
  mean_nats: float
  stderr_nats: float
  count: int
  bits_per_dim: float | None
  # This row minus the best row of its kind on the same examples (`paired_best`),
  # mean ± stderr of the per-example differences (see `add_paired_differences`).
  paired_best: str | None = None
  paired_delta_nats: float | None = None
  paired_delta_stderr: float | None = None
  # [count] per-example nats where the run kept them; stderr of a term shared by
  # every example (AIS's log Z). Neither is written to the results files.
  values: np.ndarray | None = dataclasses.field(default=None, repr=False)
  shared_stderr: float = 0.0
  # The estimator's details in eval.json (log Z, ESS, acceptance, first_examples)
  # and the member's BDMC section (eval.json's `bdmc`), where there are any.
  details: dict | None = dataclasses.field(default=None, repr=False)
  bdmc: dict | None = dataclasses.field(default=None, repr=False)
  # Set by `flag_inverted_brackets`: the member's own figures contradict each other.
  bracket_failure: str | None = dataclasses.field(default=None, repr=False)

  @property
  def first_examples(self) -> int | None:
    """N where an annealed estimator scored only the split's first N examples."""
    return (self.details or {}).get("first_examples")

  @property
  def bdmc_gap_nats(self) -> float | None:
    return self.bdmc.get("gap") if self.bdmc else None

  @property
  def bdmc_gap_stderr(self) -> float | None:
    return self.bdmc.get("gap_stderr") if self.bdmc else None

  @property
  def diagnostics(self) -> str:
    return estimator_health(self)[1]

  @property
  def diagnostics_ok(self) -> bool | None:
    return estimator_health(self)[0]

  @property
  def flagged(self) -> bool:
    return self.diagnostics_ok is False

  @property
  def name(self) -> str:
    return f"{self.member}/{self.estimator}"

  def record(self) -> dict:
    """The row as written to results.csv / results.json."""
    return {c: getattr(self, c) for c in COLUMNS}

  def text(self) -> str:
    first = f", first {self.first_examples}" if self.first_examples else ""
    return (f"{self.mean_nats:.2f} ± {self.stderr_nats:.2f} nats ({self.estimator}{first}, "
            f"{self.kind})" + (f" [{self.diagnostics}]" if self.diagnostics != "–" else ""))


def _chains(estimator: str) -> int | None:
  """M of a label 'ais-Mx…' / 'ais-hmc-Mx…' / 'raise-Mx…'."""
  found = re.search(r"-(\d+)x\d+", estimator)
  return int(found.group(1)) if found else None


def estimator_health(row: Row) -> tuple[bool | None, str]:
  """(passes, text) of a row's estimator diagnostics; passes is None where it has none.

  Boltzmann AIS: log Ẑ's effective sample size at least a tenth of the chains and,
  with a fitted base, the pilot's log Ẑ at most `ais.MAX_PILOT_EXCESS` nats above
  the run's (`ais.ais_report`'s `ais_reliable`). HMC-AIS: the mean acceptance over the
  schedule's second half within `HMC_ACCEPTANCE_RANGE` (its per-example ESS is shown).
  A conservative row above its own model's AIS figure (`flag_inverted_brackets`) fails.
  """
  passes, text = _estimator_diagnostics(row)
  if row.bracket_failure:
    return False, (f"{text}; " if text != "–" else "") + row.bracket_failure
  return passes, text


def _estimator_diagnostics(row: Row) -> tuple[bool | None, str]:
  d = row.details or {}
  if "ais_reliable" in d:
    ess, chains = d.get("ais_effective_sample_size"), _chains(d.get("log_partition_estimator", ""))
    text = f"log Z ESS {ess:.1f}" + (f"/{chains}" if chains else "")
    if "pilot_excess" in d:  # a fitted base: how far the pilot's log Ẑ is above this run's
      text += f", pilot {d['pilot_excess']:+.2f}"
    return bool(d["ais_reliable"]), text if d["ais_reliable"] else text + " (too low)"
  if "hmc_acceptance_second_half" in d:
    acceptance = d["hmc_acceptance_second_half"][1]
    ess, chains = d.get("ais_effective_sample_size_mean"), _chains(row.estimator)
    ok = HMC_ACCEPTANCE_RANGE[0] <= acceptance <= HMC_ACCEPTANCE_RANGE[1]
    text = (f"HMC acceptance {acceptance:.2f}" + ("" if ok else " (off target)")
            + (f", ESS {ess:.1f}" + (f"/{chains}" if chains else "") if ess is not None else ""))
    return ok, text
  if "hmc_diagnostics" in d:
    return None, f"HMC diagnostics {d['hmc_diagnostics']}"
  return None, "–"


def rows_from_eval(member: str, config_ref: str, workdir: str, split: str = "test") -> list[Row]:
  """The rows of one run's eval.json (every estimator it reported)."""
  with open(os.path.join(workdir, "eval.json"), encoding="utf-8") as f:
    report = json.load(f)
  values = evaluation.load_eval_values(workdir)
  return [Row(member, report.get("model", "?"), config_ref, report.get("binarization", "?"),
              int(report.get("num_params", 0)), float(report.get("train_seconds", 0.0)),
              r["estimator"], r["kind"], r["mean_nats"], r["stderr_nats"], r["count"],
              r.get("bits_per_dim"), values=values.get(r.get("values_key")),
              shared_stderr=float((r.get("details") or {}).get("shared_stderr", 0.0)),
              details=r.get("details"), bdmc=report.get("bdmc"))
          for r in report["splits"][split]]


def add_paired_differences(rows: list[Row]) -> list[Row]:
  """Fills each row's paired difference to the best row of its kind, in place.

  Rows are paired only on the same examples: within one kind, among the rows
  with per-example values of the same binarization and count (a GMM on grey
  levels is not paired with binary models). The others keep None; the best
  row's own entry is 0 ± 0. Flagged rows (failed diagnostics) are unranked: never
  the best, and given no difference.
  """
  groups = {}
  for r in rows:
    if r.values is not None and not r.flagged:
      groups.setdefault((r.kind, r.binarization, r.count), []).append(r)
  for group in groups.values():
    if len(group) < 2:
      continue
    best = max(group, key=lambda r: r.mean_nats)
    for r in group:
      delta, stderr = ((0.0, 0.0) if r is best else paired_difference(
          r.values, best.values, r.shared_stderr, best.shared_stderr))
      r.paired_best = f"{best.member}/{best.estimator}"
      r.paired_delta_nats, r.paired_delta_stderr = delta, stderr
  return rows


def parzen_row(member: str, config_ref: str, workdir: str, num_samples: int, key,
               base: Row | None) -> tuple[Row, np.ndarray]:
  """Parzen log-likelihood of a trained run's samples (bandwidth on validation).

  Returns the row and [16, H, W, C] samples for the panel figure.
  """
  config, dataset, model, backend, state = train.restore_workdir(workdir)
  params = backend.host_state(state).params
  sample = jax.jit(lambda k, n: model.sample(params, k, n), static_argnums=1)
  summary = parzen_summary(sample, key, dataset.validation.x, dataset.test.x,
                           num_samples=num_samples)
  images = dataset.to_images(np.asarray(sample(jax.random.fold_in(key, 1), 16)))
  row = Row(member, config.model.name, config_ref, config.data.binarization,
            base.num_params if base else 0, base.train_seconds if base else 0.0,
            summary.estimator, summary.kind.value, summary.mean, summary.stderr, summary.count,
            None, values=summary.values)
  return row, images


def sort_rows(rows: list[Row]) -> list[Row]:
  """Grouped by kind in a fixed order, best first within each kind; flagged rows
  (failed diagnostics) last in their kind, unranked."""
  return sorted(rows, key=lambda r: (KIND_ORDER.index(r.kind) if r.kind in KIND_ORDER else 99,
                                     r.flagged, -r.mean_nats))


def _figures(rows: list[Row], member: str, binarization: str, count: int,
             include_flagged: bool = False):
  """(conservative, optimistic) figures of one member on one set of examples, each a
  list of (row, offset nats, source): row values + offset is what the member's rows
  say log p(x) is at least / at most, per example. Flagged rows are left out unless
  `include_flagged`, except a flagged Boltzmann AIS row on the optimistic side: it
  stays optimistic whatever its ESS.

  Exact: both. Lower bounds, importance sampling, HMC-AIS and RAISE: conservative
  (stochastic lower bounds in expectation), except a row whose log Z is an AIS
  estimate (a DBN's or DBM's ELBO: neither side). Boltzmann AIS: optimistic (log Ẑ
  is low in expectation), unless log p*(x) is itself importance-sampled (a DBN's
  'ais-…+importance-…': neither side). A BDMC gap turns one side into the other:
  HMC-AIS + gap is optimistic (on data like the model's own), Boltzmann AIS
  shifted to BDMC's upper log Z is conservative.
  """
  conservative, optimistic = [], []
  for r in rows:
    if (r.member, r.binarization, r.count) != (member, binarization, count):
      continue
    # A bound on log p*(x) minus an AIS log Ẑ (a DBN's or DBM's ELBO) is no bound.
    log_z_by_ais = str((r.details or {}).get("log_partition_estimator", "")).startswith("ais")
    boltzmann_ais = r.estimator.startswith("ais-") and not r.estimator.startswith("ais-hmc")
    if r.flagged and not include_flagged:
      # Boltzmann AIS stays optimistic whatever its ESS (an unreliable log Ẑ is low,
      # which raises log p(x) further), so it still serves as the optimistic side.
      if (boltzmann_ais and "+" not in r.estimator and r.bracket_failure is None
          and r.kind == Kind.ESTIMATE.value):
        optimistic.append((r, 0.0, f"{r.estimator} (flagged, still optimistic)"))
      continue
    if r.kind == Kind.EXACT.value:
      conservative.append((r, 0.0, r.estimator))
      optimistic.append((r, 0.0, r.estimator))
    elif boltzmann_ais:
      if "+" not in r.estimator:  # 'ais-…+importance-…': log p*(x) itself estimated low
        optimistic.append((r, 0.0, r.estimator))
      log_z = (r.details or {}).get("log_z")
      if r.bdmc and "log_z_upper" in r.bdmc and log_z is not None:
        conservative.append((r, log_z - r.bdmc["log_z_upper"],
                             f"{r.estimator} with BDMC's upper log Z"))
    elif log_z_by_ais:
      continue
    elif r.kind == Kind.LOWER_BOUND.value or r.estimator.startswith(
        ("importance", "iwae", "raise", "ais-hmc")):
      conservative.append((r, 0.0, r.estimator))
      if r.estimator.startswith("ais-hmc") and r.bdmc_gap_nats is not None:
        optimistic.append((r, max(r.bdmc_gap_nats, 0.0), f"{r.estimator} + BDMC gap"))
  return conservative, optimistic


def _clear_of_zero(high, low) -> tuple[bool, str]:
  """Whether figure `high` exceeds figure `low` by more than `CERTIFY_Z` stderrs of their
  difference (paired per example where both rows kept values), and the evidence."""
  (a, off_a, src_a), (b, off_b, src_b) = high, low
  if a.values is not None and b.values is not None and a.values.shape == b.values.shape:
    delta, stderr = paired_difference(a.values + off_a, b.values + off_b, a.shared_stderr,
                                      b.shared_stderr)
  else:
    delta = a.mean_nats + off_a - b.mean_nats - off_b
    stderr = math.hypot(a.stderr_nats, b.stderr_nats)
  text = (f"{a.member} {src_a} {a.mean_nats + off_a:.2f} vs {b.member} {src_b} "
          f"{b.mean_nats + off_b:.2f}: {delta:+.2f} ± {stderr:.2f}")
  return delta > CERTIFY_Z * stderr, text


def flag_inverted_brackets(rows: list[Row]) -> list[Row]:
  """Flags, in place, each conservative row of a model that lies above the same model's
  Boltzmann AIS figure on the same examples by more than `CERTIFY_Z` paired stderrs.

  Boltzmann AIS is optimistic in expectation whatever its diagnostics: E[Ẑ] = Z, so
  log Ẑ is high by t nats with probability at most e^−t, and an unreliable log Ẑ
  (low ESS) is low, which makes log p(x) higher still. RAISE, by contrast, is
  conservative only where its annealing model fits the data no better than the model
  itself (Burda et al., 2015). A conservative row clearly above the AIS figure is
  therefore the side that fails: it is flagged ('above own AIS') and unranked, and the
  AIS row keeps its own diagnostics. Flagged AIS rows are compared too, for that
  reason. Only this theorem-backed optimistic figure is used (not HMC-AIS + a BDMC
  gap, whose optimism rests on simulated data).
  """
  for key in dict.fromkeys((r.member, r.binarization, r.count) for r in rows):
    conservative, optimistic = _figures(rows, *key, include_flagged=True)
    optimistic = [f for f in optimistic if f[1] == 0.0 and f[0].kind != Kind.EXACT.value]
    if not optimistic:
      continue
    low = min(optimistic, key=lambda f: f[0].mean_nats)
    for figure in conservative:
      if figure[0].kind == Kind.EXACT.value or figure[0] is low[0]:
        continue
      clear, text = _clear_of_zero(figure, low)
      if clear:
        figure[0].bracket_failure = f"above own AIS, so not conservative here ({text})"
  return rows


def certify_orderings(rows: list[Row]) -> list[dict]:
  """Every ordering of two models within one kind on one set of examples, with its status.

  Models are compared on the same examples only (same kind, binarization and
  count), each by its representative row there: its best healthy row (a flagged
  one only where it has no other). For representatives a (higher mean) and b:
    flagged: a's or b's diagnostics fail (`estimator_health`) and no bracket decides
      (a flagged model's Boltzmann AIS figure still counts as optimistic): unranked.
    reversed: b's conservative figure is above a's optimistic one (`_figures`) by
      more than `CERTIFY_Z` stderrs of their paired difference.
    certified: a's conservative figure is above b's optimistic one likewise
      (by: 'bracket'), or their paired difference is more than `CERTIFY_Z`
      stderrs above zero, neither estimator fails its diagnostics, and no one-sided
      error of either estimator could produce it (`_one_sided_bias`: the same
      estimator on both, or a not optimistic-only and b not conservative-only)
      ('paired').
    not certified: otherwise.
  Returns:
    [{'kind', 'better', 'worse', 'delta_nats', 'delta_stderr', 'status', 'by',
      'evidence'}] (`delta`: paired a − b, None where not paired), in table order.
  """
  out = []
  ordered = sort_rows(rows)
  for kind in dict.fromkeys(r.kind for r in ordered):
    if kind == Kind.PARZEN.value:  # not an estimate of this model's log p(x)
      continue
    sets = {}
    for r in ordered:  # healthy rows first, best first
      if r.kind == kind:
        sets.setdefault((r.binarization, r.count), {}).setdefault(r.member, r)
    for (binarization, count), members in sets.items():
      group = sorted(members.values(), key=lambda r: -r.mean_nats)
      for i, a in enumerate(group):
        for b in group[i + 1:]:
          out.append(_certify_pair(rows, kind, a, b))
  return out


def _one_sided_bias(a: Row, b: Row, cons_a, opt_a, cons_b, opt_b) -> str | None:
  """Why a paired difference between representatives a (higher) and b cannot certify
  a > b, or None where it can.

  The same estimator at the same budget on both models (the papers' 'matched
  budget') errs alike, so its paired difference stands. Across estimators it stands
  only where neither one-sided error can produce it: a's figure must not be an
  optimistic one only (Boltzmann AIS: log Ẑ low in expectation), nor b's a
  conservative one only (a bound, importance sampling, HMC-AIS, RAISE: low in
  expectation, and RAISE with few chains by many nats).
  """
  if a.estimator == b.estimator:
    return None
  zero = lambda figures, row: any(f[0] is row and f[1] == 0.0 for f in figures)
  if zero(opt_a, a) and not zero(cons_a, a):
    return f"{a.member}'s {a.estimator} is an optimistic figure only"
  if zero(cons_b, b) and not zero(opt_b, b):
    return f"{b.member}'s {b.estimator} is a conservative figure only"
  return None


def _certify_pair(rows: list[Row], kind: str, a: Row, b: Row) -> dict:
  """One entry of `certify_orderings` for representatives a (higher mean) and b."""
  delta = stderr = None
  if a.values is not None and b.values is not None:
    delta, stderr = paired_difference(a.values, b.values, a.shared_stderr, b.shared_stderr)
  entry = dict(kind=kind, better=a.name, worse=b.name, delta_nats=delta, delta_stderr=stderr,
               by=None)
  cons_a, opt_a = _figures(rows, a.member, a.binarization, a.count)
  cons_b, opt_b = _figures(rows, b.member, b.binarization, b.count)
  best = lambda figures: max(figures, key=lambda f: f[0].mean_nats + f[1])
  worst = lambda figures: min(figures, key=lambda f: f[0].mean_nats + f[1])
  if a.flagged or b.flagged:
    # A flagged model can still be certified worse (or better) by a bracket: its
    # Boltzmann AIS figure stays optimistic (`_figures`), and healthy rows decide.
    for (cons, opt, status) in ((cons_a, opt_b, "certified"), (cons_b, opt_a, "reversed")):
      if cons and opt:
        clear, text = _clear_of_zero(best(cons), worst(opt))
        if clear:
          return dict(entry, status=status, by="bracket", evidence=text)
    bad = " and ".join(f"{r.name}: {r.diagnostics}" for r in (a, b) if r.flagged)
    return dict(entry, status="flagged", evidence=f"diagnostics fail ({bad})")
  if cons_b and opt_a:
    clear, text = _clear_of_zero(best(cons_b), worst(opt_a))
    if clear:
      return dict(entry, status="reversed", by="bracket", evidence=text)
  if cons_a and opt_b:
    clear, text = _clear_of_zero(best(cons_a), worst(opt_b))
    if clear:  # between exact values the bracket is the values themselves
      return dict(entry, status="certified", by="exact" if kind == Kind.EXACT.value
                  else "bracket", evidence=text)
  if delta is not None and delta > CERTIFY_Z * stderr:
    biased = _one_sided_bias(a, b, cons_a, opt_a, cons_b, opt_b)
    if biased is None:
      return dict(entry, status="certified", by="paired",
                  evidence=f"paired {delta:+.2f} ± {stderr:.2f} clear of zero")
    return dict(entry, status="not certified",
                evidence=f"paired {delta:+.2f} ± {stderr:.2f}, but {biased}; no bracket decides")
  if delta is not None:
    return dict(entry, status="not certified",
                evidence=f"paired {delta:+.2f} ± {stderr:.2f} within {CERTIFY_Z:g} stderr of zero")
  return dict(entry, status="not certified", evidence="no bracket and no per-example values")


def markdown_table(rows: list[Row], title: str, orderings: list[dict] | None = None) -> str:
  lines = [f"# {title}", "",
           "Test-set log p(x) in nats per example, mean ± standard error over test examples.",
           "Rows are ranked only within a kind; numbers of different kinds are not comparable.",
           "Δ vs best: this row minus the kind's best row, mean ± stderr of the per-example",
           "differences on the same test examples (paired: much tighter than the two error",
           "bars combined); – where a run kept no per-example values or no other row shares",
           "its kind, binarization and test examples.",
           "Diagnostics: log Z's effective sample size (Boltzmann AIS) or the HMC acceptance",
           "rate and per-example ESS (HMC-AIS); a row whose diagnostics fail is flagged and",
           "unranked, as is a conservative row (e.g. RAISE) clearly above the same model's",
           "Boltzmann AIS figure, which is optimistic in expectation: 'above own AIS'.",
           "'first N' marks an annealed estimator run on the first N test examples",
           "only (the same N for every member, so those rows stay paired).",
           "Parzen estimates are weak and biased (see genlatent/estimators/parzen.py).", ""]
  for kind in KIND_ORDER + sorted({r.kind for r in rows} - set(KIND_ORDER)):
    group = [r for r in rows if r.kind == kind]
    if not group:
      continue
    lines += [f"## {kind}", "",
              "| member | family | estimator | log p(x) (nats) | Δ vs best, paired | diagnostics "
              "| bits/dim | params | train s | data |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in group:
      bpd = f"{r.bits_per_dim:.4f}" if r.bits_per_dim is not None else "–"
      delta = (f"{r.paired_delta_nats:+.2f} ± {r.paired_delta_stderr:.2f}"
               if r.paired_delta_nats is not None else ("unranked" if r.flagged else "–"))
      estimator = r.estimator + (f" (first {r.first_examples})" if r.first_examples else "")
      health = ("⚠ flagged: " if r.flagged else "") + r.diagnostics
      lines.append(f"| {r.member} | {r.family} | {estimator} | "
                   f"{r.mean_nats:.2f} ± {r.stderr_nats:.2f} ({r.kind}) | {delta} | {health} | "
                   f"{bpd} | {r.num_params:,} | {r.train_seconds:.0f} | {r.binarization} |")
    lines.append("")
    pairs = [o for o in orderings or [] if o["kind"] == kind]
    if pairs:
      lines += [f"Orderings ({kind}):", "",
                "| better | worse | Δ paired (nats) | ordering | evidence |",
                "|---|---|---|---|---|"]
      for o in pairs:
        delta = (f"{o['delta_nats']:+.2f} ± {o['delta_stderr']:.2f}"
                 if o["delta_nats"] is not None else "–")
        status = o["status"] + (f" ({o['by']})" if o["by"] else "")
        lines.append(f"| {o['better']} | {o['worse']} | {delta} | {status} | {o['evidence']} |")
      lines.append("")
  bdmc = {}
  for r in rows:
    if r.bdmc:
      bdmc.setdefault(r.member, r.bdmc)
  if bdmc:
    lines += ["## BDMC gap on simulated data", "",
              "Forward AIS (a stochastic lower bound) and reverse AIS from the exact latent (a",
              "stochastic upper bound) on examples simulated from each model; the gap bounds",
              "the error of its AIS on such data (real data can be harder). Boltzmann models:",
              "the bracket is on log Z, shared by every example.", "",
              "| member | BDMC | simulated examples | lower | upper | gap |",
              "|---|---|---|---|---|---|"]
    for member, b in bdmc.items():
      lines.append(f"| {member} | {b.get('label', 'bdmc')} ({b.get('schedule', '?')}) | "
                   f"{b['num_examples']} | {b['lower']:.2f} ± {b['lower_stderr']:.2f} | "
                   f"{b['upper']:.2f} ± {b['upper_stderr']:.2f} | "
                   f"{b['gap']:.2f} ± {b['gap_stderr']:.2f} |")
    lines.append("")
  return "\n".join(lines)


def write_results(rows: list[Row], out_dir: str, title: str) -> list[str]:
  """results.md, results.csv, results.json and results.png in `out_dir`.

  results.json: one record per row (`COLUMNS`) plus `orderings`, the pairs
  (`certify_orderings`) in which that row is the better one.
  """
  rows = sort_rows(add_paired_differences(flag_inverted_brackets(rows)))
  orderings = certify_orderings(rows)
  paths = [os.path.join(out_dir, f"results.{ext}") for ext in ("md", "csv", "json")]
  with open(paths[0], "w", encoding="utf-8") as f:
    f.write(markdown_table(rows, title, orderings))
  with open(paths[1], "w", encoding="utf-8", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
      writer.writerow(r.record())
  with open(paths[2], "w", encoding="utf-8") as f:
    json.dump([dict(r.record(), orderings=[o for o in orderings if o["better"] == r.name])
               for r in rows], f, indent=2)
  groups = {}
  for r in rows:
    label = f"{r.member} · {r.estimator}" + (f" (first {r.first_examples})"
                                             if r.first_examples else "")
    groups.setdefault(r.kind, []).append((label, r.mean_nats, r.stderr_nats, r.flagged))
  if groups:
    paths.append(viz.save_log_likelihood_figure(groups, os.path.join(out_dir, "results.png"),
                                                title))
  return paths


def member_samples(workdir: str, key, n: int = 16) -> np.ndarray | None:
  """[n, H, W, C] images sampled from a trained run, or None for a family without `sample`."""
  _, dataset, model, backend, state = train.restore_workdir(workdir)
  if model.sample is None:
    return None
  params = backend.host_state(state).params
  sample = jax.jit(lambda k: model.sample(params, k, n))
  return dataset.to_images(np.asarray(sample(key)))


def check_bdmc_counts(num_examples: int | None, num_chains: int,
                      fields: tuple[str, str] = ("--bdmc", "--bdmc_chains")) -> None:
  """One line naming the field unless BDMC's counts make sense (None or 0 examples: no
  BDMC)."""
  if num_examples is not None and num_examples != 0 and num_examples < 2:
    raise ValueError(f"{fields[0]}={num_examples} is invalid; BDMC needs at least 2 simulated "
                     "examples (their spread is the stderr), e.g. 64.")
  if num_chains < 2:
    raise ValueError(f"{fields[1]}={num_chains} is invalid; give at least 2 chains, e.g. 16.")


def check_bdmc_supported(model, params, field: str = "--bdmc") -> None:
  """One line naming `field` when `model` has no BDMC (`bdmc.unsupported_reason`)."""
  reason = bdmc_lib.unsupported_reason(model, params)
  if reason is not None:
    raise ValueError(f"{field}: {reason}.")


def write_bdmc(workdir: str, num_examples: int, num_chains: int, restored=None) -> dict:
  """BDMC on `num_examples` examples simulated from the run in `workdir`, into eval.json.

  Adds (or replaces) eval.json's `bdmc` section: `bdmc.bdmc_report` (lower, upper,
  gap, nats, with stderrs; the simulated examples' count) and `bdmc_settings`
  (schedule, its length, chains), plus the HMC acceptance rates of both runs
  for decoder models. Keys come from `fold_in(PRNGKey(config.seed), 4_000_000)`.
  The caller holds the workdir's lock.

  Args:
    restored: `train.restore_workdir(workdir)` where the caller has it already.
  Raises:
    ValueError: one line: the model has no BDMC, or eval.json is missing or of
      another step than the checkpoint.
  """
  config, _, model, backend, state = restored or train.restore_workdir(workdir)
  host = backend.host_state(state)
  check_bdmc_supported(model, host.params)
  path = os.path.join(workdir, "eval.json")
  payload = workdir_lib.read_json(path) if os.path.exists(path) else None
  if payload is None or payload.get("step") != int(host.step):
    raise ValueError(f"--bdmc adds to the eval.json of step {int(host.step)}, which {workdir} "
                     f"lacks; run python -m experiments.evaluate --workdir={workdir} first.")
  key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 4_000_000)
  start = time.perf_counter()
  result = jax.jit(lambda p, k: bdmc_lib.model_bdmc(model, p, k, num_examples, num_chains))(
      host.params, key)
  report = dict(bdmc_lib.bdmc_report(result), **bdmc_lib.bdmc_settings(model, num_chains),
                seconds=round(time.perf_counter() - start, 1))
  if hasattr(result.forward, "acceptance_rate"):
    report.update(
        forward_acceptance_mean=float(np.mean(np.asarray(result.forward.acceptance_rate))),
        reverse_acceptance_mean=float(np.mean(np.asarray(result.reverse.acceptance_rate))),
        forward_ess_mean=float(np.mean(np.asarray(result.forward.effective_sample_size))))
  else:
    report.update(forward_ess=float(result.forward.effective_sample_size),
                  reverse_ess=float(result.reverse.effective_sample_size))
  payload["bdmc"] = report
  workdir_lib.write_json(path, payload)
  return report


def bdmc_text(report: dict) -> str:
  """One line for the console."""
  return (f"bdmc on {report['num_examples']} simulated examples ({report['label']}, "
          f"{report['schedule']}): lower {report['lower']:.2f} ± {report['lower_stderr']:.2f}, "
          f"upper {report['upper']:.2f} ± {report['upper_stderr']:.2f}, gap "
          f"{report['gap']:.2f} ± {report['gap_stderr']:.2f} nats"
          + (f" ({report['seconds']:.0f}s)" if "seconds" in report else ""))


def sample_panel(samples: dict[str, np.ndarray], path: str) -> str:
  """One PNG: a titled 4×4 grid of samples per model."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from genlatent.viz import tile
  names = list(samples)
  columns = min(4, len(names))
  rows = math.ceil(len(names) / columns)
  fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.3 * rows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, name in zip(axes.ravel(), names):
    grid = tile(samples[name], columns=4)
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
    ax.set_title(name, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)
  return path


def suite_config(title: str, data: dict, members, *, parzen_samples: int,
                 seed: int = 0, annealed_examples: int = 0, bdmc_examples: int = 0,
                 bdmc_chains: int = 16) -> ml_collections.ConfigDict:
  """A suite as plain data, for `configs/suites/*.py`.

  Args:
    title: the heading of results.md.
    data: config.data fields every member shares (split, binarization, seed).
    members: (name, config reference, overrides dict) triples, or quadruples whose
      fourth entry is estimators to add to the member's own eval.estimators
      (e.g. 'ais:16': HMC-AIS beside a VAE's importance sampling).
    parzen_samples: samples per member for the shared Parzen row (0: none).
    annealed_examples: N > 0: every member's annealed estimators (ais, raise)
      score the first N test examples only (eval.annealed_examples), so that
      their rows stay paired; 0: all.
    bdmc_examples, bdmc_chains: N > 0: each member whose family has AIS gets a
      BDMC bracket on N simulated examples (`write_bdmc`), shown in results.md.
  """
  suite = ml_collections.ConfigDict()
  suite.title = title
  suite.seed = seed
  suite.data = ml_collections.ConfigDict(data)
  suite.parzen = ml_collections.ConfigDict(dict(num_samples=parzen_samples))
  suite.annealed_examples = annealed_examples
  suite.bdmc = ml_collections.ConfigDict(dict(num_examples=bdmc_examples,
                                              num_chains=bdmc_chains))
  suite.members = [ml_collections.ConfigDict(dict(name=n, config=c, overrides=o,
                                                  add_estimators=extra[0] if extra else ""))
                   for n, c, o, *extra in members]
  return suite


def member_config(suite, member):
  """A member's config: its own reference, the suite's shared data and seed, its overrides."""
  config = runs.load_config_ref(member.config)
  config.data.update(suite.data.to_dict())
  config.seed = suite.seed
  config.progress_bar = False  # one line per member in the suite's log instead
  if suite.get("annealed_examples", 0):  # absent from older suites' configs
    config.eval.annealed_examples = suite.annealed_examples
  overrides = member.get("overrides", ml_collections.ConfigDict())
  config = runs.apply_overrides(config, runs.flatten_overrides(overrides.to_dict()))
  if member.get("add_estimators", ""):
    config.eval.estimators = f"{config.eval.estimators},{member.add_estimators}"
  return config


def check_member_names(suite) -> None:
  """Raises ValueError, one line per problem, unless every member name is a distinct,
  single safe folder name (members train in `<workdir>/<name>`)."""
  problems, seen = [], {}
  for i, member in enumerate(suite.members):
    name = member.get("name")
    if not isinstance(name, str) or not name.strip():
      problems.append(f"suite member {i} has no name; give it a folder name such as 'vae'.")
      continue
    if (name.startswith(".") or name != name.strip()
        or any(c in name for c in ("/", "\\", "\0", ":"))):
      safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "member"
      problems.append(f"suite member {i} is named {name!r}, which is not a single folder name "
                      f"inside the workdir; use letters, digits, '_', '-' and '.', e.g. {safe!r}.")
      continue
    if name.lower() in seen:  # case-insensitive file systems would share the folder
      j, other = seen[name.lower()]
      problems.append(f"suite members {j} ({other!r}) and {i} ({name!r}) would share one "
                      "folder; give each member its own name.")
      continue
    seen[name.lower()] = (i, name)
  if problems:
    raise ValueError("\n".join(problems))


def maybe_bdmc(suite, name: str, member_dir: str, log=print) -> None:
  """Adds a BDMC section to a member's eval.json where the suite asks for one, the
  member's family has one, and eval.json lacks one of the same settings."""
  settings = suite.get("bdmc")
  if not settings or not settings.num_examples:
    return
  with workdir_lib.claim(member_dir, create=False):
    restored = train.restore_workdir(member_dir)
    _, _, model, backend, state = restored
    reason = bdmc_lib.unsupported_reason(model, backend.host_state(state).params)
    if reason is not None:
      log(f"[{name}] no BDMC: {reason}.")
      return
    old = (workdir_lib.read_json(os.path.join(member_dir, "eval.json")) or {}).get("bdmc")
    schedule = bdmc_lib.bdmc_settings(model, settings.num_chains)["schedule"]
    if old and (old.get("num_examples"), old.get("num_chains"), old.get("schedule")) == (
        settings.num_examples, settings.num_chains, schedule):
      return
    report = write_bdmc(member_dir, settings.num_examples, settings.num_chains, restored)
    log(f"[{name}] {bdmc_text(report)}")


def run_suite(suite, workdir: str, log=print) -> list[Row]:
  """Trains (or reuses) every member in `<workdir>/<member>` and writes the results.

  A member whose config changed since its folder was trained is retrained from
  scratch, the old folder set aside (see `runs.run_or_reuse`).
  """
  check_member_names(suite)
  if suite.get("bdmc") and suite.bdmc.num_examples:  # before any member trains
    check_bdmc_counts(suite.bdmc.num_examples, suite.bdmc.num_chains,
                      ("suite bdmc_examples", "suite bdmc_chains"))
  os.makedirs(workdir, exist_ok=True)
  start = time.perf_counter()
  rows, panel = [], {}
  key = jax.random.PRNGKey(suite.seed)
  for i, member in enumerate(suite.members):
    member_dir = os.path.join(workdir, member.name)
    config = member_config(suite, member)
    outcome = runs.run_or_reuse(config, member_dir, name=member.name, log=log)
    log(f"[{member.name}] {'reused' if outcome['reused'] else 'trained'} in "
        f"{outcome['seconds']:.0f}s")
    maybe_bdmc(suite, member.name, member_dir, log)
    member_rows = rows_from_eval(member.name, member.config, member_dir)
    has_parzen = any(r.kind == Kind.PARZEN.value for r in member_rows)
    if suite.parzen.num_samples and member.get("parzen", True) and not has_parzen:
      started = time.perf_counter()
      row, images = parzen_row(member.name, member.config, member_dir, suite.parzen.num_samples,
                               jax.random.fold_in(key, i), member_rows[0] if member_rows else None)
      member_rows.append(row)
      panel[member.name] = images
      log(f"[{member.name}] parzen in {time.perf_counter() - started:.0f}s")
    else:  # e.g. a member whose own estimators include Parzen (the AAE) still samples
      images = member_samples(member_dir, jax.random.fold_in(jax.random.fold_in(key, i), 1))
      if images is not None:
        panel[member.name] = images
    for r in member_rows:
      log(f"  {r.text()}")
    rows += member_rows
  paths = write_results(rows, workdir, suite.title)
  if panel:  # every member that can sample, in suite order
    paths.append(sample_panel(panel, os.path.join(workdir, "samples_panel.png")))
    log(f"samples_panel.png: {', '.join(panel)}")
  log(f"Suite finished in {time.perf_counter() - start:.0f}s: " + ", ".join(paths))
  return sort_rows(rows)
