"""A metric object: its name, group, kind (per frame, per pair, per video) and how it scores a video.

Kept apart from the registry (``metrics.base``), which imports every shipped metric, so that metric
modules can import this one in any order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from metrics.frames import Video
from metrics.weights import MissingBackendError

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("per-frame", "per-pair", "per-video")
VIDEO_FRAME = -1  # the ``frame`` of a per-video value
COLUMNS = ("frame", "metric", "value")


class Metric:
    """A named metric. Subclasses implement ``values(video) -> (frame indices, values)``.

    Calling a metric on a video gives its tidy DataFrame, like ``metrics.compute(video, [metric])``.
    """

    name: str = ""
    group: str = ""
    kind: str = "per-frame"
    needs_weights: bool = False
    higher_is_better: bool | None = None
    description: str = ""

    def values(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def check(self, video: Video) -> None:
        """Raise before any work when this metric cannot run (missing model file, prompt or backend)."""

    @property
    def ready(self) -> bool:
        """False for a placeholder that still needs a backend."""
        return True

    def __call__(self, video: Any, **kwargs) -> pd.DataFrame:
        from metrics.base import compute

        return compute(video, [self], **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.kind})"


class CallableMetric(Metric):
    """A metric backed by a user callable (the plug-in point).

    ``fn(frames)`` gets float frames (N, 3, H, W) in [0, 1] on the compute device: for a per-frame metric
    one batch at a time, returning N values; for per-pair and per-video metrics the whole video, returning
    T - 1 values (pair i -> frame i + 1) or one value. ``fn=None`` leaves a placeholder that explains itself.
    """

    def __init__(
        self,
        name: str,
        fn: Callable | None,
        *,
        kind: str = "per-frame",
        group: str | None = None,
        needs_weights: bool = True,
        higher_is_better: bool | None = None,
        description: str = "",
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.name, self.fn, self.kind = name, fn, kind
        self.group = group or name
        self.needs_weights, self.higher_is_better, self.description = (
            needs_weights,
            higher_is_better,
            description,
        )

    @property
    def ready(self) -> bool:
        return self.fn is not None

    def check(self, video: Video) -> None:
        if self.fn is None:
            raise MissingBackendError(
                f"metric {self.name!r} needs a backend that fpeval does not ship ({self.description}). "
                f"Register one: metrics.register_backend({self.name!r}, fn) with fn(frames) -> values"
            )

    def values(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        self.check(video)
        t = video.num_frames
        if self.kind == "per-frame":
            idx, vals = [], []
            for chunk, frames in video.batches():
                idx.append(chunk)
                vals.append(_as_array(self.fn(frames), len(chunk), self.name))
            return np.concatenate(idx), np.concatenate(vals)
        out = self.fn(video.frames.to(video.device))
        if self.kind == "per-pair":
            return np.arange(1, t), _as_array(out, t - 1, self.name)
        return np.array([VIDEO_FRAME]), _as_array(out, 1, self.name)


def _as_array(values: Any, expected: int, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != expected:
        raise ValueError(f"metric {name!r} returned {arr.size} values, expected {expected}")
    return arr


# Groups whose members follow the registry: every weight-free metric, every learned one that can run.
DYNAMIC_GROUPS: dict[str, Callable[[Metric], bool]] = {
    "weight_free": lambda m: not m.needs_weights and m.ready,
    "learned": lambda m: m.needs_weights and m.ready,
}
