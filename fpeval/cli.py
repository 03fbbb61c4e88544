"""The ``fpeval`` command line. Every command has ``--help``; bad input exits with code 2 and a message."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from fpeval.errors import user_errors
from fpeval.plan import schedule as schedule_lang
from fpeval.plan.tokens import LatentSize, count_tokens
from fpeval.votes.cli import votes_app
from metrics.cli import drift_cmd, metrics_cmd

app = typer.Typer(
    name="fpeval",
    help="Run and evaluate FramePack sampling variants: schedules, generation, metrics, ratings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schedule_app = typer.Typer(
    help="The paper's schedule language: explain names, count tokens, plot context length.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")
variant_app = typer.Typer(help="Sampling variants as inspectable plans.", no_args_is_help=True)
app.add_typer(variant_app, name="variant")
app.add_typer(votes_app, name="votes")


@app.callback()
def main() -> None:
    """fpeval: an open instrument for the FramePack paper's claims."""


@schedule_app.command("explain")
@user_errors
def schedule_explain(
    name: str = typer.Argument(..., help="Schedule name, e.g. f1k1_x_g9_f1k1f2k2f16k4_td"),
) -> None:
    """Print a human-readable breakdown of a schedule name."""
    typer.echo(schedule_lang.parse(name).explain())


@schedule_app.command("tokens")
@user_errors
def schedule_tokens(
    name: str = typer.Argument(..., help="Schedule name, e.g. td_f16k4f4k2f1k1_g9"),
    height: int = typer.Option(480, "--height", "-H", help="Video height in pixels (latent = /8)."),
    width: int = typer.Option(832, "--width", "-W", help="Video width in pixels (latent = /8)."),
    history_frames: int | None = typer.Option(
        None,
        "--history-frames",
        "-T",
        help="Count only T real history frames (default: a full schedule, as the official loops pad with zeros).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object; key 'total' is the image-token count."
    ),
) -> None:
    """Count the image tokens of one section of a schedule at a video size."""
    counts = count_tokens(name, LatentSize.from_pixels(height, width), history_frames=history_frames)
    if as_json:
        payload = counts.to_dict()
        payload.update(height=height, width=width)
        typer.echo(json.dumps(payload))
        return
    typer.echo(
        f"{counts.schedule} at {width}x{height} (latent {counts.latent_width}x{counts.latent_height}), L_f = {counts.frame_tokens}"
    )
    for g in counts.groups:
        kernel = f"k{g.kernel}" if g.kernel else "-"
        typer.echo(f"  {g.label:<8} {g.role:<15} {g.frames:>4} frame(s) {kernel:>4} {g.tokens:>8} tokens")
    typer.echo(f"  section {counts.section}  context {counts.context}  total {counts.total}")


@schedule_app.command("list")
@user_errors
def schedule_list(
    height: int = typer.Option(480, "--height", "-H", help="Video height in pixels."),
    width: int = typer.Option(832, "--width", "-W", help="Video width in pixels."),
) -> None:
    """List the paper's schedules with their token counts."""
    latent = LatentSize.from_pixels(height, width)
    for key, name in schedule_lang.PAPER_SCHEDULES.items():
        c = count_tokens(name, latent)
        typer.echo(f"{key:<26} {name:<32} {schedule_lang.parse(name).direction.value:<9} {c.total:>7} tokens")


@schedule_app.command("context-length")
@user_errors
def schedule_context_length(
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Output folder."),
    height: int = typer.Option(480, "--height", "-H", help="Video height in pixels."),
    width: int = typer.Option(832, "--width", "-W", help="Video width in pixels."),
    max_history: int = typer.Option(
        64, "--max-history", min=1, help="Largest number of history latent frames."
    ),
) -> None:
    """Write context_length.csv and context_length.png (tokens per section vs history length)."""
    from fpeval.plan.context_length import write_context_length

    paths = write_context_length(out, height, width, max_history)
    for kind, path in paths.items():
        typer.echo(f"wrote {kind}: {path}")


def _ranges(values, labels: dict[int, str] | None = None) -> str:
    """Compact text for frame ids: runs 'a..b', 'zeros xN' for unknown frames, and named frames."""
    labels = labels or {}
    parts: list[list] = []  # [kind, first, last, count]
    for v in values:
        kind = "zero" if v is None else ("label" if v in labels else "int")
        last = parts[-1] if parts else None
        if last and kind == "zero" and last[0] == "zero":
            last[3] += 1
        elif last and kind == "int" and last[0] == "int" and v == last[2] + 1:
            last[2] = v
        else:
            parts.append([kind, v, v, 1])
    text = []
    for kind, a, b, n in parts:
        if kind == "zero":
            text.append(f"zeros x{n}")
        elif kind == "label":
            text.append(labels[a])
        else:
            text.append(str(a) if a == b else f"{a}..{b}")
    return ", ".join(text)


@variant_app.command("list")
def variant_list() -> None:
    """List the variants with their default schedules."""
    from fpeval.plan.variants import VARIANTS, variant

    for name in VARIANTS:
        config = variant(name)
        typer.echo(f"{config.label:<32} {config.order:<9} {config.schedule}")


@variant_app.command("show")
@user_errors
def variant_show(
    name: str = typer.Argument(..., help="Variant name (see `fpeval variant list`)."),
    sections: int = typer.Option(..., "--sections", "-n", help="Number of sections N."),
    schedule: str | None = typer.Option(None, "--schedule", help="Override the variant's schedule."),
    sigma_test: float | None = typer.Option(
        None, "--sigma-test", help="DiffusionForcing history noise level."
    ),
    history_guidance: float | None = typer.Option(None, "--history-guidance", help="History guidance scale."),
    end_image: bool = typer.Option(False, "--end-image", help="Plan with an end image (inverted only)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as one JSON object."),
) -> None:
    """Print a variant's plan: per step, the frames generated and every context group's kernel, RoPE and source."""
    from fpeval.plan.variants import make_plan, variant

    overrides = {
        k: v
        for k, v in dict(schedule=schedule, sigma_test=sigma_test, history_guidance=history_guidance).items()
        if v is not None
    }
    plan = make_plan(variant(name, **overrides), sections, end_image=end_image)
    if as_json:
        typer.echo(plan.to_json())
        return
    typer.echo(
        f"{plan.variant}  schedule {plan.schedule}  sections {plan.sections} x {plan.section_frames} latents  "
        f"video {plan.total_frames} latents (frame 0 = start image; 'zeros' = not yet known)"
    )
    for step in plan.steps:
        typer.echo(
            f"step {step.index}: generate frames {_ranges(step.section)} at RoPE {_ranges(step.section_rope)}"
        )
        for spec in step.context:
            what = f"tail {spec.tail}" if spec.tail else spec.role
            source = _ranges(spec.frames, {0: "start image", plan.total_frames: "end image"})
            typer.echo(f"    {what:<15} k{spec.kernel:<2} RoPE {_ranges(spec.rope):<14} <- {source}")


@app.command("run")
@user_errors
def run_cmd(
    config: Path = typer.Argument(..., help="Ablation grid YAML (e.g. configs/quick.yaml)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder (default: results/<grid name>)."),
    device: str = typer.Option("cpu", "--device", help="'cpu' or 'cuda[:i]'."),
    ray: str | None = typer.Option(
        None, "--ray", help="Spread batches over a Ray cluster: its address, or 'local' for one started here."
    ),
    check_only: bool = typer.Option(False, "--check", help="Validate the config and stop."),
) -> None:
    """Run an ablation grid: generate, score, and write tables and figures; a rerun resumes."""
    from fpeval.runs.grid import check, expand, load_grid
    from fpeval.runs.runner import run
    from metrics.frames import resolve_device

    device = resolve_device(device)
    grid, base = load_grid(config)
    if check_only:
        problems = check(grid, base)
        if problems:
            raise ValueError("the config cannot run:\n" + "\n".join(f"  - {p}" for p in problems))
        typer.echo(f"{config}: {len(grid.rows)} rows, {len(expand(grid, base, device))} videos, no problems")
        return
    folder = run(grid, out or Path("results") / grid.name, base, device=device, ray_address=ray)
    typer.echo((folder / "table.md").read_text())


@app.command("instrument")
@user_errors
def instrument_cmd(
    models: list[str] = typer.Argument(..., help="FramePack-mini names or checkpoints, e.g. mini-v2 mini."),
    out: Path = typer.Option(..., "--out", "-o", help="Report folder (e.g. results/mini/instrument)."),
    images: int = typer.Option(32, "--images", min=2, help="Held-out clips (start image i uses seed i)."),
    sections: list[int] = typer.Option([10, 20], "--sections", help="Video lengths in sections; repeatable."),
    variants: list[str] = typer.Option(
        ["vanilla:td_f16k4f4k2f1k1_g9", "anchor", "endpoint", "inverted"],
        "--variant",
        help="Variants for retention, NAME or NAME:SCHEDULE (default: Table 1's vanilla, anchor, endpoint, inverted); repeatable.",
    ),
    steps: int = typer.Option(10, "--steps", min=1, help="Sampler steps."),
    shift: float = typer.Option(3.0, "--shift", help="Static flow shift."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads."),
) -> None:
    """Does a model keep what it is shown? Teacher forcing, start-image retention and identification,
    drift against the world's own change, and filmstrips, all beside the ground-truth clips."""
    import torch

    from fpeval import models as registry
    from fpeval.generation.instrument import variant_of, write_instrument_report

    for label in variants:  # unknown names and bad schedules fail here, before any model loads
        variant_of(label)
    if any(n < 1 for n in sections):
        raise ValueError(f"--sections must be >= 1, got {sections}")
    backends = []
    for name in models:
        if name not in registry.MINI_MODELS and not name.endswith(".safetensors"):
            raise ValueError(
                f"the instrument runs FramePack-mini models; got {name!r}; accepted: {', '.join(registry.MINI_MODELS)} or a .safetensors checkpoint"
            )
        backends.append(registry.load(name))
    if threads:
        torch.set_num_threads(threads)
    tables = write_instrument_report(
        backends, out, images=images, sections=sections, variants=variants, steps=steps, shift=shift
    )
    typer.echo(tables["teacher_forced_summary"].round(3).to_string(index=False))
    cols = [
        "model",
        "sections",
        "variant",
        "first_ssim",
        "first_ssim_vs_world",
        "identified",
        "identified_vs_world",
    ]
    typer.echo(tables["retention_summary"][cols].round(3).to_string(index=False))


@app.command("table")
@user_errors
def table_cmd(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, latex, html or json."),
    votes: Path | None = typer.Option(
        None, "--votes", help="A vote store (votes.sqlite) whose human votes give the ratings."
    ),
) -> None:
    """Print a run's table in the paper's layout, with 95 % bootstrap intervals."""
    from fpeval.runs.tables import build_table, format_table

    typer.echo(format_table(build_table(run_dir, votes), fmt))


@app.command("compare")
@user_errors
def compare_cmd(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    reference: Path = typer.Argument(..., help="The run folder it should reproduce (e.g. results/quick)."),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="Relative tolerance for every number."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when the run does not reproduce."),
) -> None:
    """Check a rerun against a reference: which numbers moved, and whether any verdict changed."""
    from fpeval.runs.compare import compare_runs

    result = compare_runs(run_dir, reference, tolerance)
    typer.echo(result.report())
    if strict and not result.reproduces:
        raise typer.Exit(code=1)


# the options of `fpeval train`
_TrainRecipe = Annotated[
    str,
    typer.Argument(
        help="ae (frame autoencoder), base, df (DiffusionForcing), discrete (+D) or causal (block-causal attention)."
    ),
]
_TrainOut = Annotated[
    Path,
    typer.Option("--out", "-o", help="Checkpoint path (.safetensors); a .json card is written beside it."),
]
_TrainAutoencoder = Annotated[
    Path | None,
    typer.Option("--autoencoder", help="Frame autoencoder checkpoint (default: the shipped mini-v2-ae)."),
]
_TrainSteps = Annotated[
    int | None, typer.Option("--steps", help="Optimisation steps (default: the recipe's).")
]
_TrainBatch = Annotated[
    int | None,
    typer.Option("--batch", help="Batch size: clips per step (the autoencoder takes 2 frames of each)."),
]
_TrainClips = Annotated[
    int | None, typer.Option("--clips", help="World clips to encode for training (denoiser recipes).")
]
_TrainSeed = Annotated[int, typer.Option("--seed", help="Training seed.")]
_TrainLr = Annotated[float | None, typer.Option("--lr", help="Peak learning rate (cosine schedule).")]
_TrainSigmaTrain = Annotated[
    float | None,
    typer.Option("--sigma-train", help="df recipe: fixed history noise ratio (default: random in [0, 1])."),
]
_TrainSigmaShift = Annotated[
    float | None,
    typer.Option(
        "--sigma-shift",
        help="Denoiser recipes: shift the logit-normal training noise levels like a sampling shift (default 1).",
    ),
]
_TrainSigmaDistribution = Annotated[
    str | None,
    typer.Option(
        "--sigma-distribution",
        help="Denoiser recipes: training noise levels t before the shift, logit_normal (default) or uniform.",
    ),
]
_TrainInit = Annotated[
    Path | None,
    typer.Option(
        "--init", help="Continue from this checkpoint (a FramePack-mini denoiser, or an autoencoder for ae)."
    ),
]
_TrainLatentsCache = Annotated[
    Path | None,
    typer.Option(
        "--latents-cache",
        help="Encoded training clips (.safetensors): read when present, written after encoding otherwise.",
    ),
]
_TrainEma = Annotated[
    float | None,
    typer.Option(
        "--ema",
        help="Denoiser recipes: write an exponential moving average of the weights with this decay (e.g. 0.999).",
    ),
]
_TrainAdapterRank = Annotated[
    int | None,
    typer.Option(
        "--adapter-rank",
        help="Denoiser recipes with --init: train and ship only low-rank adapters (LoRA) of this rank.",
    ),
]
_TrainVariants = Annotated[
    str | None,
    typer.Option(
        "--variants",
        help="Denoiser recipes: comma-separated variants whose plan steps training samples "
        "(default: vanilla,inverted,endpoint,repeat_i2v).",
    ),
]
_TrainThreads = Annotated[int | None, typer.Option("--threads", help="torch CPU threads.")]
_TrainSaveEvery = Annotated[
    int,
    typer.Option(
        "--save-every", help="Also write the checkpoint (and its card) every N steps; 0: only at the end."
    ),
]
_TrainDevice = Annotated[str, typer.Option("--device", help="Training device: cpu, cuda, cuda:1, ...")]
_TrainModelOverrides = Annotated[
    list[str] | None,
    typer.Option(
        "--model", help="MiniConfig override KEY=VALUE (denoiser recipes), e.g. --model dim=192; repeatable."
    ),
]


@app.command("train")
@user_errors
def train_cmd(
    recipe: _TrainRecipe,
    out: _TrainOut,
    autoencoder: _TrainAutoencoder = None,
    steps: _TrainSteps = None,
    batch: _TrainBatch = None,
    clips: _TrainClips = None,
    seed: _TrainSeed = 0,
    lr: _TrainLr = None,
    sigma_train: _TrainSigmaTrain = None,
    sigma_shift: _TrainSigmaShift = None,
    sigma_distribution: _TrainSigmaDistribution = None,
    init: _TrainInit = None,
    latents_cache: _TrainLatentsCache = None,
    ema: _TrainEma = None,
    adapter_rank: _TrainAdapterRank = None,
    variants: _TrainVariants = None,
    threads: _TrainThreads = None,
    save_every: _TrainSaveEvery = 0,
    device: _TrainDevice = "cpu",
    model_overrides: _TrainModelOverrides = None,
) -> None:
    """Train FramePack-mini: the frame autoencoder or a denoiser recipe, on the procedural world."""
    import torch

    from fpeval.generation.training import RECIPES
    from fpeval.models.checkpoints import read_checkpoint
    from metrics.frames import resolve_device

    if out.suffix != ".safetensors":
        raise ValueError(f"--out must end in .safetensors, got {out}")
    if recipe != "ae" and recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; accepted: ae, {', '.join(RECIPES)}")
    device = resolve_device(device)
    for given in (init, autoencoder):  # unreadable weights fail now, not after minutes of encoding
        if given is not None:
            read_checkpoint(given)
    if threads:
        torch.set_num_threads(threads)
    common = dict(
        steps=steps, seed=seed, lr=lr, init=str(init) if init else None, save_every=save_every or None
    )
    if recipe == "ae":
        _train_autoencoder_cli(out, dict(common, batch_clips=batch))
        return
    settings = dict(
        common,
        batch=batch,
        clips=clips,
        sigma_train=sigma_train,
        sigma_shift=sigma_shift,
        sigma_distribution=sigma_distribution,
        ema=ema,
        adapter_rank=adapter_rank,
        variants=_variant_list(variants) if variants else None,
        model=_model_overrides(model_overrides) if model_overrides else None,
    )
    _train_denoiser_cli(recipe, out, settings, autoencoder, latents_cache, device)


def _given(settings: dict) -> dict:
    """The settings given on the command line (None: the recipe's default)."""
    return {k: v for k, v in settings.items() if v is not None}


def _train_autoencoder_cli(out: Path, settings: dict) -> None:
    from fpeval.generation.training import AutoencoderTraining, train_autoencoder

    _, card = train_autoencoder(AutoencoderTraining(**_given(settings)), out)
    typer.echo(f"wrote {out}: held-out PSNR {card['eval']['heldout_psnr_db']} dB")


def _train_denoiser_cli(recipe: str, out: Path, settings: dict, autoencoder, latents_cache, device) -> None:
    from fpeval.generation.training import DenoiserTraining, cached_world_latents, train_denoiser
    from fpeval.models import WEIGHTS

    ae = autoencoder or WEIGHTS / "mini-v2-ae.safetensors"
    cfg = DenoiserTraining(recipe=recipe, **_given(settings))
    latents = cached_world_latents(latents_cache, ae, cfg) if latents_cache else None
    _, card = train_denoiser(cfg, ae, out, latents=latents, device=device)
    typer.echo(f"wrote {out}: final loss {card['loss_curve'][-1]['loss']}")


def _variant_list(text: str) -> tuple[str, ...]:
    """``"vanilla,inverted"`` -> known variant names (a clear error for any other)."""
    from fpeval.plan.variants import VARIANTS

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(
            f"bad --variants {text!r}; accepted: comma-separated names from {', '.join(VARIANTS)}"
        )
    return names


def _model_overrides(items: list[str]) -> dict:
    """``["dim=192", "depth=6"]`` -> MiniConfig overrides, checked against its fields."""
    import json

    from fpeval.models.mini import FramePackMini, MiniConfig

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in MiniConfig.model_fields:
            raise ValueError(
                f"bad --model override {item!r}; expected KEY=VALUE with KEY one of {', '.join(MiniConfig.model_fields)}"
            )
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    FramePackMini(MiniConfig(**out))  # validate now, before any encoding or training
    return out


def _load_backend(
    model: str | None,
    device: str | None,
    dtype: str | None,
    offload: str,
    prompt_embeds: Path | None,
    guidance: float,
):
    """A FramePack-mini name / checkpoint, or a HunyuanVideo-FramePack folder (default: $FPEVAL_HUNYUAN_FRAMEPACK)."""
    import torch

    from fpeval import models
    from fpeval.models.hunyuan import HunyuanBackend, load_prompt_embeds

    if model is not None and (model in models.MINI_MODELS or model.endswith(".safetensors")):
        return models.load(model, device=device or "cpu")
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype is not None and dtype not in dtypes:
        raise ValueError(f"unknown dtype {dtype!r}; accepted: {', '.join(dtypes)}")
    pe = load_prompt_embeds(prompt_embeds) if prompt_embeds is not None else None
    return HunyuanBackend.from_pretrained(
        model,
        device=device,
        dtype=dtypes.get(dtype),
        offload=offload,
        prompt_embeds=pe,
        prompt_embeds_file=prompt_embeds,
        guidance_scale=guidance,
    )


@app.command("generate")
@user_errors
def generate_cmd(
    image: Path = typer.Option(
        ..., "--image", "-i", help="Start image (its size is the video size; multiple of 16)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output folder for <variant>_seed<S>.mp4 + .json sidecar."
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="mini-v2 / mini-v2-df / mini-v2-discrete, a .safetensors checkpoint, or a HunyuanVideo-FramePack folder "
        "(default: $FPEVAL_HUNYUAN_FRAMEPACK).",
    ),
    variant_name: str = typer.Option(
        "inverted", "--variant", "-v", help="Sampling variant (`fpeval variant list`)."
    ),
    schedule: str | None = typer.Option(None, "--schedule", help="Override the variant's schedule."),
    sections: int = typer.Option(..., "--sections", "-n", help="Number of sections."),
    seed: list[int] = typer.Option([0], "--seed", "-s", help="Seed; repeat for several videos in one batch."),
    prompt: str = typer.Option("", "--prompt", "-p", help="Text prompt."),
    prompt_embeds: Path | None = typer.Option(
        None, "--prompt-embeds", help="Precomputed prompt embeddings (safetensors)."
    ),
    end_image: Path | None = typer.Option(None, "--end-image", help="End image (inverted sampling only)."),
    codebook: Path | None = typer.Option(
        None, "--codebook", help="Codebook for discrete history (safetensors)."
    ),
    steps: int = typer.Option(25, "--steps", help="Sampling steps per section."),
    solver: str = typer.Option("unipc", "--solver", help="'unipc' (official) or 'euler' (diffusers)."),
    shift: float | None = typer.Option(None, "--shift", help="Static shift (default: dynamic rule)."),
    guidance: float = typer.Option(10.0, "--guidance", help="Distilled guidance scale."),
    sigma_test: float | None = typer.Option(
        None, "--sigma-test", help="DiffusionForcing history noise level."
    ),
    device: str | None = typer.Option(None, "--device", help="cuda / cpu (default: cuda when available)."),
    dtype: str | None = typer.Option(
        None, "--dtype", help="float32 / bfloat16 / float16 (default: bf16 on GPU)."
    ),
    offload: str = typer.Option(
        "none", "--offload", help="'none', or CPU offload: 'model', 'sequential', 'group'."
    ),
) -> None:
    """Generate videos with a sampling variant; write MP4s, JSON sidecars and latents."""
    from fpeval.generation.generate import generate
    from fpeval.images import to_tensor
    from fpeval.sampling.history import Codebook
    from metrics.frames import resolve_device

    config = _generation_variant(variant_name, schedule, sigma_test, steps, seed, solver)
    device = resolve_device(device) if device is not None else None
    from fpeval import models
    from fpeval.plan.variants import make_plan

    chosen = model or os.environ.get("FPEVAL_HUNYUAN_FRAMEPACK")
    if chosen is not None and (problem := models.plan_problem(chosen, make_plan(config, sections), config)):
        raise ValueError(problem)  # before any weights load
    to_tensor(image)  # validate inputs before loading anything
    if end_image is not None:
        to_tensor(end_image)
    book = Codebook.load(codebook) if codebook is not None else None
    backend = _load_backend(model, device, dtype, offload, prompt_embeds, guidance)
    result = generate(
        backend,
        config,
        image,
        prompt,
        sections=sections,
        seeds=seed,
        steps=steps,
        solver=solver,
        shift=shift,
        end_image=end_image,
        codebook=book,
    )
    for video in _write_videos(result, config, out, backend.fps, image):
        typer.echo(f"wrote {video}")


def _generation_variant(name: str, schedule, sigma_test, steps: int, seeds: list[int], solver: str):
    """The variant ``fpeval generate`` will run, after checking its sampler settings."""
    from fpeval.plan.variants import variant
    from fpeval.runs.grid import MAX_SEED, SOLVERS

    overrides = {k: v for k, v in dict(schedule=schedule, sigma_test=sigma_test).items() if v is not None}
    config = variant(name, **overrides)
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise ValueError(f"--seed must be in 0..{MAX_SEED}, got {bad}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; accepted: {', '.join(SOLVERS)}")
    return config


def _write_videos(result, config, out: Path, fps: float, image: Path) -> list[Path]:
    """Per seed: ``<variant>_seed<S>.mp4``, its JSON sidecar and its latents, each written atomically."""
    from safetensors.torch import save_file

    from fpeval.artifacts import atomic_path
    from fpeval.video import write_mp4, write_sidecar

    written = []
    for i, meta in enumerate(result.metadata):
        stem = f"{config.name}_seed{meta['seed']}".replace("+", "plus")
        video = write_mp4(out / f"{stem}.mp4", result.frames[i], fps=fps)
        with atomic_path(out / f"{stem}.latents.safetensors") as tmp:
            save_file({"latents": result.latents[i].contiguous().cpu()}, str(tmp))
        write_sidecar(video, {**meta, "image": str(image), "video": video.name})
        written.append(video)
    return written


app.command("metrics")(user_errors(metrics_cmd))
app.command("drift")(user_errors(drift_cmd))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
