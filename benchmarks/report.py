"""Shared helpers for benchmark scripts: machine description and BENCHMARKS.md sections."""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

import torch
from torch.utils.flop_counter import register_flop_formula, sdpa_flop_count

from fpeval.artifacts import write_text

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_val=None, **kwargs) -> int:
    """The CPU flash-attention kernel's FLOPs (torch's counter knows only the GPU kernels); registered
    when any benchmark imports this module, so every FLOP count includes CPU attention."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def wall_time(fn, device: str) -> tuple[float, object]:
    """(seconds, result) of ``fn()``, with CUDA synchronised before and after so queued kernels count."""
    import time

    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def matmul_peak(
    dtype: torch.dtype = torch.float32, *, threads: int | None = None, size: int = 2048, repeats: int = 10
) -> float:
    """Best CPU matmul FLOP/s in ``dtype`` over ``repeats`` (size x size) products (on ``threads`` torch
    threads if given): the measured peak that CPU floors and MFU are taken against."""
    if threads is not None:
        torch.set_num_threads(threads)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # warm-up
    best = min(wall_time(lambda: a @ b, "cpu")[0] for _ in range(repeats))
    return 2 * size**3 / best


def add_run_args(ap, *, sections: int, steps: int, repeats: int = 3, batch: int | None = None) -> None:
    """The options every sampling benchmark takes: --device, --sections, --steps, --repeats, --no-write
    (and --batch when ``batch`` is given)."""
    ap.add_argument("--device", default="cpu")
    if batch is not None:
        ap.add_argument("--batch", type=int, default=batch, help="videos per batch (held-out start images)")
    ap.add_argument("--sections", type=int, default=sections)
    ap.add_argument("--steps", type=int, default=steps, help="sampler steps per section (model calls)")
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")


def command() -> str:
    """The command line this benchmark was started with, as written next to its figures."""
    import shlex
    import sys

    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return shlex.join(["python", str(script), *(a for a in sys.argv[1:] if a != "--no-write")])


def machine(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        dev = torch.cuda.get_device_name(0)
    else:
        dev = f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}"
    return f"{dev}; Python {platform.python_version()}, torch {torch.__version__}; {datetime.date.today().isoformat()}"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``## name`` of BENCHMARKS.md with ``body``."""
    text = (
        BENCHMARKS_MD.read_text()
        if BENCHMARKS_MD.exists()
        else "# Benchmarks\n\nEvery figure below is printed by the command written next to it.\n"
    )
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n## {name}\n\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    write_text(BENCHMARKS_MD, text)
