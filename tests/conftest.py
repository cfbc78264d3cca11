"""Test-wide settings: 8 forced CPU devices for parallel tests, fast compiles, one
compilation cache for the session, and how many xdist workers `-n auto` starts.

Forced host devices must be requested before jax is imported anywhere.
"""

import os
import shutil

from tests import xla

os.environ.setdefault("XLA_FLAGS", xla.flags(num_devices=8))
if xla.FAST_COMPILE not in os.environ["XLA_FLAGS"]:
  os.environ["XLA_FLAGS"] += " " + xla.FAST_COMPILE
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One compilation cache for the session's processes: the subprocesses that tests
# start (the main job, sweep workers, multi-process runs) compile the same smoke
# programs again and again.
_CACHE_CREATED_HERE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # pytest-xdist workers inherit it
  _CACHE_CREATED_HERE = os.environ["JAX_COMPILATION_CACHE_DIR"] = xla.session_cache_dir()
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
# A size limit turns on JAX's file lock around every cache read and write. Without
# it an entry is written in place, and another worker can read it half-written:
# a likely cause of the rare crashed xdist worker (only ever seen in full runs,
# never with the test alone). The limit itself is far above a session's cache.
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(8 * 2 ** 30))


def pytest_xdist_auto_num_workers(config):
  """`-n auto` (pyproject's addopts): a worker per core, at most 4. Each worker holds
  eight forced devices and its own compiled programs, and the suite is
  compile-bound, so more workers than cores only contend."""
  del config
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  return max(1, min(4, cores or 1))


def pytest_unconfigure(config):
  del config
  if _CACHE_CREATED_HERE:
    shutil.rmtree(_CACHE_CREATED_HERE, ignore_errors=True)
