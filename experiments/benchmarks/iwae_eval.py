"""Throughput and memory of importance-sampled evaluation of the 784-500-20 VAE.

  python -m experiments.benchmarks.iwae_eval                     # ~3 min on 2 cores
  python -m experiments.benchmarks.iwae_eval --sweep=16x100,32x50,256x100 --nomemory
  python -m experiments.benchmarks.iwae_eval --num_examples=10000 --windows=1 \
      --memory_examples=0                                         # the full k=5000 pass

The model is the 784-500-20 MLP VAE (tanh, Bernoulli decoder, standard normal
prior), built through `genlatent.models.build_model`, at its random init (the
throughput of a forward pass does not depend on the weights). The estimate is
`genlatent.estimators.log_likelihood(model, params, x, key, estimator='importance',
num_samples=k)`,
run over the data through `genlatent.train.evaluation.map_split`, the loop that
`evaluate_split` runs: padded batches of `--batch_size`, one jit-compiled call per
batch, results back on the host. Inside a call the k samples are drawn
`chunk_size` at a time in a `lax.scan` (`genlatent.estimators.importance`).

Prints, from one run:
  - throughput in decoder evaluations per second, examples × k / seconds, and the
    projected time of a full pass over the 10,000 test images;
  - achieved FLOP/s as a fraction of this machine's float32 matmul peak, measured in
    the same windows. FLOPs come from XLA's cost analysis of the compiled batch
    function, checked against a hand count of the matmuls. XLA counts a while
    loop's body once whatever its trip count, so the count is taken per chunk:
    total = F(k = chunk) + (⌈k / chunk⌉ − 1)·(F(k = chunk) − F(encode)), the
    encoder being loop-invariant and hoisted out of the loop by XLA;
  - the same fraction for the chunk's two decoder matmuls alone, in the same scan
    (the ceiling for these shapes);
  - peak resident memory (ru_maxrss) of an evaluation at k = 500 and k = 5000, each
    in its own subprocess so that its peak is its own: the chunked estimator's
    memory is that of one chunk, so the two agree and stay under 4 GiB for any k;
    beside them k = 5000 with chunk_size = k, all samples at once, for contrast.

Timings alternate the evaluation, the matmul chain and the peak probe in
`--windows` windows and report medians [min–max] (shared 2-core VMs drift by ±30%).
`--sweep=BxC,...` first times one window of each eval batch size B and chunk_size C
at k = `--sweep_k`, to pick the defaults.

Data: the 10,000 Fashion-MNIST test images (the `fashion_mnist` source's test file,
from `apt-get install -y dataset-fashion-mnist`) binarized at 0.5 as the `static`
binarization does; random binary images of the same shape, with a note, where the
data set is not installed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags

from configs import vae as vae_experiment
from experiments.benchmarks import common, report
from genlatent import data as data_lib
from genlatent import estimators
from genlatent.data import idx
from genlatent.models import build_model
from genlatent.train import evaluation, parallel

FLAGS = flags.FLAGS
flags.DEFINE_integer("k", 5000, "Importance samples per example.")
flags.DEFINE_integer("num_examples", 64, "Test images timed per window (at most 10,000).")
flags.DEFINE_integer("batch_size", 16, "Evaluation batch size (examples per compiled call).")
flags.DEFINE_integer("chunk_size", 128, "Importance samples per chunk (the model's chunk_size); "
                     "batch_size × chunk_size ≈ 2048 decoder rows per chunk was fastest.")
flags.DEFINE_integer("windows", 3, "Timing windows; each runs every contender once.")
flags.DEFINE_list("sweep", [], "BxC pairs (eval batch size x chunk_size) to time first, "
                  "one window each at k=--sweep_k, e.g. 16x100,32x50,256x100.")
flags.DEFINE_integer("sweep_k", 1000, "Importance samples per example in the sweep.")
flags.DEFINE_bool("memory", True, "Measure peak RSS of the --memory_runs evaluations.")
flags.DEFINE_integer("memory_examples", 128,
                     "Test images each memory subprocess evaluates (0: all 10,000). Every "
                     "batch has the same shapes, so the peak is reached in the first.")
flags.DEFINE_list("memory_runs", ["500", "5000", "5000:5000"],
                  "One memory subprocess each: k, or k:chunk_size to override --chunk_size "
                  "(k:k draws all k samples at once, what chunking avoids).")
flags.DEFINE_bool("memory_child", False, "Internal: run one memory measurement, print JSON.")

DATA_SHAPE = (28, 28, 1)
LATENT_DIM = 20
HIDDEN = 500
PEAK_SIZES = (1024, 1536, 2048)
MEMORY_LIMIT_GIB = 4.0


def vae_config(chunk_size: int) -> ml_collections.ConfigDict:
  """The model part of the Fashion-MNIST VAE config: 784-500-20, tanh."""
  config = vae_experiment.get_config().model  # every field, with its default
  config.update(latent_dim=LATENT_DIM, encoder_hidden=(HIDDEN,), decoder_hidden=(HIDDEN,),
                activation="tanh", prior="standard_normal", chunk_size=chunk_size)
  return config


def test_images() -> tuple[np.ndarray, str]:
  """[10000, 28, 28, 1] float32 in {0, 1}, and where they came from.

  The test images of the `fashion_mnist` source, read alone (the train split would
  add its own memory to every RSS below), a pixel 1 where its grey level / 255 >
  0.5, as `load_dataset`'s static binarization; else Bernoulli(0.5) noise of the
  same shape.
  """
  for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"):
    path = os.path.join(idx.FASHION_MNIST_DIR, name)
    if os.path.exists(path):
      x = idx.read_idx_file(path)[..., None]
      return ((x.astype(np.float32) / 255.0 > 0.5).astype(np.float32),
              f"Fashion-MNIST test images ({path}), statically binarized")
  rs = np.random.RandomState(0)
  x = (rs.rand(10000, *DATA_SHAPE) < 0.5).astype(np.float32)
  return x, (f"random binary data: Fashion-MNIST not found in {idx.FASHION_MNIST_DIR} "
             "(apt-get install -y dataset-fashion-mnist)")


def hand_count(batch_size: int, k: int) -> dict[str, float]:
  """Matmul FLOPs of one batch's k-sample estimate by hand, 2·m·n·k per matmul.

  Returns:
    encoder: 784→500→40 once per example (loop-invariant, so computed once).
    decoder_per_eval: 20→500→784 for one sample of one example.
    total: encoder + k · batch_size · decoder_per_eval.
  """
  pixels = int(np.prod(DATA_SHAPE))
  encoder = 2.0 * batch_size * (pixels * HIDDEN + HIDDEN * 2 * LATENT_DIM)
  decoder = 2.0 * (LATENT_DIM * HIDDEN + HIDDEN * pixels)
  return {"encoder": encoder, "decoder_per_eval": decoder,
          "total": encoder + k * batch_size * decoder}


def cost_flops(fn, *args) -> float:
  """FLOPs of one call of jit(fn)(*args) according to XLA's cost analysis."""
  analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax: one dict per device
    analysis = analysis[0]
  return float(analysis["flops"])


class Evaluation:
  """The real evaluation loop for one (batch size, chunk size, k), compiled once."""

  def __init__(self, x: np.ndarray, batch_size: int, chunk_size: int, k: int):
    self.model = build_model(vae_config(chunk_size), DATA_SHAPE)
    self.params = jax.jit(self.model.init)(jax.random.PRNGKey(0), x[:2])
    self.backend = parallel.make_backend("mesh")
    self.batch_size, self.chunk_size, self.k = batch_size, chunk_size, k
    self.x = x
    model = self.model

    # One function object for every call: map_split compiles it once per shape.
    def per_example(p, xb, key):
      return estimators.log_likelihood(model, p, xb, key, estimator="importance",
                                       num_samples=k).values

    self.fn = per_example
    self.key = jax.random.PRNGKey(1)

  def split(self, n: int) -> data_lib.Split:
    return data_lib.Split(self.x[:n], np.zeros((n,), np.int32))

  def run(self, n: int) -> np.ndarray:
    """[n] log p(x) estimates, nats, of the first n images; blocks until done."""
    return evaluation.map_split(self.backend, self.fn, self.params, self.split(n),
                                self.batch_size, self.key)

  def first_call_seconds(self) -> float:
    """Wall time of one batch on the first call: tracing, compiling and running it."""
    start = time.perf_counter()
    self.run(self.batch_size)
    return time.perf_counter() - start

  def flops_per_batch(self) -> float:
    """XLA's FLOPs for one batch of k samples (see the module docstring)."""
    xb = jnp.asarray(self.x[:self.batch_size])
    per_chunk = cost_flops(
        lambda p, xx, key: estimators.log_likelihood(
            self.model, p, xx, key, estimator="importance", num_samples=self.chunk_size).values,
        self.params, xb, self.key)
    encode = cost_flops(self.model.encode, self.params, xb, self.key)
    chunks = math.ceil(self.k / min(self.chunk_size, self.k))
    return per_chunk + (chunks - 1) * (per_chunk - encode)

  def evals_per_second(self, n: int):
    """A measure for `common.interleaved`: decoder evaluations/s over n images."""

    def measure():
      start = time.perf_counter()
      self.run(n)
      return n * self.k / (time.perf_counter() - start)

    return measure


class DecoderMatmuls:
  """The chunk's two decoder matmuls in the same scan, and nothing else: the ceiling.

  [chunk·B, 20] @ [20, 500] @ [500, 784] once per chunk, ⌈k / chunk⌉ chunks; no
  bias, tanh, likelihood or random numbers (the codes are a fixed array shifted
  by the chunk index so that XLA cannot hoist the work out of the loop).
  """

  def __init__(self, batch_size: int, chunk_size: int, k: int):
    rs = np.random.RandomState(2)
    rows = min(chunk_size, k) * batch_size
    self.w1 = jnp.asarray(rs.randn(LATENT_DIM, HIDDEN) / np.sqrt(LATENT_DIM), jnp.float32)
    self.w2 = jnp.asarray(rs.randn(HIDDEN, 784) / np.sqrt(HIDDEN), jnp.float32)
    self.z = jnp.asarray(rs.randn(rows, LATENT_DIM), jnp.float32)
    self.chunks = math.ceil(k / min(chunk_size, k))
    self.evals = batch_size * k

    def chain(w1, w2, z):
      def body(total, c):
        out = ((z + c.astype(jnp.float32)) @ w1) @ w2
        return total + out[0, 0], None
      return jax.lax.scan(body, jnp.zeros(()), jnp.arange(self.chunks))[0]

    self.fn = jax.jit(chain)
    jax.block_until_ready(self.fn(self.w1, self.w2, self.z))
    self.flops = self.chunks * 2.0 * rows * (LATENT_DIM * HIDDEN + HIDDEN * 784)

  def measure(self) -> float:
    """FLOP/s of one call."""
    start = time.perf_counter()
    jax.block_until_ready(self.fn(self.w1, self.w2, self.z))
    return self.flops / (time.perf_counter() - start)


def memory_child() -> None:
  """One evaluation at k = --k over --memory_examples test images; prints JSON RSS."""
  x, source = test_images()
  n = FLAGS.memory_examples or len(x)
  ev = Evaluation(x, FLAGS.batch_size, FLAGS.chunk_size, FLAGS.k)
  before = common.peak_rss_mib()
  start = time.perf_counter()
  values = ev.run(n)
  seconds = time.perf_counter() - start
  print(json.dumps({"k": FLAGS.k, "chunk_size": FLAGS.chunk_size, "examples": n,
                    "source": source,
                    "rss_before_mib": before, "peak_rss_mib": common.peak_rss_mib(),
                    "seconds": seconds, "mean_nats": float(np.mean(values)),
                    "finite": bool(np.isfinite(values).all())}), flush=True)


def measure_memory(k: int, chunk_size: int) -> dict:
  """Runs `memory_child` at (k, chunk_size) in a fresh interpreter; its JSON line as a dict."""
  cmd = [sys.executable, "-m", "experiments.benchmarks.iwae_eval", "--memory_child",
         f"--k={k}", f"--batch_size={FLAGS.batch_size}", f"--chunk_size={chunk_size}",
         f"--memory_examples={FLAGS.memory_examples}"]
  repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
  lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
  if proc.returncode or not lines:
    raise RuntimeError(f"Memory subprocess at k={k} failed ({proc.returncode}):\n"
                       f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
  return json.loads(lines[-1])


def sweep(x: np.ndarray, pairs: list[str], k: int) -> list[tuple[str, str]]:
  """One window per BxC pair: evals/s and fraction of the peak timed beside it."""
  rows = []
  for pair in pairs:
    b, c = (int(v) for v in pair.lower().split("x"))
    ev = Evaluation(x, b, c, k)
    compile_s = ev.first_call_seconds()
    n = max(b, FLAGS.num_examples // b * b)
    peak = common.matmul_rate(1536, repeats=3)
    flops_per_eval = ev.flops_per_batch() / (b * k)
    before = peak()
    rate = ev.evals_per_second(n)()
    after = peak()
    fraction = rate * flops_per_eval / max(before, after)
    rows.append((f"B={b:4d} chunk={c:4d} ({b * c:6d} rows/chunk)",
                 f"{rate:8.0f} evals/s, {100 * fraction:3.0f}% of peak, "
                 f"compile {compile_s:4.1f} s"))
    print(f"sweep {rows[-1][0]}: {rows[-1][1]}", flush=True)
  return rows


def main(argv):
  del argv
  if FLAGS.memory_child:
    memory_child()
    return
  b, c, k = FLAGS.batch_size, FLAGS.chunk_size, FLAGS.k
  print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({common.num_cores()} cores); "
        f"k={k}, eval batch {b}, chunk_size {c}, {FLAGS.windows} windows × "
        f"{FLAGS.num_examples} images", flush=True)
  x, source = test_images()
  print(f"data: {source}", flush=True)
  n = max(b, min(FLAGS.num_examples, len(x)) // b * b)  # whole batches: no padded rows

  sweep_rows = sweep(x, FLAGS.sweep, FLAGS.sweep_k) if FLAGS.sweep else []

  ev = Evaluation(x, b, c, k)
  compile_s = ev.first_call_seconds()
  print(f"first call (trace + compile + 1 batch): {compile_s:.2f} s", flush=True)

  xla = ev.flops_per_batch()
  hand = hand_count(b, k)
  print(f"FLOPs/batch: XLA {xla / 1e9:.2f} G; by hand (matmuls) {hand['total'] / 1e9:.2f} G",
        flush=True)
  # Tanh, the Bernoulli log-likelihood, the Gaussian log-densities and the RNG add a
  # few percent to the matmuls; far from that, the count is not what we assume.
  if not 0.98 <= xla / hand["total"] <= 1.15:
    print(f"WARNING: XLA counts {xla / hand['total']:.2f}× the hand count.", flush=True)
  flops_per_eval = xla / (b * k)

  peak, peak_n = common.matmul_peak(PEAK_SIZES)
  print(f"matmul peak: {peak / 1e9:.1f} GFLOP/s (float32 {peak_n}×{peak_n} jnp.dot, "
        f"best of {PEAK_SIZES})", flush=True)
  chain = DecoderMatmuls(b, c, k)

  rates = common.interleaved({"eval": ev.evals_per_second(n),
                              "peak": common.matmul_rate(peak_n, repeats=3),
                              "chain": chain.measure}, FLAGS.windows)
  # Fractions of peak per window, against that window's peak (see common).
  fraction = [r * flops_per_eval / p for r, p in zip(rates["eval"], rates["peak"])]
  chain_fraction = [f / p for f, p in zip(rates["chain"], rates["peak"])]
  full_pass_s = [10000 * k / r for r in rates["eval"]]
  percent = lambda values: [100 * v for v in values]

  rows = [("data", source), ("eval batch; chunk_size; k", f"{b}; {c}; {k}"),
          ("windows × images", f"{FLAGS.windows} × {n}"),
          ("first call (trace + compile + 1 batch)", f"{compile_s:.2f} s")]
  rows += [("sweep " + name, value) for name, value in sweep_rows]
  rows += [
      ("decoder evaluations/s", common.spread(rates["eval"], "{:.0f}")),
      (f"full pass, 10,000 images × k={k} (projected)",
       common.spread([s / 60 for s in full_pass_s], "{:.1f}") + " min"),
      ("FLOPs/eval XLA | by hand (matmuls)",
       f"{flops_per_eval / 1e3:.0f} k | {hand['total'] / (b * k) / 1e3:.0f} k"),
      ("achieved GFLOP/s", common.spread([r * flops_per_eval / 1e9 for r in rates["eval"]])),
      (f"matmul peak GFLOP/s ({peak_n}²)", common.spread([p / 1e9 for p in rates["peak"]])),
      ("evaluation ÷ peak (goal ≥ 65%)", common.spread(percent(fraction), "{:.0f}%")),
      ("decoder matmuls alone ÷ peak", common.spread(percent(chain_fraction), "{:.0f}%")),
  ]
  if FLAGS.memory:
    results = []
    for run in FLAGS.memory_runs:
      mk, _, mc = run.partition(":")
      results.append(measure_memory(int(mk), int(mc) if mc else c))
      print(f"memory: {json.dumps(results[-1])}", flush=True)
    describe = lambda r: (f"k={r['k']} " + ("unchunked" if r["chunk_size"] >= r["k"]
                                            else f"chunk {r['chunk_size']}"))
    rows.append((f"peak RSS, {results[0]['examples']} of 10,000 test images",
                 " | ".join(f"{describe(r)}: {r['peak_rss_mib']:.0f} MiB" for r in results)))
    rows.append(("  of which before the evaluation (data, model)",
                 " | ".join(f"{r['rss_before_mib']:.0f} MiB" for r in results)))
    # The arrays chunking shrinks: [samples · B, 784] float32, e.g. the decoder's logits.
    array_mib = lambda r: min(r["chunk_size"], r["k"]) * b * 784 * 4 / 2**20
    rows.append(("one [samples per chunk · B, 784] f32 array",
                 " | ".join(f"{describe(r)}: {array_mib(r):.0f} MiB" for r in results)))
    chunked = [r["peak_rss_mib"] for r in results if r["chunk_size"] < r["k"]] or [0.0]
    ok = max(chunked) < MEMORY_LIMIT_GIB * 1024
    rows.append((f"chunked peak RSS < {MEMORY_LIMIT_GIB:.0f} GiB",
                 "yes" if ok else f"NO ({max(chunked):.0f} MiB)"))
  print(common.table(rows, "Importance-sampled evaluation, VAE 784-500-20 — "
                           "median [min–max] over windows"), flush=True)
  med = common.median
  report.emit("iwae_eval", {
      "evaluation_over_peak": report.ratio(med(fraction), 0.65),
      "chunked_peak_rss_gib": report.ratio(max(chunked) / 1024 if FLAGS.memory else None,
                                           MEMORY_LIMIT_GIB, "<="),
  }, {
      "decoder_evaluations_per_s": med(rates["eval"]),
      "matmul_peak_flops_per_s": med(rates["peak"]),
      "decoder_matmuls_over_peak": med(chain_fraction),
      "full_pass_s_projected": med(full_pass_s),
      "first_call_s": compile_s,
      "xla_flops_per_batch": xla,
      "hand_flops_per_batch": hand["total"],
      "memory": results if FLAGS.memory else None,
  }, settings={"k": k, "batch_size": b, "chunk_size": c, "windows": FLAGS.windows,
               "examples": n, "peak_n": peak_n, "data": source})
  if FLAGS.memory and not ok:
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
