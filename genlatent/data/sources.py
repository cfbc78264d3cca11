"""Naming a raw data source by a string spec, and the one error for a missing one.

A config names its data as `name` or `name:arg` (`digits`, `idx:/path/to/folder`,
`tfds:mnist`). The name is looked up in `DATA_SOURCES`; the source returns the
official splits as host arrays:

  {'train': (x, labels), 'test': (x, labels)}
    x: [N, H, W, C] uint8 in 0..255, or float in [0, 1].
    labels: [N] int32, -1 where the source has none.
"""

from __future__ import annotations

from typing import Optional

from genlatent.core import DATA_SOURCES

RawSplits = dict  # {'train': (x, labels), 'test': (x, labels)}


class DataSourceNotFoundError(Exception):
  """A named data source is not on this machine; the message says how to get it."""


def split_spec(spec: str) -> tuple[str, Optional[str]]:
  """`'idx:/a/b:c'` -> `('idx', '/a/b:c')`; `'digits'` -> `('digits', None)`.

  Only the first ':' separates, so the argument may itself hold ':' (tfds
  versions such as `tfds:mnist:3.0.1`).
  """
  name, sep, arg = spec.partition(":")
  return name, (arg if sep else None)


def load_source(spec: str) -> RawSplits:
  """The raw splits of the source a spec names.

  Raises:
    UnknownNameError: no source registered under the spec's name (the message
      lists the known ones).
    DataSourceNotFoundError: the source is known but its data is not here.
  """
  name, arg = split_spec(spec)
  return DATA_SOURCES.get(name)(arg)


def require_no_arg(name: str, arg: Optional[str]) -> None:
  """Sources that take no argument reject one, so `digits:foo` is not silently `digits`."""
  if arg is not None:
    raise ValueError(f"Data source {name!r} takes no argument; got {name}:{arg}.")
