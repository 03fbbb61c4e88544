"""Drift analysis of anyone's videos: find them, group them, summarise each group with bootstrap
intervals over videos, and compare two groups (paired by video key when both hold the same keys).

Used by ``fpeval drift``; every function works on tidy tables, so a notebook can call them directly.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from metrics.drift import drift_curve, drift_table

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
QUANTITIES = (
    "mean",
    "drift",
    "signed_drift",
)  # per-video statistics that groups are summarised and compared on


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() == ".png" for p in path.iterdir())


def _videos_in(path: Path) -> list[Path]:
    """A frame folder is one video; any other folder holds video files and frame folders."""
    if _is_frame_folder(path):
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    found += sorted(p for p in path.iterdir() if _is_frame_folder(p))
    return found


def collect_videos(inputs: Sequence[str | Path]) -> pd.DataFrame:
    """Every video named by ``inputs`` (video files, folders of them, PNG frame folders, glob patterns).

    Columns: video (path), source (the input it came from), name (file stem or frame-folder name)."""
    rows, seen = [], set()
    for given in inputs:
        text = str(given)
        path = Path(text)
        if path.exists():
            matches = [path]
        elif any(ch in text for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
        else:
            raise FileNotFoundError(f"no such video, folder or glob match: {text}")
        videos = []
        for m in matches:
            if m.is_dir():
                videos += _videos_in(m)
            elif m.suffix.lower() in VIDEO_SUFFIXES:
                videos.append(m)
            elif path.exists():
                raise ValueError(
                    f"{m} is not a video: accepted are files ending in {', '.join(VIDEO_SUFFIXES)}, "
                    "folders of them, and folders of PNG frames"
                )
        if not videos:
            raise ValueError(
                f"{text} holds no videos: accepted are files ending in {', '.join(VIDEO_SUFFIXES)}, "
                "folders of them, and folders of PNG frames"
            )
        for v in videos:
            if v.resolve() not in seen:
                seen.add(v.resolve())
                source = path.name if path.is_dir() and not _is_frame_folder(path) else v.parent.name
                rows.append(
                    {"video": str(v), "source": source or ".", "name": v.stem if v.is_file() else v.name}
                )
    return pd.DataFrame(rows, columns=["video", "source", "name"])


def assign_groups(
    videos: pd.DataFrame, pattern: str | None = None, table: str | Path | None = None
) -> pd.DataFrame:
    """Add ``group`` and ``key`` (what pairs videos across groups) to ``collect_videos``' table.

    - ``pattern``: a regular expression searched in each path; its named group ``group`` (else its first
      group, else the whole match) names the group, a named group ``key`` the pairing key.
    - ``table``: a CSV with columns ``video`` and ``group`` (optional ``key``); ``video`` may be a path
      (absolute, or relative to the CSV) or a file name.
    - neither: the group is the folder each video came from.
    The key defaults to the video's name, so ``a/seed1.mp4`` pairs with ``b/seed1.mp4``."""
    if pattern is not None and table is not None:
        raise ValueError("give either a grouping pattern or a grouping table, not both")
    out = videos.copy()
    out["key"] = out["name"]
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as e:
            raise ValueError(f"grouping pattern {pattern!r} is not a regular expression: {e}") from None
        groups, keys, unmatched = [], [], []
        for video, key in zip(out["video"], out["key"], strict=True):
            m = regex.search(Path(video).as_posix())
            if m is None:
                unmatched.append(video)
                groups.append(None)
                keys.append(key)
                continue
            named = m.groupdict()
            groups.append(named.get("group") or (m.group(1) if regex.groups else m.group(0)))
            keys.append(named.get("key") or key)
        if unmatched:
            raise ValueError(
                f"grouping pattern {pattern!r} matches none of {len(unmatched)} video(s), e.g. "
                + ", ".join(unmatched[:3])
            )
        out["group"], out["key"] = groups, keys
    elif table is not None:
        out = _groups_from_table(out, Path(table))
    else:
        out["group"] = out["source"]
    return out


def _groups_from_table(videos: pd.DataFrame, table: Path) -> pd.DataFrame:
    listing = pd.read_csv(table, dtype=str)
    missing = {"video", "group"} - set(listing.columns)
    if missing:
        raise ValueError(
            f"{table} lacks column(s) {sorted(missing)}; expected video, group and optionally key"
        )
    by_path, by_name = {}, {}
    for rec in listing.to_dict("records"):
        given = Path(rec["video"])
        if given.parent == Path("."):  # a bare file name: it must name exactly one video
            by_name[given.name] = rec
        for name in (str(given), str((table.parent / given).resolve())):
            by_path[name] = rec
    names = videos["video"].map(lambda v: Path(v).name)
    ambiguous = sorted(n for n in by_name if (names == n).sum() > 1)
    if ambiguous:
        raise ValueError(
            f"{table} names {ambiguous[0]!r}, which is the name of several videos; give its path instead"
        )
    groups, keys, unlisted = [], [], []
    for video, key in zip(videos["video"], videos["key"], strict=True):
        rec = by_path.get(video) or by_path.get(str(Path(video).resolve())) or by_name.get(Path(video).name)
        if rec is None:
            unlisted.append(video)
            continue
        groups.append(rec["group"])
        keys.append(rec.get("key") if isinstance(rec.get("key"), str) else key)
    if unlisted:
        raise ValueError(
            f"{table} does not list {len(unlisted)} video(s), e.g. {', '.join(unlisted[:3])}; "
            "add rows (video, group) for them"
        )
    out = videos.copy()
    out["group"], out["key"] = groups, keys
    return out


def parse_every(text: str):
    """A curve binning from its text: "section", "<N>s" (seconds) or a positive frame count."""
    text = str(text).strip()
    if text == "section":
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    if text.endswith("s"):
        try:
            if float(text[:-1]) > 0:
                return text
        except ValueError:
            pass
    raise ValueError(
        f"bins {text!r}: accepted are 'section', '<N>s' (seconds, e.g. 1s or 0.5s) or a frame count"
    )


def per_video_drift(per_frame: pd.DataFrame, fraction: float = 0.15) -> pd.DataFrame:
    """Eq. 7 per video and metric (``drift_table`` by group, key and video)."""
    return drift_table(per_frame, by=["group", "key", "video"], fraction=fraction)


def _mean_interval(x, rounds: int, level: float, rng: np.random.Generator) -> tuple[int, float, float, float]:
    """(count, mean, low, high) over the finite values of ``x``, with a percentile bootstrap interval of
    the mean (NaN with fewer than two values)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return len(x), (float(x[0]) if len(x) else np.nan), np.nan, np.nan
    means = x[rng.integers(0, len(x), size=(rounds, len(x)))].mean(axis=1)
    alpha = (1 - level) / 2
    return len(x), float(x.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def group_summary(
    per_video: pd.DataFrame, rounds: int = 2000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Per group, metric and statistic (mean, drift, signed_drift, drift_pct): the mean over videos
    and its percentile bootstrap interval (resampling videos). NaN intervals with one video."""
    rng = np.random.default_rng(seed)
    rows = []
    for (group, metric), g in per_video.groupby(["group", "metric"], sort=False):
        for stat in (*QUANTITIES, "drift_pct"):
            n, mean, low, high = _mean_interval(g[stat], rounds, level, rng)
            rows.append(
                dict(
                    group=group, metric=metric, statistic=stat, videos=n, estimate=mean, lower=low, upper=high
                )
            )
    return pd.DataFrame(
        rows, columns=["group", "metric", "statistic", "videos", "estimate", "lower", "upper"]
    )


def group_curves(
    per_frame: pd.DataFrame,
    every="section",
    fps: dict[str, float | None] | None = None,
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per group, metric and bin: the mean over videos of each video's bin mean, with a bootstrap band.

    ``every``: "section", "<N>s" (each video's own fps) or an int (frames); ``x`` is where the bin
    starts: in seconds, in frames, or the section."""
    parts = []
    for video, g in per_frame.groupby("video", sort=False):
        rate = (fps or {}).get(video)
        parts.append(drift_curve(g, every, by=["group", "key", "video"], fps=rate))
    curves = pd.concat(parts, ignore_index=True)
    step = (
        float(every[:-1])
        if isinstance(every, str) and every.endswith("s")
        else (1 if every == "section" else every)
    )
    rng = np.random.default_rng(seed)
    rows = []
    for (group, metric, b), g in curves.groupby(["group", "metric", "bin"], sort=True):
        n, mean, low, high = _mean_interval(g["mean"], rounds, level, rng)
        rows.append(
            dict(
                group=group,
                metric=metric,
                bin=int(b),
                x=float(b * step),
                videos=n,
                mean=mean,
                lower=low,
                upper=high,
            )
        )
    out = pd.DataFrame(rows, columns=["group", "metric", "bin", "x", "videos", "mean", "lower", "upper"])
    out["lower"] = out["lower"].fillna(out["mean"])
    out["upper"] = out["upper"].fillna(out["mean"])
    return out


def compare_groups(
    per_video: pd.DataFrame,
    a: str,
    b: str,
    *,
    paired: bool | None = None,
    rounds: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Group ``a`` − group ``b`` per metric and statistic, with a percentile bootstrap interval.

    Paired (resampling keys, differences within a key) when ``paired`` is True, or when it is None and
    both groups hold exactly the same keys; otherwise each group is resampled on its own."""
    known = list(dict.fromkeys(per_video["group"]))
    for name in (a, b):
        if name not in known:
            raise ValueError(f"no group {name!r} to compare; the groups are: {', '.join(map(str, known))}")
    if a == b:
        raise ValueError(f"compare two different groups, got {a!r} twice")
    keys_a = set(per_video.loc[per_video["group"] == a, "key"])
    keys_b = set(per_video.loc[per_video["group"] == b, "key"])
    if paired and keys_a != keys_b:
        only = sorted(keys_a ^ keys_b)[:5]
        raise ValueError(
            f"a paired comparison needs the same video keys in {a!r} and {b!r}; unmatched: {', '.join(only)} "
            "(set keys with a named group (?P<key>...) in the pattern, or compare unpaired)"
        )
    paired = keys_a == keys_b if paired is None else paired
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    rows = []
    for metric in dict.fromkeys(per_video["metric"]):
        m = per_video[per_video["metric"] == metric]
        for stat in (*QUANTITIES, "drift_pct"):
            wide = m.pivot_table(
                index="key", columns="group", values=stat, aggfunc="mean", dropna=False
            ).reindex(columns=[a, b])
            xa = m.loc[m["group"] == a, stat].to_numpy(float)
            xb = m.loc[m["group"] == b, stat].to_numpy(float)
            xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
            if paired:
                d = (wide[a] - wide[b]).to_numpy(float)
                d = d[np.isfinite(d)]
                estimate = float(d.mean()) if len(d) else np.nan
                draws = d[rng.integers(0, len(d), size=(rounds, len(d)))].mean(axis=1) if len(d) > 1 else None
            else:
                estimate = float(xa.mean() - xb.mean()) if len(xa) and len(xb) else np.nan
                draws = None
                if len(xa) > 1 and len(xb) > 1:
                    draws = xa[rng.integers(0, len(xa), size=(rounds, len(xa)))].mean(axis=1) - xb[
                        rng.integers(0, len(xb), size=(rounds, len(xb)))
                    ].mean(axis=1)
            low, high = (
                (np.quantile(draws, alpha), np.quantile(draws, 1 - alpha))
                if draws is not None
                else (np.nan, np.nan)
            )
            rows.append(
                dict(
                    metric=metric,
                    statistic=stat,
                    a=a,
                    b=b,
                    paired=paired,
                    n_a=len(xa),
                    n_b=len(xb),
                    mean_a=float(xa.mean()) if len(xa) else np.nan,
                    mean_b=float(xb.mean()) if len(xb) else np.nan,
                    difference=estimate,
                    lower=float(low),
                    upper=float(high),
                    excludes_zero=bool(np.isfinite(low) and (low > 0 or high < 0)),
                )
            )
    return pd.DataFrame(rows)


def drift_report(
    videos: pd.DataFrame,
    per_frame: pd.DataFrame,
    info: dict[str, dict],
    every="1s",
    *,
    fraction: float = 0.15,
    compare: tuple[str, str] | None = None,
    paired: bool | None = None,
    rounds: int = 2000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """The report's tables in memory, by file name: per-frame (with group and key), per-video Eq. 7,
    group summaries, curves, the grouping and, with ``compare``, A − B."""
    per_frame = per_frame.merge(videos[["video", "group", "key"]], on="video", how="left")
    per_frame = per_frame[["group", "key", *[c for c in per_frame.columns if c not in ("group", "key")]]]
    per_video = per_video_drift(per_frame, fraction)
    rates = {v: i.get("fps") for v, i in info.items()}
    if isinstance(every, str) and every.endswith("s"):
        missing = [v for v, r in rates.items() if not r]
        if missing:
            raise ValueError(f"bins of {every} need each video's fps; unknown for {missing[0]} (pass --fps)")
    tables = {
        "per_frame.parquet": per_frame,
        "per_video.csv": per_video,
        "summary.csv": group_summary(per_video, rounds=rounds, seed=seed),
        "curves.csv": group_curves(per_frame, every, rates, seed=seed),
        "videos.csv": videos,
    }
    if compare is not None:
        tables["compare.csv"] = compare_groups(
            per_video, compare[0], compare[1], paired=paired, rounds=rounds, seed=seed
        )
    return tables


def bins_label(every) -> str:
    """The x-axis label of curves binned by ``every``."""
    if every == "section":
        return "section (-1 = start image)"
    if isinstance(every, int):
        return f"frame (bins of {every})"
    return f"time in s (bins of {every})"


def write_drift_report(tables: dict[str, pd.DataFrame], out: str | Path, every) -> Path:
    """Write every table (atomically, parquet or CSV by suffix) and ``drift.png`` into ``out``."""
    from metrics.atomic import write_table
    from metrics.figures import curve_figure, save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_table(table, out / name)
    curves = tables["curves.csv"]
    figure = curve_figure(
        curves, list(dict.fromkeys(curves["metric"])), by="x", line="group", xlabel=bins_label(every)
    )
    save_figure(figure, out / "drift.png")
    return out
