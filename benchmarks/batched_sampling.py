"""Batched sampling vs a per-video loop: videos/s of ``fpeval.generation.generate`` on FramePack-mini.

For each variant family the same videos (held-out start images x seeds, decoded to frames) are made
once as one batch and once one video per call (the baseline: a loop over videos), on the same model and
device, on the interleaved harness over ``--repeats`` rounds: the speed-up is the median per-round ratio
with a bootstrap 95 % interval, per variant and for all variants together (per-round sums). The runner
batches this way (one grid row, many samples). Also reports whether batching changes the result: the
largest difference between batched and per-video frames. Target: >= 5x on GPU.

    python benchmarks/batched_sampling.py [--device cpu|cuda] [--batch 8] [--sections 5] [--steps 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Comparison, compare  # noqa: E402
from report import add_run_args, command, machine, write_section  # noqa: E402

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
    add_run_args(ap, batch=8, sections=5, steps=10, repeats=10)
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

    rows, comparisons = [], []
    sync = None
    if args.device.startswith("cuda"):
        import torch

        sync = torch.cuda.synchronize
    for name in names:
        diffs = []

        def frame_difference(out_l, out_b, found=diffs) -> None:
            looped_frames = np.stack([o.frames[0] for o in out_l]).astype(np.int16)
            found.append(int(np.abs(out_b.frames.astype(np.int16) - looped_frames).max()))

        cmp = compare(
            lambda n=name: looped(n),
            lambda n=name: batched(n),
            names=("per-video loop", "batched"),
            rounds=args.repeats,
            check=frame_difference,
            sync=sync,
        )
        comparisons.append(cmp)
        med, low, high = cmp.ratio_interval()
        rate_b, rate_l = args.batch / np.median(cmp.b), args.batch / np.median(cmp.a)
        rows.append((name, VARIANTS[name][1], rate_b, rate_l, (med, low, high), diffs[0]))
        print(
            f"{name:18s} batched {rate_b:6.2f} videos/s, per-video {rate_l:6.2f} videos/s, "
            f"speed-up {med:5.2f}x [{low:.2f}, {high:.2f}], max |frame difference| {diffs[0]}",
            flush=True,
        )
    total = Comparison(
        [sum(c.a[r] for c in comparisons) for r in range(args.repeats)],
        [sum(c.b[r] for c in comparisons) for r in range(args.repeats)],
        ("per-video loop", "batched"),
    )
    all_med, all_low, all_high = total.ratio_interval()
    print(f"all variants: speed-up {all_med:.2f}x [{all_low:.2f}, {all_high:.2f}] (target >= 5x on GPU)")
    if not args.no_write:
        write(rows, total, args)


def write(rows: list[tuple], total: Comparison, args) -> None:
    """The BENCHMARKS.md section: one row per variant and the per-round total."""
    all_med, all_low, all_high = total.ratio_interval()
    dev = args.device.split(":")[0]
    cmd = command()
    table = [
        "| variant | checkpoint | batched (videos/s) | per-video loop (videos/s) | speed-up [95 % interval] | max abs frame difference (0-255) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    table += [
        f"| {n} | {m} | {b:.2f} | {lp:.2f} | **{r[0]:.2f}x** [{r[1]:.2f}, {r[2]:.2f}] | {d} |"
        for n, m, b, lp, r, d in rows
    ]
    videos = len(rows) * args.batch
    table.append(
        f"| all | | {videos / np.median(total.b):.2f} | {videos / np.median(total.a):.2f} | "
        f"**{all_med:.2f}x** [{all_low:.2f}, {all_high:.2f}] | |"
    )
    write_section(
        f"Batched sampling ({dev})",
        f"`fpeval.generation.generate` on the shipped FramePack-mini checkpoints: {args.batch} videos per variant "
        f"(held-out start images, one seed each), {args.sections} sections x {args.steps} UniPC steps, decoded "
        f"to 64x64 frames; one batched call against the baseline of one call per video, interleaved harness over "
        f"{args.repeats} rounds (speed-up: median per-round ratio [bootstrap 95 % interval]; 'all': per-round "
        "sums over the variants). The last column compares the batched and per-video frames.\n\n"
        f"Command: `{cmd}`  \nMachine: {machine(args.device)}\n\n" + "\n".join(table),
    )


if __name__ == "__main__":
    main()
