"""`train_and_evaluate(config, workdir)`: the one training loop every family uses."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.metadata
import logging
import os
import platform
import signal
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm

from genlatent import data as data_lib
from genlatent import models as models_lib
from genlatent import viz
from genlatent import estimators as estimators_lib
from genlatent.core import ESTIMATORS, Model, TrainState
from genlatent.core.collective import LOCAL, Collective
from genlatent.train import evaluation, metrics as metrics_lib, parallel
from genlatent.train import workdir as workdir_lib
from genlatent.train.checkpoint import Checkpointer, saved_steps
from genlatent.train.metrics import MetricWriter
from genlatent.optimizers import make_optimizer

log = logging.getLogger(__name__)

PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "ml-collections",
            "tensorflow-datasets", "grain", "numpy", "scikit-learn")


class NonFiniteError(FloatingPointError):
  """A training metric or the params became NaN/Inf."""


class Interrupted(Exception):
  """Training stopped on SIGTERM/SIGINT after saving a checkpoint; rerun to resume."""

  def __init__(self, signum: int, step: int, directory: str):
    super().__init__(f"Stopped by signal {signum} after step {step}; the checkpoint is in "
                     f"{directory}. Run the same command again to resume.")
    self.signum, self.step = signum, step


def _backend(config):
  return parallel.make_backend(config.get("parallelism", "mesh"), config.get("num_devices", 0))


def gradient_update(loss_fn, tx: optax.GradientTransformation):
  """A family's `loss` turned into `update(state, batch, key, collective=LOCAL)`.

  Under `pmap` the gradients and metrics are averaged by the collective; under
  the mesh backend the batch mean in `loss_fn` already spans every device.
  """

  def update(state: TrainState, batch, key, collective: Collective = LOCAL):
    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, batch, key, state.step)
    grads, metrics = collective.mean((grads, dict(metrics, loss=loss)))
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return update


def _keys(config):
  root = jax.random.PRNGKey(config.seed)
  names = ("init", "train", "data", "eval", "sample")
  return dict(zip(names, jax.random.split(root, len(names))))


def setup(config: ml_collections.ConfigDict):
  """Data, model, initial state and the family's update function for `config`.

  Returns:
    (dataset, model, initial host TrainState, update(state, batch, key, collective=LOCAL)).
  """
  # Modules named in `config.imports` register user models, priors or data sources.
  for module in config.get("imports", ()):
    importlib.import_module(module)
  dataset = data_lib.load_dataset(config.data)
  model = models_lib.build_model(config.model, dataset.shape)
  keys = _keys(config)
  x_example = dataset.train.x[:2]
  params = model.init(keys["init"], x_example)
  if model.loss is not None:
    if model.init_state is not None:  # a data-dependent start (e.g. k-means++ seeding)
      params = model.init_state(keys["init"], params, dataset.train.x).params
    tx = make_optimizer(config.optimizer)
    state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                       opt_state=tx.init(params), extra={})
    update = gradient_update(model.loss, tx)
  else:
    state = model.init_state(keys["init"], params, dataset.train.x)
    update = model.update
  return dataset, model, state, update


def _with_step_key(update):
  """The step's key is fold_in(train_key, step), computed inside the compiled step."""

  def step_fn(state, batch, train_key, collective: Collective = LOCAL):
    return update(state, batch, jax.random.fold_in(train_key, state.step), collective)

  return step_fn


def _write_run_info(workdir: str, config, backend, history: list) -> None:
  if jax.process_index() != 0:
    return
  workdir_lib.write_config(workdir, config, history)
  versions = {}
  for name in PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = None
  info = {"python": platform.python_version(), "packages": versions,
          "backend": jax.default_backend(), "parallelism": backend.name,
          "process_count": jax.process_count(),
          "devices": [str(d) for d in jax.devices()]}
  workdir_lib.write_json(os.path.join(workdir, "environment.json"), info)


class StopSignal:
  """Turns SIGTERM/SIGINT into a flag (`received`) that a loop checks between its steps."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    with contextlib.suppress(ValueError):  # not the main thread: no handlers
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    self.received = signum

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _check_finite(pending: list, backend, last_good_step: int | None, checkpoint_dir: str):
  """Raises NonFiniteError naming the first step and metric that is NaN/Inf."""
  for step, metrics in pending:
    values = parallel.first_metrics(metrics, backend)
    bad = sorted(name for name, v in values.items() if not np.isfinite(v))
    if bad:
      kept = (f"The last good checkpoint (step {last_good_step}) is kept in {checkpoint_dir}; "
              if last_good_step is not None else "No checkpoint was written before it. ")
      raise NonFiniteError(
          f"Training stopped at step {step}: metric {bad[0]!r} is {values[bad[0]]} "
          f"(non-finite metrics: {', '.join(bad)}). {kept}lower the learning rate "
          "(--config.optimizer.learning_rate, or --config.model.optimizer.learning_rate for "
          "families with their own optimizers), add gradient clipping "
          "(--config.optimizer.grad_clip_norm=1.0) or check the data, then rerun.")
  return parallel.first_metrics(pending[-1][1], backend) if pending else {}


def _devices_per_batch(backend) -> int:
  """How many ways a global batch is split (every device of every process)."""
  if backend.name == "pmap":
    return backend.num_devices * jax.process_count()
  return backend.num_devices


def check_estimators(spec: str, field: str, model: Model, dataset) -> list[tuple[str, int]]:
  """`spec` parsed, every estimator known to `model` and servable on `dataset`.

  Raises:
    ValueError: one line naming `field` and what would work.
  """
  pairs = workdir_lib.parse_estimator_spec(spec, field)
  for name, _ in pairs:
    if name not in ESTIMATORS:
      raise ValueError(f"{field}: no estimator {name!r}; known: "
                       f"{', '.join(ESTIMATORS.names())}.")
    if not ESTIMATORS.get(name).supports(model):
      raise ValueError(f"{field}: model {model.name!r} does not expose what estimator "
                       f"{name!r} needs ({ESTIMATORS.get(name).needs}); estimators for it: "
                       f"{', '.join(estimators_lib.supported(model))}.")
    if name == "parzen" and dataset.validation.num_examples == 0:
      raise ValueError(f"{field}: parzen picks its bandwidth on the validation split, which "
                       "is empty; set --config.data.validation_size > 0.")
  return pairs


def prepare_run(config: ml_collections.ConfigDict):
  """Everything checked before the first step: config fields, devices, data, model, estimators.

  Returns:
    (backend, dataset, model, initial host TrainState, update) as `setup` gives them.
  Raises:
    ValueError (and the data and registry errors of `setup`): one line each.
  """
  workdir_lib.check_config(config)
  backend = _backend(config)
  parts = _devices_per_batch(backend)
  workdir_lib.check_divisible(config.batch_size, parts, "batch_size")
  workdir_lib.check_divisible(config.eval.batch_size, parts, "eval.batch_size")
  dataset, model, state, update = setup(config)
  if config.get("final_evaluation", True):
    check_estimators(config.eval.estimators, "eval.estimators", model, dataset)
  if config.get("eval_every", 0):
    check_estimators(config.eval.validation_estimator, "eval.validation_estimator", model,
                     dataset)
  return backend, dataset, model, state, update


def _say(message: str) -> None:
  """A line for the console (process 0), also kept in the log file."""
  log.info(message)
  if jax.process_index() == 0:
    print(message, flush=True)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
  """Trains `config.model` on `config.data`, checkpointing into `workdir`; then evaluates.

  Holds the workdir's lock throughout (see `workdir.claim`). Before anything is
  written, the config is checked (`prepare_run`) and, in a workdir with
  checkpoints, compared with the saved config.json (`workdir.check_resume`):
  a refused run leaves the workdir as it was. Resumes from the newest good
  checkpoint. Writes config.json, environment.json, metrics.jsonl, log.txt
  (library logs, when the command captures them), tensorboard/, checkpoints/
  and, when training completes, eval.json and the sample/reconstruction PNGs.

  Returns:
    The final state (host copy, unreplicated).
  """
  with workdir_lib.claim(workdir) as path:
    return _train_and_evaluate(config, path)


def _train_and_evaluate(config, workdir: str) -> TrainState:
  backend, dataset, model, state, update = prepare_run(config)
  steps = saved_steps(workdir)
  history = workdir_lib.check_resume(workdir, config, steps[-1] if steps else None)
  _write_run_info(workdir, config, backend, history)
  workdir_lib.open_log(workdir)
  eval_every = config.get("eval_every", 0)
  if eval_every and dataset.validation.num_examples == 0:
    _say("No validation split (data.validation_size=0): validation during training is "
         "skipped; the test split is evaluated at the end.")
    eval_every = 0

  keys = _keys(config)
  checkpointer = Checkpointer(workdir, config.get("keep_checkpoints", 3))
  try:
    restored = checkpointer.restore(backend.abstract_state(backend.host_state(
        backend.put_state(state))))
  except BaseException:
    checkpointer.close()
    raise
  for step, why, moved in checkpointer.skipped:
    _say(f"Checkpoint step {step} is damaged ({why}); moved it to {moved}.")
  if restored is not None:
    state = restored
    _say(f"Resumed from step {int(state.step)} in {checkpointer.directory}.")
  start_step = int(state.step)
  dropped = metrics_lib.truncate_after(workdir, start_step)
  if dropped:
    log.info("Dropped %d metrics.jsonl rows past step %d (written after the last checkpoint).",
             dropped, start_step)
  state = backend.put_state(state)
  step_fn = backend.compile_update(_with_step_key(update))
  batches = data_lib.TrainIterator(dataset, config.batch_size, keys["data"], start_step,
                                   jax.process_index(), jax.process_count())
  writer = MetricWriter(workdir)
  num_steps = config.num_steps
  log_every = config.get("log_every", 50)
  checkpoint_every = config.get("checkpoint_every", 1000)
  last_good = checkpointer.latest_step()
  previous_seconds = workdir_lib.train_seconds(workdir, start_step)
  session_start = time.perf_counter()
  pending: list = []
  bar = tqdm.tqdm(total=num_steps, initial=start_step, desc=config.model.name,
                  disable=not config.get("progress_bar", True) or jax.process_index() != 0,
                  dynamic_ncols=True)
  window_start, window_steps = time.perf_counter(), 0

  def save(step):
    nonlocal pending, last_good
    _check_finite(pending, backend, last_good, checkpointer.directory)
    pending = []
    host = backend.host_state(state)
    if not parallel.all_finite(host.params):
      raise NonFiniteError(
          f"Training stopped at step {step}: the params contain NaN/Inf. The last good "
          f"checkpoint (step {last_good}) is kept in {checkpointer.directory}; lower the "
          "learning rate or add gradient clipping, then rerun.")
    checkpointer.save(step, host)
    last_good = step
    workdir_lib.record_train_time(workdir, step,
                                  previous_seconds + time.perf_counter() - session_start)

  try:
    with StopSignal() as stop:
      for step in range(start_step, num_steps):
        batch = backend.put_batch(next(batches))
        state, metrics = step_fn(state, batch, keys["train"])
        pending.append((step + 1, metrics))
        window_steps += 1
        done = step + 1
        if done % log_every == 0 or done == num_steps:
          latest = _check_finite(pending, backend, last_good, checkpointer.directory)
          pending = []
          now = time.perf_counter()
          latest["steps_per_second"] = window_steps / max(now - window_start, 1e-9)
          window_start, window_steps = now, 0
          writer.write(done, latest, "train")
          bar.set_postfix(loss=f"{latest.get('loss', float('nan')):.3f}",
                          steps_per_s=f"{latest['steps_per_second']:.1f}")
        bar.update(1)
        if eval_every and (done % eval_every == 0 or done == num_steps):
          summary = _validate(config, model, backend, state, dataset, keys["eval"], done)
          writer.write(done, {"log_likelihood": summary.mean, "stderr": summary.stderr},
                       "validation")
        if done == num_steps and model.finalize is not None:
          host = backend.host_state(state)
          host = host.replace(params=model.finalize(
              host.params, jax.random.fold_in(keys["init"], done), dataset.train.x))
          state = backend.put_state(host)
        if done % checkpoint_every == 0 or done == num_steps:
          save(done)
        if stop.received is not None:
          save(done)
          raise Interrupted(stop.received, done, checkpointer.directory)
  finally:
    bar.close()
    writer.close()
    checkpointer.close()

  host = backend.host_state(state)
  if config.get("final_evaluation", True):
    evaluate_and_write(config, model, backend, state, dataset, workdir)
    write_figures(config, model, backend.host_state(state).params, dataset, workdir)
  return host


def _validate(config, model: Model, backend, state, dataset, key, step):
  estimator, num_samples = evaluation.parse_estimators(config.eval.validation_estimator)[0]
  return evaluation.evaluate_split(
      model, backend, backend.params(state), dataset.validation, estimator=estimator,
      num_samples=num_samples, batch_size=config.eval.batch_size,
      key=jax.random.fold_in(key, step), dataset=dataset)


def evaluate_and_write(config, model: Model, backend, state, dataset, workdir: str,
                       estimators: str | None = None, split: str = "test",
                       annealed_examples: int | None = None) -> dict:
  """Evaluates every configured estimator on `split` and writes it into eval.json.

  `estimators` (default: the config's eval.estimators) is checked before any
  work, so an evaluation that would compute nothing changes nothing. The other
  splits' results in eval.json stay (see `evaluation.write_eval_json`).
  The annealed estimators (`estimators.ANNEALED`) score only the split's first
  `annealed_examples` examples when that is > 0 (default: the optional field
  eval.annealed_examples, 0 = all), recorded in their details as
  `first_examples` of `split_examples`: every run with the same N scores the
  same examples, so two models' annealed values stay paired.
  """
  field = "eval.estimators" if estimators is None else "--estimators"
  spec = config.eval.estimators if estimators is None else estimators
  check_estimators(spec, field, model, dataset)
  if getattr(dataset, split).num_examples == 0:
    raise ValueError(f"the {split} split is empty (data.validation_size="
                     f"{config.data.get('validation_size', 0)}); evaluate another --split.")
  keys = _keys(config)
  if annealed_examples is None:  # optional: suites set it (compare.suite_config)
    annealed_examples = config.eval.get("annealed_examples", 0)
  whole = getattr(dataset, split)
  summaries = []
  for i, (name, num_samples) in enumerate(evaluation.parse_estimators(spec)):
    start = time.perf_counter()
    data = whole
    if name in estimators_lib.ANNEALED and 0 < annealed_examples < whole.num_examples:
      data = data_lib.Split(whole.x[:annealed_examples], whole.labels[:annealed_examples])
    summary = evaluation.evaluate_split(
        model, backend, backend.params(state), data, estimator=name,
        num_samples=num_samples, batch_size=config.eval.batch_size,
        key=jax.random.fold_in(keys["eval"], 1_000_000 + i), dataset=dataset)
    if data is not whole:
      summary = dataclasses.replace(summary, details=dict(
          summary.details or {}, first_examples=data.num_examples,
          split_examples=whole.num_examples))
    log.info("%s %s: %s (%.1fs)", split, name, summary, time.perf_counter() - start)
    print(f"{split} log p(x): {summary}" + (f" on the first {data.num_examples} examples"
                                            if data is not whole else ""), flush=True)
    summaries.append(summary)
  diagnostics = evaluation.evaluate_diagnostics(
      model, backend, backend.params(state), getattr(dataset, split),
      batch_size=config.eval.batch_size, key=jax.random.fold_in(keys["eval"], 2_000_000))
  if diagnostics:
    print(f"{split} diagnostics: " + ", ".join(
        f"{k}={v['mean_nats']:.2f}±{v['stderr_nats']:.2f}" if isinstance(v, dict) else f"{k}={v}"
        for k, v in diagnostics.items()), flush=True)
  metrics = {}
  if model.split_metrics is not None:
    metrics = model.split_metrics(backend.host_state(state).params,
                                  jax.random.fold_in(keys["eval"], 3_000_000), dataset, split)
    print(f"{split} metrics: " + ", ".join(f"{k}={v}" for k, v in metrics.items()), flush=True)
  step = int(backend.host_state(state).step)
  params = backend.host_state(state).params
  evaluation.write_eval_json(
      workdir, {split: summaries}, step=step, num_dims=dataset.num_dims,
      discrete=model.discrete,
      extra={"model": config.model.name, "data": config.data.source,
             "num_params": int(sum(np.size(a) for a in jax.tree.leaves(params))),
             "train_seconds": workdir_lib.train_seconds(workdir, step),
             "binarization": config.data.binarization,
             "features": dataset.features.describe() if dataset.features is not None else None,
             "diagnostics": {split: diagnostics},
             **({"metrics": {split: metrics}} if metrics else {})})
  return {split: summaries}


def write_figures(config, model: Model, params, dataset, workdir: str, num: int = 100) -> list:
  """samples.png (from the model) and reconstructions.png (test images and their codes)."""
  if jax.process_index() != 0:
    return []
  keys = _keys(config)
  paths = []
  # Feature data (e.g. PCA) are shown as images through the inverse transform.
  scale = max(1, 112 // dataset.image_shape[0])
  if model.sample is not None:
    samples = np.asarray(jax.jit(model.sample, static_argnums=2)(params, keys["sample"], num))
    paths.append(viz.save_image_grid(dataset.to_images(samples),
                                     os.path.join(workdir, "samples.png"), scale=scale))
  if model.reconstruct is not None:
    x = dataset.test.x[:50]
    recon = np.asarray(jax.jit(model.reconstruct)(params, x, keys["sample"]))
    paths.append(viz.save_reconstruction_grid(
        dataset.to_images(x), dataset.to_images(recon),
        os.path.join(workdir, "reconstructions.png"), scale=scale))
  if model.figures is not None:
    paths.extend(model.figures(params, keys["sample"], workdir, dataset))
  return paths


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run wrote into `workdir` (without its history of changes)."""
  found = workdir_lib.saved_config(workdir)
  if found is None:
    raise FileNotFoundError(
        f"No config.json in {workdir}: is it a genlatent workdir? Train first with "
        f"python -m experiments.train --config=configs/vae.py --workdir={workdir}")
  return ml_collections.ConfigDict(found[0])


def restore_workdir(workdir: str):
  """Config, data, model, backend and the newest good state of a trained workdir."""
  config = load_config(workdir)
  backend = _backend(config)
  dataset, model, state, _ = setup(config)
  checkpointer = Checkpointer(workdir, config.get("keep_checkpoints", 3))
  try:
    restored = checkpointer.restore(backend.abstract_state(backend.host_state(
        backend.put_state(state))))
  finally:
    checkpointer.close()
  for step, why, moved in checkpointer.skipped:
    _say(f"Checkpoint step {step} is damaged ({why}); moved it to {moved}.")
  if restored is None:
    raise FileNotFoundError(f"No checkpoint in {checkpointer.directory}; train first.")
  return config, dataset, model, backend, backend.put_state(restored)
