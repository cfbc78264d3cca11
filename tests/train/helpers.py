"""Shared helpers for trainer tests: tiny configs and reading back a workdir's params."""

import jax
import numpy as np

from configs import vae as vae_config
from genlatent import runs, train


def smoke_config(**overrides):
  config = vae_config.get_config("smoke")
  config.final_evaluation = False
  config.eval_every = 0
  config.data.validation_size = 197  # 1240 train rows: divisible by 8 devices and 40
  return runs.apply_overrides(config, overrides)


def params_of(workdir):
  """Host numpy params of the newest checkpoint in `workdir`."""
  _, _, _, backend, state = train.restore_workdir(workdir)
  return jax.tree.map(np.asarray, backend.host_state(state).params)


def assert_trees_close(a, b, atol):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(x, y, atol=atol, rtol=0)


def random_rbm(seed, num_visible, num_hidden, scale=1.0, gaussian=False):
  """RBM params with weights of std `scale` and standard-normal biases (and log σ)."""
  from genlatent import boltzmann  # pylint: disable=g-import-not-at-top
  keys = jax.random.split(jax.random.PRNGKey(seed), 4)
  params = boltzmann.init_params(keys[0], num_visible, num_hidden, init_scale=scale,
                                 visible="gaussian" if gaussian else "bernoulli")
  params["visible_bias"] = jax.random.normal(keys[1], (num_visible,))
  params["hidden_bias"] = jax.random.normal(keys[2], (num_hidden,))
  if gaussian:
    params["log_sigma"] = 0.3 * jax.random.normal(keys[3], (num_visible,))
  return params
