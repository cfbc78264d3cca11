"""A user's estimator, kept outside genlatent (README: "Add a new estimator").

`single_sample`: log p(x, z) − log q(z | x) at one z ~ q(z | x), the one-sample
importance estimate; in expectation the ELBO. It serves every family that
exposes a latent variable with a proposal.
"""

import jax

from genlatent.core import ESTIMATORS, Estimator, Kind, LogLikelihood


def log_likelihood(model, params, state, x, key, num_samples) -> LogLikelihood:
  del num_samples
  latent = model.densities.latent
  q = state
  if latent.proposal is not None:
    key_q, key = jax.random.split(key)
    q = latent.proposal(params, x, key_q, state)
  values = latent.log_weights(params, x, key, 1, q)[0]
  return LogLikelihood(values, "single-sample", Kind.ESTIMATE)


ESTIMATORS.register("single_sample")(Estimator(
    needs="a latent variable with a proposal",
    supports=lambda model: model.densities.latent is not None,
    log_likelihood=log_likelihood))
