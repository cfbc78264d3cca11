"""Numbers about a whole split that are not log-likelihoods (clustering accuracy)."""

from __future__ import annotations

import numpy as np
import scipy.optimize


def contingency(labels: np.ndarray, clusters: np.ndarray, num_clusters: int) -> np.ndarray:
  """[K, C] counts of examples in cluster k with label c (labels < 0 ignored)."""
  labels, clusters = np.asarray(labels), np.asarray(clusters)
  known = labels >= 0
  num_labels = int(labels[known].max()) + 1 if known.any() else 0
  table = np.zeros((num_clusters, num_labels), np.int64)
  np.add.at(table, (clusters[known], labels[known]), 1)
  return table


def clustering_accuracy(labels: np.ndarray, clusters: np.ndarray, num_clusters: int) -> dict:
  """Cluster quality against labels.

  Returns:
    accuracy: after the best one-to-one matching of clusters to labels
      (Hungarian algorithm, `scipy.optimize.linear_sum_assignment`); with more
      clusters than labels the unmatched clusters count as errors.
    accuracy_majority: each cluster takes its most common label (the protocol of
      Makhzani et al. for 16 or 30 clusters; ≥ the Hungarian accuracy).
    clusters_used: clusters holding at least one example.
    examples: labelled examples scored.
  """
  table = contingency(labels, clusters, num_clusters)
  total = int(table.sum())
  if total == 0:
    raise ValueError("No labelled examples to score the clustering against.")
  rows, cols = scipy.optimize.linear_sum_assignment(-table)
  return {"accuracy": float(table[rows, cols].sum() / total),
          "accuracy_majority": float(table.max(axis=1).sum() / total),
          "clusters_used": int((table.sum(axis=1) > 0).sum()),
          "examples": total}
