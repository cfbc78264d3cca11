"""The published MNIST protocols, to check genlatent against the papers' numbers.

  tfds build mnist --file_format=array_record      # once, on a machine with TensorFlow
  tfds build binarized_mnist --file_format=array_record
  python -m experiments.compare --suite=configs/suites/mnist_published.py --workdir=runs/published

Each member's config docstring gives its own command and the number it should reproduce:
  iwae_1layer_k50   configs/iwae.py:mnist,1layer,k=50,paper   −84.78 nats (IWAE k=5000; Burda et al. 2016, Table 1)
  iwae_2layer_k50   configs/iwae.py:mnist,2layer,k=50,paper   −82.90 nats
  vae_1layer        configs/iwae.py:mnist,1layer,k=1,vae,paper −86.76 nats
  vamp_vae          configs/vampprior.py:mnist                 −85.57 nats (Tomczak & Welling 2018)
  rbm_500_cd1       configs/rbm.py:mnist                       −125.53 nats (AIS; Salakhutdinov & Murray 2008, CD1 with 500 hidden units)
  dbm               configs/dbm.py:mnist                       −84.62 nats (Salakhutdinov & Hinton 2009, AIS)
  aae_parzen        configs/aae.py:mnist                       340 ± 2 Parzen (Makhzani et al. 2016, on real-valued MNIST)
These are days of CPU time: run them on an accelerator (README, "Parallelism").
"""

from genlatent import compare

MEMBERS = [
    ("iwae_1layer_k50", "configs/iwae.py:mnist,1layer,k=50,paper"),
    ("iwae_2layer_k50", "configs/iwae.py:mnist,2layer,k=50,paper"),
    ("vae_1layer", "configs/iwae.py:mnist,1layer,k=1,vae,paper"),
    ("vamp_vae", "configs/vampprior.py:mnist"),
    ("rbm_500_cd1", "configs/rbm.py:mnist"),
    ("dbm", "configs/dbm.py:mnist"),
    ("aae_parzen", "configs/aae.py:mnist"),
]


def get_config(arg: str = ""):
  del arg
  # The members keep their own data settings (each paper's binarization); only the
  # split seed is shared.
  return compare.suite_config("Published MNIST protocols", dict(seed=0),
                              [(n, c, {}) for n, c in MEMBERS], parzen_samples=10_000)
