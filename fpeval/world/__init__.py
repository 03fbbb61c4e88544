"""A procedural video world built from package-shipped images: the training and evaluation data of FramePack-mini."""

from fpeval.world.clips import (
    FPS,
    SIZE,
    ClipSpec,
    WorldClips,
    clip,
    heldout_start_images,
    render,
    sample_spec,
)

__all__ = ["FPS", "SIZE", "ClipSpec", "WorldClips", "clip", "heldout_start_images", "render", "sample_spec"]
