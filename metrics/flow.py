"""Motion from classical optical flow (OpenCV Farneback): VBench's motion smoothness and dynamic degree.

* Motion smoothness (VBench): rebuild every odd frame from its even neighbours and score
  (255 - MAE) / 255 against the real frame. VBench interpolates with AMT; here the middle frame is
  warped from both neighbours along Farneback flow with Super SloMo's linear intermediate-flow
  approximation (t = 1/2): F_t0 = (F_10 - F_01) / 4, F_t1 = (F_01 - F_10) / 4.
* Dynamic degree (VBench): per pair of frames sampled at about 8 fps, the mean of the top 5 % flow
  magnitudes; a video is dynamic if at least round(4 N / 16) of the pairs (the last two excluded, as
  VBench does) exceed 6 min(H, W) / 256, with N the number of sampled frames.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def _cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "optical-flow metrics need OpenCV: pip install 'fpeval[metrics]' (opencv-python-headless)"
        ) from e
    return cv2


def parallel_map(fn: Callable, items: Sequence) -> list:
    """``[fn(x) for x in items]`` on a thread pool: OpenCV releases the GIL, so pairs run side by side."""
    workers = min(
        len(items), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, 8)) as pool:
        return list(pool.map(fn, items))


def gray(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W) uint8 luma (OpenCV's weights)."""
    cv2 = _cv2()
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow (H, W, 2) from grey frame ``a`` to grey frame ``b`` (pixels, x then y)."""
    return _cv2().calcOpticalFlowFarneback(a, b, None, **FARNEBACK)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(x) = image(x + flow(x)), bilinear, borders replicated; float32 out."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    m = grid + flow.astype(np.float32)
    return cv2.remap(
        image.astype(np.float32), m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def interpolate_middle(a: np.ndarray, b: np.ndarray, gray_a: np.ndarray, gray_b: np.ndarray) -> np.ndarray:
    """The frame halfway between RGB uint8 frames ``a`` and ``b`` (uint8), from flow both ways."""
    f_ab, f_ba = farneback(gray_a, gray_b), farneback(gray_b, gray_a)
    to_a, to_b = (f_ba - f_ab) / 4.0, (f_ab - f_ba) / 4.0
    mid = 0.5 * (warp(a, to_a) + warp(b, to_b))
    return np.clip(np.rint(mid), 0, 255).astype(np.uint8)


def motion_smoothness(frames: np.ndarray, grays: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(odd frame indices, (255 - MAE) / 255 of each rebuilt odd frame) for (T, H, W, 3) uint8 frames."""
    grays = gray(frames) if grays is None else grays
    idx = np.arange(1, len(frames) - 1, 2)

    def score(i: int) -> float:
        mid = interpolate_middle(frames[i - 1], frames[i + 1], grays[i - 1], grays[i + 1])
        mae = np.abs(mid.astype(np.int16) - frames[i].astype(np.int16)).mean()
        return (255.0 - mae) / 255.0

    return idx, np.array(parallel_map(score, list(idx)), dtype=np.float64).reshape(-1)


def top_magnitude(flow: np.ndarray, fraction: float = 0.05) -> float:
    """Mean of the top ``fraction`` of flow magnitudes (VBench's per-pair dynamic score)."""
    rad = np.sqrt((flow.astype(np.float64) ** 2).sum(-1)).ravel()
    cut = int(rad.size * fraction)
    return float(np.sort(rad)[::-1][:cut].mean()) if cut else 0.0


def sample_for_dynamic(num_frames: int, fps: float | None) -> np.ndarray:
    """Frame indices VBench uses for dynamic degree: every round(fps / 8)-th frame (all when fps unknown)."""
    step = max(1, round(fps / 8)) if fps else 1
    return np.arange(0, num_frames, step)


def dynamic_threshold(height: int, width: int) -> float:
    """VBench's per-pair motion threshold: 6 min(H, W) / 256 pixels."""
    return 6.0 * min(height, width) / 256.0


def is_dynamic(pair_scores, num_sampled_frames: int, height: int, width: int) -> bool:
    """VBench's rule: at least round(4 N / 16) pairs above the threshold, the last two pairs ignored."""
    thres = dynamic_threshold(height, width)
    need = round(4 * (num_sampled_frames / 16.0))
    count = 0
    for score in list(pair_scores)[:-2]:
        if score > thres:
            count += 1
        if count >= need:
            return True
    return False


def pair_flow_scores(grays: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Top-5 % Farneback magnitude for consecutive sampled frames ``indices``."""
    pairs = list(zip(indices[:-1], indices[1:], strict=True))
    scores = parallel_map(lambda p: top_magnitude(farneback(grays[p[0]], grays[p[1]])), pairs)
    return np.array(scores, dtype=np.float64).reshape(-1)
