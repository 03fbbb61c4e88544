"""metrics: per-frame video metrics, drift (start-end contrast and curves) and pairwise ratings.

Each metric is an object with a functional twin (as in torchmetrics); every result is a tidy pandas
DataFrame so drift and tables are computed the same way for every metric::

    import metrics
    per_frame = metrics.compute(video, ["clarity", "motion"])   # frame, metric, value
    metrics.drift.drift_table(per_frame)                          # mean and Eq. 7 drift per metric
    metrics.available()                                           # every metric, its kind and needs

The default set is every weight-free metric. Learned metrics (LPIPS, CLIP aesthetic / semantic, RAFT,
MUSIQ, ViCLIP, AMT-S, FaceNet / MTCNN, VBench-2.0's anatomy classifiers) find their model files in the standard
caches or fetch them once; ArcFace is listed as a placeholder that takes a user backend
(``metrics.register_backend``).
"""

import importlib

__version__ = "0.1.0"

# Public names and the modules that define them. They load on first use (PEP 562), so that
# ``import metrics`` and the command line's --help do not pay for torch, OpenCV and pandas.
_EXPORTS = {
    "VIDEO_FRAME": "metrics.base",
    "CallableMetric": "metrics.base",
    "Metric": "metrics.base",
    "available": "metrics.base",
    "compute": "metrics.base",
    "register": "metrics.base",
    "register_backend": "metrics.base",
    "register_callable": "metrics.base",
    "registry": "metrics.base",
    "to_wide": "metrics.base",
    "Video": "metrics.frames",
    "as_video": "metrics.frames",
    "MissingBackendError": "metrics.weights",
    "MissingWeightsError": "metrics.weights",
}
_SUBMODULES = (
    "agreement",
    "analysis",
    "atomic",
    "base",
    "drift",
    "figures",
    "frames",
    "functional",
    "learned",
    "ratings",
    "video_io",
    "weights",
)

__all__ = sorted([*_EXPORTS, "drift", "functional"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        importlib.import_module("metrics.base")  # the registry first: it imports the learned metrics
        value = importlib.import_module(f"metrics.{name}")
    else:
        raise AttributeError(f"module 'metrics' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
