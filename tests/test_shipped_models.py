"""The checkpoints shipped in the package load by name and generate with every variant."""

import json

import pytest
import torch

from fpeval import models
from fpeval.generation.generate import generate
from fpeval.plan.variants import VARIANTS
from fpeval.sampling.history import Codebook
from fpeval.world import clip, heldout_start_images

SHIPPED = sorted(
    p.stem for p in models.WEIGHTS.glob("mini*.safetensors") if not p.stem.endswith(("-ae", "-codebook"))
)


def test_every_shipped_name_resolves_to_files_and_v2_uses_its_own_autoencoder():
    for name in models.MINI_MODELS:
        denoiser, autoencoder = models.mini_files(name)
        assert denoiser.is_file() and autoencoder.is_file(), name
    assert models.mini_files("mini-v2")[1].name == "mini-v2-ae.safetensors"
    backend = models.load("mini-v2")
    assert backend.autoencoder.config.architecture == "patch" and backend.image_multiple == 16
    card = json.loads((models.WEIGHTS / "mini-v2-ae.json").read_text())
    assert {"heldout_psnr_db", "heldout_photo_psnr_db"} <= set(card["eval"])
    frames = clip(0, "heldout", 2)
    assert backend.autoencoder.encode(frames).shape == (2, 8, 16, 16)


def test_the_default_model_and_autoencoder_are_shipped():
    assert "mini-v2" in SHIPPED
    ae_card = json.loads((models.WEIGHTS / "mini-v2-ae.json").read_text())
    assert ae_card["eval"]["heldout_psnr_db"] > 15
    total = sum(p.stat().st_size for p in models.WEIGHTS.iterdir())
    assert total <= 30_000_000  # everything shipped (weights and cards) fits in 30 MB


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_records_training(name):
    card = json.loads((models.WEIGHTS / f"{name}.json").read_text())
    assert card["config"] and card["loss_curve"] and card["training"]["steps"] > 0
    # A continued run keeps the card of the run it continues; the lineage starts from random weights.
    origin = card
    while origin.get("continues"):
        origin = origin["continues"]
        assert origin["loss_curve"] and origin["training"]["steps"] > 0
    logged = [p["loss"] for p in card["loss_curve"]]  # single-batch losses: compare window means
    final = sum(logged[-len(logged) // 4 :]) / len(logged[-len(logged) // 4 :])
    assert final < 0.5 * origin["loss_curve"][0]["loss"]


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shipped_model_generates_every_variant(name, variant):
    backend = models.load(name)
    images = [img for _, img in heldout_start_images(2)]
    kwargs = {}
    if VARIANTS[variant].get("causal") and not backend.denoiser.causal:
        with pytest.raises(ValueError, match="block-causal"):
            generate(backend, variant, images, sections=2, seeds=[0, 1], steps=2)
        return
    if VARIANTS[variant].get("discrete") and backend.codebook is None:
        with pytest.raises(ValueError, match="pass a codebook"):
            generate(backend, variant, images, sections=2, seeds=[0, 1], steps=2)
        # a checkpoint trained without +D can still be sampled with a codebook fitted on world latents
        latents = backend.autoencoder.encode(clip(0, "train", 8))[None].transpose(1, 2)
        kwargs["codebook"] = Codebook.fit([latents.detach()], k=16, seed=0)
    out = generate(backend, variant, images, sections=2, seeds=[0, 1], steps=2, **kwargs)
    assert out.frames.shape == (2, 19, 64, 64, 3)
    assert torch.isfinite(out.latents).all()
