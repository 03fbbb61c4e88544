"""Metric throughput: the weight-free suite in frames/s at 64x64 and 256x256, and the learned metrics
batched (32 frames per model call) against frame by frame, the baseline a loop over frames gives (random
weights written to a temporary folder and loaded through the real loading path, so the timing is the
real model's work). The learned comparison runs on the interleaved harness: the speed-up is the median
per-round ratio with a bootstrap 95 % interval, and the two arms' values are checked equal first.
Target: >= 200 frames/s for the weight-free suite at 64x64 on 2 CPU cores.

    python benchmarks/metrics_throughput.py [--device cpu|cuda] [--frames 64] [--learned-frames 64] [--no-write]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import compare  # noqa: E402
from report import command, machine, wall_time, write_section  # noqa: E402

import metrics  # noqa: E402


def moving_video(frames: int, size: int) -> np.ndarray:
    """A photo panned 2 px per frame (natural texture and real motion for the flow metrics)."""
    from skimage import data

    img = np.tile(data.astronaut(), (2, 2, 1))
    return np.stack([img[50 : 50 + size, 50 + 2 * t : 50 + size + 2 * t] for t in range(frames)])


def timed(fn, repeats: int, device: str = "cpu") -> float:
    """Median wall time of ``repeats`` runs after one warm-up."""
    fn()
    return statistics.median(wall_time(fn, device)[0] for _ in range(repeats))


def weight_free(args) -> list[str]:
    rows = []
    names = [m.name for m in metrics.registry.expand(None)]
    for size in (64, 256):
        video = moving_video(args.frames, size)
        total = timed(
            lambda v=video: metrics.compute(v, device=args.device, fps=args.fps), args.repeats, args.device
        )
        per_metric = {
            name: timed(
                lambda n=name, v=video: metrics.compute(v, [n], device=args.device, fps=args.fps),
                1,
                args.device,
            )
            for name in names
        }
        slowest = sorted(per_metric.items(), key=lambda kv: -kv[1])[:3]
        slow = ", ".join(f"{n} {args.frames / t:.0f}" for n, t in slowest)
        fps = args.frames / total
        print(f"weight-free suite {size}x{size}: {fps:.1f} frames/s ({len(names)} metrics); slowest: {slow}")
        rows.append(
            f"| {size}x{size} | {len(names)} | {args.frames} | {total:.3f} s | **{fps:.1f}** | {slow} |"
        )
    return rows


def learned(args, tmp: Path) -> list[str]:
    import open_clip
    import torchvision

    from metrics.learned.clip_scores import ClipAesthetic
    from metrics.learned.lpips_consistency import LpipsPrev
    from metrics.learned.raft_dynamic import DynamicRaft

    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp / "alexnet-owt-7be5be79.pth")
    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns that this random model has no weights
    clip_model = open_clip.create_model(args.clip_model)
    torch.save(clip_model.state_dict(), tmp / "clip.pt")
    embed = clip_model.text_projection.shape[1]
    torch.save(torch.nn.Linear(embed, 1).state_dict(), tmp / "sa_0_4_vit_l_14_linear.pth")
    torch.save(torchvision.models.optical_flow.raft_small(weights=None).state_dict(), tmp / "raft_small.pth")
    del clip_model
    weights = {
        "lpips": str(tmp / "alexnet-owt-7be5be79.pth"),
        "clip": str(tmp / "clip.pt"),
        "aesthetic_head": str(tmp / "sa_0_4_vit_l_14_linear.pth"),
        "raft": str(tmp / "raft_small.pth"),
    }
    aesthetic = ClipAesthetic()
    aesthetic.model_name = args.clip_model
    raft = DynamicRaft()
    raft.arch = "raft_small"
    video = moving_video(args.learned_frames, 128)
    rows = []
    for label, metric in (
        ("LPIPS alex (prev frame)", LpipsPrev()),
        (f"CLIP aesthetic ({args.clip_model})", aesthetic),
        ("RAFT small dynamic (20 iters)", raft),
    ):

        def run(batch_size: int, m=metric):
            return metrics.compute(video, [m], device=args.device, batch_size=batch_size, weights=weights)

        def same(batched, single) -> None:
            np.testing.assert_allclose(batched["value"], single["value"], rtol=1e-4, atol=1e-5)

        cmp = compare(
            lambda r=run: r(1),
            lambda r=run: r(32),
            names=("frame by frame", "batch 32"),
            rounds=args.repeats,
            check=same,
            sync=torch.cuda.synchronize if args.device.startswith("cuda") else None,
        )
        med, low, high = cmp.ratio_interval()
        n = args.learned_frames
        batched, single = n / np.median(cmp.b), n / np.median(cmp.a)
        print(f"{label}: {cmp.summary()}")
        rows.append(f"| {label} | {batched:.1f} | {single:.1f} | **{med:.2f}x** [{low:.2f}, {high:.2f}] |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=64, help="frames per video for the weight-free suite")
    ap.add_argument(
        "--learned-frames",
        type=int,
        default=64,
        help="frames (128x128) for the learned metrics: 2 batches of 32",
    )
    ap.add_argument("--fps", type=float, default=30.0, help="video fps (dynamic degree samples ~8 fps)")
    ap.add_argument("--repeats", type=int, default=10, help="timed rounds (the learned comparison's harness)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--clip-model", default="ViT-B-32", help="open_clip architecture for the CLIP timing")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    wf = weight_free(args)
    with tempfile.TemporaryDirectory() as tmp:
        ln = learned(args, Path(tmp))
    if args.no_write:
        return
    cmd = command()
    write_section(
        f"Metric throughput ({args.device})",
        f"Weight-free suite (every default metric, one `metrics.compute` call) on a panned photo, "
        f"{args.frames} frames at {args.fps:g} fps, median of {args.repeats}; target >= 200 frames/s at "
        f"64x64 on 2 cores. Learned metrics on {args.learned_frames} frames of 128x128 with random weights "
        f"loaded through the real loaders: batch 32 against the baseline of one frame per call, interleaved "
        f"harness over {args.repeats} rounds, values checked equal first (speed-up: median per-round ratio "
        f"[bootstrap 95 % interval]). 1-minute load average when the run "
        f"started: {load:.2f} (other jobs may share the machine).\n\n"
        f"Command: `{cmd}`  \nMachine: {machine(args.device)}\n\n"
        "| frame size | metrics | T | time | frames/s | slowest metrics alone (frames/s) |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(wf) + "\n\n"
        "| learned metric | batched frames/s | per-frame frames/s | speed-up [95 % interval] |\n"
        "| --- | --- | --- | --- |\n" + "\n".join(ln),
    )


if __name__ == "__main__":
    main()
