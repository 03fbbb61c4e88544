"""Motion as VBench's ``motion_smoothness``: how well AMT-S (Li et al., "AMT: All-Pairs Multi-Field
Transforms for Efficient Frame Interpolation", CVPR 2023) rebuilds the odd frames from the even ones.

VBench (``vbench/motion_smoothness.py``): the even frames (0, 2, 4, ...) are padded (replicate) to a
multiple of 16, each neighbouring pair is interpolated at t = 0.5 by AMT-S, and the mean absolute
difference (0-255, uint8 frames) between the odd frames and their interpolations gives
``(255 - mean) / 255``, one number per video. Here each odd frame gets ``(255 - its mean) / 255``, so the
per-video mean is VBench's number and the column also has a curve over time. Pairs are interpolated in
batches (VBench: one pair at a time); batched and single results differ by at most 4e-6 before the uint8
rounding. Frames need at least 128 px a side after padding: below that the coarsest correlation level is
one pixel and VBench's lookup returns NaN, so this metric refuses them (FramePack-mini's 64 x 64 videos
use the weight-free ``motion_smoothness``).

The network below follows AMT-S's checkpoint layout (``amt-s.pth``, ``{"state_dict": ...}``: a RAFT
small feature encoder with instance norm, an IFRNet-style pyramid encoder and decoders, bidirectional
correlation lookups with 4 levels of radius 3, and 3 flow fields merged at full resolution). On random
weights it equals VBench's own AMT-S classes exactly (one pair at a time; 2.99 M parameters). The weights are
looked for where VBench keeps them (``$VBENCH_CACHE_DIR`` or ``~/.cache/vbench``, in ``amt_model/``) and
fetched on first use from the Hugging Face repo VBench downloads them from (``lalala125/AMT``).
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
from metrics.metric import Metric
from metrics.weights import (
    build_from_checkpoint,
    find_vbench_hub_file,
)

AMT_ENV = "FPEVAL_AMT_WEIGHTS"
AMT_FILE = "amt-s.pth"
AMT_HF_REPO = "lalala125/AMT"  # VBench's init_submodules: huggingface.co/lalala125/AMT/resolve/main/amt-s.pth
PAD = 16
# the correlation pyramid's coarsest level is side / 64: at 1 pixel VBench's lookup divides by 0
MIN_SIDE = 128


def amt_path(path: str | os.PathLike | None = None) -> Path:
    return find_vbench_hub_file(
        "AMT-S weights (VBench motion smoothness)",
        AMT_FILE,
        key="amt",
        env=AMT_ENV,
        folder="amt_model",
        hf_repo=AMT_HF_REPO,
        explicit=path,
    )


# -- building blocks ------------------------------------------------------------------------------


def resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp by ``flow`` (pixels), bilinear, border padding."""
    b, _, h, w = flow.shape
    xx = torch.linspace(-1.0, 1.0, w, device=img.device).view(1, 1, 1, w).expand(b, -1, h, -1)
    yy = torch.linspace(-1.0, 1.0, h, device=img.device).view(1, 1, h, 1).expand(b, -1, -1, w)
    scaled = torch.cat([flow[:, :1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    grid = (torch.cat([xx, yy], 1).to(img) + scaled).permute(0, 2, 3, 1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def conv_prelu(cin: int, cout: int, k: int = 3, stride: int = 1, pad: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad), nn.PReLU(cout))


class Bottleneck(nn.Module):
    """RAFT's bottleneck residual block with instance norm (no parameters)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout // 4, 1)
        self.conv2 = nn.Conv2d(cout // 4, cout // 4, 3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(cout // 4, cout, 1)
        self.downsample = (
            None
            if stride == 1
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride), nn.InstanceNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(F.instance_norm(self.conv1(x)))
        y = F.relu(F.instance_norm(self.conv2(y)))
        y = F.relu(F.instance_norm(self.conv3(y)))
        return F.relu((x if self.downsample is None else self.downsample(x)) + y)


class SmallEncoder(nn.Module):
    """RAFT-small's feature encoder (1/8 resolution), both frames in one batch."""

    def __init__(self, out: int = 84):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, stride=2, padding=3)
        self.layer1 = nn.Sequential(Bottleneck(32, 32), Bottleneck(32, 32))
        self.layer2 = nn.Sequential(Bottleneck(32, 64, 2), Bottleneck(64, 64))
        self.layer3 = nn.Sequential(Bottleneck(64, 96, 2), Bottleneck(96, 96))
        self.conv2 = nn.Conv2d(96, out, 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(F.instance_norm(self.conv1(torch.cat([a, b]))))
        x = self.conv2(self.layer3(self.layer2(self.layer1(x))))
        return x.split(len(a))


class ResBlock(nn.Module):
    """IFRNet's residual block whose last ``side`` channels get their own convolutions."""

    def __init__(self, ch: int, side: int):
        super().__init__()
        self.side = side
        self.conv1, self.conv2 = conv_prelu(ch, ch), conv_prelu(side, side)
        self.conv3, self.conv4 = conv_prelu(ch, ch), conv_prelu(side, side)
        self.conv5 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.prelu = nn.PReLU(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.conv3(torch.cat([out[:, : -self.side], self.conv2(out[:, -self.side :])], 1))
        out = self.conv5(torch.cat([out[:, : -self.side], self.conv4(out[:, -self.side :])], 1))
        return self.prelu(x + out)


class Encoder(nn.Module):
    """Four stride-2 levels of two conv + PReLU each (1/2 to 1/16 resolution)."""

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        self.levels = len(channels)
        for i, (cin, cout) in enumerate(zip((3, *channels[:-1]), channels, strict=True), 1):
            self.register_module(
                f"pyramid{i}", nn.Sequential(conv_prelu(cin, cout, 3, 2, 1), conv_prelu(cout, cout))
            )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(1, self.levels + 1):
            x = getattr(self, f"pyramid{i}")(x)
            feats.append(x)
        return feats


class Decoder(nn.Module):
    """One decoder level: conv + ResBlock + 2x transposed conv. The first level reads both frames'
    coarsest features and t; the others the previous level's features, both frames' features warped
    by its flows, and those flows. ``outputs`` channels: flows (4), then features or, at the last
    level, ``num_flows`` flow pairs, masks and image residuals."""

    def __init__(self, cin: int, skip: int, outputs: int, first: bool = False):
        super().__init__()
        width = cin * 2 if first else cin * 3
        self.convblock = nn.Sequential(
            conv_prelu(cin * 2 + 1 if first else cin * 3 + 4, width),
            ResBlock(width, skip),
            nn.ConvTranspose2d(width, outputs, 4, 2, 1),
        )

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.convblock(torch.cat(inputs, 1))


class UpdateBlock(nn.Module):
    """AMT's small update: correlation and flow features -> residual features and flows."""

    def __init__(self, cdim: int, scale: int | None, levels: int = 4, radius: int = 3):
        super().__init__()
        hidden, flow_dim, corr_dim, fc_dim = 76, 20, 64, 68
        self.scale = scale
        self.convc1 = nn.Conv2d(2 * levels * (2 * radius + 1) ** 2, corr_dim, 1)
        self.convf1 = nn.Conv2d(4, flow_dim * 2, 7, padding=3)
        self.convf2 = nn.Conv2d(flow_dim * 2, flow_dim, 3, padding=1)
        self.conv = nn.Conv2d(corr_dim + flow_dim, fc_dim, 3, padding=1)
        act = nn.LeakyReLU(0.1)
        self.gru = nn.Sequential(
            nn.Conv2d(fc_dim + 4 + cdim, hidden, 3, padding=1), act, nn.Conv2d(hidden, hidden, 3, padding=1)
        )
        self.feat_head = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, padding=1), act, nn.Conv2d(hidden, cdim, 3, padding=1)
        )
        self.flow_head = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, padding=1), act, nn.Conv2d(hidden, 4, 3, padding=1)
        )

    def forward(self, feat, flow, corr):
        lrelu = functools.partial(F.leaky_relu, negative_slope=0.1)
        feat = resize(feat, 1 / self.scale) if self.scale else feat
        motion = torch.cat([lrelu(self.convc1(corr)), lrelu(self.convf2(lrelu(self.convf1(flow))))], 1)
        out = self.gru(torch.cat([lrelu(self.conv(motion)), flow, feat], 1))
        d_feat, d_flow = self.feat_head(out), self.flow_head(out)
        if self.scale:
            d_feat, d_flow = resize(d_feat, self.scale), self.scale * resize(d_flow, self.scale)
        return d_feat, d_flow


class BidirCorrelation:
    """All-pairs correlation of two 1/8 feature maps, both ways, as a 4-level pyramid; looked up in a
    (2r + 1)^2 window around given coordinates."""

    def __init__(self, f0: torch.Tensor, f1: torch.Tensor, levels: int = 4, radius: int = 3):
        b, c, h, w = f0.shape
        corr = (f0.flatten(2).transpose(1, 2) @ f1.flatten(2)).view(b, h, w, 1, h, w) / torch.sqrt(
            torch.tensor(c).float()
        )
        fwd = corr.reshape(b * h * w, 1, h, w)
        bwd = corr.permute(0, 4, 5, 3, 1, 2).reshape(b * h * w, 1, h, w)
        self.radius, self.pyramid = radius, [(fwd, bwd)]
        for _ in range(levels - 1):
            fwd, bwd = F.avg_pool2d(fwd, 2, stride=2), F.avg_pool2d(bwd, 2, stride=2)
            self.pyramid.append((fwd, bwd))

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.radius
        b, _, h, w = coords0.shape
        d = torch.linspace(-r, r, 2 * r + 1, device=coords0.device)
        delta = torch.stack(torch.meshgrid(d, d, indexing="ij"), dim=-1).view(1, 2 * r + 1, 2 * r + 1, 2)
        outs = ([], [])
        for i, maps in enumerate(self.pyramid):
            for out, corr, coords in zip(outs, maps, (coords0, coords1), strict=True):
                centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2) / 2**i
                out.append(_sample(corr, centre + delta).view(b, h, w, -1))
        return tuple(torch.cat(o, dim=-1).permute(0, 3, 1, 2).contiguous().float() for o in outs)


def _sample(img: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """grid_sample at pixel coordinates (x, y), corners aligned."""
    h, w = img.shape[-2:]
    x, y = coords.split(1, dim=-1)
    return F.grid_sample(img, torch.cat([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], -1), align_corners=True)


def _coords(b: int, h: int, w: int, device) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([xs, ys]).float()[None].repeat(b, 1, 1, 1)


# -- the network ----------------------------------------------------------------------------------


class AMTS(nn.Module):
    """AMT-S: interpolates the frame at time ``t`` between two frames in [0, 1] (sides divisible by 16)."""

    def __init__(self, channels: tuple[int, ...] = (20, 32, 44, 56), skip: int = 20, num_flows: int = 3):
        super().__init__()
        self.num_flows = num_flows
        self.feat_encoder = SmallEncoder(84)
        self.encoder = Encoder(channels)
        self.decoder4 = Decoder(channels[3], skip, channels[2] + 4, first=True)
        self.decoder3 = Decoder(channels[2], skip, channels[1] + 4)
        self.decoder2 = Decoder(channels[1], skip, channels[0] + 4)
        self.decoder1 = Decoder(channels[0], skip, 8 * num_flows)
        self.update4, self.update3, self.update2 = (
            UpdateBlock(44, None),
            UpdateBlock(32, 2),
            UpdateBlock(20, 4),
        )
        self.comb_block = nn.Sequential(
            nn.Conv2d(3 * num_flows, 6 * num_flows, 3, 1, 1),
            nn.PReLU(6 * num_flows),
            nn.Conv2d(6 * num_flows, 3, 3, 1, 1),
        )

    @staticmethod
    def _refine(update, corr_fn, coord, flow0, flow1, feat, t: float, down: int):
        """Correlation lookup at the flows' targets (linear motion), then a residual update."""
        f0, f1 = (
            (flow0, flow1) if down == 1 else (resize(flow0, 1 / down) / down, resize(flow1, 1 / down) / down)
        )
        corr = torch.cat(corr_fn(coord + f1 * (1.0 / t), coord + f0 * (1.0 / (1.0 - t))), 1)
        d_feat, d_flow = update(feat, torch.cat([f0, f1], 1), corr)
        d0, d1 = d_flow.chunk(2, 1)
        return flow0 + d0, flow1 + d1, feat + d_feat

    def _level(self, decoder, feat, f0, f1, flow0, flow1):
        out = decoder(feat, warp(f0, flow0), warp(f1, flow1), flow0, flow1)
        up0, up1 = out[:, :4].chunk(2, 1)
        return up0 + 2.0 * resize(flow0, 2.0), up1 + 2.0 * resize(flow1, 2.0), out[:, 4:]

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: float = 0.5) -> torch.Tensor:
        mean = torch.cat([img0, img1], 2).mean(1, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
        img0, img1 = img0 - mean, img1 - mean
        b, _, h, w = img0.shape
        coord = _coords(b, h // 8, w // 8, img0.device)
        corr_fn = BidirCorrelation(*self.feat_encoder(img0, img1))
        f0, f1 = self.encoder(img0), self.encoder(img1)
        out = self.decoder4(f0[3], f1[3], torch.full_like(f0[3][:, :1], t))
        flow0, flow1 = out[:, :4].chunk(2, 1)
        flow0, flow1, feat = self._refine(self.update4, corr_fn, coord, flow0, flow1, out[:, 4:], t, 1)
        flow0, flow1, feat = self._level(self.decoder3, feat, f0[2], f1[2], flow0, flow1)
        flow0, flow1, feat = self._refine(self.update3, corr_fn, coord, flow0, flow1, feat, t, 2)
        flow0, flow1, feat = self._level(self.decoder2, feat, f0[1], f1[1], flow0, flow1)
        flow0, flow1, feat = self._refine(self.update2, corr_fn, coord, flow0, flow1, feat, t, 4)
        return self._combine(img0, img1, mean, *self._last(feat, f0[0], f1[0], flow0, flow1)).clamp(0, 1)

    def _last(self, feat, f0, f1, flow0, flow1):
        """The full-resolution level: ``num_flows`` flow pairs, their blending masks and residuals."""
        n = self.num_flows
        out = self.decoder1(feat, warp(f0, flow0), warp(f1, flow1), flow0, flow1)
        d0, d1, mask, res = out.split([2 * n, 2 * n, n, 3 * n], 1)
        flow0 = d0 + 2.0 * resize(flow0, 2.0).repeat(1, n, 1, 1)
        flow1 = d1 + 2.0 * resize(flow1, 2.0).repeat(1, n, 1, 1)
        return flow0, flow1, torch.sigmoid(mask), res

    def _combine(self, img0, img1, mean, flow0, flow1, mask, res) -> torch.Tensor:
        """Warp both frames by each flow pair, blend, then average the fields and add a learned merge."""
        n, (b, _, h, w) = self.num_flows, img0.shape
        warped0 = warp(img0.repeat_interleave(n, 0), flow0.reshape(b * n, 2, h, w))
        warped1 = warp(img1.repeat_interleave(n, 0), flow1.reshape(b * n, 2, h, w))
        m = mask.reshape(b * n, 1, h, w)
        fields = m * warped0 + (1 - m) * warped1 + mean.repeat_interleave(n, 0) + res.reshape(b * n, 3, h, w)
        fields = fields.reshape(b, n, 3, h, w)
        return fields.mean(1) + self.comb_block(fields.view(b, -1, h, w))


@functools.lru_cache(maxsize=2)
def _load(path: str, device: str) -> AMTS:
    def build(state: dict) -> AMTS:
        model = AMTS()
        model.load_state_dict(state)
        return model

    return (
        build_from_checkpoint(path, "state_dict", build, "an AMT-S checkpoint ({'state_dict': ...})")
        .eval()
        .to(device)
    )


def load_amt(path: str | os.PathLike | None = None, device: str = "cpu") -> AMTS:
    """AMT-S from its checkpoint (found in the caches or fetched on first use), in eval mode."""
    return _load(str(amt_path(path)), str(device))


def _pad(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """VBench's InputPadder: replicate-pad to a multiple of 16, split evenly (extra on the right/bottom)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % PAD, (-w) % PAD
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    return F.pad(x, pads, mode="replicate"), pads


@torch.no_grad()
def odd_frame_scores(model: AMTS, frames: np.ndarray, device: str = "cpu", batch_size: int = 8) -> np.ndarray:
    """(255 - mean |odd frame - AMT-S's interpolation of its even neighbours|) / 255 per odd frame that
    has two even neighbours, from (T, H, W, 3) uint8 frames."""
    even = torch.from_numpy(np.ascontiguousarray(frames[::2])).permute(0, 3, 1, 2).float() / 255.0
    padded, (left, right, top, bottom) = _pad(even)
    h, w = padded.shape[-2:]
    preds = []
    for s in range(0, len(even) - 1, batch_size):
        a, b = padded[s : s + batch_size + 1][:-1], padded[s + 1 : s + batch_size + 1]
        preds.append(model(a.to(device), b.to(device)).cpu()[:, :, top : h - bottom, left : w - right])
    rebuilt = (torch.cat(preds) * 255.0).permute(0, 2, 3, 1).numpy().clip(0, 255).astype(np.uint8)
    odd = frames[1::2][: len(rebuilt)]
    diff = np.abs(odd.astype(np.int16) - rebuilt.astype(np.int16)).mean(axis=(1, 2, 3))
    return (255.0 - diff) / 255.0


class MotionSmoothnessAMT(Metric):
    name, group, kind, higher_is_better, needs_weights = (
        "motion_smoothness_amt",
        "amt",  # not "motion": the weight-free motion group must run on any video, offline
        "per-frame",
        True,
        True,
    )
    description = (
        "VBench motion_smoothness: (255 - mean |odd frame - AMT-S interpolation|) / 255 per odd frame; "
        f"weights key 'amt' or ${AMT_ENV}"
    )

    def check(self, video: Video):
        if video.num_frames < 3:
            raise ValueError(f"motion_smoothness_amt needs at least 3 frames, got {video.num_frames}")
        h, w = video.size
        if min(h + (-h) % PAD, w + (-w) % PAD) < MIN_SIDE:
            raise ValueError(
                f"motion_smoothness_amt needs frames of at least {MIN_SIDE} px a side after padding to a multiple "
                f"of {PAD} (AMT-S's coarsest correlation level is 1/64 of it; VBench's code returns NaN below), "
                f"got {h}x{w}; use motion_smoothness, the weight-free interpolation, for smaller frames"
            )
        amt_path(video.weights.get("amt"))

    def values(self, video: Video):
        model = load_amt(video.weights.get("amt"), video.device)
        scores = odd_frame_scores(model, video.uint8(), video.device, video.batch_size)
        return np.arange(1, 2 * len(scores), 2), scores
