"""Seeded procedural video clips: a camera panning and zooming over a photo or tinted texture, bouncing
sprites (digits, faces, shapes) and slow lighting changes. Same seed and split -> same clip.

Rendering is vectorised over frames with ``grid_sample`` (one affine grid per frame and layer).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from fpeval.world.assets import SPLITS, backgrounds, photo, sprite_masks, texture

FPS = 8
SIZE = 64
BACKGROUND_SIDE = 192  # backgrounds are pre-resized so a view is downsampled at most ~2x
HELDOUT_SEED_OFFSET = 1_000_000_007


@dataclass(frozen=True)
class Sprite:
    family: str
    index: int
    color: tuple[float, float, float]
    size: float  # pixels
    position: tuple[float, float]  # pixels, frame 0
    velocity: tuple[float, float]  # pixels per frame


@dataclass(frozen=True)
class ClipSpec:
    """Everything that defines a clip; JSON-able, so a clip can be named by its spec."""

    seed: int
    split: str
    frames: int
    size: int
    background: tuple[str, str]
    tint: tuple[tuple[float, float, float], tuple[float, float, float]]
    view: float  # fraction of the background side seen by the camera at frame 0
    zoom_rate: float  # relative view change per frame
    center: tuple[float, float]  # camera centre in [0, 1]^2, frame 0
    pan: tuple[float, float]  # camera centre change per frame
    light_amplitude: float
    light_period: float
    light_phase: float
    sprites: tuple[Sprite, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_spec(seed: int, split: str = "train", frames: int = 32, size: int = SIZE) -> ClipSpec:
    """Draw a clip's parameters from ``seed``; held-out clips use held-out material and seeds."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    if frames < 1 or size < 16:
        raise ValueError(f"frames must be >= 1 and size >= 16, got frames={frames}, size={size}")
    rng = np.random.default_rng([int(seed) + (HELDOUT_SEED_OFFSET if split == "heldout" else 0), 0x5EED])
    bgs = backgrounds(split)
    background = bgs[rng.integers(len(bgs))]
    tint = (tuple(rng.uniform(0.0, 0.5, 3).round(4)), tuple(rng.uniform(0.5, 1.0, 3).round(4)))
    masks = sprite_masks(split)
    sprites = []
    for _ in range(int(rng.integers(1, 4))):
        family = ("digit", "face", "shape")[rng.integers(3)]
        sprites.append(
            Sprite(
                family=family,
                index=int(rng.integers(len(masks[family]))),
                color=tuple(rng.uniform(0.0, 1.0, 3).round(4)),
                size=float(rng.uniform(0.2, 0.4) * size),
                position=tuple(rng.uniform(0.2 * size, 0.8 * size, 2).round(3)),
                velocity=tuple((rng.uniform(0.4, 1.6, 2) * rng.choice([-1, 1], 2) * size / 64).round(4)),
            )
        )
    view = float(rng.uniform(0.35, 0.7))
    return ClipSpec(
        seed=int(seed),
        split=split,
        frames=int(frames),
        size=int(size),
        background=background,
        tint=tint,  # type: ignore[arg-type]
        view=view,
        zoom_rate=float(rng.uniform(-0.004, 0.004)),
        center=tuple(rng.uniform(0.35, 0.65, 2).round(4)),  # type: ignore[arg-type]
        pan=tuple((rng.uniform(0.001, 0.004, 2) * rng.choice([-1, 1], 2)).round(5)),  # type: ignore[arg-type]
        light_amplitude=float(rng.uniform(0.0, 0.15)),
        light_period=float(rng.uniform(40, 120)),
        light_phase=float(rng.uniform(0, 2 * np.pi)),
        sprites=tuple(sprites),
    )


@functools.lru_cache(maxsize=64)
def _background(kind: str, name: str) -> torch.Tensor:
    img = photo(name) if kind == "photo" else texture(name)[..., None].repeat(3, axis=-1)
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    h, w = t.shape[-2:]
    scale = BACKGROUND_SIDE / min(h, w)
    return F.interpolate(t, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False).clamp(
        0, 1
    )


@functools.lru_cache(maxsize=256)
def _sprite_layers(split: str, family: str, index: int) -> torch.Tensor:
    """(1, 2, 32, 32): shading and alpha. Digits and shapes are flat-coloured masks; faces are
    grayscale photos under an elliptical alpha."""
    m = torch.from_numpy(sprite_masks(split)[family][index])[None, None]
    m = F.interpolate(m, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    if family != "face":
        return torch.cat([torch.ones_like(m), m], dim=1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    ellipse = ((xx / 0.8) ** 2 + (yy / 0.95) ** 2 <= 1).float()[None, None]
    return torch.cat([0.3 + 0.7 * m, ellipse], dim=1)


def _bounce(
    start: np.ndarray, velocity: np.ndarray, t: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Positions of a point moving at constant velocity, reflected at [low, high] (triangle wave)."""
    span = np.maximum(high - low, 1e-6)
    raw = (start - low)[None] + t[:, None] * velocity[None]
    folded = np.mod(raw, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def render(spec: ClipSpec) -> torch.Tensor:
    """The clip as (T, 3, size, size) float32 in [0, 1]."""
    t = np.arange(spec.frames, dtype=np.float64)
    size = spec.size
    bg = _background(*spec.background)
    if spec.background[0] == "texture":
        lo, hi = (torch.tensor(c, dtype=torch.float32).view(1, 3, 1, 1) for c in spec.tint)
        bg = lo + (hi - lo) * bg
    _, _, bh, bw = bg.shape
    # camera: a square view of side view * min(bh, bw), zooming and panning, bouncing inside the image
    view = np.clip(spec.view * (1 + spec.zoom_rate) ** t, 0.25, 0.9)
    half_h, half_w = view * min(bh, bw) / bh / 2, view * min(bh, bw) / bw / 2
    centre = _bounce(
        np.array(spec.center), np.array(spec.pan), t, np.array([0.0, 0.0]), np.array([1.0, 1.0])
    )  # unconstrained path in [0, 1]
    cx = np.clip(centre[:, 0], half_w, 1 - half_w)
    cy = np.clip(centre[:, 1], half_h, 1 - half_h)
    theta = np.zeros((spec.frames, 2, 3), dtype=np.float32)
    theta[:, 0, 0], theta[:, 0, 2] = 2 * half_w, 2 * cx - 1
    theta[:, 1, 1], theta[:, 1, 2] = 2 * half_h, 2 * cy - 1
    grid = F.affine_grid(torch.from_numpy(theta), [spec.frames, 3, size, size], align_corners=False)
    frames = F.grid_sample(bg.expand(spec.frames, -1, -1, -1), grid, mode="bilinear", align_corners=False)

    for s in spec.sprites:
        half = s.size / 2
        pos = _bounce(
            np.array(s.position), np.array(s.velocity), t, np.array([half, half]), np.array([size - half] * 2)
        )
        th = np.zeros((spec.frames, 2, 3), dtype=np.float32)
        th[:, 0, 0] = th[:, 1, 1] = size / s.size
        th[:, 0, 2] = -(2 * pos[:, 0] / size - 1) * size / s.size
        th[:, 1, 2] = -(2 * pos[:, 1] / size - 1) * size / s.size
        g = F.affine_grid(torch.from_numpy(th), [spec.frames, 1, size, size], align_corners=False)
        layers = _sprite_layers(spec.split, s.family, s.index).expand(spec.frames, -1, -1, -1)
        shade, alpha = F.grid_sample(layers, g, align_corners=False).split(1, dim=1)
        colour = torch.tensor(s.color, dtype=torch.float32).view(1, 3, 1, 1) * 0.5 + 0.5 * shade
        frames = frames * (1 - alpha) + colour * shade * alpha

    light = 1 + spec.light_amplitude * np.sin(2 * np.pi * t / spec.light_period + spec.light_phase)
    return (frames * torch.from_numpy(light.astype(np.float32)).view(-1, 1, 1, 1)).clamp(0, 1)


def clip(seed: int, split: str = "train", frames: int = 32, size: int = SIZE) -> torch.Tensor:
    """Render the clip of ``seed``: (T, 3, size, size) float32 in [0, 1]."""
    return render(sample_spec(seed, split, frames, size))


def heldout_start_images(n: int = 16, size: int = SIZE) -> list[tuple[int, torch.Tensor]]:
    """(seed, first frame) pairs from the held-out split, for evaluation."""
    return [(s, clip(s, "heldout", 1, size)[0]) for s in range(n)]


class WorldClips(torch.utils.data.IterableDataset):
    """Endless training clips: clip i of worker w uses seed ``base_seed + i * workers + w``."""

    def __init__(self, frames: int = 32, size: int = SIZE, split: str = "train", base_seed: int = 0):
        self.frames, self.size, self.split, self.base_seed = frames, size, split, base_seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        step, offset = (info.num_workers, info.id) if info is not None else (1, 0)
        i = 0
        while True:
            yield clip(self.base_seed + i * step + offset, self.split, self.frames, self.size)
            i += 1
