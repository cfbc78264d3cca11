"""Every VAE model field README documents is declared in configs/vae.py and can be set
from the command line (`--config.model.<field>=...`), building a model that trains."""

import pathlib
import re

import jax
import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

from genlatent.models import build_model

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SHAPE = (8, 8, 1)


def documented_vae_fields() -> set[str]:
  """The backticked names in README's VAE model-field table (both columns)."""
  text = README.read_text(encoding="utf-8")
  section = text.split("## VAE family\n", 1)[1].split("\n## ", 1)[0]
  table = [line for line in section.splitlines() if line.startswith("| `")]
  return {name for row in table for name in re.findall(r"`([a-z_0-9.]+)`", row)}


def parse(*overrides):
  """The config `experiments.train` would get from these command-line flags."""
  argv = ["train", "--config=configs/vae.py:smoke", *overrides]
  values = flags.FlagValues()
  # The --config.* override flags are read from `sys_argv` (sys.argv in a real run).
  config_flags.DEFINE_config_file("config", None, "", flag_values=values, lock_config=True,
                                  sys_argv=argv)
  values(argv)
  return values.config


def test_every_documented_field_is_declared():
  model = parse().model
  fields = {f for f in documented_vae_fields() if not f.startswith(("mlp", "conv"))}
  # Values (e.g. `bernoulli`) sit in the table too; only names of fields count.
  values = {"bernoulli", "gaussian", "gaussian_learned", "discretized_logistic", "elbo", "iwae",
            "standard_normal", "diagonal_gaussian", "mog", "vamp", "laplace"}
  missing = []
  for name in sorted(fields - values):
    target = model
    for part in name.split("."):
      if part not in target:
        missing.append(name)
        break
      target = target[part]
  assert not missing, f"README documents model fields configs/vae.py does not declare: {missing}"


@pytest.mark.parametrize("overrides", [
    ("--config.model.encoder_type=conv", "--config.model.decoder_type=conv",
     "--config.model.conv_features=(4,8)", "--config.model.conv_dense=16"),
    ("--config.model.likelihood=gaussian", "--config.model.likelihood_config.scale=0.2"),
    ("--config.model.likelihood=gaussian_learned",),
    ("--config.model.likelihood=discretized_logistic",
     "--config.model.likelihood_config.num_bins=17"),
    ("--config.model.objective=iwae", "--config.model.num_train_samples=3"),
    ("--config.model.beta=0.5", "--config.model.kl_warmup_steps=100"),
    ("--config.model.stochastic_layers=2", "--config.model.latent_dim_1=4",
     "--config.model.hidden_2=(8,)"),
    ("--config.model.prior=mog",),
    ("--config.model.prior=vamp",),
    ("--config.model.prior=laplace",),
    ("--config.model.prior=diagonal_gaussian",),
], ids=lambda o: " ".join(a.removeprefix("--config.model.") for a in o))
def test_a_documented_override_builds_a_model_that_trains(overrides):
  config = parse(*overrides)
  for flag in overrides:  # each override took effect
    name, value = flag.removeprefix("--config.").split("=")
    target = config
    for part in name.split("."):
      target = target[part]
    assert str(target).replace(" ", "") == value, (name, target)
  model = build_model(config.model, SHAPE)
  x = (jax.random.uniform(jax.random.PRNGKey(0), (4,) + SHAPE) < 0.5).astype(np.float32)
  batch = {"x": x, "mask": np.ones(4, np.float32), "index": np.arange(4), "label": np.zeros(4)}
  params = model.init(jax.random.PRNGKey(1), x)
  (loss, _), grads = jax.value_and_grad(model.loss, has_aux=True)(
      params, batch, jax.random.PRNGKey(2), 0)
  assert np.isfinite(float(loss))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
