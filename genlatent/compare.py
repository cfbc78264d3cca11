"""One table of families on the same splits: every number with its estimator and kind.

Rows are grouped by kind (exact, lower bound, estimate, Parzen estimate) and sorted by
log-likelihood only within a kind: a bound below an estimate says nothing about which
model is better, so the table never ranks across kinds.
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

from genlatent import runs
from genlatent.core import Kind, paired_difference

KIND_ORDER = [k.value for k in Kind]
COLUMNS = ("member", "family", "config", "binarization", "num_params", "train_seconds",
           "estimator", "kind", "mean_nats", "stderr_nats", "count", "bits_per_dim",
           "paired_best", "paired_delta_nats", "paired_delta_stderr")


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

  def record(self) -> dict:
    """The row as written to results.csv / results.json."""
    return {c: getattr(self, c) for c in COLUMNS}

  def text(self) -> str:
    return f"{self.mean_nats:.2f} ± {self.stderr_nats:.2f} nats ({self.estimator}, {self.kind})"


def rows_from_eval(member: str, config_ref: str, workdir: str, split: str = "test") -> list[Row]:
  """The rows of one run's eval.json (every estimator it reported)."""
  with open(os.path.join(workdir, "eval.json"), encoding="utf-8") as f:
    report = json.load(f)
  from genlatent.train import evaluation
  values = evaluation.load_eval_values(workdir)
  return [Row(member, report.get("model", "?"), config_ref, report.get("binarization", "?"),
              int(report.get("num_params", 0)), float(report.get("train_seconds", 0.0)),
              r["estimator"], r["kind"], r["mean_nats"], r["stderr_nats"], r["count"],
              r.get("bits_per_dim"), values=values.get(r.get("values_key")),
              shared_stderr=float((r.get("details") or {}).get("shared_stderr", 0.0)))
          for r in report["splits"][split]]


def add_paired_differences(rows: list[Row]) -> list[Row]:
  """Fills each row's paired difference to the best row of its kind, in place.

  Rows are paired only on the same examples: within one kind, among the rows
  with per-example values of the same binarization and count (a GMM on grey
  levels is not paired with binary models). The others keep None; the best
  row's own entry is 0 ± 0.
  """
  groups = {}
  for r in rows:
    if r.values is not None:
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
  from genlatent import train
  from genlatent.estimators import parzen
  config, dataset, model, backend, state = train.restore_workdir(workdir)
  params = backend.host_state(state).params
  sample = jax.jit(lambda k, n: model.sample(params, k, n), static_argnums=1)
  summary = parzen.parzen_summary(sample, key, dataset.validation.x, dataset.test.x,
                                  num_samples=num_samples)
  images = dataset.to_images(np.asarray(sample(jax.random.fold_in(key, 1), 16)))
  row = Row(member, config.model.name, config_ref, config.data.binarization,
            base.num_params if base else 0, base.train_seconds if base else 0.0,
            summary.estimator, summary.kind.value, summary.mean, summary.stderr, summary.count,
            None, values=summary.values)
  return row, images


def sort_rows(rows: list[Row]) -> list[Row]:
  """Grouped by kind in a fixed order, best first within each kind."""
  return sorted(rows, key=lambda r: (KIND_ORDER.index(r.kind) if r.kind in KIND_ORDER else 99,
                                     -r.mean_nats))


def markdown_table(rows: list[Row], title: str) -> str:
  lines = [f"# {title}", "",
           "Test-set log p(x) in nats per example, mean ± standard error over test examples.",
           "Rows are ranked only within a kind; numbers of different kinds are not comparable.",
           "Δ vs best: this row minus the kind's best row, mean ± stderr of the per-example",
           "differences on the same test examples (paired: much tighter than the two error",
           "bars combined); – where a run kept no per-example values or no other row shares",
           "its kind, binarization and test examples.",
           "Parzen estimates are weak and biased (see genlatent/estimators/parzen.py).", ""]
  for kind in KIND_ORDER + sorted({r.kind for r in rows} - set(KIND_ORDER)):
    group = [r for r in rows if r.kind == kind]
    if not group:
      continue
    lines += [f"## {kind}", "",
              "| member | family | estimator | log p(x) (nats) | Δ vs best, paired | bits/dim "
              "| params | train s | data |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in group:
      bpd = f"{r.bits_per_dim:.4f}" if r.bits_per_dim is not None else "–"
      delta = (f"{r.paired_delta_nats:+.2f} ± {r.paired_delta_stderr:.2f}"
               if r.paired_delta_nats is not None else "–")
      lines.append(f"| {r.member} | {r.family} | {r.estimator} | "
                   f"{r.mean_nats:.2f} ± {r.stderr_nats:.2f} ({r.kind}) | {delta} | {bpd} | "
                   f"{r.num_params:,} | {r.train_seconds:.0f} | {r.binarization} |")
    lines.append("")
  return "\n".join(lines)


def write_results(rows: list[Row], out_dir: str, title: str) -> list[str]:
  """results.md, results.csv and results.json in `out_dir`."""
  rows = sort_rows(add_paired_differences(rows))
  paths = [os.path.join(out_dir, f"results.{ext}") for ext in ("md", "csv", "json")]
  with open(paths[0], "w", encoding="utf-8") as f:
    f.write(markdown_table(rows, title))
  with open(paths[1], "w", encoding="utf-8", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
      writer.writerow(r.record())
  with open(paths[2], "w", encoding="utf-8") as f:
    json.dump([r.record() for r in rows], f, indent=2)
  return paths


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
                 seed: int = 0) -> ml_collections.ConfigDict:
  """A suite as plain data, for `configs/suites/*.py`.

  Args:
    title: the heading of results.md.
    data: config.data fields every member shares (split, binarization, seed).
    members: (name, config reference, overrides dict) triples.
    parzen_samples: samples per member for the shared Parzen row (0: none).
  """
  suite = ml_collections.ConfigDict()
  suite.title = title
  suite.seed = seed
  suite.data = ml_collections.ConfigDict(data)
  suite.parzen = ml_collections.ConfigDict(dict(num_samples=parzen_samples))
  suite.members = [ml_collections.ConfigDict(dict(name=n, config=c, overrides=o))
                   for n, c, o in members]
  return suite


def member_config(suite, member):
  """A member's config: its own reference, the suite's shared data and seed, its overrides."""
  config = runs.load_config_ref(member.config)
  config.data.update(suite.data.to_dict())
  config.seed = suite.seed
  config.progress_bar = False  # one line per member in the suite's log instead
  overrides = member.get("overrides", ml_collections.ConfigDict())
  return runs.apply_overrides(config, runs.flatten_overrides(overrides.to_dict()))


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


def run_suite(suite, workdir: str, log=print) -> list[Row]:
  """Trains (or reuses) every member in `<workdir>/<member>` and writes the results.

  A member whose config changed since its folder was trained is retrained from
  scratch, the old folder set aside (see `runs.run_or_reuse`).
  """
  check_member_names(suite)
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
    member_rows = rows_from_eval(member.name, member.config, member_dir)
    has_parzen = any(r.kind == Kind.PARZEN.value for r in member_rows)
    if suite.parzen.num_samples and member.get("parzen", True) and not has_parzen:
      row, images = parzen_row(member.name, member.config, member_dir, suite.parzen.num_samples,
                               jax.random.fold_in(key, i), member_rows[0] if member_rows else None)
      member_rows.append(row)
      panel[member.name] = images
    for r in member_rows:
      log(f"  {r.text()}")
    rows += member_rows
  paths = write_results(rows, workdir, suite.title)
  if panel:
    paths.append(sample_panel(panel, os.path.join(workdir, "samples_panel.png")))
  log(f"Suite finished in {time.perf_counter() - start:.0f}s: " + ", ".join(paths))
  return sort_rows(rows)
