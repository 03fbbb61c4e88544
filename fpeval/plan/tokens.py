"""Exact image-token math for packed schedules, and the paper's closed form (Eq. 2).

A segment of n latent frames at kernel kN over a latent of h x w (patch p) is replicate-padded up to
kernel multiples and gives ceil(n/N) * ceil(h/(N p)) * ceil(w/(N p)) tokens, exactly as the official
``pad_for_3d_conv`` + strided Conv3d does. Text/image-encoder tokens are not counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from fpeval.plan.schedule import KERNELS, Role, Run, Schedule, Section, Tail, parse

VAE_FACTOR = 8  # HunyuanVideo VAE: 8x spatial compression
PATCH = 2  # k1 patch (1, 2, 2)


@dataclass(frozen=True)
class LatentSize:
    """Latent grid size (height, width) in latent pixels."""

    height: int
    width: int

    @classmethod
    def from_pixels(
        cls, height: int, width: int, vae_factor: int = VAE_FACTOR, patch: int = PATCH
    ) -> LatentSize:
        """Latent size of a video of ``height`` x ``width`` pixels; both must be multiples of vae_factor."""
        for what, v in (("height", height), ("width", width)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{what} must be a positive integer number of pixels, got {v!r}")
            if v % vae_factor:
                raise ValueError(
                    f"{what}={v} is not a multiple of {vae_factor} (the VAE's spatial factor); "
                    f"accepted: multiples of {vae_factor * patch} such as {v - v % (vae_factor * patch) or vae_factor * patch}"
                )
        return cls(height // vae_factor, width // vae_factor).checked(patch)

    def checked(self, patch: int = PATCH) -> LatentSize:
        for what, v in (("latent height", self.height), ("latent width", self.width)):
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{what} must be a positive integer, got {v!r}")
            if v % patch:
                raise ValueError(
                    f"{what}={v} is not a multiple of the patch size {patch}; "
                    f"pixel sizes must be multiples of {VAE_FACTOR * patch}"
                )
        return self


def segment_tokens(frames: int, kernel: int, latent: LatentSize, patch: int = PATCH) -> int:
    """Tokens for ``frames`` latent frames at kernel ``kernel`` (replicate-padded to kernel multiples)."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel k{kernel}; accepted: {', '.join(f'k{k}' for k in KERNELS)}")
    if frames < 0:
        raise ValueError(f"frames must be >= 0, got {frames}")
    if frames == 0:
        return 0
    s = kernel * patch
    return math.ceil(frames / kernel) * math.ceil(latent.height / s) * math.ceil(latent.width / s)


def frame_tokens(latent: LatentSize, patch: int = PATCH) -> int:
    """L_f: tokens of one latent frame at k1."""
    return segment_tokens(1, 1, latent, patch)


@dataclass(frozen=True)
class TokenGroup:
    role: str
    label: str
    frames: int
    kernel: int
    tokens: int


@dataclass(frozen=True)
class TokenCount:
    """Image tokens of one section's forward pass, group by group."""

    schedule: str
    latent_height: int
    latent_width: int
    patch: int
    history_frames: int | None
    groups: tuple[TokenGroup, ...]

    @property
    def section(self) -> int:
        return sum(g.tokens for g in self.groups if g.role == "section")

    @property
    def context(self) -> int:
        return self.total - self.section

    @property
    def total(self) -> int:
        return sum(g.tokens for g in self.groups)

    @property
    def frame_tokens(self) -> int:
        return frame_tokens(LatentSize(self.latent_height, self.latent_width), self.patch)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(
            frame_tokens=self.frame_tokens,
            section_tokens=self.section,
            context_tokens=self.context,
            total=self.total,
        )
        return d


def _history_fill(run: Run, available: int) -> list[int]:
    """Frames actually present in each segment when ``available`` history frames exist.

    The newest frames sit next to the section, so filling starts at the segment touching ``gN``.
    """
    order = list(range(len(run.segments)))
    if run.role is Role.PAST_HISTORY:
        order.reverse()
    fill = [0] * len(run.segments)
    left = available
    for i in order:
        fill[i] = min(run.segments[i].frames, left)
        left -= fill[i]
    return fill


def count_tokens(
    schedule: Schedule | str,
    latent: LatentSize,
    *,
    history_frames: int | None = None,
    patch: int = PATCH,
) -> TokenCount:
    """Exact image-token count of one section of ``schedule`` at latent size ``latent``.

    ``history_frames=None`` counts a full history (the official loops pad history with zero latents,
    so every section sees a full schedule). An integer T counts only the T newest real frames; frames
    beyond the schedule's capacity form the tail and follow its option (no option: dropped).
    """
    plan = parse(schedule) if isinstance(schedule, str) else schedule
    latent = latent.checked(patch)
    if history_frames is not None and (not isinstance(history_frames, int) or history_frames < 0):
        raise ValueError(f"history_frames must be a non-negative integer or None, got {history_frames!r}")
    history = plan.history
    capacity = plan.history_capacity
    available = capacity if history_frames is None else history_frames
    groups: list[TokenGroup] = []
    for part in plan.parts:
        if isinstance(part, Run):
            fill = _history_fill(part, available) if part is history else [s.frames for s in part.segments]
            for seg, n in zip(part.segments, fill, strict=True):
                groups.append(
                    TokenGroup(
                        part.role.value, str(seg), n, seg.kernel, segment_tokens(n, seg.kernel, latent, patch)
                    )
                )
        elif isinstance(part, Tail):
            groups.append(_tail_group(part.option, max(0, available - capacity), history, latent, patch))
        elif isinstance(part, Section):
            groups.append(
                TokenGroup(
                    "section", str(part), part.frames, 1, segment_tokens(part.frames, 1, latent, patch)
                )
            )
    return TokenCount(str(plan), latent.height, latent.width, patch, history_frames, tuple(groups))


def _tail_group(option: str, n_tail: int, history: Run | None, latent: LatentSize, patch: int) -> TokenGroup:
    if option == "ta":
        tokens = n_tail  # each tail frame pooled to a single patch
    elif option == "tc" and n_tail > 0:
        largest = max(s.kernel for s in history.segments)  # type: ignore[union-attr]
        tokens = segment_tokens(1, largest, latent, patch)
    else:
        tokens = 0
    return TokenGroup("tail", option, n_tail, 0, tokens)


# -- Eq. 2 -------------------------------------------------------------------------------------
def geometric_length(
    section_frames: float, history_frames: int, frame_tokens: float, lam: float = 2.0
) -> float:
    """Eq. 2: L = S L_f + sum_{i<T} L_f / lam^i for a per-frame geometric schedule."""
    if lam <= 1:
        raise ValueError(f"compression rate lambda must be > 1, got {lam}")
    if history_frames < 0:
        raise ValueError(f"history_frames must be >= 0, got {history_frames}")
    return section_frames * frame_tokens + frame_tokens * (1 - lam**-history_frames) / (1 - 1 / lam)


def geometric_limit(section_frames: float, frame_tokens: float, lam: float = 2.0) -> float:
    """The T -> infinity limit of Eq. 2: (S + lam / (lam - 1)) L_f."""
    if lam <= 1:
        raise ValueError(f"compression rate lambda must be > 1, got {lam}")
    return (section_frames + lam / (lam - 1)) * frame_tokens
