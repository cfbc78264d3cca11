"""Evaluates a trained workdir and writes that split's results into its eval.json.

  python -m experiments.evaluate --workdir=runs/vae_digits [--estimators=importance:5000]
  python -m experiments.evaluate --workdir=runs/vae_digits --split=validation
  python -m experiments.evaluate --workdir=runs/rbm_smoke --estimators=ais:16 --annealed_examples=100
  python -m experiments.evaluate --workdir=runs/vae_digits --bdmc=64 [--bdmc_chains=16]

Other splits' results in eval.json stay as they were. `--annealed_examples=N` scores
the annealed estimators (ais, raise) on the split's first N examples only. `--bdmc=N`
adds a `bdmc` section to eval.json: forward and reverse AIS on N examples simulated from
the model, a lower and an upper bound on their log p(x) and the gap between them
(`compare.write_bdmc`); given alone it adds just that section to the existing eval.json.
Holds the workdir's lock, so it never runs beside a training run in the same workdir.
"""

from absl import app, flags

from experiments import common
from genlatent import compare, train
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
  flags.DEFINE_integer("annealed_examples", None,
                       "Score ais/raise on the split's first N examples only; default: the "
                       "config's eval.annealed_examples if set, else every example.",
                       flag_values=flag_values)
  flags.DEFINE_integer("bdmc", None,
                       "N: add a BDMC bracket on N examples simulated from the model to "
                       "eval.json (models with AIS).", flag_values=flag_values)
  flags.DEFINE_integer("bdmc_chains", 16,
                       "BDMC chains: per example each way (decoder models), or forward "
                       "chains for log Z (Boltzmann models).", flag_values=flag_values)
  flags.mark_flag_as_required("workdir", flag_values=flag_values)


def run(flag_values: flags.FlagValues, own_process: bool = True) -> None:
  common.quiet_console(flag_values)
  common.maybe_initialize_distributed()
  with common.clear_errors(own_process):
    if flag_values.estimators is not None:  # a typo fails before anything is loaded
      workdir_lib.parse_estimator_spec(flag_values.estimators, "--estimators")
    bdmc = flag_values.bdmc
    compare.check_bdmc_counts(bdmc, flag_values.bdmc_chains)
    if flag_values.annealed_examples is not None and flag_values.annealed_examples < 0:
      raise ValueError(f"--annealed_examples={flag_values.annealed_examples} is invalid; give "
                       "a number of examples ≥ 1, or 0 for all.")
    with workdir_lib.claim(flag_values.workdir, create=False) as workdir:
      restored = train.restore_workdir(workdir)
      config, dataset, model, backend, state = restored
      if flag_values.estimators is not None:
        train.check_estimators(flag_values.estimators, "--estimators", model, dataset)
      if bdmc:
        compare.check_bdmc_supported(model, backend.host_state(state).params)
      workdir_lib.open_log(workdir)
      if not bdmc or flag_values.estimators is not None:
        train.evaluate_and_write(config, model, backend, state, dataset, workdir,
                                 estimators=flag_values.estimators, split=flag_values.split,
                                 annealed_examples=flag_values.annealed_examples)
      if bdmc:
        report = compare.write_bdmc(workdir, bdmc, flag_values.bdmc_chains, restored)
        print(compare.bdmc_text(report), flush=True)


def cli(argv: list[str]) -> None:
  """The command in this process (see `common.run_in_process`)."""
  common.run_in_process(define_flags, run, argv)


def main(argv):
  del argv
  run(FLAGS)


if __name__ == "__main__":
  define_flags(FLAGS)
  app.run(main, flags_parser=common.parse_flags)
