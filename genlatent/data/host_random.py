"""The data pipeline's random draws, run on the host CPU.

The draws are cheap, the accelerator's memory stays free for the model, and the
data do not depend on which accelerator a run happened to get. Where JAX was
started without a CPU backend (JAX_PLATFORMS=cuda), they run on the default
device instead; threefry gives the same bits there.
"""

from __future__ import annotations

import jax
import numpy as np


def _host_device():
  """The first CPU device, or None where JAX has none."""
  try:
    return jax.local_devices(backend="cpu")[0]  # this process's own, under multi-host
  except RuntimeError:
    return None


def _to_host(key: jax.Array) -> jax.Array:
  device = _host_device()
  return key if device is None else jax.device_put(key, device)


def split(key: jax.Array, num: int = 2) -> jax.Array:
  """`jax.random.split`, with the keys placed on the host."""
  return jax.random.split(_to_host(key), num)


def permutation(key: jax.Array, n: int) -> np.ndarray:
  """[n] int64, `jax.random.permutation(key, n)` as a numpy array."""
  return np.asarray(jax.random.permutation(_to_host(key), n)).astype(np.int64)


def bernoulli(key: jax.Array, probs: np.ndarray) -> np.ndarray:
  """[same shape as probs] bool, `jax.random.bernoulli(key, probs)` as a numpy array.

  Args:
    key: any key; its draw is moved to the host.
    probs: float in [0, 1], any shape.
  """
  key = _to_host(key)
  device = _host_device()
  probs = jax.device_put(np.asarray(probs, np.float32), device) if device is not None else probs
  return np.asarray(jax.random.bernoulli(key, probs))
