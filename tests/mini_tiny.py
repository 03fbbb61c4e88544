"""Random small FramePack-mini weights saved as a training run would leave them (shared by tests)."""

from pathlib import Path

import torch

from fpeval.models.autoencoder import AutoencoderConfig, FrameAutoencoder
from fpeval.models.mini import FramePackMini, MiniConfig


def write_tiny_mini(folder: Path) -> tuple[Path, Path]:
    """(denoiser, autoencoder) checkpoints of a tiny v2-layout FramePack-mini under ``folder``."""
    torch.manual_seed(0)
    autoencoder = FrameAutoencoder(AutoencoderConfig(width=32, blocks=1)).save(folder / "ae.safetensors")
    denoiser = FramePackMini(MiniConfig(dim=32, depth=1, heads=1, rope_axes_dim=(8, 12, 12))).save(
        folder / "tiny.safetensors", {"autoencoder": autoencoder.name}
    )
    return denoiser, autoencoder
