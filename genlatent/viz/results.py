"""A comparison's log-likelihoods as one figure: every model with its interval, by kind."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files
import matplotlib.pyplot as plt
import numpy as np


def save_log_likelihood_figure(groups: dict[str, list[tuple[str, float, float, bool]]],
                               path: str, title: str = "") -> str:
  """One horizontal panel per kind: each row's mean log p(x) with a ±2 stderr bar.

  Args:
    groups: {kind: [(label, mean nats, stderr nats, flagged)]}, rows in the order
      shown (top to bottom); a flagged row (failed estimator diagnostics) is drawn
      hollow and grey, unranked. Panels do not share an x-axis: kinds are not
      comparable with each other.
    path: the PNG to write.
  Returns:
    `path`.
  """
  kinds = [k for k, rows in groups.items() if rows]
  if not kinds:
    raise ValueError("No rows to draw.")
  heights = [max(1.2, 0.35 * len(groups[k]) + 0.8) for k in kinds]
  fig, axes = plt.subplots(len(kinds), 1, figsize=(8, sum(heights)), squeeze=False,
                           gridspec_kw={"height_ratios": heights})
  for ax, kind in zip(axes[:, 0], kinds):
    rows = groups[kind]
    y = np.arange(len(rows))[::-1]
    for yi, (label, mean, stderr, flagged) in zip(y, rows):
      err = 2.0 * stderr if np.isfinite(stderr) else 0.0
      ax.errorbar(mean, yi, xerr=err, fmt="o", capsize=3,
                  color="0.6" if flagged else "C0", mfc="white" if flagged else "C0")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r[0]} (flagged)" if r[3] else r[0] for r in rows], fontsize=8)
    ax.set_title(kind, fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.7, len(rows) - 0.3)
  axes[-1, 0].set_xlabel("test log p(x), nats per example (mean ± 2 stderr)")
  if title:
    fig.suptitle(title, fontsize=11)
  fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.97 if title else 1.0))
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path
