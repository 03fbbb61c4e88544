"""Sampling one section with a block-causal FramePack-mini: context keys and values reused across the
sampler's steps (the default) vs recomputed at every step.

A causal model's start-image and context tokens never attend to the section, so after the first model
call of a section only the section's tokens need the transformer. Both arms run the same sampler on the
same context and noise; the outputs are checked equal (to float tolerance) before timing. Weights are
random (speed does not depend on their values) in the shipped v2 architecture. Baseline: the same model
with its context cache cleared before every call.

    python benchmarks/causal_cache.py [--device cpu|cuda] [--steps 10] [--batch 8] [--repeats 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import compare  # noqa: E402
from report import command, machine, write_section  # noqa: E402

from fpeval.models.mini import FramePackMini, MiniCondition, MiniConfig  # noqa: E402
from fpeval.plan.variants import make_plan, variant  # noqa: E402
from fpeval.sampling.engine import materialise  # noqa: E402
from fpeval.sampling.sampler import flow_sigmas, sample  # noqa: E402


def setup(device: str, batch: int, section: int = 5):
    torch.manual_seed(0)
    model = FramePackMini(MiniConfig(carry=True, out_conv=True, causal=True)).to(device).eval()
    for p in model.parameters():  # random weights everywhere, the zero-initialised layers included
        torch.nn.init.normal_(p, std=0.02)
    plan = make_plan(variant("vanilla", schedule="td_f16k4f4k2f1k1_g9"), section)
    step = plan.steps[section - 1]
    timeline = torch.randn(batch, 8, plan.total_frames, 16, 16, device=device)
    cond = MiniCondition(timeline[:, :, :1])
    x = torch.randn(batch, 8, len(step.section), 16, 16, device=device)
    return model, step, timeline, cond, x


@torch.no_grad()
def one_section(model, step, timeline, cond, x, steps: int, reuse: bool) -> torch.Tensor:
    ctx = materialise(step, timeline)

    def denoise(xt, s):
        if not reuse:
            ctx.cache.clear()
        return model(xt, s, ctx, cond)

    return sample(denoise, x, flow_sigmas(steps, 3.0), "unipc")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    model, step, timeline, cond, x = setup(args.device, args.batch)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None

    def check(a, b):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)

    cmp = compare(
        lambda: one_section(model, step, timeline, cond, x, args.steps, reuse=True),
        lambda: one_section(model, step, timeline, cond, x, args.steps, reuse=False),
        names=("reused context keys/values", "recomputed every step"),
        rounds=args.repeats,
        check=check,
        sync=sync,
    )
    med, low, high = cmp.ratio_interval()
    print(cmp.summary())
    print(f"speed-up: {1 / med:.2f}x [{1 / high:.2f}, {1 / low:.2f}]")
    if args.no_write:
        return
    write_section(
        f"Causal context cache ({args.device.split(':')[0]})",
        f"One section (9 latent frames, {args.steps} UniPC steps, batch {args.batch}) of a block-causal "
        "FramePack-mini (v2 architecture, random weights), section 5 of the Table-1 vanilla schedule. "
        "Baseline: the same model recomputing the context's keys and values at every step. Outputs checked "
        "equal (1e-4) before timing; interleaved harness.\n\n"
        f"Command: `{command()}`  \nMachine: {machine(args.device)}\n\n"
        f"{cmp.summary()}; speed-up **{1 / med:.2f}x** [{1 / high:.2f}, {1 / low:.2f}].",
    )


if __name__ == "__main__":
    main()
