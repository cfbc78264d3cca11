"""Figures written as PNG files into a workdir."""

from genlatent.viz.grids import save_image_grid, save_reconstruction_grid, tile
from genlatent.viz.results import save_log_likelihood_figure

__all__ = ["save_image_grid", "save_log_likelihood_figure", "save_reconstruction_grid", "tile"]
