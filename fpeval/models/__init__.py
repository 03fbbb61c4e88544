"""Backends implementing the ``fpeval.sampling.engine.Denoiser`` protocol, loadable by name.

``load("mini-v2")`` / ``load("mini-v2-df")`` / ``load("mini-v2-discrete")`` return the FramePack-mini
checkpoints shipped in the package; ``load(PATH)`` loads a HunyuanVideo-FramePack pipeline folder.
"""

from __future__ import annotations

from pathlib import Path

from fpeval.models.shipped import MINI_MODELS, WEIGHTS, codebook_path, mini_files

__all__ = [
    "MINI_MODELS",
    "WEIGHTS",
    "card_autoencoder",
    "codebook_path",
    "load",
    "mini_files",
    "plan_problem",
]


def card_autoencoder(checkpoint: str | Path) -> Path:
    """The autoencoder a denoiser checkpoint was trained with, as its card names it (and, for cards
    that record it, with the same digest): looked up beside the checkpoint, then among the shipped
    weights."""
    from fpeval.models.checkpoints import find_weights, read_card

    checkpoint = Path(checkpoint)
    try:
        card = read_card(checkpoint)
    except (OSError, ValueError):
        card = {}
    name, digest = card.get("autoencoder"), card.get("autoencoder_digest")
    if not name:
        raise ValueError(f"{checkpoint}'s card names no autoencoder; pass the autoencoder's path explicitly")
    found = find_weights(name, digest, (checkpoint.parent, WEIGHTS))
    if found is not None:
        return found
    raise ValueError(
        f"{checkpoint} was trained with autoencoder {name}"
        + (f" (digest {digest})" if digest else "")
        + f", found neither beside it nor in {WEIGHTS}; pass the autoencoder's path explicitly"
    )


def load(name_or_path: str, **kwargs):
    """A backend by name (shipped FramePack-mini checkpoints) or by path (a HunyuanVideo-FramePack folder)."""
    if name_or_path in MINI_MODELS:
        from fpeval.models.mini_backend import MiniBackend

        denoiser, autoencoder = mini_files(name_or_path)
        return MiniBackend.from_files(denoiser, autoencoder, name=name_or_path, **kwargs)
    path = Path(name_or_path)
    if path.suffix == ".safetensors":
        from fpeval.models.mini_backend import MiniBackend

        autoencoder = kwargs.pop("autoencoder", None) or card_autoencoder(path)
        return MiniBackend.from_files(path, autoencoder, **kwargs)
    if not path.exists() and "/" not in name_or_path:
        raise ValueError(
            f"unknown model {name_or_path!r}; accepted: {', '.join(MINI_MODELS)}, a FramePack-mini .safetensors "
            "checkpoint, or a HunyuanVideo-FramePack pipeline folder"
        )
    from fpeval.models.hunyuan import HunyuanBackend

    return HunyuanBackend.from_pretrained(path, **kwargs)


def mini_problem(model: str, config) -> str | None:
    """Why a FramePack-mini checkpoint cannot serve the variant ``config``, or None (reads the card only)."""
    if not getattr(config, "causal", False):
        return None
    from fpeval.models.checkpoints import read_card

    path = mini_files(model)[0] if model in MINI_MODELS else Path(model)
    try:
        causal = read_card(path).get("config", {}).get("causal", False)
    except (OSError, ValueError):
        return None  # a missing or unreadable checkpoint is reported where it is loaded
    if causal:
        return None
    causal_models = [n for n in MINI_MODELS if n.endswith("-causal")]
    hint = (
        f"use {' or '.join(causal_models)}" if causal_models else "fine-tune one with `fpeval train causal`"
    )
    return (
        f"the causal variant needs a model fine-tuned with block-causal attention; {model} was not ({hint})"
    )


def plan_problem(model: str, plan, config=None) -> str | None:
    """Why ``model`` cannot run ``plan`` (a ``fpeval.plan.variants.Plan``) with the variant ``config``
    (its history policies), or None. Needs no weights."""
    if model in MINI_MODELS or Path(model).suffix == ".safetensors":
        # FramePack-mini packs every kernel and tail and takes per-token noise levels
        return mini_problem(model, config) if config is not None else None
    from fpeval.models.hunyuan import attention_problem, context_problem, history_problem

    if config is not None and (problem := attention_problem(config) or history_problem(config)):
        return problem

    for step in plan.steps:
        kernels = {spec.kernel for spec in step.context if spec.tail is None}
        problem = context_problem(kernels, any(spec.tail for spec in step.context))
        if problem:
            return f"{problem} (schedule {plan.schedule}, step {step.index})"
    return None
