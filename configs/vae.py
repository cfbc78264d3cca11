"""MLP VAE (Gaussian encoder, Bernoulli decoder, standard normal prior).

Run (the README's main job, ~1 minute on a 2-core CPU):
  python -m experiments.train --config=configs/vae.py:digits --workdir=runs/vae_digits

Variants (the part after the colon):
  digits         scikit-learn's 8×8 digits, dynamically binarized (default)
  digits_2d      digits with latent_dim=2, for the 2-D manifold figure: train with
                 --config=configs/vae.py:digits_2d --workdir=runs/vae_digits_2d, then
                 `python -m experiments.sample --workdir=runs/vae_digits_2d` writes
                 manifold.png and latent_scatter.png (codes as they are, no PCA)
  fashion_mnist  Fashion-MNIST from `apt-get install -y dataset-fashion-mnist`,
                 784-500-20, statically binarized
  mnist          MNIST through tfds (prepare it first: see README)
  conv           digits with convolutional encoder and decoder
  fashion_mnist_conv  Fashion-MNIST, convolutional nets
  smoke          digits, a few steps, small nets (tests and CI)
"""

import ml_collections

from configs import common


def get_config(arg: str = "digits") -> ml_collections.ConfigDict:
  variant = arg or "digits"
  config = common.base_config()

  config.data.update(dict(
      source="digits", validation_size=200, binarization="dynamic", threshold=0.5, seed=0))

  # Every model field README documents, with its default (README: "VAE family").
  config.model = ml_collections.ConfigDict(dict(
      name="vae", latent_dim=8,
      encoder_type="mlp", decoder_type="mlp",  # or "conv"
      encoder_hidden=(256, 256), decoder_hidden=(256, 256),  # mlp
      conv_features=(32, 64), conv_dense=256,  # conv
      activation="relu",
      likelihood="bernoulli",  # gaussian | gaussian_learned | discretized_logistic
      likelihood_config=ml_collections.ConfigDict(dict(scale=0.1, num_bins=256)),
      objective="elbo", beta=1.0, kl_warmup_steps=0,  # or "iwae" with num_train_samples
      num_train_samples=1,
      stochastic_layers=1, latent_dim_1=0, hidden_2=(100, 100),  # 2 layers; 0: latent_dim
      prior="standard_normal", prior_config=ml_collections.ConfigDict(),
      chunk_size=0,  # importance samples per chunk at evaluation; 0: ~2048 decoder rows
      ais_schedule="sigmoid:1000", ais_leapfrog_steps=10))  # HMC-AIS (`ais` estimator)

  config.optimizer = common.optimizer(
      name="adam", learning_rate=1e-3, warmup_steps=0, grad_clip_norm=0.0)

  config.batch_size = 128
  config.num_steps = 6000
  config.log_every = 100
  config.eval_every = 1000
  config.checkpoint_every = 2000

  config.eval = ml_collections.ConfigDict(dict(
      batch_size=128,
      validation_estimator="elbo:1",
      estimators="elbo:100,importance:1000"))

  if variant == "digits":
    pass
  elif variant == "digits_2d":
    config.model.latent_dim = 2
  elif variant == "fashion_mnist":
    config.data.source = "idx:/usr/share/datasets/fashion-mnist"
    config.data.validation_size = 10000
    config.data.binarization = "static"
    config.model.update(latent_dim=20, encoder_hidden=(500,), decoder_hidden=(500,),
                        activation="tanh")
    config.num_steps = 20000
    config.eval_every = 2000
    config.checkpoint_every = 5000
    config.eval.batch_size = 256
  elif variant == "mnist":
    config.data.source = "tfds:mnist"
    config.data.validation_size = 10000
    config.model.update(latent_dim=20, encoder_hidden=(500,), decoder_hidden=(500,),
                        activation="tanh")
    config.num_steps = 20000
    config.eval_every = 2000
    config.checkpoint_every = 5000
    config.eval.batch_size = 256
  elif variant in ("conv", "fashion_mnist_conv"):
    if variant == "fashion_mnist_conv":
      config.data.source = "idx:/usr/share/datasets/fashion-mnist"
      config.data.validation_size = 10000
      config.data.binarization = "static"
      config.model.latent_dim = 20
      config.num_steps = 20000
      config.eval.batch_size = 256
    config.model.update(encoder_type="conv", decoder_type="conv", conv_features=(32, 64),
                        conv_dense=256)
  elif variant == "smoke":
    config.model.update(latent_dim=2, encoder_hidden=(16,), decoder_hidden=(16,))
    config.batch_size = 32
    config.num_steps = 20
    config.log_every = 5
    config.eval_every = 10
    config.checkpoint_every = 10
    config.progress_bar = False
    config.eval.update(batch_size=64, estimators="elbo:2,importance:20")
  else:
    raise ValueError(f"Unknown variant {variant!r} of configs/vae.py. "
                     "Known: digits, digits_2d, fashion_mnist, mnist, smoke.")
  return config


def get_sweep(arg: str = "digits"):
  """Latent size and KL weight: `python -m experiments.sweep --config=configs/vae.py:digits ...`."""
  del arg
  return [{"model.latent_dim": d, "model.beta": b} for d in (2, 8, 16) for b in (0.5, 1.0)]
