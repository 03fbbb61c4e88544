"""What the engine and the backends share: the context a denoiser receives, the ``Denoiser`` protocol,
and the history policies' one operation on a context (replace or noise its history). Backends import
this module, never the engine."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import torch

from fpeval.plan.packing import ContextGroup, TailGroup
from fpeval.sampling.history import diffusion_forcing_noise

HISTORY_ROLES = ("past_history", "future_history", "tail")


@dataclass
class SectionContext:
    """Everything a denoiser needs besides x and sigma: RoPE indices of x and the packed context."""

    section_indices: torch.Tensor
    groups: list[ContextGroup]
    tail: TailGroup | None = None
    group_sigmas: list[float] | None = None  # per-group noise level of the context (DiffusionForcing)
    tail_sigma: float = 0.0
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # per-section backend precomputation


class Denoiser(Protocol):
    """``model(x, sigma, context, cond)`` -> velocity. A denoiser fine-tuned with block-causal attention
    also has ``causal = True`` (the causal variant asks for it)."""

    def __call__(
        self, x: torch.Tensor, sigma: torch.Tensor, context: SectionContext, cond: Any
    ) -> torch.Tensor: ...


def map_history(ctx: SectionContext, fn) -> SectionContext:
    """``ctx`` with ``fn`` applied to every history group and the tail (start and end images kept)."""
    groups = [replace(g, latents=fn(g.latents)) if g.role in HISTORY_ROLES else g for g in ctx.groups]
    tail = replace(ctx.tail, latents=fn(ctx.tail.latents)) if ctx.tail is not None else None
    return replace(ctx, groups=groups, tail=tail, cache={})


def noise_history(ctx: SectionContext, level: float, generator) -> SectionContext:
    """History on the flow-matching forward process x = (1 - s) x0 + s eps at s = ``level``, with the
    per-token noise levels that tell the denoiser so (DiffusionForcing)."""
    out = map_history(ctx, lambda x: diffusion_forcing_noise(x, level, generator))
    out.group_sigmas = [level if g.role in HISTORY_ROLES else 0.0 for g in out.groups]
    out.tail_sigma = level if out.tail is not None else 0.0
    return out
