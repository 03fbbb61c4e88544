"""Video files: MP4 (H.264, yuv420p), PNG frame folders and JSON sidecars (``metrics.video_io``, shared
by generation and scoring: ``fpeval`` depends on ``metrics``, never the reverse)."""

from metrics.video_io import (
    read_frames,
    read_mp4,
    read_sidecar,
    read_video,
    sidecar_path,
    video_fps,
    write_frames,
    write_mp4,
    write_sidecar,
    write_video,
)

__all__ = [
    "read_frames",
    "read_mp4",
    "read_sidecar",
    "read_video",
    "sidecar_path",
    "video_fps",
    "write_frames",
    "write_mp4",
    "write_sidecar",
    "write_video",
]
