"""VAE, IWAE (k=5) and VampPrior VAE on Fashion-MNIST: one architecture, one budget.

Statically binarized Fashion-MNIST (`apt-get install -y dataset-fashion-mnist`),
784-500-20 MLPs (tanh), Adam 1e-3, batch 128, 10 epochs of the 50,000 training
images (3,900 steps); every member is scored on the 10,000 test images with the
ELBO (100 samples, lower bound) and importance sampling (k=1000, estimate).

  python -m experiments.compare --suite=configs/suites/fashion_mnist_vae.py --workdir=runs/fmnist_vae

The papers' ordering to look for: IWAE's and the VampPrior's log-likelihoods
above the VAE's (Burda et al. 2016; Tomczak & Welling 2018), and IWAE's ELBO
below the VAE's (it does not train the ELBO).
"""

from genlatent import compare

STEPS = 10 * 50_000 // 128  # 10 epochs

MEMBERS = [
    ("vae", "configs/vae.py:fashion_mnist", {}),
    # configs/iwae.py brought to the VAE's architecture, batch and optimizer.
    ("iwae_k5", "configs/iwae.py:fashion_mnist,k=5",
     {"batch_size": 128,
      "model": {"latent_dim": 20, "encoder_hidden": (500,), "decoder_hidden": (500,)},
      "optimizer": {"schedule": "constant", "eps": 1e-8}}),
    ("vamp_vae", "configs/vampprior.py:fashion_mnist", {}),
]


def get_config(arg: str = ""):
  del arg
  shared = {"num_steps": STEPS, "eval_every": STEPS, "checkpoint_every": STEPS,
            "eval": {"estimators": "elbo:100,importance:1000"}}
  return compare.suite_config(
      "VAE, IWAE (k=5) and VampPrior on Fashion-MNIST (static binarization, 10 epochs)",
      dict(source="idx:/usr/share/datasets/fashion-mnist", validation_size=10000,
           binarization="static", threshold=0.5, seed=0),
      [(n, c, {**shared, **o}) for n, c, o in MEMBERS],
      parzen_samples=0)  # likelihoods only
