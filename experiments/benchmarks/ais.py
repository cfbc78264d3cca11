"""Annealed estimators' speed as fractions of the matmul peak, and memory against chains.

  python -m experiments.benchmarks.ais            # a few minutes on 2 cores
  python -m experiments.benchmarks.ais --quick    # tiny budgets: checks that it runs

HMC-AIS (`genlatent.estimators.hmc_ais`): an MLP decoder z [latent] → tanh [hidden]
→ 784 Bernoulli logits at random weights (speed does not depend on them), binary
images, `--chains` estimation chains (plus 4 tuning chains) per example over a
`--steps` sigmoid schedule with `--leapfrog` steps. Throughput is decoder
gradient evaluations per second, B · (C + 4) · K · (L + 1) / seconds
(`hmc_ais.decoder_gradient_evaluations`), and FLOP/s at 4 · (latent · hidden +
hidden · 784) per evaluation (the forward's two matmuls and their two
input-gradient matmuls) as a fraction of the float32 matmul peak (goal ≥ 50%).

Boltzmann AIS: `--rbm_chains` chains of a 784-`--rbm_hidden` RBM over its annealing
path (`boltzmann.annealing_path`, the path `ais_log_partition` anneals) for
`--rbm_steps` steps. Throughput is chain steps per second, and FLOP/s at
4 · 784 · hidden per chain step (two matmuls) as a fraction of the peak.

Memory: XLA's own account of a compiled HMC-AIS call (temporaries plus outputs,
`memory_analysis()`), for each of `--memory_chains`, chunked as by default and,
for contrast, with every example's chains at once: the chunked one stays flat in
the number of chains (until one example's chains exceed a chunk).

Timings alternate the contenders and the peak probe in `--windows` windows and
report medians [min–max] (shared VMs drift). The last line printed is one JSON
object with every figure (`experiments/benchmarks/report.py`).
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from experiments.benchmarks import common, report
from genlatent import boltzmann
from genlatent.core import maths
from genlatent.estimators import ais as ais_lib
from genlatent.estimators import hmc_ais

FLAGS = flags.FLAGS
flags.DEFINE_bool("quick", False, "Tiny budgets: a check that the benchmark runs.")
flags.DEFINE_integer("windows", 3, "Timing windows.")
flags.DEFINE_integer("examples", 32, "HMC-AIS examples B.")
flags.DEFINE_integer("chains", 16, "HMC-AIS estimation chains per example C.")
flags.DEFINE_integer("steps", 100, "HMC-AIS temperatures K (sigmoid schedule).")
flags.DEFINE_integer("leapfrog", 10, "Leapfrog steps L per HMC transition.")
flags.DEFINE_integer("latent", 20, "Decoder latent dimension.")
flags.DEFINE_integer("hidden", 500, "Decoder hidden units.")
flags.DEFINE_integer("rbm_hidden", 500, "RBM hidden units.")
flags.DEFINE_integer("rbm_chains", 100, "Boltzmann AIS chains.")
flags.DEFINE_integer("rbm_steps", 500, "Boltzmann AIS temperatures (linear schedule).")
flags.DEFINE_list("memory_chains", ["4", "16", "64", "256"], "Chains per example to size.")

DATA_DIM = 784
HMC_PEAK_GOAL = 0.5  # fraction of the float32 matmul peak
BOLTZMANN_PEAK_GOAL = 0.65  # as the RBM's AIS (issue 14)
TUNING_CHAINS = 4


def settings() -> dict:
  """The flag values, shrunk under --quick."""
  s = dict(windows=FLAGS.windows, examples=FLAGS.examples, chains=FLAGS.chains,
           steps=FLAGS.steps, leapfrog=FLAGS.leapfrog, latent=FLAGS.latent,
           hidden=FLAGS.hidden, rbm_hidden=FLAGS.rbm_hidden, rbm_chains=FLAGS.rbm_chains,
           rbm_steps=FLAGS.rbm_steps, memory_chains=[int(c) for c in FLAGS.memory_chains],
           peak_sizes=(1024, 1536, 2048))
  if FLAGS.quick:
    s.update(windows=1, examples=4, chains=4, steps=10, leapfrog=2, latent=8, hidden=64,
             rbm_hidden=64, rbm_chains=16, rbm_steps=20, memory_chains=[4, 16],
             peak_sizes=(256,))
  return s


def decoder(key, latent: int, hidden: int):
  """log p(x | z) of an MLP Bernoulli decoder at random weights, and its prior pieces."""
  k1, k2 = jax.random.split(key)
  w1 = jax.random.normal(k1, (latent, hidden)) / math.sqrt(latent)
  w2 = jax.random.normal(k2, (hidden, DATA_DIM)) / math.sqrt(hidden)

  def log_likelihood(x, z):
    return maths.bernoulli_log_prob(x, jnp.tanh(z @ w1) @ w2, 1)

  sample_prior = lambda key, n: jax.random.normal(key, (n, latent))
  return maths.standard_normal_log_prob, log_likelihood, sample_prior


def hmc_call(s, x, chains, chunk_size=0):
  log_prior, log_likelihood, sample_prior = decoder(jax.random.PRNGKey(0), s["latent"],
                                                    s["hidden"])
  return jax.jit(lambda x, key: hmc_ais.hmc_ais(
      log_prior, log_likelihood, sample_prior, x, key, num_chains=chains,
      schedule=f"sigmoid:{s['steps']}", num_leapfrog_steps=s["leapfrog"],
      num_tuning_chains=TUNING_CHAINS, chunk_size=chunk_size).log_likelihood)


def timed(fn, *args):
  """A measure for `common.interleaved`: calls per second of fn(*args), compiled first."""
  jax.block_until_ready(fn(*args, jax.random.PRNGKey(1)))
  counter = [1]

  def measure():
    counter[0] += 1
    start = time.perf_counter()
    jax.block_until_ready(fn(*args, jax.random.PRNGKey(counter[0])))
    return 1.0 / (time.perf_counter() - start)

  return measure


def compiled_mib(fn, *args) -> float:
  """Temporaries plus outputs of fn's compiled call, MiB, as XLA accounts them."""
  stats = fn.lower(*args, jax.random.PRNGKey(0)).compile().memory_analysis()
  if stats is None:
    return float("nan")
  return (stats.temp_size_in_bytes + stats.output_size_in_bytes) / 2 ** 20


def main(argv):
  del argv
  s = settings()
  images, description = common.binary_images(s["examples"])
  x = jnp.asarray(images.reshape(len(images), -1))
  print(f"data: {description}; {common.num_cores()} cores; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}", flush=True)

  hmc = hmc_call(s, x, s["chains"])
  evals = hmc_ais.decoder_gradient_evaluations(s["examples"], s["chains"],
                                               f"sigmoid:{s['steps']}", s["leapfrog"],
                                               TUNING_CHAINS)
  flops_per_eval = 4.0 * (s["latent"] * s["hidden"] + s["hidden"] * DATA_DIM)

  rng = np.random.RandomState(0)
  params = {"weights": jnp.asarray(0.01 * rng.randn(DATA_DIM, s["rbm_hidden"]), jnp.float32),
            "visible_bias": jnp.zeros((DATA_DIM,)), "hidden_bias": jnp.zeros((s["rbm_hidden"],))}
  path = boltzmann.annealing_path(params, jnp.zeros((DATA_DIM,)))
  betas = ais_lib.beta_schedule(f"linear:{s['rbm_steps']}")
  gibbs = jax.jit(lambda key: ais_lib.annealed_importance_sampling(
      path.step, path.sample_base, path.log_z_base, betas, key, s["rbm_chains"]).log_z)
  chain_steps = s["rbm_chains"] * s["rbm_steps"]

  peak_probe = common.matmul_rate(common.matmul_peak(s["peak_sizes"], repeats=2)[1], 3)
  rates = common.interleaved({"hmc": timed(hmc, x), "gibbs": timed(gibbs),
                              "peak": peak_probe}, s["windows"])
  peak = common.median(rates["peak"])
  hmc_rate = evals * common.median(rates["hmc"])
  gibbs_rate = chain_steps * common.median(rates["gibbs"])
  hmc_fraction = hmc_rate * flops_per_eval / peak
  gibbs_fraction = gibbs_rate * 4.0 * DATA_DIM * s["rbm_hidden"] / peak

  memory, memory_unchunked = {}, {}
  for chains in s["memory_chains"]:
    memory[chains] = compiled_mib(hmc_call(s, x, chains), x)
    all_rows = s["examples"] * (chains + TUNING_CHAINS)
    memory_unchunked[chains] = compiled_mib(hmc_call(s, x, chains, chunk_size=all_rows), x)

  rows = [
      (f"HMC-AIS {s['examples']} examples x {s['chains']}+{TUNING_CHAINS} chains x "
       f"{s['steps']} steps x {s['leapfrog']}+1 gradients, s",
       common.spread([1.0 / r for r in rates["hmc"]], "{:.3f}")),
      ("  decoder gradient evaluations per second", f"{hmc_rate:.3g}"),
      ("  FLOP/s, fraction of matmul peak",
       f"{hmc_rate * flops_per_eval / 1e9:.1f} GFLOP/s = {hmc_fraction:.0%} (goal ≥ 50%)"),
      (f"Boltzmann AIS {s['rbm_chains']} chains x {s['rbm_steps']} steps "
       f"(784-{s['rbm_hidden']} RBM), s", common.spread([1.0 / r for r in rates["gibbs"]],
                                                        "{:.3f}")),
      ("  chain steps per second", f"{gibbs_rate:.3g}"),
      ("  FLOP/s, fraction of matmul peak",
       f"{gibbs_rate * 4.0 * DATA_DIM * s['rbm_hidden'] / 1e9:.1f} GFLOP/s = "
       f"{gibbs_fraction:.0%}"),
      ("matmul peak (float32)", f"{peak / 1e9:.1f} GFLOP/s"),
  ]
  for chains in s["memory_chains"]:
    rows.append((f"HMC-AIS memory, {chains} chains/example, MiB (chunked | all at once)",
                 f"{memory[chains]:.1f} | {memory_unchunked[chains]:.1f}"))
  print(common.table(rows, f"AIS benchmark, medians of {s['windows']} windows [min-max]"))
  report.emit("ais", {
      "hmc_over_peak": report.ratio(hmc_fraction, HMC_PEAK_GOAL),
      "boltzmann_over_peak": report.ratio(gibbs_fraction, BOLTZMANN_PEAK_GOAL),
  }, {
      "hmc_seconds": common.median([1.0 / r for r in rates["hmc"]]),
      "hmc_decoder_gradient_evaluations_per_s": hmc_rate,
      "boltzmann_seconds": common.median([1.0 / r for r in rates["gibbs"]]),
      "boltzmann_chain_steps_per_s": gibbs_rate,
      "matmul_peak_flops_per_s": peak,
      "hmc_memory_mib_by_chains": memory,
      "hmc_memory_mib_unchunked_by_chains": memory_unchunked,
  }, settings=dict({k: v for k, v in s.items() if k != "peak_sizes"}, quick=FLAGS.quick))

if __name__ == "__main__":
  app.run(main)
