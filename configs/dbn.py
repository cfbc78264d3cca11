"""Deep belief net: RBMs trained greedily with CD-1, scored by AIS on the top RBM.

Run (~2 minutes on a 2-core CPU; test log p(x) ≈ −22.3 nats (ais), −22.6 (elbo)):
  python -m experiments.train --config=configs/dbn.py:digits --workdir=runs/dbn_digits

Variants (the part after the colon; modifiers follow a comma, e.g. `fashion_mnist,pcd`):
  digits         scikit-learn's 8×8 digits, dynamically binarized, 64-100-100 (default)
  fashion_mnist  Fashion-MNIST (`apt-get install -y dataset-fashion-mnist`), statically
                 binarized, 784-500-500, 10 epochs per layer at batch 100 (the same
                 10,000 updates as configs/rbm.py:fashion_mnist): −139.44 ± 0.76 nats
                 (ais), −148.74 (elbo), both over one log Ẑ_top 1043.02 ± 0.18 from the
                 fitted base (ESS 24 of 100; its base-rate pilot 0.65 nats below, ESS
                 2.7). From the base rates alone AIS was flagged (ESS 2 of 100).
                 Training 30 s, this evaluation 55 s on a 2-core VM.
  mnist          MNIST through tfds (prepare it first: see README), as fashion_mnist
  smoke          digits, 64-12-10 (small enough for `exact`), a few steps (tests, CI)
Modifiers:
  pcd            persistent CD for every layer (as configs/rbm.py's pcd)

Test log p(x): `ais:100` is the importance-weighted bound with 100 samples from the
recognition model over log Ẑ_top from AIS (100 chains × 14,500 steps, from the fitted
base: see configs/rbm.py); `elbo:10` the Monte Carlo variational bound over the same
log Ẑ_top. Both are estimates.
"""

import ml_collections

from configs import common


def get_config(arg: str = "digits") -> ml_collections.ConfigDict:
  variant, *modifiers = (arg or "digits").split(",")
  config = common.base_config()

  config.data.update(dict(
      source="digits", validation_size=200, binarization="dynamic", threshold=0.5, seed=0))

  config.model = ml_collections.ConfigDict(dict(
      name="dbn", hidden=(100, 100), layer_steps=(2500, 2500),
      training="cd", gibbs_steps=1, num_chains=100, init_scale=0.01,
      ais_schedule="classic", ais_base="fitted", ais_chains=100, posterior_samples=100,
      chunk_size=100,
      sample_steps=1000,
      optimizer=ml_collections.ConfigDict(dict(
          name="sgd", learning_rate=0.05, momentum=0.9, weight_decay=1e-4, decay_steps=0))))

  config.batch_size = 100
  config.num_steps = 5000
  config.log_every = 100
  config.eval_every = 0
  config.checkpoint_every = 1000

  config.eval = ml_collections.ConfigDict(dict(
      batch_size=120,
      validation_estimator="elbo:1",
      estimators="ais:100,elbo:10"))

  if variant == "digits":
    pass
  elif variant in ("fashion_mnist", "mnist"):
    config.data.source = "fashion_mnist" if variant == "fashion_mnist" else "tfds:mnist"
    config.data.validation_size = 10000
    config.data.binarization = "static"
    config.model.update(hidden=(500, 500), layer_steps=(5000, 5000))
    config.num_steps = 10000
    config.checkpoint_every = 2500
    config.log_every = 250
    config.eval.batch_size = 500
  elif variant == "smoke":
    config.model.update(hidden=(12, 10), layer_steps=(10, 10), ais_schedule="linear:300",
                        ais_chains=16, posterior_samples=8, sample_steps=20)
    config.batch_size = 40
    config.num_steps = 20
    config.log_every = 5
    config.checkpoint_every = 10
    config.progress_bar = False
    config.eval.update(batch_size=40, estimators="ais:16,elbo:4,exact")
  else:
    raise ValueError(f"Unknown variant {variant!r} of configs/dbn.py. "
                     "Known: digits, fashion_mnist, mnist, smoke.")

  for modifier in modifiers:
    if modifier == "pcd":  # as configs/rbm.py's pcd: no momentum, decaying rate
      config.model.training = "pcd"
      config.model.optimizer.update(learning_rate=0.03, momentum=0.0,
                                    decay_steps=max(config.model.layer_steps))
    else:
      raise ValueError(f"Unknown modifier {modifier!r} of configs/dbn.py. Known: pcd.")
  return config
