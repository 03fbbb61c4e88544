"""Metric objects and their registry: every metric by name, its groups, and ``compute`` (the one path the CLI uses too).

A metric returns values per frame, per frame pair (indexed by the later frame) or per video (indexed
by ``VIDEO_FRAME`` = -1). ``compute`` returns them as one tidy long DataFrame: frame, metric, value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from metrics.frames import as_video
from metrics.metric import (  # noqa: F401  (re-exported: metrics.base was their home)
    COLUMNS,
    DYNAMIC_GROUPS,
    KINDS,
    VIDEO_FRAME,
    CallableMetric,
    Metric,
    _as_array,
)


class Registry(dict):
    """name -> Metric, plus named groups of names."""

    def __init__(self):
        super().__init__()
        self.groups: dict[str, list[str]] = {}

    def add(self, metric: Metric, *, replace: bool = False) -> Metric:
        if metric.kind not in KINDS:
            raise ValueError(f"{metric.name}: kind must be one of {KINDS}, got {metric.kind!r}")
        if not metric.name:
            raise ValueError("a metric needs a name")
        if metric.name in self.groups or metric.name in DYNAMIC_GROUPS:
            raise ValueError(f"{metric.name!r} is already a group name")
        if metric.name in self and not replace:
            raise ValueError(f"metric {metric.name!r} is already registered (pass replace=True)")
        self[metric.name] = metric
        members = self.groups.setdefault(metric.group, []) if metric.group != metric.name else None
        if members is not None and metric.name not in members:
            members.append(metric.name)
        return metric

    def expand(self, names: Iterable[Any] | str | None) -> list[Metric]:
        """Metric objects for names, group names and Metric instances, in order, without repeats."""
        if names is None:
            names = ["weight_free"]
        elif isinstance(names, str | Metric):
            names = [names]
        out: dict[str, Metric] = {}
        for item in names:
            if isinstance(item, Metric):
                out.setdefault(item.name, item)
                continue
            if not isinstance(item, str):
                raise ValueError(f"metric names must be strings or Metric objects, got {item!r}")
            for part in (p.strip() for p in item.split(",")):
                if not part:
                    continue
                if part in self:
                    out.setdefault(part, self[part])
                elif part in self.groups:
                    for m in self.expand(self.groups[part]):
                        out.setdefault(m.name, m)
                elif part in DYNAMIC_GROUPS:
                    for m in self.values():
                        if DYNAMIC_GROUPS[part](m):
                            out.setdefault(m.name, m)
                else:
                    raise ValueError(
                        f"unknown metric {part!r}; accepted names: {', '.join(self)}; "
                        f"groups: {', '.join([*self.groups, *DYNAMIC_GROUPS])}"
                    )
        return list(out.values())

    def table(self) -> pd.DataFrame:
        rows = [
            dict(
                name=m.name,
                group=m.group,
                kind=m.kind,
                needs_weights=m.needs_weights,
                higher_is_better=m.higher_is_better,
                ready=m.ready,
                description=m.description,
            )
            for m in self.values()
        ]
        return pd.DataFrame(rows)


registry = Registry()


def available() -> pd.DataFrame:
    """Every registered metric: name, group, kind, needs_weights, higher_is_better, ready, description."""
    return registry.table()


def register(metric: Metric, *, replace: bool = False) -> Metric:
    """Add a Metric object to the registry."""
    return registry.add(metric, replace=replace)


def register_callable(
    name: str,
    fn: Callable,
    *,
    kind: str = "per-frame",
    group: str | None = None,
    needs_weights: bool = True,
    higher_is_better: bool | None = None,
    description: str = "",
    replace: bool = False,
) -> Metric:
    """Register ``fn`` as a metric (see :class:`CallableMetric` for its contract)."""
    metric = CallableMetric(
        name,
        fn,
        kind=kind,
        group=group,
        needs_weights=needs_weights,
        higher_is_better=higher_is_better,
        description=description,
    )
    return registry.add(metric, replace=replace)


def register_backend(name: str, fn: Callable) -> Metric:
    """Give a listed placeholder metric (the ArcFace identity) its implementation."""
    old = registry.get(name)
    if not isinstance(old, CallableMetric):
        raise ValueError(f"{name!r} is not a placeholder metric; use register_callable for a new one")
    return register_callable(
        name,
        fn,
        kind=old.kind,
        group=old.group,
        needs_weights=old.needs_weights,
        higher_is_better=old.higher_is_better,
        description=old.description,
        replace=True,
    )


def compute(
    video: Any,
    names: Iterable[Any] | str | None = None,
    *,
    device: str | None = None,
    batch_size: int = 32,
    fps: float | None = None,
    prompt: str | None = None,
    weights: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Score one video: a tidy DataFrame with columns frame (int), metric (str), value (float).

    ``names``: metric names, group names (e.g. "clarity") or Metric objects; default: every weight-free
    metric. ``fps`` (else the sidecar's) sets VBench's 8 fps sampling for dynamic degree. ``prompt`` is
    the text for text-frame metrics; ``weights`` maps weight keys (see ``metrics.available()``) to files.
    """
    chosen = registry.expand(names)
    v = as_video(video, fps=fps, device=device, batch_size=batch_size, prompt=prompt, weights=weights)
    for metric in chosen:
        metric.check(v)
    parts = []
    with torch.inference_mode():
        for metric in chosen:
            frames, values = metric.values(v)
            parts.append(
                pd.DataFrame(
                    {
                        "frame": np.asarray(frames, dtype=np.int64),
                        "metric": metric.name,
                        "value": np.asarray(values, dtype=np.float64),
                    }
                )
            )
    if not parts:
        return pd.DataFrame({"frame": pd.Series(dtype="int64"), "metric": [], "value": []})
    return pd.concat(parts, ignore_index=True)


def to_wide(per_frame: pd.DataFrame, index: Iterable[str] = ("frame",)) -> pd.DataFrame:
    """One column per metric (per-frame and per-pair values), one row per frame."""
    index = list(index)
    table = per_frame[per_frame["frame"] != VIDEO_FRAME]
    return table.pivot_table(index=index, columns="metric", values="value", sort=False).reset_index()


def _register_shipped_metrics() -> None:
    """Every weight-free and learned metric, and the paper metrics whose models fpeval does not wrap
    (listed so tables can name them; computed once a backend is registered with
    ``register_backend(name, fn)``)."""
    from metrics.learned import LEARNED
    from metrics.weight_free import WEIGHT_FREE

    for cls in (*WEIGHT_FREE, *LEARNED):
        registry.add(cls())
    placeholders = (
        (
            "identity_arcface",
            "per-pair",
            True,
            "ArcFace + RetinaFace face similarity to the first frame (identity_facenet computes it with FaceNet + MTCNN)",
        ),
    )
    for name, kind, better, what in placeholders:
        registry.add(
            CallableMetric(name, None, kind=kind, group=name, higher_is_better=better, description=what)
        )
    from metrics.paper import PAPER_METRICS

    registry.groups["paper"] = [name for name, _ in PAPER_METRICS.values()]


_register_shipped_metrics()  # the modules it imports need only the names defined above
