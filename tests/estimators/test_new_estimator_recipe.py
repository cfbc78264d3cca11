"""README's "Add a new estimator" recipe: an estimator in a user's module, named in
`config.imports`, scores two different families by name through the trainer."""

import json
import sys

import pytest

from configs import ae as ae_config
from configs import vae as vae_config
from genlatent import estimators, train
from genlatent.core import ESTIMATORS


USER_MODULE = "tests.estimators.user_package.single_sample"


@pytest.fixture(scope="module", autouse=True)
def _forget_the_user_estimator():
  """Other tests list the estimators a model supports: leave the registry as found."""
  yield
  ESTIMATORS.unregister("single_sample")
  sys.modules.pop(USER_MODULE, None)


@pytest.mark.parametrize("config_module", [vae_config, ae_config], ids=["vae", "ae"])
def test_a_user_estimator_scores_two_families_by_name(tmp_path, config_module):
  config = config_module.get_config("smoke")
  config.imports = (USER_MODULE,)
  config.update(num_steps=4, log_every=2, checkpoint_every=4, eval_every=0)
  config.eval.estimators = "single_sample:1,importance:200"
  train.train_and_evaluate(config, str(tmp_path))

  assert "single_sample" in ESTIMATORS
  rows = {r["estimator"]: r for r in
          json.loads((tmp_path / "eval.json").read_text())["splits"]["test"]}
  one, many = rows["single-sample"], rows["importance-200"]
  assert one["kind"] == "estimate" and one["count"] == many["count"]
  # One sample is the ELBO in expectation: looser than 200 by a clear margin.
  assert one["mean_nats"] < many["mean_nats"] - 3 * one["stderr_nats"]


def test_an_estimator_a_family_cannot_serve_fails_with_what_it_needs():
  import jax
  import jax.numpy as jnp
  from genlatent.models import build_model
  from configs import gmm as gmm_config

  model = build_model(gmm_config.get_config("smoke").model, (4,))
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((2, 4)))
  with pytest.raises(ValueError, match="Estimator 'importance' needs a joint log p\\(x, z\\) "
                     "with a proposal.*Estimators for this model: elbo, exact, parzen"):
    estimators.log_likelihood(model, params, jnp.zeros((2, 4)), jax.random.PRNGKey(0),
                              estimator="importance", num_samples=5)
