"""Weight-free per-frame statistics as batched torch functions over frames (..., 3, H, W) in [0, 1].

Each returns one value per frame (or frame pair) with shape ``frames.shape[:-3]``, in the frames' float
dtype (float64 in, float64 out). The metric classes in ``metrics.weight_free`` wrap these functions.
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
    return frames if frames.is_floating_point() else frames.float()


def luminance(frames: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma, (..., H, W)."""
    frames = _check(frames)
    return torch.einsum("...chw,c->...hw", frames, _LUMA.to(frames.device, frames.dtype))


def brightness(frames: torch.Tensor) -> torch.Tensor:
    """Mean luma per frame (exposure), in [0, 1]."""
    return luminance(frames).mean(dim=(-2, -1))


def laplacian_variance(frames: torch.Tensor) -> torch.Tensor:
    """Sharpness: variance of the 4-neighbour Laplacian of luma (valid region), on a 0-255 scale."""
    y = luminance(frames) * 255.0
    lead = y.shape[:-2]
    lap = F.conv2d(y.reshape(-1, 1, *y.shape[-2:]), _LAPLACIAN.to(y.device, y.dtype).view(1, 1, 3, 3))
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


_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_IMMERKAER = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def _filter_luma(frames: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Valid-region correlation of luma (0-255) with (K, kh, kw) kernels -> (..., K, H', W')."""
    y = luminance(frames) * 255.0
    lead = y.shape[:-2]
    out = F.conv2d(y.reshape(-1, 1, *y.shape[-2:]), kernels.to(y.device, y.dtype)[:, None])
    return out.reshape(*lead, *out.shape[1:])


def tenengrad(frames: torch.Tensor) -> torch.Tensor:
    """Sharpness: mean squared Sobel gradient magnitude of luma (valid region), on a 0-255 scale.

    A horizontal ramp of slope s grey levels per pixel gives (8 s)^2.
    """
    g = _filter_luma(frames, torch.stack([_SOBEL_X, _SOBEL_X.T]))
    return (g**2).sum(dim=-3).mean(dim=(-2, -1))


def noise_sigma(frames: torch.Tensor) -> torch.Tensor:
    """Noise standard deviation of luma in grey levels (0-255), Immerkaer's (1996) fast estimator.

    sigma = sqrt(pi / 2) / (6 (W - 2) (H - 2)) * sum |I * N|, N the 3x3 difference-of-Laplacians mask.
    """
    r = _filter_luma(frames, _IMMERKAER[None])[..., 0, :, :]
    return r.abs().mean(dim=(-2, -1)) * (torch.pi / 2) ** 0.5 / 6.0


def mean_abs_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over channels and pixels on a 0-255 scale."""
    a, b = _check(a), _check(b)
    return (a - b).abs().mean(dim=(-3, -2, -1)) * 255.0


def vbench_flicker(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """VBench temporal-flickering score of frame pairs: (255 - MAE) / 255, 1 for identical frames."""
    return (255.0 - mean_abs_diff(a, b)) / 255.0


def band_matrix(taps: torch.Tensor, n: int, mode: str = "valid") -> torch.Tensor:
    """Matrix M with (M @ v) = correlation of a length-``n`` signal v with ``taps`` (odd length).

    mode "valid": n - k + 1 outputs; "same": n outputs with zero padding (as scipy's 'same').
    """
    k = taps.shape[0]
    r = k // 2
    rows = n - k + 1 if mode == "valid" else n
    if rows < 1:
        raise ValueError(f"a signal of {n} samples is shorter than the {k}-tap filter")
    offset = torch.arange(n, device=taps.device)[None, :] - torch.arange(rows, device=taps.device)[:, None]
    if mode == "same":
        offset = offset + r
    elif mode != "valid":
        raise ValueError(f"mode must be 'valid' or 'same', got {mode!r}")
    inside = (offset >= 0) & (offset < k)
    return torch.where(
        inside, taps[offset.clamp(0, k - 1)], torch.zeros((), dtype=taps.dtype, device=taps.device)
    )


def separable_filter(x: torch.Tensor, taps: torch.Tensor, mode: str = "valid") -> torch.Tensor:
    """Filter the last two dimensions with the same 1-D taps along each axis, as two matrix products.

    Equivalent to a 2-D correlation with outer(taps, taps); matrix products run at BLAS speed where a
    one-channel convolution is memory-bound.
    """
    taps = taps.to(x.device, x.dtype)
    rows = band_matrix(taps, x.shape[-2], mode)
    cols = band_matrix(taps, x.shape[-1], mode)
    return rows @ (x @ cols.T)


def _gaussian_window(sigma: float = 1.5, truncate: float = 3.5) -> torch.Tensor:
    radius = int(truncate * sigma + 0.5)  # scipy.ndimage.gaussian_filter's radius (11 taps for 1.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per frame pair, averaged over RGB channels.

    Gaussian window sigma = 1.5 (11 taps), K1 = 0.01, K2 = 0.03, population covariances, mean over the
    region not touched by borders: the same value as ``skimage.metrics.structural_similarity(a, b,
    channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)``.
    """
    a, b = _check(a), _check(b)
    if a.shape != b.shape:
        raise ValueError(f"ssim needs frames of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    w = _gaussian_window(sigma).to(a.device, a.dtype)
    k = len(w)
    if min(a.shape[-2:]) < k:
        raise ValueError(f"ssim needs frames of at least {k}x{k} pixels, got {tuple(a.shape[-2:])}")
    lead, c = a.shape[:-3], a.shape[-3]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    # the five local moments in one batched filter, valid region only
    moments = separable_filter(torch.stack([a, b, a * a, b * b, a * b]), w, "valid")
    mu_a, mu_b, aa, bb, ab = moments.unbind(0)
    var_a = aa - mu_a**2
    var_b = bb - mu_b**2
    cov = ab - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.reshape(*lead, c, -1).mean(dim=(-2, -1))


PSNR_MAX_DB = 100.0


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for frames in [0, 1]; identical frames give PSNR_MAX_DB (not inf)."""
    a, b = _check(a), _check(b)
    mse = ((a - b) ** 2).mean(dim=(-3, -2, -1))
    return (-10.0 * torch.log10(mse.clamp_min(10 ** (-PSNR_MAX_DB / 10)))).clamp_max(PSNR_MAX_DB)
