"""Sums and means over the devices a batch is split across, as a family's `update` sees them.

Under the mesh backend one jit-compiled step sees the whole global batch (XLA
all-reduces its sums), so every collective is the identity (`LOCAL`). Under
`pmap` each device sees its slice, and sums over examples must be all-reduced
over the mapped axis (`over_axis`). Families take a `Collective` and never
name an axis: the same `update` serves both backends.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax


class Collective(NamedTuple):
  """sum(tree) and mean(tree) over devices; gather(a [n, ...]) -> [devices·n, ...],
  or None where there is one view of the batch (nothing to gather)."""

  sum: Callable[[Any], Any]
  mean: Callable[[Any], Any]
  gather: Optional[Callable[[jax.Array], jax.Array]] = None


LOCAL = Collective(sum=lambda tree: tree, mean=lambda tree: tree)


def over_axis(axis_name: str) -> Collective:
  """All-reduces over the `pmap` axis `axis_name`."""
  return Collective(
      sum=lambda tree: jax.lax.psum(tree, axis_name),
      mean=lambda tree: jax.lax.pmean(tree, axis_name),
      gather=lambda a: jax.lax.all_gather(a, axis_name).reshape((-1,) + a.shape[1:]))
