"""Model configs for tests: a family's own config (configs/<family>.py, `smoke`) with
overrides, so a test sets only what it is about and every other field has the default
a run would have."""

import importlib

import ml_collections


def model_config(family: str, **overrides) -> ml_collections.ConfigDict:
  """configs/<family>.py:smoke's `model` part with `overrides` (new fields allowed)."""
  config = importlib.import_module(f"configs.{family}").get_config("smoke").model
  for name, value in overrides.items():
    config[name] = value  # replaces a sub-config whole (e.g. prior_config) rather than merging
  return config
