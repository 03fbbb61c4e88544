"""From a run's per-frame metrics to its tidy tables and figures: per-video drift, per-row summaries with
bootstrap intervals, the metric judge's votes and ratings, drift curves and the paper-layout table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fpeval.artifacts import write_text
from fpeval.figures import curve_figure, save_figure
from fpeval.runs.grid import Grid
from metrics.atomic import write_table

ROUNDS = 2000


ID_COLUMNS = ["row", "variant", "schedule", "model", "image", "seed", "video"]  # what names a video


def per_video_table(per_frame: pd.DataFrame) -> pd.DataFrame:
    """Per video and metric: mean, signed and absolute Eq. 7 drift, and drift in % (``metrics.drift``)."""
    from metrics.drift import drift_table

    return drift_table(per_frame, by=ID_COLUMNS)


def summarise(per_video: pd.DataFrame, reference: str | None = None, rounds: int = ROUNDS) -> pd.DataFrame:
    """Per row and metric: the mean over videos of each statistic with a bootstrap 95 % interval, and for
    drift the paired difference to ``reference`` (reference minus row: positive = the row drifts less)."""
    from metrics.drift import bootstrap_ci

    stats = {"mean": "mean", "drift_pct": "drift_pct", "drift": "drift", "signed_drift": "signed_drift"}
    out = []
    ref = per_video[per_video["row"] == reference] if reference else per_video.iloc[:0]
    ref = ref.set_index(["metric", "image", "seed"])
    for (row, metric), g in per_video.groupby(["row", "metric"], sort=False):
        for statistic, column in stats.items():
            values = g[column].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if not len(values):
                continue
            est, lo, hi = bootstrap_ci(values, rounds=rounds)
            rec = dict(row=row, metric=metric, statistic=statistic, estimate=est, lower=lo, upper=hi)
            rec["n"] = len(values)
            if statistic in ("drift", "drift_pct") and len(ref) and row != reference:
                keys = list(zip([metric] * len(g), g["image"], g["seed"], strict=True))
                paired = ref[column].reindex(keys).to_numpy(dtype=float) - g[column].to_numpy(dtype=float)
                paired = paired[np.isfinite(paired)]
                if len(paired):
                    d, dlo, dhi = bootstrap_ci(paired, rounds=rounds)
                    rec.update(diff_vs_reference=d, diff_lower=dlo, diff_upper=dhi)
            out.append(rec)
    return pd.DataFrame(out)


def drift_curves(per_frame: pd.DataFrame, by: str = "section") -> pd.DataFrame:
    """Per row, metric and section (or another time column): mean over videos with a 95 % normal band."""
    per_frame = per_frame[per_frame["frame"] >= 0]  # per-video values have no place on a time axis
    per_video = per_frame.groupby(["row", "metric", "video", by], sort=False)["value"].mean().reset_index()
    g = per_video.groupby(["row", "metric", by], sort=False)["value"]
    curves = g.agg(mean="mean", std="std", n="count").reset_index()
    half = 1.96 * curves["std"].fillna(0) / np.sqrt(curves["n"])
    curves["lower"], curves["upper"] = curves["mean"] - half, curves["mean"] + half
    return curves


def plot_curves(curves: pd.DataFrame, metric: str, path: Path, by: str = "section") -> Path:
    """The drift curve figure of one metric (``fpeval.figures.curve_figure``), written to ``path``."""
    fig = curve_figure(curves, [metric], by=by)
    fig.suptitle(f"{metric} over the video (mean of videos, 95 % band)", fontsize=9)
    return save_figure(fig, path)


def write_report(grid: Grid, per_frame: pd.DataFrame, out: Path, log: Callable[[str], None] = print) -> None:
    """Every table and figure of a finished run, from its per-frame metrics: computed in memory in one
    pass (per-frame -> per-video -> summary -> ratings -> findings -> table), each written once."""
    from fpeval.runs.findings import run_findings
    from fpeval.runs.judge import judge_run
    from fpeval.runs.tables import format_table, table_from

    write_table(per_frame, out / "per_frame.parquet")
    per_video = per_video_table(per_frame)
    write_table(per_video, out / "per_video.parquet")
    summary = summarise(per_video, grid.table.reference)
    write_table(summary, out / "summary.csv")
    curves = drift_curves(per_frame)
    write_table(curves, out / "drift_curves.csv")
    for metric in grid.table.drift or sorted(curves["metric"].unique()):  # per-video metrics have no curve
        plot_curves(curves, metric, out / "figures" / f"curve_{metric}.png")
    ratings = judge_run(grid, per_video, out) if grid.judge is not None else None
    if ratings is not None:
        write_table(ratings, out / "ratings.csv")
    elif (out / "ratings.csv").exists():  # an earlier config's ratings must not reach this table
        (out / "ratings.csv").unlink()
    grid_json = grid.model_dump(mode="json")
    write_table(run_findings(per_video, grid_json), out / "findings.csv")
    table = table_from(grid_json, summary, ratings)
    write_text(out / "table.md", format_table(table, "md"))
    log(f"wrote {out}/table.md, summary.csv, per_video.parquet, per_frame.parquet and figures/")
