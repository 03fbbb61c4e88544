"""Video files: browser-playable MP4 (H.264, yuv420p) and PNG frame folders, each with a JSON sidecar.

Every writer is atomic (a file is absent or complete). Every reader validates what it gets: a missing
path raises FileNotFoundError; an empty, corrupt or frameless file, or frames of mixed sizes, raise
ValueError naming the file and what is accepted. The sidecar of ``clip.mp4`` (or of the folder ``clip/``)
is ``clip.json`` beside it; known keys are ``fps``, ``variant``, ``seed`` and ``frame_section`` (the
section id of every frame).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from metrics.atomic import atomic_path, write_text

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
FRAME_SUFFIX = ".png"


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got shape {frames.shape} dtype {frames.dtype}")
    if len(frames) == 0:
        raise ValueError("no frames to write")
    return frames


def write_mp4(path: str | Path, frames: np.ndarray, fps: float = 30.0, crf: int = 18) -> Path:
    """Encode (T, H, W, 3) uint8 frames as H.264 / yuv420p MP4. Odd sizes are padded by one pixel.

    The bytes are not reproducible: x264 as PyAV bundles it gives slightly different encodings of the
    same frames from call to call (decoded pixels up to ~36/255 apart at sharp edges), whatever its
    thread settings. Runs therefore score the frames they generated, never their MP4s."""
    import av

    frames = _check_frames(frames)
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


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such video: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file; accepted: an MP4 file or a folder of PNG frames")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes); accepted: a video file with at least one frame")
    return path


def read_mp4(path: str | Path) -> np.ndarray:
    """Decode a video file (MP4 or anything FFmpeg reads) to (T, H, W, 3) uint8."""
    import av

    path = _existing_file(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path} has no video stream")
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except av.FFmpegError as e:
        raise ValueError(f"{path} is not a readable video ({e}); accepted: an H.264 MP4 or similar") from e
    if not frames:
        raise ValueError(f"{path} has no decodable frames")
    return np.stack(frames)


def video_fps(path: str | Path) -> float | None:
    """The frame rate stored in a video file's first video stream, or None when it has none."""
    import av

    path = _existing_file(path)
    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate if container.streams.video else None
    except av.FFmpegError as e:
        raise ValueError(f"{path} is not a readable video ({e})") from e
    return float(rate) if rate else None


def _frame_number(path: Path) -> tuple:
    """Natural sort key: frame_2.png before frame_10.png."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name))


def write_frames(folder: str | Path, frames: np.ndarray, prefix: str = "frame_") -> Path:
    """Write (T, H, W, 3) uint8 frames as ``folder/frame_00000.png`` ... (each file atomically)."""
    from PIL import Image

    frames = _check_frames(frames)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digits = max(5, len(str(len(frames) - 1)))
    for i, frame in enumerate(frames):
        with atomic_path(folder / f"{prefix}{i:0{digits}d}{FRAME_SUFFIX}") as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")
    return folder


def read_frames(folder: str | Path) -> np.ndarray:
    """Read a folder of PNG frames (natural order of file names) as (T, H, W, 3) uint8."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"no such frame folder: {folder}")
    files = sorted(folder.glob(f"*{FRAME_SUFFIX}"), key=_frame_number)
    if not files:
        raise ValueError(f"{folder} holds no {FRAME_SUFFIX} frames; accepted: a folder of PNG frames")
    frames = []
    for f in files:
        try:
            with Image.open(f) as img:
                frames.append(np.asarray(img.convert("RGB")))
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"{f} is not a readable PNG image ({e})") from e
    sizes = {fr.shape for fr in frames}
    if len(sizes) > 1:
        raise ValueError(
            f"frames in {folder} differ in size: {sorted(sizes)}; all frames must share one size"
        )
    return np.stack(frames)


def sidecar_path(video_path: str | Path) -> Path:
    """``clip.mp4`` -> ``clip.json``; a frame folder ``clip/`` -> ``clip.json`` beside it."""
    path = Path(video_path)
    return path.with_name(path.name + ".json") if path.is_dir() else path.with_suffix(".json")


def write_sidecar(video_path: str | Path, metadata: dict) -> Path:
    """Write ``<video>.json`` next to the video."""
    return write_text(sidecar_path(video_path), json.dumps(metadata, indent=2, default=str))


def read_sidecar(video_path: str | Path, num_frames: int | None = None) -> dict:
    """The sidecar of a video as a dict ({} when there is none), with its known keys validated."""
    path = sidecar_path(video_path)
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"sidecar {path} is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"sidecar {path} must hold a JSON object, got {type(meta).__name__}")
    fps = meta.get("fps")
    if fps is not None and (not isinstance(fps, int | float) or isinstance(fps, bool) or fps <= 0):
        raise ValueError(f"sidecar {path}: fps must be a positive number, got {fps!r}")
    if "seed" in meta and meta["seed"] is not None and not isinstance(meta["seed"], int):
        raise ValueError(f"sidecar {path}: seed must be an integer, got {meta['seed']!r}")
    sections = meta.get("frame_section")
    if sections is not None:
        if not isinstance(sections, list) or not all(isinstance(s, int) for s in sections):
            raise ValueError(f"sidecar {path}: frame_section must be a list of integers (one per frame)")
        if num_frames is not None and len(sections) != num_frames:
            raise ValueError(
                f"sidecar {path}: frame_section has {len(sections)} entries but the video has {num_frames} frames"
            )
    return meta


def write_video(path: str | Path, frames: np.ndarray, metadata: dict | None = None, fps: float | None = None):
    """Write an MP4 (path ending in a video suffix) or a PNG frame folder, plus its sidecar when given."""
    path = Path(path)
    fps = float(fps if fps is not None else (metadata or {}).get("fps", 30.0))
    if path.suffix.lower() in VIDEO_SUFFIXES:
        out = write_mp4(path, frames, fps=fps)
    elif path.suffix == "":
        out = write_frames(path, frames)
    else:
        raise ValueError(
            f"cannot write {path}: accepted are {', '.join(VIDEO_SUFFIXES)} files or a folder path"
        )
    if metadata is not None:
        write_sidecar(out, {"fps": fps, **metadata})
    return out


def read_video(path: str | Path) -> tuple[np.ndarray, dict]:
    """(frames (T, H, W, 3) uint8, sidecar metadata) of an MP4 file or a PNG frame folder.

    The metadata always has ``fps`` when it is known (sidecar first, then the container's rate).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such video or frame folder: {path}")
    frames = read_frames(path) if path.is_dir() else read_mp4(path)
    meta = read_sidecar(path, num_frames=len(frames))
    if meta.get("fps") is None and path.is_file():
        fps = video_fps(path)
        if fps:
            meta["fps"] = fps
    return frames, meta
