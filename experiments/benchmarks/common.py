"""What every benchmark shares: data, a matmul-peak probe, interleaved timing, a table.

The machines these run on are small shared 2-core VMs whose speed drifts by ±30%
from one second to the next, and by 5× while other jobs share the cores. A benchmark therefore
never compares two numbers taken minutes apart: it alternates its contenders in
short windows and reports medians, and it measures the machine's matmul peak inside
the same windows so that a fraction of peak compares like with like.
"""

from __future__ import annotations

import gzip
import os
import resource
import statistics
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

FASHION_MNIST_TRAIN = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def num_cores() -> int:
  """CPU cores this process may run on (the affinity mask, not the host's count)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    return os.cpu_count() or 1


def read_idx_images(path: str, limit: int | None = None) -> np.ndarray:
  """[N, rows, cols] uint8 images from a (gzipped) IDX3 file, as MNIST ships them.

  Reads only the first `limit` images where it is given, so that a benchmark's
  peak memory is not the whole file's.
  """
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    magic, count, rows, cols = np.frombuffer(f.read(16), dtype=">i4")
    if magic != 2051:
      raise ValueError(f"{path} is not an IDX3 image file (magic {magic}, expected 2051).")
    count = count if limit is None else min(count, limit)
    raw = f.read(count * rows * cols)
  return np.frombuffer(raw, dtype=np.uint8).reshape(count, rows, cols)


def binary_images(num: int, seed: int = 0, path: str = FASHION_MNIST_TRAIN):
  """[num, 28, 28, 1] float32 images in {0, 1}, and where they came from.

  Real Fashion-MNIST rows thresholded at half intensity where `path` exists (a
  benchmark's elementwise work does not depend on the pixels, but the data's
  sparsity is the real one); else Bernoulli(0.5) noise of the same shape.

  Returns:
    (images, description).
  """
  if path and os.path.exists(path):
    images = read_idx_images(path, num)
    if len(images) < num:  # a batch larger than the split: repeat it
      images = np.resize(images, (num,) + images.shape[1:])
    x = (images >= 128).astype(np.float32)[..., None]
    return x, f"binarized Fashion-MNIST ({path})"
  rs = np.random.RandomState(seed)
  x = (rs.rand(num, 28, 28, 1) < 0.5).astype(np.float32)
  return x, "random binary data (Fashion-MNIST not found)"


def matmul_rate(n: int, repeats: int) -> Callable[[], float]:
  """A measure of the float32 matmul peak: FLOP/s of the best of `repeats` [n, n] @ [n, n].

  The arrays are made and the dot compiled once, here; each call of the returned
  function only times. The best of the repeats, because a peak is a ceiling that
  noise can only lower.
  """
  a = jnp.asarray(np.random.RandomState(0).randn(n, n), jnp.float32)
  b = jnp.asarray(np.random.RandomState(1).randn(n, n), jnp.float32)
  dot = jax.jit(jnp.dot)
  dot(a, b).block_until_ready()

  def measure():
    best = float("inf")
    for _ in range(repeats):
      start = time.perf_counter()
      dot(a, b).block_until_ready()
      best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best

  return measure


def matmul_peak(sizes: Sequence[int] = (1024, 1536, 2048), repeats: int = 5):
  """The machine's float32 matmul peak through XLA, FLOP/s, and the size that gave it.

  Returns:
    (FLOP/s, n): the best over `sizes`, each the best of `repeats` calls.
  """
  rates = {n: matmul_rate(n, repeats)() for n in sizes}
  n = max(rates, key=rates.get)
  return rates[n], n


def peak_rss_mib() -> float:
  """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def interleaved(measures: dict[str, Callable[[], float]], windows: int) -> dict[str, list[float]]:
  """Each measurement once per window, taking turns, `windows` times.

  Args:
    measures: name -> a function that times one thing and returns its rate
      (steps/s, FLOP/s, ...), having waited for any asynchronous work.
    windows: how many rounds.
  Returns:
    name -> [windows] rates. The order within a round is reversed every other
    round so that a drift in machine speed does not favour whoever goes first.
  """
  names = list(measures)
  rates = {name: [] for name in names}
  for w in range(windows):
    for name in (names if w % 2 == 0 else names[::-1]):
      rates[name].append(measures[name]())
  return rates


def steps_per_second(run: Callable[[int], None], steps: int, max_seconds: float = 10.0,
                     chunks: int = 10) -> Callable[[], float]:
  """A measure for `interleaved`: steps/s of `run`, which must block until its steps are done.

  Runs `steps` steps in `chunks` calls, stopping early once `max_seconds` have
  passed: on a busy host a contender can slow down twentyfold, and the run must
  still finish. The one wait per chunk costs well under 1% at ten chunks.
  """
  per_chunk = max(1, steps // chunks)

  def measure():
    done = 0
    start = time.perf_counter()
    while done < steps and time.perf_counter() - start < max_seconds:
      n = min(per_chunk, steps - done)
      run(n)
      done += n
    return done / (time.perf_counter() - start)

  return measure


def median(values: Sequence[float]) -> float:
  return float(statistics.median(values))


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
  """`median [min–max]` of a list, for a table cell."""
  return f"{fmt.format(median(values))} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def table(rows: Sequence[tuple[str, str]], title: str = "") -> str:
  """A two-column text table: (what, value) rows."""
  width = max(len(name) for name, _ in rows)
  line = "-" * (width + 3 + max(len(value) for _, value in rows))
  out = ([title] if title else []) + [line]
  out += [f"{name.ljust(width)} | {value}" for name, value in rows]
  return "\n".join(out + [line])
