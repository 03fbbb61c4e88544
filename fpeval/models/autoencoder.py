"""The FramePack-mini frame autoencoder: 64 x 64 RGB frames <-> small latents, one latent frame per frame.

Two architectures, each checkpoint naming its own:
- ``patch`` (v2, the default): 4 x 4 pixel patches folded into channels (space-to-depth), then a
  linear map to 8 latent channels plus a residual trunk of diffusers' ``ResnetBlock2D`` at 16 x 16,
  and the mirror image to decode. The linear paths start as the principal components of world patches,
  so training begins at PCA quality (~28 dB) and the trunks only learn what PCA misses; a deep
  encoder-decoder from random weights needs far more steps than a CPU can give to get there.
  16 x 16 x 8 latents and a denoiser patch of 4 give 16 tokens per frame.
- ``kl`` (the first release): diffusers' ``AutoencoderKL`` with a small config, 8x spatial
  (8 x 8 x 8 latents), the posterior mean as the latent.

Latents are centred per channel and scaled (per channel for ``kl``; by one shared scale for ``patch``)
with statistics measured on training frames.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn


class AutoencoderConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    architecture: Literal["patch", "kl"] = "patch"
    latent_channels: int = 8
    image_size: int = 64
    # how latents are normalised: one scale per channel, or one shared by all channels (keeps the PCA
    # ordering: fine-detail channels stay small, so the denoiser's loss is not dominated by them)
    latent_scale: Literal["channel", "shared"] = "shared"
    # patch
    patch: int = 4
    width: int = 128
    blocks: int = 2
    # kl
    block_out_channels: tuple[int, ...] = (16, 32, 64, 64)
    layers_per_block: int = 1
    norm_num_groups: int = 8

    @property
    def factor(self) -> int:
        return self.patch if self.architecture == "patch" else 2 ** (len(self.block_out_channels) - 1)

    def build(self) -> nn.Module:
        if self.architecture == "patch":
            return PatchCodec(self)
        from diffusers import AutoencoderKL

        n = len(self.block_out_channels)
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=self.block_out_channels,
            layers_per_block=self.layers_per_block,
            latent_channels=self.latent_channels,
            norm_num_groups=self.norm_num_groups,
            sample_size=self.image_size,
            mid_block_add_attention=False,
        )


class Trunk(nn.Module):
    """conv -> diffusers ResnetBlock2D x n -> norm, SiLU -> zero-initialised conv (starts as a no-op)."""

    def __init__(self, cin: int, cout: int, width: int, blocks: int):
        super().__init__()
        from diffusers.models.resnet import ResnetBlock2D

        groups = math.gcd(32, width)
        self.conv_in = nn.Conv2d(cin, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            ResnetBlock2D(in_channels=width, out_channels=width, temb_channels=None, groups=groups)
            for _ in range(blocks)
        )
        self.norm = nn.GroupNorm(groups, width)
        self.conv_out = nn.Conv2d(width, cout, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for block in self.blocks:
            h = block(h, None)
        return self.conv_out(F.silu(self.norm(h)))


class PatchCodec(nn.Module):
    """Space-to-depth patches -> linear + residual trunk -> latents, and back. Works on [-1, 1] pixels."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.patch = cfg.patch
        pixels = 3 * cfg.patch**2
        self.encode_linear = nn.Conv2d(pixels, cfg.latent_channels, 1)
        self.encode_trunk = Trunk(pixels, cfg.latent_channels, cfg.width, cfg.blocks)
        self.decode_linear = nn.Conv2d(cfg.latent_channels, pixels, 1)
        self.decode_trunk = Trunk(cfg.latent_channels, pixels, cfg.width, cfg.blocks)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        u = F.pixel_unshuffle(x, self.patch)
        return self.encode_linear(u) + self.encode_trunk(u)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.decode_linear(z) + self.decode_trunk(z), self.patch)

    @torch.no_grad()
    def init_from_pca(self, x: torch.Tensor) -> None:
        """Set both linear paths to the top principal components of the patches of ``x`` ([-1, 1])."""
        u = F.pixel_unshuffle(x, self.patch)
        patches = u.permute(0, 2, 3, 1).reshape(-1, u.shape[1]).double()
        mean = patches.mean(0)
        _, _, v = torch.linalg.svd(patches - mean, full_matrices=False)
        basis = v[: self.encode_linear.out_channels].T  # (pixels, latent)
        self.encode_linear.weight.copy_(basis.T[:, :, None, None].float())
        self.encode_linear.bias.copy_(-(basis.T @ mean).float())
        self.decode_linear.weight.copy_(basis[:, :, None, None].float())
        self.decode_linear.bias.copy_(mean.float())


class FrameAutoencoder(torch.nn.Module):
    """Frames (..., 3, H, W) in [0, 1] <-> normalised latents (..., C, H/f, W/f), f = ``config.factor``."""

    chunk = 32  # frames per encoder / decoder call: bounded activation memory for videos of any length

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = config or AutoencoderConfig()
        self.vae = self.config.build()
        c = self.config.latent_channels
        self.register_buffer("latent_mean", torch.zeros(c))
        self.register_buffer("latent_std", torch.ones(c))

    def _flat(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        return x.reshape(-1, *x.shape[-3:]), x.shape[:-3]

    def encode_raw(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> unnormalised latents (N, C, h, w)."""
        if self.config.architecture == "patch":
            return self.vae.encode(frames * 2 - 1)
        return self.vae.encode(frames * 2 - 1).latent_dist.mean

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalised latents (N, C, h, w) -> (N, 3, H, W), nominally in [0, 1] (not clamped)."""
        x = self.vae.decode(z) if self.config.architecture == "patch" else self.vae.decode(z).sample
        return (x + 1) / 2

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        flat, lead = self._flat(frames)
        z = torch.cat([self.encode_raw(part) for part in flat.split(self.chunk)])
        z = (z - self.latent_mean.view(1, -1, 1, 1)) / self.latent_std.view(1, -1, 1, 1)
        return z.reshape(*lead, *z.shape[1:])

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        flat, lead = self._flat(latents)
        z = flat * self.latent_std.view(1, -1, 1, 1) + self.latent_mean.view(1, -1, 1, 1)
        x = torch.cat([self.decode_raw(part) for part in z.split(self.chunk)])
        return x.reshape(*lead, *x.shape[1:])

    @torch.no_grad()
    def fit_latent_stats(self, frames: torch.Tensor) -> None:
        """Set the per-channel normalisation from raw latents of ``frames`` (N, 3, H, W)."""
        z = self.encode_raw(frames)
        self.latent_mean.copy_(z.mean(dim=(0, 2, 3)))
        std = z.std(dim=(0, 2, 3))
        if self.config.latent_scale == "shared":  # the root mean square of the channel scales
            std = std.pow(2).mean().sqrt().expand_as(std)
        self.latent_std.copy_(std.clamp_min(1e-4))

    def save(
        self, path: str | Path, card: dict | None = None, storage_dtype: torch.dtype | None = None
    ) -> Path:
        """Weights as safetensors and, beside them, ``<name>.json`` with the config and card."""
        from fpeval.models.checkpoints import write_checkpoint

        return write_checkpoint(path, self.state_dict(), self.config.model_dump(), card, storage_dtype)

    @classmethod
    def load(cls, path: str | Path) -> FrameAutoencoder:
        from fpeval.models.checkpoints import read_checkpoint

        config, state = read_checkpoint(path)
        # the first release's cards predate these fields
        config = {"architecture": "kl", "latent_scale": "channel", **config}
        model = cls(AutoencoderConfig(**config))
        model.load_state_dict(state)
        return model.eval()
