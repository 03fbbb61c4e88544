"""Batched sampling vs a per-video loop: videos/s of ``fpeval.generation.generate`` on FramePack-mini.

For each variant family the same videos (held-out start images x seeds, decoded to frames) are made
once as one batch and once one video per call, on the same model and device, interleaved over
``--repeats`` rounds. The runner batches this way (one grid row, many samples). Also reports whether
batching changes the result: the largest difference between batched and per-video frames. Target: >= 5x
on GPU.

    python benchmarks/batched_sampling.py [--device cpu|cuda] [--batch 8] [--sections 5] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import add_run_args, command, machine, wall_time, write_section  # noqa: E402

from fpeval.generation.generate import generate  # noqa: E402
from fpeval.models import load  # noqa: E402
from fpeval.plan.variants import variant  # noqa: E402
from fpeval.world.clips import heldout_start_images  # noqa: E402

# label -> (variant config, shipped checkpoint it runs on)
VARIANTS = {
    "vanilla": (variant("vanilla"), "mini-v2"),
    "endpoint": (variant("endpoint"), "mini-v2"),
    "inverted": (variant("inverted"), "mini-v2"),
    "vanilla+D": (variant("vanilla+D"), "mini-v2-discrete"),
    "df-0.5": (variant("df", sigma_test=0.5), "mini-v2-df"),
    "history_guidance": (variant("history_guidance"), "mini-v2-df"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(ap, batch=8, sections=5, steps=10)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; accepted: {', '.join(VARIANTS)}")
    backends = {m: load(m, device=args.device) for m in {VARIANTS[n][1] for n in names}}
    images = [img for _, img in heldout_start_images(args.batch)]
    seeds = list(range(args.batch))

    def batched(name):
        cfg, model = VARIANTS[name]
        return generate(
            backends[model], cfg, images, sections=args.sections, seeds=seeds, steps=args.steps, shift=3.0
        )

    def looped(name):
        cfg, model = VARIANTS[name]
        return [
            generate(
                backends[model], cfg, [im], sections=args.sections, seeds=[s], steps=args.steps, shift=3.0
            )
            for im, s in zip(images, seeds, strict=True)
        ]

    rows = []
    for name in names:
        batched(name)  # warm-up
        tb, tl = [], []
        for _ in range(args.repeats):
            t, out_b = wall_time(lambda n=name: batched(n), args.device)
            tb.append(t)
            t, out_l = wall_time(lambda n=name: looped(n), args.device)
            tl.append(t)
        frames_b = out_b.frames.astype(np.int16)
        frames_l = np.stack([o.frames[0] for o in out_l]).astype(np.int16)
        diff = int(np.abs(frames_b - frames_l).max())
        mb, ml = statistics.median(tb), statistics.median(tl)
        rows.append((name, VARIANTS[name][1], args.batch / mb, args.batch / ml, ml / mb, diff))
        print(
            f"{name:18s} batched {args.batch / mb:6.2f} videos/s, per-video {args.batch / ml:6.2f} videos/s, "
            f"speed-up {ml / mb:5.2f}x, max |frame difference| {diff}",
            flush=True,
        )
    total_b = sum(args.batch / r[2] for r in rows)
    total_l = sum(args.batch / r[3] for r in rows)
    print(f"all variants: speed-up {total_l / total_b:.2f}x (target >= 5x on GPU)")
    if args.no_write:
        return
    dev = args.device.split(":")[0]
    cmd = command()
    table = [
        "| variant | checkpoint | batched (videos/s) | per-video loop (videos/s) | speed-up | max abs frame difference (0-255) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    table += [f"| {n} | {m} | {b:.2f} | {lp:.2f} | **{r:.2f}x** | {d} |" for n, m, b, lp, r, d in rows]
    table.append(
        f"| all | | {len(rows) * args.batch / total_b:.2f} | {len(rows) * args.batch / total_l:.2f} | "
        f"**{total_l / total_b:.2f}x** | |"
    )
    write_section(
        f"Batched sampling ({dev})",
        f"`fpeval.generation.generate` on the shipped FramePack-mini checkpoints: {args.batch} videos per variant "
        f"(held-out start images, one seed each), {args.sections} sections x {args.steps} UniPC steps, decoded "
        f"to 64x64 frames; one batched call vs one call per video, median of {args.repeats} interleaved "
        "rounds. The last column compares the batched and per-video frames.\n\n"
        f"Command: `{cmd}`  \nMachine: {machine(args.device)}\n\n" + "\n".join(table),
    )


if __name__ == "__main__":
    main()
