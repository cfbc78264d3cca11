"""Test-wide settings: float32 determinism on CPU, 8 forced devices for parallel tests.

Forced host devices must be requested before jax is imported anywhere.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
