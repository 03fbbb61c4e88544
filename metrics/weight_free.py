"""The weight-free metrics (the default set): each class wraps a functional twin in ``metrics.functional``,
``metrics.brisque`` or ``metrics.flow`` and runs it batched on the compute device."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from metrics import brisque as brisque_mod
from metrics import flow
from metrics import functional as fn
from metrics.frames import Video
from metrics.metric import VIDEO_FRAME, Metric


class FrameStatistic(Metric):
    """A per-frame statistic: ``statistic(frames (N, 3, H, W)) -> (N,)`` over batches."""

    kind = "per-frame"

    def statistic(self, frames: torch.Tensor, video: Video) -> torch.Tensor:
        raise NotImplementedError

    def values(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        idx, vals = [], []
        for chunk, frames in video.batches():
            idx.append(chunk)
            vals.append(self.statistic(frames, video).double().cpu().numpy())
        return np.concatenate(idx), np.concatenate(vals)


class PairStatistic(Metric):
    """A statistic of frame pairs (reference, frame t) for t = 1..T-1; reference = first or previous frame."""

    kind = "per-pair"
    reference = "prev"  # or "first"

    def statistic(self, ref: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pairs(self, video: Video) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """(frame indices t, reference frames, frames t) in batches, on the device."""
        first = video.frames[:1].to(video.device)
        for chunk, cur in video.batches(slice(1, None)):
            if self.reference == "first":
                ref = first.expand_as(cur)
            else:
                ref = video.frames[torch.from_numpy(chunk - 1)].to(video.device)
            yield chunk, ref, cur

    def values(self, video: Video, statistic: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
        statistic = statistic or self.statistic
        idx, vals = [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
        for chunk, ref, cur in self.pairs(video):
            idx.append(chunk)
            vals.append(statistic(ref, cur).double().cpu().numpy())
        return np.concatenate(idx), np.concatenate(vals)


def _simple(frame_fn: Callable[[torch.Tensor], torch.Tensor]):
    def statistic(self, frames, video):
        return frame_fn(frames)

    return statistic


class ClarityLaplacian(FrameStatistic):
    name, group, higher_is_better = "clarity_laplacian", "clarity", True
    description = "variance of the Laplacian of luma (0-255 scale); sharper frames score higher"
    statistic = _simple(fn.laplacian_variance)


class ClarityTenengrad(FrameStatistic):
    name, group, higher_is_better = "clarity_tenengrad", "clarity", True
    description = "Tenengrad: mean squared Sobel gradient magnitude of luma (0-255 scale)"
    statistic = _simple(fn.tenengrad)


class ClarityBrisque(FrameStatistic):
    name, group, higher_is_better = "clarity_brisque", "clarity", False
    description = "BRISQUE no-reference quality (SVM model of the brisque package); lower is better"

    def check(self, video):
        brisque_mod.load_model(video.weights.get("brisque"))

    def statistic(self, frames, video):
        model = brisque_mod.load_model(video.weights.get("brisque"))
        return brisque_mod.brisque(frames, model)


class ExposureBrightness(FrameStatistic):
    name, group, higher_is_better = "exposure_brightness", "exposure", None
    description = "mean Rec. 601 luma in [0, 1] (exposure); watch it beside learned scores"
    statistic = _simple(fn.brightness)


class ExposureClipped(FrameStatistic):
    name, group, higher_is_better = "exposure_clipped", "exposure", False
    description = "fraction of pixels with a channel <= 2 or >= 253 (clipped shadows or highlights)"
    statistic = _simple(fn.clipped_fraction)


class Colourfulness(FrameStatistic):
    name, group, higher_is_better = "colourfulness", "colour", None
    description = "Hasler & Suesstrunk colourfulness (0-255 scale)"
    statistic = _simple(fn.colourfulness)


class NoiseSigma(FrameStatistic):
    name, group, higher_is_better = "noise_sigma", "noise", False
    description = "noise standard deviation of luma in grey levels (Immerkaer's estimator)"
    statistic = _simple(fn.noise_sigma)


class FlickerBrightness(PairStatistic):
    name, group, higher_is_better = "flicker_brightness", "flicker", False
    description = "|change of mean luma| between consecutive frames, in grey levels"

    def statistic(self, ref, cur):
        return (fn.brightness(cur) - fn.brightness(ref)).abs() * 255.0


class FlickerVBench(PairStatistic):
    name, group, higher_is_better = "flicker_vbench", "flicker", True
    description = "VBench temporal flickering of consecutive frames: (255 - MAE) / 255"

    def statistic(self, ref, cur):
        return fn.vbench_flicker(ref, cur)


class ConsistencyFirstSSIM(PairStatistic):
    name, group, higher_is_better, reference = "consistency_first_ssim", "consistency", True, "first"
    description = "SSIM of each frame to the first frame (Gaussian window, RGB mean)"

    def statistic(self, ref, cur):
        return fn.ssim(ref, cur)


class ConsistencyPrevSSIM(ConsistencyFirstSSIM):
    name, reference = "consistency_prev_ssim", "prev"
    description = "SSIM of each frame to the previous frame"


class ConsistencyFirstPSNR(PairStatistic):
    name, group, higher_is_better, reference = "consistency_first_psnr", "consistency", True, "first"
    description = f"PSNR (dB) of each frame to the first frame; identical frames give {fn.PSNR_MAX_DB:g}"

    def statistic(self, ref, cur):
        return fn.psnr(ref, cur)


class ConsistencyPrevPSNR(ConsistencyFirstPSNR):
    name, reference = "consistency_prev_psnr", "prev"
    description = "PSNR (dB) of each frame to the previous frame"


class MotionSmoothness(Metric):
    name, group, kind, higher_is_better = "motion_smoothness", "motion", "per-pair", True
    description = (
        "VBench motion smoothness: odd frames rebuilt from even neighbours along Farneback flow, "
        "(255 - MAE) / 255, at each odd frame"
    )

    def values(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        return flow.motion_smoothness(video.uint8(), _grays(video))


def _grays(video: Video) -> np.ndarray:
    if "gray" not in video.cache:
        video.cache["gray"] = flow.gray(video.uint8())
    return video.cache["gray"]


def _dynamic_pairs(video: Video) -> tuple[np.ndarray, np.ndarray]:
    """(sampled frame indices, top-5 % Farneback magnitude per consecutive sampled pair), cached."""
    key = ("dynamic_farneback", video.fps)
    if key not in video.cache:
        idx = flow.sample_for_dynamic(video.num_frames, video.fps)
        video.cache[key] = (idx, flow.pair_flow_scores(_grays(video), idx))
    return video.cache[key]


class DynamicFlow(Metric):
    name, group, kind, higher_is_better = "dynamic_flow", "dynamic", "per-pair", True
    description = (
        "VBench dynamic score per pair of ~8 fps frames: mean of the top 5 % Farneback magnitudes (px)"
    )

    def values(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        idx, scores = _dynamic_pairs(video)
        return idx[1:], scores


class DynamicDegree(Metric):
    name, group, kind, higher_is_better = "dynamic_degree", "dynamic", "per-video", True
    description = "VBench dynamic degree on Farneback flow: 1 if enough ~8 fps pairs exceed 6 min(H, W) / 256"

    def values(self, video: Video) -> tuple[np.ndarray, np.ndarray]:
        idx, scores = _dynamic_pairs(video)
        h, w = video.size
        return np.array([VIDEO_FRAME]), np.array([float(flow.is_dynamic(scores, len(idx), h, w))])


WEIGHT_FREE = (
    ClarityLaplacian,
    ClarityTenengrad,
    ClarityBrisque,
    ExposureBrightness,
    ExposureClipped,
    Colourfulness,
    NoiseSigma,
    FlickerBrightness,
    FlickerVBench,
    MotionSmoothness,
    DynamicFlow,
    DynamicDegree,
    ConsistencyFirstSSIM,
    ConsistencyFirstPSNR,
    ConsistencyPrevSSIM,
    ConsistencyPrevPSNR,
)
