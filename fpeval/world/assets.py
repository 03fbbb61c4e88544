"""Assets of the procedural world, all shipped inside installed packages (no downloads).

Backgrounds are scikit-image's bundled photos and tinted grayscale textures; sprites are
scikit-learn's handwritten digits, scikit-image's face crops (LFW subset) and drawn shapes. Photos,
faces and digits are split into a training and a held-out set so evaluation start images come from
material the model never saw.
"""

from __future__ import annotations

import functools

import numpy as np

TRAIN_PHOTOS = ("astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "logo")
HELDOUT_PHOTOS = ("coffee", "rocket", "colorwheel")
TRAIN_TEXTURES = ("brick", "grass", "camera", "moon", "text")
HELDOUT_TEXTURES = ("gravel", "page", "cell")
SPLITS = ("train", "heldout")


def _rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.shape[-1] == 4:  # alpha over white
        a = img[..., 3:4].astype(np.float32) / 255
        img = (img[..., :3] * a + 255 * (1 - a)).astype(np.uint8)
    return np.ascontiguousarray(img[..., :3]).astype(np.float32) / 255.0


@functools.cache
def photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo as (H, W, 3) float32 in [0, 1]."""
    from skimage import data

    return _rgb(getattr(data, name)())


@functools.cache
def texture(name: str) -> np.ndarray:
    """A bundled grayscale texture as (H, W) float32 in [0, 1]."""
    from skimage import data

    img = np.asarray(getattr(data, name)(), dtype=np.float32)
    return img / max(float(img.max()), 1.0)


def backgrounds(split: str) -> tuple[tuple[str, str], ...]:
    """(kind, name) pairs of the split's backgrounds."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    photos = TRAIN_PHOTOS if split == "train" else HELDOUT_PHOTOS
    textures = TRAIN_TEXTURES if split == "train" else HELDOUT_TEXTURES
    return tuple(("photo", n) for n in photos) + tuple(("texture", n) for n in textures)


@functools.cache
def _digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().images / 16.0).astype(np.float32)  # (1797, 8, 8)


@functools.cache
def _faces() -> np.ndarray:
    from skimage import data

    return data.lfw_subset().astype(np.float32)  # (200, 25, 25)


def sprite_masks(split: str) -> dict[str, np.ndarray]:
    """Grayscale sprite masks in [0, 1] by family; even indices train, odd indices held out."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    part = slice(0, None, 2) if split == "train" else slice(1, None, 2)
    return {"digit": _digits()[part], "face": _faces()[part], "shape": _shapes()}


@functools.cache
def _shapes(size: int = 16) -> np.ndarray:
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1
    disc = (xx**2 + yy**2 <= 0.8).astype(np.float32)
    square = ((np.abs(xx) < 0.7) & (np.abs(yy) < 0.7)).astype(np.float32)
    triangle = ((yy > -0.8) & (yy < 0.8) & (np.abs(xx) < (yy + 0.8) / 2)).astype(np.float32)
    ring = ((xx**2 + yy**2 <= 0.8) & (xx**2 + yy**2 >= 0.3)).astype(np.float32)
    return np.stack([disc, square, triangle, ring])
