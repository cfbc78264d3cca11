"""Small in-memory data sets, split and batched deterministically from explicit keys.

Sources are named by a spec string (`digits`, `idx:<folder>`, `fashion_mnist`,
`tfds:<name>[@<data_dir>]`) and registered in `genlatent.core.DATA_SOURCES`;
importing this package registers the built-in ones.
"""

# Imported for their registrations.
from genlatent.data import digits as _digits  # noqa: F401
from genlatent.data import idx as _idx  # noqa: F401
from genlatent.data import tfds_source as _tfds_source  # noqa: F401
from genlatent.data.idx import IdxFormatError
from genlatent.data.pipeline import (BINARIZATIONS, DEFAULTS, Dataset, Split, TrainIterator,
                                     eval_batches, load_dataset, num_eval_batches)
from genlatent.data.sources import DataSourceNotFoundError, load_source, split_spec

__all__ = [
    "BINARIZATIONS", "DEFAULTS", "DataSourceNotFoundError", "Dataset", "IdxFormatError", "Split",
    "TrainIterator", "eval_batches", "load_dataset", "load_source", "num_eval_batches",
    "split_spec",
]
