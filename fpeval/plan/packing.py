"""Packed patch embedding: turn a section and its packed context into one token sequence.

Generic over schedules: a k1 patch embed (Conv3d, kernel = stride = (1, p, p)) and one kN embed per
kernel with kernel (N, N p, N p). Inputs are replicate-padded up to kernel multiples. Rotary tables
are computed on the full k1 grid at each frame's time index, replicate-padded and average-pooled by
(N, N, N) for kN tokens, as FramePack does. Token order is [tail | largest kernel ... k1 | section],
which for the released model is diffusers' [k4 | k2 | clean k1 | noisy]; only the section tokens
(the trailing slice) are read out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from fpeval.plan.schedule import KERNELS

IndexLike = torch.Tensor | Sequence[int]


def pad_to_multiple(x: torch.Tensor, kernel: tuple[int, int, int]) -> torch.Tensor:
    """Replicate-pad the last three dims of a (B, C, T, H, W) tensor up to multiples of ``kernel``."""
    t, h, w = x.shape[-3:]
    kt, kh, kw = kernel
    pads = (0, (-w) % kw, 0, (-h) % kh, 0, (-t) % kt)
    if not any(pads):
        return x
    return F.pad(x, pads, mode="replicate")


class RotaryTable:
    """3-axis (t, y, x) rotary table in FramePack's layout: cos/sin of shape (D, T, h, w).

    ``axes_dim`` splits the head dim over time, height and width; each axis uses frequencies
    ``theta ** (-2i / dim)`` with every value repeated twice (interleaved real pairs).
    """

    def __init__(self, axes_dim: Sequence[int] = (16, 56, 56), theta: float = 256.0):
        if len(axes_dim) != 3 or any(d <= 0 or d % 2 for d in axes_dim):
            raise ValueError(f"axes_dim must be three positive even numbers (t, y, x), got {tuple(axes_dim)}")
        self.axes_dim = tuple(int(d) for d in axes_dim)
        self.theta = float(theta)
        self._spatial_tables: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def head_dim(self) -> int:
        return sum(self.axes_dim)

    def _axis(self, dim: int, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inv = 1.0 / (self.theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim))
        angles = pos.to(torch.float64)[:, None] * inv[None, :]
        angles = angles.repeat_interleave(2, dim=1).to(torch.float32)
        return angles.cos(), angles.sin()

    def _spatial(self, height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The (y, x) rows of the table, (Dy + Dx, height, width): the same for every frame, so built
        once per grid size and device and reused by every later section."""
        key = (height, width, str(device))
        if key not in self._spatial_tables:
            gy, gx = torch.meshgrid(
                torch.arange(height, dtype=torch.float32, device=device),
                torch.arange(width, dtype=torch.float32, device=device),
                indexing="ij",
            )
            cos, sin = [], []
            for dim, pos in zip(self.axes_dim[1:], (gy, gx), strict=True):
                c, s = self._axis(dim, pos.reshape(-1))
                cos.append(c)
                sin.append(s)
            shape = (sum(self.axes_dim[1:]), height, width)
            self._spatial_tables[key] = (
                torch.cat(cos, dim=1).T.reshape(shape),
                torch.cat(sin, dim=1).T.reshape(shape),
            )
        return self._spatial_tables[key]

    def grid(self, frame_indices: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of shape (D, T, height, width) for frames at ``frame_indices`` on a k1 token grid."""
        t = len(frame_indices)
        t_cos, t_sin = self._axis(self.axes_dim[0], frame_indices.to(torch.float32))  # (T, Dt)
        s_cos, s_sin = self._spatial(height, width, frame_indices.device)
        out = []
        for rows, spatial in ((t_cos, s_cos), (t_sin, s_sin)):
            time_part = rows.T[:, :, None, None].expand(-1, t, height, width)
            out.append(torch.cat([time_part, spatial[:, None].expand(-1, t, -1, -1)]))
        return out[0], out[1]

    def frame_mean(self, frame_indices: torch.Tensor, height: int, width: int):
        """``grid(...)`` averaged over the frames, (D, 1, height, width), in O(T + height * width).

        The table is per-axis, so only the time rows depend on the frame: a compressed tail of any
        length then costs the same to embed (the full grid would grow with the history)."""
        t_cos, t_sin = self._axis(self.axes_dim[0], frame_indices.to(torch.float32))
        s_cos, s_sin = self._spatial(height, width, frame_indices.device)
        out = []
        for rows, spatial in ((t_cos, s_cos), (t_sin, s_sin)):
            time_part = rows.mean(0)[:, None, None, None].expand(-1, 1, height, width)
            out.append(torch.cat([time_part, spatial[:, None]]))
        return out[0], out[1]

    def spatial_mean(self, frame_indices: torch.Tensor, height: int, width: int):
        """``grid(...)`` averaged over the height x width positions, (D, T, 1, 1), in O(T + height * width)."""
        t_cos, t_sin = self._axis(self.axes_dim[0], frame_indices.to(torch.float32))
        s_cos, s_sin = self._spatial(height, width, frame_indices.device)
        n = len(frame_indices)
        out = []
        for spatial, rows in ((s_cos, t_cos), (s_sin, t_sin)):
            mean_yx = spatial.mean(dim=(1, 2), keepdim=True)[:, None].expand(-1, n, 1, 1)
            out.append(torch.cat([rows.T[:, :, None, None], mean_yx]))
        return out[0], out[1]


def pool_rotary(table: torch.Tensor, kernel: int) -> torch.Tensor:
    """Replicate-pad a (D, T, h, w) table to multiples of ``kernel`` and average-pool it by (k, k, k)."""
    if kernel == 1:
        return table
    padded = pad_to_multiple(table[None], (kernel, kernel, kernel))
    return F.avg_pool3d(padded, kernel, stride=kernel)[0]


def _flat(table: torch.Tensor) -> torch.Tensor:
    """(D, T, h, w) -> (T*h*w, D) in the same order as conv output flattening."""
    return table.flatten(1).T


@dataclass
class ContextGroup:
    """Clean context frames encoded at one kernel: latents (B, C, T, H, W) at RoPE time ``indices``."""

    latents: torch.Tensor
    indices: IndexLike
    kernel: int = 1
    role: str = "history"


@dataclass
class TailGroup:
    """History frames beyond the schedule. ``ta``: one token per frame; ``tc``: all frames averaged
    into one frame and encoded at ``kernel`` (default: the largest kernel of the embedder). A ``tc``
    tail may arrive already averaged: one latent frame with the RoPE indices of all its frames."""

    latents: torch.Tensor
    indices: IndexLike
    option: str = "ta"
    kernel: int | None = None


@dataclass
class PackedTokens:
    """Packed tokens (B, L, dim), rotary tables (L, head_dim) and where the section's tokens are."""

    tokens: torch.Tensor
    rope_cos: torch.Tensor
    rope_sin: torch.Tensor
    section: slice
    section_grid: tuple[int, int, int]  # (T, h, w) of the section's token grid, for unpatchify
    spans: list[tuple[str, int, slice]] = field(default_factory=list)  # (role, kernel, token slice)

    @property
    def num_tokens(self) -> int:
        return self.tokens.shape[1]


class PackedPatchEmbed(nn.Module):
    """Patch embeddings for a noisy section plus context at kernels k1 ... k16."""

    def __init__(
        self,
        in_channels: int,
        dim: int,
        patch_size: int = 2,
        kernels: Sequence[int] = (1, 2, 4),
        separate_section_proj: bool = True,
        rope_axes_dim: Sequence[int] = (16, 56, 56),
        rope_theta: float = 256.0,
        pooled_above: int | None = None,
    ):
        """``pooled_above=M`` realises every kernel N > M as (N/M)^3 average pooling followed by the kM
        projection: the same tokens and the same start as the init rule, with kM's parameter count
        (a k16 Conv3d alone has 16^3 p^2 C dim weights)."""
        super().__init__()
        bad = [k for k in kernels if k not in KERNELS]
        if bad or 1 not in kernels:
            raise ValueError(
                f"kernels must include 1 and come from {', '.join(f'k{k}' for k in KERNELS)}; got {list(kernels)}"
            )
        self.in_channels = in_channels
        self.dim = dim
        self.patch_size = patch_size
        self.kernels = tuple(sorted(set(kernels)))
        if pooled_above is not None and pooled_above not in self.kernels:
            raise ValueError(f"pooled_above=k{pooled_above} must be one of the kernels {list(self.kernels)}")
        self.pooled_above = pooled_above
        p = patch_size
        self.proj = nn.ModuleDict(
            {
                f"k{k}": nn.Conv3d(in_channels, dim, kernel_size=(k, k * p, k * p), stride=(k, k * p, k * p))
                for k in self.kernels
                if pooled_above is None or k <= pooled_above
            }
        )
        self.section_proj = (
            nn.Conv3d(in_channels, dim, kernel_size=(1, p, p), stride=(1, p, p))
            if separate_section_proj
            else None
        )
        self.rope = RotaryTable(rope_axes_dim, rope_theta)
        if self.rope.head_dim and dim % self.rope.head_dim:
            raise ValueError(f"dim={dim} must be a multiple of the rotary head dim {self.rope.head_dim}")

    def kernel_size(self, kernel: int) -> tuple[int, int, int]:
        return (kernel, kernel * self.patch_size, kernel * self.patch_size)

    @torch.no_grad()
    def init_from_k1(self, source: nn.Conv3d | None = None) -> None:
        """Initialise every kN projection from the k1 one (optionally first copied from ``source``).

        kN's weight repeats k1's over the (N, N, N) larger kernel and divides by N^3, so kN starts
        as "k1 applied to the average-pooled input"; biases are copied.
        """
        k1 = self.proj["k1"]
        if source is not None:
            k1.weight.copy_(source.weight)
            k1.bias.copy_(source.bias)
            if self.section_proj is not None:
                self.section_proj.weight.copy_(source.weight)
                self.section_proj.bias.copy_(source.bias)
        for k in self.kernels:
            if k == 1 or f"k{k}" not in self.proj:
                continue
            w = k1.weight.repeat_interleave(k, 2).repeat_interleave(k, 3).repeat_interleave(k, 4) / k**3
            self.proj[f"k{k}"].weight.copy_(w)
            self.proj[f"k{k}"].bias.copy_(k1.bias)

    # -- checks ---------------------------------------------------------------------------
    def _indices(self, indices: IndexLike, frames: int, what: str, device: torch.device) -> torch.Tensor:
        idx = torch.as_tensor(indices, device=device)
        if idx.ndim != 1 or idx.numel() != frames:
            raise ValueError(
                f"{what}: expected {frames} RoPE indices (one per frame, 1-D), got shape {tuple(idx.shape)}"
            )
        return idx

    def _check_latents(self, x: torch.Tensor, what: str, ref: torch.Tensor | None) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 5:
            raise ValueError(
                f"{what}: latents must be a (B, C, T, H, W) tensor, got {getattr(x, 'shape', type(x))}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{what}: expected {self.in_channels} latent channels, got {x.shape[1]}")
        if x.shape[2] == 0:
            raise ValueError(f"{what}: zero frames")
        if ref is not None and (x.shape[0] != ref.shape[0] or x.shape[-2:] != ref.shape[-2:]):
            raise ValueError(
                f"{what}: batch and latent size must match the section's {tuple(ref.shape[:1])}+{tuple(ref.shape[-2:])}, "
                f"got {tuple(x.shape[:1])}+{tuple(x.shape[-2:])}"
            )

    def _embed(self, x: torch.Tensor, kernel: int) -> torch.Tensor:
        if kernel not in self.kernels:
            raise ValueError(
                f"kernel k{kernel} is not available in this embedder; it has {', '.join(f'k{k}' for k in self.kernels)}"
            )
        x = pad_to_multiple(x, self.kernel_size(kernel))
        conv_kernel = kernel
        if self.pooled_above is not None and kernel > self.pooled_above:
            x = F.avg_pool3d(x, kernel // self.pooled_above)
            conv_kernel = self.pooled_above
        proj = self.proj[f"k{conv_kernel}"]
        return proj(x.to(proj.weight.dtype)).flatten(2).transpose(1, 2)

    # -- forward --------------------------------------------------------------------------
    def forward(
        self,
        section: torch.Tensor,
        section_indices: IndexLike,
        context: Sequence[ContextGroup] = (),
        tail: TailGroup | None = None,
        cache: dict | None = None,
    ) -> PackedTokens:
        """Embed ``section`` (B, C, T, H, W) noisy latents with their clean ``context`` and ``tail``.

        ``cache``: a dict that lives as long as this context (``SectionContext.cache``); the context's
        tokens and rotary tables do not depend on the section, so a sampler's later steps reuse them."""
        self._check_latents(section, "section", None)
        device = section.device
        p = self.patch_size
        _, _, t, h, w = section.shape
        if h % p or w % p:
            raise ValueError(f"section: latent size {h}x{w} is not a multiple of the patch size {p}")
        gh, gw = h // p, w // p

        key = ("packed_context", section.shape[0], gh, gw, section.dtype, device)
        if cache is not None and key in cache:
            pieces = list(cache[key])
        else:
            pieces = self._context_pieces(section, context, tail, gh, gw)
            if cache is not None:
                cache[key] = tuple(pieces)

        idx = self._indices(section_indices, t, "section", device)
        proj = self.section_proj if self.section_proj is not None else self.proj["k1"]
        tokens = proj(section.to(proj.weight.dtype)).flatten(2).transpose(1, 2)
        rope_key = ("section_rope", t, gh, gw, device)
        if cache is not None and rope_key in cache:
            flat_cos, flat_sin = cache[rope_key]
        else:
            cos, sin = self.rope.grid(idx, gh, gw)
            flat_cos, flat_sin = _flat(cos), _flat(sin)
            if cache is not None:
                cache[rope_key] = (flat_cos, flat_sin)
        pieces.append(("section", 1, tokens, flat_cos, flat_sin))

        spans, start = [], 0
        for role, kernel, tok, _, _ in pieces:
            spans.append((role, kernel, slice(start, start + tok.shape[1])))
            start += tok.shape[1]
        return PackedTokens(
            tokens=torch.cat([pc[2] for pc in pieces], dim=1),
            rope_cos=torch.cat([pc[3] for pc in pieces], dim=0),
            rope_sin=torch.cat([pc[4] for pc in pieces], dim=0),
            section=spans[-1][2],
            section_grid=(t, gh, gw),
            spans=spans,
        )

    def _context_pieces(
        self, section, context: Sequence[ContextGroup], tail: TailGroup | None, gh: int, gw: int
    ):
        """(role, kernel, tokens, cos, sin) of the tail and every context group, in token order."""
        pieces: list[tuple[str, int, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        if tail is not None:
            pieces.append(self._tail(tail, section, gh, gw))
        for i, group in enumerate(sorted(context, key=lambda g: -g.kernel)):
            what = f"context group {i} ({group.role}, k{group.kernel})"
            self._check_latents(group.latents, what, section)
            idx = self._indices(group.indices, group.latents.shape[2], what, section.device)
            tokens = self._embed(group.latents, group.kernel)
            cos, sin = self.rope.grid(idx, gh, gw)
            cos, sin = pool_rotary(cos, group.kernel), pool_rotary(sin, group.kernel)
            pieces.append((group.role, group.kernel, tokens, _flat(cos), _flat(sin)))
        return pieces

    def _tail(self, tail: TailGroup, section: torch.Tensor, gh: int, gw: int):
        what = f"tail ({tail.option})"
        self._check_latents(tail.latents, what, section)
        frames = tail.latents.shape[2]
        if tail.option == "tc" and frames == 1:  # already averaged: the indices say over which frames
            frames = max(1, torch.as_tensor(tail.indices).numel())
        idx = self._indices(tail.indices, frames, what, section.device)
        p = self.patch_size
        if tail.option == "ta":
            pooled = F.adaptive_avg_pool3d(tail.latents, (tail.latents.shape[2], p, p))
            tokens = self._embed(pooled, 1)
            cos, sin = self.rope.spatial_mean(idx, gh, gw)
            return ("tail", 0, tokens, _flat(cos), _flat(sin))
        if tail.option == "tc":
            kernel = tail.kernel or max(self.kernels)
            mean = tail.latents if tail.latents.shape[2] == 1 else tail.latents.mean(dim=2, keepdim=True)
            tokens = self._embed(mean, kernel)
            cos, sin = self.rope.frame_mean(idx, gh, gw)
            return ("tail", kernel, tokens, _flat(pool_rotary(cos, kernel)), _flat(pool_rotary(sin, kernel)))
        raise ValueError(
            f"tail option {tail.option!r} takes no tokens here; accepted: 'ta', 'tc' (omit the tail for 'td')"
        )
