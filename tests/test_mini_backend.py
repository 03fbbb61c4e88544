"""FramePack-mini as a backend: load by path through the real loading code, every variant generates."""

import pytest
import torch
from mini_tiny import write_tiny_mini

from fpeval import models
from fpeval.generation.generate import generate
from fpeval.plan.variants import VARIANTS, variant
from fpeval.sampling.history import Codebook
from fpeval.world import heldout_start_images


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """Random small weights saved to disk, with a codebook, as a training run would leave them."""
    d = tmp_path_factory.mktemp("mini")
    write_tiny_mini(d)
    Codebook(torch.randn(16, 8)).save(d / "tiny-codebook.safetensors")
    return d


@pytest.fixture(scope="module")
def backend(checkpoint):
    return models.load(str(checkpoint / "tiny.safetensors"), autoencoder=checkpoint / "ae.safetensors")


def test_loads_with_its_codebook(backend):
    assert backend.codebook is not None and backend.codebook.k == 16
    assert backend.fps == 8.0 and backend.temporal_factor == 1


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_generates(backend, name):
    images = [img for _, img in heldout_start_images(2)]
    if VARIANTS[name].get("causal"):  # needs a causally fine-tuned model: refused, not faked
        with pytest.raises(ValueError, match="block-causal"):
            generate(backend, name, images, sections=2, seeds=[0, 1], steps=2)
        return
    out = generate(backend, name, images, sections=2, seeds=[0, 1], steps=2)
    assert out.frames.shape == (2, 19, 64, 64, 3)
    again = generate(backend, name, images, sections=2, seeds=[0, 1], steps=2)
    assert torch.equal(out.latents, again.latents)


@pytest.mark.parametrize(
    "schedule", ["td_f16k16f8k8f4k4f2k2f1k1_g9", "ta_f16k4f4k2f1k1_g9", "tc_f16k4f4k2f1k1_g9"]
)
def test_schedules_the_real_model_cannot_run(backend, schedule):
    _, img = heldout_start_images(1)[0]
    out = generate(backend, variant("vanilla", schedule=schedule), img, sections=4, seeds=[0], steps=1)
    assert out.latents.shape[2] == 37


def test_unknown_names_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'minx'"):
        models.load("minx")
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        models.load(str(tmp_path / "none.safetensors"), autoencoder=tmp_path / "ae.safetensors")
