"""Optax optimizers from config (plain data)."""

import optax

OPTIMIZERS = {"adam": optax.adam, "adamw": optax.adamw, "sgd": optax.sgd,
              "rmsprop": optax.rmsprop}


def make_optimizer(config) -> optax.GradientTransformation:
  """An optax transformation from `config.optimizer`-style fields.

  Fields: name (adam | adamw | sgd | rmsprop), learning_rate, optional
  warmup_steps (linear warm-up from 0), optional grad_clip_norm.
  """
  if config.name not in OPTIMIZERS:
    raise ValueError(f"Unknown optimizer {config.name!r}. Known: {', '.join(sorted(OPTIMIZERS))}.")
  learning_rate = config.learning_rate
  warmup = config.get("warmup_steps", 0)
  if warmup:
    learning_rate = optax.linear_schedule(0.0, config.learning_rate, warmup)
  tx = OPTIMIZERS[config.name](learning_rate)
  if config.get("grad_clip_norm"):
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
  return tx
