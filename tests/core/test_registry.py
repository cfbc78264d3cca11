import pytest

from genlatent.core import Kind, LogLikelihood, Registry, UnknownNameError, summarize
import genlatent.models  # noqa: F401  registers the families
from genlatent.core import MODELS, PRIORS


def test_unknown_name_lists_known_names():
  registry = Registry("widget")
  registry.register("a")(len)
  registry.register("b")(len)
  with pytest.raises(UnknownNameError, match="Unknown widget 'c'. Known widgets: a, b."):
    registry.get("c")


def test_models_and_priors_are_registered():
  assert "vae" in MODELS.names()
  assert "standard_normal" in PRIORS.names()
  with pytest.raises(UnknownNameError, match="vae"):
    MODELS.get("vea")


def test_duplicate_registration_fails():
  registry = Registry("widget")
  registry.register("a")(len)
  with pytest.raises(ValueError, match="already registered"):
    registry.register("a")(abs)


def test_summary_mean_stderr_and_text():
  summary = summarize([-1.0, -2.0, -3.0, -4.0], "importance-10", Kind.ESTIMATE)
  assert summary.mean == -2.5
  assert summary.stderr == pytest.approx(1.2909944 / 2)
  assert str(summary) == "-2.50 ± 0.65 nats (importance-10, estimate)"
  assert summary.bits_per_dim(2) == pytest.approx(2.5 / (2 * 0.6931471805599453))
