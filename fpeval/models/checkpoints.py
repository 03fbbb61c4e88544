"""Reading checkpoints (safetensors weights + JSON card) with clear errors for missing or corrupted files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch


def write_checkpoint(
    path: str | Path,
    state: dict[str, torch.Tensor],
    config: dict,
    card: dict | None = None,
    storage_dtype: torch.dtype | None = None,
) -> Path:
    """Weights as safetensors and, beside them, ``<name>.json`` with the config and the model card.

    ``storage_dtype`` (e.g. ``torch.float16``) stores floating tensors at lower precision to keep the
    shipped files small; :func:`read_checkpoint` returns them as float32 again.
    """
    from safetensors.torch import save_file

    from fpeval.artifacts import atomic_path, write_text

    path = Path(path)
    if storage_dtype is not None:
        state = {k: v.to(storage_dtype) if v.is_floating_point() else v for k, v in state.items()}
        card = {**(card or {}), "storage_dtype": str(storage_dtype).removeprefix("torch.")}
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    write_text(path.with_suffix(".json"), json.dumps({"config": config, **(card or {})}, indent=2))
    return path


def read_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config, state_dict) of ``path`` (``.safetensors``) and its ``.json`` card."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    card = path.with_suffix(".json")
    for p in (path, card):
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {p}")
    try:
        meta = json.loads(card.read_text())
        config = meta["config"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"checkpoint card {card} is corrupted or has no 'config': {e}") from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"checkpoint {path} is not a readable safetensors file: {e}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}  # fp16 storage
    return config, state


def file_digest(path: str | Path) -> str:
    """First 16 hex digits of a file's SHA-256: names a weights file's exact contents on a card."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def folder_digest(folder: str | Path) -> str:
    """A digest of a model folder's index: every file's relative path and size (hashing the weights
    themselves, tens of GB for the real model, would take minutes)."""
    folder = Path(folder)
    index = sorted(f"{f.relative_to(folder)}:{f.stat().st_size}" for f in folder.rglob("*") if f.is_file())
    return hashlib.sha256("\n".join(index).encode()).hexdigest()[:16]


def read_card(path: str | Path) -> dict:
    """The JSON card beside a checkpoint, without its weights."""
    card = Path(path).with_suffix(".json")
    if not card.is_file():
        raise FileNotFoundError(f"checkpoint card not found: {card}")
    return json.loads(card.read_text())


def find_weights(name: str, digest: str | None, folders) -> Path | None:
    """The first ``folder / name`` that exists and, when ``digest`` is given, has that digest (a card
    names the exact file it was made with: an autoencoder, an adapter's base)."""
    for folder in folders:
        candidate = Path(folder) / name
        if candidate.is_file() and (digest is None or file_digest(candidate) == digest):
            return candidate
    return None
