"""Benchmark grids: cells, executors, the results file and reports beside the papers' numbers."""

from oneclass.bench.grid import Cell, make_cells, parse_classes, run_cell, run_grid
from oneclass.bench.results import ResultsFile, read_results

__all__ = ["Cell", "ResultsFile", "make_cells", "parse_classes", "read_results", "run_cell", "run_grid"]
