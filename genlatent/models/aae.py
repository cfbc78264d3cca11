"""Adversarial auto-encoders (Makhzani et al., 2016).

An auto-encoder whose aggregated posterior q(z) = E_x[q(z|x)] is matched to a
prior p(z) by a discriminator on codes, not by a KL term, so the prior needs only
a sampler: mixtures, a swiss roll, any registered prior. Images x are
[B, H, W, C] (or [B, D] feature rows); codes z are [B, latent_dim].

One training step is three phases on the same batch, each with its own optax
optimizer and state (`TrainState.opt_state = {'reconstruction', 'discriminator',
'generator'}`); the encoder takes part in two of them, which is why these are
three optimizers rather than one `optax.multi_transform` partition:

  1. reconstruction  encoder + decoder minimise −log p(x | z), z = enc(x), nats;
  2. discriminator   D minimises −E_p[log σ(D(z))] − E_q[log(1 − σ(D(z)))], prior
                     draws against (fixed) codes of the updated encoder;
  3. generator       the encoder minimises −E_q[log σ(D(enc(x)))] against the
                     updated D (the non-saturating GAN loss).

Posteriors (`posterior`): `deterministic` z = f(x); `gaussian` z = μ(x) + σ(x)ε;
`universal` z = f(x, η) with noise η ~ N(0, I) fed to the encoder.

Variants (`variant`):
  unsupervised  D(z) against p(z).
  labels        label-regularised: D(z, c) with c the one-hot label of the
                example (or, for the prior draws, of the component it came from),
                so class k is pushed onto component k; examples without a label
                (label −1, or outside the `label_fraction` kept) get an extra
                "unknown" slot and are matched to the whole prior. The prior
                must offer `sample_with_components` (mog, swiss_roll).
  clustering    unsupervised clustering: the encoder also outputs a K-way
                softmax y; the decoder reads [y, z]; one discriminator pushes y
                onto one-hot categorical draws, another z (the style) onto p(z).
                The y discriminator also reads the batch mean of its inputs
                (`class_batch_mean`, a minibatch feature after Salimans et al.,
                2016): a departure from the paper, because without it y
                collapsed onto one or two clusters in every run on digits.
                Clusters are scored by accuracy after the best one-to-one
                cluster-to-label matching (Hungarian).

Noise in training is per example (`genlatent.core.rng`), so a step does not
depend on how the batch is split over devices. Under `pmap` the gradients and
metrics of every phase are averaged by the update's `Collective`; under the mesh
backend the batch means already span all devices.

Evaluation: `parzen` (a kernel density on decoded samples, bandwidth chosen on
the validation split; a weak, biased estimate, kind `parzen estimate`, see
`genlatent.estimators.parzen`) always; `importance` when the decoder is
probabilistic (any likelihood but `squared_error`) and the variant is not
clustering: log (1/k) Σ p(x|z) p(z) / r(z|x) with the encoder as proposal:
r(z|x) = N(m(x), v(x) + s²) with m, v the posterior's mean and variance (v = 0
for a deterministic encoder; the moments of `proposal_draws` draws for a
universal one) and s a widening chosen on the validation split from
`PROPOSAL_SCALES` (or fixed by `proposal_scale`). An AAE's encoder is not
trained as a proposal (a Gaussian posterior's variance typically collapses), so
without s the estimate would be uselessly loose. Any proposal gives a
stochastic lower bound in expectation (kind: estimate), loose where r is poor.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genlatent import nets
from genlatent.core import MODELS, Densities, LatentVariable, Model, TrainState
from genlatent.core.collective import LOCAL, Collective
from genlatent.core import maths, rng
from genlatent.estimators import importance_sampled_log_likelihood
from genlatent.metrics import clustering_accuracy
from genlatent.nets.code_encoder import CodeEncoder
from genlatent.nets.likelihoods import Likelihood, build_likelihood
from genlatent.optimizers import make_optimizer
from genlatent.priors import PriorContext, build_prior
from genlatent.viz import latent as viz_latent
from genlatent.viz import aae as viz_aae

VARIANTS = ("unsupervised", "labels", "clustering")
POSTERIORS = ("deterministic", "gaussian", "universal")
# The optimizer groups: which top-level params each phase updates.
RECONSTRUCTION = ("encoder", "decoder")
GENERATOR = ("encoder",)
# Widenings s of the importance proposal tried on validation data, and the one
# used without validation data.
PROPOSAL_SCALES = (0.003, 0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5, 2.5)
DEFAULT_PROPOSAL_SCALE = 0.1


# ----------------------------------------------------------------------------- losses


def discriminator_loss(logits_real: jax.Array, logits_fake: jax.Array) -> jax.Array:
  """−E_p[log σ(D)] − E_q[log(1 − σ(D))], nats, from logits [B] on prior and encoder codes.

  Written with softplus (−log σ(l) = softplus(−l)), exact for large |l|. At the
  optimum D*(z) = log p(z) − log q(z) it equals log 4 − 2·JSD(p ‖ q): log 4 when
  the codes match the prior.
  """
  return jnp.mean(jax.nn.softplus(-logits_real)) + jnp.mean(jax.nn.softplus(logits_fake))


def generator_loss(logits_fake: jax.Array) -> jax.Array:
  """−E_q[log σ(D(z))], nats: the non-saturating loss the encoder minimises."""
  return jnp.mean(jax.nn.softplus(-logits_fake))


def discriminator_accuracy(logits_real: jax.Array, logits_fake: jax.Array) -> jax.Array:
  """Share of prior draws and codes that D classifies correctly (0.5 = fooled)."""
  return 0.5 * (jnp.mean(logits_real > 0) + jnp.mean(logits_fake < 0))


def squared_error(event_ndim: int) -> Likelihood:
  """A deterministic decoder trained on ½|x − out|²: not a density (no importance estimate)."""
  return Likelihood("squared_error", 1,
                    lambda x, out: -0.5 * maths.sum_event(jnp.square(x - out), event_ndim),
                    lambda out: out, discrete=False)


class AAEParts(NamedTuple):
  """The family's `Model` and the pieces tests and figures use directly.

  reconstruction_phase, discriminator_phase, generator_phase:
    (state, batch, key, collective=LOCAL) -> (state, metrics), one phase each; the
    step counter is left to `model.update`.
  encode_outputs: (params, x, key, index=None) -> dict of z [B, d] (`z`), and
    `logits` [B, K] for clustering; noise per example when `index` [B] is given.
  prior_params: params -> the prior's params within the model's.
  variant, num_classes, latent_dim, prior: the build settings.
  """

  model: Model
  reconstruction_phase: Callable
  discriminator_phase: Callable
  generator_phase: Callable
  encode_outputs: Callable
  prior_params: Callable
  variant: str
  num_classes: int
  latent_dim: int
  prior: object


@MODELS.register("aae")
def build_aae(config, data_shape) -> Model:
  """An adversarial auto-encoder from `config` (the `model` part of an experiment config).

  See `build_aae_parts` for the fields.
  """
  return build_aae_parts(config, data_shape).model


def build_aae_parts(config, data_shape) -> AAEParts:
  """The AAE family: its `Model` and its phases.

  Config fields: latent_dim; posterior (deterministic | gaussian | universal) and
  noise_dim; encoder_type/decoder_type (mlp | conv) with encoder_hidden,
  decoder_hidden (mlp) or conv_features, conv_dense (conv); activation;
  discriminator_hidden; likelihood (bernoulli | gaussian | gaussian_learned |
  discretized_logistic | squared_error) and likelihood_config; prior (a
  registered name) and prior_config (its params are held fixed); variant
  (unsupervised | labels | clustering) with num_classes, label_fraction and
  label_seed (labels: which training rows keep their label, a pure function of
  the row index); class_batch_mean (clustering: the y discriminator also reads
  the batch mean of y); optimizers.{reconstruction, discriminator, generator} (see
  `make_optimizer`); proposal_scale (0: chosen on validation), proposal_draws,
  proposal_validation_examples, chunk_size (importance).
  """

  data_shape = tuple(data_shape)
  event_ndim = len(data_shape)
  latent_dim = int(config.latent_dim)
  variant = config.variant
  if variant not in VARIANTS:
    raise ValueError(f"Unknown AAE variant {variant!r}. Known: {', '.join(VARIANTS)}.")
  posterior = config.posterior
  if posterior not in POSTERIORS:
    raise ValueError(f"Unknown AAE posterior {posterior!r}. Known: {', '.join(POSTERIORS)}.")
  num_classes = int(config.num_classes)
  label_fraction = float(config.label_fraction)
  label_key = jax.random.PRNGKey(int(config.label_seed))
  noise_dim = int(config.noise_dim) if posterior == "universal" else 0
  likelihood_name = config.likelihood
  likelihood = (squared_error(event_ndim) if likelihood_name == "squared_error"
                else build_likelihood(likelihood_name, event_ndim, config.likelihood_config))
  probabilistic = likelihood_name != "squared_error"
  out_shape = data_shape[:-1] + (data_shape[-1] * likelihood.params_per_channel,)
  clustering = variant == "clustering"
  class_batch_mean = bool(config.class_batch_mean)
  code_dim = latent_dim + (num_classes if clustering else 0)
  fixed_scale = float(config.proposal_scale)
  proposal_draws = int(config.proposal_draws)
  proposal_validation_examples = int(config.proposal_validation_examples)
  chunk_size = int(config.chunk_size)

  encoder = CodeEncoder(posterior, latent_dim, config.encoder_type, tuple(config.encoder_hidden),
                        tuple(config.conv_features), config.conv_dense, config.activation,
                        num_classes if clustering else 0)
  decoder = nets.build_decoder(config, out_shape)
  disc_hidden = tuple(config.discriminator_hidden)
  discriminator = nets.Discriminator(disc_hidden, config.activation)
  disc_groups = ("discriminator", "class_discriminator") if clustering else ("discriminator",)

  def encode_gaussian(encoder_params, x):
    out = encoder.apply({"params": encoder_params}, x)
    return out["mean"], out["log_var"]

  gaussian_context = posterior == "gaussian" and not clustering
  prior = build_prior(config.prior, latent_dim, config.prior_config,
                      PriorContext(data_shape, encode_gaussian if gaussian_context else None))
  prior_config = config.prior_config
  if variant == "labels":
    if prior.sample_with_components is None:
      raise ValueError(f"The label-regularised AAE needs a prior made of components "
                       f"(`sample_with_components`); {config.prior!r} has none. "
                       "Use prior='swiss_roll' or 'mog'.")
    components = prior_config.get("num_components", None) if prior_config else None
    if components is not None and int(components) != num_classes:
      raise ValueError(f"The label-regularised AAE maps each of num_classes={num_classes} "
                       f"labels to one prior component; the prior has {components}.")

  optimizer_config = config.optimizers
  txs = {"reconstruction": make_optimizer(optimizer_config.reconstruction),
         "discriminator": make_optimizer(optimizer_config.discriminator),
         "generator": make_optimizer(optimizer_config.generator)}
  groups = {"reconstruction": RECONSTRUCTION, "discriminator": disc_groups,
            "generator": GENERATOR}

  # --------------------------------------------------------------------------- pieces

  def prior_params(params):
    if prior.uses_encoder:
      return dict(params["prior"], encoder=params["encoder"])
    return params["prior"]

  def encode_outputs(params, x, key=None, index=None):
    """{'z' [B, d], 'logits' [B, K] (clustering), 'mean', 'log_var' (Gaussian)}.

    Noise (η for a universal posterior, ε for a Gaussian one) is a function of
    (key, index[b]) per example when `index` is given, else of the key and the
    batch position; with no key the codes are noise-free (η = 0, z = mean).
    """
    b = x.shape[0]
    if key is None:
      draw = lambda k, shape: jnp.zeros((b,) + shape)
    elif index is None:
      draw = lambda k, shape: jax.random.normal(k, (b,) + shape)
    else:
      draw = lambda k, shape: rng.example_normal(k, index, shape)
    key_eta, key_eps = jax.random.split(key) if key is not None else (None, None)
    noise = draw(key_eta, (noise_dim,)) if posterior == "universal" else None
    out = dict(encoder.apply({"params": params["encoder"]}, x, noise))
    z = out["mean"]
    if posterior == "gaussian":
      z = z + jnp.exp(0.5 * out["log_var"]) * draw(key_eps, (latent_dim,))
    out["z"] = z
    return out

  def code_of(outputs):
    """[B, code_dim]: what the decoder reads ([softmax y, z] for clustering)."""
    if clustering:
      return jnp.concatenate([jax.nn.softmax(outputs["logits"]), outputs["z"]], axis=-1)
    return outputs["z"]

  def decoder_out(params, code):
    return decoder.apply({"params": params["decoder"]}, code)

  def per_example_prior(params, key, index):
    """Prior draws [B, d] and their components [B] (or None), one key per example."""
    keys = rng.example_keys(key, index)
    pp = prior_params(params)
    if variant == "labels":
      z, k = jax.vmap(lambda kk: prior.sample_with_components(pp, kk, 1))(keys)
      return z[:, 0], k[:, 0]
    return jax.vmap(lambda kk: prior.sample(pp, kk, 1)[0])(keys), None

  def is_labelled(batch):
    """[B] bool: the example's label is known and among the `label_fraction` kept."""
    u = jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(label_key, i)))(batch["index"])
    return (batch["label"] >= 0) & (u < label_fraction)

  def conditions(batch, components):
    """(real [B, K+1], fake [B, K+1]) one-hot conditions of the label-regularised D."""
    known = is_labelled(batch)
    unknown = jnp.full_like(batch["label"], num_classes)
    fake = jax.nn.one_hot(jnp.where(known, batch["label"], unknown), num_classes + 1)
    real = jax.nn.one_hot(jnp.where(known, components, unknown), num_classes + 1)
    return real, fake

  def batch_mean(y, collective):
    """[B, K] the batch mean of y [B, K], over every device, broadcast to each row."""
    return jnp.broadcast_to(collective.mean(jnp.mean(y, axis=0)), y.shape)

  def adversarial_logits(params, outputs, batch, key, collective=LOCAL):
    """{name: (logits_real [B], logits_fake [B])} for each discriminator."""
    z_prior, components = per_example_prior(params, key, batch["index"])
    apply = lambda name, *args: discriminator.apply({"params": params[name]}, *args)
    if variant == "labels":
      real_c, fake_c = conditions(batch, components)
      return {"discriminator": (apply("discriminator", z_prior, real_c),
                                apply("discriminator", outputs["z"], fake_c))}
    out = {"discriminator": (apply("discriminator", z_prior), apply("discriminator", outputs["z"]))}
    if clustering:
      keys = rng.example_keys(jax.random.fold_in(key, 1), batch["index"])
      y_prior = jax.nn.one_hot(
          jax.vmap(lambda kk: jax.random.randint(kk, (), 0, num_classes))(keys), num_classes)
      y = jax.nn.softmax(outputs["logits"])
      if class_batch_mean:  # D(y, mean y) sees a collapse onto a few classes at once
        out["class_discriminator"] = (
            apply("class_discriminator", y_prior, batch_mean(y_prior, collective)),
            apply("class_discriminator", y, batch_mean(y, collective)))
      else:
        out["class_discriminator"] = (apply("class_discriminator", y_prior),
                                      apply("class_discriminator", y))
    return out

  def subset(params, names):
    return {n: params[n] for n in names}

  def apply_phase(state, name, grads, collective):
    """Applies the phase's optimizer to its group; returns the new state."""
    grads = collective.mean(grads)
    group = subset(state.params, groups[name])
    updates, opt = txs[name].update(grads, state.opt_state[name], group)
    params = dict(state.params, **optax.apply_updates(group, updates))
    return state.replace(params=params, opt_state=dict(state.opt_state, **{name: opt}))


  # --------------------------------------------------------------------------- phases

  def reconstruction_phase(state, batch, key, collective: Collective = LOCAL):
    """Encoder and decoder take one step on −log p(x|z), nats per example."""

    def loss(group):
      params = dict(state.params, **group)
      outputs = encode_outputs(params, batch["x"], key, batch["index"])
      log_px = likelihood.log_prob(batch["x"], decoder_out(params, code_of(outputs)))
      return -jnp.mean(log_px)

    value, grads = jax.value_and_grad(loss)(subset(state.params, RECONSTRUCTION))
    state = apply_phase(state, "reconstruction", grads, collective)
    return state, collective.mean({"reconstruction_loss": value, "recon": -value})

  def discriminator_phase(state, batch, key, collective: Collective = LOCAL):
    """Each discriminator takes one step: prior draws against the encoder's codes."""
    key_codes, key_prior = jax.random.split(key)
    outputs = jax.lax.stop_gradient(encode_outputs(state.params, batch["x"], key_codes,
                                                   batch["index"]))

    def loss(group):
      params = dict(state.params, **group)
      logits = adversarial_logits(params, outputs, batch, key_prior, collective)
      losses = {n: discriminator_loss(*lf) for n, lf in logits.items()}
      return sum(losses.values()), (losses, logits)

    (_, (losses, logits)), grads = jax.value_and_grad(loss, has_aux=True)(
        subset(state.params, disc_groups))
    state = apply_phase(state, "discriminator", grads, collective)
    metrics = {}
    for n, value in losses.items():
      metrics[f"{n}_loss"] = value
      metrics[f"{n}_accuracy"] = discriminator_accuracy(*logits[n])
    return state, collective.mean(metrics)

  def generator_phase(state, batch, key, collective: Collective = LOCAL):
    """The encoder takes one step at fooling the (just updated) discriminators."""
    key_codes, key_prior = jax.random.split(key)

    def loss(group):
      params = dict(state.params, **group)
      outputs = encode_outputs(params, batch["x"], key_codes, batch["index"])
      logits = adversarial_logits(params, outputs, batch, key_prior, collective)
      losses = {n: generator_loss(lf[1]) for n, lf in logits.items()}
      return sum(losses.values()), losses

    (_, losses), grads = jax.value_and_grad(loss, has_aux=True)(subset(state.params, GENERATOR))
    state = apply_phase(state, "generator", grads, collective)
    names = {"discriminator": "generator_loss", "class_discriminator": "class_generator_loss"}
    return state, collective.mean({names[n]: v for n, v in losses.items()})

  def update(state, batch, key, collective: Collective = LOCAL):
    """One AAE step: reconstruction, then discriminator(s), then encoder as generator.

    Metrics (per-example means, nats where they are log-probabilities): recon
    (log p(x|z)), reconstruction_loss, discriminator_loss/accuracy,
    generator_loss (and class_* for clustering); loss is reconstruction_loss.
    """
    key_r, key_d, key_g = jax.random.split(key, 3)
    state, m_r = reconstruction_phase(state, batch, key_r, collective)
    state, m_d = discriminator_phase(state, batch, key_d, collective)
    state, m_g = generator_phase(state, batch, key_g, collective)
    metrics = {**m_r, **m_d, **m_g, "loss": m_r["reconstruction_loss"]}
    return state.replace(step=state.step + 1), metrics

  # --------------------------------------------------------------------------- contract

  def init(key, x_example):
    keys = jax.random.split(key, 5)
    noise = jnp.zeros((x_example.shape[0], noise_dim)) if posterior == "universal" else None
    params = {"encoder": encoder.init(keys[0], x_example, noise)["params"],
              "decoder": decoder.init(keys[1], jnp.zeros((1, code_dim)))["params"],
              "prior": prior.init(keys[3])}
    condition = jnp.zeros((1, num_classes + 1)) if variant == "labels" else None
    params["discriminator"] = discriminator.init(keys[2], jnp.zeros((1, latent_dim)),
                                                 condition)["params"]
    if clustering:
      params["class_discriminator"] = discriminator.init(
          keys[4], jnp.zeros((1, num_classes)),
          jnp.zeros((1, num_classes)) if class_batch_mean else None)["params"]
    return params

  def init_state(key, params, x_train):
    """Fresh optimizer states for the three phases (the data are not needed)."""
    del key, x_train
    opt_state = {name: txs[name].init(subset(params, groups[name])) for name in txs}
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state,
                      extra={})

  def decode(params, code):
    """[B, *data_shape] mean of p(x | code) for codes [B, code_dim]."""
    return likelihood.mean(decoder_out(params, code))

  def encode(params, x, key=None):
    """[B, code_dim] codes: the posterior mean (with encoder noise drawn from `key` for a
    universal posterior); for clustering [softmax y, z]."""
    outputs = encode_outputs(params, x, key if posterior == "universal" else None)
    return code_of(outputs)

  def reconstruct(params, x, key=None):
    return decode(params, encode(params, x, key))

  def prior_codes(params, key, n):
    """[n, code_dim] draws of the generative model's code (uniform class for clustering)."""
    key_z, key_y = jax.random.split(key)
    z = prior.sample(prior_params(params), key_z, n)
    if clustering:
      y = jax.nn.one_hot(jax.random.randint(key_y, (n,), 0, num_classes), num_classes)
      return jnp.concatenate([y, z], axis=-1)
    return z

  def sample(params, key, n):
    """[n, *data_shape]: the mean of p(x | z) for z ~ p(z) (mean images, as figures show)."""
    return decode(params, prior_codes(params, key, n))

  def proposal(params, x, key, state):
    """(mean, log_var) [B, d] of the Gaussian importance proposal r(z | x).

    The encoder's own spread (σ(x)² of a Gaussian posterior, the variance of
    `proposal_draws` draws of a universal one, 0 for a deterministic one) plus
    s² (`state['scale']`, see `fit_proposal`): an AAE's posterior is not trained
    to cover p(z|x) and is often far narrower, which would make the estimate
    uselessly loose.
    """
    if posterior == "universal":
      draws = jax.vmap(lambda k: encode_outputs(params, x, k)["z"])(
          jax.random.split(key, proposal_draws))  # [M, B, d]
      mean, var = draws.mean(0), draws.var(0)
    else:
      out = encoder.apply({"params": params["encoder"]}, x)
      mean = out["mean"]
      var = jnp.exp(out["log_var"]) if posterior == "gaussian" else jnp.zeros_like(mean)
    return mean, jnp.log(var + jnp.square(state["scale"]))

  def log_weights(params, x, key, n, q):
    """[n, B] log p(x|z) + log p(z) − log r(z|x) for z ~ r(z|x), q = (mean, log_var)."""
    mean, log_var = q
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, (n,) + mean.shape)
    return (likelihood.log_prob(x, decoder_out(params, z))
            + prior.log_prob(prior_params(params), z)
            - maths.diag_gaussian_log_prob(z, mean, log_var))

  def importance_estimate(params, x, key, scale, num_samples):
    """[B] importance-sampled log p(x) with proposal widening `scale`, nats."""
    key_proposal, key_samples = jax.random.split(key)
    q = proposal(params, x, key_proposal, {"scale": scale})
    return importance_sampled_log_likelihood(
        functools.partial(log_weights, params, x, q=q), key_samples, num_samples, chunk_size)

  def fit_proposal(params, key, validation_x, num_samples):
    """({'scale': s}, report): the proposal widening s with the highest mean
    validation estimate, or the configured `proposal_scale`.

    Every s gives a valid estimate (a stochastic lower bound in expectation),
    so picking s on validation data keeps the test estimate honest.
    """
    if fixed_scale or validation_x is None or len(validation_x) == 0:
      scale = fixed_scale or DEFAULT_PROPOSAL_SCALE
      return {"scale": jnp.float32(scale)}, {"proposal_scale": scale}
    k = min(num_samples, 100)
    x_val = jnp.asarray(validation_x[:proposal_validation_examples])
    mean_estimate = jax.jit(lambda scale: jnp.mean(importance_estimate(params, x_val, key,
                                                                       scale, k)))
    grid = [float(s) for s in PROPOSAL_SCALES]
    scores = [float(mean_estimate(jnp.float32(s))) for s in grid]
    best = int(np.nanargmax(scores))
    return {"scale": jnp.float32(grid[best])}, {
        "proposal_scale": grid[best], "proposal_scale_grid": grid,
        f"validation_mean_nats_importance_{k}": scores,
        "proposal_validation_examples": int(x_val.shape[0])}

  def diagnostics(params, x, key):
    """Per-example log p(x|z) at the posterior mean code, nats: {'recon': [B]}."""
    return {"recon": likelihood.log_prob(x, decoder_out(params, encode(params, x, key)))}

  def cluster_of(params, x, key=None):
    return jnp.argmax(encode_outputs(params, x)["logits"], axis=-1)

  def split_metrics(params, key, dataset, split):
    """Clustering accuracy of the split's labels (Hungarian matching), host floats."""
    data = getattr(dataset, split)
    clusters = viz_latent.encode_split(cluster_of, params, data.x, key)
    return {f"clustering_{k}": v for k, v in
            clustering_accuracy(data.labels, clusters, num_classes).items()}

  def figures(params, key, workdir, dataset=None):
    """Codes over the prior's density, and class × style grids (see `genlatent.viz.aae`)."""
    return viz_aae.write_figures(parts, params, key, workdir, dataset)

  # Importance sampling needs a density on the codes: not the clustering
  # variant's (a categorical beside the style code) nor an implicit prior's.
  latent = (LatentVariable(
      log_weights=log_weights, proposal=proposal, fit_proposal=fit_proposal,
      chunk_size=chunk_size,
      prior_log_prob=lambda params, z: prior.log_prob(prior_params(params), z),
      decoder_log_prob=lambda params, x, z: likelihood.log_prob(x, decoder_out(params, z)),
      prior_sample=prior_codes, ais_schedule=config.ais_schedule,
      ais_leapfrog_steps=int(config.ais_leapfrog_steps),
      decoder_sample=lambda params, z, key: likelihood.sample(decoder_out(params, z), key))
            if probabilistic and not clustering else None)
  model = Model(name="aae", init=init, update=update, init_state=init_state,
                densities=Densities(latent=latent), sample=sample,
                encode=encode, decode=decode, reconstruct=reconstruct, diagnostics=diagnostics,
                figures=figures,
                split_metrics=split_metrics if clustering else None,
                discrete=likelihood.discrete)
  # `figures` reads `parts` when called, after this assignment.
  parts = AAEParts(model, reconstruction_phase, discriminator_phase, generator_phase,
                   encode_outputs, prior_params, variant, num_classes, latent_dim, prior)
  return parts
