"""Drift as the paper defines it (Eq. 7): the start-end contrast of a per-frame metric.

Delta_M(V) = |M(V_start) - M(V_end)|, with V_start / V_end the first / last 15 % of frames
(n = max(1, int(0.15 T))). The signed version keeps the direction. On tidy per-frame tables
(``metrics.compute``'s frame / metric / value plus id columns): ``drift_table`` (mean and drift per
video and metric), ``drift_curve`` (per section or per N seconds), ``robust_slope`` (Theil-Sen) and
``decay_curve`` (similarity to the first frame over time).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def start_end_window(num_frames: int, fraction: float = 0.15) -> int:
    """n = max(1, int(fraction * T)) frames at each end."""
    if num_frames < 1:
        raise ValueError(f"need at least one frame, got {num_frames}")
    return max(1, int(fraction * num_frames))


def signed_drift(values, fraction: float = 0.15) -> float:
    """mean(last n) - mean(first n) of a per-frame series."""
    v = np.asarray(values, dtype=np.float64)
    n = start_end_window(len(v), fraction)
    return float(v[-n:].mean() - v[:n].mean())


def start_end_contrast(values, fraction: float = 0.15) -> float:
    """Eq. 7: |mean(first n) - mean(last n)|."""
    return abs(signed_drift(values, fraction))


def bootstrap_ci(
    samples, stat=np.mean, rounds: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(estimate, low, high) percentile bootstrap interval of ``stat`` over ``samples`` (vectorised)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    rng = np.random.default_rng(seed)
    draws = x[rng.integers(0, len(x), size=(rounds, len(x)))]
    stats = stat(draws, axis=1)
    alpha = (1 - level) / 2
    return float(stat(x)), float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


# ---- tables and curves over tidy per-frame DataFrames (columns: *by, frame, metric, value) ----

VIDEO_FRAME = -1  # the frame of a per-video value (metrics.base.VIDEO_FRAME)


def _require(per_frame: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in per_frame.columns]
    if missing:
        raise ValueError(
            f"per-frame table lacks column(s) {missing}; expected tidy columns frame, metric, value "
            f"(as metrics.compute returns) plus any id columns passed as by=, got {list(per_frame.columns)}"
        )


def drift_table(per_frame: pd.DataFrame, by: Sequence[str] = (), fraction: float = 0.15) -> pd.DataFrame:
    """Per group of ``by`` and metric: mean, Eq. 7 windows and drift.

    Columns: *by, metric, n (values), window (n at each end), mean, start / end (means of the first /
    last window), signed_drift = end - start, drift = |signed_drift| (Eq. 7), drift_pct = 100 * drift /
    |start| (NaN when start is 0). Windows count the metric's own values in frame order, so a per-pair
    metric's T - 1 values give n = max(1, int(0.15 (T - 1))). Per-video values (frame -1) get their mean
    and NaN drift.
    """
    by = list(by)
    _require(per_frame, [*by, "frame", "metric", "value"])
    keys = [*by, "metric"]
    df = per_frame[[*keys, "frame", "value"]].copy()
    df["value"] = df["value"].astype(float)
    df["_order"] = np.arange(len(df))
    df = df.sort_values([*keys, "frame", "_order"], kind="stable")
    group = df.groupby(keys, sort=False, dropna=False)
    size = group["value"].transform("size").to_numpy()
    pos = group.cumcount().to_numpy()
    window = np.maximum(1, (fraction * size).astype(int))
    df["_start"] = np.where(pos < window, df["value"].to_numpy(), np.nan)
    df["_end"] = np.where(pos >= size - window, df["value"].to_numpy(), np.nan)
    df["_window"] = window
    df["_video"] = df["frame"].to_numpy() == VIDEO_FRAME
    out = group.agg(
        n=("value", "size"),
        window=("_window", "first"),
        mean=("value", "mean"),
        start=("_start", "mean"),
        end=("_end", "mean"),
        per_video=("_video", "all"),
        first_seen=("_order", "min"),
    ).reset_index()
    out = out.sort_values("first_seen", kind="stable").reset_index(drop=True)
    video = out["per_video"].to_numpy()
    out.loc[video, ["start", "end"]] = np.nan
    out.loc[video, "window"] = 0
    out["signed_drift"] = out["end"] - out["start"]
    out["drift"] = out["signed_drift"].abs()
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * out["drift"].to_numpy() / out["start"].abs().to_numpy()
    out["drift_pct"] = np.where(np.isfinite(pct), pct, np.nan)
    return out.drop(columns=["per_video", "first_seen"])


def _bins(per_frame: pd.DataFrame, every, fps: float | None) -> tuple[np.ndarray, float | None]:
    """Bin id of every row, and the bin width in frames (None for sections)."""
    frames = per_frame["frame"].to_numpy()
    if isinstance(every, str) and every == "section":
        if "section" not in per_frame.columns:
            raise ValueError(
                "every='section' needs a 'section' column (the sidecar's frame_section per frame); "
                "or use every='<N>s' (seconds, with fps) or every=<N> (frames)"
            )
        return per_frame["section"].to_numpy(), None
    if isinstance(every, str) and every.endswith("s"):
        try:
            seconds = float(every[:-1])
        except ValueError:
            raise ValueError(
                f"every={every!r}: expected 'section', '<N>s' or an integer frame count"
            ) from None
        if not fps or fps <= 0:
            raise ValueError(f"every={every!r} needs the video's fps (pass fps=)")
        width = seconds * fps
    elif isinstance(every, int | np.integer) and not isinstance(every, bool):
        width = float(every)
    else:
        raise ValueError(f"every={every!r}: expected 'section', '<N>s' or an integer frame count")
    if width <= 0:
        raise ValueError(f"every={every!r} must be positive")
    return np.floor(frames / width).astype(int), width


def drift_curve(
    per_frame: pd.DataFrame, every="section", *, by: Sequence[str] = (), fps: float | None = None
) -> pd.DataFrame:
    """Metric means per section / per N seconds / per N frames, and their change from the first bin.

    ``every``: "section" (uses a ``section`` column), "<N>s" (needs ``fps``) or an int (frames).
    Columns: *by, metric, bin, frame_start, frame_end, [t_start, t_end in s when fps], n, mean, change.
    """
    by = list(by)
    _require(per_frame, [*by, "frame", "metric", "value"])
    df = per_frame[per_frame["frame"] != VIDEO_FRAME].copy()
    df["bin"], width = _bins(df, every, fps)
    keys = [*by, "metric"]
    out = (
        df.groupby([*keys, "bin"], sort=False, dropna=False)
        .agg(
            frame_start=("frame", "min"),
            frame_end=("frame", "max"),
            n=("value", "size"),
            mean=("value", "mean"),
        )
        .reset_index()
        .sort_values([*keys, "bin"], kind="stable")
        .reset_index(drop=True)
    )
    if fps:
        out["t_start"] = out["frame_start"] / fps
        out["t_end"] = (out["frame_end"] + 1) / fps
    out["change"] = out["mean"] - out.groupby(keys, sort=False, dropna=False)["mean"].transform("first")
    return out


def robust_slope(
    per_frame: pd.DataFrame, by: Sequence[str] = (), *, fps: float | None = None, level: float = 0.95
) -> pd.DataFrame:
    """Theil-Sen slope of each metric over frames (scipy.stats.theilslopes), with its ``level`` interval.

    Columns: *by, metric, n, slope, intercept, slope_low, slope_high (per frame), and slope_per_s when
    ``fps`` is given. Robust to outlier frames; NaN with fewer than two values.
    """
    from scipy.stats import theilslopes

    by = list(by)
    _require(per_frame, [*by, "frame", "metric", "value"])
    df = per_frame[per_frame["frame"] != VIDEO_FRAME]
    rows = []
    for key, g in df.groupby([*by, "metric"], sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        x, y = g["frame"].to_numpy(float), g["value"].to_numpy(float)
        ok = np.isfinite(y)
        rec = dict(zip([*by, "metric"], key, strict=True), n=int(ok.sum()))
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0:
            res = theilslopes(y[ok], x[ok], alpha=level)
            rec.update(slope=res[0], intercept=res[1], slope_low=res[2], slope_high=res[3])
        else:
            rec.update(slope=np.nan, intercept=np.nan, slope_low=np.nan, slope_high=np.nan)
        rows.append(rec)
    out = pd.DataFrame(rows, columns=[*by, "metric", "n", "slope", "intercept", "slope_low", "slope_high"])
    if fps:
        out["slope_per_s"] = out["slope"] * fps
    return out


def decay_curve(
    per_frame: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    by: Sequence[str] = (),
    every=None,
    fps: float | None = None,
) -> pd.DataFrame:
    """How similarity to the first frame decays over the video.

    Uses the similarity-to-first-frame metrics (names containing ``_first``: SSIM, PSNR, LPIPS) unless
    ``metrics`` names others. Columns: *by, metric, frame (or bin columns when ``every`` is given), value,
    change = value - the curve's first value.
    """
    by = list(by)
    _require(per_frame, [*by, "frame", "metric", "value"])
    names = (
        list(metrics)
        if metrics is not None
        else sorted(m for m in per_frame["metric"].unique() if "_first" in m)
    )
    if not names:
        raise ValueError(
            "no similarity-to-first-frame metric in the table (e.g. consistency_first_ssim, lpips_first); "
            "compute one or pass metrics="
        )
    df = per_frame[per_frame["metric"].isin(names) & (per_frame["frame"] != VIDEO_FRAME)]
    keys = [*by, "metric"]
    if every is not None:
        out = drift_curve(df, every, by=by, fps=fps).rename(columns={"mean": "value"})
        return out
    out = (
        df.groupby([*keys, "frame"], sort=False, dropna=False)["value"]
        .mean()
        .reset_index()
        .sort_values([*keys, "frame"], kind="stable")
        .reset_index(drop=True)
    )
    out["change"] = out["value"] - out.groupby(keys, sort=False, dropna=False)["value"].transform("first")
    return out
