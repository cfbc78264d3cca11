"""Every family on scikit-learn's digits, same split, binarization and seed.

  python -m experiments.compare --suite=configs/suites/digits.py --workdir=runs/compare_digits

Variant `smoke` uses each member's smoke config (seconds per member; for tests).
The GMM models the grey levels (binarization none): its density is on continuous
pixels and its row says so; every other member sees the same static binarization.
"""

from genlatent import compare

MEMBERS = [
    # name, config reference, overrides beyond the shared data and seed
    ("gmm", "configs/gmm.py:{v}", {"data": {"binarization": "none"}}),
    ("bernoulli_mixture", "configs/bernoulli_mixture.py:{v}", {}),
    ("rbm_cd1", "configs/rbm.py:{v}", {}),
    ("rbm_pcd", "configs/rbm.py:{v},pcd", {}),
    ("dbn", "configs/dbn.py:{v}", {}),
    ("dbm", "configs/dbm.py:{v}", {}),
    ("vae", "configs/vae.py:{v}", {}),
    ("iwae", "configs/iwae.py:{v}", {}),
    ("vamp_vae", "configs/vampprior.py:{v}", {}),
    ("ae_gmm", "configs/ae.py:{v}", {}),
    ("aae", "configs/aae.py:{v}", {}),
]


def get_config(arg: str = "digits"):
  variant = "smoke" if arg == "smoke" else "digits"
  # 197 validation images leave 1240 for training: full-batch EM then splits evenly
  # over 1, 2, 4 or 8 devices.
  return compare.suite_config(
      f"genlatent families on digits ({variant})",
      dict(source="digits", validation_size=197, binarization="static", threshold=0.5, seed=0),
      [(name, ref.format(v=variant), overrides) for name, ref, overrides in MEMBERS],
      parzen_samples=10_000 if variant == "digits" else 500)
