"""Anatomy as VBench-2.0's ``Human_Anatomy``: people, faces and hands found in each frame are cropped
and judged by three abnormality classifiers; a person is abnormal when any of their crops is.

VBench-2.0 (``vbench2/third_party/ViTDetector/detect.py``):

* detection: YOLO-World finds humans (score > 0.1) and, inside each human's box, faces and hands;
* crops: ``smart_cut`` takes the square of the box's longer side, moved inside the frame, else the
  square of its shorter side (:func:`square_crop`);
* classification: a SimMIM-finetuned ViT-B/16 per category (BEiT layout: relative position bias in
  every block, layer scale 0.1, mean pooling, 2 classes), input resized to 256 (bicubic), centre-cropped
  to 224 and ImageNet-normalised; class 0 is "abnormal", and a crop is abnormal when its softmax
  probability exceeds the category's threshold (human 0.4545, face 0.3030, hand 0.3232);
* score: 1 - abnormal people / people, pooled over the video's frames (1 without people).

Here each frame gets ``1 - abnormal / people`` (1 without people), so the column has a per-frame curve
and Eq. 7 drift (the paper's ΔAnatomy); the video's mean weights frames equally where VBench pools
people. The classifiers are timm's ``Beit`` (equal to SimMIM's own ViT to 1.5e-8 on random weights at full
size) with the checkpoints' state dicts (``{"model": ...}``:
``human.pth``, ``face.pth``, ``hand.pth`` in VBench-2.0's cache, ``$VBENCH2_CACHE_DIR`` or
``~/.cache/vbench2``, folder ``anomaly_detector/``; VBench-2.0 fetches them from Google Drive). Frames
reach the classifiers in BGR channel order, as VBench-2.0's OpenCV reader hands them over.

YOLO-World needs mmdet / mmyolo, which are not installable with current torch; the detector is therefore
pluggable (:func:`set_detector`). The default finds faces with MTCNN (weights shipped in facenet-pytorch,
detections shared with the face metrics) and makes each face one person with a face crop: the face part
of the column, not people or hands.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from metrics.frames import Video
from metrics.metric import Metric
from metrics.weights import build_from_checkpoint, count_layers, find_weights, vbench2_cache_dir

ANATOMY_ENV = "FPEVAL_ANATOMY_DIR"  # a folder holding human.pth, face.pth and hand.pth
CATEGORIES = ("human", "face", "hand")
# VBench-2.0's thresholds on the "abnormal" probability (vbench2/utils.py, init_submodules)
THRESHOLDS = {"human": 0.4545454545454546, "face": 0.30303030303030304, "hand": 0.3232}
GOOGLE_DRIVE_IDS = {  # where VBench-2.0's init_submodules downloads them from
    "human": "1mlSURYOi_vN9ST1wzEhJaVO6-ZoES8UT",
    "face": "1e2qTjrtsYlkWLql0qj8DqaNZ09KuV8Qo",
    "hand": "1j3QeAcAtdLe5BFgK-c33UaHV6-iUto0i",
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIZE, RESIZE = 224, 256  # TEST.CROP: resize to int(256 / 224 * 224), centre crop 224

# a person: category -> boxes (x1, y1, x2, y2) in the frame's pixels
Person = dict[str, list[tuple[float, float, float, float]]]
Detector = Callable[[Video], list[list[Person]]]  # a video (frames: video.uint8()) -> people per frame


def classifier_path(category: str, folder: str | os.PathLike | None = None) -> Path:
    name = f"{category}.pth"
    return find_weights(
        f"VBench-2.0 {category} abnormality classifier (fetch it from "
        f"https://drive.google.com/uc?id={GOOGLE_DRIVE_IDS[category]})",
        [name],
        explicit=folder,
        env=ANATOMY_ENV,
        flag="--weights anatomy=/path/to/anomaly_detector",
        search_dirs=[vbench2_cache_dir() / "anomaly_detector"],
    )


def beit_from_state_dict(state: dict) -> torch.nn.Module:
    """timm's ``Beit`` sized from the tensors (VBench-2.0's is ViT-B/16 at 224 px: 768 wide, 12 blocks,
    12 heads), with SimMIM's fixed choices: relative position bias in every block, no absolute
    positions, layer scale, mean pooling. The index tables are rebuilt by timm, so they are not loaded."""
    from timm.models.beit import Beit

    table = state["blocks.0.attn.relative_position_bias_table"]  # ((2w - 1)^2 + 3, heads)
    window = round(((table.shape[0] - 3) ** 0.5 + 1) / 2)
    patch = state["patch_embed.proj.weight"].shape[-1]
    model = Beit(
        img_size=window * patch,
        patch_size=patch,
        num_classes=state["head.weight"].shape[0],
        embed_dim=state["cls_token"].shape[-1],
        depth=count_layers(state, "blocks."),
        num_heads=table.shape[1],
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / state["cls_token"].shape[-1],
        qkv_bias=True,
        use_abs_pos_emb=False,
        use_rel_pos_bias=True,
        use_shared_rel_pos_bias=False,
        init_values=0.1,
        global_pool="avg",
    )
    model.load_state_dict({k: v for k, v in state.items() if not k.endswith("relative_position_index")})
    return model


@functools.lru_cache(maxsize=6)
def _load(path: str, device: str) -> torch.nn.Module:
    model = build_from_checkpoint(
        path, "model", beit_from_state_dict, "a SimMIM ViT classifier ({'model': ...})"
    )
    return model.eval().to(device)


def load_classifier(category: str, folder: str | os.PathLike | None = None, device: str = "cpu"):
    """The abnormality classifier of ``category`` (human, face or hand), in eval mode."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown anatomy category {category!r}; accepted: {', '.join(CATEGORIES)}")
    return _load(str(classifier_path(category, folder)), str(device))


def _square(x1, y1, x2, y2, side, width, height):
    """The ``side`` square centred on the box, moved (if it can be) to lie inside the frame and to
    cover the box along both axes; None when no such position exists."""
    half = side / 2
    lo_x, hi_x = max(x2 - half, half), min(x1 + half, width - half)
    lo_y, hi_y = max(y2 - half, half), min(y1 + half, height - half)
    if lo_x > hi_x or lo_y > hi_y:
        return None
    cx, cy = min(max((x1 + x2) / 2, lo_x), hi_x), min(max((y1 + y2) / 2, lo_y), hi_y)
    return cx - half, cy - half


def square_crop(frame: np.ndarray, box) -> np.ndarray:
    """VBench-2.0's ``smart_cut``: the square of the box's longer side placed inside the frame, else
    the square of its shorter side kept inside the frame (pixels rounded outwards)."""
    x1, y1, x2, y2 = map(float, box)
    height, width = frame.shape[:2]
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        raise ValueError(f"a box needs positive width and height, got {box}")
    for side, corner in (
        (max(w, h), _square(x1, y1, x2, y2, max(w, h), width, height)),
        (min(w, h), _inner(x1, y1, x2, y2, min(w, h), width, height)),
    ):
        if corner is None:
            continue
        left, top = math.floor(corner[0]), math.floor(corner[1])
        right, bottom = math.ceil(corner[0] + side), math.ceil(corner[1] + side)
        if left >= 0 and top >= 0 and right <= width and bottom <= height and right > left and bottom > top:
            return frame[top:bottom, left:right]
    raise ValueError(f"no square crop of {box} fits a {width}x{height} frame")


def _inner(x1, y1, x2, y2, side, width, height):
    """The ``side`` square centred on the box, clamped to the frame."""
    half = side / 2
    cx = min(max((x1 + x2) / 2, max(half, 0.0)), width - half)
    cy = min(max((y1 + y2) / 2, max(half, 0.0)), height - half)
    return cx - half, cy - half


@functools.cache
def _transform():
    from torchvision import transforms as T

    return T.Compose(
        [
            T.Resize(RESIZE, interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(SIZE),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def classifier_input(crops: list[np.ndarray]) -> torch.Tensor:
    """RGB uint8 crops -> (N, 3, 224, 224): channels swapped to BGR (what VBench-2.0 feeds), PIL
    bicubic resize of the shorter side to 256, centre crop 224, ImageNet normalisation."""
    from PIL import Image

    return torch.stack([_transform()(Image.fromarray(np.ascontiguousarray(c[..., ::-1]))) for c in crops])


def mtcnn_face_people(video: Video) -> list[list[Person]]:
    """The default detector: every face MTCNN finds is one person, with that face's box (clipped to
    the frame). The detections are the ones the face metrics use for the same video."""
    from metrics.learned.face_identity import mtcnn_detections

    height, width = video.size
    people = []
    for found in mtcnn_detections(video)[0]:
        clipped = [np.clip(b, 0, [width, height, width, height]) for b in ([] if found is None else found)]
        people.append([{"face": [tuple(map(float, b))]} for b in clipped if b[2] > b[0] and b[3] > b[1]])
    return people


_DETECTOR: list[Detector] = [mtcnn_face_people]


def set_detector(detector: Detector | None) -> None:
    """Use ``detector`` (a video -> people per frame, e.g. a YOLO-World wrapper over
    ``video.uint8()``) for ``anatomy``; None restores the default (MTCNN faces)."""
    _DETECTOR[0] = detector or mtcnn_face_people


@torch.no_grad()
def anatomy_scores(frames: np.ndarray, people: list[list[Person]], classify, batch_size: int = 32):
    """Per frame, 1 - abnormal people / people (1 without people). ``classify(category, crops)``
    returns each crop's probability of class 0 (abnormal)."""
    crops = {c: [] for c in CATEGORIES}
    owner = {c: [] for c in CATEGORIES}  # (frame, person) of each crop
    for t, frame_people in enumerate(people):
        for p, person in enumerate(frame_people):
            for category in CATEGORIES:
                for box in person.get(category, []):
                    crops[category].append(square_crop(frames[t], box))
                    owner[category].append((t, p))
    abnormal = set()
    for category in CATEGORIES:
        for start in range(0, len(crops[category]), batch_size):
            probs = classify(category, crops[category][start : start + batch_size])
            hits = np.flatnonzero(np.asarray(probs) > THRESHOLDS[category])
            abnormal.update(owner[category][start + i] for i in hits)
    counts = np.array([len(p) for p in people], dtype=np.float64)
    bad = np.array([sum((t, p) in abnormal for p in range(len(people[t]))) for t in range(len(people))])
    return np.where(counts > 0, 1.0 - bad / np.maximum(counts, 1), 1.0)


class Anatomy(Metric):
    name, group, kind, higher_is_better, needs_weights = "anatomy", "anatomy", "per-frame", True, True
    description = (
        "VBench-2.0 human anatomy: 1 - abnormal people / people per frame, SimMIM ViT-B classifiers "
        "(human / face / hand, VBench-2.0 thresholds) on detected crops; detections: MTCNN faces unless "
        f"a YOLO-World detector is set (metrics.learned.anatomy.set_detector); weights key 'anatomy' or ${ANATOMY_ENV}"
    )

    def check(self, video: Video):
        for category in CATEGORIES:
            classifier_path(category, video.weights.get("anatomy"))

    def values(self, video: Video):
        models = {c: load_classifier(c, video.weights.get("anatomy"), video.device) for c in CATEGORIES}

        def classify(category, crops):
            logits = models[category](classifier_input(crops).to(video.device)).float()
            return logits.softmax(dim=1)[:, 0].cpu().numpy()

        scores = anatomy_scores(video.uint8(), _DETECTOR[0](video), classify, video.batch_size)
        return np.arange(video.num_frames), scores
