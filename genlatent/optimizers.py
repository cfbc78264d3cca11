"""Optax optimizers from config (plain data): the one factory every family and the
trainer use (gradient families, the RBM/DBN/DBM's CD updates, the AAE's phases)."""

import types

import jax
import optax

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "iwae")

# Every field of an optimizer config but `name` and `learning_rate`, with its
# default: the one table that configs/common.py declares the fields from and that
# completes a partial config (a library user's), so the two cannot disagree.
# momentum 0: none; weight_decay 0: none; grad_clip_norm 0: no clipping.
DEFAULTS = dict(schedule="constant", warmup_steps=0, decay_steps=0, steps_per_epoch=0,
                num_passes=8, b1=0.9, b2=0.999, eps=1e-8, momentum=0.0, weight_decay=0.0,
                grad_clip_norm=0.0)


def _fields(config) -> types.SimpleNamespace:
  """`DEFAULTS` overridden by every field of `config` (a ConfigDict or dict)."""
  given = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  return types.SimpleNamespace(**dict(DEFAULTS, **given))


def learning_rate_schedule(config):
  """The learning rate as a float or an optax schedule over update steps.

  constant  `learning_rate`, with an optional linear warm-up over `warmup_steps`,
            or a linear decay to 0 over `decay_steps` (Tieleman's PCD).
  iwae      Burda et al.'s schedule: pass i = 0..num_passes-1 runs 3^i epochs at
            learning_rate · 10^(−i/7); needs `steps_per_epoch`.
  """
  config = _fields(config)
  schedule = config.schedule
  if schedule == "constant":
    if config.warmup_steps and config.decay_steps:
      raise ValueError("optimizer: set warmup_steps or decay_steps, not both.")
    if config.warmup_steps:
      return optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
    if config.decay_steps:
      return optax.linear_schedule(config.learning_rate, 0.0, int(config.decay_steps))
    return config.learning_rate
  if schedule == "iwae":
    steps_per_epoch = config.steps_per_epoch
    if steps_per_epoch < 1:
      raise ValueError(f"optimizer.steps_per_epoch={steps_per_epoch}: schedule 'iwae' needs "
                       "the number of steps per epoch (>= 1).")
    boundaries, step = {}, 0
    for i in range(config.num_passes - 1):
      step += 3 ** i * steps_per_epoch
      boundaries[step] = 10.0 ** (-1.0 / 7.0)  # each boundary multiplies the rate
    return optax.piecewise_constant_schedule(config.learning_rate, boundaries)
  raise ValueError(f"Unknown schedule {schedule!r}. Known: {', '.join(SCHEDULES)}.")


def iwae_schedule_steps(steps_per_epoch: int, num_passes: int = 8) -> int:
  """Total steps of the IWAE schedule: Σ_i 3^i epochs (3280 epochs for 8 passes)."""
  return sum(3 ** i for i in range(num_passes)) * steps_per_epoch


def make_optimizer(config) -> optax.GradientTransformation:
  """An optax transformation from `config.optimizer`-style fields.

  Fields: name (adam | adamw | sgd | rmsprop), learning_rate, schedule (constant |
  iwae, see `learning_rate_schedule`), warmup_steps or decay_steps, grad_clip_norm,
  momentum (sgd), weight_decay (L2 on weight matrices only, not biases: the CD
  families' regulariser), and for Adam b1, b2, eps. A field `config` lacks takes
  its value from `DEFAULTS`.
  """
  if config.name not in OPTIMIZERS:
    raise ValueError(f"Unknown optimizer {config.name!r}. Known: {', '.join(OPTIMIZERS)}.")
  lr = learning_rate_schedule(config)
  config = _fields(config)
  if config.name in ("adam", "adamw"):
    fn = optax.adam if config.name == "adam" else optax.adamw
    tx = fn(lr, b1=config.b1, b2=config.b2, eps=config.eps)
  elif config.name == "sgd":
    tx = optax.sgd(lr, momentum=config.momentum or None)
  else:
    tx = optax.rmsprop(lr)
  if config.weight_decay:
    matrices = lambda p: jax.tree.map(lambda a: a.ndim >= 2, p)
    tx = optax.chain(optax.add_decayed_weights(config.weight_decay, mask=matrices), tx)
  if config.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
  return tx
