"""Training loops for FramePack-mini (nanoGPT style: one readable loop per model, plain AdamW + cosine).

``train_autoencoder`` fits the frame autoencoder on world frames; ``train_denoiser`` (recipes base,
df, discrete) fits the packed-context denoiser with flow matching on world clips.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from safetensors import safe_open
from safetensors.torch import save_file
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from fpeval.artifacts import atomic_path
from fpeval.models import codebook_path
from fpeval.models.adapters import TARGETS, adapter_state, add_adapters
from fpeval.models.autoencoder import AutoencoderConfig, FrameAutoencoder
from fpeval.models.checkpoints import file_digest, read_card, write_checkpoint
from fpeval.models.mini import FramePackMini, MiniCondition, MiniConfig
from fpeval.plan.variants import make_plan, variant
from fpeval.sampling.contract import map_history, noise_history
from fpeval.sampling.engine import materialise
from fpeval.sampling.history import Codebook
from fpeval.sampling.sampler import shift_sigmas
from fpeval.world import clip
from fpeval.world.assets import HELDOUT_PHOTOS, photo
from metrics.functional import psnr


class AutoencoderTraining(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(default=3000, ge=1)
    batch_clips: int = Field(default=4, ge=1)
    frames_per_clip: int = Field(default=2, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    mse_weight: float = 1.0  # L1 + mse_weight * MSE: L1 keeps edges, MSE is what PSNR measures
    seed: int = 0
    eval_clips: int = 16
    model: dict = {}  # AutoencoderConfig overrides
    init: str | None = None  # continue from this autoencoder checkpoint
    save_every: int = Field(default=0, ge=0)  # also write the checkpoint every N steps (0: only at the end)


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

    recipe: Literal["base", "df", "discrete", "causal"] = "base"
    steps: int = Field(default=3000, ge=1)
    batch: int = Field(default=16, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    seed: int = Field(default=0, ge=0)
    clips: int = Field(default=1024, ge=1)  # training clips, encoded once
    clip_frames: int = Field(
        default=48, ge=2
    )  # 5 sections + 1: every inverted padding (3, 2, 1, 0) fits in a clip
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
    sigma_distribution: Literal["logit_normal", "uniform"] = "logit_normal"  # of t, before the shift
    sigma_shift: float = Field(default=1.0, gt=0)  # training noise levels shifted like sampling's
    sigma_train: float | None = Field(
        default=None, ge=0, le=1
    )  # df: history at sigma_train x sigma; None: random
    model: dict = {}  # MiniConfig overrides (with ``init``: only ``carry``, to add the carry input)
    init: str | None = None  # continue from this FramePack-mini checkpoint
    adapter_rank: int = Field(default=0, ge=0)  # >0: train (and ship) only low-rank adapters on ``init``
    adapter_alpha: float | None = Field(default=None, gt=0)  # adapter scale alpha / rank (None: alpha = rank)
    ema: float = Field(default=0.0, ge=0, lt=1)  # >0: ship an exponential moving average of the weights
    save_every: int = Field(default=0, ge=0)  # also write the checkpoint every N steps (0: only at the end)


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

    key = {"clips": str(cfg.clips), "clip_frames": str(cfg.clip_frames), "autoencoder": file_digest(ae_path)}
    path = Path(path)
    if path.exists():
        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}) == key:
                return f.get_tensor("latents")
    latents = encode_world(FrameAutoencoder.load(ae_path), cfg.clips, cfg.clip_frames)
    with atomic_path(path) as tmp:
        save_file({"latents": latents.contiguous()}, str(tmp), metadata=key)
    return latents


def sample_layout(rng: torch.Generator, cfg: DenoiserTraining, clip_frames: int):
    """A random (variant config, plan step) whose frames all lie inside a clip."""

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


SIGMA_DISTRIBUTIONS = ("logit_normal", "uniform")


def training_sigmas(
    n: int, rng: torch.Generator, shift: float = 1.0, distribution: str = "logit_normal"
) -> torch.Tensor:
    """Noise levels t (logit-normal, or uniform) shifted as the sampler shifts its schedule
    (s * t / (1 + (s - 1) t)). Uniform t with the sampler's shift puts training where a sampler with
    evenly spaced t evaluates, including the near-pure-noise levels its first steps start from."""

    if distribution not in SIGMA_DISTRIBUTIONS:
        raise ValueError(
            f"unknown sigma distribution {distribution!r}; accepted: {', '.join(SIGMA_DISTRIBUTIONS)}"
        )
    if distribution == "uniform":
        t = torch.rand(n, generator=rng)
    else:
        t = torch.sigmoid(torch.randn(n, generator=rng))
    return shift_sigmas(t, shift)


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

    if cfg.recipe not in RECIPES:
        raise ValueError(f"unknown recipe {cfg.recipe!r}; accepted: {', '.join(RECIPES)}")
    if cfg.sigma_distribution not in SIGMA_DISTRIBUTIONS:
        raise ValueError(
            f"unknown sigma distribution {cfg.sigma_distribution!r}; accepted: {', '.join(SIGMA_DISTRIBUTIONS)}"
        )
    torch.manual_seed(cfg.seed)
    rng = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    if latents is None:
        latents = encode_world(FrameAutoencoder.load(ae_path).to(device), cfg.clips, cfg.clip_frames, log=log)
    latents = latents.to(device)
    codebook = None
    if cfg.recipe == "discrete":
        codebook = Codebook.fit([latents[: min(len(latents), 256)]], k=cfg.codebook_k, seed=cfg.seed)
    options = {**cfg.model, "causal": True} if cfg.recipe == "causal" else dict(cfg.model)
    model = FramePackMini.load(cfg.init, **options) if cfg.init else FramePackMini(MiniConfig(**options))
    if cfg.adapter_rank:
        if not cfg.init:
            raise ValueError("adapter_rank needs init: the checkpoint the adapters fine-tune")
        add_adapters(model, cfg.adapter_rank, cfg.adapter_alpha)
    model = model.to(device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=0.01)
    averaged = _ema(model, cfg.ema)
    curve = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, cfg.steps, cfg.lr)
        _, plan_step = sample_layout(rng, cfg, latents.shape[2])
        idx = torch.randint(len(latents), (cfg.batch,), generator=rng).to(device)
        sigma = training_sigmas(cfg.batch, rng, cfg.sigma_shift, cfg.sigma_distribution)
        df_level = 0.0
        if cfg.recipe == "df":
            ratio = float(torch.rand((), generator=rng)) if cfg.sigma_train is None else cfg.sigma_train
            df_level = ratio * float(sigma.mean())
        loss = flow_loss(
            model, latents[idx], plan_step, sigma, rng, codebook=codebook, history_level=df_level
        )
        _update(opt, model, loss)
        if averaged is not None:
            averaged.update_parameters(model)
        _record(curve, step, cfg.steps, "loss", loss, t0, lambda m: log(f"{cfg.recipe} {m}"))
        if cfg.save_every and step and step % cfg.save_every == 0:
            shipped = model if averaged is None else averaged.module
            _save_denoiser(shipped, cfg, ae_path, out, curve, t0, device, codebook, step + 1)
    if averaged is not None:
        model = averaged.module
    model.eval().cpu()
    card = _save_denoiser(model, cfg, ae_path, out, curve, t0, device, codebook, cfg.steps)
    return model, card


def _ema(model: torch.nn.Module, decay: float):
    """An exponential moving average of ``model``'s weights (None when ``decay`` is 0): diffusion
    samples come out cleaner from averaged weights than from the last optimiser step."""
    if not decay:
        return None

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _save_denoiser(model, cfg, ae_path, out, curve, t0, device, codebook, steps_done: int) -> dict:
    """Write the checkpoint, its card (how it was trained, so far) and its +D codebook."""

    card = {
        "kind": "fpeval-framepack-mini",
        "recipe": cfg.recipe,
        "training": cfg.model_dump(),
        "steps_done": steps_done,
        "autoencoder": Path(ae_path).name,
        "autoencoder_digest": file_digest(ae_path) if Path(ae_path).is_file() else None,
        "data": f"fpeval.world train split: {cfg.clips} clips x {cfg.clip_frames} frames, 64x64 at 8 fps",
        "loss_curve": list(curve),
        "train_seconds": round(time.time() - t0, 1),
        "train_device": torch.cuda.get_device_name(0) if str(device).startswith("cuda") else "cpu",
    }
    if cfg.init:  # keep the history of the run this one continues
        card["continues"] = read_card(cfg.init)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if cfg.adapter_rank:  # ship A and B only; loading merges them into the base checkpoint
        state = adapter_state(model)
        card["adapter"] = {
            "method": "lora",
            "rank": cfg.adapter_rank,
            "alpha": float(cfg.adapter_alpha or cfg.adapter_rank),
            "targets": TARGETS,
            "parameters": sum(v.numel() for v in state.values()),
            "base": Path(cfg.init).name,
            "base_digest": file_digest(cfg.init),
        }

    write_checkpoint(out, state, model.config.model_dump(), card)
    if codebook is not None:
        codebook.save(codebook_path(out))
    return card


RECIPES = ("base", "df", "discrete", "causal")  # causal: base's loss with block-causal attention switched on


def flow_loss(model, video, plan_step, sigma, rng, codebook=None, history_level: float = 0.0) -> torch.Tensor:
    """Flow-matching loss of ``model`` on one plan step of ``video`` latents (B, C, T, h, w).

    The context is materialised from the video exactly as sampling does (frames not yet generated at
    that step read as zeros), optionally quantised (+D) or noised to ``history_level`` (DiffusionForcing).
    """

    timeline = torch.cat([video, torch.zeros_like(video[:, :, :1])], dim=2)
    ctx = materialise(plan_step, timeline)
    if codebook is not None:
        ctx = map_history(ctx, codebook.quantise)
    if history_level > 0:
        ctx = noise_history(ctx, history_level, rng)
    x0 = video[:, :, list(plan_step.section)]
    eps = torch.randn(x0.shape, generator=rng).to(x0.device)
    sigma = sigma.to(x0.device)
    s = sigma.view(-1, 1, 1, 1, 1)
    v = model((1 - s) * x0 + s * eps, sigma, ctx, MiniCondition(video[:, :, :1]))
    return (v - (eps - x0)).pow(2).mean()


def set_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of the mean squared error over a whole set of (N, 3, H, W) frames (one number per set),
    through ``metrics.functional.psnr`` on the frames stacked into one tall frame."""

    def tall(x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0, 1).transpose(0, 1).reshape(3, -1, x.shape[-1])

    return float(psnr(tall(a), tall(b)))


def heldout_photo_frames(per_photo: int = 8, size: int = 64, seed: int = 0) -> torch.Tensor:
    """(len(HELDOUT_PHOTOS) * per_photo, 3, size, size) plain crops of the photos training never sees."""

    rng = np.random.default_rng(seed)
    out = []
    for name in HELDOUT_PHOTOS:
        img = torch.from_numpy(photo(name)).permute(2, 0, 1)
        _, h, w = img.shape
        for _ in range(per_photo):
            crop = int(rng.uniform(0.3, 1.0) * min(h, w))
            y0, x0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
            patch = img[None, :, y0 : y0 + crop, x0 : x0 + crop]
            out.append(
                F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            )
    return torch.cat(out).clamp(0, 1)


def autoencoder_eval(model, eval_clips: int = 16) -> dict:
    """Held-out reconstruction PSNR: world frames (held-out seeds and photos) and plain held-out photos."""
    with torch.no_grad():
        held = world_frames(0, eval_clips, 8, split="heldout")
        photos = heldout_photo_frames()
        return {
            "heldout_psnr_db": round(set_psnr(model.decode(model.encode(held)), held), 3),
            "heldout_frames": int(held.shape[0]),
            "heldout_photo_psnr_db": round(set_psnr(model.decode(model.encode(photos)), photos), 3),
            "heldout_photo_frames": int(photos.shape[0]),
        }


def train_autoencoder(cfg: AutoencoderTraining, out: str | Path, log=print):
    """Train the frame autoencoder; returns (model, card). The card records the loss curve and held-out PSNR."""

    torch.manual_seed(cfg.seed)
    if cfg.init:
        model = FrameAutoencoder.load(cfg.init).train()
    else:
        model = FrameAutoencoder(AutoencoderConfig(**cfg.model))
        if model.config.architecture == "patch":  # start from PCA of world patches
            model.vae.init_from_pca(world_frames(cfg.seed * 10_000_000 + 8_000_000, 100, 4) * 2 - 1)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    curve, t0 = [], time.time()

    def card() -> dict:
        c = {
            "kind": "fpeval-mini-autoencoder",
            "training": cfg.model_dump(),
            "data": "fpeval.world train split (procedural appearance, training photos), 64x64 frames"
            + ("; linear paths initialised from the PCA of world patches" if not cfg.init else ""),
            "loss_curve": curve,
            "eval": autoencoder_eval(model, cfg.eval_clips),
            "train_seconds": round(time.time() - t0, 1),
            "train_device": "cpu",
        }
        if cfg.init:
            c["continues"] = read_card(cfg.init)
        return c

    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, cfg.steps, cfg.lr)
        x = world_frames(cfg.seed * 10_000_000 + step * cfg.batch_clips, cfg.batch_clips, cfg.frames_per_clip)
        y = model.decode_raw(model.encode_raw(x))  # deterministic: sampling uses the posterior mean
        rec = (y - x).abs().mean()
        loss = rec + cfg.mse_weight * (y - x).pow(2).mean()
        _update(opt, model, loss)
        _record(curve, step, cfg.steps, "l1", rec, t0, lambda m: log(f"ae {m}"))
        last = step == cfg.steps - 1
        if last or (cfg.save_every and step and step % cfg.save_every == 0):
            model.eval()
            with torch.no_grad():
                if last:  # evaluate exactly what is stored: float16 weights
                    for p in model.parameters():
                        p.copy_(p.half().float())
                model.fit_latent_stats(world_frames(cfg.seed * 10_000_000 + 9_000_000, 32, 4))
            c = card()
            log(f"ae step {step} eval {c['eval']}")
            model.save(out, c, storage_dtype=torch.float16)
            model.train()
    return model.eval(), c
