"""PCA features: fitted on train only, exact against scikit-learn, invertible, wired into load_dataset."""

import ml_collections
import numpy as np
import pytest
from sklearn.decomposition import PCA as SkPCA

from genlatent import data
from genlatent.data import features


def config(**overrides):
  c = ml_collections.ConfigDict(dict(source="digits", validation_size=197, binarization="none",
                                     seed=0, pca_components=20))
  c.update(overrides)
  return c


def test_pca_equals_sklearn_up_to_sign_and_inverts():
  x = np.random.RandomState(0).rand(300, 4, 4, 1)
  pca = features.fit_pca(x, 5)
  reference = SkPCA(5).fit(x.reshape(300, -1))
  z, z_ref = pca.transform(x), reference.transform(x.reshape(300, -1))
  np.testing.assert_allclose(np.abs(z), np.abs(z_ref), atol=1e-5)
  np.testing.assert_allclose(pca.variances, reference.explained_variance_, rtol=1e-6)
  full = features.fit_pca(x, 16)
  np.testing.assert_allclose(full.inverse(full.transform(x)), x, atol=1e-5)
  whitened = features.fit_pca(x, 5, whiten=True).transform(x)
  np.testing.assert_allclose(whitened.var(0, ddof=1), 1.0, rtol=1e-4)


def test_load_dataset_fits_pca_on_train_only():
  ds = data.load_dataset(config())
  assert ds.shape == (20,) and ds.image_shape == (8, 8, 1) and ds.features.describe() == "pca-20"
  for split in (ds.train, ds.validation, ds.test):
    assert split.x.dtype == np.float32 and split.x.shape[1] == 20
  # Fitted on train: its features are centred, the held-out splits' are not exactly.
  np.testing.assert_allclose(ds.train.x.mean(0), 0.0, atol=1e-5)
  raw = data.load_dataset(config(pca_components=0))
  refit = features.fit_pca(raw.train.x, 20)
  np.testing.assert_allclose(ds.test.x, refit.transform(raw.test.x), atol=1e-5)
  images = ds.to_images(ds.test.x[:4])
  assert images.shape == (4, 8, 8, 1) and images.min() >= 0.0 and images.max() <= 1.0
  # The training batches are feature rows too.
  batch = data.TrainIterator(ds, 40, np.zeros(2, np.uint32)).batch(0)
  assert batch["x"].shape == (40, 20)


def test_pca_with_dynamic_binarization_is_refused():
  with pytest.raises(ValueError, match="dynamic"):
    data.load_dataset(config(binarization="dynamic"))
