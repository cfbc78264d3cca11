"""Writes sample, reconstruction and latent-space figures (PNG) for a trained workdir.

  python -m experiments.sample --workdir=runs/vae_digits [--num=100] [--figures=all]
  python -m experiments.sample --workdir=runs/vae_digits --figures=manifold,scatter
  python -m experiments.sample --workdir=runs/vae_digits --compare_workdir=runs/ae_digits

--figures takes `all` or a comma list of: samples (samples.png and
reconstructions.png), manifold, traversals, interpolation, attribute, scatter,
comparison (needs --compare_workdir). See `genlatent.viz.latent.write_latent_figures`
for what each file shows; figures a model cannot make (no encoder) are skipped.
"""

import os

import jax
import numpy as np
from absl import app, flags

from experiments import common
from genlatent import train
from genlatent.train import workdir as workdir_lib
from genlatent.viz import latent

FIGURES = ("samples",) + latent.LATENT_FIGURES

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues) -> None:
  define = dict(flag_values=flag_values)
  flags.DEFINE_string("workdir", None, "A workdir written by experiments.train.", **define)
  flags.DEFINE_integer("num", 100, "How many samples to draw.", **define)
  flags.DEFINE_list("figures", ["all"], f"'all' or a comma list of: {', '.join(FIGURES)}.",
                    **define)
  flags.DEFINE_string("compare_workdir", None,
                      "Another trained workdir whose samples go beside this one's in "
                      "samples_comparison.png (e.g. an AE next to a VAE).", **define)
  flags.DEFINE_bool("spherical", False, "Interpolate along great circles (slerp), not lines.",
                    **define)
  flags.DEFINE_integer("attribute_label", None,
                       "Label whose mean-code vector the attribute figure adds; "
                       "default the smallest test label.", **define)
  flags.mark_flag_as_required("workdir", **define)


def _samples(model, params, dataset, workdir: str, key, num: int):
  """(title, [num, H, W, C] sample images) of a workdir's model."""
  if model.sample is None:
    raise ValueError(f"The {model.name!r} model in {workdir} cannot sample.")
  samples = np.asarray(jax.jit(model.sample, static_argnums=2)(params, key, num))
  return (f"{model.name} ({os.path.basename(os.path.normpath(workdir))})",
          dataset.to_images(samples))


def run(flag_values: flags.FlagValues, own_process: bool = True) -> None:
  """The command, once its flags are parsed."""
  common.quiet_console(flag_values)
  with common.clear_errors(own_process):
    if flag_values.num < 1:
      raise ValueError(f"--num={flag_values.num}: draw at least 1 sample, e.g. --num=100.")
    figures = list(FIGURES) if flag_values.figures == ["all"] else flag_values.figures
    unknown = sorted(set(figures) - set(FIGURES) - {"reconstructions"})
    if unknown:
      raise ValueError(f"Unknown figure(s) {', '.join(unknown)}. Known: all, "
                       f"{', '.join(FIGURES)}.")
    if "comparison" in flag_values.figures and not flag_values.compare_workdir:
      raise ValueError("--figures=comparison needs --compare_workdir=<another workdir>.")
    workdir = workdir_lib.check_path(flag_values.workdir)
    config, dataset, model, backend, state = train.restore_workdir(workdir)
    workdir_lib.open_log(workdir)
    params = backend.host_state(state).params
    paths = []
    if {"samples", "reconstructions"} & set(figures):
      paths += train.write_figures(config, model, params, dataset, workdir, flag_values.num)
    key = jax.random.PRNGKey(config.seed)
    comparison = None
    if "comparison" in figures and flag_values.compare_workdir:
      _, other_data, other, other_backend, other_state = train.restore_workdir(
          flag_values.compare_workdir)
      # One key for both, so two models with the same prior decode the same z.
      sample_key = jax.random.fold_in(key, 1)
      comparison = (_samples(model, params, dataset, workdir, sample_key, flag_values.num),
                    _samples(other, other_backend.host_state(other_state).params, other_data,
                             flag_values.compare_workdir, sample_key, flag_values.num))
    paths += latent.write_latent_figures(
        model, params, dataset, workdir, jax.random.fold_in(key, 2),
        figures=[f for f in figures if f in latent.LATENT_FIGURES],
        spherical=flag_values.spherical, attribute_label=flag_values.attribute_label,
        comparison=comparison)
    for path in paths:
      print(path)


def cli(argv: list[str]) -> None:
  """The command in this process (see `common.run_in_process`)."""
  common.run_in_process(define_flags, run, argv)


def main(argv):
  del argv
  run(FLAGS)


if __name__ == "__main__":
  define_flags(FLAGS)
  app.run(main, flags_parser=common.parse_flags)
