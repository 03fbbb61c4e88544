"""Photos of the procedural world, all shipped inside installed packages (no downloads).

The world's photo crops come from scikit-image's bundled images (colour photos and grayscale
textures, the latter used as luminance under a random colour transform). They are split into a
training and a held-out set, so evaluation clips show photos the model never saw.
"""

from __future__ import annotations

import functools

import numpy as np

TRAIN_PHOTOS = (
    "astronaut",
    "chelsea",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "logo",
    "brick",
    "grass",
    "camera",
    "moon",
    "text",
    "coins",
    "clock",
    "horse",
)
HELDOUT_PHOTOS = ("coffee", "rocket", "colorwheel", "gravel", "page", "cell")
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
    img = np.ascontiguousarray(img[..., :3]).astype(np.float32)
    return img / max(float(img.max()), 1.0) if img.max() > 255 else img / 255.0


@functools.cache
def photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo as (H, W, 3) float32 in [0, 1]."""
    from skimage import data

    return _rgb(getattr(data, name)())


def photos(split: str) -> tuple[str, ...]:
    """Names of the split's photos."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    return TRAIN_PHOTOS if split == "train" else HELDOUT_PHOTOS
