"""Tests for genlatent.data: sources, splits, binarization and batching."""

import gzip
import os
import time

import jax
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets

from genlatent import data
from genlatent.core import UnknownNameError


def make_config(**overrides) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(dict(
      source="digits", validation_size=100, binarization="none", threshold=0.5, seed=0))
  config.update(overrides)
  return config


def row_bytes(x: np.ndarray) -> list:
  return sorted(r.tobytes() for r in x)


# ----------------------------------------------------------------------------- digits


def test_digits_shapes_sizes_and_range():
  ds = data.load_dataset(make_config())
  assert ds.shape == (8, 8, 1) and ds.num_dims == 64
  assert (ds.train.num_examples, ds.validation.num_examples, ds.test.num_examples) == (
      1337, 100, 360)
  for split in (ds.train, ds.validation, ds.test):
    assert split.x.dtype == np.float32 and split.labels.dtype == np.int32
    assert split.x.shape[1:] == (8, 8, 1)
    assert split.x.min() == 0.0 and split.x.max() == 1.0
    assert set(np.unique(split.labels)) <= set(range(10))
  # Grey levels are the 17 levels 0/16 .. 16/16.
  np.testing.assert_allclose(np.unique(ds.train.x) * 16, np.arange(17), atol=1e-5)


def test_digits_splits_partition_the_data_and_repeat_exactly():
  ds = data.load_dataset(make_config())
  again = data.load_dataset(make_config())
  for a, b in [(ds.train, again.train), (ds.validation, again.validation), (ds.test, again.test)]:
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.labels, b.labels)
  # Every one of scikit-learn's 1797 images is in exactly one split (as a multiset,
  # so duplicate images in the data cannot hide a leak).
  full = (sk_datasets.load_digits().images.astype(np.float32) / 16)[..., None]
  union = np.concatenate([ds.train.x, ds.validation.x, ds.test.x])
  assert row_bytes(union) == row_bytes(full)


def test_digits_test_split_is_fixed_key_zero():
  # The test split is PRNGKey(0)'s permutation, whatever the data seed: if this
  # fails, jax's PRNG changed and every published digits number moved with it.
  digits = sk_datasets.load_digits()
  perm = np.asarray(jax.random.permutation(jax.random.PRNGKey(0), 1797))
  want = np.sort(perm[:360])
  for seed in (0, 7):
    ds = data.load_dataset(make_config(seed=seed))
    np.testing.assert_array_equal(ds.test.labels, digits.target[want])
    np.testing.assert_array_equal(ds.test.x[..., 0], digits.images[want] / 16)


def test_validation_carve_depends_on_data_seed_only():
  a = data.load_dataset(make_config(seed=1))
  b = data.load_dataset(make_config(seed=1))
  c = data.load_dataset(make_config(seed=2))
  np.testing.assert_array_equal(a.validation.x, b.validation.x)
  assert row_bytes(a.validation.x) != row_bytes(c.validation.x)
  # Same pool either way: train + validation is the source's train split.
  assert row_bytes(np.concatenate([a.train.x, a.validation.x])) == row_bytes(
      np.concatenate([c.train.x, c.validation.x]))
  assert data.load_dataset(make_config(validation_size=0)).validation.x.shape == (0, 8, 8, 1)


def test_validation_size_too_large_fails():
  with pytest.raises(ValueError, match=r"validation_size=1437 must be in \[0, 1437\)"):
    data.load_dataset(make_config(validation_size=1437))


def test_digits_takes_no_argument():
  with pytest.raises(ValueError, match="takes no argument"):
    data.load_source("digits:foo")


# ----------------------------------------------------------------------- binarization


def test_static_binarization_thresholds_every_split():
  grey = data.load_dataset(make_config())
  ds = data.load_dataset(make_config(binarization="static", threshold=0.3))
  for g, s in [(grey.train, ds.train), (grey.validation, ds.validation), (grey.test, ds.test)]:
    assert s.x.dtype == np.float32
    np.testing.assert_array_equal(s.x, (g.x > 0.3).astype(np.float32))
  batch = next(data.TrainIterator(ds, 64, jax.random.PRNGKey(0)))
  assert set(np.unique(batch["x"])) <= {0.0, 1.0}


def test_dynamic_binarization():
  grey = data.load_dataset(make_config())
  ds = data.load_dataset(make_config(binarization="dynamic"))
  again = data.load_dataset(make_config(binarization="dynamic"))
  # Train keeps the probabilities; held-out splits are binarized once, reproducibly.
  np.testing.assert_array_equal(ds.train.x, grey.train.x)
  for split, other in [(ds.validation, again.validation), (ds.test, again.test)]:
    assert set(np.unique(split.x)) == {0.0, 1.0}
    np.testing.assert_array_equal(split.x, other.x)
  # A pixel can only be on where its probability is positive.
  assert np.all(ds.test.x[grey.test.x == 0] == 0)

  key = jax.random.PRNGKey(3)
  it = data.TrainIterator(ds, 100, key)
  spe = it.steps_per_epoch
  b0, b1 = it.batch(0), it.batch(spe)  # first batches of epochs 0 and 1
  assert set(np.unique(b0["x"])) == {0.0, 1.0}
  np.testing.assert_array_equal(b0["x"], data.TrainIterator(ds, 100, key).batch(0)["x"])
  # Same example, different epoch: a fresh binary sample (same probabilities).
  x0 = {int(r): x for r, x in zip(b0["index"], b0["x"])}
  changed = [np.any(x0[int(r)] != x) for r, x in zip(b1["index"], b1["x"]) if int(r) in x0]
  assert changed and any(changed)
  # Over one epoch the sampled pixels average to the probabilities.
  xs = np.concatenate([it.batch(s)["x"] for s in range(spe)])
  ps = ds.train.x[np.concatenate([it.batch(s)["index"] for s in range(spe)])]
  assert abs(xs.mean() - ps.mean()) < 0.005


def test_unknown_binarization_lists_options():
  with pytest.raises(ValueError, match="none, static, dynamic"):
    data.load_dataset(make_config(binarization="stochastic"))


# ---------------------------------------------------------------------- TrainIterator


@pytest.fixture(scope="module")
def digits():
  return data.load_dataset(make_config())


def test_train_batch_contents(digits):
  it = data.TrainIterator(digits, 64, jax.random.PRNGKey(0))
  assert it.steps_per_epoch == 1337 // 64 == 20
  batch = next(it)
  assert batch["x"].shape == (64, 8, 8, 1) and batch["x"].dtype == np.float32
  assert batch["label"].dtype == np.int32 and batch["index"].dtype == np.int32
  np.testing.assert_array_equal(batch["mask"], np.ones(64, np.float32))
  np.testing.assert_array_equal(batch["x"], digits.train.x[batch["index"]])
  np.testing.assert_array_equal(batch["label"], digits.train.labels[batch["index"]])


def test_resume_from_start_step_equals_continuing(digits):
  key = jax.random.PRNGKey(42)
  straight = [next(it) for it in [data.TrainIterator(digits, 100, key)] for _ in range(40)]
  resumed = data.TrainIterator(digits, 100, key, start_step=17)  # mid-epoch 1 (13 steps/epoch)
  for step in range(17, 40):
    batch = next(resumed)
    for name in ("x", "label", "index", "mask"):
      np.testing.assert_array_equal(batch[name], straight[step][name])
  assert resumed.step == 40


def test_each_epoch_visits_distinct_examples(digits):
  it = data.TrainIterator(digits, 100, jax.random.PRNGKey(0))
  epochs = []
  for _ in range(3):
    seen = np.concatenate([next(it)["index"] for _ in range(it.steps_per_epoch)])
    assert len(seen) == 1300 and len(np.unique(seen)) == 1300
    epochs.append(seen)
  # Reshuffled each epoch, so a different 37 examples are dropped each time.
  dropped = [frozenset(range(1337)) - frozenset(e.tolist()) for e in epochs]
  assert all(len(d) == 37 for d in dropped) and dropped[0] != dropped[1]
  assert not np.array_equal(epochs[0], epochs[1])


def test_typed_keys_work_like_raw_keys(digits):
  raw = next(data.TrainIterator(digits, 100, jax.random.PRNGKey(9)))
  typed = next(data.TrainIterator(digits, 100, jax.random.key(9)))
  np.testing.assert_array_equal(raw["index"], typed["index"])


def test_different_keys_give_different_orders(digits):
  a = next(data.TrainIterator(digits, 100, jax.random.PRNGKey(0)))["index"]
  b = next(data.TrainIterator(digits, 100, jax.random.PRNGKey(1)))["index"]
  assert not np.array_equal(a, b)


def test_process_slices_concatenate_to_the_global_batch(digits):
  key = jax.random.PRNGKey(5)
  whole = data.TrainIterator(digits, 64, key)
  halves = [data.TrainIterator(digits, 64, key, process_index=i, process_count=2)
            for i in range(2)]
  for _ in range(25):  # across an epoch boundary
    batch = next(whole)
    parts = [next(h) for h in halves]
    assert parts[0]["x"].shape == (32, 8, 8, 1)
    for name in ("x", "label", "index", "mask"):
      np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), batch[name])


def test_train_iterator_rejects_bad_sizes(digits):
  with pytest.raises(ValueError, match="divide evenly over 3 processes"):
    data.TrainIterator(digits, 64, jax.random.PRNGKey(0), process_count=3)
  with pytest.raises(ValueError, match="exceeds the 1337 training examples"):
    data.TrainIterator(digits, 2000, jax.random.PRNGKey(0))


# ------------------------------------------------------------------------ eval_batches


def test_eval_batches_cover_every_example_once(digits):
  split = digits.test  # 360 examples
  assert data.num_eval_batches(split, 100) == 4
  batches = list(data.eval_batches(split, 100))
  assert len(batches) == 4
  for b in batches:
    assert b["x"].shape == (100, 8, 8, 1) and b["mask"].shape == (100,)
  masks = np.concatenate([b["mask"] for b in batches])
  index = np.concatenate([b["index"] for b in batches])
  assert masks.sum() == 360
  np.testing.assert_array_equal(np.sort(index[masks == 1]), np.arange(360))
  last = batches[-1]
  np.testing.assert_array_equal(last["mask"], (np.arange(100) < 60).astype(np.float32))
  assert np.all(last["x"][60:] == 0) and np.all(last["index"][60:] == 0)
  np.testing.assert_array_equal(last["x"][:60], split.x[300:])
  np.testing.assert_array_equal(last["label"][:60], split.labels[300:])


def test_eval_batches_per_process(digits):
  split = digits.test
  whole = list(data.eval_batches(split, 100))
  parts = [list(data.eval_batches(split, 100, i, 2)) for i in range(2)]
  assert len(parts[0]) == len(parts[1]) == 4
  for i, batch in enumerate(whole):
    for name in ("x", "label", "index", "mask"):
      np.testing.assert_array_equal(
          np.concatenate([parts[0][i][name], parts[1][i][name]]), batch[name])
  with pytest.raises(ValueError, match="divide evenly"):
    data.eval_batches(split, 100, 0, 3)


# ------------------------------------------------------------------------------- IDX


def idx_bytes(array: np.ndarray) -> bytes:
  """An IDX file of ubyte data."""
  header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
  return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder, compress: bool, num_train=30, num_test=10, h=5, w=4):
  rng = np.random.default_rng(0)
  arrays = {
      "train-images-idx3-ubyte": rng.integers(0, 256, (num_train, h, w), dtype=np.uint8),
      "train-labels-idx1-ubyte": rng.integers(0, 10, (num_train,), dtype=np.uint8),
      "t10k-images-idx3-ubyte": rng.integers(0, 256, (num_test, h, w), dtype=np.uint8),
      "t10k-labels-idx1-ubyte": rng.integers(0, 10, (num_test,), dtype=np.uint8),
  }
  os.makedirs(folder, exist_ok=True)
  for stem, array in arrays.items():
    payload = idx_bytes(array)
    if compress:
      with open(os.path.join(folder, stem + ".gz"), "wb") as f:
        f.write(gzip.compress(payload))
    else:
      with open(os.path.join(folder, stem), "wb") as f:
        f.write(payload)
  return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder_loads(tmp_path, compress):
  arrays = write_idx_folder(tmp_path, compress)
  raw = data.load_source(f"idx:{tmp_path}")
  np.testing.assert_array_equal(raw["train"][0][..., 0], arrays["train-images-idx3-ubyte"])
  np.testing.assert_array_equal(raw["test"][1], arrays["t10k-labels-idx1-ubyte"])
  assert raw["train"][0].dtype == np.uint8 and raw["train"][1].dtype == np.int32

  ds = data.load_dataset(make_config(source=f"idx:{tmp_path}", validation_size=5))
  assert ds.shape == (5, 4, 1)
  assert (ds.train.num_examples, ds.validation.num_examples, ds.test.num_examples) == (25, 5, 10)
  np.testing.assert_allclose(ds.test.x[..., 0], arrays["t10k-images-idx3-ubyte"] / 255.0,
                             rtol=1e-6)
  assert row_bytes(np.concatenate([ds.train.x, ds.validation.x])) == row_bytes(
      (arrays["train-images-idx3-ubyte"][..., None] / np.float32(255)).astype(np.float32))


def test_idx_parse_rejects_malformed_bytes():
  good = idx_bytes(np.zeros((2, 3, 3), np.uint8))
  assert data.idx.parse_idx(good).shape == (2, 3, 3)
  with pytest.raises(data.IdxFormatError, match="not an IDX file"):
    data.idx.parse_idx(b"\x01\x00" + good[2:], "bad-magic")
  with pytest.raises(data.IdxFormatError, match=r"header says shape \(2, 3, 3\)"):
    data.idx.parse_idx(good[:-1], "truncated")
  big_endian = bytes([0, 0, 0x0B, 1]) + np.asarray([2], ">u4").tobytes() + np.asarray(
      [258, -3], ">i2").tobytes()
  np.testing.assert_array_equal(data.idx.parse_idx(big_endian), [258, -3])


def test_idx_malformed_file_fails_clearly(tmp_path):
  write_idx_folder(tmp_path, compress=False)
  path = tmp_path / "train-labels-idx1-ubyte"
  path.write_bytes(path.read_bytes()[:-3])  # truncated
  with pytest.raises(data.IdxFormatError, match="train-labels-idx1-ubyte: header says"):
    data.load_source(f"idx:{tmp_path}")
  (tmp_path / "train-labels-idx1-ubyte").write_bytes(
      idx_bytes(np.zeros((29,), np.uint8)))  # one label short
  with pytest.raises(data.IdxFormatError, match=r"labels must be \[30\]"):
    data.load_source(f"idx:{tmp_path}")
  write_idx_folder(tmp_path, compress=False)  # repair, then break another file
  (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x1f\x8bnot gzip at all")
  with pytest.raises(data.IdxFormatError, match="gzip data is corrupt"):
    data.load_dataset(make_config(source=f"idx:{tmp_path}"))


def test_idx_missing_folder_says_how_to_get_it(tmp_path):
  folder = tmp_path / "nowhere"
  with pytest.raises(data.DataSourceNotFoundError) as info:
    data.load_dataset(make_config(source=f"idx:{folder}"))
  message = str(info.value)
  assert str(folder) in message
  assert "apt-get install -y dataset-fashion-mnist" in message
  assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message


@pytest.mark.skipif(not os.path.isdir(data.idx.FASHION_MNIST_DIR),
                    reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_alias():
  raw = data.load_source("fashion_mnist")
  assert raw["train"][0].shape == (60000, 28, 28, 1)
  assert raw["test"][0].shape == (10000, 28, 28, 1)
  np.testing.assert_array_equal(np.bincount(raw["test"][1]), np.full(10, 1000))


# ------------------------------------------------------------------------------ tfds


def test_tfds_mock_data_loads_without_tensorflow():
  with pytest.raises(ImportError):
    import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  with tfds.testing.mock_data(num_examples=12):
    ds = data.load_dataset(make_config(source="tfds:mnist", validation_size=2))
  assert ds.shape == (28, 28, 1)
  assert (ds.train.num_examples, ds.validation.num_examples, ds.test.num_examples) == (10, 2, 12)
  assert ds.train.x.dtype == np.float32 and 0 <= ds.train.x.min() and ds.train.x.max() <= 1
  assert set(np.unique(ds.test.labels)) <= set(range(10))


def test_tfds_data_set_without_labels_gets_minus_one():
  with tfds.testing.mock_data(num_examples=3):
    raw = data.load_source("tfds:binarized_mnist")
  assert raw["train"][0].shape == (3, 28, 28, 1)
  np.testing.assert_array_equal(raw["test"][1], [-1, -1, -1])


class GenlatentTinyImages(tfds.core.GeneratorBasedBuilder):
  """A real (not mocked) tfds data set, prepared in a test without TensorFlow.

  The image is a plain Tensor feature: encoding an Image feature needs TF.
  """

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Tensor(shape=(6, 5, 1), dtype=np.uint8),
        "label": tfds.features.ClassLabel(num_classes=10)}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples(0, 40), "test": self._generate_examples(1, 7)}

  def _generate_examples(self, seed, n):
    for i, (image, label) in enumerate(zip(*tiny_images(seed, n))):
      yield i, {"image": image, "label": label}


def tiny_images(seed, n):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (n, 6, 5, 1), dtype=np.uint8), np.arange(n) % 10


def test_tfds_reads_a_prepared_array_record_data_set(tmp_path):
  GenlatentTinyImages(data_dir=str(tmp_path), file_format="array_record").download_and_prepare()
  raw = data.load_source(f"tfds:genlatent_tiny_images@{tmp_path}")
  for split, seed, n in (("train", 0, 40), ("test", 1, 7)):
    images, labels = tiny_images(seed, n)
    x, y = raw[split]
    # ArrayRecord shuffles on write; compare as (image, label) multisets.
    got = sorted((xi.tobytes(), int(yi)) for xi, yi in zip(x, y))
    assert got == sorted((xi.tobytes(), int(yi)) for xi, yi in zip(images, labels))
    assert x.dtype == np.uint8 and y.dtype == np.int32


def test_tfds_not_prepared_fails_fast_with_the_command(tmp_path, monkeypatch):
  start = time.monotonic()
  with pytest.raises(data.DataSourceNotFoundError) as info:
    data.load_dataset(make_config(source=f"tfds:mnist@{tmp_path}"))
  assert time.monotonic() - start < 5
  message = str(info.value)
  assert "tfds build mnist --file_format=array_record" in message
  assert "tfds.data_source('mnist')" in message
  assert str(tmp_path) in message
  # The default data dir comes from $TFDS_DATA_DIR.
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env"))
  with pytest.raises(data.DataSourceNotFoundError, match=str(tmp_path / "env")):
    data.load_source("tfds:mnist")


def test_tfds_unknown_name_fails_cleanly():
  with pytest.raises(data.DataSourceNotFoundError, match="no_such_data_set") as info:
    data.load_source("tfds:no_such_data_set")
  assert len(str(info.value).splitlines()) == 1  # not tfds's list of every data set


# ---------------------------------------------------------------------------- names


def test_unknown_source_lists_known_names():
  with pytest.raises(UnknownNameError) as info:
    data.load_dataset(make_config(source="mnits"))
  message = str(info.value)
  for name in ("digits", "idx", "tfds", "fashion_mnist"):
    assert name in message


def test_split_spec():
  assert data.split_spec("digits") == ("digits", None)
  assert data.split_spec("idx:/a/b") == ("idx", "/a/b")
  assert data.split_spec("tfds:mnist:3.0.1@/d") == ("tfds", "mnist:3.0.1@/d")
