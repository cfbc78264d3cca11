"""Plain auto-encoder baseline (same nets as configs/vae.py), sampled through a GMM on codes.

Variants: digits (default), fashion_mnist, mnist (tfds), smoke.
Run:
  python -m experiments.train --config=configs/ae.py:digits --workdir=runs/ae_digits
Its log-likelihood is an importance-sampled estimate with proposal N(f(x), s²I) and the
code GMM as p(z) (see genlatent/models/ae.py): usually far looser than the VAE's.
"""

import ml_collections

from configs import gmm as gmm_config
from configs import vae as vae_config


def get_config(arg: str = "digits"):
  config = vae_config.get_config(arg or "digits")
  model = config.model
  # The code density is a 'gmm' model (its fields and defaults: configs/gmm.py).
  code_density = gmm_config.get_config().model
  code_density.update(num_components=2 if arg == "smoke" else 10, covariance_type="full",
                      reg_covar=1e-4, training="em")
  code_density.em_iterations = 5 if arg == "smoke" else 100
  config.model = ml_collections.ConfigDict(dict(
      name="ae", latent_dim=model.latent_dim, encoder_hidden=model.encoder_hidden,
      decoder_hidden=model.decoder_hidden, activation=model.activation,
      encoder_type=model.encoder_type, decoder_type=model.decoder_type,
      conv_features=model.conv_features, conv_dense=model.conv_dense,
      likelihood="bernoulli", likelihood_config=model.likelihood_config,
      proposal_scale=0.1, chunk_size=model.chunk_size,
      ais_schedule=model.ais_schedule, ais_leapfrog_steps=model.ais_leapfrog_steps,
      code_density=code_density))
  config.eval.estimators = ("importance:20" if arg == "smoke" else "importance:1000")
  # No periodic validation likelihood: it needs the code density, fitted only at the end.
  config.eval_every = 0
  return config
