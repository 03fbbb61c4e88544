"""Identity and face detection with facenet-pytorch: the torch equivalents of the paper's Identity column.

The paper's Identity is the ArcFace similarity of RetinaFace-detected faces (insightface's ONNX
models). fpeval computes the same quantity with facenet-pytorch's models:

* detection and alignment: MTCNN (Zhang et al., IEEE SPL 2016), whose weights ship inside the
  facenet-pytorch wheel, so ``face_mtcnn`` (the detector's probability for the frame's most likely
  face, 0 without one) runs offline with real weights;
* embedding: FaceNet (Schroff et al., CVPR 2015), InceptionResnetV1 trained on VGGFace2, 512-d and
  L2-normalised, fetched once into torch's cache (facenet-pytorch keeps it in
  ``$TORCH_HOME/checkpoints``, torchvision in ``hub/checkpoints``; both are searched).

``identity_facenet`` per frame t >= 1: the cosine similarity of frame t's face embedding to frame 0's,
0 when either frame shows no face (the identity is not there to match). The ArcFace column stays
registered as ``identity_arcface`` for a backend of one's own.

facenet-pytorch pins torch < 2.3 and Pillow < 10.3 though its code runs on current ones: install it
with ``pip install --no-deps facenet-pytorch==2.6.0`` (``make setup`` does).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from metrics.frames import Video
from metrics.metric import Metric
from metrics.weights import (
    MissingBackendError,
    MissingWeightsError,
    Source,
    find_weights,
    torch_checkpoints_dir,
)

FACENET_ENV = "FPEVAL_FACENET_WEIGHTS"
FACENET_FILE = "20180402-114759-vggface2.pt"
FACENET_URL = f"https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/{FACENET_FILE}"
VGGFACE2_CLASSES = 8631  # the checkpoint carries its training classifier, unused for embeddings
CROP = 160  # FaceNet's input side
FACENET_PYTORCH = "pip install --no-deps facenet-pytorch==2.6.0"


def _facenet_pytorch():
    try:
        import facenet_pytorch
    except ImportError as e:
        raise MissingBackendError(
            f"face metrics need facenet-pytorch ({e}); install it: {FACENET_PYTORCH}"
        ) from e
    return facenet_pytorch


def facenet_path(path: str | os.PathLike | None = None) -> Path:
    torch_home = Path(torch.hub.get_dir()).parent  # $TORCH_HOME, where facenet-pytorch caches
    return find_weights(
        "FaceNet weights (InceptionResnetV1, VGGFace2)",
        [FACENET_FILE],
        explicit=path,
        env=FACENET_ENV,
        flag=f"--weights facenet=/path/to/{FACENET_FILE}",
        search_dirs=[torch_home / "checkpoints", torch_checkpoints_dir()],
        source=Source(url=FACENET_URL),
    )


@functools.lru_cache(maxsize=2)
def _load_facenet(path: str, device: str) -> torch.nn.Module:
    model = _facenet_pytorch().InceptionResnetV1(classify=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise MissingWeightsError(
            f"{path} is not a FaceNet InceptionResnetV1 state dict: {str(e)[:300]}"
        ) from e
    return model.eval().to(device)


def load_facenet(path: str | os.PathLike | None = None, device: str = "cpu") -> torch.nn.Module:
    """InceptionResnetV1 (VGGFace2) giving 512-d unit-norm face embeddings."""
    return _load_facenet(str(facenet_path(path)), str(device))


@functools.lru_cache(maxsize=2)
def load_mtcnn(device: str = "cpu"):
    """MTCNN with the weights in the facenet-pytorch wheel, keeping the most probable face per frame."""
    return _facenet_pytorch().MTCNN(image_size=CROP, margin=0, select_largest=False, device=device)


def detect_faces(frames: np.ndarray, mtcnn, detections=None) -> tuple[torch.Tensor, np.ndarray]:
    """Aligned, standardised crops (T, 3, 160, 160) of each frame's most probable face (zeros where
    none) and that face's probability (0 where none), from (T, H, W, 3) uint8 frames and MTCNN's
    ``(boxes, probs)`` per frame (detected here when not given). Detection runs on the whole batch;
    the choice per frame is made here (MTCNN's own selection fails on batches in which some frames
    have no face under numpy 2)."""
    frames = np.ascontiguousarray(frames)
    boxes, probs = detections if detections is not None else mtcnn.detect(list(frames))
    out = torch.zeros(len(frames), 3, CROP, CROP)
    prob = np.zeros(len(frames))
    for i, (frame_boxes, frame_probs) in enumerate(zip(boxes, probs, strict=True)):
        if frame_boxes is None:
            continue
        best = int(np.argmax(frame_probs))
        out[i] = mtcnn.extract(frames[i], frame_boxes[best : best + 1], None)
        prob[i] = float(frame_probs[best])
    return out, prob


def identity_similarity(embeddings: torch.Tensor, found: np.ndarray) -> np.ndarray:
    """Cosine similarity of frames 1.. to frame 0 (unit-norm embeddings), 0 where a face is missing."""
    sims = (embeddings[1:] @ embeddings[0]).double().numpy()
    return np.where(found[1:] & found[0], sims, 0.0)


def mtcnn_detections(video: Video):
    """MTCNN's ``(boxes, probs)`` for every frame of the video, detected once per video (the face
    metrics and the anatomy metric's default detector share them)."""
    key = ("mtcnn_detections",)
    if key not in video.cache:
        video.cache[key] = load_mtcnn(str(video.device)).detect(list(np.ascontiguousarray(video.uint8())))
    return video.cache[key]


def _faces(video: Video) -> tuple[torch.Tensor, np.ndarray]:
    key = ("mtcnn_faces",)
    if key not in video.cache:
        mtcnn = load_mtcnn(str(video.device))
        video.cache[key] = detect_faces(video.uint8(), mtcnn, mtcnn_detections(video))
    return video.cache[key]


class FaceMtcnn(Metric):
    name, group, kind, higher_is_better, needs_weights = "face_mtcnn", "faces", "per-frame", True, True
    description = (
        "face presence: MTCNN's probability for the frame's most likely face, 0 without one "
        f"(weights shipped in facenet-pytorch; needs `{FACENET_PYTORCH}`)"
    )

    def check(self, video: Video):
        _facenet_pytorch()

    def values(self, video: Video):
        return np.arange(video.num_frames), _faces(video)[1]


class IdentityFaceNet(Metric):
    name, group, kind, higher_is_better, needs_weights = "identity_facenet", "faces", "per-pair", True, True
    description = (
        "identity: cosine similarity of each frame's FaceNet embedding (MTCNN-aligned face) to frame 0's, "
        f"0 without a face; weights key 'facenet' or ${FACENET_ENV}"
    )

    def check(self, video: Video):
        _facenet_pytorch()
        facenet_path(video.weights.get("facenet"))

    @torch.no_grad()
    def values(self, video: Video):
        model = load_facenet(video.weights.get("facenet"), video.device)
        crops, prob = _faces(video)
        embeddings = torch.cat(
            [
                model(crops[s : s + video.batch_size].to(video.device)).float().cpu()
                for s in range(0, len(crops), video.batch_size)
            ]
        )
        return np.arange(1, video.num_frames), identity_similarity(embeddings, prob > 0)
