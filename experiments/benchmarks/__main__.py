"""Runs every benchmark and prints one table of their in-run ratios against their goals.

  python -m experiments.benchmarks [--quick] [--json=PATH]

Each benchmark measures its reference in the same run (PyTorch, scikit-learn, the
machine's matmul peak) and ends with one JSON line of its figures
(`experiments/benchmarks/report.py`); this index runs each in its own process (so
peak memory and threads are its own), reads that line, and prints every ratio with
its goal. `--json=PATH` also writes the benchmarks' JSON objects, one per line, for
comparing runs over time. Benchmarks are not tests: machines are noisy, read medians.
"""

import json
import subprocess
import sys

from experiments.benchmarks import report

BENCHMARKS = {
    "vae_step": ["--windows=3"],
    "iwae_eval": [],
    "gmm": ["--scaling=false"],
    "rbm": [],
    "ais": [],
    "gibbs_profile": [],
}
# Each benchmark's smallest budget: a check that it runs and reports, not a measurement.
QUICK = {
    "vae_step": ["--windows=2", "--steps=30"],
    "iwae_eval": ["--windows=1"],
    "gmm": ["--scaling=false", "--windows=1", "--iterations=5"],
    "rbm": ["--windows=1", "--ais_steps=200"],
    "ais": ["--quick"],
    "gibbs_profile": ["--calls=5", "--repeats=1", "--ais_steps=20"],
}


def main(argv):
  quick = "--quick" in argv
  json_path = next((a.split("=", 1)[1] for a in argv if a.startswith("--json=")), None)
  rows, figures = [], []
  for name, args in (QUICK if quick else BENCHMARKS).items():
    print(f"== experiments.benchmarks.{name} {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", f"experiments.benchmarks.{name}", *args],
                          capture_output=True, text=True)
    print(proc.stdout[-4000:], flush=True)
    if proc.returncode:
      rows.append((name, f"FAILED (exit {proc.returncode}): {proc.stderr.strip()[-300:]}",
                   "", ""))
      continue
    try:
      found = report.parse(proc.stdout)
    except ValueError as e:
      rows.append((name, f"no figures: {e}", "", ""))
      continue
    figures.append(found)
    for ratio_name, r in found["ratios"].items():
      value = "not measured" if r["value"] is None else f"{r['value']:.3g}"
      meets = {True: "yes", False: "NO", None: "—"}[r["meets"]]
      rows.append((name, f"{ratio_name} = {value}", f"{r['direction']} {r['goal']:g}", meets))
  if json_path:
    with open(json_path, "w", encoding="utf-8") as f:
      f.writelines(json.dumps(entry) + "\n" for entry in figures)
  print("\n| benchmark | ratio | goal | meets |\n|---|---|---|---|")
  for name, ratio, goal, meets in rows:
    print(f"| {name} | {ratio.replace('|', '→')} | {goal} | {meets} |")


if __name__ == "__main__":
  main(sys.argv[1:])
