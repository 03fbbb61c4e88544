"""Seeded procedural video clips: a camera panning and zooming over a procedurally generated background,
moving sprites that occlude each other, and slow lighting changes. Same seed and split -> same clip.

The appearance of every clip comes from ``fpeval.world.appearance`` (noise, palettes, gradients,
shapes, strokes, glyphs and transformed photo crops), so no two clips share their content and a model
can only predict what comes next by keeping what it was shown. Held-out clips use their own seed
stream and photos that training never sees. Rendering is vectorised over frames with ``grid_sample``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from fpeval.world.appearance import background, sprite
from fpeval.world.assets import SPLITS, photos

FPS = 8
SIZE = 64
BACKGROUND_SIDE = 160  # a view spans 56-112 background pixels: downsampled at most ~1.8x
SPRITE_SIDE = 32
HELDOUT_SEED_OFFSET = 1_000_000_007


@dataclass(frozen=True)
class Sprite:
    size: float  # pixels
    position: tuple[float, float]  # pixels, frame 0
    velocity: tuple[float, float]  # pixels per frame


@dataclass(frozen=True)
class ClipSpec:
    """Everything that defines a clip's motion; its appearance is generated from (seed, split).
    JSON-able, so a clip can be named by its spec."""

    seed: int
    split: str
    frames: int
    size: int
    base: str  # the background's base kind (noise, gradient, photo, stripes)
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


def _rng(seed: int, split: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) + (HELDOUT_SEED_OFFSET if split == "heldout" else 0), stream])


def sample_spec(seed: int, split: str = "train", frames: int = 32, size: int = SIZE) -> ClipSpec:
    """Draw a clip's motion parameters from ``seed``; held-out clips use their own seed stream."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    if frames < 1 or size < 16:
        raise ValueError(f"frames must be >= 1 and size >= 16, got frames={frames}, size={size}")
    rng = _rng(seed, split, 0x5EED)
    sprites = []
    for _ in range(int(rng.integers(0, 4))):
        sprites.append(
            Sprite(
                size=float(rng.uniform(0.2, 0.45) * size),
                position=tuple(rng.uniform(0.2 * size, 0.8 * size, 2).round(3)),  # type: ignore[arg-type]
                velocity=tuple((rng.uniform(0.2, 1.4, 2) * rng.choice([-1, 1], 2) * size / 64).round(4)),  # type: ignore[arg-type]
            )
        )
    return ClipSpec(
        seed=int(seed),
        split=split,
        frames=int(frames),
        size=int(size),
        base=_appearance(int(seed), split)[0],
        view=float(rng.uniform(0.35, 0.7)),
        zoom_rate=float(rng.uniform(-0.004, 0.004)),
        center=tuple(rng.uniform(0.35, 0.65, 2).round(4)),  # type: ignore[arg-type]
        pan=tuple((rng.uniform(0.0005, 0.004, 2) * rng.choice([-1, 1], 2)).round(5)),  # type: ignore[arg-type]
        light_amplitude=float(rng.uniform(0.0, 0.15)),
        light_period=float(rng.uniform(40, 120)),
        light_phase=float(rng.uniform(0, 2 * np.pi)),
        sprites=tuple(sprites),
    )


@functools.lru_cache(maxsize=64)
def _appearance(
    seed: int, split: str
) -> tuple[str, torch.Tensor, tuple[tuple[torch.Tensor, torch.Tensor], ...]]:
    """(base kind, background (1, 3, S, S), sprite layers (rgb, alpha) x 4) of a clip."""
    rng = _rng(seed, split, 0xA77)
    kind, bg = background(rng, BACKGROUND_SIDE, photos(split))
    layers = tuple(sprite(rng, SPRITE_SIDE, photos(split)) for _ in range(3))
    return kind, bg[None], layers


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
    _, bg, layers = _appearance(spec.seed, spec.split)
    # camera: a square view of side view * S, zooming and panning, bouncing inside the image
    view = np.clip(spec.view * (1 + spec.zoom_rate) ** t, 0.3, 0.85)
    half = view / 2
    centre = _bounce(np.array(spec.center), np.array(spec.pan), t, np.array([0.0, 0.0]), np.array([1.0, 1.0]))
    cx = np.clip(centre[:, 0], half, 1 - half)
    cy = np.clip(centre[:, 1], half, 1 - half)
    theta = np.zeros((spec.frames, 2, 3), dtype=np.float32)
    theta[:, 0, 0], theta[:, 0, 2] = 2 * half, 2 * cx - 1
    theta[:, 1, 1], theta[:, 1, 2] = 2 * half, 2 * cy - 1
    grid = F.affine_grid(torch.from_numpy(theta), [spec.frames, 3, size, size], align_corners=False)
    frames = F.grid_sample(bg.expand(spec.frames, -1, -1, -1), grid, mode="bilinear", align_corners=False)

    for s, (rgb, alpha) in zip(spec.sprites, layers, strict=False):
        r = s.size / 2
        pos = _bounce(
            np.array(s.position), np.array(s.velocity), t, np.array([r, r]), np.array([size - r] * 2)
        )
        th = np.zeros((spec.frames, 2, 3), dtype=np.float32)
        th[:, 0, 0] = th[:, 1, 1] = size / s.size
        th[:, 0, 2] = -(2 * pos[:, 0] / size - 1) * size / s.size
        th[:, 1, 2] = -(2 * pos[:, 1] / size - 1) * size / s.size
        g = F.affine_grid(torch.from_numpy(th), [spec.frames, 1, size, size], align_corners=False)
        layer = torch.cat([rgb, alpha])[None].expand(spec.frames, -1, -1, -1)
        colour, a = F.grid_sample(layer, g, align_corners=False).split((3, 1), dim=1)
        frames = frames * (1 - a) + colour * a

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
