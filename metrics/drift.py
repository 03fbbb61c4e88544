"""Drift as the paper defines it (Eq. 7): the start-end contrast of a per-frame metric.

Delta_M(V) = |M(V_start) - M(V_end)|, with V_start / V_end the first / last 15 % of frames
(n = max(1, int(0.15 T))). The signed version keeps the direction.
"""

from __future__ import annotations

import numpy as np


def start_end_window(num_frames: int, fraction: float = 0.15) -> int:
    """n = max(1, int(fraction * T)) frames at each end."""
    if num_frames < 1:
        raise ValueError(f"need at least one frame, got {num_frames}")
    return max(1, int(fraction * num_frames))


def signed_drift(values, fraction: float = 0.15) -> float:
    """mean(last n) - mean(first n) of a per-frame series."""
    v = np.asarray(values, dtype=np.float64)
    n = start_end_window(len(v), fraction)
    return float(v[-n:].mean() - v[:n].mean())


def start_end_contrast(values, fraction: float = 0.15) -> float:
    """Eq. 7: |mean(first n) - mean(last n)|."""
    return abs(signed_drift(values, fraction))


def bootstrap_ci(
    samples, stat=np.mean, rounds: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(estimate, low, high) percentile bootstrap interval of ``stat`` over ``samples`` (vectorised)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    rng = np.random.default_rng(seed)
    draws = x[rng.integers(0, len(x), size=(rounds, len(x)))]
    stats = stat(draws, axis=1)
    alpha = (1 - level) / 2
    return float(stat(x)), float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))
