"""Semantic as VBench's ``overall_consistency``: the ViCLIP video-text score (Wang et al., "InternVid",
ICLR 2024), the paper's Semantic column.

VBench (``vbench/overall_consistency.py`` with ``third_party/ViCLIP``): 8 frames are read at the middle
of 8 equal intervals of the video (``get_frame_indices(8, n, sample="middle")``, the last one repeated
when the video has fewer frames), resized so the shorter side is 224 (uint8, bicubic, no antialiasing),
centre-cropped to 224, divided by 255 and normalised with CLIP's mean and std. ViCLIP's video tower (a
CLIP ViT-L/14 whose patch tokens of all 8 frames attend to each other, with a learned temporal position
per frame) embeds them; its text tower (CLIP's, 32 tokens) embeds the prompt; the score is the cosine
of the two embeddings, one number per video.

The module below follows the checkpoint's layout (``{"model": state_dict}`` with ``vision_encoder.*``,
``text_encoder.*`` and ``temp``), builds its sizes from the tensors' shapes (heads = width / 64, as in
CLIP), and takes its blocks from open_clip and its tokenizer (with the same BPE vocabulary file) from
open_clip too. The file, ``ViClip-InternVid-10M-FLT.pth`` (1.6 GB), is looked for where VBench keeps it
(``$VBENCH_CACHE_DIR`` or ``~/.cache/vbench``, in ``ViCLIP/``) and in the Hugging Face cache of
``OpenGVLab/VBench_Used_Models``, from which it is fetched on first use.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metrics.frames import Video
from metrics.metric import VIDEO_FRAME, Metric
from metrics.weights import (
    build_from_checkpoint,
    count_layers,
    find_vbench_hub_file,
)

VICLIP_ENV = "FPEVAL_VICLIP_WEIGHTS"
VICLIP_FILE = "ViClip-InternVid-10M-FLT.pth"
VICLIP_HF_REPO = "OpenGVLab/VBench_Used_Models"  # where VBench's model_path.txt fetches it from
NUM_FRAMES = 8
SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HEAD_WIDTH = 64  # CLIP's attention heads are 64 wide: heads = width / 64


def viclip_path(path: str | os.PathLike | None = None) -> Path:
    return find_vbench_hub_file(
        "ViCLIP weights (InternVid-10M-FLT)",
        VICLIP_FILE,
        key="viclip",
        env=VICLIP_ENV,
        folder="ViCLIP",
        hf_repo=VICLIP_HF_REPO,
        explicit=path,
    )


def middle_frame_indices(num_frames: int, length: int) -> list[int]:
    """VBench's ``get_frame_indices(num_frames, length, sample="middle")``: the middle frame of each of
    ``num_frames`` equal intervals, the last one repeated when the video is shorter."""
    if length < 1:
        raise ValueError(f"a video needs at least one frame, got {length}")
    taken = min(num_frames, length)
    edges = np.linspace(0, length, taken + 1).astype(int)
    picks = [(int(a) + int(b) - 1) // 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return picks + [picks[-1]] * (num_frames - len(picks))


def viclip_frames(frames: np.ndarray, num_frames: int = NUM_FRAMES, size: int = SIZE) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (num_frames, 3, size, size): VBench's frame choice and ``clip_transform``."""
    from torchvision.transforms import functional as TF

    x = torch.from_numpy(np.ascontiguousarray(frames[middle_frame_indices(num_frames, len(frames))]))
    x = x.permute(0, 3, 1, 2)
    x = TF.resize(x, size, interpolation=TF.InterpolationMode.BICUBIC, antialias=False)  # stays uint8
    x = TF.center_crop(x, size).float() / 255.0
    return TF.normalize(x, CLIP_MEAN, CLIP_STD)


def _transformer(width: int, layers: int):
    from open_clip.transformer import QuickGELU, Transformer

    return Transformer(width, layers, width // HEAD_WIDTH, act_layer=QuickGELU, batch_first=True)


class ViCLIPVision(nn.Module):
    """ViCLIP's video tower: per-frame patches (a (1, p, p) Conv3d), CLS and spatial positions as in
    CLIP, plus a learned temporal position per frame; all frames' tokens in one sequence."""

    def __init__(self, width: int, layers: int, patch: int, grid: int, frames: int, out_dim: int):
        super().__init__()
        self.frames, self.input_size = frames, grid * patch  # the clip it reads: frames x size x size
        self.conv1 = nn.Conv3d(3, width, (1, patch, patch), (1, patch, patch), bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, frames, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = _transformer(width, layers)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, out_dim))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, out_dim), the CLS token's projection."""
        x = self.conv1(video.permute(0, 2, 1, 3, 4))  # (B, D, T, h, w)
        b, d, t, h, w = x.shape
        patches = x.permute(0, 3, 4, 2, 1).reshape(b, h * w, t, d) + self.positional_embedding[1:, None]
        when = self.temporal_positional_embedding
        patches = patches + (when.mean(1) if t == 1 else when[0, :t])  # VBench: one frame takes the mean
        cls = (self.class_embedding + self.positional_embedding[0]).expand(b, 1, d)
        tokens = torch.cat([cls, patches.reshape(b, h * w * t, d)], dim=1)  # spatial-major, as VBench
        tokens = self.ln_post(self.transformer(self.ln_pre(tokens)))
        return tokens[:, 0] @ self.proj


class ViCLIPText(nn.Module):
    """CLIP's text tower with ViCLIP's 32-token context: causal attention, the end token's projection."""

    def __init__(self, width: int, layers: int, vocab: int, context: int, out_dim: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.zeros(context, width))
        self.transformer = _transformer(width, layers)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.zeros(width, out_dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, context) token ids -> (B, out_dim)."""
        n = tokens.shape[1]
        causal = torch.full((n, n), float("-inf"), device=tokens.device).triu(1)
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.ln_final(self.transformer(x, attn_mask=causal))
        return x[torch.arange(len(tokens)), tokens.argmax(dim=-1)] @ self.text_projection


class ViCLIP(nn.Module):
    """The checkpoint's two towers (and its unused contrastive temperature ``temp``)."""

    def __init__(self, vision: ViCLIPVision, text: ViCLIPText):
        super().__init__()
        self.vision_encoder, self.text_encoder = vision, text
        self.temp = nn.Parameter(torch.zeros(()))

    @classmethod
    def from_state_dict(cls, state: dict) -> ViCLIP:
        """Sizes from the tensors: widths, patch, grid, frames, vocabulary, context and layer counts."""
        v, t = "vision_encoder.", "text_encoder."
        conv = state[v + "conv1.weight"]  # (width, 3, 1, p, p)
        grid = round((state[v + "positional_embedding"].shape[0] - 1) ** 0.5)
        vision = ViCLIPVision(
            width=conv.shape[0],
            layers=count_layers(state, v + "transformer.resblocks."),
            patch=conv.shape[-1],
            grid=grid,
            frames=state[v + "temporal_positional_embedding"].shape[1],
            out_dim=state[v + "proj"].shape[1],
        )
        vocab, width = state[t + "token_embedding.weight"].shape
        text = ViCLIPText(
            width=width,
            layers=count_layers(state, t + "transformer.resblocks."),
            vocab=vocab,
            context=state[t + "positional_embedding"].shape[0],
            out_dim=state[t + "text_projection"].shape[1],
        )
        model = cls(vision, text)
        model.load_state_dict(state)  # strict, as VBench loads it
        return model

    @property
    def context(self) -> int:
        return self.text_encoder.positional_embedding.shape[0]


@functools.lru_cache(maxsize=2)
def _load(path: str, device: str) -> ViCLIP:
    model = build_from_checkpoint(
        path, "model", ViCLIP.from_state_dict, "a ViCLIP checkpoint ({'model': state_dict})"
    )
    return model.eval().to(device)


def load_viclip(path: str | os.PathLike | None = None, device: str = "cpu") -> ViCLIP:
    """ViCLIP from its checkpoint (found in the caches or fetched on first use), in eval mode."""
    return _load(str(viclip_path(path)), str(device))


@functools.lru_cache(maxsize=2)
def _tokenizer(context: int):
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer(context_length=context)  # reads the BPE vocabulary once


def tokenize(texts: list[str], context: int) -> torch.Tensor:
    """CLIP's BPE tokens (open_clip's tokenizer and vocabulary), start and end tokens, truncated to
    ``context`` with the end token kept, as ViCLIP's ``tokenize``."""
    return _tokenizer(context)(texts)


@torch.no_grad()
def viclip_score(model: ViCLIP, frames: np.ndarray, prompt: str, device: str = "cpu") -> float:
    """Cosine of ViCLIP's embeddings of the video's 8 frames and of the prompt (VBench's number)."""
    x = viclip_frames(frames, model.vision_encoder.frames, model.vision_encoder.input_size)
    video = F.normalize(model.vision_encoder(x[None].to(device)).float(), dim=-1)
    text = F.normalize(model.text_encoder(tokenize([prompt], model.context).to(device)).float(), dim=-1)
    return float(video[0] @ text[0])


class SemanticViCLIP(Metric):
    name, group, kind, higher_is_better, needs_weights = (
        "semantic_viclip",
        "semantic",
        "per-video",
        True,
        True,
    )
    description = (
        "ViCLIP video-text cosine = VBench overall_consistency (8 middle frames, 224 px); needs prompt=...; "
        f"weights key 'viclip' or ${VICLIP_ENV}"
    )

    def check(self, video: Video):
        if not video.prompt:
            raise ValueError("semantic_viclip needs the video's prompt: pass prompt='...' (CLI: --prompt)")
        viclip_path(video.weights.get("viclip"))

    def values(self, video: Video):  # metrics.compute has run check: the prompt is there
        model = load_viclip(video.weights.get("viclip"), video.device)
        return np.array([VIDEO_FRAME]), np.array(
            [viclip_score(model, video.uint8(), video.prompt, video.device)]
        )
