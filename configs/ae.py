"""Plain auto-encoder baseline (same nets as configs/vae.py), sampled through a GMM on codes.

Variants: digits (default), fashion_mnist, mnist (tfds), smoke.
Run:
  python -m experiments.train --config=configs/ae.py:digits --workdir=runs/ae_digits
Its log-likelihood is an importance-sampled estimate with proposal N(f(x), s²I) and the
code GMM as p(z) (see genlatent/models/ae.py): usually far looser than the VAE's.
"""

import ml_collections

from configs import vae as vae_config


def get_config(arg: str = "digits"):
  config = vae_config.get_config(arg or "digits")
  model = config.model
  config.model = ml_collections.ConfigDict(dict(
      name="ae", latent_dim=model.latent_dim, encoder_hidden=model.encoder_hidden,
      decoder_hidden=model.decoder_hidden, activation=model.activation,
      encoder_type=model.get("encoder_type", "mlp"), decoder_type=model.get("decoder_type", "mlp"),
      likelihood="bernoulli", proposal_scale=0.1, chunk_size=model.chunk_size,
      code_density=ml_collections.ConfigDict(dict(
          num_components=2 if arg == "smoke" else 10, covariance_type="full",
          em_iterations=5 if arg == "smoke" else 100))))
  config.eval.estimators = ("importance:20" if arg == "smoke" else "importance:1000")
  # No periodic validation likelihood: it needs the code density, fitted only at the end.
  config.eval_every = 0
  return config
