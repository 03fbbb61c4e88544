"""Per-step time of fpeval's sampler vs diffusers' HunyuanVideoFramepackPipeline on the same transformer.

Both run first-order Euler with a static shift, output_type="latent", the same seed and section
count; the ratio (ours / diffusers) is measured in one run. Target: <= 1.05.

    python benchmarks/sampler_overhead.py [--config tiny|small|large] [--device cpu|cuda] [--repeats 5]

``large`` is the real model's width (3072 hidden, 16 latent channels) with 2 + 4 layers, random weights, in
bf16 on a GPU: the per-step work a GPU really does, to show whether our packing/bookkeeping costs anything there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hunyuan_tiny import large_transformer, tiny_inputs, tiny_pipeline  # noqa: E402
from report import add_run_args, command, machine, wall_time, write_section  # noqa: E402

from fpeval.engine import generate_latents  # noqa: E402
from fpeval.models.hunyuan import HunyuanCondition, HunyuanFramepackDenoiser  # noqa: E402

CONFIGS = {
    # latent size 4x4 (32 px): the transformer is tiny, so per-step overhead dominates
    "tiny": dict(height=32, width=32),
    # 128 px -> 16x16 latents, 64 tokens per frame: real attention work per step
    "small": dict(height=128, width=128),
    # 256 px -> 32x32 latents, 256 tokens per frame, 3072-wide blocks (~1.3B parameters)
    "large": dict(height=256, width=256, transformer=large_transformer),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=CONFIGS, default="tiny")
    add_run_args(ap, sections=3, steps=10, repeats=5)
    args = ap.parse_args()
    h, w = CONFIGS[args.config]["height"], CONFIGS[args.config]["width"]
    make_transformer = CONFIGS[args.config].get("transformer")
    pipe = tiny_pipeline(transformer=make_transformer() if make_transformer else None).to(args.device)
    if args.device.startswith("cuda"):
        pipe.transformer.to(torch.bfloat16)
    pipe.set_progress_bar_config(disable=True)
    inp = tiny_inputs(h, w)
    img = pipe.video_processor.preprocess(inp["image"], h, w).to(args.device)
    emb = pipe.encode_image(img, device=args.device).float()
    cond = HunyuanCondition(
        inp["prompt_embeds"].to(args.device),
        inp["prompt_attention_mask"].to(args.device),
        inp["pooled_prompt_embeds"].to(args.device),
        emb,
        guidance_scale=6.0,
    )
    den = HunyuanFramepackDenoiser(pipe.transformer)
    n_steps = args.sections * args.steps

    def run_diffusers():
        pipe(
            image=inp["image"],
            prompt_embeds=cond.prompt_embeds,
            prompt_attention_mask=cond.prompt_attention_mask,
            pooled_prompt_embeds=cond.pooled_prompt_embeds,
            height=h,
            width=w,
            num_frames=33 * args.sections,
            num_inference_steps=args.steps,
            guidance_scale=6.0,
            generator=torch.Generator(args.device).manual_seed(0),
            output_type="latent",
            sampling_type="inverted_anti_drifting",
        )

    def run_ours():
        g = torch.Generator(args.device).manual_seed(0)
        start = pipe.prepare_image_latents(img, dtype=torch.float32, device=args.device, generator=g)
        generate_latents(
            den,
            "inverted",
            start,
            cond,
            sections=args.sections,
            generators=[g],
            steps=args.steps,
            solver="euler",
            shift=7.0,
        )

    def timed(fn):
        return wall_time(fn, args.device)[0] / n_steps

    run_diffusers(), run_ours()  # warm-up
    ours, ref = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both
        ref.append(timed(run_diffusers))
        ours.append(timed(run_ours))
    m_ours, m_ref = statistics.median(ours), statistics.median(ref)
    ratio = m_ours / m_ref
    line = (
        f"| {args.config} ({h}x{w} px) | {args.device} | {args.sections} x {args.steps} | "
        f"{m_ref * 1e3:.2f} ms | {m_ours * 1e3:.2f} ms | **{ratio:.3f}** |"
    )
    print(
        f"diffusers {m_ref * 1e3:.2f} ms/step, fpeval {m_ours * 1e3:.2f} ms/step, ratio {ratio:.3f} (target <= 1.05)"
    )
    if not args.no_write:
        cmd = command()
        write_section(
            f"Sampler overhead vs diffusers ({args.config}, {args.device})",
            f"Median per-step time over {args.repeats} interleaved runs, inverted sampling, Euler, static shift 7, "
            f"latents only; transformer {next(pipe.transformer.parameters()).dtype}.\n\nCommand: `{cmd}`  \nMachine: {machine(args.device)}\n\n"
            "| config | device | sections x steps | diffusers pipeline | fpeval sampler | ratio |\n"
            "| --- | --- | --- | --- | --- | --- |\n" + line,
        )


if __name__ == "__main__":
    main()
