"""Tiny, offline HunyuanVideo-FramePack components (random weights) shared by the backend tests."""

import numpy as np
import torch
from diffusers import (
    AutoencoderKLHunyuanVideo,
    FlowMatchEulerDiscreteScheduler,
    HunyuanVideoFramepackPipeline,
    HunyuanVideoFramepackTransformer3DModel,
)
from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

# diffusers' tiny test configuration of the FramePack transformer
TINY_TRANSFORMER = dict(
    in_channels=4,
    out_channels=4,
    num_attention_heads=2,
    attention_head_dim=10,
    num_layers=1,
    num_single_layers=1,
    num_refiner_layers=1,
    patch_size=2,
    patch_size_t=1,
    guidance_embeds=True,
    text_embed_dim=16,
    pooled_projection_dim=8,
    rope_axes_dim=(2, 4, 4),
    has_image_proj=True,
    image_proj_dim=32,
    has_clean_x_embedder=True,
)


def random_transformer(**overrides) -> HunyuanVideoFramepackTransformer3DModel:
    """The FramePack transformer with ``TINY_TRANSFORMER`` updated by ``overrides``, random weights (seed 0)."""
    torch.manual_seed(0)
    return HunyuanVideoFramepackTransformer3DModel(**{**TINY_TRANSFORMER, **overrides}).eval()


def tiny_transformer(image_proj_dim: int = 32) -> HunyuanVideoFramepackTransformer3DModel:
    """diffusers' tiny test configuration of the FramePack transformer, random weights (seed 0)."""
    return random_transformer(image_proj_dim=image_proj_dim)


def large_transformer(
    num_layers: int = 2, num_single_layers: int = 4
) -> HunyuanVideoFramepackTransformer3DModel:
    """The real model's width (24 heads x 128, 16 latent channels, RoPE axes 16/56/56) with few layers, random
    weights: per-step work of the size a GPU sees, without the 13B download."""
    return random_transformer(
        in_channels=16,
        out_channels=16,
        num_attention_heads=24,
        attention_head_dim=128,
        num_layers=num_layers,
        num_single_layers=num_single_layers,
        rope_axes_dim=(16, 56, 56),
    )


def tiny_pipeline(
    shift: float = 7.0, transformer: HunyuanVideoFramepackTransformer3DModel | None = None
) -> HunyuanVideoFramepackPipeline:
    """Tiny VAE + SigLIP around ``transformer`` (default: the tiny one); the VAE's latent channels follow it."""
    transformer = transformer if transformer is not None else tiny_transformer()
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=transformer.config.in_channels,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        act_fn="silu",
        norm_num_groups=4,
        scaling_factor=0.476986,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    ).eval()
    torch.manual_seed(0)
    image_encoder = SiglipVisionModel(
        SiglipVisionConfig(
            hidden_size=transformer.config.image_proj_dim,  # the embedding width the transformer takes
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            image_size=32,
            patch_size=8,
        )
    ).eval()
    feature_extractor = SiglipImageProcessor(size={"height": 32, "width": 32})
    return HunyuanVideoFramepackPipeline(
        text_encoder=None,
        tokenizer=None,
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=shift),
        text_encoder_2=None,
        tokenizer_2=None,
        image_encoder=image_encoder,
        feature_extractor=feature_extractor,
    )


def tiny_inputs(height=32, width=32, seed=0, batch=1):
    g = torch.Generator().manual_seed(seed)
    return dict(
        image=torch.rand(batch, 3, height, width, generator=g) * 2 - 1,
        prompt_embeds=torch.randn(batch, 6, 16, generator=g),
        prompt_attention_mask=torch.ones(batch, 6),
        pooled_prompt_embeds=torch.randn(batch, 8, generator=g),
        image_latents=torch.randn(batch, 4, 1, height // 8, width // 8, generator=g),
        last_image_latents=torch.randn(batch, 4, 1, height // 8, width // 8, generator=g),
    )


__all__ = ["large_transformer", "np", "tiny_inputs", "tiny_pipeline", "tiny_transformer"]
