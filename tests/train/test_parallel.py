"""1 device and 8 give the same run, for both backends: params after 5 steps and the
evaluation's per-example values (ELBO and importance sampling) on the test split."""

import jax
import numpy as np
import pytest

from genlatent import train
from genlatent.train import evaluation
from tests.train.helpers import assert_trees_close, smoke_config


def _per_example_values(workdir, estimator, num_samples):
  """[N] test-split nats of a trained workdir, evaluated on the run's own backend."""
  config, dataset, model, backend, state = train.restore_workdir(workdir)
  summary = evaluation.evaluate_split(
      model, backend, backend.params(state), dataset.test, estimator=estimator,
      num_samples=num_samples, batch_size=config.eval.batch_size,
      key=jax.random.PRNGKey(7), dataset=dataset)
  return summary.values


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mesh", "pmap"])
def test_one_and_eight_devices_give_the_same_params_and_evaluation(tmp_path, backend):
  assert jax.local_device_count() == 8, "conftest forces 8 host devices"
  finals, values = {}, {}
  for devices in (1, 8):
    workdir = str(tmp_path / f"{backend}{devices}")
    # 360 test rows in batches of 40: the last batch is padded, every batch split 8 ways.
    config = smoke_config(num_steps=5, batch_size=40, parallelism=backend,
                          num_devices=devices, checkpoint_every=5, **{"eval.batch_size": 40})
    finals[devices] = train.train_and_evaluate(config, workdir)
    values[devices] = {name: _per_example_values(workdir, name, k)
                       for name, k in (("elbo", 2), ("importance", 5))}
  assert int(finals[8].step) == 5
  assert_trees_close(finals[1].params, finals[8].params, atol=1e-5)
  for name in ("elbo", "importance"):
    one, eight = values[1][name], values[8][name]
    assert one.shape == eight.shape == (360,) and np.all(np.isfinite(one))
    # Each example's noise is that of the same example on one device, not of its
    # position within a device's shard (which moves values by nats, not by 1e-4).
    np.testing.assert_allclose(eight, one, atol=1e-3, rtol=0, err_msg=name)


def test_batch_not_divisible_by_devices_is_a_clear_error(tmp_path):
  config = smoke_config(num_steps=1, batch_size=30)
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    train.train_and_evaluate(config, str(tmp_path))
