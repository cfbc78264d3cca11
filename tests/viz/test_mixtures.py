"""Ellipses of 2-D mixture components."""

import numpy as np
import pytest

from genlatent.viz import mixtures


def test_ellipse_axes_of_a_rotated_covariance():
  angle = np.radians(30.0)
  rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  cov = rotation @ np.diag([4.0, 1.0]) @ rotation.T
  width, height, degrees = mixtures.ellipse_axes(cov, num_std=2.0)
  assert (width, height) == pytest.approx((8.0, 4.0))
  assert degrees % 180.0 == pytest.approx(30.0)


def test_mixture_plot_writes_a_png(tmp_path):
  rs = np.random.RandomState(0)
  path = mixtures.save_mixture_plot(rs.randn(100, 2), rs.randn(3, 2), np.stack([np.eye(2)] * 3),
                                    np.array([0.2, 0.3, 0.5]), str(tmp_path / "m.png"),
                                    labels=rs.randint(3, size=100))
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  with pytest.raises(ValueError, match="2-D"):
    mixtures.save_mixture_plot(rs.randn(10, 3), rs.randn(2, 3), np.stack([np.eye(3)] * 2),
                               np.ones(2) / 2, str(tmp_path / "bad.png"))
