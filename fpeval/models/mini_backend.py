"""FramePack-mini as a generation backend: frame autoencoder + packed-context denoiser (+ codebook)."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from fpeval.models.autoencoder import FrameAutoencoder
from fpeval.models.mini import FramePackMini, MiniCondition
from fpeval.world import FPS


class MiniBackend:
    """The embedded default: runs every variant and schedule (k1..k16, td/ta/tc) on a CPU."""

    fps = float(FPS)
    temporal_factor = 1  # one latent frame per video frame

    def __init__(
        self, denoiser: FramePackMini, autoencoder: FrameAutoencoder, name: str = "mini", codebook=None
    ):
        self.denoiser = denoiser.eval()
        self.autoencoder = autoencoder.eval()
        self.name = name
        self.codebook = codebook  # the +D codebook the checkpoint was trained with, if any
        self.files: dict[str, Path] = {}  # the weights it was loaded from (for provenance)

    @classmethod
    def from_files(
        cls, checkpoint: str | Path, autoencoder: str | Path, name: str | None = None, device: str = "cpu"
    ):
        from fpeval.models.shipped import codebook_path
        from fpeval.sampling.history import Codebook

        checkpoint = Path(checkpoint)
        book_path = codebook_path(checkpoint)
        book = Codebook.load(book_path) if book_path.exists() else None
        den = FramePackMini.load(checkpoint).to(device)
        ae = FrameAutoencoder.load(autoencoder).to(device)
        backend = cls(den, ae, name or checkpoint.stem, book)
        backend.files = {"denoiser": checkpoint, "autoencoder": Path(autoencoder)}
        if book is not None:
            backend.files["codebook"] = book_path
        return backend

    @functools.cached_property
    def provenance(self) -> dict:
        """Which weights made a video: each file with its SHA-256 prefix (hashed once per backend)."""
        from fpeval.models.checkpoints import file_digest

        return {
            "model": self.name,
            **{k: {"file": str(v), "sha256": file_digest(v)} for k, v in self.files.items()},
        }

    @property
    def image_multiple(self) -> int:
        """Image sides must be multiples of this: the autoencoder's factor times the patch size."""
        return self.autoencoder.config.factor * self.denoiser.config.patch_size

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def encode_images(self, images: torch.Tensor, generators=None) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, C, 1, h, w) latents (deterministic: the posterior mean)."""
        with torch.no_grad():
            return self.autoencoder.encode(images.to(self.device))[:, :, None]

    def condition(self, prompts, images: torch.Tensor, negative: bool = False) -> MiniCondition:
        return MiniCondition(self.encode_images(images))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, T, h, w) -> (B, T, H, W, 3) in [0, 1]."""
        with torch.no_grad():
            frames = self.autoencoder.decode(latents.permute(0, 2, 1, 3, 4).to(self.device))
        return frames.permute(0, 1, 3, 4, 2)
