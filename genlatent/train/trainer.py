"""`train_and_evaluate(config, workdir)`: the one training loop every family uses."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import platform
import signal
import time

import jax
import ml_collections
import numpy as np
import tqdm

from genlatent import data as data_lib
from genlatent.core import Model, TrainState
from genlatent.core.collective import LOCAL, Collective
from genlatent.train import build as build_lib
from genlatent.train import evaluation, metrics as metrics_lib, parallel, results
from genlatent.train import workdir as workdir_lib
# gradient_update and setup are imported from here by tests and benchmarks.
from genlatent.train.build import gradient_update, setup  # noqa: F401
from genlatent.train.checkpoint import Checkpointer, saved_steps
from genlatent.train.metrics import MetricWriter
from genlatent.train.restore import restore_state

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


def prepare_run(config: ml_collections.ConfigDict):
  """Everything checked before the first step: config fields, devices, data, model, estimators.

  Returns:
    (backend, dataset, model, tx, update) with `tx` and `update` as `build.build` gives
    them; no state yet (a fresh run initialises it, a resumed run restores it).
  Raises:
    ValueError (and the data and registry errors of `build.build`): one line each.
  """
  workdir_lib.check_config(config)
  backend = build_lib.make_backend(config)
  parts = build_lib.devices_per_batch(backend)
  workdir_lib.check_divisible(config.batch_size, parts, "batch_size")
  workdir_lib.check_divisible(config.eval.batch_size, parts, "eval.batch_size")
  dataset, model, tx, update = build_lib.build(config)
  if config.final_evaluation:
    results.check_estimators(config.eval.estimators, "eval.estimators", model, dataset)
  if config.eval_every:
    results.check_estimators(config.eval.validation_estimator, "eval.validation_estimator",
                             model, dataset)
  return backend, dataset, model, tx, update


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
  backend, dataset, model, tx, update = prepare_run(config)
  steps = saved_steps(workdir)
  history = workdir_lib.check_resume(workdir, config, steps[-1] if steps else None)
  # A fresh run's initialisation can still fail on the data (one line): before any write.
  state = None if steps else build_lib.initial_state(config, model, tx, dataset)
  _write_run_info(workdir, config, backend, history)
  workdir_lib.open_log(workdir)
  eval_every = config.eval_every
  if eval_every and dataset.validation.num_examples == 0:
    workdir_lib.say("No validation split (data.validation_size=0): validation during "
                    "training is skipped; the test split is evaluated at the end.")
    eval_every = 0

  keys = build_lib.run_keys(config)
  checkpointer = Checkpointer(workdir, config.keep_checkpoints)
  if steps:
    try:
      # Into shapes only: the checkpoint replaces whatever an initialisation would give.
      state = restore_state(checkpointer, backend,
                            build_lib.abstract_state(config, model, tx, dataset))
    except BaseException:
      checkpointer.close()
      raise
    if state is not None:
      workdir_lib.say(f"Resumed from step {int(state.step)} in {checkpointer.directory}.")
    else:  # the step folders held no finished checkpoint
      state = build_lib.initial_state(config, model, tx, dataset)
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
  log_every = config.log_every
  checkpoint_every = config.checkpoint_every
  last_good = checkpointer.latest_step()
  previous_seconds = workdir_lib.train_seconds(workdir, start_step)
  session_start = time.perf_counter()
  pending: list = []
  bar = tqdm.tqdm(total=num_steps, initial=start_step, desc=config.model.name,
                  disable=not config.progress_bar or jax.process_index() != 0,
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
  if config.final_evaluation:
    results.evaluate_and_write(config, model, backend, state, dataset, workdir)
    results.write_figures(config, model, host.params, dataset, workdir)
  return host


def _validate(config, model: Model, backend, state, dataset, key, step):
  """Mean ± stderr of `eval.validation_estimator` on the validation split (nats)."""
  estimator, num_samples = evaluation.parse_estimators(config.eval.validation_estimator)[0]
  return evaluation.evaluate_split(
      model, backend, backend.params(state), dataset.validation, estimator=estimator,
      num_samples=num_samples, batch_size=config.eval.batch_size,
      key=jax.random.fold_in(key, step), dataset=dataset)


