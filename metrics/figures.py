"""Drift-curve figures, built on matplotlib's object API: no pyplot state and no backend selection, so
notebooks keep their inline plots. ``curve_figure`` draws curves legibly for up to 20 lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from metrics.atomic import atomic_path

LINE_STYLES = ("-", "--", "-.", ":")
MAX_COLUMNS = 4  # panels per line of a figure; more metrics wrap onto further lines
COLOURS = "tab20"  # 20 distinct colours; line styles also change, so rows stay apart in greyscale


def row_styles(rows: list[str]) -> dict[str, dict]:
    """A distinct colour and line style per row (colours of tab20, four dash patterns)."""
    from matplotlib import colormaps

    colours = colormaps[COLOURS].colors
    # the first 10 rows take the dark colour of each of tab20's pairs, the next 10 the light one
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {
        row: {"color": colours[order[i % 20]], "linestyle": LINE_STYLES[i % len(LINE_STYLES)]}
        for i, row in enumerate(rows)
    }


def curve_figure(
    curves: pd.DataFrame,
    metrics: list[str],
    rows: list[str] | None = None,
    by: str = "section",
    *,
    line: str = "row",
    xlabel: str | None = None,
) -> Figure:
    """One panel per metric, one line per value of ``line`` (mean over videos) with a light 95 % band
    (columns ``mean``, ``lower``, ``upper``).

    Per section, x = 0 is the start image and x = 1..N the sections in video order (the table's
    ``section`` -1 marks the start image)."""
    rows = rows or list(dict.fromkeys(curves[line]))
    styles = row_styles(rows)
    columns = min(len(metrics), MAX_COLUMNS)
    lines = -(-len(metrics) // columns)
    fig = Figure(figsize=(4.6 * columns + 2.6, 3.8 * lines), layout="constrained")
    grid = fig.subplots(lines, columns, squeeze=False)
    axes = grid.ravel()[: len(metrics)]
    for ax in grid.ravel()[len(metrics) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes, metrics, strict=True):
        c = curves[curves["metric"] == metric]
        for row in rows:
            g = c[c[line] == row].sort_values(by)
            x = g[by] + 1 if by == "section" else g[by]
            ax.plot(x, g["mean"], label=row, lw=1.3, **styles[row])
            band = 0.12 if len(rows) <= 4 else 0.05  # many rows: bands only hint at the spread
            ax.fill_between(x, g["lower"], g["upper"], color=styles[row]["color"], alpha=band, lw=0)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel(xlabel or ("section (0 = start image)" if by == "section" else by))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        x_max = (c[by].max() + 1) if by == "section" else c[by].max()
        if x_max > 0:
            ax.set_xlim(0, x_max)
        ax.grid(alpha=0.25)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7, frameon=False)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure atomically; the format follows the file's suffix (PNG by default)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path
