"""Importance-weighted auto-encoders (Burda, Grosse & Salakhutdinov, 2016).

The arg is a comma-separated list of tokens:
  data:   mnist (tfds, the paper's setting) | fashion_mnist | digits (default)
  layers: 1layer (default) | 2layer           the paper's MNIST architectures
  k=<int> importance samples in the training objective (default 5)
  vae     train the same architecture with the ELBO (the paper's VAE column)
  paper   the paper's full schedule: 3^i epochs at 1e-3·10^(−i/7), i = 0..7 (3280 epochs)
  smoke   a few steps, small nets

Run:
  python -m experiments.train --config=configs/iwae.py:mnist,1layer,k=50,paper --workdir=runs/iwae
Published (MNIST test, IWAE k=5000 estimate, Burda et al. Table 1): 1 layer k=50 −84.78 nats,
2 layers k=50 −82.90 nats; VAE k=1 −86.76 / −85.33.
"""

from configs import vae as vae_config
from genlatent.optimizers import iwae_schedule_steps

TRAIN_SIZES = {"mnist": 50000, "fashion_mnist": 50000, "digits": 1237}


def get_config(arg: str = "digits"):
  tokens = [t.strip() for t in (arg or "digits").split(",") if t.strip()]
  data = next((t for t in tokens if t in TRAIN_SIZES), "digits")
  layers = 2 if "2layer" in tokens else 1
  k = next((int(t[2:]) for t in tokens if t.startswith("k=")), 5)
  known = set(TRAIN_SIZES) | {"1layer", "2layer", "vae", "paper", "smoke"}
  unknown = [t for t in tokens if t not in known and not t.startswith("k=")]
  if unknown:
    raise ValueError(f"Unknown tokens {unknown} in configs/iwae.py:{arg}. "
                     f"Known: {', '.join(sorted(known))}, k=<int>.")

  config = vae_config.get_config("smoke" if "smoke" in tokens else data)
  config.model.update(objective="elbo" if "vae" in tokens else "iwae", num_train_samples=k,
                      activation="tanh")
  if layers == 1:
    config.model.update(latent_dim=50, encoder_hidden=(200, 200), decoder_hidden=(200, 200))
  else:
    config.model.update(stochastic_layers=2, latent_dim_1=100, latent_dim=50,
                        encoder_hidden=(100, 100), hidden_2=(50, 50),
                        decoder_hidden=(100, 100))
  if data != "digits":
    config.data.binarization = "dynamic"   # the paper resamples binarizations
  config.batch_size = 20
  config.optimizer.update(name="adam", learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-4)
  steps_per_epoch = TRAIN_SIZES[data] // config.batch_size
  if "paper" in tokens:
    config.optimizer.update(schedule="iwae", steps_per_epoch=steps_per_epoch, num_passes=8)
    config.num_steps = iwae_schedule_steps(steps_per_epoch, 8)
  else:  # a budget that fits a CPU session: the first three passes of the schedule
    config.optimizer.update(schedule="iwae", steps_per_epoch=steps_per_epoch, num_passes=3)
    config.num_steps = iwae_schedule_steps(steps_per_epoch, 3)
  config.eval.estimators = "elbo:1,importance:5000" if data == "mnist" else \
      "elbo:100,importance:1000"
  if "smoke" in tokens:
    config.model.update(latent_dim=3, latent_dim_1=4, encoder_hidden=(16,), hidden_2=(8,),
                        decoder_hidden=(16,))
    config.batch_size = 32
    config.num_steps = 20
    config.optimizer.update(schedule="constant")
    config.eval.estimators = "elbo:2,importance:20"
  return config
