"""Sweep expansion, running each point, and aggregating one table."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from genlatent import runs, sweeps

from tests import xla

SWEEP_CONFIG = textwrap.dedent('''
    from configs import vae

    def get_config(arg="smoke"):
      config = vae.get_config(arg)
      config.num_steps = 4
      config.checkpoint_every = 4
      config.eval_every = 0
      config.eval.estimators = "elbo:2,importance:5"
      return config

    def get_sweep(arg):
      return [{"model.latent_dim": d} for d in (1, 3)]
''')


@pytest.mark.slow
def test_expand_run_aggregate_and_retrain_a_changed_point(tmp_path):
  path = tmp_path / "sweep_config.py"
  path.write_text(SWEEP_CONFIG)
  ref = f"{path}:smoke"
  points = sweeps.expand(ref)
  assert points == [{"model.latent_dim": 1}, {"model.latent_dim": 3}]
  workdir = tmp_path / "runs"
  for i in range(len(points)):
    assert not sweeps.run_point(ref, points, i, str(workdir))["reused"]
  assert sorted(os.listdir(workdir)) == ["000_model.latent_dim=1", "001_model.latent_dim=3"]
  config = json.loads((workdir / "001_model.latent_dim=3" / "config.json").read_text())
  assert config["model"]["latent_dim"] == 3
  # A finished point is reused, not retrained.
  assert sweeps.run_point(ref, points, 1, str(workdir))["reused"]
  rows = sweeps.aggregate(ref, points, str(workdir))
  assert len(rows) == 4 and {r.kind for r in rows} == {"lower bound", "estimate"}
  table = (workdir / "results.md").read_text()
  assert "## lower bound" in table and "## estimate" in table
  assert "000_model.latent_dim=1" in table
  assert len(json.loads((workdir / "results.json").read_text())) == 4

  # The config module's base changes under the same point name: that point is
  # retrained, not resumed.
  path.write_text(SWEEP_CONFIG.replace("config.num_steps = 4", "config.num_steps = 6"))
  lines = []
  outcome = sweeps.run_point(ref, points, 0, str(workdir), log=lines.append)
  assert not outcome["reused"] and outcome["replaced"]
  assert lines == [f"[000_model.latent_dim=1] config changed since the last run (num_steps: 4 → 6); "
                   f"the old run is kept in {outcome['replaced']}; training from scratch."]
  # The old run is whole where it was moved; the new one trained to the new config.
  assert json.loads(open(os.path.join(outcome["replaced"], "eval.json")).read())["step"] == 4
  assert os.listdir(os.path.join(outcome["replaced"], "checkpoints")) == ["4"]
  new = workdir / "000_model.latent_dim=1"
  assert json.loads((new / "eval.json").read_text())["step"] == 6
  assert json.loads((new / "config.json").read_text())["num_steps"] == 6


def test_config_without_sweep_and_bad_override(tmp_path):
  path = tmp_path / "plain.py"
  path.write_text("from configs import vae\nget_config = vae.get_config\n")
  with pytest.raises(ValueError, match="defines no get_sweep"):
    sweeps.expand(str(path))
  with pytest.raises(KeyError, match="no field 'latnt_dim'"):
    runs.load_config_ref("configs/vae.py:smoke", {"model.latnt_dim": 2})


# ------------------------------------------------------------------ sweeps in worker processes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG = 1_000_000  # steps: a point that trains until it is stopped

PROCESS_SWEEP = textwrap.dedent('''
    from configs import vae

    def get_config(arg="smoke"):
      config = vae.get_config("smoke")
      config.eval_every = 0
      config.log_every = 2
      config.checkpoint_every = 1_000_000
      config.eval.estimators = "elbo:2"
      return config

    def get_sweep(arg):
      return [{{"num_steps": n}} for n in {steps}]
''')


def _start_sweep(tmp_path, steps, processes=2):
  path = tmp_path / "sweep_config.py"
  path.write_text(PROCESS_SWEEP.format(steps=list(steps)))
  env = dict(os.environ, PYTHONPATH=REPO, XLA_FLAGS=xla.flags(), JAX_PLATFORMS="cpu")
  out = open(tmp_path / "sweep.log", "w")
  proc = subprocess.Popen(
      [sys.executable, "-m", "experiments.sweep", f"--config={path}",
       f"--workdir={tmp_path / 'runs'}", f"--processes={processes}"],
      cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
  return proc


def _workers(parent_pid):
  """{point index: pid} of the sweep's live worker processes."""
  with open(f"/proc/{parent_pid}/task/{parent_pid}/children") as f:
    pids = [int(p) for p in f.read().split()]
  out = {}
  for pid in pids:
    with contextlib.suppress(FileNotFoundError):
      with open(f"/proc/{pid}/cmdline", "rb") as f:
        args = f.read().decode().split("\0")
      point = [a for a in args if a.startswith("--point=")]
      if point:
        out[int(point[0].split("=")[1])] = pid
  return out


def _alive(pid):
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
  except FileNotFoundError:
    return False


def _wait_until(condition, timeout, what):
  end = time.monotonic() + timeout
  while not condition():
    assert time.monotonic() < end, f"timed out waiting for {what}"
    time.sleep(0.2)


def _training(workdir):
  path = workdir / "metrics.jsonl"
  return path.exists() and path.stat().st_size > 0


def _stop(proc, workers):
  """Leaves no process of a failed test behind (by pid: this test's own only)."""
  if proc.poll() is None:
    proc.kill()
  for pid in workers.values():
    if _alive(pid):
      os.kill(pid, signal.SIGKILL)


def _names(steps):
  return [sweeps.point_name(i, {"num_steps": n}) for i, n in enumerate(steps)]


needs_proc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@needs_proc
def test_a_killed_worker_stops_the_others_and_the_sweep_says_which_points_finished(tmp_path):
  steps = [4, LONG, LONG, 4]
  names = _names(steps)
  runs_dir = tmp_path / "runs"
  proc, workers = _start_sweep(tmp_path, steps), {}
  try:
    # Point 0 finishes, point 2 takes its place beside point 1.
    _wait_until(lambda: _training(runs_dir / names[1]) and _training(runs_dir / names[2]),
                600, "points 1 and 2 to train")
    workers.update(_workers(proc.pid))
    os.kill(workers[2], signal.SIGKILL)
    code = proc.wait(timeout=120)
    left = [pid for pid in workers.values() if _alive(pid)]  # the sweep waited for them
  finally:
    _stop(proc, workers)
  assert code == 1 and not left
  log = (tmp_path / "sweep.log").read_text()
  assert f"error: Sweep point {names[2]} failed (killed by signal 9 (SIGKILL))" in log
  assert f"Finished: {names[0]}." in log
  assert f"resume from their checkpoints): {names[1]} (exit 143)." in log
  assert f"Not started: {names[3]}." in log
  # The stopped worker checkpointed on its SIGTERM.
  assert os.listdir(runs_dir / names[1] / "checkpoints")


@needs_proc
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stopping_the_sweep_stops_every_worker_with_a_checkpoint(tmp_path, how):
  steps = [LONG, LONG]
  names = _names(steps)
  runs_dir = tmp_path / "runs"
  proc, workers = _start_sweep(tmp_path, steps), {}
  try:
    _wait_until(lambda: all(_training(runs_dir / n) for n in names), 600, "both points to train")
    workers.update(_workers(proc.pid))
    os.kill(proc.pid, how)
    code = proc.wait(timeout=120)
    # Killed outright, the parent cannot wait for them: the workers go on their own.
    _wait_until(lambda: not any(_alive(p) for p in workers.values()), 120, "workers to stop")
  finally:
    _stop(proc, workers)
  for name in names:
    assert os.listdir(runs_dir / name / "checkpoints"), name
  if how == signal.SIGTERM:
    assert code == 128 + signal.SIGTERM
    log = (tmp_path / "sweep.log").read_text()
    assert "error: Sweep stopped by signal 15 (SIGTERM)." in log
    assert "Finished: none." in log
    assert all(f"{n} (exit 143)" in log for n in names)
