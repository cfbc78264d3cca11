"""The benchmarks' one JSON line: what `report` writes parses back with every key.

Nothing is timed here; the figures are made up.
"""

import json
import os

import pytest

from experiments.benchmarks import __main__ as index
from experiments.benchmarks import report


def _figures():
  return report.line(
      "toy", {"fast_over_slow": report.ratio(2.5, 1.5),
              "over_peak": report.ratio(0.4, 0.65),
              "memory_gib": report.ratio(1.0, 4.0, "<="),
              "over_torch": report.ratio(None, 1.5)},
      {"fast_steps_per_s": 10.0, "slow_steps_per_s": 4.0, "nan_rate": float("nan")},
      settings={"windows": 2})


def test_the_last_line_parses_with_every_key():
  stdout = "some table\n| a | b |\n" + _figures() + "\n\n"
  figures = report.parse(stdout)
  assert set(report.KEYS) <= set(figures)
  assert figures["benchmark"] == "toy"
  assert {"python", "jax", "jaxlib", "numpy"} <= set(figures["versions"])
  assert figures["devices"]["count"] >= 1 and figures["devices"]["platform"] == "cpu"
  assert figures["time"].endswith("Z")
  ratios = figures["ratios"]
  assert all(sorted(r) == sorted(report.RATIO_KEYS) for r in ratios.values())
  assert ratios["fast_over_slow"] == {"value": 2.5, "goal": 1.5, "direction": ">=",
                                      "meets": True}
  assert ratios["over_peak"]["meets"] is False
  assert ratios["memory_gib"]["meets"] is True  # at most 4 GiB
  assert ratios["over_torch"] == {"value": None, "goal": 1.5, "direction": ">=", "meets": None}
  # Strict JSON: a NaN median is null, not the non-standard NaN token.
  assert figures["medians"] == {"fast_steps_per_s": 10.0, "slow_steps_per_s": 4.0,
                                "nan_rate": None}
  json.loads(_figures(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))


def test_output_without_the_line_or_with_a_key_missing_is_an_error():
  with pytest.raises(ValueError, match="last line is not JSON"):
    report.parse(_figures() + "\ntrailing table row\n")
  partial = json.loads(_figures())
  del partial["versions"]
  with pytest.raises(ValueError, match="lacks versions"):
    report.parse(json.dumps(partial))
  with pytest.raises(ValueError, match="printed nothing"):
    report.parse("\n")
  with pytest.raises(ValueError, match="make it with report.ratio"):
    report.line("toy", {"r": {"value": 1.0}}, {})


def test_every_benchmark_the_index_runs_ends_with_the_report_line():
  # Read, not imported: each benchmark defines absl flags of the same names.
  assert set(index.BENCHMARKS) == set(index.QUICK)
  folder = os.path.dirname(index.__file__)
  for name in index.BENCHMARKS:
    with open(os.path.join(folder, f"{name}.py"), encoding="utf-8") as f:
      assert f'report.emit("{name}"' in f.read(), name
