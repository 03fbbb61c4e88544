"""Training loops for FramePack-mini (nanoGPT style: one readable loop per model, plain AdamW + cosine).

``train_autoencoder`` fits the frame autoencoder on world frames; ``train_denoiser`` (recipes base,
df, discrete) fits the packed-context denoiser with flow matching on world clips.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

from fpeval.world import clip


class AutoencoderTraining(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = 3000
    batch_clips: int = 4
    frames_per_clip: int = 4
    lr: float = 5e-4
    kl_weight: float = 1e-6
    seed: int = 0
    eval_clips: int = 16


def _update(opt: torch.optim.Optimizer, model: torch.nn.Module, loss: torch.Tensor) -> None:
    """One optimiser step with gradient clipping at norm 1."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def _record(
    curve: list, step: int, steps: int, key: str, value: torch.Tensor, t0: float, log, every: int = 50
) -> None:
    """Append a loss-curve point (and log it) every ``every`` steps and at the last step."""
    if step % every == 0 or step == steps - 1:
        curve.append({"step": step, key: round(value.item(), 5), "seconds": round(time.time() - t0, 1)})
        log(f"step {step} {key} {value.item():.4f} ({time.time() - t0:.0f}s)")


def cosine_lr(step: int, steps: int, lr: float, warmup: int = 100) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def world_frames(first_seed: int, clips: int, frames: int, split: str = "train") -> torch.Tensor:
    """(clips * frames, 3, 64, 64) frames spread over each clip's first 64 frames."""
    out = []
    for s in range(first_seed, first_seed + clips):
        c = clip(s, split, 64)
        idx = torch.linspace(0, 63, frames).round().long()
        out.append(c[idx])
    return torch.cat(out)


class DenoiserTraining(BaseModel):
    """A FramePack-mini training recipe. ``layouts`` are sampled per batch; every layout is a real
    step of a variant's plan, so training sees exactly the contexts that sampling will build."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe: str = "base"  # base | df | discrete
    steps: int = 3000
    batch: int = 16
    lr: float = 1e-3
    seed: int = 0
    clips: int = 1024  # training clips, encoded once
    clip_frames: int = 64
    variants: tuple[str, ...] = ("vanilla", "inverted", "endpoint", "repeat_i2v")
    schedules: tuple[str, ...] = (
        "f1k1_td_f16k4f2k2f1k1_g9",
        "td_f16k4f4k2f1k1_g9",
        "td_f16k4f2k2f1k1_g9",
        "td_f8k8f4k4f2k2f1k1_g9",
        "ta_f16k4f4k2f1k1_g9",
        "tc_f16k4f4k2f1k1_g9",
    )
    codebook_k: int = 128
    sigma_train: float | None = Field(
        default=None, ge=0, le=1
    )  # df: history at sigma_train x sigma; None: random
    model: dict = {}  # MiniConfig overrides
    init: str | None = None  # continue from this FramePack-mini checkpoint


def encode_world(
    ae, clips: int, frames: int, first_seed: int = 0, split: str = "train", batch: int = 8, log=print
):
    """(clips, C, frames, h, w) latents of world clips, encoded with the frame autoencoder."""
    out = []
    dev = next(ae.parameters()).device
    with torch.no_grad():
        for i in range(0, clips, batch):
            seeds = range(first_seed + i, first_seed + min(i + batch, clips))
            video = torch.stack([clip(s, split, frames) for s in seeds])  # (b, T, 3, H, W)
            out.append(ae.encode(video.to(dev)).permute(0, 2, 1, 3, 4).contiguous())  # (b, C, T, h, w)
            if i % (batch * 32) == 0:
                log(f"encoded {i + len(seeds)}/{clips} clips")
    return torch.cat(out)


def cached_world_latents(path: str | Path, ae_path: str | Path, cfg: DenoiserTraining) -> torch.Tensor:
    """Encoded training clips for ``cfg``, read from ``path`` when it holds the same clips and
    autoencoder, else encoded and written there (encoding 1,024 clips takes minutes on a CPU)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from fpeval.artifacts import atomic_path
    from fpeval.models.autoencoder import FrameAutoencoder

    key = {"clips": str(cfg.clips), "clip_frames": str(cfg.clip_frames), "autoencoder": _digest(ae_path)}
    path = Path(path)
    if path.exists():
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}) == key:
                return f.get_tensor("latents")
    latents = encode_world(FrameAutoencoder.load(ae_path), cfg.clips, cfg.clip_frames)
    with atomic_path(path) as tmp:
        save_file({"latents": latents.contiguous()}, str(tmp), metadata=key)
    return latents


def _digest(path: str | Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def sample_layout(rng: torch.Generator, cfg: DenoiserTraining, clip_frames: int):
    """A random (variant config, plan step) whose frames all lie inside a clip."""
    from fpeval.variants import make_plan, variant

    while True:
        name = cfg.variants[int(torch.randint(len(cfg.variants), (1,), generator=rng))]
        base = variant(name)
        if base.order == "forward":
            schedule = cfg.schedules[int(torch.randint(len(cfg.schedules), (1,), generator=rng))]
            base = variant(name, schedule=schedule)
        max_sections = (clip_frames - 1) // base.plan_schedule.section.frames
        n = int(torch.randint(1, max_sections + 1, (1,), generator=rng))
        plan = make_plan(base, n)
        step = plan.steps[int(torch.randint(len(plan.steps), (1,), generator=rng))]
        if max(step.section) < clip_frames:
            return base, step


def train_denoiser(
    cfg: DenoiserTraining,
    ae_path: str | Path,
    out: str | Path,
    latents: torch.Tensor | None = None,
    log=print,
    device: str = "cpu",
):
    """Flow-matching training of FramePack-mini on world clips; returns (model, card).

    Random layouts, clip indices and noise come from one CPU generator, so a seed gives the same
    training data on any device; the model and the encoded clips live on ``device``."""
    from fpeval.history import Codebook
    from fpeval.models.autoencoder import FrameAutoencoder
    from fpeval.models.mini import FramePackMini, MiniConfig

    if cfg.recipe not in RECIPES:
        raise ValueError(f"unknown recipe {cfg.recipe!r}; accepted: {', '.join(RECIPES)}")
    torch.manual_seed(cfg.seed)
    rng = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    if latents is None:
        latents = encode_world(FrameAutoencoder.load(ae_path).to(device), cfg.clips, cfg.clip_frames, log=log)
    latents = latents.to(device)
    codebook = None
    if cfg.recipe == "discrete":
        codebook = Codebook.fit([latents[: min(len(latents), 256)]], k=cfg.codebook_k, seed=cfg.seed)
    model = (
        (FramePackMini.load(cfg.init) if cfg.init else FramePackMini(MiniConfig(**cfg.model)))
        .to(device)
        .train()
    )
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    curve = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, cfg.steps, cfg.lr)
        _, plan_step = sample_layout(rng, cfg, latents.shape[2])
        idx = torch.randint(len(latents), (cfg.batch,), generator=rng).to(device)
        sigma = torch.sigmoid(torch.randn(cfg.batch, generator=rng))  # logit-normal noise levels
        df_level = 0.0
        if cfg.recipe == "df":
            ratio = float(torch.rand((), generator=rng)) if cfg.sigma_train is None else cfg.sigma_train
            df_level = ratio * float(sigma.mean())
        loss = flow_loss(
            model, latents[idx], plan_step, sigma, rng, codebook=codebook, history_level=df_level
        )
        _update(opt, model, loss)
        _record(curve, step, cfg.steps, "loss", loss, t0, lambda m: log(f"{cfg.recipe} {m}"))
    model.eval().cpu()
    card = {
        "kind": "fpeval-framepack-mini",
        "recipe": cfg.recipe,
        "training": cfg.model_dump(),
        "autoencoder": Path(ae_path).name,
        "data": f"fpeval.world train split: {cfg.clips} clips x {cfg.clip_frames} frames, 64x64 at 8 fps",
        "loss_curve": curve,
        "train_seconds": round(time.time() - t0, 1),
        "train_device": torch.cuda.get_device_name(0) if str(device).startswith("cuda") else "cpu",
    }
    if cfg.init:  # keep the history of the run this one continues
        from fpeval.models.checkpoints import read_card

        card["continues"] = read_card(cfg.init)
    model.save(out, card)
    if codebook is not None:
        codebook.save(Path(out).with_name(Path(out).stem + "-codebook.safetensors"))
    return model, card


RECIPES = ("base", "df", "discrete")


def flow_loss(model, video, plan_step, sigma, rng, codebook=None, history_level: float = 0.0) -> torch.Tensor:
    """Flow-matching loss of ``model`` on one plan step of ``video`` latents (B, C, T, h, w).

    The context is materialised from the video exactly as sampling does (frames not yet generated at
    that step read as zeros), optionally quantised (+D) or noised to ``history_level`` (DiffusionForcing).
    """
    from fpeval.engine import _map_history, materialise
    from fpeval.history import diffusion_forcing_noise
    from fpeval.models.mini import MiniCondition

    timeline = torch.cat([video, torch.zeros_like(video[:, :, :1])], dim=2)
    ctx = materialise(plan_step, timeline)
    if codebook is not None:
        ctx = _map_history(ctx, codebook.quantise)
    if history_level > 0:
        ctx = _map_history(ctx, lambda h: diffusion_forcing_noise(h, history_level, rng))
        ctx.group_sigmas = [
            history_level if g.role in ("past_history", "future_history") else 0.0 for g in ctx.groups
        ]
        ctx.tail_sigma = history_level
    x0 = video[:, :, list(plan_step.section)]
    eps = torch.randn(x0.shape, generator=rng).to(x0.device)
    sigma = sigma.to(x0.device)
    s = sigma.view(-1, 1, 1, 1, 1)
    v = model((1 - s) * x0 + s * eps, sigma, ctx, MiniCondition(video[:, :, :1]))
    return (v - (eps - x0)).pow(2).mean()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.clamp(0, 1) - b.clamp(0, 1)).pow(2).mean().item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def train_autoencoder(cfg: AutoencoderTraining, out: str | Path, log=print):
    """Train the frame autoencoder; returns (model, card). The card records the loss curve and held-out PSNR."""
    from fpeval.models.autoencoder import FrameAutoencoder

    torch.manual_seed(cfg.seed)
    model = FrameAutoencoder()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    curve, t0 = [], time.time()
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, cfg.steps, cfg.lr)
        x = world_frames(cfg.seed * 10_000_000 + step * cfg.batch_clips, cfg.batch_clips, cfg.frames_per_clip)
        post = model.vae.encode(x * 2 - 1).latent_dist
        y = (model.vae.decode(post.mode()).sample + 1) / 2  # deterministic: sampling uses the posterior mean
        rec = (y - x).abs().mean()
        loss = rec + cfg.kl_weight * post.kl().mean()
        _update(opt, model, loss)
        _record(curve, step, cfg.steps, "l1", rec, t0, lambda m: log(f"ae {m}"))
    model.eval()
    with torch.no_grad():
        model.fit_latent_stats(world_frames(cfg.seed * 10_000_000 + cfg.steps * cfg.batch_clips, 32, 4))
        held = world_frames(0, cfg.eval_clips, 8, split="heldout")
        rec = model.decode(model.encode(held))
    card = {
        "kind": "fpeval-mini-autoencoder",
        "training": cfg.model_dump(),
        "data": "fpeval.world train split, 64x64 frames",
        "loss_curve": curve,
        "eval": {"heldout_psnr_db": round(psnr(rec, held), 3), "heldout_frames": int(held.shape[0])},
        "train_seconds": round(time.time() - t0, 1),
    }
    model.save(out, card)
    return model, card
