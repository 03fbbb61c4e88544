"""Procedural appearance with practically endless variety: every clip's background and sprites are drawn
from a seed, so a model can only predict a clip's future by copying from what it has been shown.

Ingredients: fractal (multi-octave value) noise through random palettes, linear and radial gradients,
random polygons, ellipses, stars and strokes, glyphs rendered from the fonts matplotlib ships, and crops
of the bundled photos under random colour, scale and warp transforms. All functions take a numpy
``Generator`` and return float32 tensors in [0, 1].
"""

from __future__ import annotations

import functools
import string

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

BASES = ("noise", "gradient", "photo", "stripes")
GLYPHS = string.ascii_letters + string.digits + "#&%@?!+*=<>$"
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif-Bold.ttf",
)


def fractal_noise(rng: np.random.Generator, side: int, octaves: int = 4, base_cells: int = 3) -> torch.Tensor:
    """(side, side) multi-octave value noise normalised to [0, 1]; amplitude halves with each octave."""
    total = torch.zeros(1, 1, side, side)
    persistence = float(rng.uniform(0.35, 0.65))
    for o in range(octaves):
        cells = base_cells * 2**o
        grid = torch.from_numpy(rng.standard_normal((1, 1, cells + 1, cells + 1)).astype(np.float32))
        total += persistence**o * F.interpolate(grid, size=(side, side), mode="bicubic", align_corners=True)
    total = total[0, 0]
    lo, hi = total.min(), total.max()
    return (total - lo) / (hi - lo).clamp_min(1e-6)


def random_palette(rng: np.random.Generator) -> torch.Tensor:
    """(K, 3) colours with K in 2..6: anchors of a piecewise-linear colour map."""
    k = int(rng.integers(2, 7))
    colours = rng.uniform(0, 1, (k, 3))
    if rng.random() < 0.3:  # a related palette: one hue family, varied lightness
        colours = np.clip(rng.uniform(0, 1, 3) * rng.uniform(0.2, 1.4, (k, 1)), 0, 1)
    return torch.from_numpy(colours.astype(np.float32))


def apply_palette(field: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Map a scalar field in [0, 1] (H, W) through ``palette`` (K, 3) -> (3, H, W)."""
    k = palette.shape[0]
    pos = field.clamp(0, 1) * (k - 1)
    i0 = pos.floor().long().clamp(max=k - 2)
    frac = (pos - i0)[..., None]
    rgb = palette[i0] * (1 - frac) + palette[i0 + 1] * frac
    return rgb.permute(2, 0, 1).contiguous()


def _coords(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = (torch.arange(side, dtype=torch.float32) + 0.5) / side
    return torch.meshgrid(t, t, indexing="ij")


def gradient_field(rng: np.random.Generator, side: int) -> torch.Tensor:
    """A linear or radial ramp in [0, 1] with a random direction or centre."""
    yy, xx = _coords(side)
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * np.pi)
        f = np.cos(a) * xx + np.sin(a) * yy
    else:
        cx, cy = rng.uniform(0, 1, 2)
        f = ((xx - cx) ** 2 + (yy - cy) ** 2).sqrt()
    lo, hi = f.min(), f.max()
    return (f - lo) / (hi - lo).clamp_min(1e-6)


def stripes_field(rng: np.random.Generator, side: int) -> torch.Tensor:
    """Soft periodic bands at a random angle and period, bent by low-frequency noise."""
    yy, xx = _coords(side)
    a = rng.uniform(0, np.pi)
    period = rng.uniform(0.08, 0.3)
    bend = fractal_noise(rng, side, octaves=2, base_cells=2) * rng.uniform(0.0, 0.3)
    phase = (np.cos(a) * xx + np.sin(a) * yy + bend) / period
    return 0.5 + 0.5 * torch.sin(2 * np.pi * phase)


def warp(image: torch.Tensor, rng: np.random.Generator, strength: float) -> torch.Tensor:
    """Displace (C, H, W) by a smooth random field of ``strength`` (fraction of the side)."""
    c, h, w = image.shape
    flow = torch.from_numpy(rng.standard_normal((1, 2, 4, 4)).astype(np.float32)) * strength
    flow = F.interpolate(flow, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    base = F.affine_grid(torch.eye(2, 3)[None], [1, c, h, w], align_corners=False)
    return F.grid_sample(
        image[None], base + flow, mode="bilinear", padding_mode="reflection", align_corners=False
    )[0]


def colour_transform(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random channel mixing near a permutation, gain/offset and gamma: new colours, same structure."""
    perm = np.eye(3)[rng.permutation(3)] if rng.random() < 0.5 else np.eye(3)
    mix = perm + rng.normal(0, 0.2, (3, 3))
    mixed = torch.einsum("ij,jhw->ihw", torch.from_numpy(mix.astype(np.float32)), image)
    gain = torch.from_numpy(rng.uniform(0.7, 1.3, (3, 1, 1)).astype(np.float32))
    offset = torch.from_numpy(rng.uniform(-0.15, 0.15, (3, 1, 1)).astype(np.float32))
    gamma = float(rng.uniform(0.7, 1.4))
    return (mixed * gain + offset).clamp(0, 1) ** gamma


def photo_crop(rng: np.random.Generator, side: int, photos: tuple[str, ...]) -> torch.Tensor:
    """A random crop of a bundled photo (scale, rotation, flip, warp, colour transform) at (3, side, side)."""
    from fpeval.world.assets import photo

    img = torch.from_numpy(photo(photos[int(rng.integers(len(photos)))])).permute(2, 0, 1)
    _, h, w = img.shape
    frac = rng.uniform(0.3, 1.0)  # crop side as a fraction of the photo's short side
    crop = int(frac * min(h, w))
    y0, x0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
    img = img[:, y0 : y0 + crop, x0 : x0 + crop]
    img = F.interpolate(img[None], size=(side, side), mode="bilinear", antialias=True, align_corners=False)[0]
    if rng.random() < 0.5:
        img = img.flip(-1)
    img = torch.rot90(img, int(rng.integers(4)), dims=(1, 2))
    img = warp(img, rng, float(rng.uniform(0.0, 0.08)))
    return colour_transform(img, rng) if rng.random() < 0.8 else img.clamp(0, 1)


@functools.cache
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    from pathlib import Path

    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


SHAPES = ("polygon", "ellipse", "star")


def draw_shape(
    draw, rng, kind: str, cx: float, cy: float, r: float, smallest: tuple, star_turn: bool
) -> None:
    """Fill a random polygon, ellipse or star of radius ``r`` at (cx, cy). ``smallest`` holds the least
    relative radius of a polygon's vertices, an ellipse's axes and a star's inner points."""
    if kind == "polygon":
        n = int(rng.integers(3, 8))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = r * rng.uniform(smallest[0], 1.0, n)
        draw.polygon(list(zip(cx + rad * np.cos(ang), cy + rad * np.sin(ang), strict=True)), fill=255)
    elif kind == "ellipse":
        rx, ry = r * rng.uniform(smallest[1], 1.0, 2)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    else:
        n = int(rng.integers(4, 9))
        ang = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False) + (rng.uniform(0, np.pi) if star_turn else 0)
        rad = np.where(np.arange(2 * n) % 2 == 0, r, r * rng.uniform(smallest[2], 0.6))
        draw.polygon(list(zip(cx + rad * np.cos(ang), cy + rad * np.sin(ang), strict=True)), fill=255)


def draw_overlays(rng: np.random.Generator, side: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` random (alpha (1, side, side), colour (3, side, side)) layers: shapes, strokes, glyphs.

    Masks are drawn at 2x and downsampled, so edges are anti-aliased. About a third of the fills are
    textured (noise through their own palette) rather than flat."""
    layers = []
    big = 2 * side
    for _ in range(count):
        mask = Image.new("L", (big, big), 0)
        draw = ImageDraw.Draw(mask)
        kind = rng.choice(("polygon", "ellipse", "star", "stroke", "glyph"))
        cx, cy = rng.uniform(0.1, 0.9, 2) * big
        r = rng.uniform(0.06, 0.25) * big
        if kind in SHAPES:
            draw_shape(draw, rng, kind, cx, cy, r, smallest=(0.5, 0.4, 0.3), star_turn=True)
        elif kind == "stroke":
            pts = np.cumsum(rng.normal(0, r / 2, (int(rng.integers(3, 7)), 2)), axis=0) + [cx, cy]
            draw.line([tuple(p) for p in pts], fill=255, width=int(rng.integers(2, 9)), joint="curve")
        else:
            text = "".join(rng.choice(list(GLYPHS), int(rng.integers(1, 4))))
            font = _font(FONTS[int(rng.integers(len(FONTS)))], int(rng.uniform(0.15, 0.45) * big))
            draw.text((cx - r, cy - r), text, fill=255, font=font)
        alpha = torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None, None]
        alpha = F.avg_pool2d(alpha, 2)[0]
        if rng.random() < 0.35:
            fill = apply_palette(fractal_noise(rng, side, octaves=3, base_cells=2), random_palette(rng))
        else:
            fill = (
                torch.tensor(_random_colour(rng), dtype=torch.float32).view(3, 1, 1).expand(3, side, side)
                / 255
            )
        layers.append((alpha, fill))
    return layers


def composite(base: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    for alpha, fill in layers:
        base = base * (1 - alpha) + fill * alpha
    return base


def background(rng: np.random.Generator, side: int, photos: tuple[str, ...]) -> tuple[str, torch.Tensor]:
    """(base kind, (3, side, side) image): a random base with 0-7 overlays of shapes, strokes and glyphs."""
    kind = BASES[int(rng.choice(len(BASES), p=(0.35, 0.15, 0.35, 0.15)))]
    if kind == "noise":
        field = fractal_noise(rng, side, octaves=int(rng.integers(2, 5)), base_cells=int(rng.integers(2, 5)))
        img = apply_palette(field, random_palette(rng))
    elif kind == "gradient":
        img = apply_palette(gradient_field(rng, side), random_palette(rng))
        img = img + (fractal_noise(rng, side, 3) - 0.5) * rng.uniform(0, 0.2)
    elif kind == "photo":
        img = photo_crop(rng, side, photos)
    else:
        img = apply_palette(stripes_field(rng, side), random_palette(rng))
    img = composite(img.clamp(0, 1), draw_overlays(rng, side, int(rng.integers(0, 8))))
    return kind, img.clamp(0, 1).float()


def sprite(rng: np.random.Generator, side: int, photos: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(rgb (3, side, side), alpha (1, side, side)) of a moving object: a shape, glyph or photo cut-out."""
    big = 2 * side
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    kind = rng.choice(("polygon", "ellipse", "star", "glyph"))
    c, r = big / 2, big * 0.45
    if kind in SHAPES:
        draw_shape(draw, rng, kind, c, c, r, smallest=(0.6, 0.5, 0.35), star_turn=False)
    else:
        font = _font(FONTS[int(rng.integers(len(FONTS)))], int(big * 0.8))
        draw.text((c, c), str(rng.choice(list(GLYPHS))), fill=255, font=font, anchor="mm")
    alpha = F.avg_pool2d(torch.from_numpy(np.asarray(mask, dtype=np.float32) / 255.0)[None, None], 2)[0]
    texture = rng.random()
    if texture < 0.4:
        rgb = torch.tensor(_random_colour(rng), dtype=torch.float32).view(3, 1, 1).expand(3, side, side) / 255
    elif texture < 0.75:
        rgb = apply_palette(fractal_noise(rng, side, octaves=3, base_cells=2), random_palette(rng))
    else:
        rgb = photo_crop(rng, side, photos)
    return rgb.contiguous(), alpha
