"""Evaluates a trained workdir and writes that split's results into its eval.json.

  python -m experiments.evaluate --workdir=runs/vae_digits [--estimators=importance:5000]
  python -m experiments.evaluate --workdir=runs/vae_digits --split=validation

Other splits' results in eval.json stay as they were. Holds the workdir's lock,
so it never runs beside a training run in the same workdir.
"""

from absl import app, flags

from experiments import common
from genlatent import train
from genlatent.train import workdir as workdir_lib

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues) -> None:
  flags.DEFINE_string("workdir", None, "A workdir written by experiments.train.",
                      flag_values=flag_values)
  flags.DEFINE_string("estimators", None,
                      "Comma-separated name:num_samples; default: the config's eval.estimators.",
                      flag_values=flag_values)
  flags.DEFINE_enum("split", "test", ["test", "validation", "train"], "Which split to evaluate.",
                    flag_values=flag_values)
  flags.mark_flag_as_required("workdir", flag_values=flag_values)


def run(flag_values: flags.FlagValues, own_process: bool = True) -> None:
  common.quiet_console(flag_values)
  common.maybe_initialize_distributed()
  with common.clear_errors(own_process):
    if flag_values.estimators is not None:  # a typo fails before anything is loaded
      workdir_lib.parse_estimator_spec(flag_values.estimators, "--estimators")
    with workdir_lib.claim(flag_values.workdir, create=False) as workdir:
      config, dataset, model, backend, state = train.restore_workdir(workdir)
      if flag_values.estimators is not None:
        train.check_estimators(flag_values.estimators, "--estimators", model, dataset)
      workdir_lib.open_log(workdir)
      train.evaluate_and_write(config, model, backend, state, dataset, workdir,
                               estimators=flag_values.estimators, split=flag_values.split)


def cli(argv: list[str]) -> None:
  """The command in this process (see `common.run_in_process`)."""
  common.run_in_process(define_flags, run, argv)


def main(argv):
  del argv
  run(FLAGS)


if __name__ == "__main__":
  define_flags(FLAGS)
  app.run(main, flags_parser=common.parse_flags)
