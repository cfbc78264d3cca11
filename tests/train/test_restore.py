"""Restoring a workdir runs no initialisation; an older config.json is completed from
today's defaults, the filled fields named in the log."""

import json
import logging
import os

import jax
import numpy as np
import pytest

from configs import gmm as gmm_config
from configs import rbm as rbm_config
from configs import vae as vae_config
from genlatent import runs, train
from genlatent.models import em
from genlatent.models import rbm as rbm_family
from genlatent.train import workdir as workdir_lib
from genlatent.train.checkpoint import state_checksum
from tests.train.helpers import smoke_config


def _concrete_calls(monkeypatch, module, name):
  """Wraps `module.name`, counting the calls made on concrete data (not under a trace)."""
  calls = []
  original = getattr(module, name)

  def counted(key, x, *args, **kwargs):
    if not isinstance(x, jax.core.Tracer):
      calls.append(np.shape(x))
    return original(key, x, *args, **kwargs)

  monkeypatch.setattr(module, name, counted)
  return calls


@pytest.mark.parametrize("family", ["gmm", "rbm_pcd"])
def test_restore_runs_no_initialisation_and_gives_the_saved_state(tmp_path, monkeypatch,
                                                                  family):
  if family == "gmm":  # k-means++ seeding and Lloyd steps on the training set
    config = gmm_config.get_config("smoke")
    calls = _concrete_calls(monkeypatch, em, "initial_labels")
  else:  # PCD chains started at training rows
    config = rbm_config.get_config("smoke,pcd")
    config.num_steps = 4
    calls = _concrete_calls(monkeypatch, rbm_family, "initial_chains")
  config.final_evaluation = False
  config.eval_every = 0
  trained = train.train_and_evaluate(config, str(tmp_path))
  assert len(calls) == 1  # the fresh run initialised once
  _, _, _, backend, state = train.restore_workdir(str(tmp_path))
  assert len(calls) == 1  # restoring did not initialise again
  assert state_checksum(backend.host_state(state)) == state_checksum(trained)


def test_resume_restores_into_shapes_without_initialising(tmp_path, monkeypatch):
  calls = _concrete_calls(monkeypatch, em, "initial_labels")
  config = gmm_config.get_config("smoke")
  config.final_evaluation, config.eval_every, config.num_steps = False, 0, 3
  train.train_and_evaluate(config, str(tmp_path / "resumed"))
  config.num_steps = 6
  resumed = train.train_and_evaluate(config, str(tmp_path / "resumed"))
  assert len(calls) == 1  # only the fresh start ran k-means
  straight = train.train_and_evaluate(config, str(tmp_path / "straight"))
  assert state_checksum(resumed) == state_checksum(straight)


def _old_config_json(workdir, config, missing):
  """config.json as an older genlatent wrote it: without the `missing` dotted fields."""
  saved = workdir_lib.config_as_json(config)
  for name in missing:
    *path, leaf = name.split(".")
    node = saved
    for part in path:
      node = node[part]
    del node[leaf]
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
    json.dump(saved, f)


MISSING = ("data.pca_components", "optimizer.schedule", "log_every")


def test_an_older_config_json_is_completed_from_todays_defaults(tmp_path, caplog):
  config = smoke_config()
  _old_config_json(str(tmp_path), config, MISSING)
  with caplog.at_level(logging.INFO, logger="genlatent.train.workdir"):
    loaded = train.load_config(str(tmp_path))
  assert loaded.data.pca_components == 0
  assert loaded.optimizer.schedule == "constant"
  # The family's default (configs/vae.py's digits), whatever the run's variant was.
  assert loaded.log_every == vae_config.get_config().log_every == 100
  (record,) = [r for r in caplog.records if "declared since" in r.getMessage()]
  assert all(name in record.getMessage() for name in MISSING)
  assert record.levelno == logging.INFO


def test_resume_accepts_an_older_config_json_lacking_new_fields(tmp_path):
  config = smoke_config(log_every=100)  # the run used what is today's default
  _old_config_json(str(tmp_path), config, MISSING)
  # Trained to step 5 under that config: today's config differs only by declaring them.
  assert workdir_lib.check_resume(str(tmp_path), config, 5) == []
  assert runs._config_changes(str(tmp_path), config) == []  # pylint: disable=protected-access
  # A new field set away from its default is still a change the checkpoints cannot honour.
  changed = runs.apply_overrides(config, {"data.pca_components": 4})
  with pytest.raises(workdir_lib.ConfigChangedError, match="data.pca_components"):
    workdir_lib.check_resume(str(tmp_path), changed, 5)
