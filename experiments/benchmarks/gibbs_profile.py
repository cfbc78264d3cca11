"""Where a CD-1 step and a Boltzmann AIS step spend their time, against their bound.

  python -m experiments.benchmarks.gibbs_profile          # ~1.5 min on 2 cores

A profile by ablation, on a 784-500 Bernoulli RBM with 100 examples (CD-1, as the
`rbm` benchmark) or 100 chains (AIS, as `ais_log_partition`), compile excluded,
each the best of `--repeats` runs of `--calls` calls:

  bound      the bare products of the same shapes (CD-1: the five [100, 784]×[784, 500]
             -sized products with their sigmoids; AIS: the two of one Gibbs sweep),
  full       the `rbm` family's `update` (CD-1) or one step of the annealing path,
  free RNG   the same with every uniform a constant (`genlatent.core.rng` patched):
             what the step would cost if random numbers were free.

It prints each as milliseconds and as a fraction of the float32 matmul peak
measured in the same run (FLOPs: XLA's count for the update, 4·M·V·H for AIS),
and the random numbers' share, full − free RNG. The last line is one JSON
object (`experiments/benchmarks/report.py`).
"""

from __future__ import annotations

import contextlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from configs import rbm as rbm_config
from experiments.benchmarks import common, report
from genlatent import boltzmann
from genlatent.core import rng
from genlatent.models import build_model

FLAGS = flags.FLAGS
flags.DEFINE_integer("calls", 50, "Calls per timed run.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed runs; the best is kept.", lower_bound=1)
flags.DEFINE_integer("ais_steps", 20, "Annealing steps per AIS call (linear schedule).",
                     lower_bound=1)

NUM_VISIBLE, NUM_HIDDEN, BATCH = 784, 500, 100
PEAK_GOAL = 0.65  # as the rbm benchmark (issue 14)


def best_ms(fn, *args) -> float:
  """Milliseconds per call of fn(*args): the best of FLAGS.repeats runs, compiled first."""
  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(FLAGS.repeats):
    start = time.perf_counter()
    for _ in range(FLAGS.calls):
      out = fn(*args)
    jax.block_until_ready(out)
    best = min(best, (time.perf_counter() - start) / FLAGS.calls)
  return best * 1e3


@contextlib.contextmanager
def free_random_numbers():
  """Every uniform the Gibbs machinery draws becomes 0.5: the step without its generator."""
  saved = rng.uniform, rng.example_uniform
  rng.uniform = lambda key, shape: jnp.full(shape, 0.5, jnp.float32)
  rng.example_uniform = lambda key, index, shape: jnp.full((index.shape[0],) + tuple(shape),
                                                           0.5, jnp.float32)
  try:
    yield
  finally:
    rng.uniform, rng.example_uniform = saved


def cd1_update(x):
  """(jitted update, its args, XLA's FLOPs per call) of the `rbm` family at 784-500."""
  config = rbm_config.get_config("digits").model
  config.num_hidden = NUM_HIDDEN
  model = build_model(config, (28, 28, 1))
  params = model.init(jax.random.PRNGKey(0), x[:2])
  state = model.init_state(jax.random.PRNGKey(1), params, x)
  batch = {"x": jnp.asarray(x[:BATCH]), "index": jnp.arange(BATCH, dtype=jnp.int32),
           "mask": jnp.ones((BATCH,), jnp.float32)}
  step = jax.jit(lambda s, b, k: model.update(s, b, k)[0].params)
  args = (state, batch, jax.random.PRNGKey(2))
  return step, args, step.lower(*args).compile().cost_analysis().get("flops")


def cd1_bound(weights, v):
  h = jax.nn.sigmoid(v @ weights)
  v1 = jax.nn.sigmoid(h @ weights.T)
  h1 = jax.nn.sigmoid(v1 @ weights)
  return v.T @ h - v1.T @ h1


def ais_steps(params):
  """A jitted call of FLAGS.ais_steps annealing steps over BATCH chains."""
  return jax.jit(lambda key: boltzmann.ais_log_partition(
      params, jnp.zeros((NUM_VISIBLE,)), key, BATCH, f"linear:{FLAGS.ais_steps}").log_z)


def main(argv):
  del argv
  images, description = common.binary_images(6000)
  x = images.reshape(len(images), 28, 28, 1)
  weights = jnp.asarray(0.01 * np.random.RandomState(0).randn(NUM_VISIBLE, NUM_HIDDEN),
                        jnp.float32)
  params = {"weights": weights, "visible_bias": jnp.zeros((NUM_VISIBLE,)),
            "hidden_bias": jnp.zeros((NUM_HIDDEN,))}
  v = jnp.asarray(x[:BATCH].reshape(BATCH, -1))
  peak, peak_n = common.matmul_peak()
  print(f"data: {description}; {common.num_cores()} cores; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}", flush=True)

  cd1_flops_bound = 5 * 2.0 * BATCH * NUM_VISIBLE * NUM_HIDDEN
  ais_flops = 4.0 * BATCH * NUM_VISIBLE * NUM_HIDDEN
  step, args, cd1_flops = cd1_update(x)
  ms = {"cd1_bound": best_ms(jax.jit(cd1_bound), weights, v),
        "cd1_full": best_ms(step, *args),
        "ais_bound": best_ms(jax.jit(lambda w, v: jax.nn.sigmoid(v @ w) @ w.T), weights, v),
        "ais_full": best_ms(ais_steps(params), jax.random.PRNGKey(0)) / FLAGS.ais_steps}
  with free_random_numbers():
    step, args, _ = cd1_update(x)
    ms["cd1_free_rng"] = best_ms(step, *args)
    ms["ais_free_rng"] = best_ms(ais_steps(params), jax.random.PRNGKey(0)) / FLAGS.ais_steps

  flops = {"cd1_bound": cd1_flops_bound, "cd1_full": cd1_flops, "cd1_free_rng": cd1_flops,
           "ais_bound": ais_flops, "ais_full": ais_flops, "ais_free_rng": ais_flops}
  fraction = {k: flops[k] / (t * 1e-3) / peak for k, t in ms.items()}
  rows = []
  for kernel in ("cd1", "ais"):
    for part in ("bound", "full", "free_rng"):
      key = f"{kernel}_{part}"
      rows.append((f"{kernel.upper()} {part.replace('_', ' ')}, ms",
                   f"{ms[key]:.3f} = {fraction[key]:.0%} of peak"))
    share = (ms[f"{kernel}_full"] - ms[f"{kernel}_free_rng"]) / ms[f"{kernel}_full"]
    rows.append((f"  random numbers' share of the {kernel.upper()} step", f"{share:.0%}"))
  rows.append((f"matmul peak ({peak_n}^3 float32)", f"{peak / 1e9:.1f} GFLOP/s"))
  print(common.table(rows, f"Gibbs kernels, best of {FLAGS.repeats} runs of {FLAGS.calls} calls"))
  report.emit("gibbs_profile", {
      "cd1_over_peak": report.ratio(fraction["cd1_full"], PEAK_GOAL),
      "cd1_bound_over_peak": report.ratio(fraction["cd1_bound"], PEAK_GOAL),
      "ais_over_peak": report.ratio(fraction["ais_full"], PEAK_GOAL),
      "ais_bound_over_peak": report.ratio(fraction["ais_bound"], PEAK_GOAL),
  }, dict({f"{k}_ms": t for k, t in ms.items()}, matmul_peak_flops_per_s=peak,
          cd1_xla_flops=cd1_flops), settings={"calls": FLAGS.calls, "repeats": FLAGS.repeats,
                                              "ais_steps": FLAGS.ais_steps, "peak_n": peak_n})


if __name__ == "__main__":
  app.run(main)
