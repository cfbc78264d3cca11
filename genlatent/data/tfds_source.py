"""TensorFlow Datasets data sets, read offline through `tfds.data_source` and grain.

No TensorFlow is needed: `tfds.data_source` reads ArrayRecord files and decodes
them with numpy (PIL for PNG). Nothing here downloads. Offline, a download would
retry for minutes before failing, so data are opened with `download=False` and a
data set that is not prepared fails at once with the command that prepares it.

Spec: `tfds:<name>` or `tfds:<name>@<data_dir>`, where name may carry a config and
version as tfds spells them (`mnist`, `mnist:3.0.1`, `emnist/letters`). The data
dir defaults to $TFDS_DATA_DIR, else ~/tensorflow_datasets.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from genlatent.core import DATA_SOURCES
from genlatent.data.sources import DataSourceNotFoundError, RawSplits

# Data sets whose 'image' holds 0/1 rather than 0..255: returned as float so the
# pipeline does not divide them by 255.
_BINARY_IMAGE_DATASETS = ("binarized_mnist",)
# Examples per read: big enough to amortize per-call overhead, small enough that
# the list of per-example dicts stays a few MB.
_CHUNK = 1024


def default_data_dir() -> str:
  """$TFDS_DATA_DIR, else ~/tensorflow_datasets (tfds's own default)."""
  return os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")


def _how_to_get(name: str, data_dir: str) -> str:
  folder = name.split("/")[0].split(":")[0]
  # Preparing image data sets encodes PNGs with TensorFlow, so it needs TF on
  # the preparing machine; reading them here does not.
  return (
      f"On a machine with internet (and TensorFlow), prepare it in the ArrayRecord "
      f"format that tfds.data_source reads, either with\n"
      f"  tfds build {name} --file_format=array_record --data_dir=/some/dir\n"
      f"or with\n"
      f"  python -c \"import tensorflow_datasets as tfds; tfds.data_source('{name}')\"\n"
      f"(which prepares ~/tensorflow_datasets/{folder}), then copy that {folder} folder "
      f"to {os.path.join(data_dir, folder)} (or point $TFDS_DATA_DIR, or the spec "
      f"tfds:{name}@<dir>, at the folder that holds it).")


def _read_all(source, image_key: str = "image", label_key: str = "label"):
  """All examples of a random-access source as ([N, ...] images, [N] labels or None).

  Goes through `grain.MapDataset` in chunks, so any grain-compatible source
  (tfds ArrayRecord, a mock, a list) is read the same way.
  """
  import grain  # pylint: disable=import-outside-toplevel
  batches = grain.MapDataset.source(source).batch(_CHUNK)
  images, labels = [], []
  for i in range(len(batches)):
    batch = batches[i]
    images.append(np.asarray(batch[image_key]))
    if label_key in batch:
      labels.append(np.asarray(batch[label_key]))
  if not images:
    raise ValueError(f"Data source {source!r} is empty.")
  return np.concatenate(images), (np.concatenate(labels) if labels else None)


@DATA_SOURCES.register("tfds")
def load_tfds(arg: Optional[str], data_dir: Optional[str] = None) -> RawSplits:
  """The train and test splits of a prepared tfds data set.

  Args:
    arg: `<name>` or `<name>@<data_dir>`.
    data_dir: overrides the data dir in `arg` and the default.
  Returns:
    {'train': (x, labels), 'test': (x, labels)}; x: [N, H, W, C] as stored
    (uint8 0..255; float32 {0, 1} for binarized_mnist); labels: [N] int32 from
    'label', or -1 where the data set has none.
  Raises:
    DataSourceNotFoundError: tfds is not installed, does not know the name, or
      the data set is not prepared (in a random-access format) in the data dir.
  """
  if not arg:
    raise ValueError("The 'tfds' data source needs a data set name: tfds:<name>[@<data_dir>].")
  name, _, spec_dir = arg.partition("@")
  data_dir = os.path.expanduser(data_dir or spec_dir or default_data_dir())
  try:
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise DataSourceNotFoundError(
        "The 'tfds' data source needs tensorflow-datasets and grain: "
        "pip install tensorflow-datasets grain") from None

  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as e:  # pylint: disable=broad-except
    # tfds lists hundreds of names here; keep the first line only.
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise DataSourceNotFoundError(f"tfds cannot build {name!r}: {first_line}") from None

  # `download=False`: reads only what is in data_dir, so an unprepared data set
  # fails in milliseconds instead of after minutes of offline download retries.
  # (Asking `builder.is_prepared()` first would be as fast but would reject the
  # data that `tfds.testing.mock_data` injects behind `data_source`.)
  try:
    train, test = tfds.data_source(name, split=["train", "test"], data_dir=data_dir,
                                   download=False, try_gcs=False)
  except Exception as e:  # pylint: disable=broad-except
    if not builder.is_prepared():
      raise DataSourceNotFoundError(
          f"tfds data set {name!r} is not prepared in {builder.data_dir} "
          f"(looked in data dir {data_dir}; no dataset_info.json and features.json there).\n"
          + _how_to_get(name, data_dir)) from None
    raise DataSourceNotFoundError(
        f"tfds data set {name!r} is in {builder.data_dir} but tfds.data_source cannot "
        f"read its 'train' and 'test' splits: {e}\nIf it was prepared as TFRecord "
        f"(tfds's default with an explicit data dir), prepare it again as array_record. "
        + _how_to_get(name, data_dir)) from e

  has_labels = "label" in builder.info.features
  binary = builder.name in _BINARY_IMAGE_DATASETS
  out = {}
  for split, source in (("train", train), ("test", test)):
    x, labels = _read_all(source)
    if x.ndim == 3:  # some grey-scale data sets store [H, W]
      x = x[..., None]
    if binary:
      x = x.astype(np.float32)
    if labels is None or not has_labels:
      labels = np.full((len(x),), -1, np.int32)
    out[split] = (x, labels.astype(np.int32))
  return out
