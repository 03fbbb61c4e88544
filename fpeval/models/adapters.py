"""Low-rank adapters (LoRA) for FramePack-mini: fine-tune a shipped model by training W + (alpha / r) B A
on its transformer's linear layers, ship only A and B, and merge them into the base weights on load.

Built on ``torch.nn.utils.parametrize`` (the base weight stays frozen, the delta is a parametrization),
so an adapted model is an ordinary ``FramePackMini`` once merged. A fine-tune that changes little
(e.g. switching attention to block-causal) costs a few hundred kB instead of a whole checkpoint.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

# the transformer blocks' linear layers; embeddings, modulation and output heads stay as they are
TARGETS = r"blocks\.\d+\.(qkv|proj|mlp\.0|mlp\.2)"
PARAMETRIZED = ".parametrizations.weight."


class LowRankDelta(nn.Module):
    """The parametrization W -> W + (alpha / rank) B A, with B at zero so the adapted model starts as the
    base one (A is drawn as LoRA draws it)."""

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float):
        super().__init__()
        self.scale = alpha / rank
        self.A = nn.Parameter(torch.empty(rank, in_features))
        self.B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.A, a=5**0.5)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scale * (self.B @ self.A)


def target_layers(model: nn.Module) -> dict[str, nn.Linear]:
    """The linear layers an adapter attaches to, by module name."""
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and re.fullmatch(TARGETS, name)
    }


def add_adapters(model: nn.Module, rank: int, alpha: float | None = None) -> nn.Module:
    """Attach a ``LowRankDelta`` to every target layer and freeze everything else (in place)."""
    if rank < 1:
        raise ValueError(f"adapter rank must be >= 1, got {rank}")
    layers = target_layers(model)
    if not layers:
        raise ValueError(f"no layer of {type(model).__name__} matches the adapter targets {TARGETS!r}")
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in layers.values():
        delta = LowRankDelta(layer.out_features, layer.in_features, rank, float(alpha or rank))
        parametrize.register_parametrization(layer, "weight", delta)
    return model


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapters' A and B, keyed as in the adapted model's state dict."""
    return {
        k: v.detach().cpu().clone()
        for k, v in model.state_dict().items()
        if PARAMETRIZED in k and not k.endswith(".original")
    }


def merge_adapters(model: nn.Module) -> nn.Module:
    """Fold every adapter into its layer's weight and remove the parametrizations (in place)."""
    for layer in target_layers(model).values():
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def load_adapted(path: Path, card: dict, state: dict[str, torch.Tensor], build) -> nn.Module:
    """The base model named by an adapter card, with the adapter ``state`` merged into it.

    ``build(base_path)`` loads the base checkpoint; the base must match the card's digest, so an adapter
    is never merged into weights other than those it was trained on."""
    from fpeval.models.checkpoints import find_weights
    from fpeval.models.shipped import WEIGHTS

    spec = card["adapter"]
    base = find_weights(spec["base"], spec["base_digest"], (path.parent, WEIGHTS))
    if base is None:
        raise ValueError(
            f"{path} is a low-rank adapter of {spec['base']} (digest {spec['base_digest']}), found neither "
            f"beside it nor in {WEIGHTS}; put that checkpoint beside the adapter"
        )
    model = add_adapters(build(base), spec["rank"], spec["alpha"])
    expected = set(adapter_state(model))
    if set(state) != expected:
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(
            f"adapter {path} does not fit its base: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    model.load_state_dict(state, strict=False)
    return merge_adapters(model)
