"""HunyuanVideo-FramePack backend over diffusers' ``HunyuanVideoFramepackTransformer3DModel``.

The released transformer has fixed context inputs: clean k1 latents, k2 ("2x") and k4 ("4x")
history. A plan's groups are mapped onto them (k1 groups concatenated in plan order); a plan that
needs another kernel, a tail or no k2/k4 group gets an error naming the backend that supports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fpeval.engine import SectionContext

SUPPORTED_KERNELS = (1, 2, 4)


@dataclass
class HunyuanCondition:
    """Text and image conditioning of the FramePack transformer, already encoded."""

    prompt_embeds: torch.Tensor  # (B, L, text_dim)
    prompt_attention_mask: torch.Tensor  # (B, L)
    pooled_prompt_embeds: torch.Tensor  # (B, pooled_dim)
    image_embeds: torch.Tensor  # (B, N, image_dim) SigLIP features
    guidance_scale: float = 10.0  # distilled guidance, embedded as guidance_scale * 1000


class HunyuanFramepackDenoiser:
    """``Denoiser`` over a diffusers FramePack transformer: velocity for a section given its packed context."""

    def __init__(self, transformer):
        cfg = transformer.config
        if not getattr(cfg, "has_clean_x_embedder", False) or not getattr(cfg, "has_image_proj", False):
            raise ValueError(
                "the transformer needs has_clean_x_embedder=True and has_image_proj=True (a FramePack checkpoint)"
            )
        self.transformer = transformer

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.dtype

    def inputs(self, context: SectionContext) -> dict[str, torch.Tensor]:
        """Map a section's context groups onto the transformer's clean / 2x / 4x inputs."""
        if context.tail is not None:
            raise ValueError(
                "the HunyuanVideo-FramePack transformer has no tail input (ta/tc); use a 'td' schedule here, "
                "or the FramePack-mini backend, which supports every tail option"
            )
        by_kernel: dict[int, list] = {1: [], 2: [], 4: []}
        for g in context.groups:
            if g.kernel not in SUPPORTED_KERNELS:
                raise ValueError(
                    f"the HunyuanVideo-FramePack transformer only has k1, k2 and k4 inputs; this plan needs k{g.kernel} "
                    "(use the FramePack-mini backend for k8/k16 schedules)"
                )
            by_kernel[g.kernel].append(g)
        missing = [f"k{k}" for k, gs in by_kernel.items() if not gs]
        if missing:
            raise ValueError(
                f"the HunyuanVideo-FramePack transformer needs clean k1, k2 and k4 context; this plan has no "
                f"{', '.join(missing)} group (use the FramePack-mini backend for such schedules)"
            )
        dtype = self.dtype

        def cat(k):
            gs = by_kernel[k]
            return (
                torch.cat([g.latents for g in gs], dim=2).to(dtype),
                torch.cat([torch.as_tensor(g.indices) for g in gs]),
            )

        (c1, i1), (c2, i2), (c4, i4) = cat(1), cat(2), cat(4)
        return dict(
            latents_clean=c1,
            indices_latents_clean=i1,
            latents_history_2x=c2,
            indices_latents_history_2x=i2,
            latents_history_4x=c4,
            indices_latents_history_4x=i4,
        )

    def __call__(
        self, x: torch.Tensor, sigma: torch.Tensor, context: SectionContext, cond: HunyuanCondition
    ) -> torch.Tensor:
        b = x.shape[0]
        guidance = torch.full((b,), cond.guidance_scale, dtype=self.dtype, device=x.device) * 1000.0
        out = self.transformer(
            hidden_states=x.to(self.dtype),
            timestep=(sigma * 1000.0).to(x.device),
            encoder_hidden_states=cond.prompt_embeds.to(self.dtype),
            encoder_attention_mask=cond.prompt_attention_mask.to(self.dtype),
            pooled_projections=cond.pooled_prompt_embeds.to(self.dtype),
            image_embeds=cond.image_embeds.to(self.dtype),
            indices_latents=context.section_indices,
            guidance=guidance,
            return_dict=False,
            **self.inputs(context),
        )[0]
        return out.float()
