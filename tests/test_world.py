"""The procedural world: deterministic per seed, held-out material disjoint from training."""

import json

import pytest
import torch

pytest.importorskip("skimage")

from fpeval.world import FPS, clip, heldout_start_images, sample_spec  # noqa: E402
from fpeval.world.assets import HELDOUT_PHOTOS, HELDOUT_TEXTURES, TRAIN_PHOTOS, TRAIN_TEXTURES, backgrounds  # noqa: E402


def test_same_seed_same_clip_different_seed_different_clip():
    a, b = clip(3, frames=12), clip(3, frames=12)
    assert torch.equal(a, b)
    assert not torch.equal(a, clip(4, frames=12))
    assert a.shape == (12, 3, 64, 64) and a.dtype == torch.float32
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert FPS in (8, 9, 10)


def test_clips_move():
    c = clip(5, frames=16)
    step = (c[1:] - c[:-1]).abs().mean(dim=(1, 2, 3))
    assert (step > 1e-4).all()  # the camera or a sprite moves every frame
    assert (c[-1] - c[0]).abs().mean() > 0.01


def test_a_longer_clip_starts_like_a_shorter_one():
    torch.testing.assert_close(clip(7, frames=40)[:10], clip(7, frames=10), rtol=0, atol=1e-6)


def test_splits_are_disjoint():
    assert not set(TRAIN_PHOTOS) & set(HELDOUT_PHOTOS)
    assert not set(TRAIN_TEXTURES) & set(HELDOUT_TEXTURES)
    train = {bg for bg in backgrounds("train")}
    for seed in range(40):
        spec = sample_spec(seed, "heldout")
        assert spec.background not in train
    starts = heldout_start_images(16)
    assert len(starts) == 16 and all(img.shape == (3, 64, 64) for _, img in starts)


def test_spec_is_json_and_errors():
    json.dumps(sample_spec(1).to_dict())
    with pytest.raises(ValueError, match="unknown split"):
        sample_spec(0, "test")
    with pytest.raises(ValueError, match="frames must be >= 1"):
        sample_spec(0, frames=0)
