"""Backends implementing the ``fpeval.engine.Denoiser`` protocol, loadable by name.

``load("mini")`` / ``load("mini-df")`` / ``load("mini-discrete")`` return the FramePack-mini
checkpoints shipped in the package; ``load(PATH)`` loads a HunyuanVideo-FramePack pipeline folder.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent / "weights"
MINI_MODELS = {"mini": "mini", "mini-df": "mini-df", "mini-discrete": "mini-discrete"}


def load(name_or_path: str, **kwargs):
    """A backend by name (shipped FramePack-mini checkpoints) or by path (a HunyuanVideo-FramePack folder)."""
    if name_or_path in MINI_MODELS:
        from fpeval.models.mini_backend import MiniBackend

        stem = MINI_MODELS[name_or_path]
        return MiniBackend.from_files(
            WEIGHTS / f"{stem}.safetensors", WEIGHTS / "mini-ae.safetensors", name=name_or_path, **kwargs
        )
    path = Path(name_or_path)
    if path.suffix == ".safetensors":
        from fpeval.models.mini_backend import MiniBackend

        return MiniBackend.from_files(
            path, kwargs.pop("autoencoder", WEIGHTS / "mini-ae.safetensors"), **kwargs
        )
    if not path.exists() and "/" not in name_or_path:
        raise ValueError(
            f"unknown model {name_or_path!r}; accepted: {', '.join(MINI_MODELS)}, a FramePack-mini .safetensors "
            "checkpoint, or a HunyuanVideo-FramePack pipeline folder"
        )
    from fpeval.models.hunyuan import HunyuanBackend

    return HunyuanBackend.from_pretrained(path, **kwargs)
