"""Weight-free per-frame statistics as batched torch functions over frames (..., 3, H, W) in [0, 1].

Each returns one value per frame (shape ``frames.shape[:-3]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LUMA = torch.tensor([0.299, 0.587, 0.114])
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _check(frames: torch.Tensor) -> torch.Tensor:
    if not isinstance(frames, torch.Tensor) or frames.ndim < 3 or frames.shape[-3] != 3:
        raise ValueError(
            f"frames must be a (..., 3, H, W) tensor in [0, 1], got {getattr(frames, 'shape', type(frames))}"
        )
    return frames.float()


def luminance(frames: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma, (..., H, W)."""
    frames = _check(frames)
    return torch.einsum("...chw,c->...hw", frames, _LUMA.to(frames.device))


def brightness(frames: torch.Tensor) -> torch.Tensor:
    """Mean luma per frame (exposure), in [0, 1]."""
    return luminance(frames).mean(dim=(-2, -1))


def laplacian_variance(frames: torch.Tensor) -> torch.Tensor:
    """Sharpness: variance of the 4-neighbour Laplacian of luma (valid region), on a 0-255 scale."""
    y = luminance(frames) * 255.0
    lead = y.shape[:-2]
    lap = F.conv2d(y.reshape(-1, 1, *y.shape[-2:]), _LAPLACIAN.to(y.device).view(1, 1, 3, 3))
    return lap.flatten(1).var(dim=1, unbiased=False).reshape(lead)


def colourfulness(frames: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colourfulness on a 0-255 scale."""
    frames = _check(frames) * 255.0
    r, g, b = frames.unbind(dim=-3)
    rg, yb = r - g, 0.5 * (r + g) - b
    std = torch.sqrt(rg.var(dim=(-2, -1), unbiased=False) + yb.var(dim=(-2, -1), unbiased=False))
    mean = torch.sqrt(rg.mean(dim=(-2, -1)) ** 2 + yb.mean(dim=(-2, -1)) ** 2)
    return std + 0.3 * mean


def clipped_fraction(frames: torch.Tensor, low: float = 2 / 255, high: float = 253 / 255) -> torch.Tensor:
    """Fraction of pixels with any channel at or beyond the clipping thresholds."""
    frames = _check(frames)
    clipped = ((frames <= low) | (frames >= high)).any(dim=-3)
    return clipped.float().mean(dim=(-2, -1))
