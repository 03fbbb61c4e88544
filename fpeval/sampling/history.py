"""History policies: the discrete-history codebook (+D) and DiffusionForcing noising.

+D (paper §4): K-means over every latent pixel of a latent video set (Phi in R^{(B T H W) x C})
gives a codebook Omega in R^{K x C}; history pixels are replaced by their nearest centroid, in
training and at inference. K = 1 keeps no memory (no drift); K -> infinity is no discretisation.

DiffusionForcing: history is put on the flow-matching forward process x = (1 - s) x0 + s eps at a
noise level s = sigma_test * sigma of the section being denoised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from fpeval.artifacts import atomic_path


def latent_pixels(latents: Iterable[torch.Tensor]) -> torch.Tensor:
    """Stack every latent pixel of (B, C, T, H, W) videos into an (N, C) matrix."""
    rows = []
    channels = None
    for i, x in enumerate(latents):
        if not isinstance(x, torch.Tensor) or x.ndim != 5:
            raise ValueError(
                f"latent video {i} must be a (B, C, T, H, W) tensor, got {getattr(x, 'shape', type(x))}"
            )
        if channels is not None and x.shape[1] != channels:
            raise ValueError(f"latent video {i} has {x.shape[1]} channels, the first had {channels}")
        channels = x.shape[1]
        rows.append(x.detach().float().permute(0, 2, 3, 4, 1).reshape(-1, channels))
    if not rows:
        raise ValueError("no latent videos given")
    return torch.cat(rows)


class Codebook:
    """A K x C codebook of latent pixels; ``quantise`` replaces each pixel by its nearest centroid."""

    def __init__(self, centroids: torch.Tensor):
        if centroids.ndim != 2 or centroids.shape[0] < 1:
            raise ValueError(f"centroids must be a non-empty (K, C) matrix, got {tuple(centroids.shape)}")
        self.centroids = centroids.float().contiguous()

    @property
    def k(self) -> int:
        return self.centroids.shape[0]

    @property
    def channels(self) -> int:
        return self.centroids.shape[1]

    @classmethod
    def fit(
        cls,
        latents: Iterable[torch.Tensor],
        k: int = 128,
        seed: int = 0,
        max_pixels: int | None = 200_000,
        n_init: int = 1,
    ) -> Codebook:
        """K-means (scikit-learn, k-means++) over the latent pixels of ``latents``.

        ``max_pixels`` subsamples the pixel set uniformly (seeded) to bound the cost.
        """
        from sklearn.cluster import KMeans

        if not isinstance(k, int) or k < 1:
            raise ValueError(f"codebook size k must be a positive integer, got {k!r}")
        pixels = latent_pixels(latents).numpy().astype(np.float64)
        rng = np.random.default_rng(seed)
        if max_pixels is not None and len(pixels) > max_pixels:
            pixels = pixels[rng.choice(len(pixels), max_pixels, replace=False)]
        if len(pixels) < k:
            raise ValueError(f"k={k} centroids need at least {k} latent pixels, got {len(pixels)}")
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(pixels)
        return cls(torch.from_numpy(km.cluster_centers_).float())

    def assign(self, latents: torch.Tensor) -> torch.Tensor:
        """Index of the nearest centroid for every pixel: (B, C, T, H, W) -> (B, T, H, W)."""
        if latents.ndim != 5 or latents.shape[1] != self.channels:
            raise ValueError(f"expected (B, {self.channels}, T, H, W) latents, got {tuple(latents.shape)}")
        flat = latents.float().permute(0, 2, 3, 4, 1).reshape(-1, self.channels)
        cent = self.centroids.to(flat.device)
        # exact pairwise differences, not the |x|^2 - 2xc + |c|^2 expansion: a matmul's rounding depends
        # on the batch shape on GPUs and flips near-tied centroids between batched and per-video runs
        d = torch.cdist(flat, cent, compute_mode="donot_use_mm_for_euclid_dist")
        return d.argmin(1).reshape(latents.shape[0], *latents.shape[2:])

    def quantise(self, latents: torch.Tensor) -> torch.Tensor:
        """Replace every latent pixel by its nearest centroid (same shape and dtype).

        Frames that are exactly zero are the padding of history not generated yet (the official loops
        pad with zeros, and the model reads zeros as "unknown"); they stay zero rather than becoming
        the centroid nearest to zero, which would look like real content."""
        idx = self.assign(latents)
        out = self.centroids.to(latents.device)[idx]  # (B, T, H, W, C)
        out = out.permute(0, 4, 1, 2, 3).to(latents.dtype)
        padding = (latents == 0).all(dim=(1, 3, 4), keepdim=True)  # (B, 1, T, 1, 1)
        return torch.where(padding, torch.zeros_like(out), out)

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        with atomic_path(path) as tmp:
            save_file(
                {"centroids": self.centroids},
                str(tmp),
                metadata={"k": str(self.k), "kind": "fpeval-codebook"},
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> Codebook:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"codebook file not found: {p}")
        try:
            tensors = load_file(str(p))
        except (SafetensorError, OSError, ValueError) as e:
            raise ValueError(f"codebook file {p} is not a readable safetensors file: {e}") from None
        if "centroids" not in tensors:
            raise ValueError(f"codebook file {p} has no 'centroids' tensor (found: {sorted(tensors)})")
        return cls(tensors["centroids"])


def diffusion_forcing_noise(
    x0: torch.Tensor,
    level: float,
    generator: torch.Generator | Sequence[torch.Generator] | None = None,
) -> torch.Tensor:
    """x at noise level ``level`` in [0, 1] on the flow-matching forward process (1 - s) x0 + s eps.

    ``generator`` may be a list with one generator per batch item, so that each video's history
    noise does not depend on which other videos share its batch.
    """
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"noise level must be in [0, 1], got {level}")
    if isinstance(generator, (list, tuple)):
        from fpeval.sampling.sampler import seeded_noise

        eps = seeded_noise(x0.shape, generator, device=x0.device)
    else:
        eps = torch.randn(
            x0.shape,
            generator=generator,
            dtype=torch.float32,
            device="cpu" if generator is None else generator.device,
        )
    return ((1 - level) * x0.float() + level * eps.to(x0.device)).to(x0.dtype)
