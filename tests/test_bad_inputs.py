"""Every user mistake is one line naming the field or file, and changes nothing in the workdir.

The commands run in this process (`experiments.<command>.cli(argv)`), each with
its own flags, against one finished smoke run: `python -m experiments.train
--config=configs/vae.py:smoke`.
"""

import hashlib
import os

import numpy as np
import pytest

from configs import vae as vae_config
from experiments import evaluate as evaluate_cli
from experiments import sample as sample_cli
from experiments import train as train_cli
from genlatent import train
from genlatent.core import DATA_SOURCES

MISMATCHED = "test_bad_inputs_mismatched_shapes"


def _mismatched_shapes(arg):
  del arg
  rng = np.random.default_rng(0)
  return {"train": (rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8), np.zeros(64, np.int32)),
          "test": (rng.integers(0, 256, (16, 7, 7, 1), dtype=np.uint8), np.zeros(16, np.int32))}


if MISMATCHED not in DATA_SOURCES:
  DATA_SOURCES.register(MISMATCHED)(_mismatched_shapes)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A finished `configs/vae.py:smoke` run, as the command line makes it."""
  workdir = tmp_path_factory.mktemp("finished") / "vae_smoke"
  train.train_and_evaluate(vae_config.get_config("smoke"), str(workdir))
  return str(workdir)


def _snapshot(path):
  """{relative path: sha256} of every file and folder under `path` (or of `path` itself)."""
  if os.path.isfile(path):
    with open(path, "rb") as f:
      return {".": hashlib.sha256(f.read()).hexdigest()}
  if not os.path.exists(path):
    return None
  out = {}
  for root, dirs, files in os.walk(path):
    for name in dirs:
      out[os.path.relpath(os.path.join(root, name), path) + "/"] = ""
    for name in files:
      with open(os.path.join(root, name), "rb") as f:
        out[os.path.relpath(os.path.join(root, name), path)] = hashlib.sha256(f.read()).hexdigest()
  return out


SMOKE = "--config=configs/vae.py:smoke"

# (command, arguments ({run}: the finished run, {file}: a plain file, {new}: a path
# that does not exist yet), text the one line must contain).
CASES = [
    (train_cli, [SMOKE, "--workdir={run}", "--config.model.latnet_dim=3"],
     "unknown field model.latnet_dim (--config.model.latnet_dim); did you mean "
     "model.latent_dim?"),
    (train_cli, ["--config=configs/no_such.py", "--workdir={run}"],
     "no config file 'configs/no_such.py'"),
    (train_cli, ["--config=configs/vae.py:no_such", "--workdir={run}"],
     "Unknown variant 'no_such' of configs/vae.py"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.model.latent_dim=0"],
     "model.latent_dim=0 is invalid; it needs at least 1 latent dimension"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.log_every=0"],
     "log_every=0 is invalid"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.checkpoint_every=0"],
     "checkpoint_every=0 is invalid"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.keep_checkpoints=0"],
     "keep_checkpoints=0 is invalid; it needs at least 1"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.eval.estimators=elbo:0"],
     "eval.estimators: bad estimator 'elbo:0'"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.eval.estimators=,"],
     "eval.estimators=',' names no estimator"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.eval.validation_estimator=elbow:1"],
     "eval.validation_estimator: no estimator 'elbow'; known: ais, elbo, exact, importance"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.eval.estimators=elbo:2,importanse:5"],
     "eval.estimators: no estimator 'importanse'; known: ais, elbo, exact, importance"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.eval.estimators=elbo:2,raise:4"],
     "eval.estimators: model 'vae' does not expose what estimator 'raise' needs"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.eval.batch_size=60"],
     "eval.batch_size=60 is not divisible by the 8 devices it is split over; use a multiple "
     "of 8, "
     "e.g. --config.eval.batch_size=64"),
    (train_cli, [SMOKE, "--workdir={run}", f"--config.data.source={MISMATCHED}"],
     "train images are [8, 8, 1] but test images are [7, 7, 1]"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.model.latent_dim=4",
                 "--config.optimizer.learning_rate=0.01"],
     "model.latent_dim 2 -> 4, optimizer.learning_rate 0.001 -> 0.01; a resumed run cannot "
     "change these"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.num_steps=10"],
     "trained to step 20): num_steps 20 -> 10"),
    (train_cli, [SMOKE, "--workdir={run}", "--config.batch_size=64"],
     "batch_size 32 -> 64"),
    (train_cli, ["--config=configs/ae.py:smoke", "--workdir={run}"],
     'model.name "vae" -> "ae"'),
    (train_cli, ["--config=configs/gmm.py:smoke", "--workdir={run}",
                 "--config.model.reg_covar=0"],
     "model.reg_covar=0.0 is invalid; it needs a positive variance floor"),
    (train_cli, [SMOKE, "--workdir="], "--workdir is empty"),
    (train_cli, [SMOKE, "--workdir={file}"], "is a file, not a directory"),
    (train_cli, [SMOKE, "--workdir={file}/sub"], "cannot be created"),
    (train_cli, [SMOKE, "--workdir={new}", "--config.model.latent_dim=-1"],
     "model.latent_dim=-1 is invalid"),
    # Unknown names: model, data folder, prior (a new workdir: nothing may be created).
    (train_cli, [SMOKE, "--workdir={new}", "--config.model.name=vea"],
     "Unknown model 'vea'. Known models:"),
    (train_cli, [SMOKE, "--workdir={new}", "--config.data.source=idx:/nonexistent/folder"],
     "/nonexistent/folder"),
    (train_cli, [SMOKE, "--workdir={new}", "--config.model.prior=vamp_typo"],
     "Unknown prior 'vamp_typo'. Known priors:"),
    (evaluate_cli, ["--workdir={run}", "--estimators=,"],
     "--estimators=',' names no estimator"),
    (evaluate_cli, ["--workdir={run}", "--estimators=elbo:0"],
     "--estimators: bad estimator 'elbo:0'"),
    (evaluate_cli, ["--workdir={run}", "--estimators=elbow:5"],
     "--estimators: no estimator 'elbow'; known: ais, elbo, exact, importance"),
    (evaluate_cli, ["--workdir={new}"], "no workdir"),
    (sample_cli, ["--workdir={run}", "--num=0"], "--num=0: draw at least 1 sample"),
    (sample_cli, ["--workdir={run}", "--figures=nope"], "Unknown figure(s) nope"),
]


@pytest.mark.parametrize("command,args,expected", CASES,
                         ids=[f"{c.__name__.split('.')[-1]} {' '.join(a[1:] or a)}"
                              for c, a, _ in CASES])
def test_bad_input_is_one_line_and_changes_nothing(command, args, expected, run_dir, tmp_path,
                                                   capsys):
  plain_file = tmp_path / "a_file"
  plain_file.write_text("not a workdir")
  new = str(tmp_path / "not_yet")
  argv = ["prog"] + [a.format(run=run_dir, file=plain_file, new=new) for a in args]
  before = {p: _snapshot(p) for p in (run_dir, str(plain_file), new)}
  with pytest.raises(SystemExit) as exit_info:
    command.cli(argv)
  captured = capsys.readouterr()
  assert exit_info.value.code == 1, captured
  lines = [line for line in captured.err.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
  assert expected in lines[0], lines[0]
  assert "Traceback" not in captured.out + captured.err
  assert {p: _snapshot(p) for p in before} == before  # nothing created, changed or removed
