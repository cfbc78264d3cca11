"""genlatent's EM against scikit-learn's `GaussianMixture`, side by side, per EM iteration.

  python -m experiments.benchmarks.gmm                     # ~6 min on 2 cores
  python -m experiments.benchmarks.gmm --noscaling         # the head-to-head only
  python -m experiments.benchmarks.gmm --windows=2 --iterations=3 --scaling_iterations=1 \
      --scaling_windows=1 --scaling_n=10000 --scaling_k=10  # smoke

Head to head: K=10, covariance types `full` and `diag`, on Fashion-MNIST PCA-50
(all 60000 training images; PCA fitted on them) when its IDX files are present
(source spec `fashion_mnist`), else digits PCA-20. Both start from the same
parameters (genlatent's k-means++ and Lloyd start, handed to scikit-learn as
weights_init / means_init / precisions_init) and run the same number of EM
iterations; the final average log-likelihoods (nats per example, each
library's own evaluation, scikit-learn's `score`) are printed side by side.
scikit-learn is timed twice, with its default BLAS threads and with one (on a
loaded VM the default can be the slower), and the speed-up is against the
faster of the two.

What is timed, per iteration: for genlatent, the jit-compiled `update` of the
`gmm` family on the full batch, state donated, as the trainer runs it
(E-step, M-step, metrics, empty-component check), float32; for scikit-learn,
exactly the body of its `fit` loop, `_e_step` then `_m_step` (float64, its
only precision), so neither its one-off initialisation nor its final extra
E-step is counted. Both run one untimed warm-up iteration (genlatent's
compiles). The contenders alternate in `--windows` windows of `--iterations`
iterations and medians are reported (shared VMs drift by ±30% within a minute).

Scaling: seconds per iteration of both on synthetic data (D=50, K blobs) as the
number of points grows (1e4 → 1e6 at K=10) and as K grows (10 → 200 at
N=2e4), `full` and `diag`: the median of `--scaling_windows` windows of
`--scaling_iterations` timed iterations each.
"""

from __future__ import annotations

import os
import time
import warnings

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags
from threadpoolctl import threadpool_limits

from configs import gmm as gmm_experiment
from experiments.benchmarks import common, report
from genlatent import data as data_lib
from genlatent.core import mixture
from genlatent.models import build_model

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_components", 10, "K for the head-to-head.")
flags.DEFINE_integer("windows", 3, "Timing windows; each runs both contenders once.")
flags.DEFINE_integer("iterations", 10, "EM iterations per contender per window.")
flags.DEFINE_bool("scaling", True, "Also time the N and K scaling on synthetic data.")
flags.DEFINE_integer("scaling_iterations", 2, "Timed EM iterations per scaling point.")
flags.DEFINE_integer("scaling_windows", 3, "Windows per scaling point (median taken); one "
                     "window alone caught first-call effects (1.8× too slow at N=1e4).")
flags.DEFINE_list("scaling_n", ["10000", "100000", "1000000"], "N values (K=10).")
flags.DEFINE_list("scaling_k", ["10", "50", "200"], "K values (N=20000).")
flags.DEFINE_integer("scaling_k_n", 20000, "N for the K scaling.")
flags.DEFINE_list("covariance_types", ["full", "diag"], "Covariance types to compare.")

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
REG_COVAR = 1e-6  # scikit-learn's default, both sides
SPEEDUP_GOAL = 3.0  # × the faster scikit-learn (issue 14's goal for EM)


def load_features():
  """(x [N, D] float32, description): Fashion-MNIST PCA-50, else digits PCA-20."""
  if os.path.exists(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")):
    config = ml_collections.ConfigDict(dict(source="fashion_mnist", validation_size=0,
                                            binarization="none", pca_components=50))
    what = "Fashion-MNIST train, PCA-50"
  else:
    config = ml_collections.ConfigDict(dict(source="digits", validation_size=0,
                                            binarization="none", pca_components=20))
    what = "digits train, PCA-20 (Fashion-MNIST IDX files not found)"
  x = data_lib.load_dataset(config).train.x
  return np.ascontiguousarray(x, np.float32), f"{what}: {x.shape[0]} × {x.shape[1]}"


def synthetic(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
  """[n, d] float32 points from k random Gaussian blobs (random full covariances)."""
  rs = np.random.RandomState(seed)
  centers = 4.0 * rs.randn(k, d)
  mixing = rs.randn(k, d, d) / np.sqrt(d)
  labels = rs.randint(k, size=n)
  x = np.empty((n, d), np.float32)
  step = 100_000  # in slabs, to bound the float64 temporaries
  for start in range(0, n, step):
    lab = labels[start:start + step]
    eps = rs.randn(len(lab), d)
    x[start:start + step] = centers[lab] + np.einsum("nd,nde->ne", eps, mixing[lab])
  return x


class Genlatent:
  """The `gmm` family's EM update, compiled once, stepping a donated state."""

  def __init__(self, x: np.ndarray, k: int, covariance_type: str, seed: int = 0):
    config = gmm_experiment.get_config().model  # every field, with its default
    config.update(num_components=k, covariance_type=covariance_type, reg_covar=REG_COVAR,
                  training="em", init="kmeans", kmeans_iterations=10)
    self.model = build_model(config, x.shape[1:])
    self.x = jax.device_put(x)
    self.batch = {"x": self.x, "mask": jnp.ones((x.shape[0],), jnp.float32)}
    self.state = self.model.init_state(jax.random.PRNGKey(seed), None, x)
    self.initial = jax.tree.map(np.asarray, self.state.params)
    self.step = jax.jit(self.model.update, donate_argnums=(0,))
    self.key = jax.random.PRNGKey(0)

  def run(self, n: int) -> None:
    for _ in range(n):
      self.state, metrics = self.step(self.state, self.batch, self.key)
    jax.block_until_ready(metrics)

  def score(self) -> float:
    ll = jax.jit(lambda p, x: self.model.densities.log_prob(p, x).mean())
    return float(ll(self.state.params, self.x))


def sklearn_init(params: dict, covariance_type: str) -> dict:
  """genlatent's EM params as scikit-learn's weights_init / means_init / precisions_init."""
  u = np.asarray(params["precision_cholesky"], np.float64)
  precisions = {"full": lambda: np.einsum("kij,klj->kil", u, u), "tied": lambda: u @ u.T,
                "diag": lambda: u ** 2, "spherical": lambda: u ** 2}[covariance_type]()
  logits = np.asarray(params["logits"], np.float64)
  weights = np.exp(logits - logits.max())
  return {"weights_init": weights / weights.sum(),
          "means_init": np.asarray(params["means"], np.float64),
          "precisions_init": precisions}


class ScikitLearn:
  """scikit-learn's EM loop body (`_e_step`, `_m_step`), from the same start.

  threads: BLAS threads (None: the library default, all cores). On a loaded
  2-core VM the default can be slower than one thread (BLAS workers spin
  waiting for each other), so both are timed and the faster one is compared.
  """

  def __init__(self, x: np.ndarray, k: int, covariance_type: str, params: dict,
               threads: int | None = None):
    from sklearn.mixture import GaussianMixture  # pylint: disable=import-outside-toplevel
    self.threads = threads
    self.x = np.asarray(x, np.float64)
    self.gm = GaussianMixture(k, covariance_type=covariance_type, reg_covar=REG_COVAR, tol=0.0,
                              max_iter=1, init_params="random_from_data", random_state=0,
                              **sklearn_init(params, covariance_type))
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")  # ConvergenceWarning after one iteration
      self.gm.fit(self.x)  # initialises from the given params, then one iteration

  def run(self, n: int) -> None:
    with threadpool_limits(self.threads):
      for _ in range(n):
        _, log_resp = self.gm._e_step(self.x)  # pylint: disable=protected-access
        self.gm._m_step(self.x, log_resp)  # pylint: disable=protected-access

  def score(self) -> float:
    return float(self.gm.score(self.x))


def seconds_per_iteration(run, n: int):
  def measure():
    start = time.perf_counter()
    run(n)
    return (time.perf_counter() - start) / n
  return measure


def contenders(x: np.ndarray, k: int, covariance_type: str, iterations: int):
  """{name: seconds-per-iteration measure} and the objects, all from one start."""
  ours = Genlatent(x, k, covariance_type)
  ours.run(1)  # compiles; the same one iteration scikit-learn's fit runs
  x64 = np.asarray(x, np.float64)  # one float64 copy for both
  theirs = {"scikit-learn": ScikitLearn(x64, k, covariance_type, ours.initial),
            "scikit-learn 1 thread": ScikitLearn(x64, k, covariance_type, ours.initial, threads=1)}
  measures = {"genlatent": seconds_per_iteration(ours.run, iterations)}
  measures.update({name: seconds_per_iteration(t.run, iterations) for name, t in theirs.items()})
  return measures, ours, theirs


def head_to_head(x: np.ndarray, k: int, covariance_type: str):
  measures, ours, theirs = contenders(x, k, covariance_type, FLAGS.iterations)
  times = common.interleaved(measures, FLAGS.windows)
  iterations = 1 + FLAGS.windows * FLAGS.iterations
  return times, ours.score(), theirs["scikit-learn"].score(), iterations


def scaling_point(x: np.ndarray, k: int, covariance_type: str, iterations: int):
  """(genlatent, the faster scikit-learn) median seconds per iteration."""
  measures, _, _ = contenders(x, k, covariance_type, iterations)
  times = {name: common.median(v)
           for name, v in common.interleaved(measures, FLAGS.scaling_windows).items()}
  return times["genlatent"], min(times["scikit-learn"], times["scikit-learn 1 thread"])


def main(argv):
  del argv
  import sklearn  # pylint: disable=import-outside-toplevel
  print(f"devices: {jax.devices()}; cores: {common.num_cores()}; jax {jax.__version__}, "
        f"scikit-learn {sklearn.__version__}", flush=True)
  x, what = load_features()
  k = FLAGS.num_components
  print(f"data: {what}; K={k}; reg_covar={REG_COVAR}; {FLAGS.windows} windows × "
        f"{FLAGS.iterations} iterations (+1 warm-up)", flush=True)
  rows, ratios, medians = [], {}, {}
  for ct in FLAGS.covariance_types:
    mixture.check_covariance_type(ct)
    times, ll_ours, ll_theirs, iterations = head_to_head(x, k, ct)
    ours = common.median(times["genlatent"])
    theirs = min(common.median(times["scikit-learn"]), common.median(times["scikit-learn 1 thread"]))
    rows += [
        (f"{ct}: genlatent s/iteration", common.spread(times["genlatent"], "{:.4f}")),
        (f"{ct}: scikit-learn s/iteration", common.spread(times["scikit-learn"], "{:.4f}")),
        (f"{ct}: scikit-learn 1 BLAS thread s/it.",
         common.spread(times["scikit-learn 1 thread"], "{:.4f}")),
        (f"{ct}: speed-up vs the faster scikit-learn", f"{theirs / ours:.2f}×"),
        (f"{ct}: final avg log-lik after {iterations} its",
         f"genlatent {ll_ours:.5f}, scikit-learn {ll_theirs:.5f} "
         f"(rel. diff {abs(ll_ours - ll_theirs) / abs(ll_theirs):.1e})"),
    ]
    print(common.table(rows[-5:]), flush=True)
    ratios[f"speedup_{ct}"] = report.ratio(theirs / ours, SPEEDUP_GOAL)
    medians.update({f"{ct}_genlatent_s_per_iteration": ours,
                    f"{ct}_sklearn_s_per_iteration": common.median(times["scikit-learn"]),
                    f"{ct}_sklearn_1_thread_s_per_iteration":
                        common.median(times["scikit-learn 1 thread"]),
                    f"{ct}_final_log_likelihood_genlatent": ll_ours,
                    f"{ct}_final_log_likelihood_sklearn": ll_theirs})
  print(common.table(rows, f"GMM EM, genlatent vs scikit-learn ({what})"), flush=True)

  settings = {"data": what, "num_components": k, "windows": FLAGS.windows,
              "iterations": FLAGS.iterations, "scaling": FLAGS.scaling}
  if not FLAGS.scaling:
    report.emit("gmm", ratios, medians, settings)
    return
  d, its = 50, FLAGS.scaling_iterations
  scale_rows = []
  for ct in FLAGS.covariance_types:
    for n in (int(float(v)) for v in FLAGS.scaling_n):
      ours, theirs = scaling_point(synthetic(n, d, 10), 10, ct, its)
      scale_rows.append((f"{ct}: N={n:.0e}, K=10",
                         f"genlatent {ours:.4f} s, scikit-learn {theirs:.4f} s ({theirs / ours:.1f}×)"))
      print(common.table(scale_rows[-1:]), flush=True)
      medians[f"scaling_{ct}_n{n}_k10_s_per_iteration"] = {"genlatent": ours, "sklearn": theirs}
    for kk in (int(v) for v in FLAGS.scaling_k):
      ours, theirs = scaling_point(synthetic(FLAGS.scaling_k_n, d, kk), kk, ct, its)
      scale_rows.append((f"{ct}: N={FLAGS.scaling_k_n:.0e}, K={kk}",
                         f"genlatent {ours:.4f} s, scikit-learn {theirs:.4f} s ({theirs / ours:.1f}×)"))
      print(common.table(scale_rows[-1:]), flush=True)
      medians[f"scaling_{ct}_n{FLAGS.scaling_k_n}_k{kk}_s_per_iteration"] = {
          "genlatent": ours, "sklearn": theirs}
  print(common.table(scale_rows, f"Seconds per EM iteration, synthetic D={d}, median of "
                                 f"{FLAGS.scaling_windows} windows of {its} iterations"),
        flush=True)
  report.emit("gmm", ratios, medians, settings)


if __name__ == "__main__":
  app.run(main)
