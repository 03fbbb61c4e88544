"""Learned, paper-faithful metrics. They need model files on disk and never download them.

* LPIPS consistency to the first / previous frame (``lpips`` package heads, torchvision backbone),
* CLIP aesthetic (LAION linear head on CLIP ViT-L/14) and CLIP text-frame similarity (open_clip),
* RAFT dynamic score and dynamic degree (torchvision RAFT, VBench's rule).
"""

from metrics.learned.clip_scores import ClipAesthetic, ClipSemantic, load_aesthetic_head, load_clip
from metrics.learned.lpips_consistency import LpipsFirst, LpipsPrev, load_lpips
from metrics.learned.raft_dynamic import DynamicDegreeRaft, DynamicRaft, load_raft

LEARNED = (LpipsFirst, LpipsPrev, ClipAesthetic, ClipSemantic, DynamicRaft, DynamicDegreeRaft)

__all__ = [
    "LEARNED",
    "ClipAesthetic",
    "ClipSemantic",
    "DynamicDegreeRaft",
    "DynamicRaft",
    "LpipsFirst",
    "LpipsPrev",
    "load_aesthetic_head",
    "load_clip",
    "load_lpips",
    "load_raft",
]
