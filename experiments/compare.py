"""Trains every member of a suite on the same data and writes one results table.

  python -m experiments.compare --suite=configs/suites/digits.py --workdir=runs/compare_digits
  python -m experiments.compare --suite=configs/suites/digits.py:smoke --workdir=/tmp/cmp

Finished member runs in the workdir are reused; rerunning only fills the gaps. A member
whose `eval.*` settings alone changed (say, the suite adds an estimator) is re-evaluated
from its checkpoints, its old eval.json kept as `eval.replaced-<UTC time>.json`. A member
whose config changed otherwise is retrained from scratch; its old folder is kept as
`<member>.replaced-<UTC time>`.
"""

from absl import app, flags, logging

from experiments import common
from genlatent import compare, runs, train

flags.DEFINE_string("suite", None, "Suite config file[:variant], e.g. configs/suites/digits.py.")
flags.DEFINE_string("workdir", None, "One subfolder per member, plus results.{md,csv,json}.")
flags.mark_flags_as_required(["suite", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  with common.clear_errors():
    suite = runs.load_config_ref(FLAGS.suite)
    try:
      compare.run_suite(suite, FLAGS.workdir, log=lambda s: print(s, flush=True))
    except train.Interrupted as e:
      print(e, flush=True)
      raise SystemExit(128 + e.signum) from None
    with open(f"{FLAGS.workdir}/results.md", encoding="utf-8") as f:
      print(f.read())


if __name__ == "__main__":
  app.run(main)
