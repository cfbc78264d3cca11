"""Figures of adversarial auto-encoders: codes over the prior, class × style grids.

  latent_over_prior.png  test codes coloured by label over the prior's density
                         (2-D codes: the density on a grid; otherwise both codes and
                         prior draws projected on the codes' first two principal
                         components, the prior shown as a histogram of its draws);
  class_style_grid.png   decoded codes, one column per class, one row per style:
                         for the label-regularised AAE each column is a prior
                         component and the rows walk along its main axis; for
                         the clustering AAE each column is a cluster (one-hot y)
                         and each row one style code z ~ p(z).

Like `genlatent.viz.latent`, the `save_*` functions take arrays and write one file.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless: figures go to files
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from genlatent.viz.grids import save_image_grid  # noqa: E402
from genlatent.viz.latent import encode_split  # noqa: E402


def _figure(figsize, dpi):
  fig = Figure(figsize=figsize, dpi=dpi)
  FigureCanvasAgg(fig)
  return fig


def plot_extent(*point_sets: np.ndarray, margin: float = 0.1) -> tuple[float, float, float, float]:
  """(x0, x1, y0, y1) covering the 0.5–99.5 percentiles of all [N, 2] sets, plus a margin."""
  points = np.concatenate([np.asarray(p, np.float64)[:, :2] for p in point_sets])
  low, high = np.percentile(points, 0.5, axis=0), np.percentile(points, 99.5, axis=0)
  pad = margin * np.maximum(high - low, 1e-3)
  low, high = low - pad, high + pad
  return float(low[0]), float(high[0]), float(low[1]), float(high[1])


def log_density_grid(log_prob: Callable[[np.ndarray], np.ndarray], extent, num: int = 160,
                     chunk: int = 4096) -> np.ndarray:
  """[num, num] log p(z) on a grid over `extent` (row i: y = y0 + i·Δy), nats.

  `log_prob` maps [M, 2] -> [M]; it is called `chunk` points at a time so a prior
  with many terms (a quadrature, a mixture) stays within memory.
  """
  x0, x1, y0, y1 = extent
  xs, ys = np.linspace(x0, x1, num), np.linspace(y0, y1, num)
  grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)
  pad = (-len(grid)) % chunk
  padded = np.concatenate([grid, np.zeros((pad, 2), np.float32)])
  out = np.concatenate([np.asarray(log_prob(padded[i:i + chunk]))
                        for i in range(0, len(padded), chunk)])
  return out[:len(grid)].reshape(num, num)


def save_codes_over_prior(codes: np.ndarray, labels: np.ndarray, path: str, *,
                          log_density: Optional[np.ndarray] = None,
                          prior_samples: Optional[np.ndarray] = None,
                          extent=None, axis_labels: Sequence[str] = ("z[0]", "z[1]"),
                          title: str = "", figsize=(7.0, 6.0), dpi: int = 100) -> str:
  """Codes as points coloured by label over the prior, in the plane of the first two axes.

  Args:
    codes: [N, 2] points.
    labels: [N] int; −1 (unknown) is drawn grey.
    path: the PNG to write.
    log_density: [G, G] log p(z) over `extent` (from `log_density_grid`), shown as
      grey shading of the density; or None, to show instead
    prior_samples: [M, 2] prior draws, as a grey 2-D histogram.
    extent: (x0, x1, y0, y1); default covers codes and prior draws.
  Returns:
    `path`.
  """
  codes = np.asarray(codes, np.float64)
  labels = np.asarray(labels)
  if extent is None:
    sets = [codes] + ([np.asarray(prior_samples)] if prior_samples is not None else [])
    extent = plot_extent(*sets)
  fig = _figure(figsize, dpi)
  ax = fig.add_subplot(1, 1, 1)
  if log_density is not None:
    density = np.exp(log_density - np.max(log_density))
    ax.imshow(density, origin="lower", extent=extent, cmap="Greys", aspect="auto",
              vmin=0.0, vmax=1.0, interpolation="bilinear")
    background = "prior density"
  elif prior_samples is not None:
    prior_samples = np.asarray(prior_samples, np.float64)
    ax.hist2d(prior_samples[:, 0], prior_samples[:, 1], bins=100,
              range=[extent[:2], extent[2:]], cmap="Greys")
    background = f"histogram of {len(prior_samples)} prior draws"
  else:
    background = ""
  classes = np.unique(labels)
  cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
  marker = 10.0 if len(codes) <= 2000 else 3.0
  for i, c in enumerate(classes):
    rows = labels == c
    color = (0.5, 0.5, 0.5) if c < 0 else cmap(i % cmap.N)
    ax.scatter(codes[rows, 0], codes[rows, 1], s=marker, color=color, alpha=0.7,
               linewidths=0, label="unknown" if c < 0 else str(c))
  ax.set_xlim(extent[:2])
  ax.set_ylim(extent[2:])
  ax.set_xlabel(axis_labels[0])
  ax.set_ylabel(axis_labels[1])
  ax.set_title(title + (f"\n(grey: {background})" if background else ""), fontsize="medium")
  ax.legend(loc="upper right", markerscale=3, fontsize="small", framealpha=0.8)
  fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.9)
  fig.savefig(path, dpi=dpi)
  return path


def component_style_codes(z: np.ndarray, components: np.ndarray, num_classes: int,
                          num_styles: int = 10) -> np.ndarray:
  """[num_styles, K, d] codes walking along each prior component's main axis.

  For component k, its draws are projected on their first principal axis and the
  draws nearest the `num_styles` evenly spaced quantiles (5%–95%) of that
  projection are taken, so row s is "the same relative position" in every
  component: the style, with the class held by the column.

  Args:
    z: [M, d] prior draws; components: [M] their components (every k present).
  """
  z = np.asarray(z, np.float64)
  components = np.asarray(components)
  out = np.zeros((num_styles, num_classes, z.shape[1]), np.float32)
  quantiles = np.linspace(0.05, 0.95, num_styles)
  for k in range(num_classes):
    points = z[components == k]
    if len(points) == 0:
      raise ValueError(f"No prior draws from component {k}; draw more.")
    centred = points - points.mean(0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0] if len(points) > 1 else \
        np.zeros(z.shape[1])
    proj = centred @ axis
    # Orient every axis the same way (outward from the origin), so rows line up.
    if np.dot(points.mean(0), axis) < 0:
      proj = -proj
    targets = np.quantile(proj, quantiles)
    out[:, k] = points[np.abs(proj[None, :] - targets[:, None]).argmin(axis=1)]
  return out


def save_class_style_grid(images: np.ndarray, num_classes: int, path: str,
                          scale: int = 1) -> str:
  """[S·K, H, W, C] images, row-major with K columns (one per class), as one PNG."""
  return save_image_grid(images, path, columns=num_classes, scale=scale)


# --- The workdir-level driver, called by the AAE's `figures`. ---


def write_figures(parts, params, key: jax.Array, workdir: str, dataset=None, *,
                  max_points: int = 2000, num_styles: int = 10) -> list[str]:
  """latent_over_prior.png and class_style_grid.png (labels and clustering variants)
  for an AAE built by `build_aae_parts`; both need the `dataset` (its test codes,
  and `to_images` for feature data), so without one nothing is written."""
  if jax.process_index() != 0 or dataset is None:
    return []
  model, prior = parts.model, parts.prior
  k_classes = parts.num_classes
  clustering = parts.variant == "clustering"
  prior_params = parts.prior_params(params)
  key_codes, key_prior, key_grid = jax.random.split(key, 3)
  out = lambda name: os.path.join(workdir, name)
  paths = []
  test = dataset.test
  n = min(max_points, test.num_examples)
  codes = encode_split(model.encode, params, test.x[:n], key_codes)
  style = codes[:, k_classes:] if clustering else codes
  draws = np.asarray(jax.jit(lambda k: prior.sample(prior_params, k, 5000))(key_prior))
  log_density, axis_labels = None, ("z[0]", "z[1]")
  if style.shape[1] == 2:
    points, prior_points = style, draws
    extent = plot_extent(points, prior_points)
    # Every prior has a log_prob (priors/base.py), so 2-D codes are drawn over its density.
    log_density = log_density_grid(jax.jit(lambda z: prior.log_prob(prior_params, z)), extent)
  else:
    from sklearn.decomposition import PCA  # pylint: disable=import-outside-toplevel
    pca = PCA(n_components=2).fit(style)
    points, prior_points = pca.transform(style), pca.transform(draws)
    extent = plot_extent(points, prior_points)
    axis_labels = (f"PC 1 of {style.shape[1]}-D z", f"PC 2 of {style.shape[1]}-D z")
  what = "style codes z" if clustering else "codes"
  paths.append(save_codes_over_prior(
      points, test.labels[:n], out("latent_over_prior.png"), log_density=log_density,
      prior_samples=None if log_density is not None else prior_points, extent=extent,
      axis_labels=axis_labels, title=f"AAE {what} of {n} test images"))
  scale = max(1, 112 // dataset.image_shape[0])
  decode = jax.jit(model.decode)
  if parts.variant == "labels":
    z, comps = jax.jit(lambda k: prior.sample_with_components(prior_params, k,
                                                              400 * k_classes))(key_grid)
    codes = component_style_codes(np.asarray(z), np.asarray(comps), k_classes, num_styles)
    images = decode(params, jnp.asarray(codes.reshape(-1, codes.shape[-1])))
    paths.append(save_class_style_grid(dataset.to_images(images), k_classes,
                                       out("class_style_grid.png"), scale))
  elif clustering:
    z = prior.sample(prior_params, key_grid, num_styles)  # [S, d]: one style per row
    y = jnp.eye(k_classes)
    codes = jnp.concatenate([jnp.broadcast_to(y, (num_styles, k_classes, k_classes)),
                             jnp.broadcast_to(z[:, None], (num_styles, k_classes, z.shape[-1]))],
                            axis=-1)
    images = decode(params, codes.reshape(num_styles * k_classes, -1))
    paths.append(save_class_style_grid(dataset.to_images(images), k_classes,
                                       out("class_style_grid.png"), scale))
  return paths
