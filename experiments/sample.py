"""Writes sample and reconstruction grids (PNG) for a trained workdir.

  python -m experiments.sample --workdir=runs/vae_digits [--num=100]
"""

from absl import app, flags, logging

from experiments import common
from genlatent import train

flags.DEFINE_string("workdir", None, "A workdir written by experiments.train.")
flags.DEFINE_integer("num", 100, "How many samples to draw.")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  with common.clear_errors():
    config, dataset, model, backend, state = train.restore_workdir(FLAGS.workdir)
    for path in train.write_figures(config, model, backend.host_state(state).params, dataset,
                                    FLAGS.workdir, FLAGS.num):
      print(path)


if __name__ == "__main__":
  app.run(main)
