"""Image grids as PNG files."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files
import matplotlib.image
import numpy as np


def tile(images: np.ndarray, columns: int | None = None, pad: int = 1) -> np.ndarray:
  """Tiles [N, H, W, C] images in [0, 1] into one [rows*(H+pad)+pad, cols*(W+pad)+pad, C] array."""
  images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
  if images.ndim != 4:
    raise ValueError(f"Expected images of shape [N, H, W, C], got {images.shape}.")
  n, h, w, c = images.shape
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  grid = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, c), np.float32)
  for i in range(n):
    r, col = divmod(i, columns)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top:top + h, left:left + w] = images[i]
  return grid


def save_image_grid(images: np.ndarray, path: str, columns: int | None = None,
                    scale: int = 1) -> str:
  """Writes [N, H, W, C] images in [0, 1] as one PNG grid; each pixel becomes scale×scale."""
  grid = tile(images, columns)
  if scale > 1:
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
  if grid.shape[-1] == 1:
    matplotlib.image.imsave(path, grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
  else:
    matplotlib.image.imsave(path, grid)
  return path


def save_reconstruction_grid(originals: np.ndarray, reconstructions: np.ndarray, path: str,
                             columns: int = 10, scale: int = 1) -> str:
  """Rows alternate originals and their reconstructions, `columns` pairs per row pair."""
  originals = np.asarray(originals)
  reconstructions = np.asarray(reconstructions)
  n = (len(originals) // columns) * columns or len(originals)
  columns = min(columns, n)
  rows = []
  for start in range(0, n, columns):
    rows.append(originals[start:start + columns])
    rows.append(reconstructions[start:start + columns])
  return save_image_grid(np.concatenate(rows), path, columns=columns, scale=scale)
