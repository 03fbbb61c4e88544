"""Clarity as VBench's ``imaging_quality``: MUSIQ (Ke et al., ICCV 2021) trained on SPAQ, in pyiqa's
implementation, the one VBench calls.

VBench (``vbench/imaging_quality.py``, default ``longer`` preprocessing): a frame whose longer side
exceeds 512 px is resized (uint8, bilinear, no antialiasing) so that side is 512, divided by 255 and
scored by ``MUSIQ(pretrained_model_path=musiq_spaq_ckpt-358bb6af.pth)`` one frame at a time; a video's
score is the mean over its frames and the reported number is that mean / 100. Here each frame's value
is its score / 100, so the per-video mean is VBench's number.

pyiqa declares dependencies MUSIQ never touches (transformers >= 5, bitsandbytes, datasets): install it
with ``pip install --no-deps pyiqa==0.1.16`` (``make setup`` does). The SPAQ checkpoint is looked for
where VBench keeps it (``$VBENCH_CACHE_DIR`` or ``~/.cache/vbench``, in ``pyiqa_model/``), in pyiqa's
own cache (torch hub's ``pyiqa/``) and in torch hub's checkpoints, and fetched into the last on first use.
"""

from __future__ import annotations

import contextlib
import functools
import io
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
    vbench_cache_dir,
)

MUSIQ_ENV = "FPEVAL_MUSIQ_WEIGHTS"
MUSIQ_FILE = "musiq_spaq_ckpt-358bb6af.pth"
# where VBench's init_submodules fetches it from
MUSIQ_URL = f"https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/{MUSIQ_FILE}"
LONGER_SIDE = 512
PYIQA = "pip install --no-deps pyiqa==0.1.16"


def musiq_path(path: str | os.PathLike | None = None) -> Path:
    return find_weights(
        "MUSIQ weights (SPAQ, pyiqa)",
        [MUSIQ_FILE],
        explicit=path,
        env=MUSIQ_ENV,
        flag=f"--weights musiq=/path/to/{MUSIQ_FILE}",
        search_dirs=[
            vbench_cache_dir() / "pyiqa_model",
            Path(torch.hub.get_dir()) / "pyiqa",
            torch_checkpoints_dir(),
        ],
        source=Source(url=MUSIQ_URL),
    )


def _musiq_class():
    try:
        from pyiqa.archs.musiq_arch import MUSIQ
    except ImportError as e:
        raise MissingBackendError(f"clarity_musiq needs pyiqa's MUSIQ ({e}); install it: {PYIQA}") from e
    return MUSIQ


@functools.lru_cache(maxsize=2)
def _load(path: str, device: str) -> torch.nn.Module:
    musiq = _musiq_class()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pyiqa prints the path it loads
            model = musiq(pretrained_model_path=path)
    except (RuntimeError, KeyError) as e:
        raise MissingWeightsError(f"{path} is not a MUSIQ (SPAQ) state dict: {str(e)[:300]}") from e
    return model.eval().to(device)


def load_musiq(path: str | os.PathLike | None = None, device: str = "cpu") -> torch.nn.Module:
    """pyiqa's MUSIQ with the SPAQ weights, in eval mode (so it builds its multi-scale patches itself)."""
    return _load(str(musiq_path(path)), str(device))


def vbench_frames(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H', W') float in [0, 1], resized as VBench's ``longer`` mode does."""
    from torchvision.transforms import functional as TF

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    h, w = x.shape[-2:]
    if max(h, w) > LONGER_SIDE:
        scale = LONGER_SIDE / max(h, w)
        x = TF.resize(x, [int(scale * h), int(scale * w)], antialias=False)
    return x.float() / 255.0


@torch.no_grad()
def musiq_scores(model: torch.nn.Module, frames: torch.Tensor, device: str, batch_size: int) -> np.ndarray:
    """MUSIQ score / 100 of each (3, H, W) frame in [0, 1], in batches (frames are scored independently)."""
    out = []
    for start in range(0, len(frames), batch_size):
        out.append(model(frames[start : start + batch_size].to(device)).reshape(-1).float().cpu() / 100.0)
    return torch.cat(out).numpy().astype(np.float64)


class ClarityMusiq(Metric):
    name, group, kind, higher_is_better, needs_weights = "clarity_musiq", "musiq", "per-frame", True, True
    description = (
        "MUSIQ (SPAQ) = VBench imaging_quality, score / 100 per frame; "
        f"weights key 'musiq' or ${MUSIQ_ENV}; needs `{PYIQA}`"
    )

    def check(self, video: Video):
        musiq_path(video.weights.get("musiq"))
        _musiq_class()

    def values(self, video: Video):
        model = load_musiq(video.weights.get("musiq"), video.device)
        frames = vbench_frames(video.uint8())
        return np.arange(video.num_frames), musiq_scores(model, frames, video.device, video.batch_size)
