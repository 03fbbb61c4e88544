"""Context length vs number of history frames: the data and figure behind the paper's bounded-context claim.

For each schedule and tail option, the image-token count of one section as the video's history grows
from 0 to T frames (only real frames counted, newest first), beside an unpacked baseline (every
history frame at k1) and Eq. 2's per-frame geometric schedule with its limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fpeval.artifacts import atomic_path
from fpeval.plan.schedule import TAIL_OPTIONS, parse
from fpeval.plan.tokens import LatentSize, count_tokens, frame_tokens, geometric_length, geometric_limit

# Schedules drawn in the figure: the paper's Table-1 ladders, a k16 ladder and the released layout.
FIGURE_SCHEDULES: dict[str, str] = {
    "f16k4f4k2f1k1 (Table-1 vanilla)": "td_f16k4f4k2f1k1_g9",
    "f16k4f2k2f1k1": "td_f16k4f2k2f1k1_g9",
    "f8k8f4k4f2k2f1k1": "td_f8k8f4k4f2k2f1k1_g9",
    "f16k16f8k8f4k4f2k2f1k1": "td_f16k16f8k8f4k4f2k2f1k1_g9",
    "released inverted": "f1k1_x_g9_f1k1f2k2f16k4_td",
}

COLUMNS = [
    "family",
    "schedule",
    "tail",
    "history_frames",
    "context_tokens",
    "section_tokens",
    "total_tokens",
    "frame_tokens",
    "height",
    "width",
]


def context_length_table(
    height: int = 480,
    width: int = 832,
    max_history: int = 64,
    schedules: dict[str, str] | None = None,
    tails: Sequence[str] = TAIL_OPTIONS,
    lam: float = 2.0,
) -> pd.DataFrame:
    """Tidy table: one row per (family, tail, history_frames)."""
    if max_history < 0:
        raise ValueError(f"max_history must be >= 0, got {max_history}")
    latent = LatentSize.from_pixels(height, width)
    lf = frame_tokens(latent)
    plans = {family: parse(name) for family, name in (schedules or FIGURE_SCHEDULES).items()}
    s = next(iter(plans.values())).section.frames
    section = s * lf
    rows = []
    for family, base in plans.items():
        for tail in tails:
            plan = base.with_tail(tail)
            for t in range(max_history + 1):
                c = count_tokens(plan, latent, history_frames=t)
                rows.append((family, str(plan), tail, t, c.context, c.section, c.total))
    for t in range(max_history + 1):
        rows.append(
            (
                "no packing (all k1)",
                f"f{t}k1_g{s}" if t else f"g{s}",
                "none",
                t,
                t * lf,
                section,
                t * lf + section,
            )
        )
    for t in range(max_history + 1):
        total = geometric_length(s, t, lf, lam)
        rows.append(
            (
                f"Eq. 2 geometric (lambda={lam:g})",
                f"lambda={lam:g}",
                "none",
                t,
                total - section,
                section,
                total,
            )
        )
    df = pd.DataFrame(rows, columns=COLUMNS[:7])
    df["frame_tokens"] = lf
    df["height"] = height
    df["width"] = width
    df.attrs["eq2_limit"] = geometric_limit(s, lf, lam)
    return df.reset_index(drop=True)[COLUMNS]


def plot_context_length(df: pd.DataFrame, path: str | Path) -> Path:
    """``context_length_figure`` written to ``path``."""
    from fpeval.figures import save_figure

    return save_figure(context_length_figure(df), path, dpi=120)


def context_length_figure(df: pd.DataFrame):
    """Two panels: total tokens per section for every schedule (td) vs the baselines, and the tail options."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    packed = df[df["tail"].isin(["td", "none"])]
    for family, g in packed.groupby("family", sort=False):
        style = "--" if family.startswith(("no packing", "Eq. 2")) else "-"
        ax1.plot(g["history_frames"], g["total_tokens"], style, label=family)
    if "eq2_limit" in df.attrs:
        ax1.axhline(df.attrs["eq2_limit"], color="gray", lw=0.8, ls=":", label="Eq. 2 limit (S + 2) L_f")
    h, w = int(df["height"].iloc[0]), int(df["width"].iloc[0])
    ax1.set(
        xlabel="history latent frames T",
        ylabel="image tokens per section",
        title=f"Context length vs history ({w}x{h}, L_f={int(df['frame_tokens'].iloc[0])})",
    )
    ax1.set_yscale("log")
    ax1.legend(fontsize=7)
    family = df["family"].iloc[0]
    for tail, g in df[df["family"] == family].groupby("tail", sort=False):
        ax2.plot(g["history_frames"], g["context_tokens"], label=f"{tail}")
    ax2.set(xlabel="history latent frames T", ylabel="context tokens", title=f"Tail options: {family}")
    ax2.legend(fontsize=8)
    return fig


def write_context_length(
    out_dir: str | Path, height: int = 480, width: int = 832, max_history: int = 64
) -> dict[str, Path]:
    """Write ``context_length.csv`` and ``context_length.png`` into ``out_dir``."""
    out = Path(out_dir)
    df = context_length_table(height, width, max_history)
    csv = out / "context_length.csv"
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False)
    png = plot_context_length(df, out / "context_length.png")
    return {"csv": csv, "figure": png}
