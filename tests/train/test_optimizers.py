import ml_collections
import numpy as np
import pytest

from genlatent import optimizers


def test_iwae_schedule_rates_and_length():
  config = ml_collections.ConfigDict(dict(name="adam", learning_rate=1e-3, schedule="iwae",
                                          steps_per_epoch=10, num_passes=8))
  lr = optimizers.learning_rate_schedule(config)
  # Pass i covers epochs [Σ_{j<i} 3^j, Σ_{j≤i} 3^j) at 1e-3 · 10^(−i/7).
  for i, first_epoch in enumerate((0, 1, 4, 13, 40, 121, 364, 1093)):
    np.testing.assert_allclose(lr(first_epoch * 10), 1e-3 * 10 ** (-i / 7), rtol=1e-5)
  assert optimizers.iwae_schedule_steps(10) == 3280 * 10


def test_unknown_optimizer_and_schedule():
  with pytest.raises(ValueError, match="Known: adam, adamw, sgd, rmsprop"):
    optimizers.make_optimizer(ml_collections.ConfigDict(dict(name="lion", learning_rate=1.0)))
  with pytest.raises(ValueError, match="Known: constant, iwae"):
    optimizers.make_optimizer(ml_collections.ConfigDict(
        dict(name="adam", learning_rate=1.0, schedule="cosine")))
