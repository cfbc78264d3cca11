"""scikit-learn's bundled 8x8 handwritten digits: a data set that needs no download.

1797 images of 8x8 pixels with grey levels 0..16 (UCI optical digits). There is
no official test split, so one of 360 examples is carved here with a fixed key:
every run, seed and model family sees the same test set.
"""

from __future__ import annotations

from typing import Optional

import jax
import numpy as np

from genlatent.core import DATA_SOURCES
from genlatent.data import host_random
from genlatent.data.sources import DataSourceNotFoundError, RawSplits, require_no_arg

NUM_TEST = 360
# Fixed on purpose: the test set is part of the data set, not of the run.
_TEST_KEY_SEED = 0


@DATA_SOURCES.register("digits")
def load_digits(arg: Optional[str] = None) -> RawSplits:
  """The digits as {'train': (x, labels), 'test': (x, labels)}.

  Returns:
    x: [N, 8, 8, 1] float32 in [0, 1] (grey level / 16); labels: [N] int32 in 0..9.
    N is 1437 for train and 360 for test; rows keep their order in scikit-learn.
  """
  require_no_arg("digits", arg)
  try:
    from sklearn import datasets  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise DataSourceNotFoundError(
        "The 'digits' data source needs scikit-learn, which bundles the data: "
        "pip install scikit-learn") from None
  digits = datasets.load_digits()
  x = (np.asarray(digits.images, np.float32) / 16.0)[..., None]
  labels = np.asarray(digits.target, np.int32)
  perm = host_random.permutation(jax.random.PRNGKey(_TEST_KEY_SEED), len(x))
  test_rows, train_rows = np.sort(perm[:NUM_TEST]), np.sort(perm[NUM_TEST:])
  return {"train": (x[train_rows], labels[train_rows]),
          "test": (x[test_rows], labels[test_rows])}
