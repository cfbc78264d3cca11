"""The layering README's Layout section states: each package of genlatent imports only
from layers below it (or its own), and none imports configs/ or experiments/. Imports
inside functions count: hiding one there does not make a leak go away."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Bottom to top; a package may import its own layer and every layer below.
LAYERS = (
    ("core",),
    ("data", "nets", "priors", "estimators", "optimizers", "metrics"),
    ("boltzmann", "viz"),
    ("models",),
    ("train",),
    ("runs", "compare", "sweeps"),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def imported_packages(path: pathlib.Path) -> set[tuple[str, int]]:
  """{(genlatent package or 'configs'/'experiments', line)} imported anywhere in `path`."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
    names = []
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    elif isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    for name in names:
      parts = name.split(".")
      if parts[0] == "genlatent" and len(parts) > 1:
        found.add((parts[1], node.lineno))
      elif parts[0] in ("configs", "experiments"):
        found.add((parts[0], node.lineno))
  return found


def package_of(path: pathlib.Path) -> str:
  relative = path.relative_to(ROOT / "genlatent")
  return relative.parts[0].removesuffix(".py")


def leaks() -> list[str]:
  out = []
  for path in sorted((ROOT / "genlatent").rglob("*.py")):
    own = package_of(path)
    if own == "__init__":
      continue
    for target, line in sorted(imported_packages(path)):
      if target in ("configs", "experiments"):
        out.append(f"{path.relative_to(ROOT)}:{line} imports {target}/")
      elif target not in LAYER_OF:
        out.append(f"{path.relative_to(ROOT)}:{line} imports genlatent.{target}, "
                   "which has no layer in tests/test_layers.py")
      elif LAYER_OF[target] > LAYER_OF[own]:
        out.append(f"{path.relative_to(ROOT)}:{line}: {own} (layer {LAYER_OF[own]}) imports "
                   f"{target} (layer {LAYER_OF[target]})")
  return out


def test_every_package_has_a_layer():
  packages = {package_of(p) for p in (ROOT / "genlatent").rglob("*.py")} - {"__init__"}
  assert packages == set(LAYER_OF), sorted(packages ^ set(LAYER_OF))


def test_no_package_imports_a_layer_above_it():
  assert leaks() == []


@pytest.mark.parametrize("source,message", [
    ("def f():\n  from genlatent.train import trainer\n", "models (layer 3) imports train"),
    ("import configs.vae\n", "imports configs/"),
])
def test_the_check_sees_leaks_even_inside_functions(tmp_path, monkeypatch, source, message):
  (tmp_path / "genlatent" / "models").mkdir(parents=True)
  (tmp_path / "genlatent" / "models" / "leaky.py").write_text(source)
  monkeypatch.setitem(globals(), "ROOT", tmp_path)
  found = leaks()
  assert len(found) == 1 and message in found[0]
