"""Sweep expansion, running each point, and aggregating one table."""

import json
import os
import textwrap

import pytest

from genlatent import runs, sweeps

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
def test_expand_run_and_aggregate(tmp_path):
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


def test_config_without_sweep_and_bad_override(tmp_path):
  path = tmp_path / "plain.py"
  path.write_text("from configs import vae\nget_config = vae.get_config\n")
  with pytest.raises(ValueError, match="defines no get_sweep"):
    sweeps.expand(str(path))
  with pytest.raises(KeyError, match="no field 'latnt_dim'"):
    runs.load_config_ref("configs/vae.py:smoke", {"model.latnt_dim": 2})
