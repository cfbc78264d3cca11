"""Every family on Fashion-MNIST (`apt-get install -y dataset-fashion-mnist`), statically
binarized at 0.5, same split and seed; the GMM models PCA-50 features of the grey levels.

  python -m experiments.compare --suite=configs/suites/fashion_mnist.py --workdir=runs/compare_fmnist
  python -m experiments.compare --suite=configs/suites/fashion_mnist.py:gpu --workdir=runs/compare_fmnist_gpu

Budget: each member's `fashion_mnist` variant (minutes to tens of minutes each on a 2-core CPU);
importance sampling uses the full test set. The annealed estimators (HMC-AIS beside importance
sampling for the decoder families, RAISE beside AIS for the RBMs, the DBN and the DBM) score
the first `annealed_examples` test examples, the same for every member so their rows stay
paired; BDMC brackets each decoder family on simulated examples (the Boltzmann members' RBM
views have 500 hidden units, too many to sample exactly, so they report no BDMC).

  cpu (default)  the first 50 test examples; HMC-AIS with 8 chains along sigmoid:500 (10
                 leapfrog steps), half the members' own sigmoid:1000; RAISE with 4
                 chains along each Boltzmann model's own schedule; BDMC on 8 simulated
                 examples with 8 chains each way; the Boltzmann members' Parzen samples
                 after 500 block Gibbs sweeps (their own configs: 1000). HMC-AIS costs
                 examples × chains × steps × (leapfrog steps + 1) decoder gradients:
                 48 examples × 8 chains × 200 steps took 45 s on the VAE member's
                 weights on 2 cores.
  gpu            the whole test set (annealed_examples 0), 16 chains along the members'
                 own schedules (sigmoid:1000), RAISE with 16 chains, BDMC on 256
                 simulated examples with 16 chains, the members' own Gibbs sweeps (not
                 measured on this project's machines yet).

Measured wall time of the cpu variant (12 members) from an empty workdir on the idle 2-core
VM: 2,544 s, 2,618 s, 2,427 s and 2,729 s in four runs with every figure identical (Dec
2026, with the Boltzmann members' fitted AIS base, whose pilot run doubles their log Z
cost). Training took 1,148 s (the VampPrior 514 s), HMC-AIS 369 s, the Parzen rows 280 s
(the four Boltzmann members 232 s), importance sampling 254 s, the Boltzmann AIS and ELBO
rows (one log Z by AIS per member, shared by both) 167 s, RAISE 145 s, BDMC 92 s (eval.json
`train_seconds`, `details.seconds` and `bdmc.seconds`, the log's "parzen in"). The budget
before this one (RAISE 8 chains, BDMC 16 examples, 1000-sweep Boltzmann Parzen samples) took
3,734 s; the VM's speed varies by about 15% run to run.

The HMC schedule is an evaluation-only field: changing it (or the budget) re-evaluates the
trained members instead of retraining them. Parzen: 10,000 samples, bandwidth on the
validation split.
"""

from genlatent import compare

MEMBERS = [
    ("gmm", "configs/gmm.py:fashion_mnist", {"data": {"binarization": "none"}}, ""),
    ("bernoulli_mixture", "configs/bernoulli_mixture.py:fashion_mnist", {}, ""),
    ("rbm_cd1", "configs/rbm.py:fashion_mnist", {}, "raise:{raise_chains}"),
    ("rbm_pcd", "configs/rbm.py:fashion_mnist,pcd", {}, "raise:{raise_chains}"),
    ("dbn", "configs/dbn.py:fashion_mnist", {}, "raise:{raise_chains}"),
    ("dbm", "configs/dbm.py:fashion_mnist", {}, "raise:{raise_chains}"),
    ("vae", "configs/vae.py:fashion_mnist", {}, "ais:{hmc_chains}"),
    ("iwae", "configs/iwae.py:fashion_mnist", {}, "ais:{hmc_chains}"),
    # The IWAE's own architecture and schedule trained on the ELBO (k = 1): the pair that
    # tests IWAE > VAE at a matched budget (the `vae` member is 784-500-20 instead).
    ("vae_iwae_arch", "configs/iwae.py:fashion_mnist,vae", {}, "ais:{hmc_chains}"),
    ("vamp_vae", "configs/vampprior.py:fashion_mnist", {}, "ais:{hmc_chains}"),
    ("ae_gmm", "configs/ae.py:fashion_mnist", {}, "ais:{hmc_chains}"),
    ("aae", "configs/aae.py:fashion_mnist", {}, "ais:{hmc_chains}"),
]

# variant: (annealed test examples (0: all), HMC-AIS chains per example, HMC-AIS schedule
# of the decoder members ('': their own), RAISE chains per example, BDMC simulated
# examples, BDMC chains, Gibbs sweeps per Boltzmann Parzen sample (0: their own))
BUDGETS = {"cpu": (50, 8, "sigmoid:500", 4, 8, 8, 500), "gpu": (0, 16, "", 16, 256, 16, 0)}


def _member(name, ref, overrides, extra, hmc_chains, hmc_schedule, raise_chains, sweeps):
  model = dict(overrides.get("model", {}))
  if hmc_schedule and extra.startswith("ais:"):  # a decoder member: HMC-AIS and its BDMC
    model["ais_schedule"] = hmc_schedule
  if sweeps and extra.startswith("raise:"):  # a Boltzmann member: its Parzen samples
    model["sample_steps"] = sweeps
  overrides = dict(overrides, model=model) if model else overrides
  return name, ref, overrides, extra.format(hmc_chains=hmc_chains, raise_chains=raise_chains)


def get_config(arg: str = ""):
  variant = "gpu" if arg == "gpu" else "cpu"
  (annealed, hmc_chains, hmc_schedule, raise_chains, bdmc_examples, bdmc_chains,
   sweeps) = BUDGETS[variant]
  return compare.suite_config(
      "genlatent families on Fashion-MNIST (static binarization)",
      dict(source="idx:/usr/share/datasets/fashion-mnist", validation_size=10000,
           binarization="static", threshold=0.5, seed=0),
      [_member(*member, hmc_chains, hmc_schedule, raise_chains, sweeps) for member in MEMBERS],
      parzen_samples=10_000, annealed_examples=annealed, bdmc_examples=bdmc_examples,
      bdmc_chains=bdmc_chains)
