"""Mixture of multivariate Bernoullis on binarized images, EM-trained (exact log-likelihood).

Run (seconds on a 2-core CPU):
  python -m experiments.train --config=configs/bernoulli_mixture.py:digits \
      --workdir=runs/bernoulli_mixture_digits

eval.json holds the exact test log-likelihood in nats per image on the same
dynamically binarized digits test set as configs/vae.py:digits, so the two
are directly comparable; components.png shows each component's pixel
probabilities.

Variants (the part after the colon):
  digits         8×8 digits, dynamic binarization, K=80, stepwise EM over full
                 batches (each epoch is a fresh binarization) (default)
  fashion_mnist  Fashion-MNIST (apt-get install -y dataset-fashion-mnist), static
                 binarization, K=50, full-batch EM over the 50000 training images
  smoke          digits, K=3, a few steps (tests and CI)
"""

import ml_collections

from configs import common

VARIANTS = ("digits", "fashion_mnist", "smoke")


def get_config(arg: str = "digits") -> ml_collections.ConfigDict:
  variant = arg or "digits"
  config = common.base_config()

  config.data.update(dict(
      source="digits", validation_size=197, binarization="dynamic", threshold=0.5, seed=0))

  config.model = ml_collections.ConfigDict(dict(
      name="bernoulli_mixture", num_components=80, pseudo_count=0.1, training="stepwise_em",
      init="kmeans", kmeans_iterations=10, stepwise_offset=2.0, stepwise_power=0.7,
      reseed_min_count=1e-2))

  config.batch_size = 1240  # the whole training set (1437 − 197)
  config.num_steps = 200
  config.log_every = 20
  config.eval_every = 50
  config.checkpoint_every = 200
  config.keep_checkpoints = 2

  config.eval = ml_collections.ConfigDict(dict(
      batch_size=120, validation_estimator="exact", estimators="exact"))

  if variant == "digits":
    pass
  elif variant == "fashion_mnist":
    config.data.update(source="fashion_mnist", validation_size=10000, binarization="static")
    config.model.update(num_components=50, training="em")
    config.batch_size = 50000
    config.num_steps = 100
    config.eval.batch_size = 1000
  elif variant == "smoke":
    config.model.update(num_components=3, kmeans_iterations=3)
    config.num_steps = 6
    config.log_every = 2
    config.eval_every = 3
    config.checkpoint_every = 3
    config.progress_bar = False
  else:
    raise ValueError(f"Unknown variant {variant!r} of configs/bernoulli_mixture.py. "
                     f"Known: {', '.join(VARIANTS)}.")
  return config
