"""RAISE against brute force on a tiny Boltzmann family (DBN, DBM): shared by their tests."""

import jax
import jax.numpy as jnp
import numpy as np

from genlatent import estimators


def check_raise_against_brute_force(make_model, params, states, log_p):
  """With 1000 steps and 1024 chains RAISE is within 0.1 nats of exact log p(v) on 5
  states. Over every state v, weighted by p(v), it is low: E_p[RAISE − log p] =
  −KL(p ‖ p_ann) − (Jensen gap) ≤ 0, clearly so with 5 steps.

  Args:
    make_model: (ais_schedule=...) -> the family's Model over [V, 1, 1] examples.
    states: [2^V, V] every visible state; log_p: [2^V] their exact log p(v).
  """
  x = jnp.asarray(states, jnp.float32).reshape(states.shape + (1, 1))

  def errors(schedule, num_chains, seeds, rows=slice(None)):
    model = make_model(ais_schedule=schedule)
    run = jax.jit(lambda p, x, k: estimators.resolve("raise", model).log_likelihood(
        model, p, None, x, k, num_chains))
    results = [run(params, x[rows], jax.random.PRNGKey(seed)) for seed in range(seeds)]
    assert results[0].estimator == f"raise-{num_chains}x{schedule.split(':')[1]}"
    assert results[0].kind.value == "estimate"
    return np.stack([np.asarray(r.values) for r in results]).mean(axis=0) - log_p[rows]

  close = errors("linear:1000", 1024, 1, rows=np.array([0, 5, 17, 40, 63]))
  assert np.abs(close).max() < 0.1, close
  expected_long = np.exp(log_p) @ errors("linear:1000", 64, 1)
  expected_short = np.exp(log_p) @ errors("linear:5", 4, 4)
  assert expected_short < -0.1 and expected_short < expected_long <= 0.005, (
      expected_short, expected_long)
