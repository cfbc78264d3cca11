"""Every family on scikit-learn's digits, same split, binarization and seed.

  python -m experiments.compare --suite=configs/suites/digits.py --workdir=runs/compare_digits

Variant `smoke` uses each member's smoke config (seconds per member; for tests).
The GMM models the grey levels (binarization none): its density is on continuous
pixels and its row says so; every other member sees the same static binarization.

Annealed estimators: HMC-AIS beside importance sampling for every decoder family,
RAISE (conservative) beside AIS (optimistic) for the RBMs, the DBN and the DBM, all on the first
`ANNEALED_EXAMPLES` test examples (the same for every member, so their rows stay
paired). BDMC on `BDMC_EXAMPLES` simulated examples for every member with AIS whose
bracket can be drawn (decoder families; Boltzmann ones whose RBM view has ≤ 20 hidden
units: in the smoke variant only). results.md then states, for each pair of models
in a kind, whether their ordering is certified.
"""

from genlatent import compare

MEMBERS = [
    # name, config reference, overrides beyond the shared data and seed, added estimators
    ("gmm", "configs/gmm.py:{v}", {"data": {"binarization": "none"}}, ""),
    ("bernoulli_mixture", "configs/bernoulli_mixture.py:{v}", {}, ""),
    ("rbm_cd1", "configs/rbm.py:{v}", {}, "raise:{raise_chains}"),
    ("rbm_pcd", "configs/rbm.py:{v},pcd", {}, "raise:{raise_chains}"),
    ("dbn", "configs/dbn.py:{v}", {}, "raise:{raise_chains}"),
    ("dbm", "configs/dbm.py:{v}", {}, "raise:{raise_chains}"),
    ("vae", "configs/vae.py:{v}", {}, "ais:{hmc_chains}"),
    ("iwae", "configs/iwae.py:{v}", {}, "ais:{hmc_chains}"),
    ("vamp_vae", "configs/vampprior.py:{v}", {}, "ais:{hmc_chains}"),
    ("ae_gmm", "configs/ae.py:{v}", {}, "ais:{hmc_chains}"),
    ("aae", "configs/aae.py:{v}", {}, "ais:{hmc_chains}"),
]

# variant: (annealed test examples, HMC-AIS chains per example, RAISE chains per
# example, BDMC simulated examples, BDMC chains)
BUDGETS = {"digits": (100, 8, 8, 32, 8), "smoke": (40, 4, 4, 16, 4)}


def get_config(arg: str = "digits"):
  variant = "smoke" if arg == "smoke" else "digits"
  annealed, hmc_chains, raise_chains, bdmc_examples, bdmc_chains = BUDGETS[variant]
  # 197 validation images leave 1240 for training: full-batch EM then splits evenly
  # over 1, 2, 4 or 8 devices.
  return compare.suite_config(
      f"genlatent families on digits ({variant})",
      dict(source="digits", validation_size=197, binarization="static", threshold=0.5, seed=0),
      [(name, ref.format(v=variant), overrides,
        extra.format(hmc_chains=hmc_chains, raise_chains=raise_chains))
       for name, ref, overrides, extra in MEMBERS],
      parzen_samples=10_000 if variant == "digits" else 500, annealed_examples=annealed,
      bdmc_examples=bdmc_examples, bdmc_chains=bdmc_chains)
