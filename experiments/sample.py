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
from absl import app, flags, logging

from experiments import common
from genlatent import train
from genlatent.viz import latent

FIGURES = ("samples",) + latent.LATENT_FIGURES

flags.DEFINE_string("workdir", None, "A workdir written by experiments.train.")
flags.DEFINE_integer("num", 100, "How many samples to draw.")
flags.DEFINE_list("figures", ["all"], f"'all' or a comma list of: {', '.join(FIGURES)}.")
flags.DEFINE_string("compare_workdir", None,
                    "Another trained workdir whose samples go beside this one's in "
                    "samples_comparison.png (e.g. an AE next to a VAE).")
flags.DEFINE_bool("spherical", False, "Interpolate along great circles (slerp), not lines.")
flags.DEFINE_integer("attribute_label", None,
                     "Label whose mean-code vector the attribute figure adds; "
                     "default the smallest test label.")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def _samples(model, params, dataset, workdir: str, key, num: int):
  """(title, [num, H, W, C] sample images) of a workdir's model."""
  if model.sample is None:
    raise ValueError(f"The {model.name!r} model in {workdir} cannot sample.")
  samples = np.asarray(jax.jit(model.sample, static_argnums=2)(params, key, num))
  return (f"{model.name} ({os.path.basename(os.path.normpath(workdir))})",
          dataset.to_images(samples))


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  with common.clear_errors():
    figures = list(FIGURES) if FLAGS.figures == ["all"] else FLAGS.figures
    unknown = sorted(set(figures) - set(FIGURES) - {"reconstructions"})
    if unknown:
      raise ValueError(f"Unknown figure(s) {', '.join(unknown)}. Known: all, "
                       f"{', '.join(FIGURES)}.")
    if "comparison" in FLAGS.figures and not FLAGS.compare_workdir:
      raise ValueError("--figures=comparison needs --compare_workdir=<another workdir>.")
    config, dataset, model, backend, state = train.restore_workdir(FLAGS.workdir)
    params = backend.host_state(state).params
    paths = []
    if {"samples", "reconstructions"} & set(figures):
      paths += train.write_figures(config, model, params, dataset, FLAGS.workdir, FLAGS.num)
    key = jax.random.PRNGKey(config.seed)
    comparison = None
    if "comparison" in figures and FLAGS.compare_workdir:
      _, other_data, other, other_backend, other_state = train.restore_workdir(
          FLAGS.compare_workdir)
      # One key for both, so two models with the same prior decode the same z.
      sample_key = jax.random.fold_in(key, 1)
      comparison = (_samples(model, params, dataset, FLAGS.workdir, sample_key, FLAGS.num),
                    _samples(other, other_backend.host_state(other_state).params, other_data,
                             FLAGS.compare_workdir, sample_key, FLAGS.num))
    paths += latent.write_latent_figures(
        model, params, dataset, FLAGS.workdir, jax.random.fold_in(key, 2),
        figures=[f for f in figures if f in latent.LATENT_FIGURES],
        spherical=FLAGS.spherical, attribute_label=FLAGS.attribute_label,
        comparison=comparison)
    for path in paths:
      print(path)


if __name__ == "__main__":
  app.run(main)
