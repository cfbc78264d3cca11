"""Restricted Boltzmann machine trained with CD-1 (or PCD), scored by AIS.

Run (~1.5 minutes on a 2-core CPU; test log p(x) ≈ −22.3 nats):
  python -m experiments.train --config=configs/rbm.py:digits --workdir=runs/rbm_digits

Variants (the part after the colon; modifiers follow a comma, e.g. `fashion_mnist,pcd`):
  digits         scikit-learn's 8×8 digits, dynamically binarized, 100 hidden (default)
  fashion_mnist  Fashion-MNIST (`apt-get install -y dataset-fashion-mnist`), statically
                 binarized, 500 hidden, 20 epochs (10,000 updates) at batch 100: training
                 ~4.5 min and AIS ~3 min on a shared 2-core VM. CD-1: −191.37 ± 0.88
                 nats, log Ẑ from the fitted base with ESS 81 of 100 and its base-rate
                 pilot 0.44 nats above it (the pilot alone: ESS 1.7 of 100; an older
                 base-rate run said −182.6, its log Z too low). With `pcd`: −135.2 ± 0.7
                 nats, AIS healthy (ESS 36 of 100, base-rate model).
  mnist          MNIST through tfds (prepare it first: see README), as fashion_mnist
  smoke          digits, 16 hidden (so `exact` log Z is available), a few steps (tests, CI)
Modifiers:
  pcd            persistent CD with 100 chains, no momentum, learning rate 0.03 decaying to 0
  gaussian       Gaussian visible units with learned σ on grey levels (no binarization);
                 log p(x) is then a density, not comparable with the binary variants

Test log p(x) is `ais:100`: log Z by AIS with 100 chains and the classic 14,500-step
schedule (`ais_base` fitted: a pilot from the data's base rates, then a run from a base
fitted to the pilot's weighted states; `data`: the pilot alone), reported as an estimate;
eval.json also holds log Ẑ ± its spread, the ±3σ bracket, the chains' effective sample
size, the pilot's log Ẑ and whether AIS looks reliable.
"""

import ml_collections

from configs import common


def get_config(arg: str = "digits") -> ml_collections.ConfigDict:
  variant, *modifiers = (arg or "digits").split(",")
  config = common.base_config()

  config.data.update(dict(
      source="digits", validation_size=200, binarization="dynamic", threshold=0.5, seed=0))

  config.model = ml_collections.ConfigDict(dict(
      name="rbm", num_hidden=100, visible="bernoulli", learn_sigma=False, min_sigma=0.1,
      sigma_gradient_scale=0.01,
      training="cd", gibbs_steps=1, num_chains=100, init_scale=0.01,
      visible_bias_init="data", ais_schedule="classic", ais_base="fitted", sample_steps=1000,
      optimizer=ml_collections.ConfigDict(dict(
          name="sgd", learning_rate=0.05, momentum=0.9, weight_decay=1e-4, decay_steps=0))))

  config.batch_size = 100
  config.num_steps = 5000
  config.log_every = 100
  config.eval_every = 1000
  config.checkpoint_every = 1000

  config.eval = ml_collections.ConfigDict(dict(
      batch_size=120,
      validation_estimator="ais:16",
      estimators="ais:100"))

  if variant == "digits":
    pass
  elif variant in ("fashion_mnist", "mnist"):
    config.data.source = "fashion_mnist" if variant == "fashion_mnist" else "tfds:mnist"
    config.data.validation_size = 10000
    config.data.binarization = "static"
    config.model.num_hidden = 500
    config.num_steps = 10000  # 20 epochs of 500 batches
    config.eval_every = 0  # AIS on validation costs ~1 min; the final test AIS is enough
    config.checkpoint_every = 2500
    config.log_every = 250
    config.eval.batch_size = 500
  elif variant == "smoke":
    config.model.update(num_hidden=16, ais_schedule="linear:300", sample_steps=20)
    config.batch_size = 40
    config.num_steps = 20
    config.log_every = 5
    config.eval_every = 10
    config.checkpoint_every = 10
    config.progress_bar = False
    config.eval.update(batch_size=40, validation_estimator="ais:8", estimators="ais:16,exact")
  else:
    raise ValueError(f"Unknown variant {variant!r} of configs/rbm.py. "
                     "Known: digits, fashion_mnist, mnist, smoke.")

  for modifier in modifiers:
    if modifier == "pcd":
      # Momentum makes the model move faster than persistent chains mix: on
      # Fashion-MNIST (2000 updates) lr 0.03 without it beat lr 0.002-0.05 with 0.9.
      config.model.training = "pcd"
      config.model.optimizer.update(learning_rate=0.03, momentum=0.0,
                                    decay_steps=config.num_steps)
    elif modifier == "gaussian":
      config.data.binarization = "none"
      config.model.update(visible="gaussian", learn_sigma=True)
      config.model.optimizer.update(learning_rate=0.005, weight_decay=0.0)
    else:
      raise ValueError(f"Unknown modifier {modifier!r} of configs/rbm.py. Known: pcd, gaussian.")
  return config
