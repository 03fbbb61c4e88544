"""Face presence per frame: a proxy for the face part of the paper's Anatomy column.

The detector is the Viola-Jones boosted cascade (Viola & Jones, CVPR 2001; OpenCV's frontal-face model
by Lienhart et al., ICIP 2002) that the ``opencv-python-headless`` 4.x wheels ship in ``cv2.data`` (5.x
wheels dropped it: then the file is fetched once into torch hub's cache, or given by path). A frame's
score is the largest detection's boosting confidence (OpenCV's ``levelWeights``), 0 when no face is
found: frames whose faces dissolve or deform score lower. Small frames are upscaled so their short side
is ``UPSCALE_TO`` pixels (the cascade's 24-pixel window needs faces of a few dozen pixels).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from metrics.frames import Video
from metrics.metric import Metric
from metrics.weights import Source, find_weights, torch_checkpoints_dir

CASCADE_ENV = "FPEVAL_FACE_CASCADE"
CASCADE_FILE = "haarcascade_frontalface_default.xml"
CASCADE_URL = f"https://raw.githubusercontent.com/opencv/opencv/4.x/data/haarcascades/{CASCADE_FILE}"
UPSCALE_TO = 96  # px: the short side small frames are resized to before detection
MIN_FACE = 1 / 3  # smallest face searched for, as a fraction of the (resized) short side


def _opencv_data() -> list[Path]:
    import cv2

    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    return [Path(folder)] if folder else []


def cascade_path(path: str | os.PathLike | None = None) -> Path:
    return find_weights(
        "OpenCV frontal-face Haar cascade",
        [CASCADE_FILE],
        explicit=path,
        env=CASCADE_ENV,
        flag=f"--weights face_cascade=/path/to/{CASCADE_FILE}",
        search_dirs=[*_opencv_data(), torch_checkpoints_dir()],
        source=Source(url=CASCADE_URL),
    )


@functools.lru_cache(maxsize=2)
def _load(path: str):
    import cv2

    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ValueError(f"{path} is not an OpenCV cascade classifier (XML)")
    return cascade


def face_scores(frames: np.ndarray, cascade) -> np.ndarray:
    """Per frame (T, H, W, 3) uint8: the largest face detection's confidence, 0 without a face."""
    import cv2

    scores = np.zeros(len(frames))
    for i, frame in enumerate(frames):
        grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        scale = max(1.0, UPSCALE_TO / min(h, w))
        if scale > 1:
            grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
        side = int(min(grey.shape) * MIN_FACE)
        _, _, weights = cascade.detectMultiScale3(
            grey, scaleFactor=1.05, minNeighbors=1, minSize=(side, side), outputRejectLevels=True
        )
        if len(weights):
            scores[i] = max(0.0, float(np.max(weights)))
    return scores


class FacePresence(Metric):
    name, group, kind, higher_is_better, needs_weights = (
        "anatomy_face",
        "faces",
        "per-frame",
        True,
        True,
    )
    description = (
        "face presence: the OpenCV Haar cascade's confidence in its largest frontal face, 0 without one "
        f"(a proxy for the faces of VBench's anatomy); weights key 'face_cascade' or ${CASCADE_ENV}"
    )

    def check(self, video: Video):
        cascade_path(video.weights.get("face_cascade"))

    def values(self, video: Video):
        cascade = _load(str(cascade_path(video.weights.get("face_cascade"))))
        return np.arange(video.num_frames), face_scores(video.uint8(), cascade)
