"""Data parallelism over all local devices: a device mesh (default) or `pmap`.

Both backends keep params replicated and split the global batch along a `data`
axis. The mesh backend is one `jax.jit` with declared shardings, the form JAX
recommends; XLA inserts the gradient all-reduce. The `pmap` backend is kept for
comparison and for code that relies on named-axis collectives, which it passes
to the family as a `Collective` over its axis; its per-example evaluation runs as one jit over the
same devices, so every example's value is the one it gets on the mesh or on one
device (see `PmapBackend.compile_per_example`).
"""

from __future__ import annotations

from typing import Callable

import flax.jax_utils
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from genlatent.core.collective import over_axis

AXIS = "data"
BACKENDS = ("mesh", "pmap")


def _check_divisible(batch_size: int, parts: int, what: str):
  if batch_size % parts:
    raise ValueError(
        f"{what} {batch_size} is not divisible by the {parts} devices it is split over; "
        f"pick a multiple of {parts} (e.g. --config.batch_size={parts * max(1, batch_size // parts)}).")


class MeshBackend:
  """One jit-compiled step over a 1-D `data` mesh of every device (all hosts)."""

  name = "mesh"

  def __init__(self, devices=None):
    self.mesh = Mesh(np.array(devices or jax.devices()), (AXIS,))
    self.replicated = NamedSharding(self.mesh, P())
    self.sharded = NamedSharding(self.mesh, P(AXIS))
    self.num_devices = self.mesh.size
    self.batch_multiple = self.num_devices  # a global batch splits over every device

  def check_batch_size(self, batch_size: int, what: str = "Batch size"):
    _check_divisible(batch_size, self.batch_multiple, what)

  def put_state(self, state):
    return jax.device_put(state, self.replicated)

  def put_batch(self, local_batch: dict):
    """Host-local numpy batch (this process's slice) -> global array sharded on `data`."""
    return jax.tree.map(
        lambda a: jax.make_array_from_process_local_data(self.sharded, a), local_batch)

  def host_state(self, state):
    """The state as checkpointed: replicated global arrays, saved once."""
    return state

  def abstract_state(self, state):
    return jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=self.replicated), state)

  def compile_update(self, update: Callable) -> Callable:
    """update(state, batch, key) -> (state, metrics), state donated."""
    return jax.jit(update, in_shardings=(self.replicated, self.sharded, self.replicated),
                   out_shardings=(self.replicated, self.replicated), donate_argnums=(0,))

  def compile_per_example(self, fn: Callable) -> Callable:
    """fn(params, x, key) -> pytree of [B, ...] values; returns host numpy of the global batch."""
    jitted = jax.jit(fn, in_shardings=(self.replicated, self.sharded, self.replicated),
                     out_shardings=self.sharded)

    def run(params, x, key):
      out = jitted(params, x, key)
      if jax.process_count() > 1:
        out = multihost_utils.process_allgather(out, tiled=True)
      return jax.tree.map(np.asarray, out)

    return run

  def params(self, state):
    return state.params


class PmapBackend:
  """`jax.pmap` over local devices; the family sees `over_axis('data')` as its collective."""

  name = "pmap"

  def __init__(self, devices=None):
    self.devices = devices or jax.local_devices()
    self.num_devices = len(self.devices)
    self.batch_multiple = self.num_devices * jax.process_count()
    self._mesh = None  # for per-example evaluation, built on first use

  def check_batch_size(self, batch_size: int, what: str = "Batch size"):
    _check_divisible(batch_size, self.batch_multiple, what)

  def put_state(self, state):
    return flax.jax_utils.replicate(state, self.devices)

  def _split(self, a):
    return a.reshape((self.num_devices, a.shape[0] // self.num_devices) + a.shape[1:])

  def put_batch(self, local_batch: dict):
    return jax.tree.map(self._split, local_batch)

  def host_state(self, state):
    # Not flax.jax_utils.unreplicate: on one device it returns the stacked [1, ...] copy.
    return jax.tree.map(lambda a: a[0], state)

  def abstract_state(self, state):
    device = jax.sharding.SingleDeviceSharding(self.devices[0])
    return jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), state)

  def compile_update(self, update: Callable) -> Callable:
    return jax.pmap(lambda s, b, k: update(s, b, k, over_axis(AXIS)), axis_name=AXIS,
                    in_axes=(0, 0, None), donate_argnums=(0,))

  def compile_per_example(self, fn: Callable) -> Callable:
    """fn(params, x, key) -> pytree of [B, ...] values; returns host numpy of the global batch.

    Not a pmap: a pmapped fn would see only its device's [B / devices] shard and
    draw that shard's noise from the batch key, so an example's noise (and its
    ELBO or importance estimate) would depend on its position within its shard,
    hence on the device count. One jit over the same devices sees the global
    batch, so every example gets the noise it gets on the mesh and on one device.
    Per-example functions use no collectives, so nothing of pmap is lost here.
    """
    mesh = self._evaluation_mesh()
    run_global = mesh.compile_per_example(fn)
    cache = {}

    def run(params, x, key):
      if cache.get("source") is not params:  # one host round trip per split, not per batch
        cache["source"] = params
        cache["params"] = jax.tree.map(
            lambda a: jax.make_array_from_process_local_data(mesh.replicated, np.asarray(a[0])),
            params)
      return run_global(cache["params"], mesh.put_batch(x), key)

    return run

  def _evaluation_mesh(self) -> MeshBackend:
    if self._mesh is None:
      self._mesh = MeshBackend(jax.devices() if jax.process_count() > 1 else self.devices)
    return self._mesh

  def params(self, state):
    return state.params


def make_backend(name: str, num_devices: int = 0):
  """The parallel backend called `name` (`mesh` or `pmap`).

  Args:
    num_devices: use only the first `num_devices` local devices (single-process
      runs only); 0 means all devices.
  """
  devices = None
  if num_devices:
    if jax.process_count() > 1:
      raise ValueError("num_devices restricts devices on a single host only; leave it at 0.")
    if num_devices > jax.local_device_count():
      raise ValueError(f"num_devices={num_devices} but only {jax.local_device_count()} "
                       "devices are present.")
    devices = jax.local_devices()[:num_devices]
  if name == "mesh":
    return MeshBackend(devices)
  if name == "pmap":
    return PmapBackend(devices)
  raise ValueError(f"Unknown parallelism {name!r}. Known: {', '.join(BACKENDS)}.")


def first_metrics(metrics, backend) -> dict:
  """Metrics as host floats (pmap returns one copy per device; they are equal)."""
  if isinstance(backend, PmapBackend):
    metrics = jax.tree.map(lambda m: m[0], metrics)
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


def all_finite(tree) -> bool:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return bool(jnp.all(jnp.stack(leaves))) if leaves else True
