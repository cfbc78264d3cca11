"""From a config to in-memory splits, and from splits to batches.

All our data sets fit in host memory, so a `Dataset` is three numpy splits and
batching is indexing. Every random choice is a pure function of an explicit key:

  - the validation carve and the one-off binarization of validation/test come
    from the DATA seed `config.seed`, not from the run's key, so every run and
    every model family is scored on identical examples;
  - the order of training examples, and the dynamic binarization of the training
    set, come from the run's data key and the epoch (`fold_in(key, epoch)`), so
    the batch at step s is the same whether a run got there directly or resumed.

The random draws run on the host CPU (see `host_random`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterator

import jax
import numpy as np

from genlatent.data import features as features_lib
from genlatent.data import host_random
from genlatent.data.sources import load_source

BINARIZATIONS = ("none", "static", "dynamic")

# Every field of a data config but `source`, with its default: the one table that
# configs/common.py declares the fields from and `load_dataset` completes a partial
# config (a library user's) with, so the two cannot disagree.
DEFAULTS = dict(validation_size=0, binarization="none", threshold=0.5, seed=0,
                pca_components=0, pca_whiten=False)


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
  """One split of a data set, in host memory.

  Attributes:
    x: [N, H, W, C] float32 in [0, 1] (in {0, 1} once binarized), or [N, D]
      float32 features where the data set has a feature transform.
    labels: [N] int32, -1 where unknown.
  """

  x: np.ndarray
  labels: np.ndarray

  @property
  def num_examples(self) -> int:
    return int(self.x.shape[0])

  def __repr__(self) -> str:  # The arrays themselves would flood a log line.
    return (f"Split(x={self.x.dtype}{list(self.x.shape)}, "
            f"labels={self.labels.dtype}{list(self.labels.shape)})")


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
  """Train, validation and test splits of one source, as every family sees them.

  Attributes:
    name: the source spec, e.g. `digits`, `idx:/path`, `tfds:mnist`.
    train: under 'dynamic' binarization, grey levels in [0, 1], read as
      Bernoulli probabilities and resampled each epoch by `TrainIterator`.
    validation: examples carved from the source's train split.
    test: the source's test split.
    binarization: 'none' | 'static' | 'dynamic'.
    features: None, or the transform (fitted on train) that turned images into
      the [N, D] feature rows the splits hold, e.g. `features.PCA`; its
      `inverse` maps features back to images.
  """

  name: str
  train: Split
  validation: Split
  test: Split
  binarization: str
  features: Any = None

  @property
  def shape(self) -> tuple[int, ...]:
    """(H, W, C) of one example, or (D,) for feature rows."""
    return tuple(int(d) for d in self.train.x.shape[1:])

  @property
  def image_shape(self) -> tuple[int, ...]:
    """(H, W, C) of the images behind the examples (with or without features)."""
    return tuple(self.features.image_shape) if self.features is not None else self.shape

  def to_images(self, x: np.ndarray) -> np.ndarray:
    """[N, *shape] examples (or model samples) -> [N, H, W, C] images in [0, 1]."""
    x = np.asarray(x)
    if self.features is not None:
      x = self.features.inverse(x.reshape(len(x), -1))
    return np.clip(x, 0.0, 1.0)

  @property
  def num_dims(self) -> int:
    """H * W * C, the dimension that bits/dim divides by."""
    return int(np.prod(self.shape))


def _to_unit_float(x: np.ndarray, what: str) -> np.ndarray:
  """[N, H, W, C] uint8 0..255 or float in [0, 1] -> float32 in [0, 1]."""
  x = np.asarray(x)
  if x.ndim != 4:
    raise ValueError(f"{what}: images must be [N, H, W, C]; got shape {x.shape}.")
  if x.dtype == np.uint8:
    return x.astype(np.float32) / np.float32(255.0)
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f"{what}: images must be uint8 or float; got {x.dtype}.")
  x = x.astype(np.float32)
  if x.size and (x.min() < 0.0 or x.max() > 1.0):
    raise ValueError(f"{what}: float images must lie in [0, 1]; got "
                     f"[{x.min()}, {x.max()}].")
  return x


def _to_split(pair: tuple, what: str) -> Split:
  x, labels = pair
  x = _to_unit_float(x, what)
  labels = np.asarray(labels).astype(np.int32)
  if labels.shape != (x.shape[0],):
    raise ValueError(f"{what}: labels must be [{x.shape[0]}]; got shape {labels.shape}.")
  return Split(x, labels)


def _take(split: Split, rows: np.ndarray) -> Split:
  return Split(split.x[rows], split.labels[rows])


def _fields(config: Any) -> dict:
  """`DEFAULTS` overridden by the fields `config` has."""
  return {name: getattr(config, name) if hasattr(config, name) else default
          for name, default in DEFAULTS.items()}


def load_dataset(config: Any) -> Dataset:
  """Loads, carves and binarizes the data a config names.

  Args:
    config: a ConfigDict (or any object with attributes):
      source: the source spec, e.g. `digits`, `idx:/path`, `tfds:mnist`.
      validation_size: examples moved from train to validation.
      binarization: 'none' | 'static' | 'dynamic'.
      threshold: for 'static', a pixel is 1 where x > threshold.
      seed: the data seed: validation carve, and under 'dynamic' the one-off
        binarization of validation and test.
      pca_components: if > 0, every split becomes [N, pca_components] PCA
        features fitted on train only (after the carve); see `features.PCA`.
      pca_whiten: scale PCA features to unit training variance.
      A field `config` lacks takes its value from `DEFAULTS`.
  Returns:
    A `Dataset`, all splits float32. Validation is the last `validation_size`
    rows of `permutation(PRNGKey(seed), N_train)`; both carved splits keep
    the source's row order. Under 'dynamic', validation and test are drawn
    once as Bernoulli(x) with `split(fold_in(PRNGKey(seed), 1))`.
  Raises:
    ValueError: unknown binarization, or validation_size not in [0, N_train).
    DataSourceNotFoundError / UnknownNameError: see `load_source`.
  """
  source = config.source
  fields = _fields(config)
  validation_size = int(fields["validation_size"])
  binarization = fields["binarization"]
  threshold = float(fields["threshold"])
  seed = int(fields["seed"])
  if binarization not in BINARIZATIONS:
    raise ValueError(f"Unknown binarization {binarization!r}; choose one of "
                     f"{', '.join(BINARIZATIONS)}.")
  pca_components = int(fields["pca_components"] or 0)
  if pca_components and binarization == "dynamic":
    raise ValueError("pca_components needs fixed training images; use binarization "
                     "'none' or 'static', not 'dynamic'.")

  raw = load_source(source)
  full_train = _to_split(raw["train"], f"{source} train")
  test = _to_split(raw["test"], f"{source} test")

  if test.x.shape[1:] != full_train.x.shape[1:]:
    raise ValueError(f"{source}: train images are {list(full_train.x.shape[1:])} but test "
                     f"images are {list(test.x.shape[1:])} (H, W, C); both splits need one shape.")
  n = full_train.num_examples
  if not 0 <= validation_size < n:
    raise ValueError(f"validation_size={validation_size} must be in [0, {n}) for "
                     f"{source}, whose train split has {n} examples.")
  perm = host_random.permutation(jax.random.PRNGKey(seed), n)
  train = _take(full_train, np.sort(perm[:n - validation_size]))
  validation = _take(full_train, np.sort(perm[n - validation_size:]))

  if binarization == "static":
    binarize = lambda s: Split((s.x > threshold).astype(np.float32), s.labels)
    train, validation, test = binarize(train), binarize(validation), binarize(test)
  elif binarization == "dynamic":
    # Held-out splits are sampled once, from the data seed, so that every run
    # scores the same binary images; only train is resampled (per epoch).
    val_key, test_key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1))
    sample = lambda k, s: Split(host_random.bernoulli(k, s.x).astype(np.float32), s.labels)
    validation, test = sample(val_key, validation), sample(test_key, test)
  if pca_components:
    pca = features_lib.fit_pca(train.x, pca_components, bool(fields["pca_whiten"]))
    project = lambda s: Split(pca.transform(s.x), s.labels)
    train, validation, test = project(train), project(validation), project(test)
    return Dataset(source, train, validation, test, binarization, pca)
  return Dataset(source, train, validation, test, binarization)


def _local_size(batch_size: int, process_index: int, process_count: int, what: str) -> int:
  """The per-process share of a global batch."""
  if batch_size < 1:
    raise ValueError(f"{what} must be positive; got {batch_size}.")
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(f"process_index={process_index} must be in [0, process_count="
                     f"{process_count}).")
  if batch_size % process_count:
    raise ValueError(f"{what} {batch_size} is global and must divide evenly over "
                     f"{process_count} processes.")
  return batch_size // process_count


class TrainIterator:
  """Yields training batches; batch for step s is a pure function of (key, s).

  Epoch e = s // steps_per_epoch visits the training rows in the order
  `permutation(fold_in(shuffle_key, e), N)`, where
  `shuffle_key, binarize_key = split(key)`; the last N % batch_size rows of that
  order are dropped, different ones each epoch. Under 'dynamic' binarization
  the whole training set is resampled once per epoch as
  `bernoulli(fold_in(binarize_key, e), train.x)`, one call per epoch rather
  than one per batch (~1.5 s for 60000x784 on two CPU cores, plus a one-off
  compile), and batches index into it. Both are cached for the current epoch
  only, so a resumed iterator recomputes exactly what a continuing one holds.

  With process_count > 1, each process yields rows
  [process_index * b/pc, (process_index + 1) * b/pc) of the global batch b.

  Each batch is a dict of host arrays (b' = batch_size // process_count):
    x: [b', H, W, C] float32;  label: [b'] int32;
    index: [b'] int32, the example's row in `dataset.train` (for per-example
      noise, see `genlatent.core.rng`);  mask: [b'] float32, all ones.
  """

  def __init__(self, dataset: Dataset, batch_size: int, key: jax.Array, start_step: int = 0,
               process_index: int = 0, process_count: int = 1):
    self._local = _local_size(batch_size, process_index, process_count, "Training batch size")
    n = dataset.train.num_examples
    if batch_size > n:
      raise ValueError(f"Training batch size {batch_size} exceeds the {n} training "
                       f"examples of {dataset.name}.")
    if start_step < 0:
      raise ValueError(f"start_step must be >= 0; got {start_step}.")
    self.dataset = dataset
    self.batch_size = batch_size
    self.steps_per_epoch = n // batch_size
    self.step = int(start_step)  # the step whose batch `next` returns
    self._offset = process_index * self._local
    self._dynamic = dataset.binarization == "dynamic"
    self._shuffle_key, self._binarize_key = host_random.split(key)
    self._epoch = -1
    self._order = None  # [N] rows of the cached epoch
    self._epoch_x = None  # [N, H, W, C] bool, the cached epoch's binary train set

  def _load_epoch(self, epoch: int) -> None:
    if epoch == self._epoch:
      return
    train = self.dataset.train
    self._order = host_random.permutation(
        jax.random.fold_in(self._shuffle_key, epoch), train.num_examples)
    if self._dynamic:
      self._epoch_x = host_random.bernoulli(
          jax.random.fold_in(self._binarize_key, epoch), train.x)
    self._epoch = epoch

  def batch(self, step: int) -> dict:
    """The batch of `step`, without moving the iterator."""
    epoch, within = divmod(int(step), self.steps_per_epoch)
    self._load_epoch(epoch)
    start = within * self.batch_size + self._offset
    rows = self._order[start:start + self._local]
    x = self._epoch_x[rows] if self._dynamic else self.dataset.train.x[rows]
    return {"x": x.astype(np.float32, copy=False),
            "label": self.dataset.train.labels[rows],
            "index": rows.astype(np.int32),
            "mask": np.ones((self._local,), np.float32)}

  def __iter__(self) -> Iterator[dict]:
    return self

  def __next__(self) -> dict:
    out = self.batch(self.step)
    self.step += 1
    return out


def num_eval_batches(split: Split, batch_size: int) -> int:
  """ceil(N / batch_size): global batches that `eval_batches` yields."""
  return math.ceil(split.num_examples / batch_size)


def eval_batches(split: Split, batch_size: int, process_index: int = 0,
                 process_count: int = 1) -> Iterator[dict]:
  """Every example exactly once, in row order; the last batch is padded.

  Global batch i holds rows [i * batch_size, (i + 1) * batch_size); each process
  gets its contiguous share b' = batch_size // process_count. Rows past the end
  are padding: x zeros, label 0, index 0, mask 0. All processes yield the same
  number of batches, so collective ops stay in step.

  Yields:
    dict(x=[b', H, W, C] float32, label=[b'] int32, index=[b'] int32,
    mask=[b'] float32: 1 for real rows, 0 for padding).
  """
  # Checked here, not inside the generator, so a bad call fails where it is made.
  local = _local_size(batch_size, process_index, process_count, "Evaluation batch size")
  return _eval_batches(split, batch_size, local, process_index * local)


def _eval_batches(split: Split, batch_size: int, local: int, offset: int) -> Iterator[dict]:
  n = split.num_examples
  for i in range(num_eval_batches(split, batch_size)):
    rows = i * batch_size + offset + np.arange(local)
    real = rows < n
    x = np.zeros((local,) + split.x.shape[1:], np.float32)
    x[real] = split.x[rows[real]]
    label = np.zeros((local,), np.int32)
    label[real] = split.labels[rows[real]]
    yield {"x": x, "label": label, "index": np.where(real, rows, 0).astype(np.int32),
           "mask": real.astype(np.float32)}
