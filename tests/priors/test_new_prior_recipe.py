"""The README's "new prior" recipe: a registered prior (`laplace.py`) is usable by name
from both a VAE and an AAE config, through the common trainer."""

import json

import jax
import numpy as np
import pytest

from configs import aae as aae_config
from configs import vae as vae_config
from genlatent import train


@pytest.mark.slow
@pytest.mark.parametrize("family", ["vae", "aae"])
def test_a_registered_prior_trains_in_both_families(tmp_path, family):
  config = (vae_config if family == "vae" else aae_config).get_config("smoke")
  config.model.prior = "laplace"  # as --config.model.prior=laplace on the command line
  config.update(num_steps=5, batch_size=40, log_every=1, checkpoint_every=5, eval_every=0,
                final_evaluation=False)
  config.data.validation_size = 197  # 1240 train rows: divisible by 8 devices and 40
  _, _, initial, _ = train.setup(config)
  final = train.train_and_evaluate(config, str(tmp_path))

  rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  losses = [r["loss"] for r in rows if r["split"] == "train"]
  assert len(losses) == 5 and np.all(np.isfinite(losses))
  moved = [not np.allclose(a, b) for a, b in
           zip(jax.tree.leaves(initial.params), jax.tree.leaves(final.params))]
  assert int(final.step) == 5 and sum(moved) >= len(moved) // 2
  # The encoder and the decoder both moved (the Laplace prior has no params).
  for name in ("encoder", "decoder"):
    assert any(not np.allclose(a, b) for a, b in
               zip(jax.tree.leaves(initial.params[name]), jax.tree.leaves(final.params[name])))
