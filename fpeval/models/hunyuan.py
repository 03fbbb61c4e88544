"""HunyuanVideo-FramePack backend over diffusers' ``HunyuanVideoFramepackTransformer3DModel``.

The released transformer has fixed context inputs: clean k1 latents, k2 ("2x") and k4 ("4x")
history. A plan's groups are mapped onto them (k1 groups concatenated in plan order); a plan that
needs another kernel, a tail or no k2/k4 group gets an error naming the backend that supports it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch

from fpeval.sampling.contract import SectionContext

SUPPORTED_KERNELS = (1, 2, 4)


def context_problem(kernels: set[int], has_tail: bool) -> str | None:
    """Why the released transformer cannot take a context with these kernels / a tail, or None."""
    if has_tail:
        return (
            "the HunyuanVideo-FramePack transformer has no tail input (ta/tc); use a 'td' schedule here, "
            "or the FramePack-mini backend, which supports every tail option"
        )
    extra = sorted(set(kernels) - set(SUPPORTED_KERNELS))
    if extra:
        return (
            f"the HunyuanVideo-FramePack transformer only has k1, k2 and k4 inputs; this plan needs "
            f"{', '.join(f'k{k}' for k in extra)} (use the FramePack-mini backend for k8/k16 schedules)"
        )
    missing = [f"k{k}" for k in SUPPORTED_KERNELS if k not in kernels]
    if missing:
        return (
            f"the HunyuanVideo-FramePack transformer needs clean k1, k2 and k4 context; this plan has no "
            f"{', '.join(missing)} group (use the FramePack-mini backend for such schedules)"
        )
    return None


def attention_problem(config) -> str | None:
    """Why the released transformer cannot run a causal variant, or None: it attends bidirectionally
    and was never fine-tuned with a causal mask."""
    if not getattr(config, "causal", False):
        return None
    return (
        "the released HunyuanVideo-FramePack transformer attends bidirectionally and was never fine-tuned "
        "with block-causal attention, so it cannot run the causal variant; run it on a causally fine-tuned "
        "FramePack-mini checkpoint (fpeval train causal)"
    )


def history_problem(config) -> str | None:
    """Why the released transformer cannot run a variant's history policy, or None. It takes one
    timestep for all its tokens: noised history (DiffusionForcing, sigma_test > 0, and history guidance,
    whose unconditional side noises the history fully) would be read as clean frames."""
    policies = []
    if getattr(config, "sigma_test", 0.0) > 0:
        policies.append(f"DiffusionForcing history noise (sigma_test={config.sigma_test:g})")
    if getattr(config, "history_guidance", 1.0) != 1.0:
        policies.append(f"history guidance (scale {config.history_guidance:g})")
    if not policies:
        return None
    return (
        f"the released HunyuanVideo-FramePack transformer takes one timestep for all tokens, so it cannot "
        f"run {' and '.join(policies)}: noised history needs per-token timesteps it was never trained "
        "with; run this variant on FramePack-mini (model mini-v2-df) or on a DF-trained checkpoint"
    )


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
        # the first parameter's dtype: diffusers' ModelMixin.dtype walks every module on each call
        return next(self.transformer.parameters()).dtype

    def inputs(self, context: SectionContext) -> dict[str, torch.Tensor]:
        """Map a section's context groups onto the transformer's clean / 2x / 4x inputs."""
        problem = context_problem({g.kernel for g in context.groups}, context.tail is not None)
        if problem:
            raise ValueError(problem)
        by_kernel: dict[int, list] = {1: [], 2: [], 4: []}
        for g in context.groups:
            by_kernel[g.kernel].append(g)
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
        dtype = self.dtype
        if any(level > 0 for level in (context.group_sigmas or ())) or context.tail_sigma > 0:
            raise ValueError(
                "the released HunyuanVideo-FramePack transformer cannot take noised history (it has one "
                "timestep for all tokens); run DiffusionForcing and history guidance on FramePack-mini"
            )
        # context and conditioning are fixed for a whole section: map them once, not at every step
        key = ("hunyuan", id(cond), x.shape[0], dtype)  # cond and uncond (CFG) both stay alive all section
        fixed = context.cache.get(key)
        if fixed is None:
            fixed = dict(
                encoder_hidden_states=cond.prompt_embeds.to(dtype),
                encoder_attention_mask=cond.prompt_attention_mask.to(dtype),
                pooled_projections=cond.pooled_prompt_embeds.to(dtype),
                image_embeds=cond.image_embeds.to(dtype),
                indices_latents=context.section_indices,
                guidance=torch.full((x.shape[0],), cond.guidance_scale, dtype=dtype, device=x.device)
                * 1000.0,
                **self.inputs(context),
            )
            context.cache[key] = fixed
        out = self.transformer(
            hidden_states=x.to(dtype), timestep=(sigma * 1000.0).to(x.device), return_dict=False, **fixed
        )[0]
        return out.float()


# -- loading ------------------------------------------------------------------------------------
ENV_MODEL_DIR = "FPEVAL_HUNYUAN_FRAMEPACK"
PIPELINE_COMPONENTS = (
    "transformer",
    "vae",
    "scheduler",
    "text_encoder",
    "tokenizer",
    "text_encoder_2",
    "tokenizer_2",
    "image_encoder",
    "feature_extractor",
)
# The released weights live in three hub repositories; they are read from the local HF cache only.
HF_REPOS = {
    "base": "hunyuanvideo-community/HunyuanVideo",
    "transformer": "lllyasviel/FramePackI2V_HY",
    "siglip": "lllyasviel/flux_redux_bfl",
}


def read_model_index(folder: Path) -> dict:
    """The folder's ``model_index.json`` as a dict, or a clear error naming what is wrong with it."""
    import json

    index = folder / "model_index.json"
    try:
        spec = json.loads(index.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"model folder {folder} has no model_index.json (a diffusers pipeline folder has one)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{index} is not valid JSON ({e}); it should come from save_pretrained") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{index} must hold a JSON object naming the pipeline's components")
    return spec


def _missing_components(folder: Path) -> list[str]:
    spec = read_model_index(folder)
    missing = []
    for name in PIPELINE_COMPONENTS:
        entry = spec.get(name)
        if entry is None or entry == [None, None]:
            continue
        if not (folder / name).is_dir():
            missing.append(f"{name}/")
    if "transformer" not in spec:
        where = "the folder transformer/ exists but " if (folder / "transformer").is_dir() else ""
        missing.append(f"a 'transformer' entry in model_index.json ({where}the pipeline would not load it)")
    elif not (folder / "transformer").is_dir():
        missing.append("transformer/ (the FramePack transformer)")
    return sorted(set(missing))


def _null_components(folder: Path) -> list[str]:
    spec = read_model_index(folder)
    return [n for n in PIPELINE_COMPONENTS if spec.get(n) in (None, [None, None])]


def text_encoder_problem(folder: Path, has_prompt_embeds: bool) -> str | None:
    """Why a folder cannot condition on text, found before loading: it has no text encoders (left out
    on purpose to save memory) and no prompt embeddings were given."""
    absent = [n for n in _null_components(folder) if n.startswith(("text_encoder", "tokenizer"))]
    if absent and not has_prompt_embeds:
        return (
            f"{folder} has no {', '.join(absent)}: pass precomputed prompt embeddings with --prompt-embeds "
            "(safetensors with prompt_embeds, prompt_attention_mask, pooled_prompt_embeds)"
        )
    return None


def resolve_model_dir(path: str | Path | None = None) -> Path:
    """The local pipeline folder: ``path``, else ``$FPEVAL_HUNYUAN_FRAMEPACK``; a clear error if absent."""
    import os

    chosen = path if path is not None else os.environ.get(ENV_MODEL_DIR)
    if chosen is None:
        raise FileNotFoundError(
            "no HunyuanVideo-FramePack weights given: pass --model PATH (a diffusers pipeline folder with "
            f"model_index.json, transformer/, vae/, text encoders and image_encoder/) or set ${ENV_MODEL_DIR}; "
            f"or assemble one from the HF cache with HunyuanBackend.from_hf_cache() ({', '.join(HF_REPOS.values())})"
        )
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        from fpeval.models.shipped import MINI_MODELS

        raise FileNotFoundError(
            f"unknown model: no folder {folder} (from {'--model' if path is not None else '$' + ENV_MODEL_DIR}); "
            f"accepted: {', '.join(MINI_MODELS)}, a FramePack-mini .safetensors checkpoint, or a "
            "HunyuanVideo-FramePack pipeline folder"
        )
    missing = _missing_components(folder)
    if missing:
        raise FileNotFoundError(f"model folder {folder} is incomplete; missing: {', '.join(missing)}")
    return folder


OFFLOAD_MODES = ("none", "model", "sequential", "group")


def _configure(pipe, device: str | None, offload: str, vae_tiling: bool):
    """Place the pipeline: on ``device``, or with CPU offload for small GPUs.

    model: whole components move to the GPU when used; sequential: layer by layer (slowest, least
    memory); group: the transformer's leaf layers stream from CPU (diffusers group offloading) while the
    other components stay on ``device``.
    """
    if offload not in OFFLOAD_MODES:
        raise ValueError(f"offload must be one of {', '.join(OFFLOAD_MODES)}; got {offload!r}")
    if vae_tiling:
        pipe.vae.enable_tiling()
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    elif offload == "group":
        target = torch.device(device or "cpu")
        for name, component in pipe.components.items():
            if name != "transformer" and isinstance(component, torch.nn.Module):
                component.to(target)
        pipe.transformer.enable_group_offload(
            onload_device=target,
            offload_device=torch.device("cpu"),
            offload_type="leaf_level",
            use_stream=target.type == "cuda",
        )
    elif device is not None:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


class HunyuanBackend:
    """The real model: encode the start image with the VAE and SigLIP, condition on text, decode frames."""

    name = "hunyuan-framepack"
    fps = 30.0
    temporal_factor = 4
    image_multiple = 16

    def __init__(
        self,
        pipeline,
        guidance_scale: float = 10.0,
        prompt_embeds: HunyuanCondition | None = None,
        prompt_embeds_file: str | Path | None = None,
    ):
        self.pipe = pipeline
        self.denoiser = HunyuanFramepackDenoiser(pipeline.transformer)
        self.guidance_scale = guidance_scale
        self.prompt_embeds = prompt_embeds  # used when the pipeline has no text encoders
        self.prompt_embeds_file = Path(prompt_embeds_file) if prompt_embeds_file else None
        self.folder: Path | None = None  # the pipeline folder it was loaded from

    @functools.cached_property
    def provenance(self) -> dict:
        """Which model made a video: the folder and a digest of its file index, and the prompt
        embeddings file (with its SHA-256 prefix) when the conditioning came from one. Computed once
        per backend."""
        from fpeval.models.checkpoints import file_digest, folder_digest

        out = {"model": self.name}
        if self.folder is not None:
            out["folder"] = str(self.folder)
            out["folder_index_sha256"] = folder_digest(self.folder)
        if self.prompt_embeds_file is not None:
            out["prompt_embeds"] = {
                "file": str(self.prompt_embeds_file),
                "sha256": file_digest(self.prompt_embeds_file),
            }
        return out

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        *,
        dtype: torch.dtype | None = None,
        device: str | None = None,
        offload: str = "none",
        vae_tiling: bool = True,
        **kwargs,
    ) -> HunyuanBackend:
        """Load a local pipeline folder (offline). bf16 on GPU by default, fp32 on CPU."""
        from diffusers import HunyuanVideoFramepackPipeline

        folder = resolve_model_dir(path)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if dtype is None:
            dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        if offload not in OFFLOAD_MODES:
            raise ValueError(f"offload must be one of {', '.join(OFFLOAD_MODES)}; got {offload!r}")
        problem = text_encoder_problem(folder, kwargs.get("prompt_embeds") is not None)
        if problem:
            raise ValueError(problem)
        absent = {name: None for name in _null_components(folder)}  # e.g. text encoders left out on purpose
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        bars = diffusers_logging.is_progress_bar_enabled(), transformers_logging.is_progress_bar_enabled()
        diffusers_logging.disable_progress_bar()  # stderr is for errors: one line when loading fails
        transformers_logging.disable_progress_bar()
        try:
            pipe = HunyuanVideoFramepackPipeline.from_pretrained(
                str(folder), torch_dtype=dtype, local_files_only=True, **absent
            )
        except Exception as e:  # noqa: BLE001 - diffusers raises many kinds; the user needs one line
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ValueError(
                f"could not load the pipeline from {folder}: {type(e).__name__}: {first[:300]} "
                "(a corrupt or truncated weights file? re-save the folder with save_pretrained)"
            ) from None
        finally:
            if bars[0]:
                diffusers_logging.enable_progress_bar()
            if bars[1]:
                transformers_logging.enable_progress_bar()
        backend = cls(_configure(pipe, device, offload, vae_tiling), **kwargs)
        backend.folder = folder
        return backend

    @classmethod
    def from_hf_cache(
        cls, *, dtype=None, device=None, offload: str = "none", vae_tiling: bool = True, **kwargs
    ):
        """Assemble the released model from the three hub repositories already in the local HF cache."""
        from diffusers import HunyuanVideoFramepackPipeline, HunyuanVideoFramepackTransformer3DModel
        from huggingface_hub import snapshot_download
        from transformers import SiglipImageProcessor, SiglipVisionModel

        paths, missing = {}, []
        for key, repo in HF_REPOS.items():
            try:
                paths[key] = snapshot_download(repo, local_files_only=True)
            except Exception:  # noqa: BLE001 - any failure here means "not in the cache"
                missing.append(repo)
        if missing:
            raise FileNotFoundError(
                f"not in the local HF cache: {', '.join(missing)} (HF_HOME / HF_HUB_CACHE); download them first, "
                f"or pass a pipeline folder with --model / ${ENV_MODEL_DIR}"
            )
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
        transformer = HunyuanVideoFramepackTransformer3DModel.from_pretrained(
            paths["transformer"], torch_dtype=dtype
        )
        image_encoder = SiglipVisionModel.from_pretrained(
            paths["siglip"], subfolder="image_encoder", torch_dtype=dtype
        )
        feature_extractor = SiglipImageProcessor.from_pretrained(
            paths["siglip"], subfolder="feature_extractor"
        )
        pipe = HunyuanVideoFramepackPipeline.from_pretrained(
            paths["base"],
            transformer=transformer,
            image_encoder=image_encoder,
            feature_extractor=feature_extractor,
            torch_dtype=dtype,
            local_files_only=True,
        )
        return cls(_configure(pipe, device, offload, vae_tiling), **kwargs)

    @property
    def device(self) -> torch.device:
        return self.pipe._execution_device

    def encode_images(self, images: torch.Tensor, generators) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> VAE latents (B, C, 1, h, w), one sample per item with its generator."""
        x = images * 2 - 1
        return torch.cat(
            [
                self.pipe.prepare_image_latents(
                    x[i : i + 1], dtype=torch.float32, device=self.device, generator=g
                )
                for i, g in enumerate(generators)
            ]
        )

    def condition(self, prompts, images: torch.Tensor, negative: bool = False) -> HunyuanCondition:
        image_embeds = self.pipe.encode_image(images * 2 - 1, device=self.device).float()
        if self.pipe.text_encoder is None or self.pipe.tokenizer is None:
            if self.prompt_embeds is None:
                raise ValueError(
                    "this pipeline has no text encoders/tokenizers: pass prompt embeddings "
                    "(HunyuanBackend(prompt_embeds=...) or --prompt-embeds FILE.safetensors)"
                )
            pe = self.prompt_embeds
            b = images.shape[0]
            return HunyuanCondition(
                pe.prompt_embeds.expand(b, -1, -1),
                pe.prompt_attention_mask.expand(b, -1),
                pe.pooled_prompt_embeds.expand(b, -1),
                image_embeds,
                self.guidance_scale,
            )
        embeds, pooled, mask = self.pipe.encode_prompt(prompt=list(prompts), device=self.device)
        return HunyuanCondition(embeds, mask, pooled, image_embeds, self.guidance_scale)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, C, T, h, w) -> frames (B, F, H, W, 3) in [0, 1]."""
        vae = self.pipe.vae
        video = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
        return ((video.float() + 1) / 2).permute(0, 2, 3, 4, 1)


def load_prompt_embeds(path: str | Path) -> HunyuanCondition:
    """Prompt embeddings saved as safetensors with keys prompt_embeds, prompt_attention_mask, pooled_prompt_embeds."""
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"prompt-embeds file not found: {p}")
    t = load_file(str(p))
    need = ("prompt_embeds", "prompt_attention_mask", "pooled_prompt_embeds")
    missing = [k for k in need if k not in t]
    if missing:
        raise ValueError(f"{p} lacks {', '.join(missing)}; it needs the tensors {', '.join(need)}")
    return HunyuanCondition(
        t["prompt_embeds"], t["prompt_attention_mask"], t["pooled_prompt_embeds"], torch.empty(0)
    )
