"""Per-frame statistics and Eq. 7 drift on constructed inputs with known answers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metrics.drift import bootstrap_ci, signed_drift, start_end_contrast, start_end_window
from metrics.functional import brightness, clipped_fraction, colourfulness, laplacian_variance


def test_brightness_and_clipping_known_values():
    frames = torch.stack([torch.full((3, 8, 8), 0.25), torch.ones(3, 8, 8), torch.zeros(3, 8, 8)])
    torch.testing.assert_close(brightness(frames), torch.tensor([0.25, 1.0, 0.0]))
    torch.testing.assert_close(clipped_fraction(frames), torch.tensor([0.0, 1.0, 1.0]))


def test_laplacian_variance_known_value_and_blur_monotone():
    # a vertical stripe pattern 0/1 alternating: Laplacian of luma*255 is +-510 everywhere in the valid region
    x = torch.zeros(3, 10, 10)
    x[:, :, ::2] = 1.0
    assert laplacian_variance(x).item() == pytest.approx(510.0**2)
    img = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    blurred = [img]
    for _ in range(4):
        blurred.append(F.avg_pool2d(blurred[-1][None], 3, stride=1, padding=1, count_include_pad=False)[0])
    values = laplacian_variance(torch.stack(blurred)).tolist()
    assert values == sorted(values, reverse=True)


def test_colourfulness_gray_is_zero_and_saturated_is_high():
    assert colourfulness(torch.full((3, 4, 4), 0.5)).item() == pytest.approx(0.0, abs=1e-4)
    red = torch.zeros(3, 4, 4)
    red[0] = 1.0
    # rg = 255, yb = 127.5: std 0, mean sqrt(255^2 + 127.5^2); colourfulness = 0.3 * that
    assert colourfulness(red).item() == pytest.approx(0.3 * np.hypot(255, 127.5), rel=1e-5)


def test_eq7_windows_and_values():
    assert start_end_window(100) == 15 and start_end_window(5) == 1 and start_end_window(7) == 1
    series = np.r_[np.zeros(15), np.full(70, 5.0), np.ones(15) * 3]
    assert start_end_contrast(series) == pytest.approx(3.0)
    assert signed_drift(series[::-1]) == pytest.approx(-3.0)
    assert start_end_contrast(series[::-1]) == start_end_contrast(series)  # direction-agnostic
    with pytest.raises(ValueError, match="at least one frame"):
        start_end_window(0)


def test_bootstrap_ci_brackets_the_mean():
    x = np.random.default_rng(0).normal(2.0, 1.0, 400)
    est, lo, hi = bootstrap_ci(x)
    assert lo < est < hi and lo > 1.8 and hi < 2.2
    assert est == pytest.approx(x.mean())
