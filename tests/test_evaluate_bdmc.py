"""`experiments.evaluate --bdmc=N` brackets log p(x) on data simulated from a trained
model (Boltzmann and decoder families) and writes eval.json's `bdmc` section; a family
without an annealing path fails in one line. A suite's `annealed_examples` scores every
member's annealed estimators on the same first N test examples."""

import json
import os

import types

import jax
import numpy as np
import pytest

from configs import gmm as gmm_config
from configs import rbm as rbm_config
from configs import vae as vae_config
from experiments import evaluate as evaluate_cli
from genlatent import compare, train
from genlatent.train import evaluation, parallel


def _eval(workdir):
  with open(os.path.join(workdir, "eval.json"), encoding="utf-8") as f:
    return json.load(f)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("bdmc")
  rbm = rbm_config.get_config("smoke")
  vae = vae_config.get_config("smoke")
  vae.model.ais_schedule = "sigmoid:10"  # short: a gap BDMC must see
  vae.model.ais_leapfrog_steps = 3
  gmm = gmm_config.get_config("smoke")
  out = {}
  for name, config in (("rbm", rbm), ("vae", vae), ("gmm", gmm)):
    out[name] = str(root / name)
    train.train_and_evaluate(config, out[name])
  return out


def test_bdmc_on_a_smoke_rbm_brackets_its_exact_log_z(runs):
  before = _eval(runs["rbm"])
  evaluate_cli.cli(["prog", f"--workdir={runs['rbm']}", "--bdmc=32", "--bdmc_chains=16"])
  after = _eval(runs["rbm"])
  # Given alone, --bdmc adds its section and leaves every estimate as it was.
  assert after["splits"] == before["splits"]
  assert after["_values_id"] == before["_values_id"]
  bdmc = after["bdmc"]
  assert (bdmc["num_examples"], bdmc["num_chains"], bdmc["schedule_steps"]) == (32, 16, 300)
  noise = 3 * bdmc["gap_stderr"]
  assert bdmc["gap_stderr"] > 0
  assert bdmc["lower"] <= bdmc["upper"] + noise, bdmc
  exact = next(r for r in after["splits"]["test"] if r["kind"] == "exact")
  log_z = exact["details"]["log_z"]
  assert bdmc["log_z_lower"] <= log_z + 3 * bdmc["log_z_lower_stderr"] + 1e-3, (bdmc, log_z)
  assert bdmc["log_z_upper"] >= log_z - 3 * bdmc["log_z_upper_stderr"] - 1e-3, (bdmc, log_z)
  assert abs(bdmc["gap"]) < 0.1  # 300 steps suffice for this tiny RBM


def test_bdmc_on_a_smoke_vae_sees_the_short_schedule(runs, capsys):
  evaluate_cli.cli(["prog", f"--workdir={runs['vae']}", "--bdmc=16", "--bdmc_chains=4"])
  bdmc = _eval(runs["vae"])["bdmc"]
  assert (bdmc["num_examples"], bdmc["num_chains"], bdmc["schedule_steps"]) == (16, 4, 10)
  # Ten temperatures leave a gap well clear of its noise: lower < upper.
  assert bdmc["upper"] - bdmc["lower"] == pytest.approx(bdmc["gap"], abs=1e-4)
  assert bdmc["gap"] > 3 * bdmc["gap_stderr"] > 0, bdmc
  assert 0.0 < bdmc["forward_acceptance_mean"] <= 1.0
  assert "bdmc on 16 simulated examples (bdmc-4x10" in capsys.readouterr().out
  # Re-evaluating the test split at the same step keeps the bracket (it is about the
  # model, not the split); the test rows are replaced.
  evaluate_cli.cli(["prog", f"--workdir={runs['vae']}", "--estimators=elbo:2"])
  after = _eval(runs["vae"])
  assert after["bdmc"] == bdmc
  assert [e["estimator"] for e in after["splits"]["test"]] == ["elbo"]


def test_bdmc_on_a_family_without_ais_is_one_line(runs, capsys):
  before = _eval(runs["gmm"])
  with pytest.raises(SystemExit) as exit_info:
    evaluate_cli.cli(["prog", f"--workdir={runs['gmm']}", "--bdmc=8"])
  assert exit_info.value.code == 1
  lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith("error: --bdmc: model 'gmm' has no annealing"), lines
  assert _eval(runs["gmm"]) == before


@pytest.mark.parametrize("args,expected", [
    (["--bdmc=1"], "--bdmc=1 is invalid; BDMC needs at least 2 simulated examples"),
    (["--bdmc=8", "--bdmc_chains=1"], "--bdmc_chains=1 is invalid"),
    (["--annealed_examples=-3"], "--annealed_examples=-3 is invalid")])
def test_bad_bdmc_and_budget_flags_are_one_line(runs, capsys, args, expected):
  before = _eval(runs["rbm"])
  with pytest.raises(SystemExit) as exit_info:
    evaluate_cli.cli(["prog", f"--workdir={runs['rbm']}", *args])
  assert exit_info.value.code == 1
  lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
  assert len(lines) == 1 and expected in lines[0], lines
  assert _eval(runs["rbm"]) == before


def test_a_suites_annealed_budget_scores_the_same_first_examples_for_every_member(tmp_path):
  suite = compare.suite_config(
      "budget", dict(source="digits", validation_size=197, binarization="static",
                     threshold=0.5, seed=0),
      [("cd", "configs/rbm.py:smoke", {}), ("pcd", "configs/rbm.py:smoke,pcd", {})],
      parzen_samples=0, annealed_examples=50)
  for member in suite.members:
    config = compare.member_config(suite, member)
    assert config.eval.annealed_examples == 50
    train.train_and_evaluate(config, str(tmp_path / member.name))
  rows = {}
  for member in suite.members:
    workdir = str(tmp_path / member.name)
    entries = {r["kind"]: r for r in _eval(workdir)["splits"]["test"]}
    values = evaluation.load_eval_values(workdir)
    ais, exact = entries["estimate"], entries["exact"]
    assert ais["count"] == 50 and exact["count"] == 360
    assert ais["details"]["first_examples"] == 50 and ais["details"]["split_examples"] == 360
    # log p*(x) − log Ẑ against log p*(x) − log Z: the same examples in the same order
    # iff the difference is one constant (log Z − log Ẑ).
    shift = values[ais["values_key"]] - values[exact["values_key"]][:50]
    np.testing.assert_allclose(shift, shift[0], atol=1e-4)
    rows[member.name] = compare.rows_from_eval(member.name, member.config, workdir)
  both = [r for name in ("cd", "pcd") for r in rows[name] if r.kind == "estimate"]
  compare.add_paired_differences(both)
  assert all(r.paired_delta_nats is not None for r in both)  # paired on those 50
  assert "(first 50)" in compare.markdown_table(compare.sort_rows(both), "t")


def test_a_split_smaller_than_a_batch_is_not_padded_past_the_devices():
  mesh, n = parallel.MeshBackend(), jax.device_count()
  assert evaluation.fitted_batch_size(mesh, 500, 50) == -(-50 // n) * n
  eight = types.SimpleNamespace(batch_multiple=8)
  assert [evaluation.fitted_batch_size(eight, 500, n) for n in (1, 50, 56, 499, 500, 10_000)] == [
      8, 56, 56, 500, 500, 500]
  assert evaluation.fitted_batch_size(types.SimpleNamespace(batch_multiple=1), 500, 100) == 100
