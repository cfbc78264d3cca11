"""A trained workdir back in memory: its config, data, model and newest good state.

The checkpoint is restored into shapes from `jax.eval_shape` (`build.abstract_state`),
so no family initialisation (k-means, PCD chains) runs just to learn them.
"""

from __future__ import annotations

import ml_collections

from genlatent.core import TrainState
from genlatent.train import build as build_lib
from genlatent.train import workdir as workdir_lib
from genlatent.train.checkpoint import Checkpointer


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run wrote into `workdir` (without its history of changes).

  Fields an older config.json lacks are filled from today's defaults (see
  `workdir.saved_config`, which names them in the log file).
  """
  found = workdir_lib.saved_config(workdir)
  if found is None:
    raise FileNotFoundError(
        f"No config.json in {workdir}: is it a genlatent workdir? Train first with "
        f"python -m experiments.train --config=configs/vae.py --workdir={workdir}")
  return ml_collections.ConfigDict(found[0])


def restore_state(checkpointer: Checkpointer, backend, abstract: TrainState):
  """The newest good checkpoint (host arrays), or None where there is none.

  Args:
    abstract: host-shaped `jax.ShapeDtypeStruct` leaves (`build.abstract_state`).
  Damaged steps that were skipped are said on the console (and moved aside by
  the checkpointer).
  """
  restored = checkpointer.restore(backend.abstract_state(abstract))
  for step, why, moved in checkpointer.skipped:
    workdir_lib.say(f"Checkpoint step {step} is damaged ({why}); moved it to {moved}.")
  return restored


def restore_workdir(workdir: str):
  """(config, dataset, model, backend, newest good state placed by the backend) of `workdir`.

  Raises:
    FileNotFoundError: no config.json, or no checkpoint.
    CheckpointError: checkpoints exist but none can be restored.
  """
  config = load_config(workdir)
  backend = build_lib.make_backend(config)
  dataset, model, tx, _ = build_lib.build(config)
  checkpointer = Checkpointer(workdir, config.keep_checkpoints)
  try:
    state = restore_state(checkpointer, backend,
                          build_lib.abstract_state(config, model, tx, dataset))
  finally:
    checkpointer.close()
  if state is None:
    raise FileNotFoundError(f"No checkpoint in {checkpointer.directory}; train first.")
  return config, dataset, model, backend, backend.put_state(state)
