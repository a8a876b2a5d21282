"""Benchmark grids: cells, executors, the results file and reports beside the papers' numbers."""

from oneclass.bench.grid import Cell, changed_settings, make_cells, parse_classes, run_cell, run_grid
from oneclass.bench.results import ResultsFile, read_results

__all__ = ["Cell", "ResultsFile", "changed_settings", "make_cells", "parse_classes", "read_results", "run_cell", "run_grid"]
