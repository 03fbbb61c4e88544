"""Generation API: image (+ prompt) -> latent video -> frames, with per-frame metadata.

``generate(backend, variant, image, ...)`` works with any backend that offers ``denoiser``,
``encode_images``, ``condition`` and ``decode`` (see ``fpeval.models``); the variant logic is the
shared plan + engine, never a backend's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from fpeval.images import to_tensor
from fpeval.plan.variants import VariantConfig, variant
from fpeval.sampling.engine import Denoiser, generate_latents


class Backend(Protocol):
    """What ``generate`` needs from a model backend."""

    name: str
    denoiser: Denoiser
    fps: float
    temporal_factor: int  # pixel frames per latent frame after the first
    image_multiple: int

    def encode_images(self, images: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor: ...

    def condition(self, prompts: Sequence[str], images: torch.Tensor, negative: bool = False) -> Any: ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...


@dataclass
class GenerationOutput:
    latents: torch.Tensor  # (B, C, T, h, w)
    frames: np.ndarray | None  # (B, F, H, W, 3) uint8, None when decode=False
    metadata: list[dict] = field(default_factory=list)  # one per video


def pixel_frame_map(latent_map: Sequence[int], temporal_factor: int) -> list[int]:
    """Expand a per-latent-frame label to pixel frames: latent 0 -> frame 0, latent j -> frames 4(j-1)+1 .. 4j."""
    out = [latent_map[0]]
    for label in latent_map[1:]:
        out += [label] * temporal_factor
    return out


@torch.no_grad()
def generate(
    backend: Backend,
    config: VariantConfig | str,
    image,
    prompt: str | Sequence[str] = "",
    *,
    sections: int,
    seeds: Sequence[int] = (0,),
    steps: int = 25,
    solver: str = "unipc",
    shift: float | None = None,
    end_image=None,
    codebook=None,
    cfg_scale: float = 1.0,
    negative_prompt: str = "",
    decode: bool = True,
) -> GenerationOutput:
    """Generate one video per seed from ``image`` (one image, or a list with one per seed)."""
    config = variant(config) if isinstance(config, str) else config
    if codebook is None and config.discrete:
        codebook = getattr(backend, "codebook", None)  # a +D checkpoint ships its codebook
    seeds = [int(s) for s in seeds]
    images, prompts = _batch(backend, image, prompt, seeds)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    start = backend.encode_images(images, generators)
    end = None
    if end_image is not None:
        end_images = to_tensor(end_image, backend.image_multiple)[None].repeat(len(seeds), 1, 1, 1)
        if end_images.shape != images.shape:
            raise ValueError(
                f"end image size {tuple(end_images.shape[-2:])} differs from start image {tuple(images.shape[-2:])}"
            )
        end = backend.encode_images(end_images, generators)
    cond = backend.condition(prompts, images)
    uncond = (
        backend.condition([negative_prompt] * len(seeds), images, negative=True) if cfg_scale != 1.0 else None
    )
    result = generate_latents(
        backend.denoiser,
        config,
        start,
        cond,
        sections=sections,
        generators=generators,
        steps=steps,
        solver=solver,
        shift=shift,
        end_latents=end,
        codebook=codebook,
        cfg_scale=cfg_scale,
        uncond=uncond,
    )
    frames = None
    if decode:
        video = backend.decode(result.latents)  # (B, F, H, W, 3) in [0, 1]
        frames = (video.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    settings = dict(sections=sections, steps=steps, solver=solver, shift=shift, cfg_scale=cfg_scale)
    meta = _sidecars(backend, config, result, seeds, prompts, settings)
    return GenerationOutput(result.latents, frames, meta)


def _batch(backend: Backend, image, prompt, seeds: list[int]) -> tuple[torch.Tensor, list[str]]:
    """One start image and one prompt per seed (a single image or prompt is shared by all)."""
    if not seeds:
        raise ValueError("give at least one seed")
    b = len(seeds)
    prompts = [prompt] * b if isinstance(prompt, str) else list(prompt)
    if len(prompts) != b:
        raise ValueError(f"got {len(prompts)} prompts for {b} seeds; give one prompt or one per seed")
    if isinstance(image, (list, tuple)):
        if len(image) != b:
            raise ValueError(f"got {len(image)} images for {b} seeds; give one image or one per seed")
        images = torch.stack([to_tensor(im, backend.image_multiple) for im in image])
        if len({tuple(im.shape) for im in images}) != 1:
            raise ValueError("all images must have the same size")
    else:
        images = to_tensor(image, backend.image_multiple)[None].repeat(b, 1, 1, 1)
    return images, prompts


def _sidecars(backend: Backend, config: VariantConfig, result, seeds, prompts, settings: dict) -> list[dict]:
    """Per video: how it was made (variant, plan, sampler, seed, provenance) and which section and
    plan step produced each pixel frame."""
    from fpeval import __version__

    tf = backend.temporal_factor
    provenance = getattr(backend, "provenance", {"model": backend.name})
    from_embeddings = getattr(backend, "prompt_embeds_file", None) is not None
    return [
        dict(
            backend=backend.name,
            variant=config.label,
            variant_config=config.model_dump(),
            schedule=result.plan.schedule,
            seed=seed,
            prompt=None if from_embeddings else prompts[i],  # the embeddings file is in provenance
            sections=settings["sections"],
            steps=settings["steps"],
            solver=settings["solver"],
            shift=settings["shift"],
            cfg_scale=settings["cfg_scale"],
            fps=backend.fps,
            latent_frames=result.latents.shape[2],
            frame_section=pixel_frame_map(result.section_of_frame, tf),
            frame_step=pixel_frame_map(result.step_of_frame, tf),
            step_seconds=result.step_seconds,
            provenance=provenance,
            fpeval_version=__version__,
        )
        for i, seed in enumerate(seeds)
    ]
