"""Per-step time of fpeval's sampler vs diffusers' HunyuanVideoFramepackPipeline on the same transformer.

Both arms go from the same inputs to the final latents (image preprocessing and SigLIP encoding are
charged to both), run first-order Euler with a static shift and the same seed, and are checked equal
before timing; the ratio (ours / diffusers) comes from the interleaved harness with a bootstrap interval.
Goal: <= 1.05 (upper end of the interval).

    python benchmarks/sampler_overhead.py [--config tiny|small|large] [--device cpu|cuda] [--repeats 10]

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

from harness import compare  # noqa: E402
from hunyuan_tiny import large_transformer, tiny_inputs, tiny_pipeline  # noqa: E402
from report import add_run_args, command, machine, write_section  # noqa: E402

from fpeval.models.hunyuan import HunyuanCondition, HunyuanFramepackDenoiser  # noqa: E402
from fpeval.sampling.engine import generate_latents  # noqa: E402

CONFIGS = {
    # latent size 4x4 (32 px): the transformer is tiny, so per-step overhead dominates
    "tiny": dict(height=32, width=32),
    # 128 px -> 16x16 latents, 64 tokens per frame: real attention work per step
    "small": dict(height=128, width=128),
    # 256 px -> 32x32 latents, 256 tokens per frame, 3072-wide blocks (~1.3B parameters)
    "large": dict(height=256, width=256, transformer=large_transformer),
}


def setup(args):
    """The pipeline (tiny VAE + SigLIP around the config's transformer), its inputs and our denoiser."""
    h, w = CONFIGS[args.config]["height"], CONFIGS[args.config]["width"]
    make_transformer = CONFIGS[args.config].get("transformer")
    pipe = tiny_pipeline(transformer=make_transformer() if make_transformer else None).to(args.device)
    if args.device.startswith("cuda"):
        pipe.transformer.to(torch.bfloat16)
    pipe.set_progress_bar_config(disable=True)
    return pipe, tiny_inputs(h, w), HunyuanFramepackDenoiser(pipe.transformer), (h, w)


def arms(pipe, inp, den, size, args):
    """Both arms from the same inputs to the final latents: image preprocessing, SigLIP encoding, the
    start latent and every section's sampling (Euler, shift 7, seed 0)."""
    h, w = size

    def run_diffusers():
        return pipe(
            image=inp["image"],
            prompt_embeds=inp["prompt_embeds"].to(args.device),
            prompt_attention_mask=inp["prompt_attention_mask"].to(args.device),
            pooled_prompt_embeds=inp["pooled_prompt_embeds"].to(args.device),
            height=h,
            width=w,
            num_frames=33 * args.sections,
            num_inference_steps=args.steps,
            guidance_scale=6.0,
            generator=torch.Generator(args.device).manual_seed(0),
            output_type="latent",
            sampling_type="inverted_anti_drifting",
        ).frames[-1]

    def run_ours():
        img = pipe.video_processor.preprocess(inp["image"], h, w).to(args.device)
        cond = HunyuanCondition(
            inp["prompt_embeds"].to(args.device),
            inp["prompt_attention_mask"].to(args.device),
            inp["pooled_prompt_embeds"].to(args.device),
            pipe.encode_image(img, device=args.device).float(),
            guidance_scale=6.0,
        )
        g = torch.Generator(args.device).manual_seed(0)
        start = pipe.prepare_image_latents(img, dtype=torch.float32, device=args.device, generator=g)
        return generate_latents(
            den,
            "inverted",
            start,
            cond,
            sections=args.sections,
            generators=[g],
            steps=args.steps,
            solver="euler",
            shift=7.0,
        ).latents

    return run_ours, run_diffusers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=CONFIGS, default="tiny")
    add_run_args(ap, sections=3, steps=10, repeats=10)
    args = ap.parse_args()
    pipe, inp, den, (h, w) = setup(args)
    run_ours, run_diffusers = arms(pipe, inp, den, (h, w), args)
    tolerance = 1e-5 if not args.device.startswith("cuda") else 2e-2  # bf16 on GPU

    def check(ours, theirs):
        torch.testing.assert_close(ours.float(), theirs.float(), rtol=tolerance, atol=tolerance)

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    cmp = compare(
        run_ours,
        run_diffusers,
        names=("fpeval sampler", "diffusers pipeline"),
        rounds=args.repeats,
        check=check,
        sync=sync,
    )
    med, low, high = cmp.ratio_interval()
    n_steps = args.sections * args.steps
    per_step = {name: statistics.median(t) / n_steps * 1e3 for name, t in (("ours", cmp.a), ("ref", cmp.b))}
    verdict = "met" if high <= 1.05 else "not met"
    print(cmp.summary())
    print(
        f"fpeval / diffusers = {med:.3f} [{low:.3f}, {high:.3f}] (goal <= 1.05: {verdict}); outputs equal within {tolerance:g}"
    )
    if args.no_write:
        return
    write_section(
        f"Sampler overhead vs diffusers ({args.config}, {args.device})",
        f"Both arms from the same inputs to the final latents (image preprocessing, SigLIP encoding, the start "
        f"latent and the sampling), inverted sampling, Euler, static shift 7; transformer "
        f"{next(pipe.transformer.parameters()).dtype}. Baseline: diffusers' `HunyuanVideoFramepackPipeline` "
        f"(output_type='latent'). Outputs checked equal within {tolerance:g} before timing; interleaved harness, "
        f"{args.repeats} rounds.\n\nCommand: `{command()}`  \nMachine: {machine(args.device)}\n\n"
        "| config | device | sections x steps | diffusers pipeline | fpeval sampler | fpeval / diffusers [95 % CI] | goal <= 1.05 |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        f"| {args.config} ({h}x{w} px) | {args.device} | {args.sections} x {args.steps} | {per_step['ref']:.2f} ms/step | "
        f"{per_step['ours']:.2f} ms/step | **{med:.3f}** [{low:.3f}, {high:.3f}] | {verdict} |",
    )


if __name__ == "__main__":
    main()
