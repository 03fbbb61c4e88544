"""One validated video for scoring: float frames for torch metrics, uint8 frames for OpenCV ones.

Accepted inputs: (T, H, W, 3) uint8 numpy; float numpy / torch in [0, 1] as (T, H, W, 3) or (T, 3, H, W);
uint8 torch in either layout; or a path to an MP4 file / PNG frame folder (its sidecar gives the fps).
Anything else raises ValueError saying what was wrong and what is accepted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

MIN_SIZE = 16
ACCEPTED = (
    "accepted: (T, H, W, 3) uint8 numpy, a float tensor/array in [0, 1] as (T, 3, H, W) or (T, H, W, 3), "
    f"with T >= 1 and H, W >= {MIN_SIZE}, or a path to an MP4 file or a folder of PNG frames"
)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(name: str | None) -> str:
    """A device name checked before any work: cpu, cuda or cuda:N (present on this machine), or mps;
    None gives the default (cuda when present)."""
    if name is None:
        return default_device()
    accepted = "accepted: cpu, cuda, cuda:N, mps"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device {name!r}; {accepted}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {name!r}; {accepted}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: no CUDA GPU on this machine; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r}: MPS is not available on this machine; use --device cpu")
    return str(device)


def _to_tchw_float(video: Any) -> torch.Tensor:
    if isinstance(video, np.ndarray):
        if video.dtype == np.uint8:
            if video.ndim != 4 or video.shape[-1] != 3:
                raise ValueError(f"uint8 video must be (T, H, W, 3), got shape {video.shape}; {ACCEPTED}")
            return torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float() / 255.0
        if video.dtype.kind != "f":
            raise ValueError(f"unsupported video dtype {video.dtype}; {ACCEPTED}")
        video = torch.from_numpy(np.ascontiguousarray(video))
    if not isinstance(video, torch.Tensor):
        raise ValueError(f"unsupported video type {type(video).__name__}; {ACCEPTED}")
    if video.ndim != 4:
        raise ValueError(f"video must have 4 dimensions (T, ...), got shape {tuple(video.shape)}; {ACCEPTED}")
    if video.shape[1] == 3:
        x = video
    elif video.shape[-1] == 3:
        x = video.permute(0, 3, 1, 2)
    else:
        raise ValueError(f"video needs 3 colour channels, got shape {tuple(video.shape)}; {ACCEPTED}")
    if video.dtype == torch.uint8:
        return x.float() / 255.0
    if not video.is_floating_point():
        raise ValueError(f"unsupported video dtype {video.dtype}; {ACCEPTED}")
    x = x.detach().float().cpu()
    if x.numel() and not torch.isfinite(x).all():
        raise ValueError("video holds NaN or infinite values; float frames must be finite and in [0, 1]")
    if x.numel() and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise ValueError(
            f"float video values must be in [0, 1], got [{x.min().item():.3g}, {x.max().item():.3g}]; {ACCEPTED}"
        )
    return x.clamp(0, 1)


@dataclass
class Video:
    """A video ready for scoring; metrics share expensive intermediate results through ``cache``."""

    frames: torch.Tensor  # (T, 3, H, W) float32 in [0, 1], on the CPU
    fps: float | None = None
    device: str = "cpu"
    batch_size: int = 32
    prompt: str | None = None
    weights: Mapping[str, str] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        return self.frames.shape[-2], self.frames.shape[-1]

    def uint8(self) -> np.ndarray:
        """(T, H, W, 3) uint8 frames (what a video file holds)."""
        if "uint8" not in self.cache:
            u8 = (self.frames * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
            self.cache["uint8"] = u8
        return self.cache["uint8"]

    def batches(self, index: np.ndarray | slice | None = None) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """(frame indices, frames on device) in chunks of ``batch_size``."""
        idx = np.arange(self.num_frames)[index if index is not None else slice(None)]
        for start in range(0, len(idx), self.batch_size):
            chunk = idx[start : start + self.batch_size]
            yield chunk, self.frames[torch.from_numpy(chunk)].to(self.device)


def as_video(
    video: Any,
    *,
    fps: float | None = None,
    device: str | None = None,
    batch_size: int = 32,
    prompt: str | None = None,
    weights: Mapping[str, str] | None = None,
) -> Video:
    """Validate and convert any accepted input to a :class:`Video`."""
    if isinstance(video, Video):
        return video
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    meta: dict = {}
    if isinstance(video, str | Path):
        from metrics.video_io import read_video

        video, meta = read_video(video)
    frames = _to_tchw_float(video)
    t, _, h, w = frames.shape
    if t == 0:
        raise ValueError(f"video has no frames; {ACCEPTED}")
    if min(h, w) < MIN_SIZE:
        raise ValueError(
            f"frames are {h}x{w} pixels, metrics need at least {MIN_SIZE}x{MIN_SIZE}; {ACCEPTED}"
        )
    fps = fps if fps is not None else meta.get("fps")
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return Video(
        frames=frames.contiguous(),
        fps=float(fps) if fps is not None else None,
        device=device or default_device(),
        batch_size=int(batch_size),
        prompt=prompt,
        weights=dict(weights or {}),
        meta=meta,
    )
