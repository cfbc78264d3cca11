"""A tiny suite end to end: one table, rows per member and kind, reuse on rerun."""

import csv
import glob
import json
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from genlatent import compare, estimators, runs
from genlatent.models import build_model
from genlatent.train import evaluation
from genlatent.train.workdir import WorkdirBusyError


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
  for kind in set(r.kind for r in rows):  # flagged rows last, unranked
    means = [r.mean_nats for r in rows if r.kind == kind and not r.flagged]
    assert means == sorted(means, reverse=True)
  with open(tmp_path / "results.csv") as f:
    table = list(csv.DictReader(f))
  assert tuple(table[0]) == compare.COLUMNS and len(table) == len(rows)
  assert all(r["kind"] and r["estimator"] for r in table)
  assert json.loads((tmp_path / "results.json").read_text())[0]["kind"] == rows[0].kind
  markdown = (tmp_path / "results.md").read_text()
  assert "## exact" in markdown and "## parzen estimate" in markdown
  assert (tmp_path / "samples_panel.png").stat().st_size > 0
  assert (tmp_path / "results.png").stat().st_size > 0
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
    # Every estimator the member asks for serves its family.
    specs = [config.eval.estimators] + ([config.eval.validation_estimator]
                                        if config.eval_every else [])
    for spec in specs:
      for name, _ in evaluation.parse_estimators(spec):
        estimators.resolve(name, model)


def _two_vae_suite(learning_rate_b):
  """Two tiny VAE members; only `b`'s learning rate varies between calls."""
  base = {"num_steps": 4, "checkpoint_every": 2, "eval_every": 0, "log_every": 2,
          "eval": {"estimators": "elbo:2"}}
  return compare.suite_config(
      "two", dict(source="digits", validation_size=197, binarization="static", threshold=0.5,
                  seed=0),
      [("a", "configs/vae.py:smoke", base),
       ("b", "configs/vae.py:smoke", dict(base, optimizer={"learning_rate": learning_rate_b}))],
      parzen_samples=0)


def _means(rows):
  return {(r.member, r.estimator): r.mean_nats for r in rows}


def test_a_changed_member_is_retrained_from_scratch_and_the_old_run_kept(tmp_path):
  compare.run_suite(_two_vae_suite(1e-3), str(tmp_path / "suite"), log=lambda s: None)
  old_b = json.loads((tmp_path / "suite" / "b" / "eval.json").read_text())
  lines = []
  rows = compare.run_suite(_two_vae_suite(1e-2), str(tmp_path / "suite"), log=lines.append)
  # The unchanged member is reused; the changed one is named, with the field that differs.
  assert "[a] reused in 0s" in lines
  changed = [line for line in lines if "config changed" in line]
  assert len(changed) == 1 and changed[0].startswith("[b]")
  assert "optimizer.learning_rate: 0.001 → 0.01" in changed[0]
  assert any(line.startswith("[b] trained") for line in lines)
  # The old run is kept whole beside the new one, never deleted.
  (aside,) = glob.glob(str(tmp_path / "suite" / "b.replaced-*"))
  assert json.loads(open(os.path.join(aside, "eval.json")).read()) == old_b
  assert json.loads(open(os.path.join(aside, "config.json")).read())["optimizer"][
      "learning_rate"] == 1e-3
  # The new numbers are those of a fresh run of the new config, not the old model's.
  fresh = compare.run_suite(_two_vae_suite(1e-2), str(tmp_path / "fresh"), log=lambda s: None)
  assert _means(rows) == _means(fresh)
  assert _means(rows)["b", "elbo"] != old_b["splits"]["test"][0]["mean_nats"]
  # A third run of the same config reuses both members.
  again = []
  compare.run_suite(_two_vae_suite(1e-2), str(tmp_path / "suite"), log=again.append)
  assert sum("reused" in line for line in again) == 2


def test_a_member_whose_evaluation_alone_changed_is_re_evaluated_not_retrained(tmp_path):
  workdir = tmp_path / "suite"
  compare.run_suite(_two_vae_suite(1e-3), str(workdir), log=lambda s: None)
  old_b = json.loads((workdir / "b" / "eval.json").read_text())
  checkpoints = sorted(os.listdir(workdir / "b" / "checkpoints"))
  metrics = (workdir / "b" / "metrics.jsonl").read_text()
  suite = _two_vae_suite(1e-3)
  suite.members[1].overrides.eval.estimators = "elbo:2,importance:4"
  # An annealed estimator's schedule is evaluation-only too (no family trains with it).
  suite.members[1].overrides.model = ml_collections.ConfigDict(dict(ais_schedule="sigmoid:7"))
  lines = []
  rows = compare.run_suite(suite, str(workdir), log=lines.append)
  assert "[a] reused in 0s" in lines
  (line,) = [line for line in lines if line.startswith("[b] evaluation settings changed")]
  assert "eval.estimators: 'elbo:2' → 'elbo:2,importance:4'" in line
  assert "model.ais_schedule: 'sigmoid:1000' → 'sigmoid:7'" in line
  # Nothing retrained or set aside: same checkpoints, no new training rows.
  assert not glob.glob(str(workdir / "b.replaced-*"))
  assert sorted(os.listdir(workdir / "b" / "checkpoints")) == checkpoints
  assert (workdir / "b" / "metrics.jsonl").read_text() == metrics
  # The old results are kept; the new eval.json has both estimators, the elbo unchanged.
  (kept,) = glob.glob(str(workdir / "b" / "eval.replaced-*.json"))
  assert kept in line and json.loads(open(kept).read()) == old_b
  means = _means(rows)
  assert means["b", "elbo"] == old_b["splits"]["test"][0]["mean_nats"]
  assert ("b", "importance-4") in means
  again = []
  compare.run_suite(suite, str(workdir), log=again.append)
  assert sum("reused" in line for line in again) == 2


@pytest.mark.slow
def test_a_member_another_process_holds_is_neither_trained_nor_moved(tmp_path):
  """Two `compare` runs on one workdir: the second meets each member's lock."""
  suite = _two_vae_suite(1e-3)
  compare.run_suite(suite, str(tmp_path), log=lambda s: None)
  listing = lambda: sorted(set(os.listdir(tmp_path / "b")) - {"lock"})
  before = listing()
  rows = (tmp_path / "b" / "metrics.jsonl").read_text()
  # Another process holds b (its lock is an flock, so a second open file description in
  # this process stands in for it); b's config changed, so b would be moved aside.
  script = ("import sys, time; from genlatent.train import workdir\n"
            f"with workdir.claim({str(tmp_path / 'b')!r}, create=False):\n"
            "  print('held', flush=True); time.sleep(60)\n")
  holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(WorkdirBusyError):
      compare.run_suite(_two_vae_suite(1e-2), str(tmp_path), log=lambda s: None)
  finally:
    holder.kill()
    holder.wait()
  assert listing() == before and not glob.glob(str(tmp_path / "b.*"))
  assert (tmp_path / "b" / "metrics.jsonl").read_text() == rows  # no row written twice


def test_an_interrupted_member_of_the_same_config_resumes_in_place(tmp_path):
  suite = _two_vae_suite(1e-3)
  compare.run_suite(suite, str(tmp_path), log=lambda s: None)
  member = tmp_path / "b"
  expected = json.loads((member / "eval.json").read_text())
  # As if killed after its last checkpoint: no eval.json yet.
  (member / "eval.json").unlink()
  lines = []
  compare.run_suite(suite, str(tmp_path), log=lines.append)
  assert not glob.glob(str(tmp_path / "b.replaced-*"))
  assert not any("config changed" in line for line in lines)
  result = json.loads((member / "eval.json").read_text())
  assert result["splits"]["test"][0]["mean_nats"] == expected["splits"]["test"][0]["mean_nats"]


@pytest.mark.parametrize("names, message", [
    (["vae", "vae"], "suite members 0 ('vae') and 1 ('vae') would share one folder"),
    (["vae", "VAE"], "suite members 0 ('vae') and 1 ('VAE') would share one folder"),
    (["../escaped"], "suite member 0 is named '../escaped', which is not a single folder name"),
    (["a/b"], "suite member 0 is named 'a/b', which is not a single folder name"),
    ([".."], "suite member 0 is named '..', which is not a single folder name"),
    ([""], "suite member 0 has no name"),
])
def test_duplicate_and_unsafe_member_names_are_refused_before_any_work(tmp_path, names, message):
  suite = compare.suite_config("bad", {}, [(n, "configs/vae.py:smoke", {}) for n in names],
                               parzen_samples=0)
  with pytest.raises(ValueError) as error:
    compare.run_suite(suite, str(tmp_path / "suite"), log=lambda s: None)
  assert str(error.value).splitlines() == [str(error.value)] and message in str(error.value)
  assert not os.path.exists(tmp_path / "suite") and not os.path.exists(tmp_path / "escaped")


def test_the_cli_refuses_bad_member_names_in_one_line(tmp_path):
  suite_file = tmp_path / "bad_suite.py"
  suite_file.write_text(
      "from genlatent import compare\n"
      "def get_config():\n"
      "  return compare.suite_config('bad', {}, [('vae', 'configs/vae.py:smoke', {}),\n"
      "      ('vae', 'configs/gmm.py:smoke', {}), ('../escaped', 'configs/vae.py:smoke', {})],\n"
      "      parzen_samples=0)\n")
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run(
      [sys.executable, "-m", "experiments.compare", f"--suite={suite_file}",
       f"--workdir={tmp_path / 'suite'}"], cwd=repo, capture_output=True, text=True, timeout=120,
      env=dict(os.environ, PYTHONPATH=repo))
  assert result.returncode == 1
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr  # every bad name, in the one error line
  assert "members 0 ('vae') and 1 ('vae')" in lines[0] and "'../escaped'" in lines[0]
  assert not os.path.exists(tmp_path / "suite")


# ----------------------------------------------------------------- certified orderings


def _row(member, estimator, kind, values, details=None, bdmc=None, shared_stderr=0.0):
  values = np.asarray(values, np.float64)
  return compare.Row(member, "f", "c", "static", 1, 0.0, estimator, kind, float(values.mean()),
                     float(values.std(ddof=1) / np.sqrt(values.size)), values.size, None,
                     values=values, shared_stderr=shared_stderr, details=details, bdmc=bdmc)


def _healthy_ais(log_z=10.0):
  return {"log_partition_estimator": "ais-16x300", "log_z": log_z, "shared_stderr": 0.05,
          "ais_effective_sample_size": 12.0, "ais_reliable": True}


def _status(orderings, better, worse):
  found = [o for o in orderings if (o["better"], o["worse"]) == (better, worse)]
  assert len(found) == 1, orderings
  return found[0]["status"], found[0]["by"]


BASE = np.linspace(-22.0, -18.0, 40)  # per-example nats every member shares (hard examples)
NOISE, NOISE_2 = np.random.default_rng(0).normal(0.0, 1.0, (2, 40))
NOISE, NOISE_2 = NOISE - NOISE.mean(), NOISE_2 - NOISE_2.mean()  # means exactly as written


def test_raise_above_the_others_ais_certifies_by_bracket():
  rows = [
      # dbm: AIS (optimistic) −19.8, RAISE (conservative) −19.9
      _row("dbm", "ais-16x300", "estimate", BASE + 0.2, _healthy_ais()),
      _row("dbm", "raise-16x300", "estimate", BASE + 0.1),
      # rbm: AIS −20.5, below dbm's RAISE: dbm > rbm certified by the bracket
      _row("rbm", "ais-16x300", "estimate", BASE - 0.5 + 0.3 * NOISE, _healthy_ais()),
      # cd1: AIS −19.75, RAISE −19.6: its conservative figure is above dbm's
      # optimistic −19.8, so cd1 > dbm is certified too
      _row("cd1", "ais-16x300", "estimate", BASE + 0.25 + 0.3 * NOISE, _healthy_ais()),
      _row("cd1", "raise-16x300", "estimate", BASE + 0.4 + 0.3 * NOISE),
  ]
  orderings = compare.certify_orderings(compare.add_paired_differences(rows))
  # One pair per two models, each by its best row on these examples.
  assert len(orderings) == 3
  assert _status(orderings, "dbm/ais-16x300", "rbm/ais-16x300") == ("certified", "bracket")
  assert _status(orderings, "cd1/raise-16x300", "dbm/ais-16x300") == ("certified", "bracket")
  assert _status(orderings, "cd1/raise-16x300", "rbm/ais-16x300") == ("certified", "bracket")
  # A bracket within the noise certifies nothing: RAISE −19.9 vs AIS −19.85.
  close = [rows[0], rows[1], _row("pcd", "ais-16x300", "estimate", BASE + 0.15 + 0.3 * NOISE,
                                  _healthy_ais())]
  orderings = compare.certify_orderings(compare.add_paired_differences(close))
  assert _status(orderings, "dbm/ais-16x300", "pcd/ais-16x300") == ("not certified", None)


def test_an_ordering_the_brackets_contradict_is_reversed():
  rows = [
      # a's estimate is higher, but it is an optimistic AIS figure; b's lower bound
      # (conservative, another kind) is above it: b is the better model.
      _row("a", "ais-16x300", "estimate", BASE + 0.5 + 0.2 * NOISE, _healthy_ais()),
      _row("b", "ais-16x300", "estimate", BASE + 0.4, _healthy_ais()),
      _row("b", "elbo", "lower bound", BASE + 0.7),
  ]
  orderings = compare.certify_orderings(compare.add_paired_differences(rows))
  assert _status(orderings, "a/ais-16x300", "b/ais-16x300") == ("reversed", "bracket")


def test_paired_intervals_certify_or_not_without_brackets(tmp_path):
  rows = [
      _row("iwae", "importance-20", "estimate", BASE + 0.5 + 0.05 * NOISE),
      _row("vae", "importance-20", "estimate", BASE),
      _row("vamp", "importance-20", "estimate", BASE - 0.01 + 0.5 * NOISE),
  ]
  orderings = compare.certify_orderings(compare.add_paired_differences(rows))
  # +0.5 nats, paired stderr ~0.01: certified. vae vs vamp: ~0.01 ± 0.08, not.
  assert _status(orderings, "iwae/importance-20", "vae/importance-20") == ("certified", "paired")
  assert _status(orderings, "vae/importance-20", "vamp/importance-20") == ("not certified", None)
  # Importance sampling is conservative only: no bracket without an optimistic figure.
  assert _status(orderings, "iwae/importance-20", "vamp/importance-20") == ("certified", "paired")
  paths = compare.write_results(rows, str(tmp_path), "t")
  markdown = (tmp_path / "results.md").read_text()
  assert "| vae/importance-20 | vamp/importance-20 |" in markdown and "not certified" in markdown
  assert (tmp_path / "results.png").stat().st_size > 0 and str(tmp_path / "results.png") in paths
  records = json.loads((tmp_path / "results.json").read_text())
  assert [o["status"] for o in records[0]["orderings"]] == ["certified", "certified"]


def test_a_paired_interval_across_estimators_certifies_only_what_their_errors_cannot_explain():
  """The Fashion-MNIST case: a DBN's AIS+importance figure (neither a bound nor
  optimistic) 14 nats above a DBM's RAISE figure (conservative only, and loose with
  few chains) does not certify DBN > DBM; an HMC-AIS figure (conservative) above the
  DBN's does certify, as does the same estimator on two models."""
  rows = [
      _row("vae", "ais-hmc-4x100", "estimate", BASE + 26.0 + 0.5 * NOISE,
           {"hmc_acceptance_second_half": [0.6, 0.65, 0.7]}),
      _row("dbn", "ais-16x300+importance-10", "estimate", BASE + 14.0 + 0.5 * NOISE_2,
           _healthy_ais()),
      _row("dbm", "raise-4x300", "estimate", BASE + 0.3 * NOISE),
      _row("rbm", "raise-4x300", "estimate", BASE - 2.0 + 0.3 * NOISE_2),
  ]
  orderings = compare.certify_orderings(compare.add_paired_differences(rows))
  assert _status(orderings, "dbn/ais-16x300+importance-10", "dbm/raise-4x300") == (
      "not certified", None)
  (entry,) = [o for o in orderings if o["worse"] == "dbm/raise-4x300"
              and o["better"].startswith("dbn")]
  assert entry["evidence"].endswith(
      "but dbm's raise-4x300 is a conservative figure only; no bracket decides")
  assert _status(orderings, "vae/ais-hmc-4x100", "dbn/ais-16x300+importance-10") == (
      "certified", "paired")
  assert _status(orderings, "dbm/raise-4x300", "rbm/raise-4x300") == ("certified", "paired")
  assert _status(orderings, "vae/ais-hmc-4x100", "dbm/raise-4x300") == ("not certified", None)


def test_failed_diagnostics_flag_a_row_and_leave_it_unranked(tmp_path):
  sick = dict(_healthy_ais(), ais_effective_sample_size=1.0, ais_reliable=False)
  rows = [
      _row("dbn", "ais-16x300", "estimate", BASE + 3.0, sick),  # highest, but ESS 1 of 16
      _row("rbm", "ais-16x300", "estimate", BASE + 0.3 * NOISE, _healthy_ais()),
      _row("vae", "importance-20", "estimate", BASE - 1.0 + 0.1 * NOISE),
      _row("vae", "ais-hmc-4x100", "estimate", BASE - 0.9 + 0.1 * NOISE,
           {"hmc_acceptance_second_half": [0.02, 0.05, 0.1],
            "ais_effective_sample_size_mean": 1.1}),
  ]
  rows = compare.sort_rows(compare.add_paired_differences(rows))
  assert [r.name for r in rows][-2:] == ["dbn/ais-16x300", "vae/ais-hmc-4x100"]  # last: unranked
  assert rows[0].name == "rbm/ais-16x300" and rows[0].paired_delta_nats == 0.0
  for r in rows[-2:]:
    assert r.flagged and r.paired_delta_nats is None and r.paired_best is None
  assert rows[-2].diagnostics == "log Z ESS 1.0/16 (too low)"
  assert rows[-1].diagnostics == "HMC acceptance 0.05 (off target), ESS 1.1/4"
  orderings = compare.certify_orderings(rows)
  assert _status(orderings, "dbn/ais-16x300", "rbm/ais-16x300") == ("flagged", None)
  assert _status(orderings, "dbn/ais-16x300", "vae/importance-20") == ("flagged", None)
  # rbm's AIS is optimistic only and vae's importance figure conservative only: their
  # one-sided errors alone could order them so, whatever the paired interval says.
  (entry,) = [o for o in orderings if o["better"] == "rbm/ais-16x300"
              and o["worse"] == "vae/importance-20"]
  assert (entry["status"], entry["by"]) == ("not certified", None)
  assert entry["evidence"].startswith("paired +1.00 ± ")
  assert entry["evidence"].endswith(", but rbm's ais-16x300 is an optimistic figure only; "
                                    "no bracket decides")
  compare.write_results(rows, str(tmp_path), "t")
  markdown = (tmp_path / "results.md").read_text()
  assert "⚠ flagged: log Z ESS 1.0/16 (too low) " in markdown and "| unranked |" in markdown


def test_a_raise_row_above_its_own_models_ais_is_flagged_and_unranked(tmp_path):
  """RAISE 15 nats above the same model's AIS (as a CD-1 RBM on Fashion-MNIST gave): AIS
  is optimistic in expectation even with a low ESS, so RAISE is the side that fails and
  is flagged; it has no diagnostics of its own. The AIS rows keep their own."""
  sick = dict(_healthy_ais(), ais_effective_sample_size=1.9, ais_reliable=False)
  rows = [
      _row("cd1", "ais-16x300", "estimate", BASE - 15.0 + 0.5 * NOISE, sick),
      _row("cd1", "raise-8x300", "estimate", BASE + 0.5 * NOISE_2),
      _row("pcd", "ais-16x300", "estimate", BASE - 3.0, _healthy_ais()),
      _row("pcd", "raise-8x300", "estimate", BASE - 3.6 + 0.1 * NOISE),
  ]
  rows = compare.sort_rows(compare.add_paired_differences(compare.flag_inverted_brackets(rows)))
  by_name = {r.name: r for r in rows}
  assert not by_name["pcd/ais-16x300"].flagged and not by_name["pcd/raise-8x300"].flagged
  raise_row = by_name["cd1/raise-8x300"]
  assert raise_row.flagged and raise_row.paired_delta_nats is None
  assert raise_row.diagnostics.startswith(
      "above own AIS, so not conservative here (cd1 raise-8x300 -20.00 vs cd1 ais-16x300 "
      "-35.00: +15.00 ± ")
  assert by_name["cd1/ais-16x300"].diagnostics == "log Z ESS 1.9/16 (too low)"
  # Without the check, cd1's RAISE would have ranked first and certified cd1 > pcd.
  assert rows[0].name == "pcd/ais-16x300"
  # cd1 has only flagged rows, but its AIS stays optimistic: pcd's RAISE (conservative)
  # above it decides the pair by bracket, against cd1's higher (flagged) RAISE mean.
  (ordering,) = compare.certify_orderings(rows)
  assert (ordering["better"], ordering["worse"]) == ("cd1/raise-8x300", "pcd/ais-16x300")
  assert (ordering["status"], ordering["by"]) == ("reversed", "bracket")
  assert ordering["evidence"].startswith("pcd raise-8x300 -23.60 vs cd1 ais-16x300 (flagged, "
                                         "still optimistic) -35.00: +11.40 ± ")
  compare.write_results(rows, str(tmp_path), "t")
  assert "⚠ flagged: above own AIS" in (tmp_path / "results.md").read_text()
  # RAISE below (or within noise of) AIS flags nothing.
  fine = [_row("pcd", "ais-16x300", "estimate", BASE - 3.0, _healthy_ais()),
          _row("pcd", "raise-8x300", "estimate", BASE - 3.05 + 0.1 * NOISE)]
  assert not any(r.flagged for r in compare.flag_inverted_brackets(fine))


def test_a_bdmc_gap_brackets_hmc_ais_and_boltzmann_ais():
  vae_bdmc = {"gap": 0.1, "gap_stderr": 0.02, "lower": -20, "upper": -19.9, "lower_stderr": 1,
              "upper_stderr": 1, "num_examples": 16, "label": "bdmc-4x100", "schedule": "s"}
  rbm_bdmc = dict(vae_bdmc, gap=0.2, log_z_upper=10.2)
  hmc = {"hmc_acceptance_second_half": [0.6, 0.65, 0.7]}
  rows = [
      # rbm AIS −19.4, conservative −19.6 with BDMC's upper log Z (10.2 vs 10.0);
      # vae HMC-AIS −20.0, optimistic −19.9 with its BDMC gap: certified by 0.3 ± ~0.05.
      _row("rbm", "ais-16x300", "estimate", BASE + 0.6 + 0.3 * NOISE, _healthy_ais(10.0),
           bdmc=rbm_bdmc),
      _row("vae", "ais-hmc-4x100", "estimate", BASE + 0.05 * NOISE_2, hmc, bdmc=vae_bdmc),
  ]
  orderings = compare.certify_orderings(compare.add_paired_differences(rows))
  assert _status(orderings, "rbm/ais-16x300", "vae/ais-hmc-4x100") == ("certified", "bracket")
  assert orderings[0]["evidence"].startswith(
      "rbm ais-16x300 with BDMC's upper log Z -19.60 vs vae ais-hmc-4x100 + BDMC gap -19.90: "
      "+0.30 ± 0.")
  # 0.1 nats apart with a paired stderr of ~0.08: neither the bracket nor the pair certifies.
  close = [_row("rbm", "ais-16x300", "estimate", BASE + 0.5 * NOISE, _healthy_ais(10.0),
                bdmc=rbm_bdmc),
           _row("vae", "ais-hmc-4x100", "estimate", BASE + 0.1 + 0.05 * NOISE_2, hmc,
                bdmc=vae_bdmc)]
  orderings = compare.certify_orderings(compare.add_paired_differences(close))
  assert _status(orderings, "vae/ais-hmc-4x100", "rbm/ais-16x300") == ("not certified", None)


@pytest.mark.slow
def test_the_samples_panel_shows_a_member_that_reports_its_own_parzen_row(tmp_path):
  # The AAE's own estimators include Parzen, so the suite adds no Parzen row for it;
  # its samples belong in the panel all the same (they were missing before).
  suite = compare.suite_config(
      "panel", dict(source="digits", validation_size=197, binarization="static", threshold=0.5,
                    seed=0),
      [("aae", "configs/aae.py:smoke", {}),
       ("vae", "configs/vae.py:smoke", {"eval": {"estimators": "elbo:2"}})],
      parzen_samples=200)
  lines = []
  rows = compare.run_suite(suite, str(tmp_path), log=lines.append)
  assert sum(r.kind == "parzen estimate" for r in rows if r.member == "aae") == 1
  assert "samples_panel.png: aae, vae" in lines
