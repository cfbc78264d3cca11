"""Figures for Boltzmann machines: weight filters and Gibbs chains over time."""

from __future__ import annotations

import os

import numpy as np

from genlatent.viz.grids import save_image_grid

# Sweeps after which a chain is drawn: one column each in gibbs_chains.png.
CHAIN_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def filter_images(weights: np.ndarray, image_shape: tuple, num: int = 100) -> np.ndarray:
  """[n, *image_shape] in [0, 1]: the first `num` hidden units' incoming weights.

  Args:
    weights: [V, H] with V = prod(image_shape).
  Each filter is scaled by its own largest |w| so that 0 is mid-grey, excitatory
  weights light and inhibitory ones dark.
  """
  weights = np.asarray(weights, np.float32)
  if weights.shape[0] != int(np.prod(image_shape)):
    raise ValueError(f"weights {weights.shape} do not match images of shape {image_shape}.")
  w = weights[:, :num].T  # [n, V]
  scale = np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-8)
  return (0.5 + 0.5 * w / scale).reshape((w.shape[0],) + tuple(image_shape))


def save_filters(weights: np.ndarray, image_shape: tuple, path: str, num: int = 100) -> str:
  """Writes the filters of `filter_images` as one PNG grid."""
  scale = max(1, 112 // image_shape[0])
  return save_image_grid(filter_images(weights, image_shape, num), path, scale=scale)


def save_chains(snapshots: np.ndarray, image_shape: tuple, path: str) -> str:
  """Writes Gibbs chains as a grid: one row per chain, one column per snapshot time.

  Args:
    snapshots: [T, n, V] (or [T, n, *image_shape]) chain means in [0, 1].
  """
  snapshots = np.asarray(snapshots, np.float32)
  t, n = snapshots.shape[:2]
  images = np.swapaxes(snapshots.reshape((t, n) + tuple(image_shape)), 0, 1)
  scale = max(1, 112 // image_shape[0])
  return save_image_grid(images.reshape((n * t,) + tuple(image_shape)), path, columns=t,
                         scale=scale)


def write_figures(workdir: str, weights: np.ndarray, snapshots: np.ndarray,
                  image_shape: tuple, steps: tuple = CHAIN_STEPS) -> list[str]:
  """filters.png and gibbs_chains.png in `workdir`; returns their paths.

  Args:
    weights: [V, H] first-layer weights.
    snapshots: [len(steps), n, V] chain means after each of `steps` sweeps.
  """
  del steps  # the columns are in the order of `steps`, documented in CHAIN_STEPS
  return [save_filters(weights, image_shape, os.path.join(workdir, "filters.png")),
          save_chains(snapshots, image_shape, os.path.join(workdir, "gibbs_chains.png"))]
