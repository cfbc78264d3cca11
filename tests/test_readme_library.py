"""README's library snippets run as written: "Use as a library" and "Add a new estimator"."""

import contextlib
import io
import pathlib
import re

from configs import vae as vae_config
from genlatent import train

ROOT = pathlib.Path(__file__).resolve().parents[1]


def python_blocks(section: str) -> list[str]:
  text = (ROOT / "README.md").read_text(encoding="utf-8")
  body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
  return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def run(code: str) -> str:
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, "README.md", "exec"), {})  # pylint: disable=exec-used
  return out.getvalue()


def test_fit_a_gmm_matches_the_number_readme_prints():
  fit_gmm = python_blocks("Use as a library")[0]
  printed = run(fit_gmm).split()
  assert printed[:2] == ["exact", "exact"]
  assert abs(float(printed[2]) - (-3.9957)) < 0.01  # scikit-learn's score, as README says


def test_score_a_trained_vae(tmp_path):
  config = vae_config.get_config("smoke")
  config.update(num_steps=4, log_every=2, checkpoint_every=4, eval_every=0,
                final_evaluation=False)
  train.train_and_evaluate(config, str(tmp_path))
  score_vae = python_blocks("Use as a library")[1]
  printed = run(score_vae.replace('"runs/vae_digits"', repr(str(tmp_path)))).splitlines()
  assert printed[0] == "['ais', 'elbo', 'importance', 'parzen']"
  name, kind, value = printed[1].rsplit(" ", 2)
  assert (name, kind) == ("importance-1000", "estimate")
  assert -200 < float(value) < 0


def test_the_linen_modules_alone():
  printed = run(python_blocks("Use as a library")[2]).split()
  assert printed[:4] == ["(1000,)", "(1000,", "4)", "-44.37"]  # about 64 ln ½ nats


def test_the_estimator_recipe_is_the_tested_module():
  (recipe,) = python_blocks("Add a new estimator")
  module = (ROOT / "tests/estimators/user_package/single_sample.py").read_text(encoding="utf-8")
  assert recipe.strip() in module
