"""The trainer's fields, declared once with their defaults; every config starts here.

Library code reads these fields without fallback defaults of its own, so a config
and the code cannot disagree about a default.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """Fields every experiment has; a config adds data, model, optimizer and eval."""
  return ml_collections.ConfigDict(dict(
      seed=0,
      parallelism="mesh",  # or "pmap"
      num_devices=0,  # 0: every local device
      imports=(),  # modules that register user models, priors, estimators or data sources
      keep_checkpoints=3,
      progress_bar=True,
      final_evaluation=True,
  ))
