"""The instrument report: does a FramePack-mini model keep what it is shown, and does it degrade the way
long videos degrade? Every measure is set beside the same measure on the world's own ground-truth clips.

- Teacher forcing: one section predicted from the ground-truth context, scored against the true next
  section (PSNR / SSIM), beside the model's expectation (its x0 estimate from pure noise), "repeat the
  last frame" and the autoencoder's round trip (a ceiling).
- Retention per variant: SSIM of every section to the start frame, and start-image identification
  (the last window's frames matched to the nearest of all start images).
- Drift: Eq. 7 start-end contrast of frame statistics, paired with the world's own change.
- Filmstrips: the start image, then every other section, one row per variant and the world.

Each held-out clip seed is both the start image and the video's sampling seed, so no two videos share
their noise. Intervals are percentile bootstrap 95 % over clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fpeval.artifacts import atomic_path
from fpeval.generation.generate import generate
from fpeval.plan.variants import make_plan, variant
from fpeval.plan.variants import variant as variant_config
from fpeval.sampling.engine import HISTORY_STREAM, materialise, sample_section
from fpeval.sampling.sampler import flow_sigmas, seeded_noise
from fpeval.world import clip
from metrics.drift import bootstrap_ci, start_end_contrast, start_end_window
from metrics.functional import brightness, clipped_fraction, colourfulness, laplacian_variance, psnr, ssim

WORLD = "world"  # the row of the ground-truth clips
# "NAME:SCHEDULE" runs a registry variant on another schedule: Table 1's vanilla has no start frame in
# its context, unlike the registry's vanilla (the F1 layout, the same plan as anchor)
TABLE1_VANILLA = "vanilla:td_f16k4f4k2f1k1_g9"
RETENTION_VARIANTS = (TABLE1_VANILLA, "anchor", "endpoint", "inverted")
FRAME_STATS = {
    "sharpness": laplacian_variance,
    "colourfulness": colourfulness,
    "brightness": brightness,
    "clipped": clipped_fraction,
}


def variant_of(label: str):
    """The variant config of a report label: a registry name, or "NAME:SCHEDULE"."""

    name, _, schedule = label.partition(":")
    return variant(name, schedule=schedule) if schedule else variant(name)


def world_videos(seeds: Sequence[int], frames: int) -> torch.Tensor:
    """Ground-truth held-out clips (N, T, 3, H, W) in [0, 1]."""

    return torch.stack([clip(int(s), "heldout", frames) for s in seeds])


def _as_float(frames: np.ndarray) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 -> (N, T, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 255.0


# -- teacher forcing ------------------------------------------------------------------------------


@torch.no_grad()
def teacher_forced(
    backend,
    seeds: Sequence[int],
    variant: str = "anchor",
    section: int = 3,
    sections: int = 5,
    steps: int = 10,
    shift: float = 3.0,
    solver: str = "unipc",
) -> pd.DataFrame:
    """One section predicted from ground-truth context, per clip and frame of the section: PSNR / SSIM
    of the model's sample, of its expectation (x0 estimate from pure noise), of repeating the frame
    before the section, of decoding that frame's latent for every frame (what a model that only copies
    its context would score), and of the autoencoder round trip of the true section (a ceiling)."""

    config = variant_config(variant)
    plan = make_plan(config, sections)
    if not 0 <= section < len(plan.steps):
        raise ValueError(
            f"section must be in 0..{len(plan.steps) - 1} for a {sections}-section plan, got {section}"
        )
    step = plan.steps[section]
    frames = [t for t in step.section if t < plan.total_frames]
    if len(frames) != len(step.section):
        raise ValueError(f"step {section} of {variant} reaches past the video; pick an earlier section")
    video = world_videos(seeds, plan.total_frames)  # (N, T, 3, H, W)
    dev = backend.device
    ae = backend.autoencoder
    latents = ae.encode(video.to(dev)).permute(0, 2, 1, 3, 4)  # (N, C, T, h, w)
    timeline = torch.cat([latents, torch.zeros_like(latents[:, :, :1])], dim=2)  # + the end-image slot
    timeline[:, :, step.section] = 0  # nothing of the section leaks in
    ctx = materialise(step, timeline)
    generators = [torch.Generator(device=dev).manual_seed(int(s)) for s in seeds]
    history = [torch.Generator(device=dev).manual_seed(int(s) + HISTORY_STREAM) for s in seeds]
    n, c, _, h, w = latents.shape
    x = seeded_noise((n, c, len(frames), h, w), generators, device=dev)
    cond = backend.condition([""] * n, video[:, 0].to(dev))
    out = sample_section(backend.denoiser, config, ctx, cond, x, flow_sigmas(steps, shift), solver, history)
    predicted = backend.decode(out).permute(0, 1, 4, 2, 3).clamp(0, 1).cpu()  # (N, S, 3, H, W)
    # the model's expectation of the section: its x0 estimate from pure noise (one Euler step from
    # sigma 1 to 0), i.e. its conditional mean, which a sample scatters around
    mean = sample_section(backend.denoiser, config, ctx, cond, x, flow_sigmas(1, shift), "euler", history)
    expected = backend.decode(mean).permute(0, 1, 4, 2, 3).clamp(0, 1).cpu()
    truth = video[:, frames]
    repeat = video[:, frames[0] - 1 : frames[0]].expand_as(truth)
    round_trip = ae.decode(latents[:, :, frames].permute(0, 2, 1, 3, 4)).clamp(0, 1).cpu()
    last = latents[:, :, frames[0] - 1 : frames[0]].expand(-1, -1, len(frames), -1, -1)
    copy = ae.decode(last.permute(0, 2, 1, 3, 4)).clamp(0, 1).cpu()
    arms = {
        "prediction": predicted,
        "expectation": expected,
        "repeat_last": repeat,
        "copy_latent": copy,
        "autoencoder": round_trip,
    }
    scores = {
        f"{measure}_{name}": torch.stack([fn(pred[i], truth[i]) for i in range(n)])  # (N, S)
        for name, pred in arms.items()
        for measure, fn in (("psnr", psnr), ("ssim", ssim))
    }
    rows = []
    for i, seed in enumerate(seeds):
        for j, frame in enumerate(frames):
            row = {"model": backend.name, "image": int(seed), "variant": variant, "section": section}
            row.update(frame=frame, offset=j + 1, **{k: float(v[i, j]) for k, v in scores.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def per_clip(per_frame: pd.DataFrame) -> pd.DataFrame:
    """Teacher-forcing scores averaged over each clip's section frames."""
    keys = ["model", "image", "variant", "section"]
    scores = [c for c in per_frame.columns if c.startswith(("psnr_", "ssim_"))]
    return per_frame.groupby(keys, sort=False, as_index=False)[scores].mean()


def teacher_forced_curve(per_frame: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR per frame offset into the section (1 = the frame right after the context), per arm."""
    scores = [c for c in per_frame.columns if c.startswith("psnr_")]
    return per_frame.groupby(["model", "offset"], sort=False, as_index=False)[scores].mean()


def teacher_forced_summary(per_clip: pd.DataFrame) -> pd.DataFrame:
    """Mean PSNR / SSIM with CIs, and the paired prediction - repeat_last difference with its CI."""
    rows = []
    for model, g in per_clip.groupby("model", sort=False):
        for measure in ("psnr", "ssim"):
            row = {"model": model, "measure": measure}
            for who in ("prediction", "expectation", "repeat_last", "copy_latent", "autoencoder"):
                est, lo, hi = bootstrap_ci(g[f"{measure}_{who}"])
                row.update({who: est, f"{who}_low": lo, f"{who}_high": hi})
            d, lo, hi = bootstrap_ci(g[f"{measure}_prediction"] - g[f"{measure}_repeat_last"])
            row.update(prediction_minus_repeat=d, diff_low=lo, diff_high=hi)
            d, lo, hi = bootstrap_ci(g[f"{measure}_expectation"] - g[f"{measure}_repeat_last"])
            row.update(expectation_minus_repeat=d, expectation_diff_low=lo, expectation_diff_high=hi)
            rows.append(row)
    return pd.DataFrame(rows)


# -- retention, identification and drift ---------------------------------------------------------


def identify(windows: torch.Tensor, starts: torch.Tensor) -> np.ndarray:
    """For each video's window (N, n, 3, H, W), the index of the start image (N, 3, H, W) its frames
    are most similar to (mean SSIM)."""
    scores = torch.empty(len(windows), len(starts))
    for i, window in enumerate(windows):
        pairs = ssim(
            window[:, None].expand(-1, len(starts), -1, -1, -1),
            starts[None].expand(len(window), -1, -1, -1, -1),
        )
        scores[i] = pairs.mean(dim=0)
    return scores.argmax(dim=1).numpy()


def video_measures(
    videos: torch.Tensor, starts: torch.Tensor, section_frames: int, **labels
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per_section, per_video) tables of videos (N, T, 3, H, W) whose frame 0 is the start frame.

    per_section: SSIM of each section's frames to the start image. per_video: first-section SSIM,
    whether the last window identifies the video's own start image, and Eq. 7 drift per statistic."""
    n, t = videos.shape[:2]
    sections = (t - 1) // section_frames
    to_start = torch.stack([ssim(videos[i], starts[i].expand(t, -1, -1, -1)) for i in range(n)])  # (N, T)
    window = start_end_window(t)
    found = identify(videos[:, -window:], starts)
    per_section, per_video = [], []
    for i in range(n):
        for s in range(sections):
            frames = slice(1 + s * section_frames, 1 + (s + 1) * section_frames)
            per_section.append(
                {**labels, "video": i, "section": s + 1, "ssim_to_start": float(to_start[i, frames].mean())}
            )
        row = {
            **labels,
            "video": i,
            "first_section_ssim": float(to_start[i, 1 : 1 + section_frames].mean()),
            "last_window_ssim": float(to_start[i, -window:].mean()),
            "identified": bool(found[i] == i),
        }
        for stat, fn in FRAME_STATS.items():
            row[f"drift_{stat}"] = start_end_contrast(fn(videos[i]).numpy())
        per_video.append(row)
    return pd.DataFrame(per_section), pd.DataFrame(per_video)


@torch.no_grad()
def retention(
    backend,
    seeds: Sequence[int],
    sections: int,
    variants: Sequence[str] = RETENTION_VARIANTS,
    steps: int = 10,
    shift: float = 3.0,
    solver: str = "unipc",
    batch: int = 16,
):
    """(per_section, per_video, videos) for every variant and the world's own clips, at ``sections``."""

    section_frames = make_plan(variant_of(variants[0]), 1).section_frames if variants else 9
    total = sections * section_frames + 1
    truth = world_videos(seeds, total)
    starts = truth[:, 0]
    tables = [
        video_measures(truth, starts, section_frames, model=backend.name, variant=WORLD, sections=sections)
    ]
    videos = {WORLD: truth}
    for name in variants:
        chunks = []
        for i in range(0, len(seeds), batch):
            part = list(seeds[i : i + batch])
            out = generate(
                backend,
                variant_of(name),
                list(starts[i : i + batch]),
                sections=sections,
                seeds=part,
                steps=steps,
                solver=solver,
                shift=shift,
            )
            chunks.append(_as_float(out.frames))
        videos[name] = torch.cat(chunks)
        tables.append(
            video_measures(
                videos[name], starts, section_frames, model=backend.name, variant=name, sections=sections
            )
        )
    per_section = pd.concat([t[0] for t in tables], ignore_index=True)
    per_video = pd.concat([t[1] for t in tables], ignore_index=True)
    for df in (per_section, per_video):
        df.insert(df.columns.get_loc("video") + 1, "image", [int(seeds[v]) for v in df["video"]])
    return per_section, per_video, videos


def retention_summary(per_video: pd.DataFrame) -> pd.DataFrame:
    """Per (model, sections, variant): first-section SSIM and identification rate with CIs, each also as
    a ratio to the world's value, and Eq. 7 drift minus the world's (paired by clip) with CIs."""
    rows = []
    stats = [c.removeprefix("drift_") for c in per_video.columns if c.startswith("drift_")]
    for (model, sections), g in per_video.groupby(["model", "sections"], sort=False):
        world = g[g["variant"] == WORLD].set_index("image")
        for name, v in g.groupby("variant", sort=False):
            v = v.set_index("image")
            row = {"model": model, "sections": sections, "variant": name, "videos": len(v)}
            for measure, col in (
                ("first_ssim", "first_section_ssim"),
                ("identified", "identified"),
                ("last_ssim", "last_window_ssim"),
            ):
                est, lo, hi = bootstrap_ci(v[col].astype(float))
                row.update({measure: est, f"{measure}_low": lo, f"{measure}_high": hi})
                base = float(world[col].astype(float).mean())
                row[f"{measure}_vs_world"] = est / base if base else np.nan
            for stat in stats:
                d, lo, hi = bootstrap_ci(
                    (v[f"drift_{stat}"] - world[f"drift_{stat}"].loc[v.index]).to_numpy()
                )
                row.update(
                    {
                        f"drift_{stat}": float(v[f"drift_{stat}"].mean()),
                        f"drift_{stat}_minus_world": d,
                        f"drift_{stat}_minus_world_low": lo,
                        f"drift_{stat}_minus_world_high": hi,
                    }
                )
            rows.append(row)
    return pd.DataFrame(rows)


# -- figures ----------------------------------------------------------------------------------------


def filmstrip(
    videos: dict[str, torch.Tensor],
    path: str | Path,
    video: int = 0,
    section_frames: int = 9,
    title: str = "",
) -> Path:
    """Rows: the world and each variant; columns: the start image, then the last frame of every other section."""
    from matplotlib.figure import Figure

    names = list(videos)
    total = videos[names[0]].shape[1]
    sections = (total - 1) // section_frames
    cols = [0] + [s * section_frames for s in range(2, sections + 1, 2)]
    fig = Figure(figsize=(len(cols) * 1.0, len(names) * 1.1 + 0.4))
    axes = fig.subplots(len(names), len(cols), squeeze=False)
    for r, name in enumerate(names):
        for c, t in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(videos[name][video, t].permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("start" if t == 0 else f"s{t // section_frames}", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return Path(path)


def retention_curve(per_section: pd.DataFrame, path: str | Path) -> Path:
    """Mean SSIM to the start frame per section, one line per variant (and the world), per model."""
    from matplotlib.figure import Figure

    models = list(dict.fromkeys(per_section["model"]))
    fig = Figure(figsize=(4.2 * len(models), 3.2))
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models, strict=True):
        g = per_section[per_section["model"] == model]
        longest = g["sections"].max()
        for name, v in g[g["sections"] == longest].groupby("variant", sort=False):
            curve = v.groupby("section")["ssim_to_start"].mean()
            ax.plot(
                curve.index,
                curve.values,
                marker=".",
                label=name,
                lw=2.5 if name == WORLD else 1.2,
                color="k" if name == WORLD else None,
            )
        ax.set_title(f"{model}: {longest} sections", fontsize=9)
        ax.set_xlabel("section")
        ax.set_ylabel("SSIM to the start frame")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(path)


# -- the report -------------------------------------------------------------------------------------


def write_instrument_report(
    backends: Sequence,
    out_dir: str | Path,
    images: int = 32,
    sections: Sequence[int] = (10, 20),
    variants: Sequence[str] = RETENTION_VARIANTS,
    steps: int = 10,
    shift: float = 3.0,
    filmstrips: int = 2,
    log=print,
) -> dict[str, pd.DataFrame]:
    """Run every measure for each backend on ``images`` held-out clips and write the tables and figures
    to ``out_dir``: teacher_forced*.csv, retention_per_*.csv, retention_summary.csv, filmstrips, curves."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(images))
    tf, per_section, per_video = [], [], []
    for backend in backends:
        log(f"{backend.name}: teacher forcing on {images} clips")
        tf.append(teacher_forced(backend, seeds, steps=steps, shift=shift))
        for n in sections:
            log(f"{backend.name}: {len(variants)} variants x {images} videos x {n} sections")
            ps, pv, videos = retention(backend, seeds, n, variants, steps=steps, shift=shift)
            per_section.append(ps)
            per_video.append(pv)
            for v in range(min(filmstrips, images)):
                filmstrip(
                    videos,
                    out / f"filmstrip_{backend.name}_{n}sections_image{v}.png",
                    video=v,
                    title=f"{backend.name}: held-out clip {seeds[v]}, {n} sections",
                )
    tables = {
        "teacher_forced_per_frame": pd.concat(tf, ignore_index=True),
        "retention_per_section": pd.concat(per_section, ignore_index=True),
        "retention_per_video": pd.concat(per_video, ignore_index=True),
    }
    tables["teacher_forced_per_clip"] = per_clip(tables["teacher_forced_per_frame"])
    tables["teacher_forced_curve"] = teacher_forced_curve(tables["teacher_forced_per_frame"])
    tables["teacher_forced_summary"] = teacher_forced_summary(tables["teacher_forced_per_clip"])
    tables["retention_summary"] = retention_summary(tables["retention_per_video"])
    for name, table in tables.items():
        with atomic_path(out / f"{name}.csv") as tmp:
            table.to_csv(tmp, index=False)
    retention_curve(tables["retention_per_section"], out / "retention_curve.png")
    return tables
