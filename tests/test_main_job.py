"""README's main job, in its smoke variant, through the real command line.

A bad name on that command line (model, data folder, prior) is one error line: those
cases run in-process with the other user mistakes, in tests/test_bad_inputs.py.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from tests import xla

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, expect=0):
  env = dict(os.environ, XLA_FLAGS=xla.flags(num_devices=2))
  proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == expect, proc.stdout + proc.stderr
  return proc.stdout + proc.stderr


@pytest.mark.slow
def test_train_evaluate_sample_write_their_outputs(tmp_path):
  workdir = tmp_path / "vae_digits"
  out = _run("experiments.train", "--config=configs/vae.py:smoke", f"--workdir={workdir}",
             "--config.eval.estimators=elbo:4,importance:50")
  assert "nats (importance-50, estimate)" in out
  # A quiet console: results, no library INFO lines (absl writes them as "I<mmdd> ...");
  # those are in log.txt.
  assert not re.search(r"^I\d{4} ", out, re.MULTILINE), out
  assert "CheckpointManager" in (workdir / "log.txt").read_text()
  out = _run("experiments.train", "--config=configs/vae.py:smoke", f"--workdir={workdir}",
             "--config.eval.estimators=elbo:4,importance:50", "--verbosity=0")
  assert "Resumed from step 20" in out and re.search(r"^I\d{4} .*orbax", out, re.MULTILINE)
  for name in ("config.json", "environment.json", "metrics.jsonl", "eval.json",
               "samples.png", "reconstructions.png"):
    assert (workdir / name).stat().st_size > 0, name
  assert os.listdir(workdir / "checkpoints") and os.listdir(workdir / "tensorboard")
  results = json.loads((workdir / "eval.json").read_text())["splits"]["test"]
  by_name = {r["estimator"]: r for r in results}
  assert by_name["elbo"]["kind"] == "lower bound"
  assert by_name["importance-50"]["kind"] == "estimate"
  assert all(r["count"] == 360 for r in results)  # every digits test image once
  # The importance-sampled estimate is tighter than the ELBO on average.
  assert by_name["importance-50"]["mean_nats"] > by_name["elbo"]["mean_nats"]
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert {"train", "validation"} <= {r["split"] for r in rows}

  (workdir / "eval.json").unlink()
  out = _run("experiments.evaluate", f"--workdir={workdir}", "--estimators=importance:30")
  results = json.loads((workdir / "eval.json").read_text())["splits"]["test"]
  assert [r["estimator"] for r in results] == ["importance-30"]
  assert not re.search(r"^I\d{4} ", out, re.MULTILINE), out

  (workdir / "samples.png").unlink()
  out = _run("experiments.sample", f"--workdir={workdir}", "--num=16")
  # The smoke VAE's codes are 2-D: the manifold and scatter need no slice or projection.
  for name in ("samples.png", "reconstructions.png", "manifold.png", "traversals.png",
               "interpolation.png", "attribute_label0.png", "latent_scatter.png"):
    assert (workdir / name).stat().st_size > 0 and name in out, name
