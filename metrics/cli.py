"""``fpeval metrics VIDEO...``: score videos with the registry's metrics; print or write the results."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from metrics.paper import PAPER_METRICS, paper_help

# options shared by the commands that score videos
Device = Annotated[
    str | None, typer.Option("--device", help="'cpu' or 'cuda[:i]' (default: cuda if present).")
]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Frames per batch on the device.")]
Fps = Annotated[
    float | None, typer.Option("--fps", help="Frame rate (default: each video's sidecar or file).")
]
Prompt = Annotated[str | None, typer.Option("--prompt", help="Text for text-frame metrics (semantic_clip).")]
Weights = Annotated[
    list[str] | None,
    typer.Option(
        "--weights",
        help="KEY=PATH model file for a learned metric (lpips, clip, aesthetic_head, raft, face_cascade, musiq, facenet, viclip, anatomy, amt).",
    ),
]
Offline = Annotated[
    bool, typer.Option("--offline", help="Never download model files; use the caches and given paths only.")
]

if TYPE_CHECKING:
    import pandas as pd


def _parse_weights(items: list[str] | None) -> dict[str, str]:
    weights = {}
    for item in items or []:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise ValueError(f"--weights takes KEY=PATH (e.g. lpips=/models/alexnet.pth), got {item!r}")
        weights[key.strip()] = path.strip()
    return weights


def score_videos(
    videos: list[Path],
    names: str | None = None,
    *,
    device: str | None = None,
    batch_size: int = 32,
    fps: float | None = None,
    prompt: str | None = None,
    weights: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, dict]]:
    """(tidy table of every video with columns video, [section], frame, metric, value; metadata per video)."""
    import pandas as pd

    import metrics
    from metrics.video_io import read_video

    parts, info = [], {}
    chosen = [n for n in names.split(",") if n.strip()] if names else None
    for path in videos:
        frames, meta = read_video(path)
        rate = fps if fps is not None else meta.get("fps")
        table = metrics.compute(
            frames,
            chosen,
            device=device,
            batch_size=batch_size,
            fps=rate,
            prompt=prompt if prompt is not None else meta.get("prompt"),
            weights=weights,
        )
        if meta.get("frame_section") is not None:
            sections = pd.Series(meta["frame_section"])
            table.insert(0, "section", sections.reindex(table["frame"].clip(lower=0)).to_numpy())
        table.insert(0, "video", str(path))
        parts.append(table)
        info[str(path)] = dict(frames=len(frames), height=frames.shape[1], width=frames.shape[2], fps=rate)
    return pd.concat(parts, ignore_index=True), info


def _set_offline(offline: bool) -> None:
    if offline:
        from metrics.weights import OFFLINE_ENV

        os.environ[OFFLINE_ENV] = "1"


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def summary_json(per_frame: pd.DataFrame, info: dict[str, dict]) -> dict:
    """Per video: its size, and per metric the mean and Eq. 7 drift (signed, absolute and in %)."""
    from metrics.drift import drift_table

    table = drift_table(per_frame, by=["video"])
    out = []
    for video, g in table.groupby("video", sort=False):
        stats = {}
        for rec in g.to_dict("records"):
            stats[rec["metric"]] = {
                k: _finite(float(rec[k]))
                for k in ("mean", "start", "end", "signed_drift", "drift", "drift_pct")
            } | {"n": int(rec["n"]), "window": int(rec["window"])}
        out.append({"video": video, **info[video], "metrics": stats})
    return {"videos": out}


def metrics_cmd(
    videos: list[Path] = typer.Argument(
        None, help="MP4 files or folders of PNG frames (sidecar JSON beside)."
    ),
    names: str | None = typer.Option(
        None,
        "--metrics",
        "-m",
        help="Comma-separated metric or group names (default: every weight-free metric). "
        "'paper': the paper's seven columns, " + paper_help() + ".",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the per-frame table (.parquet or .csv)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print per-video means and drift per metric as JSON."),
    device: Device = None,
    batch_size: BatchSize = 32,
    fps: Fps = None,
    prompt: Prompt = None,
    weights: Weights = None,
    offline: Offline = False,
    list_metrics: bool = typer.Option(False, "--list", help="List every metric and group, then stop."),
) -> None:
    """Score videos: per-frame metrics, their means and Eq. 7 drift (first vs last 15 % of frames)."""
    import metrics

    _set_offline(offline)

    if list_metrics:
        for column, (name, reference) in PAPER_METRICS.items():
            typer.echo(f"paper: {column:<10} {name:<20} {reference}")
        table = metrics.available()
        for rec in table.to_dict("records"):
            needs = "weights" if rec["needs_weights"] else "-"
            state = "" if rec["ready"] else " (needs a backend)"
            typer.echo(
                f"{rec['name']:<24} {rec['group']:<16} {rec['kind']:<10} {needs:<8} {rec['description']}{state}"
            )
        return
    if not videos:
        raise ValueError("give at least one video (MP4 file or PNG frame folder), or --list")
    from metrics.frames import resolve_device

    device = resolve_device(device)
    metrics.registry.expand(names)  # unknown metric names fail before any video is read
    if out is not None and out.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"--out must end in .parquet or .csv, got {out}")
    per_frame, info = score_videos(
        videos,
        names,
        device=device,
        batch_size=batch_size,
        fps=fps,
        prompt=prompt,
        weights=_parse_weights(weights),
    )
    if out is not None:
        from metrics.atomic import write_table

        write_table(per_frame, out)
    summary = summary_json(per_frame, info)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    for video in summary["videos"]:
        typer.echo(
            f"{video['video']}: {video['frames']} frames {video['width']}x{video['height']}, fps {video['fps']}"
        )
        for name, s in video["metrics"].items():
            mean = "nan" if s["mean"] is None else f"{s['mean']:.4g}"
            drift = "-" if s["drift"] is None else f"{s['drift']:.4g}"
            pct = "-" if s["drift_pct"] is None else f"{s['drift_pct']:.2f} %"
            typer.echo(f"  {name:<24} mean {mean:>10}  drift {drift:>10}  ({pct})")
    if out is not None:
        typer.echo(f"wrote {out}")


def drift_cmd(
    inputs: list[str] = typer.Argument(
        ..., help="Videos: files, folders of them, PNG frame folders or glob patterns (quoted)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder (tables and drift.png)."),
    names: str | None = typer.Option(
        None,
        "--metrics",
        "-m",
        help="Comma-separated metric or group names (default: every weight-free metric).",
    ),
    group_by: str | None = typer.Option(
        None,
        "--group-by",
        help="Regex on each path: its group (?P<group>...) (else its first group) names the group, "
        "(?P<key>...) the pairing key. Default: the folder each video came from.",
    ),
    groups_csv: Path | None = typer.Option(
        None, "--groups", help="CSV with columns video, group (and optional key) instead of --group-by."
    ),
    every: str = typer.Option(
        "1s", "--every", help="Curve bins: '<N>s' seconds, an integer frame count, or 'section' (sidecars)."
    ),
    compare: tuple[str, str] | None = typer.Option(
        None, "--compare", help="Two groups A B: A − B per metric with intervals (paired when keys match)."
    ),
    paired: bool | None = typer.Option(
        None,
        "--paired/--unpaired",
        help="Force a paired or unpaired comparison (default: paired when keys match).",
    ),
    fraction: float = typer.Option(0.15, "--fraction", min=0.01, max=0.5, help="Eq. 7 window at each end."),
    rounds: int = typer.Option(2000, "--rounds", min=100, help="Bootstrap rounds."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    device: Device = None,
    batch_size: BatchSize = 32,
    fps: Fps = None,
    prompt: Prompt = None,
    weights: Weights = None,
    offline: Offline = False,
) -> None:
    """Drift of any videos, by group: per-frame, per-video and summary tables, Eq. 7 with bootstrap
    intervals, curves per bin, a figure (one panel per metric, one line per group), and A − B."""
    import metrics
    from metrics.analysis import assign_groups, collect_videos, drift_report, parse_every, write_drift_report
    from metrics.frames import resolve_device

    _set_offline(offline)
    bins = parse_every(every)
    metrics.registry.expand(names)
    videos = assign_groups(collect_videos(inputs), group_by, groups_csv)
    if compare is not None:
        for name in compare:
            if name not in set(videos["group"]):
                raise ValueError(
                    f"--compare {name!r}: no such group; the groups are: {', '.join(dict.fromkeys(videos['group']))}"
                )
    per_frame, info = score_videos(
        [Path(v) for v in videos["video"]],
        names,
        device=resolve_device(device),
        batch_size=batch_size,
        fps=fps,
        prompt=prompt,
        weights=_parse_weights(weights),
    )
    tables = drift_report(
        videos,
        per_frame,
        info,
        bins,
        fraction=fraction,
        compare=compare,
        paired=paired,
        rounds=rounds,
        seed=seed,
    )
    write_drift_report(tables, out, bins)
    _print_drift(tables["summary.csv"], tables.get("compare.csv"))
    typer.echo(f"wrote {out}: {len(videos)} videos in {videos['group'].nunique()} group(s)")


def _print_drift(summary: pd.DataFrame, compare: pd.DataFrame | None) -> None:
    def fmt(r):
        return f"{r['estimate']:.4g} [{r['lower']:.4g}, {r['upper']:.4g}]"

    drift = summary[summary["statistic"] == "drift"]
    for group, g in drift.groupby("group", sort=False):
        typer.echo(f"{group}: {int(g['videos'].max())} videos; Eq. 7 drift, mean over videos [95 % CI]")
        for rec in g.to_dict("records"):
            typer.echo(f"  {rec['metric']:<24} {fmt(rec)}")
    if compare is not None:
        c = compare[compare["statistic"].isin(["mean", "drift"])]
        a, b = c["a"].iloc[0], c["b"].iloc[0]
        typer.echo(f"{a} − {b} ({'paired' if c['paired'].iloc[0] else 'unpaired'}):")
        for rec in c.to_dict("records"):
            star = " *" if rec["excludes_zero"] else ""
            typer.echo(
                f"  {rec['metric']:<24} {rec['statistic']:<6} {rec['difference']:.4g} "
                f"[{rec['lower']:.4g}, {rec['upper']:.4g}]{star}"
            )
