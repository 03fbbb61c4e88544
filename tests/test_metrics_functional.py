"""Functional twins against known answers and against reference implementations (skimage)."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from metrics import functional as fn


def test_tenengrad_of_a_ramp_is_64_slope_squared():
    slope = 3.0  # grey levels per pixel
    ramp = (torch.arange(40, dtype=torch.float64) * slope / 255).expand(3, 24, 40)
    assert fn.tenengrad(ramp).item() == pytest.approx(64 * slope**2, rel=1e-6)  # luma weights are float32
    assert fn.tenengrad(torch.full((3, 24, 24), 0.3)).item() == pytest.approx(0.0, abs=1e-9)


def test_noise_sigma_recovers_the_added_gaussian_noise():
    g = torch.Generator().manual_seed(0)
    for sigma in (2.0, 10.0):
        noise = torch.randn(1, 128, 128, generator=g, dtype=torch.float64) * sigma / 255
        frame = (0.5 + noise).expand(3, 128, 128)  # grey noise: luma noise = sigma
        assert fn.noise_sigma(frame).item() == pytest.approx(sigma, rel=0.03)
    # a smooth ramp has no noise (the mask is blind to linear trends)
    ramp = torch.linspace(0, 1, 64, dtype=torch.float64).expand(3, 64, 64)
    assert fn.noise_sigma(ramp).item() == pytest.approx(0.0, abs=1e-9)


def test_psnr_and_flicker_known_values():
    a = torch.full((2, 3, 16, 16), 0.5, dtype=torch.float64)
    b = a + 0.1
    torch.testing.assert_close(fn.psnr(a, b), torch.full((2,), 20.0, dtype=torch.float64))
    assert fn.psnr(a, a).tolist() == [fn.PSNR_MAX_DB] * 2
    torch.testing.assert_close(fn.mean_abs_diff(a, b), torch.full((2,), 25.5, dtype=torch.float64))
    torch.testing.assert_close(
        fn.vbench_flicker(a, b), torch.full((2,), (255 - 25.5) / 255, dtype=torch.float64)
    )


def test_psnr_matches_skimage():
    rng = np.random.default_rng(1)
    x, y = rng.random((32, 40, 3)), rng.random((32, 40, 3))
    ours = fn.psnr(torch.from_numpy(x).permute(2, 0, 1), torch.from_numpy(y).permute(2, 0, 1)).item()
    assert ours == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1.0), rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_matches_skimage(seed):
    rng = np.random.default_rng(seed)
    base = rng.random((48, 56, 3))
    # correlated pair: a smoothed image and a noisy, shifted version of it
    import scipy.ndimage as ndi

    x = ndi.gaussian_filter(base, sigma=(2, 2, 0))
    y = np.clip(np.roll(x, 2, axis=1) + rng.normal(0, 0.05, x.shape), 0, 1)
    ref = structural_similarity(
        x, y, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )
    ours = fn.ssim(torch.from_numpy(x).permute(2, 0, 1), torch.from_numpy(y).permute(2, 0, 1)).item()
    assert ours == pytest.approx(ref, abs=1e-10)
    assert 0.0 < ours < 1.0
    same = torch.from_numpy(x).permute(2, 0, 1)
    assert fn.ssim(same, same).item() == pytest.approx(1.0, abs=1e-12)


def test_ssim_batched_equals_one_by_one_and_rejects_bad_shapes():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(5, 3, 20, 20, generator=g), torch.rand(5, 3, 20, 20, generator=g)
    batched = fn.ssim(a, b)
    single = torch.stack([fn.ssim(a[i], b[i]) for i in range(5)])
    torch.testing.assert_close(batched, single)
    with pytest.raises(ValueError, match="one shape"):
        fn.ssim(a, b[:, :, :10])
    with pytest.raises(ValueError, match="at least 11x11"):
        fn.ssim(a[..., :8, :8], b[..., :8, :8])
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, H, W\)"):
        fn.tenengrad(torch.rand(4, 20, 20))
