"""FramePack-mini sampling under float32, bf16 autocast and torch.compile: time, agreement and FLOP use.

One batch of videos (held-out start images) is generated through ``fpeval.sampling.engine.generate_latents``
in each mode on the same device. Each mode is timed against float32 (the baseline) on the interleaved
harness, after a first run that includes compilation. Reported per mode: seconds per section, speed-up
over float32 (median per-round ratio with a bootstrap 95 % interval),
the largest latent difference to the float32 video, model FLOPs per section (counted with
``torch.utils.flop_counter``), achieved FLOP/s and, on a GPU with a known peak, model FLOP
utilisation (MFU = achieved / peak dense FLOP/s of the mode's precision).

    python benchmarks/precision_compile.py [--device cpu|cuda] [--batch 8] [--sections 10] [--steps 10]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from functools import cache
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import compare  # noqa: E402
from report import add_run_args, command, machine, matmul_peak, wall_time, write_section  # noqa: E402

from fpeval.models import load  # noqa: E402
from fpeval.sampling.engine import generate_latents  # noqa: E402
from fpeval.world.clips import heldout_start_images  # noqa: E402

# dense peak TFLOP/s (no sparsity) by GPU name fragment: (tf32 tensor core, bf16 tensor core)
PEAK_TFLOPS = {"H100": (494.7, 989.4), "H200": (494.7, 989.4), "A100": (156.0, 312.0)}
MODES = ("float32", "bf16-autocast", "float32+compile", "bf16-autocast+compile")


@cache
def cpu_peak(dtype: torch.dtype) -> float:
    """The measured CPU matmul peak in ``dtype``, once per run (so modes of one precision share it)."""
    return matmul_peak(dtype, repeats=30)


def peak_flops(device: str, mode: str) -> float | None:
    """Dense peak FLOP/s for the mode's precision: the GPU's tensor-core figure, or on CPU the measured
    2048 x 2048 matmul peak (float32, or bfloat16 for the bf16 modes)."""
    if not device.startswith("cuda"):
        return cpu_peak(torch.bfloat16 if "bf16" in mode else torch.float32)
    name = torch.cuda.get_device_name(0)
    for key, (tf32, bf16) in PEAK_TFLOPS.items():
        if key in name:
            return (bf16 if "bf16" in mode else tf32) * 1e12
    return None


def time_modes(run, reference: torch.Tensor, flops: float, modes: list[str], args) -> dict:
    """Per mode: its first run (compilation included), then the interleaved harness against float32."""
    results = {}
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    for mode in modes:
        first, out = wall_time(lambda m=mode: run(m), args.device)  # the first run (and compilation)
        cmp = compare(
            lambda: run("float32"),
            lambda m=mode: run(m),
            names=("float32", mode),
            rounds=args.repeats,
            warmup=0,
            sync=sync,
        )
        sec = statistics.median(cmp.b)
        err = float((out - reference).abs().max())
        achieved = flops / sec
        peak = peak_flops(args.device, mode)
        results[mode] = dict(
            sec=sec,
            first=first,
            err=err,
            achieved=achieved,
            mfu=achieved / peak if peak else None,
            peak=peak,
            speedup=cmp.ratio_interval(),
        )
        mfu = f", MFU {results[mode]['mfu'] * 100:.2f} %" if peak else ""
        med, low, high = results[mode]["speedup"]
        print(
            f"{mode:24s} {sec / args.sections * 1e3:8.1f} ms/section (batch {args.batch}), first run {first:.1f} s, "
            f"speed-up vs float32 {med:.2f}x [{low:.2f}, {high:.2f}], max |latent - float32| {err:.3g}, "
            f"{achieved / 1e9:.1f} GFLOP/s{mfu}",
            flush=True,
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(ap, batch=8, sections=10, steps=10, repeats=10)
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()
    modes = args.modes.split(",")
    if unknown := [m for m in modes if m not in MODES]:
        raise SystemExit(f"unknown modes {unknown}; accepted: {', '.join(MODES)}")
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 mode runs on TF32 tensor cores
        torch.backends.cudnn.allow_tf32 = True
    backend = load("mini-v2", device=args.device)
    eager = backend.denoiser
    compiled = torch.compile(eager, dynamic=True)
    images = torch.stack([img for _, img in heldout_start_images(args.batch)])
    start = backend.encode_images(images)
    cond = backend.condition([""] * args.batch, images)
    dev_type = "cuda" if cuda else "cpu"

    def run(mode: str):
        den = compiled if "compile" in mode else eager
        ctx = torch.autocast(dev_type, dtype=torch.bfloat16) if "bf16" in mode else contextlib.nullcontext()
        with ctx:
            return generate_latents(
                den,
                "vanilla",
                start,
                cond,
                sections=args.sections,
                seeds=list(range(args.batch)),
                steps=args.steps,
                shift=3.0,
            ).latents.float()

    # model FLOPs of one video batch (eager float32; the same arithmetic in every mode)
    with FlopCounterMode(display=False) as counter:
        reference = run("float32")
    flops = counter.get_total_flops()
    flops_per_section = flops / args.sections / args.batch

    results = time_modes(run, reference, flops, modes, args)
    if args.no_write:
        return
    rows = [
        "| mode | ms per section (batch) | speed-up vs float32 [95 % interval] | first run (incl. compile) | max abs latent diff vs float32 | achieved GFLOP/s | MFU |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, r in results.items():
        mfu = (
            f"{r['mfu'] * 100:.2f} % of {r['peak'] / 1e9:.0f} GFLOP/s"
            if r["mfu"] is not None
            else "n/a (no known peak)"
        )
        rows.append(
            f"| {mode} | {r['sec'] / args.sections * 1e3:.1f} | **{r['speedup'][0]:.2f}x** "
            f"[{r['speedup'][1]:.2f}, {r['speedup'][2]:.2f}] | {r['first']:.1f} s | "
            f"{r['err']:.3g} | {r['achieved'] / 1e9:.1f} | {mfu} |"
        )
    dev = args.device.split(":")[0]
    write_section(
        f"Precision and compilation ({dev})",
        f"`fpeval.sampling.engine.generate_latents` with the shipped `mini-v2`, vanilla, batch {args.batch} held-out images, "
        f"{args.sections} sections x {args.steps} UniPC steps; each mode against float32 on the interleaved harness "
        f"over {args.repeats} rounds after a first run (which includes compilation). "
        f"Model FLOPs counted by `torch.utils.flop_counter` (CPU attention included): {flops_per_section / 1e9:.2f} GFLOP "
        "per section per video. MFU = achieved ÷ the dense peak of the mode's precision: a GPU's tensor-core figure "
        "(TF32 for float32), on CPU the measured 2048 × 2048 matmul peak in float32 or bfloat16 (best of 30).\n\n"
        f"Command: `{command()}`  \n"
        f"Machine: {machine(args.device)}\n\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
