"""Runs a config module's sweep: one subfolder per point, then one table.

A config module defines `get_sweep(arg)` (or `get_sweep()`) returning a list of
override dicts, e.g. [{'model.latent_dim': 2}, {'model.latent_dim': 8}].

  python -m experiments.sweep --config=configs/vae.py:digits --workdir=runs/sweep_vae [--processes=2]
"""

import os
import sys

from absl import app, flags, logging

from experiments import common
from genlatent import compare, sweeps, train

flags.DEFINE_string("config", None, "Config file[:variant] whose module defines get_sweep().")
flags.DEFINE_string("workdir", None, "One subfolder per sweep point, plus results.{md,csv,json}.")
flags.DEFINE_integer("processes", 1, "Sweep points run at once, each in its own process.")
flags.DEFINE_integer("point", -1, "Internal: run only this point (used by --processes).")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  if FLAGS.point >= 0 and sweeps.PARENT_ENV in os.environ:
    # A worker stops (checkpointing) when its sweep dies, never trains on as an orphan.
    sweeps.stop_with_parent(int(os.environ[sweeps.PARENT_ENV]))
  with common.clear_errors():
    points = sweeps.expand(FLAGS.config)
    try:
      if FLAGS.point >= 0:
        sweeps.run_point(FLAGS.config, points, FLAGS.point, FLAGS.workdir)
        return
      if FLAGS.processes <= 1:
        for i in range(len(points)):
          sweeps.run_point(FLAGS.config, points, i, FLAGS.workdir)
      else:
        sweeps.run_in_processes(FLAGS.config, points, FLAGS.workdir, FLAGS.processes)
    except train.Interrupted as e:
      print(e, flush=True)
      raise SystemExit(128 + e.signum) from None
    except sweeps.SweepStopped as e:
      print(f"error: {e}", file=sys.stderr, flush=True)
      raise SystemExit(128 + e.signum if e.signum else 1) from None
    rows = sweeps.aggregate(FLAGS.config, points, FLAGS.workdir)
    print(compare.markdown_table(compare.sort_rows(rows), f"Sweep of {FLAGS.config}"))


if __name__ == "__main__":
  app.run(main)
