"""Evaluates a trained workdir and (re)writes its eval.json.

  python -m experiments.evaluate --workdir=runs/vae_digits [--estimators=importance:5000]
"""

from absl import app, flags, logging

from experiments import common
from genlatent import train

flags.DEFINE_string("workdir", None, "A workdir written by experiments.train.")
flags.DEFINE_string("estimators", None,
                    "Comma-separated name:num_samples; default: the config's eval.estimators.")
flags.DEFINE_enum("split", "test", ["test", "validation", "train"], "Which split to evaluate.")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  common.maybe_initialize_distributed()
  with common.clear_errors():
    config, dataset, model, backend, state = train.restore_workdir(FLAGS.workdir)
    train.evaluate_and_write(config, model, backend, state, dataset, FLAGS.workdir,
                             estimators=FLAGS.estimators, split=FLAGS.split)


if __name__ == "__main__":
  app.run(main)
