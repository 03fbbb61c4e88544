"""Input images: accept a path, PIL image, (H, W, 3) array or (3, H, W) tensor; return (3, H, W) float in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

ACCEPTED = "a file path, a PIL image, an (H, W, 3) uint8/float array, or a (3, H, W) float tensor in [0, 1]"


def to_tensor(image, multiple: int = 16) -> torch.Tensor:
    """One image as a (3, H, W) float32 tensor in [0, 1]; H and W must be multiples of ``multiple``."""
    if isinstance(image, (str, Path)):
        from PIL import Image

        p = Path(image)
        if not p.is_file():
            raise ValueError(f"image file not found: {p}")
        try:
            image = Image.open(p).convert("RGB")
        except OSError as e:  # PIL's UnidentifiedImageError and truncated files
            raise ValueError(
                f"{p} is not a readable image ({e}); accepted: PNG, JPEG or another PIL format"
            ) from None
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"image array must be (H, W, 3), got {image.shape}; accepted: {ACCEPTED}")
        arr = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
        tensor = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)
    elif isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(
                f"image tensor must be (3, H, W), got {tuple(image.shape)}; accepted: {ACCEPTED}"
            )
        tensor = image.float()
    else:
        raise ValueError(f"unsupported image type {type(image).__name__}; accepted: {ACCEPTED}")
    if tensor.min() < -1e-6 or tensor.max() > 1 + 1e-6:
        raise ValueError(
            f"image values must lie in [0, 1], got [{float(tensor.min()):.3f}, {float(tensor.max()):.3f}]"
        )
    _, h, w = tensor.shape
    if h % multiple or w % multiple or h == 0 or w == 0:
        raise ValueError(f"image size {w}x{h} is not a multiple of {multiple}; resize or crop it first")
    return tensor.clamp(0, 1)
