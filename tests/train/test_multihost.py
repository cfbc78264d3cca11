"""Two CPU processes on localhost (gloo collectives) train exactly as one process."""

import os
import socket
import subprocess
import sys

import pytest

from tests.train.helpers import assert_trees_close, params_of

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = ["--config=configs/vae.py:smoke", "--config.num_steps=5", "--config.batch_size=40",
        "--config.final_evaluation=false", "--config.eval_every=0",
        "--config.data.validation_size=197", "--config.checkpoint_every=5"]


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _launch(workdir, devices_per_process, env_extra):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}",
             **env_extra)
  return subprocess.Popen([sys.executable, "-m", "experiments.train", *ARGS,
                           f"--workdir={workdir}"], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path):
  port = _free_port()
  procs = [_launch(tmp_path / "two", 1, {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
                                         "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)})
           for i in range(2)]
  single = _launch(tmp_path / "one", 2, {})
  for proc in procs + [single]:
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output[-3000:]
  # Checkpointed once, by the primary process, with the same global batch each step.
  assert os.listdir(tmp_path / "two" / "checkpoints") == ["5"]
  assert_trees_close(params_of(tmp_path / "one"), params_of(tmp_path / "two"), atol=1e-6)
