"""CD-1 epoch time of genlatent's RBM against scikit-learn's `BernoulliRBM`, and AIS speed.

  python -m experiments.benchmarks.rbm                          # ~3 min on 2 cores
  python -m experiments.benchmarks.rbm --windows=1 --ais_steps=200   # smoke, ~1 min

Data: binarized Fashion-MNIST (all 60000 training images, pixel > 0.5, source spec
`fashion_mnist`) when its IDX files are present, else the digits. Both libraries
train an RBM with 500 hidden units, batch 100, learning rate 0.05, for one epoch.

What is timed: for genlatent, a full epoch of the `rbm` family's `update` (CD-1,
momentum and weight decay through optax, the reconstruction and pseudo-likelihood
monitors), jit-compiled with the state donated and fed by the data pipeline's
`TrainIterator`, exactly as the trainer runs it (its compile is excluded); for
scikit-learn, `BernoulliRBM(n_iter=1).fit(X)` on the same images, as float64 and
as float32 input (`--nosklearn_float32` skips the latter); the speed-up is against
the faster of the two. scikit-learn's update is PCD-1 (its
negative phase continues persistent hidden samples): the same five
[100, 784]×[784, 500]-sized matmuls per batch as CD-1. Epochs alternate in
`--windows` windows and medians are reported (shared VMs drift by ±30% within a
minute).

AIS: `--ais_chains` chains of the trained RBM over a `--ais_steps` linear schedule
(same cost per step as the classic 14,500-step one), compile excluded. Throughput is
chain steps × units (M · K · (V + H)) per second, and FLOP/s (two [M, V]×[V, H]
products per step, 4·M·V·H) as a fraction of this machine's float32 matmul peak,
measured in the same run.
"""

from __future__ import annotations

import time

import jax
import ml_collections
import numpy as np
from absl import app, flags

from configs import rbm as rbm_config
from experiments.benchmarks import common, report
from genlatent import data as data_lib
from genlatent.models import build_model
from genlatent import boltzmann

FLAGS = flags.FLAGS
SPEEDUP_GOAL = 3.0  # × the faster scikit-learn precision timed (issue 14)
PEAK_GOAL = 0.65  # fraction of the float32 matmul peak, CD-1 and AIS alike (issue 14)
flags.DEFINE_integer("windows", 2, "Timing windows; each runs one epoch of each contender.")
flags.DEFINE_integer("num_hidden", 500, "Hidden units.")
flags.DEFINE_integer("batch_size", 100, "Examples per CD step.")
flags.DEFINE_float("learning_rate", 0.05, "Both libraries' learning rate.")
flags.DEFINE_bool("sklearn_float32", True, "Also time scikit-learn on float32 input (the "
                  "speed-up is against the faster precision).")
flags.DEFINE_integer("ais_chains", 100, "AIS chains M.")
flags.DEFINE_integer("ais_steps", 2000, "AIS intermediate distributions K (linear schedule).")


def load_data():
  """(Dataset with every training image, description): Fashion-MNIST, else digits."""
  for source in ("fashion_mnist", "digits"):
    config = ml_collections.ConfigDict(dict(
        source=source, validation_size=0, binarization="static", threshold=0.5, seed=0))
    try:
      dataset = data_lib.load_dataset(config)
    except data_lib.DataSourceNotFoundError:
      continue
    return dataset, f"binarized {source} ({dataset.train.num_examples} training images)"
  raise RuntimeError("No data source found.")


def genlatent_epoch(dataset):
  """(run one epoch, seconds of the first call's compile, XLA's FLOPs per step, state)."""
  config = rbm_config.get_config("digits").model
  config.num_hidden = FLAGS.num_hidden
  config.optimizer.learning_rate = FLAGS.learning_rate
  model = build_model(config, dataset.shape)
  params = model.init(jax.random.PRNGKey(0), dataset.train.x[:2])
  holder = {"state": model.init_state(jax.random.PRNGKey(1), params, dataset.train.x)}
  train_key = jax.random.PRNGKey(2)
  step = jax.jit(lambda s, b, k: model.update(s, b, jax.random.fold_in(k, s.step)),
                 donate_argnums=0)
  batches = data_lib.TrainIterator(dataset, FLAGS.batch_size, jax.random.PRNGKey(3))
  first = jax.device_put(next(batches))
  start = time.perf_counter()
  compiled = step.lower(holder["state"], first, train_key).compile()
  compile_s = time.perf_counter() - start
  flops = compiled.cost_analysis().get("flops")
  holder["state"], metrics = compiled(holder["state"], first, train_key)
  jax.block_until_ready(metrics)

  def run_epoch():
    start = time.perf_counter()
    for _ in range(batches.steps_per_epoch):
      holder["state"], metrics = step(holder["state"], jax.device_put(next(batches)), train_key)
    jax.block_until_ready((holder["state"], metrics))
    return time.perf_counter() - start

  return run_epoch, compile_s, flops, holder


def sklearn_epoch(dataset, dtype):
  from sklearn.neural_network import BernoulliRBM  # pylint: disable=import-outside-toplevel
  x = dataset.train.x.reshape(dataset.train.num_examples, -1).astype(dtype)
  seeds = iter(range(1000))

  def run_epoch():
    model = BernoulliRBM(n_components=FLAGS.num_hidden, learning_rate=FLAGS.learning_rate,
                         batch_size=FLAGS.batch_size, n_iter=1, random_state=next(seeds))
    start = time.perf_counter()
    model.fit(x)
    return time.perf_counter() - start

  return run_epoch


def ais_rate(params):
  """(seconds for M chains × K steps, compile excluded)."""
  run = jax.jit(lambda p, k: boltzmann.ais_log_partition(
      p, p["base_visible_bias"], k, FLAGS.ais_chains, FLAGS.ais_steps).log_z)
  run(params, jax.random.PRNGKey(0)).block_until_ready()  # compile
  start = time.perf_counter()
  run(params, jax.random.PRNGKey(1)).block_until_ready()
  return time.perf_counter() - start


def main(argv):
  del argv
  dataset, description = load_data()
  num_visible = dataset.num_dims
  steps_per_epoch = dataset.train.num_examples // FLAGS.batch_size
  print(f"data: {description}; {num_visible}-{FLAGS.num_hidden} RBM, batch "
        f"{FLAGS.batch_size}, {steps_per_epoch} steps per epoch; {common.num_cores()} cores; "
        f"jax {jax.__version__} on {jax.devices()[0].platform}", flush=True)
  ours, compile_s, flops, holder = genlatent_epoch(dataset)
  contenders = {"genlatent": ours, "sklearn_float64": sklearn_epoch(dataset, np.float64)}
  if FLAGS.sklearn_float32:
    contenders["sklearn_float32"] = sklearn_epoch(dataset, np.float32)
  seconds = common.interleaved(contenders, FLAGS.windows)
  peak, peak_n = common.matmul_peak()

  ours_s = common.median(seconds["genlatent"])
  rows = [("genlatent CD-1 epoch, s", common.spread(seconds["genlatent"], "{:.2f}")),
          ("  compile (once), s", f"{compile_s:.1f}"),
          ("  XLA FLOPs per step", f"{flops:.3g}" if flops else "n/a")]
  if flops:
    achieved = flops * steps_per_epoch / ours_s
    rows.append(("  FLOP/s, fraction of matmul peak",
                 f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%}"))
  for name in contenders:
    if name.startswith("sklearn"):
      theirs = common.median(seconds[name])
      rows += [(f"scikit-learn ({name[8:]}) epoch, s", common.spread(seconds[name], "{:.2f}")),
               (f"  speed-up of genlatent", f"{theirs / ours_s:.1f}x (goal ≥ 3x)")]

  params = jax.tree.map(np.asarray, holder["state"].params)
  ais_s = ais_rate(params)
  m, k = FLAGS.ais_chains, FLAGS.ais_steps
  unit_rate = m * k * (num_visible + FLAGS.num_hidden) / ais_s
  ais_flops = 4.0 * m * k * num_visible * FLAGS.num_hidden / ais_s
  rows += [(f"AIS {m} chains x {k} steps, s", f"{ais_s:.2f} (classic 14,500 steps: "
            f"~{ais_s * 14500 / k:.0f} s)"),
           ("  chain steps x units per second", f"{unit_rate:.3g}"),
           ("  FLOP/s, fraction of matmul peak",
            f"{ais_flops / 1e9:.1f} GFLOP/s = {ais_flops / peak:.0%}"),
           (f"matmul peak ({peak_n}^3 float32)", f"{peak / 1e9:.1f} GFLOP/s")]
  print(common.table(rows, f"RBM benchmark, medians of {FLAGS.windows} windows [min-max]"))
  ratios = {"cd1_over_peak": report.ratio(achieved / peak if flops else None, PEAK_GOAL),
            "ais_over_peak": report.ratio(ais_flops / peak, PEAK_GOAL)}
  medians = {"genlatent_epoch_s": ours_s, "compile_s": compile_s,
             "xla_flops_per_step": flops or None, "ais_s": ais_s,
             "ais_chain_step_units_per_s": unit_rate, "matmul_peak_flops_per_s": peak}
  # The speed-up is against the faster scikit-learn precision timed (issue 14).
  sklearn_s = {name: common.median(seconds[name]) for name in contenders
               if name.startswith("sklearn")}
  ratios["speedup_over_sklearn"] = report.ratio(min(sklearn_s.values()) / ours_s, SPEEDUP_GOAL)
  medians.update({f"{name}_epoch_s": value for name, value in sklearn_s.items()})
  report.emit("rbm", ratios, medians, settings={
      "data": description, "num_hidden": FLAGS.num_hidden, "batch_size": FLAGS.batch_size,
      "windows": FLAGS.windows, "ais_chains": m, "ais_steps": k, "peak_n": peak_n})


if __name__ == "__main__":
  app.run(main)
