"""Sweeps: a config module's `get_sweep()` lists override dicts; each is one run.

With several processes each point runs in its own worker (`experiments.sweep
--point=i`). A worker never outlives its sweep: it gets SIGTERM when the parent
dies (and so checkpoints and stops), and when one worker fails or the sweep is
stopped the others get SIGTERM too, so no orphan keeps training into folders a
rerun will use.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import os
import signal
import subprocess
import sys
import threading
import time

from genlatent import compare, runs
from genlatent.train.trainer import StopSignal

PARENT_ENV = "GENLATENT_SWEEP_PARENT"  # the sweep's pid, set in each worker's environment
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def expand(ref: str) -> list[dict]:
  """The sweep points of `path.py[:arg]`: the list its `get_sweep(arg)` returns."""
  module = runs.load_config_module(ref)
  if not hasattr(module, "get_sweep"):
    raise ValueError(f"{ref.partition(':')[0]} defines no get_sweep(); add one returning a "
                     "list of override dicts, e.g. [{'model.latent_dim': 2}, ...].")
  arg = ref.partition(":")[2]
  takes_arg = bool(inspect.signature(module.get_sweep).parameters)
  points = module.get_sweep(arg) if takes_arg else module.get_sweep()
  if not points:
    raise ValueError(f"get_sweep() of {ref} returned no points.")
  return [dict(p) for p in points]


def point_name(index: int, overrides: dict) -> str:
  """A folder name that says what the point is: `003_model.latent_dim=8`."""
  parts = [f"{k}={v}" for k, v in sorted(overrides.items())]
  text = ",".join(parts).replace("/", "_").replace(" ", "")
  return f"{index:03d}_{text}"[:120]


def run_point(ref: str, points: list[dict], index: int, workdir: str, log=print) -> dict:
  """Trains (or reuses) point `index` in `<workdir>/<point_name>`; see `runs.run_or_reuse`."""
  config = runs.load_config_ref(ref, points[index])
  name = point_name(index, points[index])
  return runs.run_or_reuse(config, os.path.join(workdir, name), name=name, log=log)


def aggregate(ref: str, points: list[dict], workdir: str) -> list[compare.Row]:
  """One row per (point, estimator); writes results.{md,csv,json} into `workdir`."""
  rows = []
  for i, overrides in enumerate(points):
    name = point_name(i, overrides)
    rows += compare.rows_from_eval(name, ref, os.path.join(workdir, name))
  compare.write_results(rows, workdir, f"Sweep of {ref}")
  return rows


class SweepStopped(Exception):
  """A worker failed or the sweep was stopped; the message says what became of each point."""

  def __init__(self, message: str, signum: int | None):
    super().__init__(message)
    self.signum = signum  # the signal that stopped the sweep, None when a worker failed


def stop_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
  """Makes this worker get SIGTERM when the sweep process `parent_pid` dies.

  On Linux the kernel sends it (prctl PR_SET_PDEATHSIG); elsewhere a daemon
  thread polls the parent pid. SIGTERM reaches the trainer's handler, which saves
  a checkpoint and stops, so a rerun resumes where the worker was.
  """
  with contextlib.suppress(OSError, AttributeError):
    if sys.platform.startswith("linux") and ctypes.CDLL(None).prctl(
        _PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
      poll_s = 0.0
  # The parent may have died before the line above: this process is then orphaned.
  if os.getppid() != parent_pid:
    os.kill(os.getpid(), signal.SIGTERM)
    return
  if poll_s:
    def watch():
      while os.getppid() == parent_pid:
        time.sleep(poll_s)
      os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=watch, name="sweep-parent-watch", daemon=True).start()


def _exit_text(code: int) -> str:
  if code < 0:
    return f"killed by signal {-code} ({signal.Signals(-code).name})"
  return f"exit {code}"


def run_in_processes(ref: str, points: list[dict], workdir: str, processes: int, *,
                     log=print, poll_s: float = 0.2, grace_s: float = 120.0) -> None:
  """Runs every point in its own worker process, `processes` at a time.

  Each worker is `python -m experiments.sweep --point=i`. When a worker fails, or
  this process gets SIGTERM/SIGINT, no further point starts, the running workers
  get SIGTERM (they save a checkpoint and stop; any still running after `grace_s`
  seconds is killed) and SweepStopped says which points finished, failed, were
  stopped (rerun to resume) or never started.
  """
  names = [point_name(i, p) for i, p in enumerate(points)]
  env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
  pending, running, codes = list(range(len(points))), {}, {}
  failed, deadline = [], None
  with StopSignal() as signals:
    while pending or running:
      halt = bool(failed) or signals.received is not None
      while not halt and pending and len(running) < processes:
        i = pending.pop(0)
        running[i] = subprocess.Popen(
            [sys.executable, "-m", "experiments.sweep", f"--config={ref}",
             f"--workdir={workdir}", f"--point={i}"], cwd=os.getcwd(), env=env)
      for i, proc in list(running.items()):
        if proc.poll() is not None:
          codes[i] = proc.returncode
          del running[i]
          if proc.returncode != 0 and deadline is None and signals.received is None:
            failed.append(i)  # on its own, not because the sweep was being stopped
      halt = bool(failed) or signals.received is not None
      if halt and running and deadline is None:
        for proc in running.values():
          proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
      if deadline is not None and time.monotonic() > deadline:
        for proc in running.values():
          proc.kill()
        deadline = float("inf")  # killed once; wait for them to go
      if halt and not running:
        break
      time.sleep(poll_s)
  if not failed and signals.received is None:
    return
  lines = []
  if signals.received is not None:
    lines.append(f"Sweep stopped by signal {signals.received} "
                 f"({signal.Signals(signals.received).name}).")
  for i in failed:
    lines.append(f"Sweep point {names[i]} failed ({_exit_text(codes[i])}); its output is "
                 f"above, its folder is {os.path.join(workdir, names[i])}.")
  finished = [names[i] for i in sorted(codes) if codes[i] == 0]
  stopped = [i for i in sorted(codes) if codes[i] != 0 and i not in failed]
  lines.append("Finished: " + (", ".join(finished) or "none") + ".")
  if stopped:
    lines.append("Stopped (rerun the sweep to resume from their checkpoints): "
                 + ", ".join(f"{names[i]} ({_exit_text(codes[i])})" for i in stopped)
                 + ".")
  if pending:
    lines.append("Not started: " + ", ".join(names[i] for i in pending) + ".")
  raise SweepStopped("\n".join(lines), signals.received)
