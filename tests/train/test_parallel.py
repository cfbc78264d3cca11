"""One device and eight give the same run, for every family and both backends.

Each family's smoke config trains on one device (the mesh backend) and on eight
(mesh and pmap), each run through the command line's path to the end: final
evaluation, eval.json with its per-example values, figures. The eight-device runs
must match the one-device run in params, the family's training state (`extra`:
chains, sufficient statistics) and every per-example test value of its estimators.
The one-device run is shared by both backends' tests of a family.
"""

import dataclasses
import importlib
import json
import os

import jax
import numpy as np
import pytest

from genlatent import runs, train
from genlatent.train import evaluation
from tests.train.helpers import assert_trees_close, smoke_config


@dataclasses.dataclass(frozen=True)
class Family:
  """How one family's smoke config is run and compared across device counts.

  `estimators` are evaluated on the test split of every run (cheap ones; each
  per-example value must agree to `values_atol` nats). `chains_flip` replaces an
  `extra` comparison where it holds binary Gibbs chains: rounding in the device
  sums may flip a rare draw, so at most that fraction of units may differ.
  `resume_at`: the one-device run stops there and resumes, so the eight-device
  runs, straight through, also check that a resumed run is the same run.
  `figures`, `eval_json` (key, value) pairs and `labels` (estimator, kind) pairs
  are what the eight-device runs must have written, as the command line would.
  """
  config: str
  overrides: dict
  estimators: str
  params_atol: float = 1e-5
  extra_atol: float | None = None
  chains_flip: float | None = None
  values_atol: float = 1e-3
  resume_at: int | None = None
  figures: tuple = ()
  eval_json: tuple = ()
  labels: tuple = ()


FAMILIES = {
    # 1240 train rows and 360 test rows (validation_size=197) in batches of 40: every
    # batch splits 8 ways and the last test batch is padded.
    "vae": Family("vae:smoke", dict(num_steps=5, batch_size=40, **{"eval.batch_size": 40}),
                  estimators="elbo:2,importance:5"),
    # Full-batch EM in 5 chunks of 248 rows (31 per device): chunks are split over devices too.
    "gmm": Family("gmm:smoke", dict(num_steps=4, **{"model.chunk_size": 248}),
                  estimators="exact", params_atol=2e-4, extra_atol=2e-5,
                  figures=("samples.png", "reconstructions.png", "components.png"),
                  eval_json=(("features", "pca-8"),), labels=(("exact", "exact"),)),
    # Persistent chains live in the training state: they must survive a checkpoint.
    "rbm": Family("rbm:smoke,pcd", dict(num_steps=10), estimators="exact",
                  chains_flip=1e-3, resume_at=5),
    # A universal posterior puts noise on the encoder's input, per example; the
    # clustering variant has a batch mean in its class discriminator.
    "aae": Family("aae:smoke", dict(num_steps=2, batch_size=40,
                                    **{"model.posterior": "universal",
                                       "model.variant": "clustering"}),
                  estimators="parzen:100"),
}


def _config(family: Family, **overrides):
  module, variant = family.config.split(":")
  config = importlib.import_module(f"configs.{module}").get_config(variant)
  config.data.validation_size = 197
  steps = overrides.pop("num_steps", family.overrides.get("num_steps"))
  settings = dict(family.overrides, eval_every=0, progress_bar=False, num_steps=steps,
                  checkpoint_every=steps, **{"eval.estimators": family.estimators})
  settings.update(overrides)
  return runs.apply_overrides(config, settings)


def _run(family: Family, workdir: str, figures: bool = False, **overrides):
  """(final host state, eval.json, {estimator: [N] per-example test nats}).

  Figures are drawn on the host from the final params, whatever the device count,
  so only the run that checks them (`figures`) spends the time to draw them.
  """
  with pytest.MonkeyPatch.context() as patch:
    if not figures:
      patch.setattr("genlatent.train.results.write_figures", lambda *args, **kwargs: [])
    final = train.train_and_evaluate(_config(family, **overrides), workdir)
  with open(os.path.join(workdir, "eval.json"), encoding="utf-8") as f:
    result = json.load(f)
  stored = evaluation.load_eval_values(workdir)
  values = {e["estimator"]: stored[e["values_key"]] for e in result["splits"]["test"]}
  return final, result, values


@pytest.fixture(scope="module")
def one_device_runs(tmp_path_factory):
  """family name -> its one-device run, trained once for both backends' tests."""
  done = {}

  def get(name):
    if name not in done:
      family = FAMILIES[name]
      workdir = str(tmp_path_factory.mktemp(f"{name}1"))
      if family.resume_at is not None:
        first = train.train_and_evaluate(
            _config(family, num_devices=1, num_steps=family.resume_at, final_evaluation=False),
            workdir)
        _, _, _, backend, restored = train.restore_workdir(workdir)
        restored = backend.host_state(restored)
        assert_trees_close(restored.params, first.params, atol=0)
        assert_trees_close(restored.opt_state, first.opt_state, atol=0)
        assert_trees_close(restored.extra, first.extra, atol=0)
        done[name] = _run(family, workdir, num_devices=1, checkpoint_every=family.resume_at)
        # The resumed half moved on from the restored state.
        assert any(np.any(np.asarray(a) != np.asarray(b)) for a, b in zip(
            jax.tree.leaves(first.extra), jax.tree.leaves(done[name][0].extra)))
      else:
        done[name] = _run(family, workdir, num_devices=1)
    return done[name]

  return get


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mesh", "pmap"])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_one_and_eight_devices_give_the_same_run(tmp_path, one_device_runs, name, backend):
  assert jax.local_device_count() == 8, "conftest forces 8 host devices"
  family = FAMILIES[name]
  one, one_json, one_values = one_device_runs(name)
  eight, eight_json, eight_values = _run(family, str(tmp_path), parallelism=backend,
                                         num_devices=8, figures=bool(family.figures))

  assert int(eight.step) == int(one.step) == family.overrides["num_steps"]
  assert_trees_close(one.params, eight.params, atol=family.params_atol)
  if family.extra_atol is not None:
    assert_trees_close(one.extra, eight.extra, atol=family.extra_atol)
  if family.chains_flip is not None:
    flipped = np.mean(np.asarray(one.extra["chains"]) != np.asarray(eight.extra["chains"]))
    assert flipped < family.chains_flip

  labels = [e["estimator"] for e in one_json["splits"]["test"]]
  assert labels == [e["estimator"] for e in eight_json["splits"]["test"]]
  assert len(labels) == len(family.estimators.split(","))
  for entry_one, entry_eight in zip(one_json["splits"]["test"], eight_json["splits"]["test"]):
    assert entry_one["kind"] == entry_eight["kind"]
    assert np.isfinite(entry_eight["mean_nats"])
  for label in labels:
    a, b = one_values[label], eight_values[label]
    assert a.shape == b.shape == (360,) and np.all(np.isfinite(a))
    # Each example's noise is that of the same example on one device, not of its
    # position within a device's shard (which moves values by nats, not by 1e-4).
    np.testing.assert_allclose(b, a, atol=family.values_atol, rtol=0, err_msg=label)
  if family.labels:
    assert [(e["estimator"], e["kind"]) for e in eight_json["splits"]["test"]] == list(
        family.labels)
  for key, value in family.eval_json:
    assert eight_json[key] == value
  for figure in family.figures:
    assert os.path.getsize(os.path.join(str(tmp_path), figure)) > 0


def test_batch_not_divisible_by_devices_is_a_clear_error(tmp_path):
  config = smoke_config(num_steps=1, batch_size=30)
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    train.train_and_evaluate(config, str(tmp_path))
