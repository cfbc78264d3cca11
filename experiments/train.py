"""Trains a model from a config, then evaluates it.

  python -m experiments.train --config=configs/vae.py:digits --workdir=runs/vae_digits \
      [--config.num_steps=2000 --config.model.latent_dim=4 ...]

The console shows the progress bar, what the run resumed from, warnings and the
results; library logs go to <workdir>/log.txt (--verbosity=0 shows them here).
"""

from absl import app, flags
from ml_collections import config_flags

from experiments import common
from genlatent import train

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues, argv: list[str] | None = None) -> None:
  """The command's flags; `argv` is where --config.<field> overrides are read (sys.argv)."""
  config_flags.DEFINE_config_file("config", None, "Experiment config file[:variant].",
                                  lock_config=True, flag_values=flag_values, sys_argv=argv)
  flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and outputs.",
                      flag_values=flag_values)
  flags.mark_flags_as_required(["config", "workdir"], flag_values=flag_values)


def run(flag_values: flags.FlagValues, own_process: bool = True) -> None:
  """The command, once its flags are parsed."""
  common.quiet_console(flag_values)
  common.maybe_initialize_distributed()
  with common.clear_errors(own_process):
    try:
      train.train_and_evaluate(flag_values.config, flag_values.workdir)
    except train.Interrupted as e:
      print(e, flush=True)
      # 128 + signal, as a shell reports it: a scheduler sees the job did not finish.
      raise SystemExit(128 + e.signum) from None


def cli(argv: list[str]) -> None:
  """The command in this process (see `common.run_in_process`)."""
  common.run_in_process(lambda values: define_flags(values, argv), run, argv,
                        config_file_flag="config")


def main(argv):
  del argv
  run(FLAGS)


if __name__ == "__main__":
  define_flags(FLAGS)
  app.run(main, flags_parser=lambda argv: common.parse_flags(argv, config_file_flag="config"))
