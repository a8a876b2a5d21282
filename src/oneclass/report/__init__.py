"""Reports: a Markdown file and a self-contained HTML page (images embedded) with tables and figures."""

from oneclass.report.figures import defects_figure, image_grid, roc_figure, score_histograms, video_figure
from oneclass.report.write import Report

__all__ = ["Report", "defects_figure", "image_grid", "roc_figure", "score_histograms", "video_figure"]
