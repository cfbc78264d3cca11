"""Figures of a continuous latent space, written as PNG files.

Each `save_*` function is pure apart from the one file it writes: it takes arrays
and a `decode(z [N, d]) -> [N, H, W, C]` callable (mean images in [0, 1]), never a
workdir, and returns the path it wrote. Codes z are [N, d] float arrays, one row
per example. `write_latent_figures` is the workdir-level driver that
`experiments.sample` calls: it encodes a data set's images and writes every
figure that applies.

Where a figure needs values of a latent dimension (the manifold, traversals) it
takes quantiles of N(0, 1), the standard normal prior; under another prior (a
learned diagonal Gaussian, VampPrior) they are a convention, not the prior's own
quantiles.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import jax
import matplotlib
import numpy as np
import scipy.stats

matplotlib.use("Agg")  # headless: figures go to files
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from genlatent.data import Split, eval_batches  # noqa: E402
from genlatent.viz.grids import save_image_grid, tile  # noqa: E402

Decode = Callable[[np.ndarray], np.ndarray]

# Figures `write_latent_figures` knows, by the name `experiments.sample --figures` takes.
LATENT_FIGURES = ("manifold", "traversals", "interpolation", "attribute", "scatter",
                  "comparison")


def gaussian_quantiles(num: int, low: float = 0.05, high: float = 0.95) -> np.ndarray:
  """[num] values Φ⁻¹(p) of N(0, 1) for p evenly spaced on [low, high] ⊂ (0, 1).

  The endpoints stay inside (0, 1) because Φ⁻¹(0) = −∞; the defaults span ±1.64.
  """
  if not 0.0 < low < high < 1.0:
    raise ValueError(f"Quantile range must satisfy 0 < low < high < 1; got ({low}, {high}).")
  return scipy.stats.norm.ppf(np.linspace(low, high, num)).astype(np.float32)


def interpolate(z_start: np.ndarray, z_end: np.ndarray, num_steps: int,
                spherical: bool = False) -> np.ndarray:
  """[num_steps, P, d] codes from z_start [P, d] to z_end [P, d], endpoints included.

  Linear: (1 − t)·z₀ + t·z₁. Spherical (slerp): the great-circle path, whose norm
  stays near that of the endpoints; under a high-dimensional Gaussian prior almost
  all mass lies near the sphere |z| ≈ √d, while the linear midpoint falls inside it.
  Where z₀ and z₁ are (anti)parallel slerp is undefined and the row falls back to
  linear.
  """
  z_start = np.asarray(z_start, np.float64)
  z_end = np.asarray(z_end, np.float64)
  t = np.linspace(0.0, 1.0, num_steps)[:, None, None]  # [T, 1, 1]
  linear = (1.0 - t) * z_start + t * z_end
  if not spherical:
    return linear.astype(np.float32)
  norms = np.linalg.norm(z_start, axis=-1) * np.linalg.norm(z_end, axis=-1)
  cos = np.sum(z_start * z_end, axis=-1) / np.maximum(norms, 1e-12)
  omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None]  # [P, 1]
  sin = np.sin(omega)
  degenerate = (sin < 1e-6)[None]  # [1, P, 1]
  safe_sin = np.where(sin < 1e-6, 1.0, sin)
  slerp = (np.sin((1.0 - t) * omega) / safe_sin * z_start
           + np.sin(t * omega) / safe_sin * z_end)
  return np.where(degenerate, linear, slerp).astype(np.float32)


def attribute_vector(codes: np.ndarray, has_attribute: np.ndarray) -> np.ndarray:
  """[d] mean code of examples with the attribute minus mean code of those without.

  Args:
    codes: [N, d] codes (posterior means).
    has_attribute: [N] bool.
  Raises:
    ValueError: either group is empty (the difference would be undefined).
  """
  codes = np.asarray(codes, np.float64)
  has_attribute = np.asarray(has_attribute, bool)
  if has_attribute.all() or not has_attribute.any():
    raise ValueError(f"An attribute vector needs examples with and without the attribute; "
                     f"got {int(has_attribute.sum())} of {len(has_attribute)} with it.")
  return (codes[has_attribute].mean(0) - codes[~has_attribute].mean(0)).astype(np.float32)


def save_manifold(decode: Decode, latent_dim: int, path: str, *, num: int = 20,
                  dims: tuple[int, int] = (0, 1), scale: int = 1) -> str:
  """The learned 2-D manifold: a num × num grid of decoded Gaussian quantiles.

  Code (z[dims[0]], z[dims[1]]) = (Φ⁻¹(p_col), Φ⁻¹(p_row)) with p evenly spaced on
  [0.05, 0.95] (Kingma & Welling, 2014, fig. 4). z[dims[0]] grows left to right,
  z[dims[1]] bottom to top, as on a plot's axes. For latent_dim > 2 every other
  dimension is held at 0, the prior's mean, so the figure is one 2-D slice
  through the code space, not the whole manifold.

  Args:
    decode: z [num², latent_dim] -> [num², H, W, C] mean images in [0, 1].
    latent_dim: d ≥ 2.
    path: the PNG to write.
    num: grid points per axis.
    dims: the two dimensions varied.
    scale: each pixel becomes scale × scale.
  Returns:
    `path`; the PNG is [num·(H+1)+1, num·(W+1)+1]·scale pixels.
  """
  if latent_dim < 2:
    raise ValueError(f"A 2-D manifold needs latent_dim ≥ 2; got {latent_dim}.")
  if len(set(dims)) != 2 or not all(0 <= d < latent_dim for d in dims):
    raise ValueError(f"dims must be two distinct dimensions in [0, {latent_dim}); got {dims}.")
  values = gaussian_quantiles(num)
  rows, cols = np.meshgrid(values[::-1], values, indexing="ij")  # top row: largest value
  z = np.zeros((num * num, latent_dim), np.float32)
  z[:, dims[0]] = cols.ravel()
  z[:, dims[1]] = rows.ravel()
  return save_image_grid(np.asarray(decode(z)), path, columns=num, scale=scale)


def save_traversals(decode: Decode, codes: np.ndarray, path: str, *, num_steps: int = 9,
                    max_dims: int = 10, dims: Sequence[int] | None = None,
                    scale: int = 1) -> str:
  """Latent traversals: each dimension swept over Gaussian quantiles, one row per dimension.

  Row (m, j) starts from image m's code and replaces z[j] with each of
  `gaussian_quantiles(num_steps)` in turn (absolute values, not offsets), the
  other dimensions held at that image's code. Rows are ordered image-major.

  Args:
    decode: z [R·num_steps, d] -> [R·num_steps, H, W, C] mean images in [0, 1].
    codes: [M, d] codes of the images to traverse from (posterior means).
    path: the PNG to write.
    num_steps: values per row.
    max_dims: with `dims` unset, traverse the first min(max_dims, d) dimensions.
    dims: the dimensions to traverse, in row order (overrides `max_dims`).
    scale: each pixel becomes scale × scale.
  Returns:
    `path`; the PNG is [R·(H+1)+1, num_steps·(W+1)+1]·scale pixels with
    R = M · len(dims) rows.
  """
  codes = np.asarray(codes, np.float32)
  d = codes.shape[-1]
  dims = list(range(min(max_dims, d))) if dims is None else list(dims)
  if not dims or not all(0 <= j < d for j in dims):
    raise ValueError(f"dims must be a non-empty list in [0, {d}); got {dims}.")
  values = gaussian_quantiles(num_steps)
  # [M, len(dims), num_steps, d]: every row is its image's code with one entry swept.
  z = np.broadcast_to(codes[:, None, None, :], (len(codes), len(dims), num_steps, d)).copy()
  for row, j in enumerate(dims):
    z[:, row, :, j] = values
  images = np.asarray(decode(z.reshape(-1, d)))
  return save_image_grid(images, path, columns=num_steps, scale=scale)


def save_interpolation(decode: Decode, z_start: np.ndarray, z_end: np.ndarray, path: str, *,
                       num_steps: int = 10, spherical: bool = False,
                       x_start: np.ndarray | None = None, x_end: np.ndarray | None = None,
                       scale: int = 1) -> str:
  """Decoded codes along a path between pairs of codes, one row per pair.

  Args:
    decode: z [P·num_steps, d] -> [P·num_steps, H, W, C] mean images in [0, 1].
    z_start, z_end: [P, d] codes of the two ends (e.g. encoded test images).
    path: the PNG to write.
    num_steps: decoded images per row, both ends included.
    spherical: slerp instead of a straight line (see `interpolate`).
    x_start, x_end: optional [P, H, W, C] originals, shown as a row's first and
      last image, so the decoded ends can be compared with the data.
    scale: each pixel becomes scale × scale.
  Returns:
    `path`; the PNG is [P·(H+1)+1, c·(W+1)+1]·scale pixels, c = num_steps (+2
    with originals).
  """
  z = interpolate(z_start, z_end, num_steps, spherical)  # [T, P, d]
  num_pairs, d = z.shape[1], z.shape[2]
  images = np.asarray(decode(np.swapaxes(z, 0, 1).reshape(-1, d)))
  images = images.reshape((num_pairs, num_steps) + images.shape[1:])
  if (x_start is None) != (x_end is None):
    raise ValueError("Give both x_start and x_end, or neither.")
  if x_start is not None:
    images = np.concatenate([np.asarray(x_start, np.float32)[:, None], images,
                             np.asarray(x_end, np.float32)[:, None]], axis=1)
  columns = images.shape[1]
  return save_image_grid(images.reshape((-1,) + images.shape[2:]), path, columns=columns,
                         scale=scale)


def save_attribute_arithmetic(decode: Decode, codes: np.ndarray, vector: np.ndarray,
                              path: str, *, scales: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0),
                              originals: np.ndarray | None = None, scale: int = 1) -> str:
  """Images whose codes move along an attribute vector (the "smile vector" figure).

  Column m is one image; row 0 holds the originals (if given), then row i holds
  decode(codes[m] + scales[i]·vector). With scale 0 in `scales` that row is the
  reconstruction through the posterior mean, the baseline the others move from.

  Args:
    decode: z [len(scales)·M, d] -> [len(scales)·M, H, W, C] mean images in [0, 1].
    codes: [M, d] codes of the images to edit.
    vector: [d], e.g. `attribute_vector(...)`.
    path: the PNG to write.
    scales: the multiples α of `vector` added, one row each.
    originals: optional [M, H, W, C] images, shown as the first row.
    scale: each pixel becomes scale × scale.
  Returns:
    `path`; the PNG is [r·(H+1)+1, M·(W+1)+1]·scale pixels, r = len(scales)
    (+1 with originals).
  """
  codes = np.asarray(codes, np.float32)
  alphas = np.asarray(scales, np.float32)[:, None, None]  # [S, 1, 1]
  z = codes[None] + alphas * np.asarray(vector, np.float32)  # [S, M, d]
  images = np.asarray(decode(z.reshape(-1, codes.shape[-1])))
  if originals is not None:
    images = np.concatenate([np.asarray(originals, np.float32), images])
  return save_image_grid(images, path, columns=len(codes), scale=scale)


def _figure(figsize: tuple[float, float], dpi: int) -> Figure:
  # A bare Figure (not pyplot) holds no global state, so nothing leaks between calls.
  fig = Figure(figsize=figsize, dpi=dpi)
  FigureCanvasAgg(fig)
  return fig


def save_side_by_side(samples_a: np.ndarray, samples_b: np.ndarray, title_a: str,
                      title_b: str, path: str, *, figsize: tuple[float, float] = (10.0, 5.4),
                      dpi: int = 100) -> str:
  """Two sample grids in one figure, each under its title (e.g. AE vs VAE samples).

  Args:
    samples_a, samples_b: [N, H, W, C] images in [0, 1]; N may differ.
    title_a, title_b: panel titles, e.g. "AE (Gaussian fitted to codes)", "VAE".
    path: the PNG to write.
    figsize: (width, height), inches.
    dpi: pixels per inch.
  Returns:
    `path`; the PNG is [round(figsize[1]·dpi), round(figsize[0]·dpi)] pixels.
  """
  fig = _figure(figsize, dpi)
  for i, (samples, title) in enumerate(((samples_a, title_a), (samples_b, title_b))):
    grid = tile(samples)
    ax = fig.add_subplot(1, 2, i + 1)
    if grid.shape[-1] == 1:
      ax.imshow(grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
      ax.imshow(grid, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
  fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.9, wspace=0.05)
  fig.savefig(path, dpi=dpi)
  return path


def project_2d(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
  """[N, 2] points to plot for [N, d] codes, and their two axis labels.

  d = 2: the codes themselves. d > 2: the first two principal components
  (scikit-learn PCA fitted to these codes), whose labels say so and give the share
  of variance each explains. d = 1: z[0] against zero.
  """
  codes = np.asarray(codes, np.float64)
  d = codes.shape[-1]
  if d == 1:
    return np.concatenate([codes, np.zeros_like(codes)], axis=1), ("z[0]", "(1-D code)")
  if d == 2:
    return codes, ("z[0]", "z[1]")
  from sklearn.decomposition import PCA  # pylint: disable=import-outside-toplevel
  pca = PCA(n_components=2).fit(codes)
  share = 100.0 * pca.explained_variance_ratio_
  labels = (f"PC 1 of z ({d}-D codes, PCA; {share[0]:.0f}% of variance)",
            f"PC 2 of z ({d}-D codes, PCA; {share[1]:.0f}% of variance)")
  return pca.transform(codes), labels


def save_latent_scatter(codes: np.ndarray, labels: np.ndarray, path: str, *,
                        class_names: Sequence[str] | None = None, title: str = "",
                        figsize: tuple[float, float] = (7.0, 6.0), dpi: int = 100) -> str:
  """Codes as points coloured by label; d > 2 projected by PCA (see `project_2d`).

  Args:
    codes: [N, d] codes (posterior means).
    labels: [N] int labels; −1 (unknown) is drawn grey.
    path: the PNG to write.
    class_names: optional names, indexed by label, for the legend.
    title: optional figure title.
    figsize: (width, height), inches.
    dpi: pixels per inch.
  Returns:
    `path`; the PNG is [round(figsize[1]·dpi), round(figsize[0]·dpi)] pixels.
  """
  points, (xlabel, ylabel) = project_2d(codes)
  labels = np.asarray(labels)
  fig = _figure(figsize, dpi)
  ax = fig.add_subplot(1, 1, 1)
  classes = np.unique(labels)
  marker = 12.0 if len(labels) <= 2000 else 3.0  # points², smaller where they would overlap
  cmap = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
  for i, c in enumerate(classes):
    rows = labels == c
    name = "unknown" if c < 0 else (class_names[c] if class_names is not None else str(c))
    color = (0.6, 0.6, 0.6) if c < 0 else cmap(i % cmap.N)
    ax.scatter(points[rows, 0], points[rows, 1], s=marker, color=color, label=name,
               alpha=0.7, linewidths=0)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  if title:
    ax.set_title(title)
  ax.legend(loc="upper right", markerscale=3, fontsize="small", framealpha=0.8)
  fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.93)
  fig.savefig(path, dpi=dpi)
  return path


# --- The workdir-level driver. ---


def encode_split(encode: Callable, params, x: np.ndarray, key: jax.Array,
                 batch_size: int = 500) -> np.ndarray:
  """[N, ...] codes of [N, H, W, C] images: `encode(params, x, key)`, jitted.

  Runs on this process's default device, in padded batches of `batch_size`, so the
  function compiles once. Not `evaluation.map_split`: figures are written by
  process 0 alone, and map_split's multi-host gather is a collective every
  process must join.
  """
  n = len(x)
  batch_size = max(1, min(batch_size, n))
  split = Split(np.asarray(x, np.float32), np.zeros((n,), np.int32))
  run = jax.jit(encode)
  parts = [np.asarray(run(params, b["x"], key)) for b in eval_batches(split, batch_size)]
  return np.concatenate(parts)[:n]


def _label_rows(labels: np.ndarray, count: int, exclude: Sequence[int] = ()) -> np.ndarray:
  """Up to `count` row indices taking each label in turn, so neighbouring images differ.

  Labels in `exclude` are skipped; −1 (unknown) counts as one more label.
  """
  pools = {int(c): list(np.flatnonzero(labels == c)[:count]) for c in np.unique(labels)
           if c not in exclude}
  order = []
  while len(order) < count and any(pools.values()):
    for c in sorted(pools):
      if pools[c] and len(order) < count:
        order.append(pools[c].pop(0))
  return np.asarray(order, int)


def _has_both(labels: np.ndarray, label: int) -> bool:
  known = labels[labels >= 0]
  return bool((known == label).any() and (known != label).any())


def write_latent_figures(model, params, dataset, workdir: str, key: jax.Array, *,
                         figures: Sequence[str] = LATENT_FIGURES,
                         manifold_dims: tuple[int, int] = (0, 1), manifold_num: int = 20,
                         max_traversal_dims: int = 10, spherical: bool = False,
                         attribute_label: int | None = None,
                         comparison: tuple[tuple[str, np.ndarray],
                                           tuple[str, np.ndarray]] | None = None,
                         max_scatter_points: int = 5000) -> list[str]:
  """Writes the latent-space figures that apply to `model` into `workdir`.

  Needs `model.encode` and `model.decode` with vector codes [B, d]; otherwise
  writes nothing (except `comparison`, which needs only sample arrays). Files:

    manifold.png (d = 2) or manifold_dims{i}-{j}.png (d > 2: dims i, j varied, the
      rest held at 0; see `save_manifold`);
    traversals.png: 2 test images (of different labels) × the first
      `max_traversal_dims` dims;
    interpolation.png (or interpolation_spherical.png): 8 pairs of test images,
      each pair of two different labels where the split has several;
    attribute_label{L}.png: codes of 10 test images without label L moved along
      mean code(label L) − mean code(other labels), the means taken over the
      validation split (the test split where validation lacks either group);
    latent_scatter.png (d = 2) or latent_scatter_pca.png (d > 2): test codes;
    samples_comparison.png: `comparison`'s two (title, [N, H, W, C]) sample sets.

  Args:
    model: a `genlatent.core.Model`.
    params: its params (host or replicated arrays).
    dataset: a `genlatent.data.Dataset`; decoded codes and originals go through
      its `to_images` (the identity unless the splits hold feature rows).
    workdir: the folder written into.
    key: PRNG key, handed to `encode` (posterior means ignore it).
    figures: which of `LATENT_FIGURES` to write.
    manifold_dims, manifold_num: see `save_manifold`'s dims and num.
    max_traversal_dims: see `save_traversals`.
    spherical: slerp rather than linear interpolation.
    attribute_label: L above; default the smallest label in the test split.
    comparison: ((title_a, samples_a), (title_b, samples_b)) or None.
    max_scatter_points: the scatter shows the first this many test codes.
  Returns:
    The paths written.
  """
  unknown = sorted(set(figures) - set(LATENT_FIGURES))
  if unknown:
    raise ValueError(f"Unknown latent figure(s) {', '.join(map(repr, unknown))}. "
                     f"Known: {', '.join(LATENT_FIGURES)}.")
  if jax.process_index() != 0:
    return []
  paths = []
  scale = max(1, 112 // dataset.image_shape[0])  # as samples.png: ~112 px per image side
  out = lambda name: os.path.join(workdir, name)
  if "comparison" in figures and comparison is not None:
    (title_a, samples_a), (title_b, samples_b) = comparison
    paths.append(save_side_by_side(samples_a, samples_b, title_a, title_b,
                                   out("samples_comparison.png")))
  if model.encode is None or model.decode is None:
    return paths

  # params are an argument, not a closure, so XLA does not embed the weights as constants.
  decode_jit = jax.jit(model.decode)
  # Feature data (e.g. PCA rows) are shown as images through the inverse transform.
  decode = lambda z: dataset.to_images(decode_jit(params, z))
  images = dataset.to_images
  test = dataset.test
  codes = encode_split(model.encode, params, test.x, key)
  if codes.ndim != 2:  # figures below assume one vector per image
    return paths
  latent_dim = codes.shape[1]

  if "manifold" in figures and latent_dim >= 2:
    name = ("manifold.png" if latent_dim == 2
            else f"manifold_dims{manifold_dims[0]}-{manifold_dims[1]}.png")
    paths.append(save_manifold(decode, latent_dim, out(name), num=manifold_num,
                               dims=manifold_dims, scale=max(1, scale // 2)))
  if "traversals" in figures:
    rows = _label_rows(test.labels, 2)
    paths.append(save_traversals(decode, codes[rows], out("traversals.png"),
                                 max_dims=max_traversal_dims, scale=scale))
  if "interpolation" in figures:
    # Pairs of different labels where there are several, so the path crosses classes.
    rows = _label_rows(test.labels, 16)
    if len(rows) >= 2:
      start, end = rows[0::2][:len(rows) // 2], rows[1::2][:len(rows) // 2]
      name = "interpolation_spherical.png" if spherical else "interpolation.png"
      paths.append(save_interpolation(decode, codes[start], codes[end], out(name),
                                      spherical=spherical, x_start=images(test.x[start]),
                                      x_end=images(test.x[end]), scale=scale))
  known_labels = test.labels[test.labels >= 0]
  if "attribute" in figures and len(np.unique(known_labels)) >= 2:
    label = int(known_labels.min() if attribute_label is None else attribute_label)
    # The vector comes from held-out validation codes where they have both groups,
    # so the edited test images played no part in it.
    source, source_codes = test, codes
    if _has_both(dataset.validation.labels, label):
      source = dataset.validation
      source_codes = encode_split(model.encode, params, source.x, key)
    known = source.labels >= 0
    vector = attribute_vector(source_codes[known], source.labels[known] == label)
    rows = _label_rows(test.labels, 10, exclude=(-1, label))
    paths.append(save_attribute_arithmetic(decode, codes[rows], vector,
                                           out(f"attribute_label{label}.png"),
                                           originals=images(test.x[rows]), scale=scale))
  if "scatter" in figures:
    n = min(max_scatter_points, len(codes))
    name = "latent_scatter.png" if latent_dim <= 2 else "latent_scatter_pca.png"
    paths.append(save_latent_scatter(codes[:n], test.labels[:n], out(name),
                                     title=f"{model.name} codes of {n} {dataset.name} test images"))
  return paths
