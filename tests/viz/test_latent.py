"""Latent-space figures on a tiny randomly initialised VAE: each writes a PNG of its size."""

import functools

import jax
import matplotlib.image
import numpy as np
import pytest

from configs import vae as vae_config
from genlatent.data import Dataset, Split
from genlatent.models import build_model
from genlatent.viz import latent

SHAPE = (8, 8, 1)
PAD = 1  # the grid helpers' border between images


def _grid_size(rows, cols, scale=1, h=SHAPE[0], w=SHAPE[1]):
  return ((rows * (h + PAD) + PAD) * scale, (cols * (w + PAD) + PAD) * scale)


@functools.lru_cache(maxsize=None)
def _model(latent_dim):
  """The smoke config's VAE with random params.

  The params are drawn with numpy into the shapes `init` would give: compiling
  `init` (threefry on CPU) takes seconds, the rest of this module well under one.
  """
  config = vae_config.get_config("smoke").model
  config.latent_dim = latent_dim
  model = build_model(config, SHAPE)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), np.zeros((2,) + SHAPE, np.float32))
  rng = np.random.default_rng(latent_dim)
  params = jax.tree.map(lambda s: (0.5 * rng.standard_normal(s.shape)).astype(s.dtype), shapes)
  return model, params


@pytest.fixture(scope="module", params=[2, 5], ids=["d2", "d5"])
def vae(request):
  model, params = _model(request.param)
  decode = functools.partial(jax.jit(model.decode), params)
  x = (np.random.default_rng(0).random((40,) + SHAPE) < 0.5).astype(np.float32)
  codes = latent.encode_split(model.encode, params, x, jax.random.PRNGKey(1), batch_size=16)
  return model, params, decode, x, codes


def _read(path):
  image = matplotlib.image.imread(path)
  assert image.size and np.isfinite(image).all()
  return image


def test_gaussian_quantiles_are_symmetric_and_inside_the_unit_interval():
  values = latent.gaussian_quantiles(20)
  np.testing.assert_allclose(values, -values[::-1], atol=1e-6)
  np.testing.assert_allclose(values[[0, -1]], [-1.6448536, 1.6448536], rtol=1e-6)
  with pytest.raises(ValueError, match="0 < low < high < 1"):
    latent.gaussian_quantiles(5, 0.0, 1.0)


def test_interpolation_keeps_endpoints_and_slerp_keeps_norm():
  rng = np.random.default_rng(0)
  z0, z1 = rng.normal(size=(3, 16)), rng.normal(size=(3, 16))
  z1 *= np.linalg.norm(z0, axis=-1, keepdims=True) / np.linalg.norm(z1, axis=-1, keepdims=True)
  for spherical in (False, True):
    path = latent.interpolate(z0, z1, 7, spherical)
    assert path.shape == (7, 3, 16)
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
  slerp = latent.interpolate(z0, z1, 7, spherical=True)
  np.testing.assert_allclose(np.linalg.norm(slerp, axis=-1),
                             np.broadcast_to(np.linalg.norm(z0, axis=-1), (7, 3)), rtol=1e-4)
  # Parallel ends: slerp is undefined and falls back to the straight line.
  np.testing.assert_allclose(latent.interpolate(z0, 2 * z0, 5, True),
                             latent.interpolate(z0, 2 * z0, 5, False), atol=1e-5)


def test_attribute_vector_is_the_difference_of_group_means():
  codes = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 1.0], [0.0, 3.0]])
  np.testing.assert_allclose(latent.attribute_vector(codes, np.array([1, 1, 0, 0], bool)),
                             [2.0, -1.0])
  with pytest.raises(ValueError, match="with and without"):
    latent.attribute_vector(codes, np.ones(4, bool))


def test_manifold(vae, tmp_path):
  _, _, decode, _, codes = vae
  d = codes.shape[1]
  path = latent.save_manifold(decode, d, str(tmp_path / "m.png"), num=6,
                              dims=(0, d - 1), scale=2)
  assert _read(path).shape[:2] == _grid_size(6, 6, scale=2)
  with pytest.raises(ValueError, match="distinct"):
    latent.save_manifold(decode, d, str(tmp_path / "bad.png"), dims=(1, 1))


def test_manifold_decodes_the_quantile_grid(tmp_path):
  """Top-left image decodes (z0, z1) = (lowest, highest) quantile; others held at 0."""
  seen = []

  def decode(z):
    seen.append(z)
    return np.zeros((len(z),) + SHAPE, np.float32)

  latent.save_manifold(decode, 3, str(tmp_path / "m.png"), num=4)
  q = latent.gaussian_quantiles(4)
  z = seen[0].reshape(4, 4, 3)
  np.testing.assert_allclose(z[0, 0], [q[0], q[-1], 0.0])
  np.testing.assert_allclose(z[-1, -1], [q[-1], q[0], 0.0])


def test_traversals(vae, tmp_path):
  _, _, decode, _, codes = vae
  d = codes.shape[1]
  path = latent.save_traversals(decode, codes[:2], str(tmp_path / "t.png"), num_steps=5,
                                max_dims=3)
  assert _read(path).shape[:2] == _grid_size(2 * min(3, d), 5)


def test_interpolation(vae, tmp_path):
  _, _, decode, x, codes = vae
  for spherical in (False, True):
    path = latent.save_interpolation(decode, codes[:3], codes[3:6], str(tmp_path / "i.png"),
                                     num_steps=6, spherical=spherical, x_start=x[:3],
                                     x_end=x[3:6])
    assert _read(path).shape[:2] == _grid_size(3, 8)


def test_attribute_arithmetic(vae, tmp_path):
  _, _, decode, x, codes = vae
  labels = np.arange(len(codes)) % 3
  vector = latent.attribute_vector(codes, labels == 0)
  path = latent.save_attribute_arithmetic(decode, codes[1:6], vector, str(tmp_path / "a.png"),
                                          scales=(0.0, 1.0, 2.0), originals=x[1:6])
  assert _read(path).shape[:2] == _grid_size(4, 5)


def test_side_by_side(vae, tmp_path):
  _, _, decode, _, codes = vae
  # Decoded prior draws, as `model.sample` gives, without compiling its RNG.
  a = np.asarray(decode(np.random.default_rng(2).standard_normal((9, codes.shape[1]))))
  b = np.random.default_rng(1).random((16,) + SHAPE).astype(np.float32)
  path = latent.save_side_by_side(a, b, "AE", "VAE", str(tmp_path / "s.png"),
                                  figsize=(6.0, 3.5), dpi=50)
  assert _read(path).shape[:2] == (175, 300)


def test_latent_scatter(vae, tmp_path):
  _, _, _, _, codes = vae
  labels = np.arange(len(codes)) % 4 - 1  # includes -1, unknown
  path = latent.save_latent_scatter(codes, labels, str(tmp_path / "c.png"),
                                    figsize=(4.0, 3.0), dpi=50)
  assert _read(path).shape[:2] == (150, 200)
  _, (xlabel, _) = latent.project_2d(codes)
  assert ("PCA" in xlabel) == (codes.shape[1] > 2)


def test_write_latent_figures_names_files_by_what_they_show(tmp_path):
  model, params = _model(5)
  rng = np.random.default_rng(0)
  split = lambda n: Split((rng.random((n,) + SHAPE) < 0.5).astype(np.float32),
                          (np.arange(n) % 3).astype(np.int32))
  dataset = Dataset("random", split(30), split(12), split(24), "static")
  samples = rng.random((4,) + SHAPE).astype(np.float32)
  paths = latent.write_latent_figures(
      model, params, dataset, str(tmp_path), jax.random.PRNGKey(0), manifold_num=4,
      comparison=(("AE", samples), ("VAE", samples)))
  names = sorted(p.rsplit("/", 1)[-1] for p in paths)
  assert names == ["attribute_label0.png", "interpolation.png", "latent_scatter_pca.png",
                   "manifold_dims0-1.png", "samples_comparison.png", "traversals.png"]
  for path in paths:
    _read(path)
  with pytest.raises(ValueError, match="Unknown latent figure"):
    latent.write_latent_figures(model, params, dataset, str(tmp_path), jax.random.PRNGKey(0),
                                figures=["manifold", "smile"])
