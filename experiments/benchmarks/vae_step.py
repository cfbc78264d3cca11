"""Steady-state speed of the VAE training step, against the matmul peak and PyTorch.

  python -m experiments.benchmarks.vae_step                         # ~30 s idle, ≤2.5 min busy
  python -m experiments.benchmarks.vae_step --windows=2 --steps=50  # smoke, ~11 s
  python -m experiments.benchmarks.vae_step --notorch               # JAX only

On an idle 2-core AMD EPYC (Zen 4) VM, jax 0.10.2, torch 2.13.0 (Nov 2026) it gives
JAX ~245 steps/s (~4.0 ms), PyTorch ~165 steps/s, JAX ÷ PyTorch ~1.44×, compile
~1.0 s, ~136 GFLOP/s = 63–66% of a ~210 GFLOP/s matmul peak, the bare matmul
chain 81–86%, peak RSS ~0.7 GiB (JAX alone) and ~0.95 GiB with torch loaded.

The model is the 784-500-20 MLP VAE (tanh, Bernoulli decoder, Adam 1e-3), built
through `genlatent.models.build_model` and stepped by the trainer's own
`gradient_update`, jit-compiled with the state donated, exactly as training does.

Prints, from one run: the JAX step's steps/s and compile time; its FLOP/s (counted
by XLA's cost analysis, checked against a hand count of the matmuls) as a fraction
of this machine's float32 matmul peak, measured in the same run; the same fraction
for a bare chain of the step's matmuls (the ceiling for these shapes); the steps/s
of a PyTorch reference of the same model and optimizer; peak resident memory.

Timings alternate JAX, PyTorch and the peak probe in `--windows` windows and
report medians (shared 2-core VMs drift by ±30% within a minute). Install the
reference with `pip install torch==2.13.0` (the `bench` extra); without it the
PyTorch column is skipped with a note.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import app, flags

from configs import vae as vae_experiment
from experiments.benchmarks import common, report
from genlatent.core import TrainState
from genlatent.models import build_model
from genlatent.train.trainer import gradient_update

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 128, "Examples per training step.")
flags.DEFINE_integer("windows", 5, "Timing windows; each runs every contender once.")
flags.DEFINE_integer("steps", 200, "Training steps per contender per window.")
flags.DEFINE_integer("warmup", 20, "Untimed steps per contender before the windows.")
flags.DEFINE_float("max_window_s", 5.0,
                   "Cut a contender's window short after this many seconds (busy hosts).")
flags.DEFINE_integer("num_batches", 8, "Distinct batches the steps cycle through.")
flags.DEFINE_bool("torch", True, "Time the PyTorch reference too (if torch imports).")
flags.DEFINE_string("data", common.FASHION_MNIST_TRAIN,
                    "Gzipped IDX3 images; random binary data where the file is missing.")

DATA_SHAPE = (28, 28, 1)
LATENT_DIM = 20
HIDDEN = 500
LEARNING_RATE = 1e-3
PEAK_SIZES = (1024, 1536, 2048)


def vae_config() -> ml_collections.ConfigDict:
  """The model part of the VAE experiment config: 784-500-20, tanh."""
  config = vae_experiment.get_config().model  # every field, with its default
  config.update(latent_dim=LATENT_DIM, encoder_hidden=(HIDDEN,), decoder_hidden=(HIDDEN,),
                activation="tanh", prior="standard_normal", beta=1.0, chunk_size=100)
  return config


def layer_shapes() -> list[tuple[int, int]]:
  """(fan_in, fan_out) of each dense layer, in forward order."""
  pixels = int(np.prod(DATA_SHAPE))
  return [(pixels, HIDDEN), (HIDDEN, 2 * LATENT_DIM), (LATENT_DIM, HIDDEN), (HIDDEN, pixels)]


def hand_count(batch_size: int) -> dict[str, float]:
  """Matmul FLOPs of one training step by hand, 2·m·n·k per matmul.

  Returns:
    forward: the four forward matmuls.
    rule_of_thumb: 3 × forward (forward, then one matmul each for the input and
      the weight gradients).
    exact: the rule of thumb less the first layer's input gradient, which nothing
      needs (the images are not parameters), so XLA never computes it.
  """
  per_layer = [2.0 * batch_size * n_in * n_out for n_in, n_out in layer_shapes()]
  forward = sum(per_layer)
  return {"forward": forward, "rule_of_thumb": 3 * forward, "exact": 3 * forward - per_layer[0]}


def cost_flops(compiled) -> float:
  """FLOPs per call from XLA's cost analysis of a compiled computation."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax: one dict per device
    analysis = analysis[0]
  return float(analysis["flops"])


def make_batches(batch_size: int, num_batches: int, path: str):
  """`num_batches` training batches as the trainer feeds them, on the device.

  Returns:
    ([{'x': [B, 28, 28, 1] float32 in {0, 1}, 'index': [B] int32, 'label': [B]
    int32, 'mask': [B] float32}], description of the data).
  """
  x, source = common.binary_images(batch_size * num_batches, path=path)
  batches = []
  for i in range(num_batches):
    rows = slice(i * batch_size, (i + 1) * batch_size)
    batches.append(jax.device_put({
        "x": x[rows],
        "index": np.arange(rows.start, rows.stop, dtype=np.int32),
        "label": np.zeros(batch_size, np.int32),  # unused by the VAE
        "mask": np.ones(batch_size, np.float32)}))
  return batches, source


class JaxStep:
  """The trainer's compiled VAE step, with its state carried from call to call."""

  def __init__(self, batches: list):
    self.model = model = build_model(vae_config(), DATA_SHAPE)
    tx = optax.adam(LEARNING_RATE)
    self.params0 = model.init(jax.random.PRNGKey(0), batches[0]["x"][:2])
    # Every call donates the state's buffers, so the state holds copies of params0
    # (the PyTorch reference starts from params0 too); `flops` lowers from shapes.
    self.state = self._state(tx)
    self._abstract = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), self.state)
    update = gradient_update(model.loss, tx)
    self.step = jax.jit(lambda s, b, k: update(s, b, jax.random.fold_in(k, s.step)),
                        donate_argnums=0)
    self.batches = batches
    self.key = jax.random.PRNGKey(1)
    self.metrics = None
    self._i = 0

  def _state(self, tx):
    params = jax.tree_util.tree_map(jnp.array, self.params0)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params), extra={})

  def first_call_seconds(self) -> float:
    """Wall time of the first call: tracing, lowering, compiling and one step."""
    start = time.perf_counter()
    self.run(1)
    return time.perf_counter() - start

  def flops(self) -> float:
    """FLOPs per step according to XLA (compiles the step a second time)."""
    return cost_flops(self.step.lower(self._abstract, self.batches[0], self.key).compile())

  def run(self, n: int) -> None:
    """n training steps, cycling through the batches; returns once they are done."""
    for _ in range(n):
      self.state, self.metrics = self.step(self.state, self.batches[self._i], self.key)
      self._i = (self._i + 1) % len(self.batches)
    jax.block_until_ready((self.state, self.metrics))

  def initial_negative_elbo(self, num_samples: int) -> float:
    """−ELBO of the first batch under params0, nats/example, over `num_samples` draws."""
    elbo = self.model.densities.elbo(self.params0, self.batches[0]["x"], jax.random.PRNGKey(3),
                           num_samples)
    return -float(elbo.mean())


class MatmulChain:
  """The step's matmuls and nothing else: the best any step of these shapes can do.

  A bias-free, activation-free chain x → 500 → 40 → (first 20) → 500 → 784 and
  its vector-Jacobian product for a given cotangent: the same 11 matmuls as the
  training step (4 forward, 4 weight gradients, 3 input gradients) with no
  elementwise work, no Adam, no random numbers.
  """

  def __init__(self, batch_size: int):
    rs = np.random.RandomState(2)
    self.weights = [jnp.asarray(rs.randn(n_in, n_out) / np.sqrt(n_in), jnp.float32)
                    for n_in, n_out in layer_shapes()]
    self.x = jnp.asarray(rs.rand(batch_size, layer_shapes()[0][0]) < 0.5, jnp.float32)
    self.cotangent = jnp.asarray(rs.randn(batch_size, layer_shapes()[-1][1]), jnp.float32)

    def forward(weights, x):
      w1, w2, w3, w4 = weights
      return ((x @ w1 @ w2)[:, :LATENT_DIM] @ w3) @ w4

    def gradients(weights, x, cotangent):
      # The output is returned too: in a linear chain nothing else needs the last
      # matmul, and XLA would drop it.
      out, vjp = jax.vjp(lambda w: forward(w, x), weights)
      return out, vjp(cotangent)[0]

    self.fn = jax.jit(gradients)
    jax.block_until_ready(self.fn(self.weights, self.x, self.cotangent))
    self.flops_per_call = cost_flops(
        self.fn.lower(self.weights, self.x, self.cotangent).compile())

  def measure(self, calls: int) -> float:
    """FLOP/s over `calls` back-to-back calls."""
    start = time.perf_counter()
    out = None
    for _ in range(calls):
      out = self.fn(self.weights, self.x, self.cotangent)
    jax.block_until_ready(out)
    return calls * self.flops_per_call / (time.perf_counter() - start)


def torch_reference(params0, batches: list, threads: int):
  """A PyTorch step of the same VAE and optimizer, starting from the same params.

  Same architecture (tanh MLPs, 784-500-(20, 20) encoder, 20-500-784 decoder),
  reparameterised z = mean + exp(log_var / 2)·eps, analytic KL to N(0, I),
  Bernoulli log-likelihood as BCE-with-logits summed over pixels, Adam lr 1e-3,
  loss = batch mean of −ELBO.

  Returns:
    ((run(n), initial_negative_elbo(num_samples)), description), or (None, the
    reason) where torch does not import. initial_negative_elbo is that of the
    first batch under the shared initial params, so call it before `run`.
  """
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    return None, f"not timed: torch does not import ({e}); `pip install torch==2.13.0`"
  from torch import nn  # pylint: disable=g-import-not-at-top
  from torch.nn import functional as F  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(threads)

  class VAE(nn.Module):

    def __init__(self):
      super().__init__()
      self.enc_hidden = nn.Linear(784, HIDDEN)
      self.enc_head = nn.Linear(HIDDEN, 2 * LATENT_DIM)
      self.dec_hidden = nn.Linear(LATENT_DIM, HIDDEN)
      self.dec_out = nn.Linear(HIDDEN, 784)

    def forward(self, x, eps):
      """Batch mean of −ELBO, nats per example; x [B, 784] in {0, 1}, eps [B, 20]."""
      mean, log_var = self.enc_head(torch.tanh(self.enc_hidden(x))).chunk(2, dim=-1)
      z = mean + torch.exp(0.5 * log_var) * eps
      logits = self.dec_out(torch.tanh(self.dec_hidden(z)))
      neg_recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
      kl = 0.5 * (torch.exp(log_var) + mean ** 2 - 1.0 - log_var).sum(-1)
      return (neg_recon + kl).mean()

  model = VAE()
  # Same starting point as JAX (flax kernels are [in, out], torch's [out, in]).
  layers = [(model.enc_hidden, params0["encoder"]["trunk"]["dense_0"]),
            (model.enc_head, params0["encoder"]["head"]),
            (model.dec_hidden, params0["decoder"]["mlp"]["dense_0"]),
            (model.dec_out, params0["decoder"]["mlp"]["dense_1"])]
  with torch.no_grad():
    for layer, p in layers:
      layer.weight.copy_(torch.from_numpy(np.array(p["kernel"]).T))
      layer.bias.copy_(torch.from_numpy(np.array(p["bias"])))
  optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
  xs = [torch.from_numpy(np.array(b["x"]).reshape(len(b["x"]), -1)) for b in batches]
  state = {"i": 0}
  generator = torch.Generator().manual_seed(0)

  def run(n: int) -> None:
    for _ in range(n):
      x = xs[state["i"]]
      state["i"] = (state["i"] + 1) % len(xs)
      eps = torch.randn(x.shape[0], LATENT_DIM, generator=generator)
      optimizer.zero_grad(set_to_none=True)
      loss = model(x, eps)
      loss.backward()
      optimizer.step()

  def initial_negative_elbo(num_samples: int) -> float:
    with torch.no_grad():
      return float(np.mean([model(xs[0], torch.randn(len(xs[0]), LATENT_DIM,
                                                      generator=generator)).item()
                            for _ in range(num_samples)]))

  return (run, initial_negative_elbo), f"torch {torch.__version__}, {threads} threads"


def main(argv):
  del argv
  batch_size, steps = FLAGS.batch_size, FLAGS.steps
  load_before = os.getloadavg()[0]  # other processes' load, before ours adds to it
  threads = common.num_cores()
  print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({threads} cores); "
        f"batch {batch_size}, {FLAGS.windows} windows × {steps} steps", flush=True)

  batches, source = make_batches(batch_size, FLAGS.num_batches, FLAGS.data)
  print(f"data: {source}", flush=True)

  # 1–2. The step, compiled on its first call as in training.
  jax_step = JaxStep(batches)
  compile_s = jax_step.first_call_seconds()
  print(f"JAX first call (trace + compile + 1 step): {compile_s:.2f} s", flush=True)

  # 3. FLOPs: XLA's count, checked against the hand count of the matmuls.
  xla_flops = jax_step.flops()
  hand = hand_count(batch_size)
  print(f"FLOPs/step: XLA {xla_flops / 1e6:.1f} M; by hand {hand['exact'] / 1e6:.1f} M "
        f"(3× forward = {hand['rule_of_thumb'] / 1e6:.1f} M, less the unused input "
        f"gradient of layer 1)", flush=True)
  # Tanh, softplus, Adam and the RNG add ~1–3% to the matmuls; anything far from
  # that means the count (or the compiled step) is not what this benchmark assumes.
  if not 0.95 <= xla_flops / hand["exact"] <= 1.15:
    print(f"WARNING: XLA counts {xla_flops / hand['exact']:.2f}× the hand count.", flush=True)

  peak, peak_n = common.matmul_peak(PEAK_SIZES)
  print(f"matmul peak: {peak / 1e9:.1f} GFLOP/s (float32 {peak_n}×{peak_n} jnp.dot, "
        f"best of {PEAK_SIZES})", flush=True)
  chain = MatmulChain(batch_size)
  if abs(chain.flops_per_call / hand["exact"] - 1) > 0.01:
    print(f"WARNING: the matmul chain does {chain.flops_per_call / 1e6:.1f} M FLOPs, "
          f"not the step's {hand['exact'] / 1e6:.1f} M.", flush=True)
  cap = FLAGS.max_window_s  # seconds; warm-ups and windows alike
  common.steps_per_second(jax_step.run, FLAGS.warmup, cap)()
  jax_rss = common.peak_rss_mib()

  # 4. The PyTorch reference, imported only now so that the RSS above is JAX's alone.
  reference, note = (None, "not timed (--notorch)")
  if FLAGS.torch:
    reference, note = torch_reference(jax_step.params0, batches, threads)
  print(f"PyTorch: {note}", flush=True)
  if reference is not None:
    # Same params, same batch, fresh noise: the two must agree to Monte-Carlo error
    # (~0.1 nats at 64 samples) if they are the same model and loss.
    jax_nelbo, torch_nelbo = jax_step.initial_negative_elbo(64), reference[1](64)
    print(f"−ELBO of batch 0 at the shared init (64 samples): JAX {jax_nelbo:.2f}, "
          f"PyTorch {torch_nelbo:.2f} nats/example", flush=True)
    if abs(jax_nelbo - torch_nelbo) > 1.0:
      print("WARNING: the PyTorch reference is not the same model or loss.", flush=True)
    common.steps_per_second(reference[0], FLAGS.warmup, cap)()

  measures = {"jax": common.steps_per_second(jax_step.run, steps, cap),
              "peak": common.matmul_rate(peak_n, repeats=3),
              "chain": lambda: chain.measure(steps)}
  if reference is not None:
    measures["torch"] = common.steps_per_second(reference[0], steps, cap)
  rates = common.interleaved(measures, FLAGS.windows)

  # Fractions of peak are taken per window, against the peak of that same window,
  # so that a slow stretch of the host lowers both sides alike.
  jax_flops = [r * xla_flops for r in rates["jax"]]
  jax_fraction = [f / p for f, p in zip(jax_flops, rates["peak"])]
  chain_fraction = [f / p for f, p in zip(rates["chain"], rates["peak"])]
  gflops = lambda values: [v / 1e9 for v in values]
  percent = lambda values: [100 * v for v in values]

  rows = [
      ("data", source.split(" (")[0]),
      ("batch size; windows × steps", f"{batch_size}; {FLAGS.windows} × {steps}"),
      ("JAX compile (first call)", f"{compile_s:.2f} s"),
      ("JAX steps/s", common.spread(rates["jax"])),
  ]
  if reference is not None:
    ratio = [j / t for j, t in zip(rates["jax"], rates["torch"])]
    torch_fraction = [r * hand["exact"] / p for r, p in zip(rates["torch"], rates["peak"])]
    rows += [("PyTorch steps/s", common.spread(rates["torch"])),
             ("JAX ÷ PyTorch (goal ≥ 1.5)", common.spread(ratio, "{:.2f}×")),
             ("PyTorch ÷ peak (hand count)", common.spread(percent(torch_fraction), "{:.0f}%"))]
  else:
    rows += [("PyTorch steps/s", note)]
  rows += [
      ("FLOPs/step XLA | by hand", f"{xla_flops / 1e6:.1f} M | {hand['exact'] / 1e6:.1f} M"),
      ("JAX achieved GFLOP/s", common.spread(gflops(jax_flops))),
      (f"matmul peak GFLOP/s ({peak_n}²)", common.spread(gflops(rates["peak"]))),
      ("JAX ÷ peak (goal ≥ 65%)", common.spread(percent(jax_fraction), "{:.0f}%")),
      ("matmul-only chain ÷ peak", common.spread(percent(chain_fraction), "{:.0f}%")),
      ("peak RSS: JAX alone | process", f"{jax_rss:.0f} MiB | {common.peak_rss_mib():.0f} MiB"),
  ]
  print(common.table(rows, "VAE 784-500-20 training step — median [min–max] over windows"))
  load = max(load_before, os.getloadavg()[0])
  if load > threads + 0.5:
    # Other processes share the cores, so every number above is low, and unevenly:
    # PyTorch's OpenMP threads spin-wait for each other at every op (libgomp's
    # default), which on an oversubscribed host costs it up to 50× where JAX
    # loses 2–4×. The JAX ÷ PyTorch ratio is then meaningless.
    print(f"WARNING: the host was busy (1-min load average {load:.1f} on {threads} cores): "
          "all rates are low and JAX ÷ PyTorch is inflated; rerun on an idle machine "
          "before quoting these numbers.")
  med = common.median
  report.emit("vae_step", {
      "jax_over_torch": report.ratio(med(ratio) if reference is not None else None, 1.5),
      "jax_over_peak": report.ratio(med(jax_fraction), 0.65),
  }, {
      "jax_steps_per_s": med(rates["jax"]),
      "torch_steps_per_s": med(rates["torch"]) if reference is not None else None,
      "torch_over_peak": med(torch_fraction) if reference is not None else None,
      "matmul_peak_flops_per_s": med(rates["peak"]),
      "matmul_chain_over_peak": med(chain_fraction),
      "jax_compile_s": compile_s,
      "xla_flops_per_step": xla_flops,
      "hand_flops_per_step": hand["exact"],
      "peak_rss_mib": common.peak_rss_mib(),
  }, settings={"batch_size": batch_size, "windows": FLAGS.windows, "steps": steps,
               "peak_n": peak_n, "data": source, "busy_load_average": load})


if __name__ == "__main__":
  app.run(main)
