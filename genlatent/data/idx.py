"""Any folder in MNIST's IDX format (MNIST, Fashion-MNIST, KMNIST, ...), gzipped or raw.

The IDX format (LeCun's MNIST page): a 4-byte big-endian magic number
`0x00 0x00 <type> <ndim>`, then `ndim` big-endian uint32 dimensions, then the
values, big-endian, row-major. Parsed here with numpy alone.

Fashion-MNIST on Debian/Ubuntu: `apt-get install -y dataset-fashion-mnist` puts it
in /usr/share/datasets/fashion-mnist, which the `fashion_mnist` source reads.
"""

from __future__ import annotations

import gzip
import os
import zlib
from typing import Optional

import numpy as np

from genlatent.core import DATA_SOURCES
from genlatent.data.sources import DataSourceNotFoundError, RawSplits, require_no_arg

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

# (images, labels) file stems per split, as MNIST names them.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type byte -> big-endian numpy dtype.
_DTYPES = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}


class IdxFormatError(ValueError):
  """A file is not a well-formed IDX file (or not the one expected)."""


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
  """Decodes the bytes of one (already decompressed) IDX file.

  Args:
    data: the whole file.
    name: used in error messages only.
  Returns:
    An array of the stored shape, in native byte order (uint8 for ubyte data).
  Raises:
    IdxFormatError: bad magic number, unknown type, or a size that does not
      match the header.
  """
  if len(data) < 4:
    raise IdxFormatError(f"{name}: {len(data)} bytes is too short for an IDX header.")
  zero0, zero1, type_code, ndim = data[:4]
  if zero0 != 0 or zero1 != 0 or type_code not in _DTYPES or ndim == 0:
    raise IdxFormatError(
        f"{name}: not an IDX file (magic bytes {data[:4].hex()}; expected "
        f"00 00 <type in {sorted(hex(t) for t in _DTYPES)}> <ndim >= 1>).")
  header_size = 4 + 4 * ndim
  if len(data) < header_size:
    raise IdxFormatError(f"{name}: header declares {ndim} dimensions but the file ends "
                         f"after {len(data)} bytes.")
  shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
  dtype = _DTYPES[type_code]
  expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  if len(data) != expected:
    raise IdxFormatError(f"{name}: header says shape {shape} of {dtype.name} "
                         f"({expected} bytes with the header) but the file has {len(data)} bytes.")
  values = np.frombuffer(data, dtype, offset=header_size).reshape(shape)
  return values.astype(dtype.newbyteorder("="))


def _find(folder: str, stem: str) -> Optional[str]:
  """The raw file if present, else the gzipped one, else None."""
  for candidate in (stem, stem + ".gz"):
    path = os.path.join(folder, candidate)
    if os.path.isfile(path):
      return path
  return None


def read_idx_file(path: str) -> np.ndarray:
  """Reads one IDX file, gunzipping it when it is gzipped (by content, not by name)."""
  with open(path, "rb") as f:
    data = f.read()
  if data[:2] == b"\x1f\x8b":
    try:
      data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
      raise IdxFormatError(f"{path}: gzip data is corrupt or truncated ({e}).") from None
  return parse_idx(data, path)


def _missing_message(folder: str, missing: list[str]) -> str:
  wanted = ", ".join(f"{s}[.gz]" for pair in FILES.values() for s in pair)
  return (f"No IDX data set in {folder!r}: missing {', '.join(missing)}. "
          f"The folder must hold {wanted} (gzipped or raw). "
          f"For Fashion-MNIST on Debian/Ubuntu: apt-get install -y dataset-fashion-mnist "
          f"(installs to {FASHION_MNIST_DIR}); for MNIST, copy the four files from "
          f"http://yann.lecun.com/exdb/mnist/ (or a mirror) into the folder.")


@DATA_SOURCES.register("idx")
def load_idx_folder(folder: Optional[str]) -> RawSplits:
  """The train and test splits of an MNIST-format folder.

  Args:
    folder: holds train-images-idx3-ubyte, train-labels-idx1-ubyte,
      t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally `.gz`.
  Returns:
    {'train': (x, labels), 'test': (x, labels)}; x: [N, H, W, 1] uint8 0..255,
    labels: [N] int32.
  Raises:
    DataSourceNotFoundError: the folder or one of the files is missing.
    IdxFormatError: a file is malformed or images and labels disagree.
  """
  if not folder:
    raise ValueError("The 'idx' data source needs a folder: idx:/path/to/folder.")
  folder = os.path.expanduser(folder)
  paths = {stem: _find(folder, stem) for pair in FILES.values() for stem in pair}
  missing = [stem for stem, path in paths.items() if path is None]
  if missing:
    raise DataSourceNotFoundError(_missing_message(folder, missing))
  out = {}
  for split, (image_stem, label_stem) in FILES.items():
    images = read_idx_file(paths[image_stem])
    labels = read_idx_file(paths[label_stem])
    if images.ndim != 3:
      raise IdxFormatError(
          f"{paths[image_stem]}: images must be [N, H, W]; got shape {images.shape}.")
    if images.dtype != np.uint8:
      raise IdxFormatError(
          f"{paths[image_stem]}: images must be ubyte (0x08); got {images.dtype}.")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
      raise IdxFormatError(f"{paths[label_stem]}: labels must be [{images.shape[0]}] to match "
                           f"{paths[image_stem]}; got shape {labels.shape}.")
    out[split] = (images[..., None], labels.astype(np.int32))
  return out


@DATA_SOURCES.register("fashion_mnist")
def load_fashion_mnist(arg: Optional[str] = None) -> RawSplits:
  """Fashion-MNIST from Debian's package: `idx:/usr/share/datasets/fashion-mnist`."""
  require_no_arg("fashion_mnist", arg)
  return load_idx_folder(FASHION_MNIST_DIR)
