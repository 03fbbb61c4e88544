"""Learned, paper-faithful metrics. Their model files come from the standard caches, fetched once on
first use where the network allows (see ``metrics.weights``), or from explicit paths.

* LPIPS consistency to the first / previous frame (``lpips`` package heads, torchvision backbone),
* CLIP aesthetic (LAION linear head on CLIP ViT-L/14) and CLIP text-frame similarity (open_clip),
* RAFT dynamic score and dynamic degree (torchvision RAFT, VBench's rule),
* face presence (OpenCV's shipped Haar cascade), a proxy for the faces of the paper's Anatomy column,
* MUSIQ clarity (pyiqa's MUSIQ on the SPAQ weights, VBench's imaging quality),
* face presence and identity with facenet-pytorch (MTCNN, whose weights ship in its wheel; FaceNet),
* ViCLIP video-text score (VBench's overall consistency; open_clip blocks and tokenizer),
* VBench-2.0 human anatomy (timm BEiT classifiers on detected crops; MTCNN faces by default),
* VBench's motion smoothness with AMT-S frame interpolation.
"""

from metrics.learned.amt import MotionSmoothnessAMT, load_amt
from metrics.learned.anatomy import Anatomy, load_classifier, set_detector
from metrics.learned.clip_scores import ClipAesthetic, ClipSemantic, load_aesthetic_head, load_clip
from metrics.learned.face_identity import FaceMtcnn, IdentityFaceNet, load_facenet, load_mtcnn
from metrics.learned.faces import FacePresence
from metrics.learned.lpips_consistency import LpipsFirst, LpipsPrev, load_lpips
from metrics.learned.musiq import ClarityMusiq, load_musiq
from metrics.learned.raft_dynamic import DynamicDegreeRaft, DynamicRaft, load_raft
from metrics.learned.viclip import SemanticViCLIP, load_viclip

LEARNED = (
    LpipsFirst,
    LpipsPrev,
    ClipAesthetic,
    ClipSemantic,
    DynamicRaft,
    DynamicDegreeRaft,
    FacePresence,
    ClarityMusiq,
    FaceMtcnn,
    IdentityFaceNet,
    SemanticViCLIP,
    Anatomy,
    MotionSmoothnessAMT,
)

__all__ = [
    "LEARNED",
    "Anatomy",
    "ClipAesthetic",
    "ClarityMusiq",
    "ClipSemantic",
    "DynamicDegreeRaft",
    "DynamicRaft",
    "FaceMtcnn",
    "FacePresence",
    "IdentityFaceNet",
    "LpipsFirst",
    "LpipsPrev",
    "MotionSmoothnessAMT",
    "SemanticViCLIP",
    "load_aesthetic_head",
    "load_amt",
    "load_classifier",
    "load_clip",
    "load_facenet",
    "load_lpips",
    "load_mtcnn",
    "load_musiq",
    "load_raft",
    "load_viclip",
    "set_detector",
]
