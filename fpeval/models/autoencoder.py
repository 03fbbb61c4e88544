"""The FramePack-mini frame autoencoder: diffusers' ``AutoencoderKL`` with a small config.

64 x 64 RGB frames -> 8 x 8 x 8 latents (8x spatial, no temporal compression: one latent frame per
video frame), so a k1 patch of 2 gives 16 tokens per frame. Latents are the posterior mean,
normalised per channel with statistics measured on training frames.
"""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict


class AutoencoderConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    block_out_channels: tuple[int, ...] = (16, 32, 64, 64)
    latent_channels: int = 8
    layers_per_block: int = 1
    norm_num_groups: int = 8
    image_size: int = 64

    @property
    def factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)

    def build(self):
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


class FrameAutoencoder(torch.nn.Module):
    """Frames (..., 3, H, W) in [0, 1] <-> normalised latents (..., C, H/8, W/8)."""

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = config or AutoencoderConfig()
        self.vae = self.config.build()
        c = self.config.latent_channels
        self.register_buffer("latent_mean", torch.zeros(c))
        self.register_buffer("latent_std", torch.ones(c))

    def _flat(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        return x.reshape(-1, *x.shape[-3:]), x.shape[:-3]

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        flat, lead = self._flat(frames)
        z = self.vae.encode(flat * 2 - 1).latent_dist.mean
        z = (z - self.latent_mean.view(1, -1, 1, 1)) / self.latent_std.view(1, -1, 1, 1)
        return z.reshape(*lead, *z.shape[1:])

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        flat, lead = self._flat(latents)
        z = flat * self.latent_std.view(1, -1, 1, 1) + self.latent_mean.view(1, -1, 1, 1)
        x = (self.vae.decode(z).sample + 1) / 2
        return x.reshape(*lead, *x.shape[1:])

    @torch.no_grad()
    def fit_latent_stats(self, frames: torch.Tensor) -> None:
        """Set the per-channel normalisation from raw posterior means of ``frames`` (N, 3, H, W)."""
        z = self.vae.encode(frames * 2 - 1).latent_dist.mean
        self.latent_mean.copy_(z.mean(dim=(0, 2, 3)))
        self.latent_std.copy_(z.std(dim=(0, 2, 3)).clamp_min(1e-4))

    def save(self, path: str | Path, card: dict | None = None) -> Path:
        """Weights as safetensors (fp32) and, beside them, ``<name>.json`` with the config and card."""
        from fpeval.models.checkpoints import write_checkpoint

        return write_checkpoint(path, self.state_dict(), self.config.model_dump(), card)

    @classmethod
    def load(cls, path: str | Path) -> FrameAutoencoder:
        from fpeval.models.checkpoints import read_checkpoint

        config, state = read_checkpoint(path)
        model = cls(AutoencoderConfig(**config))
        model.load_state_dict(state)
        return model.eval()
