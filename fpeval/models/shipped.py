"""The FramePack-mini checkpoints shipped in the package: names, files and the +D codebook rule."""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent / "weights"
# shipped name -> (denoiser file stem, frame autoencoder file stem)
MINI_MODELS = {  # trained on the unbounded-appearance world with the 4x autoencoder (see each card)
    "mini-v2": ("mini-v2", "mini-v2-ae"),  # base recipe
    "mini-v2-df": ("mini-v2-df", "mini-v2-ae"),  # DiffusionForcing, random sigma_train
    "mini-v2-df-0.1": ("mini-v2-df-0.1", "mini-v2-ae"),  # DiffusionForcing, sigma_train = 0.1 (adapters)
    "mini-v2-discrete": ("mini-v2-discrete", "mini-v2-ae"),  # +D, with its K = 128 codebook
    "mini-v2-causal": ("mini-v2-causal", "mini-v2-ae"),  # block-causal attention (adapters)
}


def codebook_path(checkpoint: str | Path) -> Path:
    """Where the +D codebook of a denoiser checkpoint lives: ``<stem>-codebook.safetensors`` beside it."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + "-codebook.safetensors")


def mini_files(name: str) -> tuple[Path, Path]:
    """(denoiser, autoencoder) checkpoint paths of a shipped FramePack-mini name."""
    if name not in MINI_MODELS:
        raise ValueError(f"unknown model {name!r}; accepted: {', '.join(MINI_MODELS)}")
    denoiser, autoencoder = MINI_MODELS[name]
    return WEIGHTS / f"{denoiser}.safetensors", WEIGHTS / f"{autoencoder}.safetensors"
