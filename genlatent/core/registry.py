"""Name -> constructor registries, so configs can refer to models, priors and data by name."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
  """Raised when a config names something no registry knows."""

  def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
    return str(self.args[0])


class Registry(Generic[T]):
  """A mapping from names to constructors, filled by the `register` decorator.

  An unknown name fails at once with the list of known names, so a typo in a
  config is a one-line fix rather than a stack trace.
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._entries: dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    def decorator(fn: T) -> T:
      if name in self._entries and self._entries[name] is not fn:
        raise ValueError(f"{self.kind} {name!r} is already registered.")
      self._entries[name] = fn
      return fn

    return decorator

  def get(self, name: str) -> T:
    if name not in self._entries:
      raise UnknownNameError(
          f"Unknown {self.kind} {name!r}. Known {self.kind}s: "
          f"{', '.join(sorted(self._entries)) or '(none)'}.")
    return self._entries[name]

  def unregister(self, name: str) -> None:
    """Forgets `name` (a notebook or test that registers its own entry cleans up)."""
    self._entries.pop(name, None)

  def names(self) -> list[str]:
    return sorted(self._entries)

  def __contains__(self, name: str) -> bool:
    return name in self._entries
