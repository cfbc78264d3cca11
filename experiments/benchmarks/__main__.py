"""Runs every benchmark and prints one table of their in-run ratios.

  python -m experiments.benchmarks [--quick]

Each benchmark measures its reference in the same run (PyTorch, scikit-learn, the
machine's matmul peak) and prints its ratios on lines that name their goal; this
index runs each in its own process (so peak memory and threads are its own) and
collects those lines. Benchmarks are not tests: machines are noisy, read medians.
"""

import subprocess
import sys

BENCHMARKS = {
    "vae_step": ["--windows=3"],
    "iwae_eval": [],
    "gmm": ["--scaling=false"],
    "rbm": [],
}
QUICK = {
    "vae_step": ["--windows=2", "--steps=30"],
    "iwae_eval": ["--windows=1"],
    "gmm": ["--scaling=false", "--windows=1", "--iterations=5"],
    "rbm": [],
}


def main(argv):
  quick = "--quick" in argv
  rows = []
  for name, args in (QUICK if quick else BENCHMARKS).items():
    print(f"== experiments.benchmarks.{name} {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", f"experiments.benchmarks.{name}", *args],
                          capture_output=True, text=True)
    print(proc.stdout[-4000:], flush=True)
    if proc.returncode:
      rows.append((name, f"FAILED (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"))
      continue
    found = [line.strip() for line in proc.stdout.splitlines()
             if "goal" in line or "ratio" in line.lower() or "speed-up" in line]
    rows += [(name, line) for line in found] or [(name, "(no ratio lines printed)")]
  print("\n| benchmark | ratio against its in-run reference |\n|---|---|")
  for name, line in rows:
    print(f"| {name} | {line.replace('|', '→')} |")


if __name__ == "__main__":
  main(sys.argv[1:])
