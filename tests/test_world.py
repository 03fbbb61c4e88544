"""The procedural world: deterministic per seed, unbounded appearance, held-out photos disjoint from training."""

import json

import pytest
import torch

pytest.importorskip("skimage")

from fpeval.world import FPS, assets, clip, clips, heldout_start_images, sample_spec  # noqa: E402
from fpeval.world.appearance import apply_palette, fractal_noise  # noqa: E402


def test_same_seed_same_clip_different_seed_different_clip():
    a, b = clip(3, frames=12), clip(3, frames=12)
    assert torch.equal(a, b)
    assert not torch.equal(a, clip(4, frames=12))
    assert a.shape == (12, 3, 64, 64) and a.dtype == torch.float32
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    assert FPS in (8, 9, 10)


def test_every_seed_has_its_own_content():
    """No two of 40 clips share their first frame: the appearance is generated, not picked from a list."""
    firsts = torch.stack([clip(s, frames=1)[0] for s in range(40)])
    dist = (firsts[:, None] - firsts[None]).abs().mean(dim=(2, 3, 4))
    off_diagonal = dist[~torch.eye(40, dtype=torch.bool)]
    assert float(off_diagonal.min()) > 0.02
    kinds = {sample_spec(s).base for s in range(40)}
    assert kinds == {"noise", "gradient", "photo", "stripes"}


def test_clips_move():
    c = clip(5, frames=16)
    step = (c[1:] - c[:-1]).abs().mean(dim=(1, 2, 3))
    assert (step > 1e-4).all()  # the camera or a sprite moves every frame
    assert (c[-1] - c[0]).abs().mean() > 0.005


def test_a_longer_clip_starts_like_a_shorter_one():
    torch.testing.assert_close(clip(7, frames=40)[:10], clip(7, frames=10), rtol=0, atol=1e-6)


def test_heldout_clips_only_show_heldout_photos(monkeypatch):
    assert not set(assets.photos("train")) & set(assets.photos("heldout"))
    seen = []
    real = assets.photo
    monkeypatch.setattr(assets, "photo", lambda name: seen.append(name) or real(name))
    clips._appearance.cache_clear()
    try:
        for seed in range(30):
            clip(seed, "heldout", 2)
    finally:
        clips._appearance.cache_clear()
    assert seen and set(seen) <= set(assets.HELDOUT_PHOTOS)
    starts = heldout_start_images(16)
    assert len(starts) == 16 and all(img.shape == (3, 64, 64) for _, img in starts)
    train = torch.stack([clip(s, "train", 1)[0] for s in range(16)])
    assert not any(torch.equal(img, t) for _, img in starts for t in train)


def test_palette_maps_the_field_ends_to_the_palette_ends():
    import numpy as np

    palette = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.2, 0.4, 1.0]])
    field = torch.tensor([[0.0, 0.25], [0.5, 1.0]])
    rgb = apply_palette(field, palette)
    torch.testing.assert_close(rgb[:, 0, 0], palette[0])
    torch.testing.assert_close(rgb[:, 1, 0], palette[1])
    torch.testing.assert_close(rgb[:, 1, 1], palette[2])
    torch.testing.assert_close(rgb[:, 0, 1], palette[1] / 2)
    noise = fractal_noise(np.random.default_rng(0), 32)
    assert float(noise.min()) == 0.0 and float(noise.max()) == 1.0


def test_spec_is_json_and_errors():
    json.dumps(sample_spec(1).to_dict())
    with pytest.raises(ValueError, match="unknown split"):
        sample_spec(0, "test")
    with pytest.raises(ValueError, match="frames must be >= 1"):
        sample_spec(0, frames=0)
    with pytest.raises(ValueError, match="unknown split"):
        assets.photos("validation")
