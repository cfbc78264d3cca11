"""A workdir nothing can silently damage: checked restores and resumes, atomic files, a lock."""

import errno
import fcntl
import json
import os
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from absl import logging as absl_logging

from experiments import evaluate as evaluate_cli
from experiments import train as train_cli
from genlatent import train
from genlatent.estimators import importance
from genlatent.train import checkpoint, evaluation, metrics
from genlatent.train import workdir as workdir_lib
from tests.train.helpers import assert_trees_close, smoke_config


def _train(workdir, **overrides):
  config = smoke_config(num_devices=1, **overrides)
  return train.train_and_evaluate(config, str(workdir))


def _read(path):
  with open(path, "rb") as f:
    return f.read()


# 1. No validation split.


def test_no_validation_split_skips_validation_and_still_evaluates_test(tmp_path, capsys):
  assert importance.samples_per_chunk(0, 0, 5) == 5  # an empty split's shape probe
  _train(tmp_path, num_steps=10, eval_every=5, checkpoint_every=5, final_evaluation=True,
         **{"data.validation_size": 0, "eval.estimators": "elbo:2"})
  out = capsys.readouterr().out
  assert out.count("No validation split (data.validation_size=0)") == 1
  test = json.loads((tmp_path / "eval.json").read_text())["splits"]["test"]
  assert test[0]["count"] == 360 and np.isfinite(test[0]["mean_nats"])
  assert {r["split"] for r in metrics.read_metrics(tmp_path)} == {"train"}
  with pytest.raises(ValueError, match="validation split is empty"):
    train.evaluate_and_write(*_restored(tmp_path), split="validation")


def _restored(workdir):
  config, dataset, model, backend, state = train.restore_workdir(str(workdir))
  return config, model, backend, state, dataset, str(workdir)


# 2. A checkpoint whose bytes changed but still read.


def _replace_step(workdir, step, state):
  """Writes `state` as a valid orbax item over checkpoints/<step>, keeping its checksum file."""
  scratch = os.path.join(workdir, "scratch")
  manager = ocp.CheckpointManager(scratch, options=ocp.CheckpointManagerOptions(
      create=True, enable_async_checkpointing=False))
  manager.save(step, args=ocp.args.StandardSave(state), force=True)
  manager.wait_until_finished()
  manager.close()
  target = os.path.join(workdir, "checkpoints", str(step), "default")
  shutil.rmtree(target)
  shutil.copytree(os.path.join(scratch, str(step), "default"), target)
  shutil.rmtree(scratch)


def _host_state(workdir):
  _, _, _, backend, state = train.restore_workdir(str(workdir))
  return jax.tree.map(np.asarray, backend.host_state(state))


@pytest.mark.parametrize("damage", ["one weight changed", "NaN weights, no checksum"])
def test_restore_verifies_checksum_and_finiteness_then_falls_back(tmp_path, damage, capsys):
  _train(tmp_path, num_steps=10, checkpoint_every=5)
  state = _host_state(tmp_path)
  leaves, tree = jax.tree.flatten(state.params)
  if damage == "one weight changed":
    leaves[0] = leaves[0].copy()
    leaves[0].flat[0] += 1e-3  # orbax reads it without complaint
  else:
    leaves = [np.full_like(a, np.nan) for a in leaves]
    os.remove(tmp_path / "checkpoints" / "10" / checkpoint.CHECKSUM_FILE)
  _replace_step(str(tmp_path), 10, state.replace(params=jax.tree.unflatten(tree, leaves)))

  resumed = _train(tmp_path, num_steps=12, checkpoint_every=5)
  out = capsys.readouterr().out
  assert "Checkpoint step 10 is damaged" in out and "Resumed from step 5" in out
  moved = os.listdir(tmp_path / "corrupt_checkpoints")
  assert len(moved) == 1 and moved[0].startswith("10-")
  straight = _train(tmp_path / "straight", num_steps=12, checkpoint_every=5)
  assert_trees_close(straight.params, resumed.params, atol=1e-6)


def test_checksum_covers_every_leaf():
  state = {"a": np.arange(3.0, dtype=np.float32), "b": np.zeros((2, 2), np.int32)}
  reference = checkpoint.state_checksum(state)
  assert checkpoint.state_checksum(jax.tree.map(np.copy, state)) == reference
  changed = dict(state, b=np.ones((2, 2), np.int32))
  assert checkpoint.state_checksum(changed) != reference
  reshaped = dict(state, b=np.zeros((4,), np.int32))
  assert checkpoint.state_checksum(reshaped) != reference


# 3 and 4. Config changes on resume.


def test_refused_config_change_leaves_config_json_as_it_was(tmp_path):
  _train(tmp_path, num_steps=5, checkpoint_every=5)
  saved = _read(tmp_path / "config.json")
  with pytest.raises(train.ConfigChangedError) as info:
    _train(tmp_path, num_steps=5, checkpoint_every=5, **{"model.latent_dim": 4})
  message = str(info.value)
  assert "\n" not in message and "model.latent_dim 2 -> 4" in message
  assert _read(tmp_path / "config.json") == saved
  assert train.load_config(str(tmp_path)).model.latent_dim == 2
  assert int(_host_state(tmp_path).step) == 5  # the workdir still evaluates


@pytest.mark.parametrize("field,value,shown", [
    ("num_steps", 3, "num_steps 5 -> 3"),
    ("batch_size", 64, "batch_size 40 -> 64"),
    ("optimizer.learning_rate", 0.01, "optimizer.learning_rate 0.001 -> 0.01"),
    ("model.beta", 0.5, "model.beta 1.0 -> 0.5"),
])
def test_resume_refuses_changes_the_checkpoints_cannot_honour(tmp_path, field, value, shown):
  base = {"num_steps": 5, "checkpoint_every": 5, "batch_size": 40}
  _train(tmp_path, **base)
  with pytest.raises(train.ConfigChangedError, match=shown.replace(".", r"\.")):
    _train(tmp_path, **dict(base, **{field: value}))


def test_more_steps_are_allowed_and_recorded_with_their_first_step(tmp_path):
  _train(tmp_path, num_steps=5, checkpoint_every=5)
  _train(tmp_path, num_steps=8, checkpoint_every=5, log_every=2)
  saved = json.loads((tmp_path / "config.json").read_text())
  assert saved["num_steps"] == 8 and saved["log_every"] == 2
  assert saved["config_history"] == [
      {"from_step": 5, "changes": {"log_every": [5, 2], "num_steps": [5, 8]}}]
  assert train.load_config(str(tmp_path)).num_steps == 8  # the history is not a config field
  assert int(_host_state(tmp_path).step) == 8


def test_a_workdir_without_checkpoints_takes_any_config(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({"model": {"name": "ae"}}))
  _train(tmp_path, num_steps=2, checkpoint_every=2)
  assert json.loads((tmp_path / "config.json").read_text())["model"]["name"] == "vae"


# 6 and 15.3. eval.json and eval_values.npz.


def test_evaluating_one_split_keeps_the_others_and_their_values(tmp_path):
  _train(tmp_path, num_steps=5, checkpoint_every=5, final_evaluation=True,
         **{"eval.estimators": "elbo:2"})
  before = json.loads((tmp_path / "eval.json").read_text())
  test_values = evaluation.load_eval_values(str(tmp_path))["test.0"]
  evaluate_cli.cli(["prog", f"--workdir={tmp_path}", "--split=validation",
                    "--estimators=elbo:3"])
  after = json.loads((tmp_path / "eval.json").read_text())
  assert after["splits"]["test"] == before["splits"]["test"]
  assert after["diagnostics"]["test"] == before["diagnostics"]["test"]
  assert [r["estimator"] for r in after["splits"]["validation"]] == ["elbo"]
  assert after["splits"]["validation"][0]["count"] == 197
  values = evaluation.load_eval_values(str(tmp_path))
  np.testing.assert_array_equal(values["test.0"], test_values)
  assert values["validation.0"].shape == (197,)


def test_values_of_another_evaluation_are_refused_by_name(tmp_path):
  _train(tmp_path, num_steps=5, checkpoint_every=5, final_evaluation=True,
         **{"eval.estimators": "elbo:2"})
  stale = _read(tmp_path / evaluation.VALUES_FILE)
  train.evaluate_and_write(*_restored(tmp_path))
  (tmp_path / evaluation.VALUES_FILE).write_bytes(stale)  # as a crash between the two writes
  with pytest.raises(train.WorkdirError, match="eval_values.npz does not belong to .*eval.json"):
    evaluation.load_eval_values(str(tmp_path))


# 7. Bookkeeping files.


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
  path = str(tmp_path / "table.json")
  workdir_lib.write_json(path, {"a": 1})

  def fail(fd):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(os, "fsync", fail)
  with pytest.raises(OSError):
    workdir_lib.write_json(path, {"a": 2})
  assert json.loads(_read(path)) == {"a": 1} and os.listdir(tmp_path) == ["table.json"]


def test_damaged_bookkeeping_is_named_and_resume_does_not_need_train_time(tmp_path):
  _train(tmp_path, num_steps=5, checkpoint_every=5)
  (tmp_path / "train_time.json").write_text("")
  assert int(_train(tmp_path, num_steps=6, checkpoint_every=5).step) == 6
  (tmp_path / "config.json").write_text("")
  with pytest.raises(train.WorkdirError) as info:
    _train(tmp_path, num_steps=7, checkpoint_every=5)
  assert str(tmp_path / "config.json") in str(info.value) and "is empty" in str(info.value)
  with pytest.raises(train.WorkdirError, match="config.json is empty"):
    train.restore_workdir(str(tmp_path))


# 9. One run per workdir; no duplicated metrics rows.


def test_a_second_run_is_refused_while_the_lock_is_held(tmp_path):
  lock = tmp_path / workdir_lib.LOCK_FILE
  lock.write_text(json.dumps({"pid": 4242, "host": "h", "started": "t", "command": "c"}))
  with open(lock) as held:  # another open file: as another process would hold it
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with pytest.raises(train.WorkdirBusyError, match="in use by process 4242"):
      _train(tmp_path, num_steps=2)
    with pytest.raises(SystemExit):
      evaluate_cli.cli(["prog", f"--workdir={tmp_path}"])
  assert sorted(os.listdir(tmp_path)) == ["lock"]


def test_a_dead_runs_lock_is_taken_over(tmp_path):
  (tmp_path / workdir_lib.LOCK_FILE).write_text(json.dumps({"pid": 999999999}))
  assert int(_train(tmp_path, num_steps=2, checkpoint_every=2).step) == 2
  assert not (tmp_path / workdir_lib.LOCK_FILE).exists()


def test_rows_past_the_restored_step_are_not_duplicated(tmp_path):
  _train(tmp_path, num_steps=8, checkpoint_every=4, log_every=1)
  # As if killed after logging step 8 but before its checkpoint, mid-way through a row.
  shutil.rmtree(tmp_path / "checkpoints" / "8")
  with open(tmp_path / "metrics.jsonl", "a", encoding="utf-8") as f:
    f.write('{"step": 9, "spl')
  _train(tmp_path, num_steps=8, checkpoint_every=4, log_every=1)
  steps = [r["step"] for r in metrics.read_metrics(tmp_path) if r["split"] == "train"]
  assert steps == list(range(1, 9))


# 10. Permission errors and a full disk.


def test_permission_error_is_not_corruption(tmp_path, monkeypatch):
  _train(tmp_path, num_steps=10, checkpoint_every=5)

  def denied(self, step, *args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied", f"checkpoints/{step}/default")

  monkeypatch.setattr(ocp.CheckpointManager, "restore", denied)
  with pytest.raises(train.CheckpointError, match="step 10 .* unreadable: permission denied"):
    _train(tmp_path, num_steps=12, checkpoint_every=5)
  assert not (tmp_path / "corrupt_checkpoints").exists()
  assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == ["5", "10"]


def test_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
  def full(self, step, state):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(checkpoint.Checkpointer, "save", full)
  with pytest.raises(SystemExit):
    train_cli.cli(["prog", "--config=configs/vae.py:smoke", f"--workdir={tmp_path}",
                   "--config.num_steps=2", "--config.final_evaluation=false"])
  err = capsys.readouterr().err
  assert err.strip().startswith("error: no space left on device") and err.count("\n") == 1


# The console.


def test_console_shows_progress_resume_and_results_library_logs_go_to_log_txt(tmp_path, capfd):
  absl_logging.use_absl_handler()  # as app.run installs it
  args = ["prog", "--config=configs/vae.py:smoke", f"--workdir={tmp_path}",
          "--config.eval.estimators=elbo:2"]
  try:
    train_cli.cli(args + ["--config.num_steps=10"])
    first = capfd.readouterr()
    train_cli.cli(args + ["--config.num_steps=12"])
    second = capfd.readouterr()
  finally:
    import logging  # pylint: disable=g-import-not-at-top
    logging.getLogger().removeHandler(absl_logging.get_absl_handler())
  for out in (first, second):
    console = out.out + out.err
    assert "orbax" not in console and "CheckpointManager" not in console, console
    assert "test log p(x):" in out.out
  assert "Resumed from step 10" in second.out and "Resumed" not in first.out
  log_txt = (tmp_path / workdir_lib.LOG_FILE).read_text()
  assert "CheckpointManager" in log_txt and "Resumed from step 10" in log_txt
