"""The fields every experiment shares, declared once with their defaults; every config
starts from `base_config()` and changes what it needs (`config.data.update(...)`).

Library code reads these fields without fallback defaults of its own. The data and
optimizer fields take their defaults from the library's one table of them
(`genlatent.data.DEFAULTS`, `genlatent.optimizers.DEFAULTS`), which also completes
a partial config a library user builds by hand, so a config and the code cannot
disagree about a default.
"""

import ml_collections

from genlatent import data, optimizers


def optimizer(**fields) -> ml_collections.ConfigDict:
  """An optimizer config with every field declared (see `genlatent.optimizers.make_optimizer`).

  `name` (adam | adamw | sgd | rmsprop) and `learning_rate` default to Adam at 1e-3.
  """
  config = ml_collections.ConfigDict(dict(name="adam", learning_rate=1e-3,
                                          **optimizers.DEFAULTS))
  config.update(fields)
  return config


def base_config() -> ml_collections.ConfigDict:
  """Fields every experiment has; a config adds the model, batch_size, num_steps and eval,
  changes `data`, and adds an `optimizer` (`optimizer(...)`) where the family uses one."""
  return ml_collections.ConfigDict(dict(
      seed=0,
      parallelism="mesh",  # or "pmap"
      num_devices=0,  # 0: every local device
      imports=(),  # modules that register user models, priors, estimators or data sources
      log_every=50,  # steps between metrics.jsonl rows
      checkpoint_every=1000,  # steps between checkpoints (and always the last step)
      eval_every=0,  # steps between validation estimates; 0: none during training
      keep_checkpoints=3,
      progress_bar=True,
      final_evaluation=True,
      data=ml_collections.ConfigDict(dict(source="digits", **data.DEFAULTS)),
  ))
