"""Shared helpers for trainer tests: tiny configs and reading back a workdir's params."""

import jax
import numpy as np

from configs import vae as vae_config
from genlatent import train


def smoke_config(**overrides):
  config = vae_config.get_config("smoke")
  config.final_evaluation = False
  config.eval_every = 0
  config.data.validation_size = 197  # 1240 train rows: divisible by 8 devices and 40
  for name, value in overrides.items():
    target = config
    *path, leaf = name.split(".")
    for part in path:
      target = target[part]
    target[leaf] = value
  return config


def params_of(workdir):
  """Host numpy params of the newest checkpoint in `workdir`."""
  _, _, _, backend, state = train.restore_workdir(workdir)
  return jax.tree.map(np.asarray, backend.host_state(state).params)


def assert_trees_close(a, b, atol):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(x, y, atol=atol, rtol=0)
