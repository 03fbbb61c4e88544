"""CLIP-based frame scores with open_clip; weights from the caches, fetched on first use (see metrics.weights).

* Aesthetic (VBench aesthetic_quality / LAION aesthetic predictor): CLIP ViT-L/14 image embedding,
  L2-normalised, one Linear(768, 1), divided by 10.
* Semantic: cosine similarity of each frame's CLIP embedding to the prompt's text embedding.

CLIP weights: an open_clip checkpoint file (with ``model_name``, default OpenAI's ViT-L/14 which uses
QuickGELU) or a folder holding ``open_clip_config.json`` and weights (as the Hugging Face cache keeps
``timm/vit_large_patch14_clip_224.openai``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from metrics.frames import Video
from metrics.metric import Metric
from metrics.weights import (
    MissingWeightsError,
    Source,
    find_weights,
    hf_repo_dirs,
    torch_checkpoints_dir,
)

CLIP_ENV = "FPEVAL_CLIP_WEIGHTS"
HEAD_ENV = "FPEVAL_AESTHETIC_HEAD"
CLIP_MODEL = "ViT-L-14-quickgelu"
CLIP_HF_REPO = "timm/vit_large_patch14_clip_224.openai"
CLIP_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.safetensors",
)
HEAD_FILE = "sa_0_4_vit_l_14_linear.pth"
HEAD_URL = f"https://github.com/LAION-AI/aesthetic-predictor/raw/main/{HEAD_FILE}"  # as VBench fetches it


def clip_path(path: str | os.PathLike | None = None, hf_repo: str = CLIP_HF_REPO) -> Path:
    return find_weights(
        f"CLIP weights ({CLIP_MODEL}, open_clip format)",
        list(CLIP_FILES),
        explicit=path,
        env=CLIP_ENV,
        flag="--weights clip=/path/to/open_clip_model.safetensors (or an open_clip folder)",
        search_dirs=hf_repo_dirs(hf_repo),
        directory=True,
        source=Source(hf_repo=hf_repo, hf_files=(CLIP_FILES[0],)),
    )


@functools.lru_cache(maxsize=2)
def _load_clip(path: str, model_name: str, device: str):
    import open_clip

    p = Path(path)
    if p.is_dir():  # an open_clip folder: config + weights
        if not (p / "open_clip_config.json").is_file() or not any((p / f).is_file() for f in CLIP_FILES):
            raise MissingWeightsError(
                f"{p} must hold open_clip_config.json and one of {', '.join(CLIP_FILES)}; or pass the checkpoint file"
            )
        name = f"local-dir:{p}"
        model = open_clip.create_model(name)
    else:
        name = model_name
        model = open_clip.create_model(name, pretrained=str(p), require_pretrained=True)
    tokenizer = open_clip.get_tokenizer(name)
    preprocess = open_clip.get_model_preprocess_cfg(model)
    return model.eval().to(device), tokenizer, preprocess


def load_clip(path: str | os.PathLike | None = None, model_name: str = CLIP_MODEL, device: str = "cpu"):
    """(open_clip model, tokenizer, preprocess config) from a file or folder (fetched on first use)."""
    return _load_clip(str(clip_path(path)), model_name, str(device))


def head_path(path: str | os.PathLike | None = None) -> Path:
    return find_weights(
        "LAION aesthetic predictor head (Linear(768, 1) on CLIP ViT-L/14)",
        [HEAD_FILE],
        explicit=path,
        env=HEAD_ENV,
        flag=f"--weights aesthetic_head=/path/to/{HEAD_FILE}",
        search_dirs=[
            Path(os.path.expanduser("~/.cache/vbench/aesthetic_model/emb_reader")),
            torch_checkpoints_dir(),
        ],
        source=Source(url=HEAD_URL),
    )


@functools.lru_cache(maxsize=2)
def _load_head(path: str, device: str) -> torch.nn.Linear:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if set(state) != {"weight", "bias"} or state["weight"].ndim != 2 or state["weight"].shape[0] != 1:
        raise MissingWeightsError(f"{path} is not a Linear(d, 1) state dict (keys weight, bias)")
    head = torch.nn.Linear(state["weight"].shape[1], 1)
    head.load_state_dict(state)
    return head.eval().to(device)


def load_aesthetic_head(path: str | os.PathLike | None = None, device: str = "cpu") -> torch.nn.Linear:
    """The LAION aesthetic linear head (fetched into torch hub's cache on first use)."""
    return _load_head(str(head_path(path)), str(device))


def preprocess_frames(frames: torch.Tensor, cfg: dict) -> torch.Tensor:
    """CLIP preprocessing, batched: shortest side to the model size (bicubic), centre crop, normalise."""
    size = cfg.get("size", 224)
    size = size if isinstance(size, int) else size[0]
    h, w = frames.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(frames, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[..., top : top + size, left : left + size]
    mean = torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)), device=x.device).view(
        1, 3, 1, 1
    )
    std = torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)), device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def image_embeddings(model, cfg: dict, frames: torch.Tensor) -> torch.Tensor:
    """L2-normalised CLIP image embeddings of (N, 3, H, W) frames in [0, 1]."""
    return F.normalize(model.encode_image(preprocess_frames(frames, cfg)).float(), dim=-1)


class ClipAesthetic(Metric):
    name, group, kind, higher_is_better, needs_weights = (
        "aesthetic_clip",
        "aesthetic",
        "per-frame",
        True,
        True,
    )
    description = (
        f"LAION aesthetic score / 10 on CLIP ViT-L/14 (VBench); weights keys 'clip' and 'aesthetic_head' "
        f"or ${CLIP_ENV} and ${HEAD_ENV}"
    )
    model_name = CLIP_MODEL

    def check(self, video: Video):
        clip_path(video.weights.get("clip"))
        head_path(video.weights.get("aesthetic_head"))

    def values(self, video: Video):
        model, _, cfg = load_clip(video.weights.get("clip"), self.model_name, video.device)
        head = load_aesthetic_head(video.weights.get("aesthetic_head"), video.device)
        idx, vals = [], []
        for chunk, frames in video.batches():
            idx.append(chunk)
            vals.append((head(image_embeddings(model, cfg, frames)).flatten() / 10.0).double().cpu().numpy())
        return np.concatenate(idx), np.concatenate(vals)


class ClipSemantic(Metric):
    name, group, kind, higher_is_better, needs_weights = "semantic_clip", "semantic", "per-frame", True, True
    description = "cosine similarity of each frame to the prompt (CLIP ViT-L/14); needs prompt=..."
    model_name = CLIP_MODEL

    def check(self, video: Video):
        if not video.prompt:
            raise ValueError("semantic_clip needs the video's prompt: pass prompt='...' (CLI: --prompt)")
        clip_path(video.weights.get("clip"))

    def values(self, video: Video):
        self.check(video)
        model, tokenizer, cfg = load_clip(video.weights.get("clip"), self.model_name, video.device)
        text = F.normalize(model.encode_text(tokenizer([video.prompt]).to(video.device)).float(), dim=-1)
        idx, vals = [], []
        for chunk, frames in video.batches():
            idx.append(chunk)
            vals.append((image_embeddings(model, cfg, frames) @ text[0]).double().cpu().numpy())
        return np.concatenate(idx), np.concatenate(vals)
