"""Run a variant's plan with any denoiser: materialise each step's context, sample the section, store it.

The ``Denoiser`` protocol is the only thing a backend implements:
``denoiser(x, sigma, context, cond) -> velocity``, with ``x`` the noisy section (B, C, T, H, W),
``sigma`` (B,), ``context`` a ``SectionContext`` and ``cond`` backend-specific conditioning.
History policies (discrete history, DiffusionForcing noise, history guidance) live here, once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from fpeval.heap import keep_freed_memory
from fpeval.plan.packing import ContextGroup, TailGroup
from fpeval.plan.variants import Plan, Step, VariantConfig, make_plan, variant
from fpeval.sampling.contract import HISTORY_ROLES, Denoiser, SectionContext, map_history, noise_history
from fpeval.sampling.sampler import flow_sigmas, guided, sample, seeded_noise

__all__ = ["HISTORY_ROLES", "Denoiser", "SectionContext", "generate_latents", "materialise", "sample_section"]


@dataclass
class GenerationResult:
    latents: torch.Tensor  # (B, C, T, H, W) latent video, the start image first
    plan: Plan
    section_of_frame: list[int]  # for every latent frame, which section made it (-1: start image)
    step_of_frame: list[int]  # for every latent frame, which generation step made it (-1: start image)
    step_seconds: list[float] = field(default_factory=list)


def _gather(timeline: torch.Tensor, frames: Sequence[int | None]) -> torch.Tensor:
    """Frames of the timeline (B, C, T, H, W) in order; unknown frames (None) read as zeros."""
    if all(t is not None for t in frames):  # one indexing op, whatever the number of frames
        return timeline.index_select(2, torch.tensor(frames, device=timeline.device))
    zeros = torch.zeros_like(timeline[:, :, :1])
    return torch.cat([timeline[:, :, t : t + 1] if t is not None else zeros for t in frames], dim=2)


def materialise(step: Step, timeline: torch.Tensor, memo: dict | None = None) -> SectionContext:
    """Turn a plan step into tensors read from the latent timeline (unknown frames are zeros).

    ``memo``: one dict kept across the steps of one generation run, so that a ``tc`` tail is summed
    incrementally (constant work per section however long the video)."""
    groups, tail = [], None
    for spec in step.context:
        if spec.tail is not None:
            # tc: summarised once per section, so every model call then costs the same
            lat = (
                _tail_mean(timeline, spec.frames, memo)
                if spec.tail == "tc"
                else _gather(timeline, spec.frames)
            )
            tail = TailGroup(lat, torch.tensor(spec.rope), option=spec.tail, kernel=spec.kernel)
        else:
            lat = _gather(timeline, spec.frames)
            groups.append(ContextGroup(lat, torch.tensor(spec.rope), spec.kernel, spec.role))
    return SectionContext(torch.tensor(step.section_rope), groups, tail)


def _tail_mean(timeline: torch.Tensor, frames: Sequence[int | None], memo: dict | None) -> torch.Tensor:
    """The mean of the tail's frames (unknown frames count as zeros), (B, C, 1, H, W).

    With ``memo``, a running sum: a frame that entered the tail was generated in an earlier step and
    never changes, so each section adds only the frames new to the tail."""
    if memo is None:
        return _gather(timeline, frames).mean(dim=2, keepdim=True)
    known = [t for t in frames if t is not None]
    seen: set[int] = memo.get("tc_frames", set())
    total = memo.get("tc_sum")
    if total is None or not seen <= set(known):  # first tail, or not a superset: start over
        seen, total = set(), torch.zeros_like(timeline[:, :, :1])
    new = [t for t in known if t not in seen]
    if new:
        total = total + timeline.index_select(2, torch.tensor(new, device=timeline.device)).sum(
            2, keepdim=True
        )
    memo["tc_frames"], memo["tc_sum"] = seen | set(new), total
    return total / len(frames)


HISTORY_STREAM = 1_000_003  # seed offset of the per-video history-noise generators


@torch.no_grad()
def sample_section(
    denoiser: Denoiser,
    config: VariantConfig,
    ctx: SectionContext,
    cond: Any,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    solver: str,
    history_generators: Sequence[torch.Generator],
    cfg_scale: float = 1.0,
    uncond: Any = None,
) -> torch.Tensor:
    """Denoise one section ``x`` (pure noise) given its materialised context, applying the variant's
    history policies (DiffusionForcing noise, history guidance) and real CFG."""

    def model_for(conditioning, history_level: float | None = None):
        def velocity(xt: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            level = config.sigma_test * float(sigma[0]) if history_level is None else history_level
            cur = noise_history(ctx, level, history_generators) if level > 0 else ctx
            return denoiser(xt, sigma, cur, conditioning)

        return velocity

    model = model_for(cond)
    if config.history_guidance != 1.0:  # fully-noised history on the unconditional side
        model = guided(model, model_for(cond, history_level=1.0), config.history_guidance)
    if cfg_scale != 1.0:
        if uncond is None:
            raise ValueError("cfg_scale != 1 needs uncond conditioning")
        model = guided(model, model_for(uncond), cfg_scale)
    return sample(model, x, sigmas, solver)


@torch.no_grad()
def generate_latents(
    denoiser: Denoiser,
    config: VariantConfig | str,
    start_latents: torch.Tensor,
    cond: Any,
    *,
    sections: int,
    seeds: Sequence[int] | None = None,
    generators: Sequence[torch.Generator] | None = None,
    steps: int = 25,
    solver: str = "unipc",
    shift: float | None = None,
    seq_len: float | None = None,
    end_latents: torch.Tensor | None = None,
    codebook=None,
    cfg_scale: float = 1.0,
    uncond: Any = None,
) -> GenerationResult:
    """Generate a latent video of ``sections`` sections with ``config`` (a variant name or config).

    One video per batch item of ``start_latents`` (B, C, 1, H, W); ``seeds`` (or ``generators``)
    give one noise stream per item. ``shift`` selects a static shift, otherwise the dynamic rule on
    ``seq_len`` (default: the section's k1 tokens). Real CFG runs when ``cfg_scale != 1`` with
    ``uncond`` conditioning; history guidance comes from the variant.
    """
    config = variant(config) if isinstance(config, str) else config
    if config.causal and not getattr(denoiser, "causal", False):
        raise ValueError(
            f"variant {config.label} needs a model fine-tuned with block-causal attention; this one was not "
            "(fine-tune one with `fpeval train causal`)"
        )
    plan = make_plan(config, sections, end_image=end_latents is not None)
    if start_latents.ndim != 5 or start_latents.shape[2] != 1:
        raise ValueError(f"start_latents must be (B, C, 1, H, W), got {tuple(start_latents.shape)}")
    b, c, _, h, w = start_latents.shape
    if start_latents.device.type == "cpu":  # the sampler reuses its activations' memory (fpeval.heap)
        keep_freed_memory()
    if generators is None:
        if seeds is None:
            raise ValueError("give seeds (one per video) or generators")
        generators = [torch.Generator(device=start_latents.device).manual_seed(int(s)) for s in seeds]
    if len(generators) != b:
        raise ValueError(f"need one seed per video: batch {b}, seeds {len(generators)}")
    if config.discrete and codebook is None:
        raise ValueError(
            f"variant {config.label} uses discrete history: pass a codebook (fpeval.sampling.history.Codebook)"
        )
    # history-noise streams, one per video, apart from the section-noise streams
    side = [
        torch.Generator(device=g.device).manual_seed(int(g.initial_seed()) + HISTORY_STREAM)
        for g in generators
    ]

    timeline = torch.zeros(
        b, c, plan.total_frames + 1, h, w, dtype=torch.float32, device=start_latents.device
    )
    timeline[:, :, 0] = start_latents[:, :, 0].float()
    if end_latents is not None:
        timeline[:, :, plan.total_frames] = end_latents[:, :, 0].float()
    section_of = [-1] * plan.total_frames
    step_of = [-1] * plan.total_frames
    seconds = []
    memo: dict = {}  # running tc tail sum across the steps
    for step in plan.steps:
        t0 = time.perf_counter()
        ctx = materialise(step, timeline, memo)
        if config.discrete:
            ctx = map_history(ctx, codebook.quantise)
        section_len = len(step.section)
        tokens = section_len * (h // 2) * (w // 2)
        sigmas = flow_sigmas(steps, shift, seq_len=None if shift is not None else (seq_len or tokens))
        x = seeded_noise((b, c, section_len, h, w), generators, device=start_latents.device)
        out = sample_section(denoiser, config, ctx, cond, x, sigmas, solver, side, cfg_scale, uncond)
        for i, t in enumerate(step.section):
            if t < plan.total_frames:
                timeline[:, :, t] = out[:, :, i]
                section_of[t] = (t - 1) // plan.section_frames
                step_of[t] = step.index
        seconds.append(time.perf_counter() - t0)
    return GenerationResult(timeline[:, :, : plan.total_frames], plan, section_of, step_of, seconds)
