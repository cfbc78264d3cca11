"""Two CPU processes on localhost (gloo collectives) train exactly as one process, and
every multi-process failure ends each surviving process with one line, in bounded time."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests import xla
from tests.train.helpers import assert_trees_close, params_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = ["--config=configs/vae.py:smoke", "--config.num_steps=5", "--config.batch_size=40",
        "--config.final_evaluation=false", "--config.eval_every=0",
        "--config.data.validation_size=197", "--config.checkpoint_every=5"]
# A run that trains until it is stopped, saving only when stopped.
ENDLESS = [a for a in ARGS if not a.startswith(("--config.num_steps", "--config.checkpoint"))] + [
    "--config.num_steps=100000000", "--config.checkpoint_every=100000000", "--config.log_every=2"]


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _launch(workdir, devices_per_process, env_extra, args=ARGS):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=REPO,
             XLA_FLAGS=xla.flags(num_devices=devices_per_process),
             **env_extra)
  return subprocess.Popen([sys.executable, "-m", "experiments.train", *args,
                           f"--workdir={workdir}"], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cluster(num_processes, port, **extra):
  return lambda i: {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                    "JAX_NUM_PROCESSES": str(num_processes), "JAX_PROCESS_ID": str(i), **extra}


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path):
  env = _cluster(2, _free_port())
  procs = [_launch(tmp_path / "two", 1, env(i)) for i in range(2)]
  single = _launch(tmp_path / "one", 2, {})
  for proc in procs + [single]:
    output, errors = proc.communicate(timeout=300)
    assert proc.returncode == 0, (output + errors)[-3000:]
  # Checkpointed once, by the primary process, with the same global batch each step.
  assert os.listdir(tmp_path / "two" / "checkpoints") == ["5"]
  assert_trees_close(params_of(tmp_path / "one"), params_of(tmp_path / "two"), atol=1e-6)


def _one_error_line(proc, timeout):
  """The one `error:` line of a process that must fail, with no dump beside it."""
  _, errors = proc.communicate(timeout=timeout)
  assert proc.returncode != 0, errors[-3000:]
  lines = [line for line in errors.splitlines() if line.strip()]
  # absl INFO records (I1202 ...) are the trainer's log, not part of the failure.
  noise = [line for line in lines if not line[:1] == "I" or not line[1:5].isdigit()]
  assert len(noise) == 1 and noise[0].startswith("error: "), errors[-3000:]
  return noise[0]


def test_fewer_processes_than_announced_fail_in_one_line_each(tmp_path):
  port = _free_port()
  env = _cluster(3, port, GENLATENT_INIT_TIMEOUT_S="3")
  procs = [_launch(tmp_path / "run", 1, env(i)) for i in range(2)]  # process 2 never starts
  for i, proc in enumerate(procs):
    line = _one_error_line(proc, timeout=240)  # JAX alone waits 300 s, then aborts
    assert line.startswith(f"error: process {i} of 3: not all 3 processes joined "
                           f"127.0.0.1:{port} within 3s."), line
    assert "JAX_PROCESS_ID 0 to 2" in line and "GENLATENT_INIT_TIMEOUT_S" in line


def test_a_taken_coordinator_port_fails_in_one_line_on_each_process(tmp_path):
  port = _free_port()
  with socket.socket() as holder:
    holder.bind(("127.0.0.1", port))
    holder.listen()
    env = _cluster(2, port, GENLATENT_INIT_TIMEOUT_S="3")
    procs = [_launch(tmp_path / "run", 1, env(i)) for i in range(2)]
    first = _one_error_line(procs[0], timeout=240)
    second = _one_error_line(procs[1], timeout=240)
  assert first == (f"error: process 0 of 2: the coordinator port {port} (JAX_COORDINATOR_ADDRESS="
                   f"127.0.0.1:{port}) is in use by another program, perhaps an earlier run "
                   "still alive; stop it or give every process a free port.")
  assert second.startswith("error: process 1 of 2: not all 2 processes joined"), second


@pytest.mark.parametrize("victim", [1, 0], ids=["peer", "coordinator"])
def test_a_killed_process_ends_the_survivor_in_one_line(tmp_path, victim):
  env = _cluster(2, _free_port(), GENLATENT_HEARTBEAT_TIMEOUT_S="10")
  procs = [_launch(tmp_path / "run", 1, env(i), args=ENDLESS) for i in range(2)]
  metrics = tmp_path / "run" / "metrics.jsonl"
  end = time.monotonic() + 600
  try:
    while not (metrics.exists() and metrics.stat().st_size > 0):
      assert time.monotonic() < end and all(p.poll() is None for p in procs), "never trained"
      time.sleep(0.2)
    os.kill(procs[victim].pid, signal.SIGKILL)
    line = _one_error_line(procs[1 - victim], timeout=120)
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
      proc.communicate()
  assert line.startswith(f"error: process {1 - victim} of 2: "), line
  # Whichever notices first, the failed collective or the coordination service, names
  # the dead process: "process 1 stopped", "the coordinator (process 0 at ...) is gone".
  assert f"process {victim} stopped" in line or (
      victim == 0 and "the coordinator (process 0 at 127.0.0.1:" in line), line
  assert "restart all" in line


def _filtered(stderr: bytes) -> str:
  """What the console shows of `stderr` once it has passed through the stderr filter."""
  from experiments import common  # pylint: disable=import-outside-toplevel
  script = common._STDERR_FILTER  # pylint: disable=protected-access
  done = subprocess.run([sys.executable, "-c", script, "process 1 of 2", "127.0.0.1:1234"],
                        input=stderr,
                        capture_output=True, timeout=60, check=True)
  return done.stderr.decode()


_RUNTIME_WARNING = (b"W1204 13:27:11.471898   26556 preemption_sync_manager.cc:147] Failed to "
                    b"retrieve preemption notice from coordination service: UNAVAILABLE\n"
                    b"Additional GRPC error information from remote target coordination_service\n")


def test_runtime_warnings_after_a_one_line_error_stay_off_the_console():
  # A killed peer makes the runtime warn too, sometimes only after this process has
  # printed the line that names the dead peer: that line stays the only one.
  error = (b"error: process 1 of 2: a collective with the other processes failed: "
           b"process 0 stopped.\n")
  assert _filtered(b"step 1\n" + _RUNTIME_WARNING + error + _RUNTIME_WARNING) == (
      (b"step 1\n" + error).decode())


def test_runtime_warnings_of_a_run_without_an_error_are_shown_at_its_end():
  assert _filtered(b"step 1\n" + _RUNTIME_WARNING) == (b"step 1\n" + _RUNTIME_WARNING).decode()


def test_a_fatal_runtime_abort_becomes_one_line_naming_the_dead_process():
  abort = (b"F1204 13:27:11.4 1 client.cc:1] JAX distributed service detected fatal errors. "
           b"Tasks (stopped sending heartbeats): 0\n*** Check failure stack trace: ***\n"
           b"    @     0x7f00 absl::log_internal::LogMessage::Die()\n")
  shown = _filtered(b"step 1\n" + _RUNTIME_WARNING + abort)
  assert shown.splitlines() == [
      "step 1", "error: process 1 of 2: process(es) 0 stopped sending heartbeats: killed, "
      "crashed or hung. Check the other processes' output, then restart all of them; "
      "training resumes from the last checkpoint."]
