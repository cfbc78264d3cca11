"""Feature transforms fitted on the training split only: PCA for density models on images.

A density over 784 raw pixels is dominated by the pixels that never vary; a
Gaussian mixture is usually fitted to the leading principal components instead.
The transform is fitted on `train` (after the validation carve), applied to
every split, and kept on the `Dataset` with its inverse, so samples from a
model of the features can be shown as images.

Note the scale: a log-density over PCA features is in nats per example of the
*features*, not of the pixels, and is not comparable with pixel-space
log-likelihoods.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class PCA:
  """x ↦ (flatten(x) − mean) Wᵀ, optionally divided by √variance (whitening).

  Attributes:
    mean: [F] the training mean of the flattened examples (F = H·W·C).
    components: [D, F] orthonormal rows, leading principal directions first;
      each row's sign is fixed so that its largest-|·| entry is positive.
    variances: [D] training variance along each component.
    whiten: whether features are scaled to unit training variance.
    image_shape: (H, W, C) of the examples the transform was fitted on.
  """

  mean: np.ndarray
  components: np.ndarray
  variances: np.ndarray
  whiten: bool
  image_shape: tuple[int, ...]

  @property
  def num_components(self) -> int:
    return int(self.components.shape[0])

  def describe(self) -> str:
    return f"pca-{self.num_components}" + ("-whitened" if self.whiten else "")

  def transform(self, x: np.ndarray) -> np.ndarray:
    """[N, *image_shape] -> [N, D] float32 features."""
    x = np.asarray(x, np.float64)
    flat = x.reshape(len(x), self.mean.shape[0]) - self.mean  # (also for an empty split)
    z = flat @ self.components.T
    if self.whiten:
      z = z / np.sqrt(self.variances)
    return z.astype(np.float32)

  def inverse(self, z: np.ndarray) -> np.ndarray:
    """[N, D] features -> [N, *image_shape] float32 (the projection onto the components)."""
    z = np.asarray(z, np.float64)
    if self.whiten:
      z = z * np.sqrt(self.variances)
    x = z @ self.components + self.mean
    return x.reshape((len(z),) + tuple(self.image_shape)).astype(np.float32)


def fit_pca(x_train: np.ndarray, num_components: int, whiten: bool = False) -> PCA:
  """Principal components of the training examples.

  Args:
    x_train: [N, *image_shape].
    num_components: D, at most min(N, F).
  Returns:
    A `PCA`. Computed in float64 from the F×F covariance (cheap for F ≤ a few
    thousand), which gives the same subspace as an SVD of the data.
  """
  x = np.asarray(x_train, np.float64).reshape(len(x_train), -1)
  n, f = x.shape
  if not 0 < num_components <= min(n, f):
    raise ValueError(f"pca_components={num_components} must be in [1, {min(n, f)}] for "
                     f"{n} training examples of {f} values each.")
  mean = x.mean(axis=0)
  centred = x - mean
  cov = centred.T @ centred / max(n - 1, 1)
  values, vectors = np.linalg.eigh(cov)  # ascending
  order = np.argsort(values)[::-1][:num_components]
  components = vectors[:, order].T
  # Deterministic signs (as scikit-learn's svd_flip): largest entry positive.
  signs = np.sign(components[np.arange(num_components), np.abs(components).argmax(axis=1)])
  components = components * np.where(signs == 0, 1.0, signs)[:, None]
  variances = np.maximum(values[order], 1e-12)
  return PCA(mean, components, variances, bool(whiten), tuple(x_train.shape[1:]))
