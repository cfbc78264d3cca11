"""Resume exactness, preemption, the NaN guard and unreadable checkpoints."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from configs import vae as vae_config
from genlatent import data as data_lib
from genlatent import runs
from genlatent import train
from tests import xla
from tests.train.helpers import assert_trees_close, params_of, smoke_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train(workdir, **overrides):
  config = smoke_config(num_devices=1, **overrides)
  return train.train_and_evaluate(config, str(workdir))


def test_resume_equals_straight_run(tmp_path):
  straight = _train(tmp_path / "straight", num_steps=10, checkpoint_every=5)
  _train(tmp_path / "resumed", num_steps=5, checkpoint_every=5)
  resumed = _train(tmp_path / "resumed", num_steps=10, checkpoint_every=5)
  assert int(resumed.step) == 10
  assert_trees_close(straight.params, resumed.params, atol=1e-6)
  assert_trees_close(straight.opt_state, resumed.opt_state, atol=1e-6)


def _corrupt(step_dir):
  """Truncates every file of a saved step, as a crash mid-write would."""
  for root, _, files in os.walk(step_dir):
    for name in files:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"\0garbage")


def test_unreadable_latest_step_falls_back_to_previous_and_keeps_it(tmp_path):
  _train(tmp_path, num_steps=10, checkpoint_every=5)
  ckpts = tmp_path / "checkpoints"
  _corrupt(ckpts / "10")
  resumed = _train(tmp_path, num_steps=12, checkpoint_every=5)
  assert int(resumed.step) == 12
  moved = os.listdir(tmp_path / "corrupt_checkpoints")
  assert len(moved) == 1 and moved[0].startswith("10-")  # kept, out of the way
  assert sorted(os.listdir(ckpts), key=int) == ["5", "10", "12"]  # 10 rewritten by the rerun
  # The run resumed from step 5, not from scratch: it matches a straight 12-step run.
  straight = _train(tmp_path / "straight", num_steps=12, checkpoint_every=5)
  assert_trees_close(straight.params, resumed.params, atol=1e-6)


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
  _train(tmp_path, num_steps=5, checkpoint_every=5)
  _corrupt(tmp_path / "checkpoints" / "5")
  with pytest.raises(train.CheckpointError, match="(?s)None of the checkpoints.*Nothing was deleted"):
    _train(tmp_path, num_steps=10, checkpoint_every=5)
  assert os.listdir(tmp_path / "checkpoints") == ["5"]


def _poison_batches_from(monkeypatch, first_bad_step):
  """Training batches of steps >= `first_bad_step` (0-based) hold NaN pixels."""
  original = data_lib.TrainIterator.batch

  def batch(self, step):
    out = original(self, step)
    if step >= first_bad_step:
      out = dict(out, x=out["x"] * np.float32("nan"))
    return out

  monkeypatch.setattr(data_lib.TrainIterator, "batch", batch)


def test_nan_guard_names_step_and_metric_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  _train(tmp_path, num_steps=5, checkpoint_every=5)
  before = params_of(tmp_path)
  _poison_batches_from(monkeypatch, 6)
  with pytest.raises(train.NonFiniteError) as info:
    _train(tmp_path, num_steps=20, checkpoint_every=5, log_every=1)
  message = str(info.value)
  assert "step 7" in message and "'elbo'" in message  # the batch of step index 6 is step 7
  assert "last good checkpoint (step 5)" in message and "learning_rate" in message
  assert os.listdir(tmp_path / "checkpoints") == ["5"]
  assert_trees_close(before, params_of(tmp_path), atol=0)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_that_resumes(tmp_path):
  workdir = tmp_path / "run"
  cmd = [sys.executable, "-m", "experiments.train", "--config=configs/vae.py:smoke",
         f"--workdir={workdir}", "--config.num_steps=1000000", "--config.checkpoint_every=1000000",
         "--config.log_every=10", "--config.final_evaluation=false"]
  env = dict(os.environ, XLA_FLAGS=xla.flags(num_devices=1))
  proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  metrics = workdir / "metrics.jsonl"
  deadline = time.time() + 120
  while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
    assert proc.poll() is None, proc.stdout.read()
    assert time.time() < deadline, "training never started"
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  output, _ = proc.communicate(timeout=120)
  assert proc.returncode == 128 + signal.SIGTERM, output
  assert "Run the same command again to resume" in output
  # The save happens at the step the signal lands on: at or after every logged
  # step (train and validation rows both count), never at a scheduled checkpoint.
  logged = max(json.loads(line)["step"] for line in metrics.read_text().splitlines())
  steps = [int(s) for s in os.listdir(workdir / "checkpoints")]
  assert len(steps) == 1 and 10 <= logged <= steps[0] < 1_000_000
  # The same config as the command line's (a resume refuses another one), 3 more steps.
  config = runs.apply_overrides(vae_config.get_config("smoke"), {
      "num_steps": steps[0] + 3, "checkpoint_every": 1_000_000, "log_every": 10,
      "final_evaluation": False, "num_devices": 1})
  resumed = train.train_and_evaluate(config, str(workdir))
  assert int(resumed.step) == steps[0] + 3
