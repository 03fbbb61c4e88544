"""HunyuanVideo-FramePack at full size on a GPU: the released transformer configuration (~13B parameters,
random bf16 weights) at 832x480, through fpeval's engine and through diffusers' pipeline.

It reports, in one run:
- seconds per sampling step, ours and diffusers' (interleaved repeats, both arms charged for the same
  image preprocessing), and their ratio, for inverted and vanilla sampling;
- peak GPU memory of a section;
- seconds of section 2 and of section ``--long`` of one long inverted video (the paper: bounded cost);
- peak GPU memory with diffusers' group offloading of the transformer (the paper: 13B on a 6 GB GPU).

    python benchmarks/full_size.py --device cuda            # ~6-8 min on an H100/H200
    python benchmarks/full_size.py --config smoke --no-write  # the same code path, tiny, on a CPU

Only the transformer is full size: the VAE and SigLIP image encoder are small random stand-ins with the
real latent (16 channels) and embedding (1152) widths, so the timings are the transformer's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hunyuan_tiny import TINY_TRANSFORMER, tiny_pipeline  # noqa: E402
from report import command, machine, wall_time, write_section  # noqa: E402

from fpeval.models.hunyuan import HunyuanCondition, HunyuanFramepackDenoiser  # noqa: E402
from fpeval.sampling.engine import generate_latents  # noqa: E402

# lllyasviel/FramePackI2V_HY's transformer config
RELEASED = dict(
    in_channels=16,
    out_channels=16,
    num_attention_heads=24,
    attention_head_dim=128,
    num_layers=20,
    num_single_layers=40,
    num_refiner_layers=2,
    mlp_ratio=4.0,
    patch_size=2,
    patch_size_t=1,
    qk_norm="rms_norm",
    guidance_embeds=True,
    text_embed_dim=4096,
    pooled_projection_dim=768,
    rope_theta=256.0,
    rope_axes_dim=(16, 56, 56),
    has_image_proj=True,
    image_proj_dim=1152,
    has_clean_x_embedder=True,
)
CONFIGS = {
    "full": dict(transformer=RELEASED, height=480, width=832),
    "smoke": dict(
        transformer={**TINY_TRANSFORMER, "in_channels": 16, "out_channels": 16}, height=32, width=32
    ),
}
SAMPLING = {"inverted": "inverted_anti_drifting", "vanilla": "vanilla"}
GIB = 2**30


def build(config: dict, device: str):
    """The pipeline around a randomly initialised transformer, built directly on the device in its dtype."""
    from diffusers import HunyuanVideoFramepackTransformer3DModel

    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise 13B parameters in bf16, on the GPU: seconds, not minutes
    try:
        torch.manual_seed(0)
        with torch.device(device):
            transformer = HunyuanVideoFramepackTransformer3DModel(**config["transformer"]).eval()
    finally:
        torch.set_default_dtype(previous)
    pipe = tiny_pipeline(transformer=transformer)
    for name in ("vae", "image_encoder"):
        getattr(pipe, name).to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def conditioning(pipe, height: int, width: int, device: str):
    cfg = pipe.transformer.config
    g = torch.Generator().manual_seed(0)
    image = (torch.rand(1, 3, height, width, generator=g) * 2 - 1).to(device)
    text = dict(
        prompt_embeds=torch.randn(1, 16, cfg.text_embed_dim, generator=g).to(device),
        prompt_attention_mask=torch.ones(1, 16, device=device),
        pooled_prompt_embeds=torch.randn(1, cfg.pooled_projection_dim, generator=g).to(device),
    )
    return image, text


def ours(pipe, image, text, name: str, sections: int, steps: int, device: str):
    """Our engine, charged for the same image encoding the pipeline does (VAE and SigLIP)."""
    g = torch.Generator(device).manual_seed(0)
    start = pipe.prepare_image_latents(image, dtype=torch.float32, device=device, generator=g)
    embeds = pipe.encode_image(image, device=device).float()
    cond = HunyuanCondition(
        text["prompt_embeds"], text["prompt_attention_mask"], text["pooled_prompt_embeds"], embeds
    )
    den = HunyuanFramepackDenoiser(pipe.transformer)
    return generate_latents(
        den, name, start, cond, sections=sections, generators=[g], steps=steps, solver="euler", shift=7.0
    )


def theirs(pipe, image, text, name: str, sections: int, steps: int, height: int, width: int, device: str):
    return pipe(
        image=image,
        **text,
        height=height,
        width=width,
        num_frames=33 * sections,
        num_inference_steps=steps,
        guidance_scale=6.0,
        generator=torch.Generator(device).manual_seed(0),
        output_type="latent",
        sampling_type=SAMPLING[name],
    )


def peak_gib(fn, device: str) -> tuple[float, float]:
    """(seconds, peak GPU GiB) of ``fn()``; peak is NaN off CUDA."""
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    seconds, _ = wall_time(fn, device)
    peak = torch.cuda.max_memory_allocated() / GIB if device.startswith("cuda") else float("nan")
    return seconds, peak


def offload_peak(pipe, image, text, device: str) -> float:
    """Peak GiB of one section with the transformer's leaf layers streamed from CPU (NaN off CUDA)."""
    if not device.startswith("cuda"):
        return float("nan")
    pipe.transformer.to("cpu")
    torch.cuda.empty_cache()
    pipe.transformer.enable_group_offload(
        onload_device=torch.device(device),
        offload_device=torch.device("cpu"),
        offload_type="leaf_level",
        use_stream=True,
    )
    _, peak = peak_gib(lambda: ours(pipe, image, text, "inverted", 1, 1, device), device)
    print(f"group offloading: peak {peak:.2f} GiB for one section", flush=True)
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=CONFIGS, default="full")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=4, help="sampler steps per section")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the per-step comparison")
    ap.add_argument("--long", type=int, default=30, help="length of the long video (sections)")
    ap.add_argument("--no-offload", action="store_true", help="skip the group-offloading measurement")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")
    args = ap.parse_args()
    config, device = CONFIGS[args.config], args.device
    h, w = config["height"], config["width"]
    with torch.inference_mode():
        pipe = build(config, device)
        params = sum(p.numel() for p in pipe.transformer.parameters()) / 1e9
        image, text = conditioning(pipe, h, w, device)
        print(
            f"transformer {params:.2f} B parameters, {next(pipe.transformer.parameters()).dtype}, {w}x{h}",
            flush=True,
        )
        rows = []
        for name in SAMPLING:
            run_ours = lambda n=name: ours(pipe, image, text, n, 1, args.steps, device)  # noqa: E731
            run_theirs = lambda n=name: theirs(pipe, image, text, n, 1, args.steps, h, w, device)  # noqa: E731
            run_ours(), run_theirs()  # warm-up
            a, b, peak = [], [], float("nan")
            for _ in range(args.repeats):
                b.append(wall_time(run_theirs, device)[0] / args.steps)
                seconds, peak = peak_gib(run_ours, device)
                a.append(seconds / args.steps)
            ratios = [x / y for x, y in zip(a, b, strict=True)]
            rows.append(
                (
                    name,
                    min(b),
                    statistics.median(b),
                    min(a),
                    statistics.median(a),
                    min(ratios),
                    statistics.median(ratios),
                    max(ratios),
                    peak,
                )
            )
            print(
                f"{name}: diffusers {statistics.median(b):.3f} s/step, fpeval {statistics.median(a):.3f} s/step, ratio {statistics.median(ratios):.3f} [{min(ratios):.3f}, {max(ratios):.3f}], peak {peak:.1f} GiB",
                flush=True,
            )
        long = ours(pipe, image, text, "inverted", args.long, args.steps, device)
        first, last = long.step_seconds[1], long.step_seconds[-1]
        print(
            f"long inverted video: section 2 {first:.2f} s, section {args.long} {last:.2f} s, ratio {last / first:.3f}",
            flush=True,
        )
        offload = float("nan") if args.no_offload else offload_peak(pipe, image, text, device)
    if args.no_write:
        return
    table = "| sampling | diffusers s/step (min, median) | fpeval s/step (min, median) | ratio median [min, max] | peak GiB |\n| --- | --- | --- | --- | --- |\n"
    table += "\n".join(
        f"| {n} | {b0:.3f}, {bm:.3f} | {a0:.3f}, {am:.3f} | **{rm:.3f}** [{r0:.3f}, {r1:.3f}] | {p:.1f} |"
        for n, b0, bm, a0, am, r0, rm, r1, p in rows
    )
    write_section(
        f"Full size ({args.config}, {device})",
        f"The released transformer configuration ({params:.2f} B parameters, random weights, "
        f"{next(pipe.transformer.parameters()).dtype}) at {w}x{h}, one section of {args.steps} Euler steps, "
        f"{args.repeats} interleaved repeats; both arms encode the start image.\n\n"
        f"Command: `{command()}`  \nMachine: {machine(device)}\n\n{table}\n\n"
        f"Long inverted video: section 2 {first:.2f} s, section {args.long} {last:.2f} s (ratio {last / first:.3f}).  \n"
        f"Group offloading (transformer leaf layers streamed from CPU): peak {offload:.2f} GiB for one section.",
    )


if __name__ == "__main__":
    main()
