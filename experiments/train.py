"""Trains a model from a config, then evaluates it.

  python -m experiments.train --config=configs/vae.py:digits --workdir=runs/vae_digits \
      [--config.num_steps=2000 --config.model.latent_dim=4 ...]
"""

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import common
from genlatent import train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file[:variant].",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and outputs.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  common.maybe_initialize_distributed()
  with common.clear_errors():
    try:
      train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except train.Interrupted as e:
      print(e, flush=True)
      # 128 + signal, as a shell reports it: a scheduler sees the job did not finish.
      raise SystemExit(128 + e.signum) from None


if __name__ == "__main__":
  app.run(main)
