"""From a config to a run's parts: devices, data, model, update function and state.

The state comes two ways: `initial_state` runs the family's initialisation (a
k-means start, PCD chains at training rows); `abstract_state` gives only its
shapes and dtypes through `jax.eval_shape`, so restoring a checkpoint runs no
initialisation at all.
"""

from __future__ import annotations

import functools
import importlib

import jax
import jax.numpy as jnp
import ml_collections
import optax

from genlatent import data as data_lib
from genlatent import models as models_lib
from genlatent.core import Model, TrainState
from genlatent.core.collective import LOCAL, Collective
from genlatent.optimizers import make_optimizer
from genlatent.train import parallel

KEY_NAMES = ("init", "train", "data", "eval", "sample")


def run_keys(config) -> dict[str, jax.Array]:
  """{'init', 'train', 'data', 'eval', 'sample'}: one key each, split from PRNGKey(config.seed)."""
  root = jax.random.PRNGKey(config.seed)
  return dict(zip(KEY_NAMES, jax.random.split(root, len(KEY_NAMES))))


def make_backend(config):
  """The `config.parallelism` backend over `config.num_devices` local devices (0: all)."""
  return parallel.make_backend(config.parallelism, config.num_devices)


def devices_per_batch(backend) -> int:
  """How many ways a global batch is split (every device of every process)."""
  if backend.name == "pmap":
    return backend.num_devices * jax.process_count()
  return backend.num_devices


def gradient_update(loss_fn, tx: optax.GradientTransformation):
  """A family's `loss` turned into `update(state, batch, key, collective=LOCAL)`.

  Under `pmap` the gradients and metrics are averaged by the collective; under
  the mesh backend the batch mean in `loss_fn` already spans every device.
  """

  def update(state: TrainState, batch, key, collective: Collective = LOCAL):
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, batch, key, state.step)
    grads, metrics = collective.mean((grads, dict(metrics, loss=loss)))
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return update


def build(config: ml_collections.ConfigDict):
  """(dataset, model, tx or None, update) for `config`: no params, no initialisation.

  `tx` is the optimizer of a gradient family (`model.loss`), None for a family
  with its own `update`.
  """
  # Modules named in `config.imports` register user models, priors or data sources.
  for module in config.imports:
    importlib.import_module(module)
  dataset = data_lib.load_dataset(config.data)
  model = models_lib.build_model(config.model, dataset.shape)
  if model.loss is not None:
    tx = make_optimizer(config.optimizer)
    return dataset, model, tx, gradient_update(model.loss, tx)
  return dataset, model, None, model.update


def _initial_state(model: Model, tx, key, x_example, x_train) -> TrainState:
  params = model.init(key, x_example)
  if model.loss is None:
    return model.init_state(key, params, x_train)
  if model.init_state is not None:  # a data-dependent start (e.g. k-means++ seeding)
    params = model.init_state(key, params, x_train).params
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=tx.init(params), extra={})


def initial_state(config, model: Model, tx, dataset) -> TrainState:
  """The state a fresh run starts from (host arrays), the family's initialisation run."""
  x = dataset.train.x
  return _initial_state(model, tx, run_keys(config)["init"], x[:2], x)


def abstract_state(config, model: Model, tx, dataset) -> TrainState:
  """`initial_state`'s shapes and dtypes (`jax.ShapeDtypeStruct` leaves), computing nothing.

  The training data enter as shapes only, so no initialisation (k-means, PCD
  chains) runs; a family's `init_state` must therefore be traceable.
  """
  x = dataset.train.x
  shape = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype)
  return jax.eval_shape(functools.partial(_initial_state, model, tx),
                        run_keys(config)["init"], shape(x[:2]), shape(x))


def setup(config: ml_collections.ConfigDict):
  """Data, model, initial state and the family's update function for `config`.

  Returns:
    (dataset, model, initial host TrainState, update(state, batch, key, collective=LOCAL)).
  """
  dataset, model, tx, update = build(config)
  return dataset, model, initial_state(config, model, tx, dataset), update
