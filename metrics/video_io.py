"""Video files for scoring: MP4 (H.264, yuv420p) and PNG frame folders with their JSON sidecars.

The implementation lives in :mod:`fpeval.video` (generation writes through it too); this module is the
metrics side's name for it.
"""

from fpeval.video import (
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
