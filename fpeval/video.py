"""Write generated videos: browser-playable MP4 (H.264, yuv420p) with a JSON sidecar, atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fpeval.artifacts import atomic_path, write_text


def write_mp4(path: str | Path, frames: np.ndarray, fps: float = 30.0, crf: int = 18) -> Path:
    """Encode (T, H, W, 3) uint8 frames as H.264 / yuv420p MP4. Odd sizes are padded by one pixel."""
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got shape {frames.shape} dtype {frames.dtype}")
    if len(frames) == 0:
        raise ValueError("no frames to write")
    t, h, w, _ = frames.shape
    ph, pw = h + h % 2, w + w % 2  # yuv420p needs even sizes
    if (ph, pw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=int(round(fps)))
            stream.width, stream.height = pw, ph
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "movflags": "+faststart"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return Path(path)


def read_mp4(path: str | Path) -> np.ndarray:
    """Decode an MP4 to (T, H, W, 3) uint8."""
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def write_sidecar(video_path: str | Path, metadata: dict) -> Path:
    """Write ``<video>.json`` next to the video."""
    path = Path(video_path).with_suffix(".json")
    return write_text(path, json.dumps(metadata, indent=2, default=str))
