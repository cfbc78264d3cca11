"""A tiny suite end to end: one table, rows per member and kind, reuse on rerun."""

import csv
import glob
import json
import os

import numpy as np
import pytest

from genlatent import compare, runs
from genlatent.models import build_model


def _suite():
  return compare.suite_config(
      "tiny", dict(source="digits", validation_size=197, binarization="static", threshold=0.5,
                   seed=0),
      [("gmm", "configs/gmm.py:smoke", {"data": {"binarization": "none"}}),
       ("rbm_pcd", "configs/rbm.py:smoke,pcd", {}),
       ("vae", "configs/vae.py:smoke", {"eval": {"estimators": "elbo:2,importance:10"}})],
      parzen_samples=200)


@pytest.mark.slow
def test_tiny_suite_table_and_reuse(tmp_path):
  lines = []
  rows = compare.run_suite(_suite(), str(tmp_path), log=lines.append)
  kinds = {(r.member, r.kind) for r in rows}
  assert ("gmm", "exact") in kinds
  assert ("rbm_pcd", "estimate") in kinds          # AIS
  assert ("vae", "lower bound") in kinds and ("vae", "estimate") in kinds
  assert {r.member for r in rows if r.kind == "parzen estimate"} == {"gmm", "rbm_pcd", "vae"}
  # Grouped by kind, best first within a kind, never across kinds.
  order = [compare.KIND_ORDER.index(r.kind) for r in rows]
  assert order == sorted(order)
  for kind in set(r.kind for r in rows):
    means = [r.mean_nats for r in rows if r.kind == kind]
    assert means == sorted(means, reverse=True)
  with open(tmp_path / "results.csv") as f:
    table = list(csv.DictReader(f))
  assert tuple(table[0]) == compare.COLUMNS and len(table) == len(rows)
  assert all(r["kind"] and r["estimator"] for r in table)
  assert json.loads((tmp_path / "results.json").read_text())[0]["kind"] == rows[0].kind
  markdown = (tmp_path / "results.md").read_text()
  assert "## exact" in markdown and "## parzen estimate" in markdown
  assert (tmp_path / "samples_panel.png").stat().st_size > 0
  assert all(r.num_params > 0 for r in rows)
  # Paired differences: to the best of each kind, on the same test examples.
  for kind in {r.kind for r in rows}:
    group = [r for r in rows if r.kind == kind and r.binarization == "static"]
    if len(group) < 2:
      continue
    best = max(group, key=lambda r: r.mean_nats)
    assert best.paired_delta_nats == 0.0 and best.paired_delta_stderr == 0.0
    for r in group:
      assert r.paired_best == f"{best.member}/{best.estimator}"
      np.testing.assert_allclose(r.paired_delta_nats, r.mean_nats - best.mean_nats, atol=1e-6)
      if r is not best:
        assert 0.0 < r.paired_delta_stderr < float("inf")
  assert "Δ vs best, paired" in markdown and "paired_delta_nats" in table[0]
  # Rerunning reuses every finished member.
  again = []
  compare.run_suite(_suite(), str(tmp_path), log=again.append)
  assert sum("reused" in line for line in again) == 3


SUITES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "suites", "[!_]*.py")))


@pytest.mark.parametrize("path", SUITES, ids=os.path.basename)
def test_every_shipped_suite_resolves_and_builds(path):
  # A typo in a member's config reference or override surfaces here, not an hour into a run.
  suite = runs.load_config_ref(path)
  assert suite.members and len({m.name for m in suite.members}) == len(suite.members)
  for member in suite.members:
    config = compare.member_config(suite, member)
    pca = config.data.get("pca_components", 0)
    model = build_model(config.model, (pca,) if pca else (28, 28, 1))
    assert model.log_likelihood is not None
