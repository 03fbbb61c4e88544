"""Whole-video known answers through ``metrics.compute`` and ``metrics.drift.drift_table``."""

import math

import numpy as np
import pytest
import torch

import metrics
from metrics.drift import drift_table

skimage_data = pytest.importorskip("skimage.data")


def _value(table, metric, column="drift"):
    return table.loc[table["metric"] == metric, column].item()


def _scene(size=64):
    return skimage_data.astronaut()[80 : 80 + size, 120 : 120 + size]


def test_blur_ramp_clarity_decreases_and_drift_is_the_hand_value():
    # A "blur" that is exact for a sinusoid: Gaussian blur only scales its amplitude. Frame t holds
    # 0.5 + a_t cos(2 pi x / 8); the 4-neighbour Laplacian of luma*255 is 255 a_t cos(.) (2 cos(w) - 2),
    # whose variance over whole periods is (255 a_t (2 - 2 cos w))^2 / 2.
    t_frames, width, w = 20, 66, 2 * math.pi / 8  # valid region 64 px = 8 whole periods
    amplitude = 0.45 * np.exp(-0.5 * (np.linspace(0, 1.2, t_frames) * w) ** 2)
    x = torch.arange(width, dtype=torch.float64)
    frames = torch.stack([(0.5 + a * torch.cos(w * x)).expand(3, 24, width) for a in amplitude])
    per_frame = metrics.compute(frames, ["clarity_laplacian", "clarity_tenengrad"], device="cpu")
    lap = per_frame[per_frame["metric"] == "clarity_laplacian"]["value"].to_numpy()
    expected = (255 * amplitude * (2 - 2 * math.cos(w))) ** 2 / 2
    np.testing.assert_allclose(lap, expected, rtol=1e-5)
    assert np.all(np.diff(lap) < 0)
    ten = per_frame[per_frame["metric"] == "clarity_tenengrad"]["value"].to_numpy()
    assert np.all(np.diff(ten) < 0)
    n = max(1, int(0.15 * t_frames))  # 3
    table = drift_table(per_frame)
    hand = expected[-n:].mean() - expected[:n].mean()
    assert _value(table, "clarity_laplacian", "signed_drift") == pytest.approx(hand, rel=1e-5)
    assert _value(table, "clarity_laplacian") == pytest.approx(abs(hand), rel=1e-5)
    assert _value(table, "clarity_laplacian", "drift_pct") == pytest.approx(
        100 * abs(hand) / expected[:n].mean(), rel=1e-5
    )


def test_gaussian_blur_ramp_on_a_photo_lowers_every_clarity_score():
    import cv2

    img = _scene(96)
    frames = np.stack([cv2.GaussianBlur(img, (0, 0), s) if s else img for s in np.linspace(0, 3, 10)])
    table = drift_table(metrics.compute(frames, ["clarity"], device="cpu"))
    assert _value(table, "clarity_laplacian", "signed_drift") < 0
    assert _value(table, "clarity_tenengrad", "signed_drift") < 0
    assert _value(table, "clarity_brisque", "signed_drift") > 20  # BRISQUE: higher = worse


def test_static_video_is_not_dynamic_and_perfectly_smooth():
    frames = np.repeat(_scene()[None], 12, axis=0)
    per_frame = metrics.compute(frames, ["motion", "dynamic", "flicker", "consistency"], device="cpu")
    by = per_frame.groupby("metric")["value"]
    assert by.min()["motion_smoothness"] == 1.0 and by.max()["motion_smoothness"] == 1.0
    # Farneback leaves sub-pixel noise on the image border of identical frames: far below the 1.5 px threshold
    assert by.max()["dynamic_flow"] < 0.1
    assert by.max()["dynamic_degree"] == 0.0
    assert by.min()["flicker_vbench"] == 1.0 and by.max()["flicker_brightness"] == 0.0
    assert by.min()["consistency_first_ssim"] == pytest.approx(1.0, abs=1e-6)
    assert by.min()["consistency_prev_psnr"] == metrics.functional.PSNR_MAX_DB
    counts = per_frame.groupby("metric")["frame"].agg(list)
    assert counts["motion_smoothness"] == [1, 3, 5, 7, 9]  # odd frames with two even neighbours
    assert counts["dynamic_degree"] == [metrics.VIDEO_FRAME]
    assert counts["flicker_vbench"] == list(range(1, 12))


def test_moving_video_is_dynamic_and_shuffling_breaks_smoothness():
    base = skimage_data.astronaut()
    moving = np.stack([base[100:164, 100 + 3 * t : 164 + 3 * t] for t in range(24)])
    per_frame = metrics.compute(moving, ["motion", "dynamic"], device="cpu")
    means = per_frame.groupby("metric")["value"].mean()
    assert means["dynamic_degree"] == 1.0
    assert means["dynamic_flow"] == pytest.approx(3.0, abs=0.5)  # 3 px per frame
    assert means["motion_smoothness"] > 0.98
    shuffled = moving[np.random.default_rng(0).permutation(24)]
    jerky = metrics.compute(shuffled, ["motion_smoothness"], device="cpu")["value"].mean()
    assert jerky < means["motion_smoothness"] - 0.05


def test_dynamic_samples_at_8_fps():
    base = skimage_data.astronaut()
    moving = np.stack([base[100:164, 100 + t : 164 + t] for t in range(33)])
    per_frame = metrics.compute(moving, ["dynamic_flow"], device="cpu", fps=32)  # every 4th frame
    assert per_frame["frame"].tolist() == [4, 8, 12, 16, 20, 24, 28, 32]
    assert per_frame["value"].mean() == pytest.approx(4.0, abs=0.6)


def test_time_reversal_keeps_every_absolute_drift():
    base = skimage_data.astronaut()
    frames = np.stack(
        [np.clip(base[100:164, 100 + 2 * t : 164 + 2 * t].astype(int) + 3 * t, 0, 255) for t in range(20)]
    ).astype(np.uint8)
    names = ["clarity", "exposure", "colourfulness", "noise_sigma", "flicker", "consistency_prev_ssim"]
    forward = drift_table(metrics.compute(frames, names, device="cpu")).set_index("metric")
    backward = drift_table(metrics.compute(frames[::-1].copy(), names, device="cpu")).set_index("metric")
    assert len(forward) == 10
    np.testing.assert_allclose(backward["drift"], forward["drift"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(backward["signed_drift"], -forward["signed_drift"], rtol=1e-6, atol=1e-9)
    assert (forward["drift"] > 0).all()


def test_brightness_ramp_is_detected_as_exposure_drift():
    img = _scene().astype(np.float64)
    offsets = np.arange(20) * 4.0  # +4 grey levels per frame, clipped at the top
    frames = np.stack([np.clip(img + o, 0, 255) for o in offsets]).round().astype(np.uint8)
    per_frame = metrics.compute(frames, ["exposure"], device="cpu")
    table = drift_table(per_frame)
    luma = (frames.astype(np.float64) / 255) @ np.array([0.299, 0.587, 0.114])
    brightness = luma.mean(axis=(1, 2))
    hand = brightness[-3:].mean() - brightness[:3].mean()
    assert _value(table, "exposure_brightness", "signed_drift") == pytest.approx(hand, rel=1e-5)
    assert hand > 0.2
    assert _value(table, "exposure_clipped", "signed_drift") > 0.1  # highlights clip as it brightens


def _world_frozen_noise(clips: int, frames: int = 49):
    """(the world's held-out clips, one of them frozen on its first frame, a uniform-noise clip) as uint8."""
    from fpeval.world import clip

    world = [
        (clip(s, "heldout", frames).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        for s in range(clips)
    ]
    frozen = np.repeat(world[0][:1], frames, axis=0)
    noise = (np.random.default_rng(0).random((frames, 64, 64, 3)) * 255).astype(np.uint8)
    return world, frozen, noise


def test_dynamic_orders_a_frozen_clip_below_the_world_below_noise():
    """At mini scale (64 px, 8 fps) VBench's resolution-scaled threshold still separates a frozen
    clip, the world's own moving clips and a noise clip."""
    import metrics

    def scores(video):
        pf = metrics.compute(video, ["dynamic_degree", "dynamic_flow"], fps=8)
        return pf[pf.metric == "dynamic_degree"].value.item(), pf[pf.metric == "dynamic_flow"].value.mean()

    clips, frozen_clip, noise_clip = _world_frozen_noise(6)
    world, frozen, noise = [scores(v) for v in clips], scores(frozen_clip), scores(noise_clip)
    degree = np.mean([d for d, _ in world])
    assert frozen[0] == 0 < degree < 1 == noise[0]
    assert frozen[1] < min(f for _, f in world) and max(f for _, f in world) < noise[1]


def test_motion_smoothness_orders_noise_below_the_world_below_a_frozen_clip():
    """At mini scale (64 px, 8 fps) VBench-style motion smoothness (interpolation error of the middle
    frame) is 1 for a frozen clip, just below 1 for the world's moving clips, far lower for noise."""
    import metrics

    def smoothness(video):
        return metrics.compute(video, ["motion_smoothness"], fps=8)["value"].mean()

    clips, frozen_clip, noise_clip = _world_frozen_noise(4)
    world, frozen, noise = [smoothness(v) for v in clips], smoothness(frozen_clip), smoothness(noise_clip)
    assert noise < 0.9 < min(world) and max(world) < frozen == pytest.approx(1.0)
