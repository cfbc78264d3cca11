"""Gaussian mixture model on PCA features, trained by full-batch EM (exact log-likelihood).

Run (seconds on a 2-core CPU):
  python -m experiments.train --config=configs/gmm.py:digits --workdir=runs/gmm_digits

It writes eval.json (estimator `exact`, kind exact, nats per example of the
PCA-20 features: a density, not comparable with pixel-space likelihoods),
samples.png (samples mapped back to images), reconstructions.png (each test
image next to the responsibility-weighted component mean) and components.png.

Variants (the part after the colon):
  digits          scikit-learn's 8×8 digits, PCA-20, K=20 full covariances, full-batch EM (default)
  digits_2d       digits on PCA-2 with K=10: components.png shows the test points
                  with each component's 1σ/2σ ellipses
  digits_stepwise digits, mini-batch (stepwise) EM, batches of 248
  digits_gradient digits, Adam on −log p(x) from the same k-means start
  fashion_mnist   Fashion-MNIST (apt-get install -y dataset-fashion-mnist), PCA-50,
                  K=10 full covariances, full-batch EM over the 50000 training images
  smoke           digits, PCA-8, K=3, a few EM steps (tests and CI)

Full-batch EM needs batch_size = the number of training examples, which must be
divisible by the device count: digits keeps 1240 (1437 − 197 validation) and
Fashion-MNIST 50000 (60000 − 10000).
"""

import ml_collections

from configs import common

VARIANTS = ("digits", "digits_2d", "digits_stepwise", "digits_gradient", "fashion_mnist", "smoke")


def get_config(arg: str = "digits") -> ml_collections.ConfigDict:
  variant = arg or "digits"
  config = common.base_config()

  config.data.update(dict(
      source="digits", validation_size=197, binarization="none", threshold=0.5, seed=0,
      pca_components=20, pca_whiten=False))

  config.model = ml_collections.ConfigDict(dict(
      name="gmm", num_components=20, covariance_type="full", reg_covar=1e-2,
      training="em", init="kmeans", kmeans_iterations=10,
      stepwise_offset=2.0, stepwise_power=0.7, reseed_min_count=1e-2, chunk_size=0))

  # Used by training="gradient" only.
  config.optimizer = common.optimizer(
      name="adam", learning_rate=1e-2, warmup_steps=0, grad_clip_norm=0.0)

  config.batch_size = 1240  # the whole training set: full-batch EM
  config.num_steps = 100  # EM iterations
  config.log_every = 10
  config.eval_every = 25
  config.checkpoint_every = 100
  config.keep_checkpoints = 2

  config.eval = ml_collections.ConfigDict(dict(
      batch_size=120, validation_estimator="exact", estimators="exact,elbo"))

  if variant == "digits":
    pass
  elif variant == "digits_2d":
    config.data.pca_components = 2
    config.model.update(num_components=10, reg_covar=1e-3)
  elif variant == "digits_stepwise":
    config.model.training = "stepwise_em"
    config.batch_size = 248
    config.num_steps = 300
    config.log_every = 25
    config.eval_every = 100
    config.checkpoint_every = 300
  elif variant == "digits_gradient":
    # No covariance floor acts like EM's reg_covar here (the gradient path only
    # bounds the Cholesky diagonal), so validation peaks early: few steps.
    config.model.training = "gradient"
    config.batch_size = 248
    config.num_steps = 500
    config.log_every = 50
    config.eval_every = 100
    config.checkpoint_every = 500
  elif variant == "fashion_mnist":
    config.data.update(source="fashion_mnist", validation_size=10000, pca_components=50)
    config.model.update(num_components=10, reg_covar=1e-3, chunk_size=12500)
    config.batch_size = 50000
    config.num_steps = 100
    config.eval_every = 50
    config.eval.batch_size = 1000
  elif variant == "smoke":
    config.data.pca_components = 8
    config.model.update(num_components=3, reg_covar=1e-3, kmeans_iterations=3)
    config.num_steps = 6
    config.log_every = 2
    config.eval_every = 3
    config.checkpoint_every = 3
    config.progress_bar = False
  else:
    raise ValueError(f"Unknown variant {variant!r} of configs/gmm.py. "
                     f"Known: {', '.join(VARIANTS)}.")
  return config
