"""XLA flags for test processes (this one and the subprocesses tests start).

The suite is compile-bound: its smoke models run for milliseconds and compile for
seconds, and XLA's LLVM optimisation passes are most of that compile time. Tests
check numbers, not speed, so they compile at optimisation level 0 (2.3× faster
on the suite's VAE tests). Benchmarks and real runs keep XLA's defaults.
"""

import tempfile

FAST_COMPILE = "--xla_backend_optimization_level=0"
# For the few tests whose run time, not compile time, dominates (thousands of
# annealing or training steps): XLA's default level, per jit (`compiler_options`).
OPTIMIZED = {"xla_backend_optimization_level": 3}


def session_cache_dir() -> str:
  """A fresh directory for this test session's persistent compilation cache.

  Under pytest-xdist every worker shares the controller's directory (passed in
  the environment), so one worker's compile serves the others.
  """
  return tempfile.mkdtemp(prefix="genlatent-test-xla-cache-")


def flags(num_devices: int | None = None) -> str:
  """XLA_FLAGS for a test process, forcing `num_devices` host devices when given."""
  forced = [] if num_devices is None else [f"--xla_force_host_platform_device_count={num_devices}"]
  return " ".join(forced + [FAST_COMPILE])
