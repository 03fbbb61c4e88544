"""Figures of runs (the drawing lives in ``metrics.figures``, which analysts' drift reports share)."""

from metrics.figures import COLOURS, LINE_STYLES, curve_figure, row_styles, save_figure

__all__ = ["COLOURS", "LINE_STYLES", "curve_figure", "row_styles", "save_figure"]
