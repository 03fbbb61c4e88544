"""FramePack-mini: a compact packed-context video denoiser built on ``fpeval.plan.packing``.

One transformer over [tail | context at k16 ... k1 | section] tokens plus start-image tokens, with
3-axis RoPE at each frame's (possibly gapped) time index and per-token timestep conditioning
(adaLN from each token's own noise level), so clean context (sigma 0), DiffusionForcing history
(sigma > 0) and the noisy section share one model. Any schedule (k1..k16, td/ta/tc) works. It is a
``Denoiser``: ``model(x, sigma, context, cond) -> velocity``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from fpeval.plan.packing import PackedPatchEmbed
from fpeval.sampling.contract import SectionContext


class MiniConfig(BaseModel):
    """Architecture. The defaults are v2's: 16 x 16 latents of the 4x autoencoder with patch 4, so 16
    tokens per frame, each carrying 4 x 4 x 8 = 128 latent values, hence a residual stream twice that
    wide (a 144-wide, 5-deep variant learned to copy from its context far more slowly). The first
    release used dim 128, depth 4, mlp_ratio 4, patch 2, pooled_above 4, rope (8, 12, 12) on 8 x 8
    latents. ``carry`` and ``out_conv`` are off by default so that checkpoints written before them load
    unchanged; the shipped mini-v2 has both on.
    Every checkpoint stores its own config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latent_channels: int = 8
    dim: int = 256
    depth: int = 3
    heads: int = 4
    mlp_ratio: float = 2.0
    patch_size: int = 4
    kernels: tuple[int, ...] = (1, 2, 4, 8, 16)
    pooled_above: int = 2  # k4 / k8 / k16 = average pooling + the k2 projection
    rope_axes_dim: tuple[int, int, int] = (16, 24, 24)
    rope_theta: float = 256.0
    # carry: each section frame also sees, added to its own tokens, the nearest k1 context frame in
    # time (image-concat conditioning as in image-to-video models), and the output adds that frame
    # scaled per channel by a function of sigma: copying needs neither attention nor the trunk
    carry: bool = False
    # out_conv: a residual 3x3 convolution over each output latent frame (as U-ViT adds after its linear
    # patch decoder), so neighbouring tokens' outputs agree across patch borders
    out_conv: bool = False
    # causal: block-causal attention over time (Table 2's causal row, like CausVid): a section frame
    # attends to the start image, the packed context, itself and earlier section frames, never to later
    # ones; context tokens never attend to the section, so their keys and values do not depend on it
    causal: bool = False

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


# options a training run may switch on when continuing from a checkpoint: their layers (by prefix)
# start at zero, so the continued model starts as the loaded one
SWITCHABLE = {"carry": "carry_", "out_conv": "out_refine.", "causal": None}  # causal: a mask, no layers


@dataclass
class MiniCondition:
    """Start-image conditioning: the start frame's latent (B, C, 1, h, w)."""

    image_latents: torch.Tensor


def timestep_embedding(sigma: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of sigma * 1000 for any shape of sigma -> (*sigma.shape, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=sigma.device, dtype=torch.float32) / half)
    args = sigma.float()[..., None] * 1000.0 * freqs
    return torch.cat([args.cos(), args.sin()], dim=-1)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Apply interleaved-pair rotary embedding: x (B, H, L, D), cos/sin (L, D): each pair (a, b) becomes
    (a cos - b sin, b cos + a sin)."""
    return x * cos + swap_pairs(x) * signed_sin(sin)


def swap_pairs(x: torch.Tensor) -> torch.Tensor:
    """(a, b) -> (b, a) for each interleaved pair of the last axis."""
    return x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)


def signed_sin(sin: torch.Tensor) -> torch.Tensor:
    """sin with each pair's first entry negated, so that ``x * cos + swap_pairs(x) * signed_sin(sin)``
    is the rotation (negation is exact, so this equals the textbook form bit for bit)."""
    return sin * sin.new_tensor([-1.0, 1.0]).repeat(sin.shape[-1] // 2)


def nearest_k1_frames(context: SectionContext, shape: torch.Size) -> torch.Tensor:
    """For every section frame, the full-resolution (k1) context frame nearest to it in RoPE time
    (the earlier one on ties), as (B, C, T, h, w); zeros when the context has no k1 frame."""
    b, c, t, h, w = shape
    frames, times = [], []
    for group in context.groups:
        if group.kernel == 1:
            frames.append(group.latents)
            times.append(torch.as_tensor(group.indices).flatten())
    section = torch.as_tensor(context.section_indices).flatten()
    if not frames:
        return torch.zeros(shape, dtype=context.groups[0].latents.dtype if context.groups else torch.float32)
    pool = torch.cat(frames, dim=2)
    when = torch.cat(times).float()
    distance = (section.float()[:, None] - when[None]).abs() * 2 + (
        when[None] > section.float()[:, None]
    ).float()
    return pool[:, :, distance.argmin(dim=1)]


def block_causal_mask(n: int, n_section: int, frames: int, device=None) -> torch.Tensor:
    """(n, n) attention mask over [start image, context, section] tokens, True where a query may attend:
    the first ``n - n_section`` tokens see only each other; a section token of frame i sees them and the
    section's frames 0..i (its tokens are frame-major, ``n_section // frames`` per frame)."""
    prefix = n - n_section
    frame_of = torch.arange(n_section, device=device) // (n_section // frames)
    mask = torch.ones(n, n, dtype=torch.bool, device=device)
    mask[:prefix, prefix:] = False
    mask[prefix:, prefix:] = frame_of[:, None] >= frame_of[None, :]
    return mask


class Block(nn.Module):
    """Pre-norm attention + MLP, both modulated per token (shift, scale, gate) by the token's timestep."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.RMSNorm(dim // heads, eps=1e-6)
        self.k_norm = nn.RMSNorm(dim // heads, eps=1e-6)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.modulation = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(
        self,
        x: torch.Tensor,
        modulation: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None = None,
        prefix_kv: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``modulation``: (B, N, 6 * dim), this block's ``self.modulation(silu(temb))`` per token, or
        (N, 6 * dim) when the whole batch shares it;
        ``mask``: (N, N) booleans, True where a query may attend to a key (None: everywhere), or
        (N, P + N) with ``prefix_kv``, the keys and values of P earlier tokens computed before.
        Returns the new tokens and this call's own (keys, values)."""
        b, n, d = x.shape
        s1, c1, g1, s2, c2, g2 = modulation.chunk(6, dim=-1)
        h = self.norm1(x) * (1 + c1) + s1
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = rotate(self.q_norm(q), cos, sin), rotate(self.k_norm(k), cos, sin)
        keys, values = (
            (k, v)
            if prefix_kv is None
            else (torch.cat([prefix_kv[0], k], 2), torch.cat([prefix_kv[1], v], 2))
        )
        a = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask).transpose(1, 2).reshape(b, n, d)
        x = x + g1 * self.proj(a)
        h = self.norm2(x) * (1 + c2) + s2
        return x + g2 * self.mlp(h), (k, v)


class FramePackMini(nn.Module):
    """The FramePack-mini denoiser (predicts flow-matching velocity for the section)."""

    def __init__(self, config: MiniConfig | None = None):
        super().__init__()
        cfg = config or MiniConfig()
        if cfg.dim % cfg.heads or sum(cfg.rope_axes_dim) != cfg.head_dim:
            raise ValueError(
                f"dim/heads = {cfg.dim}/{cfg.heads} must give head_dim = sum(rope_axes_dim) = {sum(cfg.rope_axes_dim)}"
            )
        self.config = cfg
        self.embed = PackedPatchEmbed(
            cfg.latent_channels,
            cfg.dim,
            cfg.patch_size,
            cfg.kernels,
            True,
            cfg.rope_axes_dim,
            cfg.rope_theta,
            pooled_above=cfg.pooled_above,
        )
        self.embed.init_from_k1()
        self.image_embed = nn.Conv2d(cfg.latent_channels, cfg.dim, cfg.patch_size, stride=cfg.patch_size)
        self.image_type = nn.Parameter(torch.zeros(cfg.dim))
        if cfg.carry:  # zero-initialised: a model continued from one without carry starts identical
            self.carry_embed = nn.Linear(cfg.patch_size**2 * cfg.latent_channels, cfg.dim)
            self.carry_gate = nn.Linear(cfg.dim, cfg.latent_channels)
            for layer in (self.carry_embed, self.carry_gate):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        if cfg.out_conv:  # zero-initialised last layer: switching it on leaves the outputs unchanged
            c = cfg.latent_channels
            self.out_refine = nn.Sequential(
                nn.Conv2d(c, 8 * c, 3, padding=1), nn.SiLU(), nn.Conv2d(8 * c, c, 3, padding=1)
            )
            nn.init.zeros_(self.out_refine[2].weight)
            nn.init.zeros_(self.out_refine[2].bias)
        self.time_mlp = nn.Sequential(nn.Linear(256, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.out_modulation = nn.Linear(cfg.dim, 2 * cfg.dim)
        self.out = nn.Linear(cfg.dim, cfg.patch_size**2 * cfg.latent_channels)
        for layer in (self.out_modulation, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor, context: SectionContext, cond: MiniCondition
    ) -> torch.Tensor:
        b, c, t, h, w = x.shape
        # the context's tokens are the same at every sampler step of a section (no gradients to keep)
        cache = None if torch.is_grad_enabled() else context.cache
        packed = self.embed(x, context.section_indices, context.groups, context.tail, cache)
        tokens = packed.tokens
        # per-token noise level: section at sigma, context groups at their own level (0 = clean)
        levels = context.group_sigmas or [0.0] * len(context.groups)
        by_group = sorted(zip(context.groups, levels, strict=True), key=lambda gl: -gl[0].kernel)
        sig = torch.zeros(b, tokens.shape[1], device=x.device)
        span_iter = iter(packed.spans)
        if context.tail is not None:
            sig[:, next(span_iter)[2]] = context.tail_sigma
        for (_, level), (_, _, span) in zip(by_group, span_iter, strict=False):
            sig[:, span] = level
        sig[:, packed.section] = sigma.to(x.device).float().view(-1, 1)
        if self.config.carry:
            nearest = nearest_k1_frames(context, x.shape).to(x.device, tokens.dtype)
            tokens = tokens.clone()
            tokens[:, packed.section] = tokens[:, packed.section] + self.carry_embed(self.patchify(nearest))
        # start-image tokens: no rotation (cos 1, sin 0), a learned type embedding, clean (sigma 0)
        img = (
            self.image_embed(cond.image_latents[:, :, 0].to(tokens.dtype)).flatten(2).transpose(1, 2)
            + self.image_type
        )
        tokens = torch.cat([img, tokens], dim=1)
        sig = torch.cat([torch.zeros(b, img.shape[1], device=x.device), sig], dim=1)
        cos = torch.cat([packed.rope_cos.new_ones(img.shape[1], packed.rope_cos.shape[1]), packed.rope_cos])
        sin = torch.cat([packed.rope_sin.new_zeros(img.shape[1], packed.rope_sin.shape[1]), packed.rope_sin])
        # a video has a handful of distinct noise levels (clean context, the section, noised history):
        # embed and modulate each level once, then hand every token its level's rows
        levels, level_of = torch.unique(sig, return_inverse=True)
        temb = F.silu(self.time_mlp(timestep_embedding(levels, 256)))  # (levels, dim)
        # when every video has the same levels in the same places (the usual case), one (N, 6 * dim)
        # modulation broadcasts over the batch instead of a (B, N, 6 * dim) copy per block; a compiled
        # model keeps the per-video rows (the test would split its graph, and it fuses the gather anyway)
        shared = (
            level_of
            if torch.compiler.is_compiling() or not bool((level_of == level_of[:1]).all())
            else level_of[0]
        )
        n_sec = packed.section.stop - packed.section.start
        p = self.config.patch_size
        out = self._trunk(tokens, temb, shared, cos, sin, n_sec, t, context, cond)
        shift, scale = self.out_modulation(temb)[shared[..., -n_sec:]].chunk(2, dim=-1)
        out = self.out(self.norm_out(out) * (1 + scale) + shift)  # (B, T*gh*gw, p*p*C)
        gh, gw = h // p, w // p
        out = out.view(b, t, gh, gw, c, p, p).permute(0, 4, 1, 2, 5, 3, 6).reshape(b, c, t, h, w)
        if self.config.carry:  # the section shares one sigma: its first token's embedding gates the skip
            gate = self.carry_gate(temb)[level_of[:, -n_sec]]
            out = out + gate.view(b, c, 1, 1, 1) * nearest
        if self.config.out_conv:
            frames = out.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
            out = out + self.out_refine(frames).view(b, t, c, h, w).permute(0, 2, 1, 3, 4)
        return out

    def _trunk(self, tokens, temb, level_of, cos, sin, n_sec, frames, context, cond) -> torch.Tensor:
        """The transformer blocks; returns the section's tokens. A causal model's context and start-image
        tokens never see the section, so their keys and values are the same at every sampler step: the
        first call on a context stores them (``context.cache``) and later calls run the section alone."""
        n = tokens.shape[1]
        if not self.config.causal:
            for block in self.blocks:
                tokens, _ = block(tokens, block.modulation(temb)[level_of], cos, sin)
            return tokens[:, -n_sec:]
        mask = block_causal_mask(n, n_sec, frames, tokens.device)
        key = (id(cond), tokens.shape[0], n)
        store = context.cache.setdefault("causal_prefix", {})  # per conditioning (CFG has two)
        if key in store:
            h, rows = tokens[:, -n_sec:], level_of[..., -n_sec:]
            for block, kv in zip(self.blocks, store[key], strict=True):
                h, _ = block(h, block.modulation(temb)[rows], cos[-n_sec:], sin[-n_sec:], mask[-n_sec:], kv)
            return h
        prefix = n - n_sec
        kvs = []
        for block in self.blocks:
            tokens, (k, v) = block(tokens, block.modulation(temb)[level_of], cos, sin, mask)
            kvs.append((k[:, :, :prefix], v[:, :, :prefix]))
        store[key] = kvs
        return tokens[:, -n_sec:]

    @property
    def causal(self) -> bool:
        """Fine-tuned with block-causal attention over time (the causal variant needs it)."""
        return self.config.causal

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, h, w) -> (B, T*gh*gw, p*p*C), in the section's token order."""
        b, c, t, h, w = x.shape
        p = self.config.patch_size
        x = x.reshape(b, c, t, h // p, p, w // p, p).permute(0, 2, 3, 5, 1, 4, 6)
        return x.reshape(b, t * (h // p) * (w // p), c * p * p)

    # -- checkpoints ----------------------------------------------------------------------
    def save(self, path: str | Path, card: dict | None = None) -> Path:
        from fpeval.models.checkpoints import write_checkpoint

        return write_checkpoint(path, self.state_dict(), self.config.model_dump(), card)

    @classmethod
    def load(cls, path: str | Path, **overrides) -> FramePackMini:
        """Load a checkpoint. ``overrides`` may only switch on ``SWITCHABLE`` options, whose
        zero-initialised layers leave the loaded model's outputs unchanged (a run can continue from a
        model without them)."""
        from fpeval.models.checkpoints import read_card, read_checkpoint

        if set(overrides) - set(SWITCHABLE):
            raise ValueError(
                f"only {', '.join(SWITCHABLE)} can be overridden when loading, got {sorted(overrides)}"
            )
        config, state = read_checkpoint(path)
        card = read_card(path)
        if "adapter" in card:  # low-rank adapter: merged into the base checkpoint its card names
            from fpeval.models.adapters import load_adapted

            switched = {**{k: config[k] for k in SWITCHABLE if config.get(k)}, **overrides}
            model = load_adapted(Path(path), card, state, lambda base: cls.load(base, **switched))
            if model.config != MiniConfig(**{**config, **overrides}):
                raise ValueError(f"adapter {path} was trained on a base with another architecture")
            return model.eval()
        model = cls(MiniConfig(**{**config, **overrides}))
        missing, unexpected = model.load_state_dict(state, strict=False)
        new = tuple(prefix for name, prefix in SWITCHABLE.items() if overrides.get(name) and prefix)
        missing = [k for k in missing if not (new and k.startswith(new))]  # new layers start at zero
        if missing or unexpected:
            raise ValueError(
                f"checkpoint {path} does not fit FramePack-mini: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        return model.eval()
