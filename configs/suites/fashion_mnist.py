"""Every family on Fashion-MNIST (`apt-get install -y dataset-fashion-mnist`), statically
binarized at 0.5, same split and seed; the GMM models PCA-50 features of the grey levels.

  python -m experiments.compare --suite=configs/suites/fashion_mnist.py --workdir=runs/compare_fmnist

Budget: each member's `fashion_mnist` variant (minutes to tens of minutes each on a 2-core CPU);
AIS and importance sampling use the full test set. Parzen: 10,000 samples, bandwidth on the
validation split.
"""

from genlatent import compare

MEMBERS = [
    ("gmm", "configs/gmm.py:fashion_mnist", {"data": {"binarization": "none"}}),
    ("bernoulli_mixture", "configs/bernoulli_mixture.py:fashion_mnist", {}),
    ("rbm_cd1", "configs/rbm.py:fashion_mnist", {}),
    ("rbm_pcd", "configs/rbm.py:fashion_mnist,pcd", {}),
    ("dbn", "configs/dbn.py:fashion_mnist", {}),
    ("dbm", "configs/dbm.py:fashion_mnist", {}),
    ("vae", "configs/vae.py:fashion_mnist", {}),
    ("iwae", "configs/iwae.py:fashion_mnist", {}),
    ("vamp_vae", "configs/vampprior.py:fashion_mnist", {}),
    ("ae_gmm", "configs/ae.py:fashion_mnist", {}),
    ("aae", "configs/aae.py:fashion_mnist", {}),
]


def get_config(arg: str = ""):
  del arg
  return compare.suite_config(
      "genlatent families on Fashion-MNIST (static binarization)",
      dict(source="idx:/usr/share/datasets/fashion-mnist", validation_size=10000,
           binarization="static", threshold=0.5, seed=0),
      MEMBERS, parzen_samples=10_000)
