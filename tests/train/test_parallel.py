"""The same params after 5 steps on 1 device and on 8, for both backends."""

import jax
import pytest

from genlatent import train
from tests.train.helpers import assert_trees_close, smoke_config


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mesh", "pmap"])
def test_one_and_eight_devices_give_the_same_params(tmp_path, backend):
  assert jax.local_device_count() == 8, "conftest forces 8 host devices"
  finals = {}
  for devices in (1, 8):
    config = smoke_config(num_steps=5, batch_size=40, parallelism=backend,
                          num_devices=devices, checkpoint_every=5)
    finals[devices] = train.train_and_evaluate(config, str(tmp_path / f"{backend}{devices}"))
  assert int(finals[8].step) == 5
  assert_trees_close(finals[1].params, finals[8].params, atol=1e-5)


def test_batch_not_divisible_by_devices_is_a_clear_error(tmp_path):
  config = smoke_config(num_steps=1, batch_size=30)
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    train.train_and_evaluate(config, str(tmp_path))
