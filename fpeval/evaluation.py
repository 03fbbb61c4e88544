"""Drift study of a backend: 20-section videos from held-out start images, Eq. 7 drift per variant,
bootstrap CIs, and a paired comparison between variants (the FramePack-mini acceptance check)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from metrics.drift import bootstrap_ci, signed_drift, start_end_contrast
from metrics.functional import brightness, clipped_fraction, colourfulness, laplacian_variance

FRAME_STATS = {
    "sharpness": laplacian_variance,
    "colourfulness": colourfulness,
    "brightness": brightness,
    "clipped": clipped_fraction,
}


def frame_table(frames: np.ndarray, **labels) -> pd.DataFrame:
    """Per-frame statistics of one video (T, H, W, 3) uint8 as a tidy table."""
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    data = {name: fn(x).numpy() for name, fn in FRAME_STATS.items()}
    df = pd.DataFrame(data)
    df.insert(0, "frame", np.arange(len(df)))
    for k, v in reversed(labels.items()):
        df.insert(0, k, v)
    return df


def drift_study(
    backend,
    variants: Sequence[str] = ("vanilla", "inverted"),
    images: int = 16,
    sections: int = 20,
    steps: int = 10,
    solver: str = "unipc",
    shift: float = 3.0,
):
    """(per_frame, per_video, frames) for every variant on ``images`` held-out start images."""
    from fpeval.generate import generate
    from fpeval.world import heldout_start_images

    starts = heldout_start_images(images)
    seeds = [s for s, _ in starts]
    per_frame, per_video, videos = [], [], {}
    for name in variants:
        out = generate(
            backend,
            name,
            [img for _, img in starts],
            sections=sections,
            seeds=seeds,
            steps=steps,
            solver=solver,
            shift=shift,
        )
        videos[name] = out.frames
        for i, seed in enumerate(seeds):
            t = frame_table(out.frames[i], variant=name, image=seed)
            per_frame.append(t)
            row = {"variant": name, "image": seed}
            for stat in FRAME_STATS:
                row[f"delta_{stat}"] = start_end_contrast(t[stat].to_numpy())
                row[f"signed_{stat}"] = signed_drift(t[stat].to_numpy())
            per_video.append(row)
    return pd.concat(per_frame, ignore_index=True), pd.DataFrame(per_video), videos


def drift_summary(per_video: pd.DataFrame, reference: str = "vanilla", rounds: int = 2000) -> pd.DataFrame:
    """Mean Eq. 7 drift per variant and statistic with a bootstrap CI, and the paired difference to
    ``reference`` (reference minus variant: positive = the variant drifts less)."""
    rows = []
    stats = [c[len("delta_") :] for c in per_video.columns if c.startswith("delta_")]
    ref = per_video[per_video["variant"] == reference].set_index("image")
    for name, g in per_video.groupby("variant", sort=False):
        g = g.set_index("image")
        for stat in stats:
            est, lo, hi = bootstrap_ci(g[f"delta_{stat}"].to_numpy(), rounds=rounds)
            row = {"variant": name, "stat": stat, "drift": est, "ci_low": lo, "ci_high": hi}
            if name != reference and len(ref):
                diff = (ref[f"delta_{stat}"] - g[f"delta_{stat}"]).loc[g.index].to_numpy()
                d, dlo, dhi = bootstrap_ci(diff, rounds=rounds)
                row.update(diff_vs_reference=d, diff_ci_low=dlo, diff_ci_high=dhi)
            rows.append(row)
    return pd.DataFrame(rows)


def filmstrip(
    videos: dict[str, np.ndarray], path: str | Path, video_index: int = 0, columns: int = 10, title: str = ""
):
    """One row per variant: ``columns`` frames evenly spaced over the video."""
    from matplotlib.figure import Figure

    from fpeval.figures import save_figure

    names = list(videos)
    fig = Figure(figsize=(columns * 1.2, len(names) * 1.35))
    axes = fig.subplots(len(names), columns, squeeze=False)
    for r, name in enumerate(names):
        frames = videos[name][video_index]
        idx = np.linspace(0, len(frames) - 1, columns).round().astype(int)
        for c, t in enumerate(idx):
            ax = axes[r, c]
            ax.imshow(frames[t])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={t}", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def write_drift_report(
    backend, out_dir: str | Path, variants=("vanilla", "inverted"), **study
) -> pd.DataFrame:
    """Run ``drift_study`` and write per-frame / per-video tables, the summary and a filmstrip."""
    from fpeval.artifacts import atomic_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_frame, per_video, videos = drift_study(backend, variants, **study)
    summary = drift_summary(per_video, reference=variants[0])
    for name, table in (
        ("drift_per_frame.csv", per_frame),
        ("drift_per_video.csv", per_video),
        ("drift_summary.csv", summary),
    ):
        with atomic_path(out / name) as tmp:
            table.to_csv(tmp, index=False)
    filmstrip(
        videos,
        out / "filmstrip.png",
        title=f"{backend.name}: held-out start image 0, {study.get('sections', 20)} sections",
    )
    return summary


def reference_drift(autoencoder, images: int = 16, frames: int = 181) -> pd.DataFrame:
    """Eq. 7 drift of the real held-out clips (after an autoencoder round trip): the change the world
    itself produces over the same length, to read model drift against."""
    from fpeval.world import clip

    rows = []
    with torch.no_grad():
        for seed in range(images):
            video = autoencoder.decode(autoencoder.encode(clip(seed, "heldout", frames)))
            t = frame_table((video.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
            row = {"variant": "world (ground truth)", "image": seed}
            for stat in FRAME_STATS:
                row[f"delta_{stat}"] = start_end_contrast(t[stat].to_numpy())
                row[f"signed_{stat}"] = signed_drift(t[stat].to_numpy())
            rows.append(row)
    return pd.DataFrame(rows)
