"""Mixture figures: 2-D data with each component's covariance ellipses."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files
import matplotlib.patches
import matplotlib.pyplot as plt
import numpy as np


def ellipse_axes(covariance: np.ndarray, num_std: float):
  """(width, height, angle in degrees) of the num_std-σ contour of a 2×2 covariance."""
  values, vectors = np.linalg.eigh(np.asarray(covariance, np.float64))
  values = np.maximum(values, 0.0)
  # eigh sorts ascending: the last eigenvector is the major axis.
  angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
  width, height = 2.0 * num_std * np.sqrt(values[::-1])
  return float(width), float(height), float(angle)


def save_mixture_plot(x: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                      weights: np.ndarray, path: str, labels: np.ndarray | None = None,
                      num_std: tuple[float, ...] = (1.0, 2.0), title: str | None = None,
                      max_points: int = 5000) -> str:
  """Scatter of 2-D points with each component's 1σ and 2σ ellipses, as a PNG.

  Args:
    x: [N, 2] points (the first `max_points` are drawn).
    means: [K, 2]; covariances: [K, 2, 2]; weights: [K] mixture weights; an
      ellipse's opacity grows with its weight.
    labels: optional [N] ints colouring the points (e.g. classes or argmax
      responsibilities).
  """
  x = np.asarray(x)[:max_points]
  means, covariances = np.asarray(means), np.asarray(covariances)
  weights = np.asarray(weights)
  if x.shape[-1] != 2 or means.shape[-1] != 2:
    raise ValueError(f"A mixture plot needs 2-D data; got points {x.shape}, means {means.shape}.")
  fig, ax = plt.subplots(figsize=(6, 6))
  colour = None if labels is None else np.asarray(labels)[:max_points]
  ax.scatter(x[:, 0], x[:, 1], s=4, c=colour, cmap="tab10" if colour is not None else None,
             alpha=0.5, linewidths=0)
  top = max(float(weights.max()), 1e-12)
  for k in range(len(means)):
    alpha = 0.3 + 0.7 * float(weights[k]) / top
    for s in num_std:
      width, height, angle = ellipse_axes(covariances[k], s)
      ax.add_patch(matplotlib.patches.Ellipse(
          means[k], width, height, angle=angle, fill=False, lw=1.5, color="black",
          alpha=alpha))
    ax.plot(*means[k], "k+", ms=8, alpha=alpha)
  ax.set_aspect("equal", adjustable="datalim")
  ax.autoscale_view()
  ax.set_title(title or f"{len(means)} components, ellipses at {', '.join(f'{s:g}' for s in num_std)}σ")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
