"""The main job (`make run`: the quick grid) against its compute floor.

floor = the FLOPs the grid needs (sampling and decoding; counted with ``torch.utils.flop_counter``
on one video per row, CPU attention included, and scaled by the images per row) ÷ the machine's
measured dense float32 matmul peak on the same threads. The job itself runs end to end in a fresh
folder (``fpeval run``: generation, metrics, MP4s, tables) ``--repeats`` times in a child process;
reported: its wall seconds (min / median / max), the ratio of the median to the floor with a bootstrap
interval over the runs, the largest resident memory of the child, where the FLOPs go per row, and where
the seconds go (one more run under cProfile, which slows Python-heavy parts by about a tenth).

    python benchmarks/main_job.py [--config configs/quick.yaml] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Comparison  # noqa: E402
from report import ROOT, command, machine, matmul_peak, wall_time, write_section  # noqa: E402

from fpeval.generation.generate import generate  # noqa: E402
from fpeval.models import load  # noqa: E402
from fpeval.runs.grid import load_grid  # noqa: E402
from fpeval.runs.runner import start_image  # noqa: E402


def grid_flops(config: Path) -> list[dict]:
    """Per row: sampling and decoding FLOPs of all its videos (one video counted, times the images)."""
    grid, _ = load_grid(config)
    videos = (grid.samples.heldout + len(grid.samples.images)) * len(grid.samples.seeds)
    rows = []
    for row in grid.rows:
        backend = load(row.model or grid.model)
        with FlopCounterMode(display=False) as sampling:
            out = generate(
                backend,
                row.variant_config(),
                [start_image("heldout:0")],
                grid.samples.prompt,
                sections=grid.sections,
                seeds=[0],
                steps=grid.sampler.steps,
                solver=grid.sampler.solver,
                shift=grid.sampler.shift,
                cfg_scale=row.cfg_scale,
                decode=False,
            )
        with FlopCounterMode(display=False) as decoding, torch.no_grad():
            backend.decode(out.latents)
        rows.append(
            dict(
                row=row.name,
                sampling=sampling.get_total_flops() * videos,
                decoding=decoding.get_total_flops() * videos,
            )
        )
    return rows


def run_job(config: Path, profile: Path | None = None) -> float:
    """Wall seconds of one `fpeval run` of ``config`` into a fresh folder, in a child process (the
    grid's own ``threads`` setting sets its torch threads); under cProfile into ``profile`` if given."""
    fpeval = Path(sys.executable).with_name("fpeval")
    prefix = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else []
    with tempfile.TemporaryDirectory() as tmp:
        seconds, done = wall_time(
            lambda: subprocess.run(
                [*prefix, str(fpeval), "run", str(config), "--out", f"{tmp}/run"],
                capture_output=True,
                text=True,
                cwd=ROOT,
            ),
            "cpu",
        )
    if done.returncode:
        raise SystemExit(f"fpeval run failed:\n{done.stderr[-2000:]}")
    return seconds


# where the seconds go: (label, files, function) whose cumulative profile times are read; none of them
# calls another, so the times add up
PHASES = [
    ("start-up (`import fpeval.cli`)", ("fpeval/cli.py",), "<module>"),
    ("loading models (`fpeval.models.load`)", ("fpeval/models/__init__.py",), "load"),
    ("sampling (`generate_latents`)", ("fpeval/sampling/engine.py",), "generate_latents"),
    (
        "decoding (the backend's `decode`)",
        ("fpeval/models/mini_backend.py", "fpeval/models/hunyuan.py"),
        "decode",
    ),
    ("metrics (`metrics.compute`)", ("metrics/base.py",), "compute"),
    ("MP4 encoding (`write_mp4`)", ("metrics/video_io.py",), "write_mp4"),
    ("report: tables, ratings, figures (`write_report`)", ("fpeval/runs/report.py",), "write_report"),
]


def phases(profile: Path) -> tuple[float, list[tuple[str, float]]]:
    """(profiled seconds, [(phase, cumulative seconds)]) from a cProfile file."""
    stats = pstats.Stats(str(profile)).stats
    total = max(ct for *_, ct, _ in stats.values())
    spent = [
        (
            label,
            sum(
                ct for (file, _, func), (*_, ct, _) in stats.items() if func == name and file.endswith(files)
            ),
        )
        for label, files, name in PHASES
    ]
    return total, spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "quick.yaml")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the peak and the FLOP count")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    peaks = [matmul_peak(threads=args.threads, repeats=30)]
    flops = grid_flops(args.config)
    total_sampling = sum(r["sampling"] for r in flops)
    total_decoding = sum(r["decoding"] for r in flops)
    total = total_sampling + total_decoding
    seconds = [run_job(args.config) for _ in range(args.repeats)]
    # the peak once more after the runs: a neighbour's load lowers one measurement, never raises it, so
    # the floor takes the better of the two (the lower floor, against the job)
    peaks.append(matmul_peak(threads=args.threads, repeats=30))
    peak = max(peaks)
    floor = total / peak
    median = statistics.median(seconds)
    ratio, low, high = Comparison(seconds, [floor] * len(seconds), ("job", "floor")).ratio_interval()
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest run
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        profiled = run_job(args.config, Path(tmp) / "job.prof")
        profiled_total, spent = phases(Path(tmp) / "job.prof")
    counted = sum(s for _, s in spent)
    floors = {PHASES[2][0]: total_sampling / peak, PHASES[3][0]: total_decoding / peak}  # sampling, decoding

    lines = [
        f"`{args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config}` end to end "
        f"(`fpeval run` into a fresh folder: generation, metrics, MP4s, tables) in a child process, "
        f"{args.repeats} runs, torch threads {load_grid(args.config)[0].threads} (the grid's). FLOPs counted with `torch.utils.flop_counter` "
        "(CPU attention added) on one video per row, times the videos per row; the floor is those FLOPs "
        f"at the measured float32 matmul peak (2048 × 2048, best of 30, measured before and after the runs: "
        f"{peaks[0] / 1e9:.0f} and {peaks[1] / 1e9:.0f} GFLOP/s; the better is used). Baseline of the ratio: that floor; "
        "its interval is a percentile bootstrap of the median over the runs.",
        "",
        f"Command: `{command()}`  ",
        f"Machine: {machine()}",
        "",
        "| FLOPs: sampling | decoding | total | matmul peak | floor | wall (min / median / max) | median ÷ floor [95 % CI] | peak memory |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {total_sampling / 1e12:.2f} TFLOP | {total_decoding / 1e12:.2f} TFLOP | {total / 1e12:.2f} TFLOP "
        f"| {peak / 1e9:.0f} GFLOP/s | {floor:.1f} s | {min(seconds):.1f} / {median:.1f} / {max(seconds):.1f} s "
        f"| **{ratio:.2f}×** [{low:.2f}, {high:.2f}] | {rss:.0f} MiB |",
        "",
        "| row | sampling TFLOP | decoding TFLOP |",
        "| --- | --- | --- |",
        *(f"| {r['row']} | {r['sampling'] / 1e12:.3f} | {r['decoding'] / 1e12:.3f} |" for r in flops),
        "",
        f"Where the seconds go: one more run under cProfile ({profiled:.1f} s wall, {profiled_total:.1f} s profiled; "
        "cumulative seconds of each phase's function):",
        "",
        "| phase | seconds | share | floor (its FLOPs at the peak) | seconds ÷ floor |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {label} | {sec:.1f} | {sec / profiled_total:.0%} | "
            + (
                f"{floors[label]:.1f} s | {sec / floors[label]:.2f}× |"
                if label in floors
                else "none counted | |"
            )
            for label, sec in spent
        ),
        f"| the rest (importing torch and the runner, start images, Parquet and JSON files) | {profiled_total - counted:.1f} | {(profiled_total - counted) / profiled_total:.0%} | none counted | |",
        "",
        f"Goal: the grid within 2× of its floor, peak memory ≤ 1.5 GB: "
        f"{'met' if high <= 2 else 'not met'} ({ratio:.2f}× [{low:.2f}, {high:.2f}]), "
        f"{'met' if rss <= 1500 * 1e6 / 2**20 else 'not met'} ({rss:.0f} MiB; this script's own process: "
        f"{self_rss:.0f} MiB).",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Main job against its compute floor (cpu)", body)


if __name__ == "__main__":
    main()
