"""VBench's dynamic degree on RAFT flow (torchvision's RAFT; weights from torch hub's cache, fetched on first use).

Frames are sampled at about 8 fps, padded (replicated) to multiples of 8 as VBench's InputPadder does
(and to at least 128 px, which torchvision's RAFT needs), and RAFT runs 20 refinement iterations as in
VBench. Per pair: the mean of the top 5 % magnitudes over the unpadded area.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from metrics import flow
from metrics.frames import Video
from metrics.metric import VIDEO_FRAME, Metric
from metrics.weights import (
    TORCHVISION_MODELS,
    MissingWeightsError,
    Source,
    find_weights,
    torch_checkpoints_dir,
)

RAFT_ENV = "FPEVAL_RAFT_WEIGHTS"
RAFT_FILES = {
    "raft_large": "raft_large_C_T_SKHT_V2-ff5fadd5.pth",
    "raft_small": "raft_small_C_T_V2-01064c6d.pth",
}
ITERATIONS = 20


def raft_path(arch: str = "raft_large", path: str | os.PathLike | None = None) -> Path:
    if arch not in RAFT_FILES:
        raise ValueError(f"RAFT architecture must be one of {list(RAFT_FILES)}, got {arch!r}")
    return find_weights(
        f"RAFT weights ({arch}, torchvision)",
        [RAFT_FILES[arch]],
        explicit=path,
        env=RAFT_ENV,
        flag=f"--weights raft=/path/to/{RAFT_FILES[arch]}",
        search_dirs=[torch_checkpoints_dir()],
        source=Source(url=f"{TORCHVISION_MODELS}/{RAFT_FILES[arch]}"),
    )


@functools.lru_cache(maxsize=2)
def _load(arch: str, path: str, device: str) -> torch.nn.Module:
    from torchvision.models import optical_flow

    model = getattr(optical_flow, arch)(weights=None, progress=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise MissingWeightsError(f"{path} is not a torchvision {arch} state dict: {str(e)[:300]}") from e
    return model.eval().to(device)


def load_raft(arch: str = "raft_large", path: str | os.PathLike | None = None, device: str = "cpu"):
    """torchvision RAFT with its weights (fetched into torch hub's cache on first use)."""
    return _load(arch, str(raft_path(arch, path)), str(device))


MIN_SIDE = 128  # torchvision's RAFT needs feature maps of at least 16 x 16 (inputs / 8)


def pad_for_raft(x: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Replicate-pad (N, C, H, W) to multiples of 8 (and at least 128 px), split evenly as VBench's
    InputPadder does; returns the padded frames and (top, bottom, left, right)."""
    h, w = x.shape[-2:]
    ph = max(MIN_SIDE, h + (-h) % multiple) - h
    pw = max(MIN_SIDE, w + (-w) % multiple) - w
    pad = (ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
    return F.pad(x, (pad[2], pad[3], pad[0], pad[1]), mode="replicate"), pad


def raft_pair_scores(
    model, frames: torch.Tensor, indices: np.ndarray, device: str, batch_size: int
) -> np.ndarray:
    """Top-5 % RAFT magnitude for consecutive sampled frames (over the unpadded area), in batches of pairs."""
    h, w = frames.shape[-2:]
    scores = []
    for start in range(0, len(indices) - 1, batch_size):
        a = indices[start : start + batch_size]
        b = indices[start + 1 : start + 1 + batch_size]
        a = a[: len(b)]
        x1, (top, _, left, _) = pad_for_raft(frames[torch.from_numpy(a)].to(device) * 2 - 1)
        x2, _ = pad_for_raft(frames[torch.from_numpy(b)].to(device) * 2 - 1)
        fl = model(x1, x2, num_flow_updates=ITERATIONS)[-1][..., top : top + h, left : left + w]
        scores.extend(flow.top_magnitude(f) for f in fl.permute(0, 2, 3, 1).float().cpu().numpy())
    return np.asarray(scores)


def _raft_pairs(video: Video, arch: str) -> tuple[np.ndarray, np.ndarray]:
    key = ("dynamic_raft", arch, video.fps)
    if key not in video.cache:
        model = load_raft(arch, video.weights.get("raft"), video.device)
        idx = flow.sample_for_dynamic(video.num_frames, video.fps)
        video.cache[key] = (idx, raft_pair_scores(model, video.frames, idx, video.device, video.batch_size))
    return video.cache[key]


class DynamicRaft(Metric):
    name, group, kind, higher_is_better, needs_weights = "dynamic_raft", "raft", "per-pair", True, True
    description = f"VBench dynamic score per ~8 fps pair on RAFT flow (px); weights key 'raft' or ${RAFT_ENV}"
    arch = "raft_large"

    def check(self, video: Video):
        raft_path(self.arch, video.weights.get("raft"))

    def values(self, video: Video):
        idx, scores = _raft_pairs(video, self.arch)
        return idx[1:], scores


class DynamicDegreeRaft(DynamicRaft):
    name, kind = "dynamic_degree_raft", "per-video"
    description = "VBench dynamic degree on RAFT flow: 1 if enough ~8 fps pairs exceed 6 min(H, W) / 256"

    def values(self, video: Video):
        idx, scores = _raft_pairs(video, self.arch)
        h, w = video.size
        return np.array([VIDEO_FRAME]), np.array([float(flow.is_dynamic(scores, len(idx), h, w))])
