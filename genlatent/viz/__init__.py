"""Figures written as PNG files into a workdir."""

from genlatent.viz.grids import save_image_grid, save_reconstruction_grid, tile

__all__ = ["save_image_grid", "save_reconstruction_grid", "tile"]
