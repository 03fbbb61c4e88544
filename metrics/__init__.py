"""metrics: per-frame video metrics, drift (start-end contrast and curves) and pairwise ratings.

Each metric is an object with a functional twin (as in torchmetrics); every result is a tidy pandas
DataFrame so drift and tables are computed the same way for every metric::

    import metrics
    per_frame = metrics.compute(video, ["clarity", "motion"])   # frame, metric, value
    metrics.drift.drift_table(per_frame)                          # mean and Eq. 7 drift per metric
    metrics.available()                                           # every metric, its kind and needs

The default set is every weight-free metric. Learned metrics (LPIPS, CLIP aesthetic / semantic, RAFT)
read model files from disk; MUSIQ, ViCLIP, ArcFace and the anatomy detector are listed as placeholders
that take a user backend (``metrics.register_backend``).
"""

from metrics import drift, functional
from metrics.base import (
    VIDEO_FRAME,
    CallableMetric,
    Metric,
    available,
    compute,
    register,
    register_backend,
    register_callable,
    registry,
    to_wide,
)
from metrics.frames import Video, as_video
from metrics.learned import LEARNED
from metrics.weight_free import WEIGHT_FREE
from metrics.weights import MissingBackendError, MissingWeightsError

__version__ = "0.1.0"

for _cls in (*WEIGHT_FREE, *LEARNED):
    registry.add(_cls())

# Paper metrics whose models fpeval does not wrap: listed so tables can name them, computed once a
# backend is registered with ``register_backend(name, fn)``.
_PLACEHOLDERS = (
    ("clarity_musiq", "per-frame", True, "MUSIQ (SPAQ checkpoint) = VBench imaging_quality, 0-100"),
    ("semantic_viclip", "per-video", True, "ViCLIP video-text score (VBench)"),
    ("identity_arcface", "per-pair", True, "ArcFace + RetinaFace face similarity to the first frame"),
    ("anatomy", "per-frame", True, "VBench ViT hand / face / body anatomy detector score"),
)
for _name, _kind, _better, _what in _PLACEHOLDERS:
    registry.add(
        CallableMetric(_name, None, kind=_kind, group=_name, higher_is_better=_better, description=_what)
    )

__all__ = [
    "VIDEO_FRAME",
    "CallableMetric",
    "Metric",
    "MissingBackendError",
    "MissingWeightsError",
    "Video",
    "as_video",
    "available",
    "compute",
    "drift",
    "functional",
    "register",
    "register_backend",
    "register_callable",
    "registry",
    "to_wide",
]
