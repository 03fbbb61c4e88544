"""Low-rank adapters: they start as the base model, merge exactly, ship only A and B, and load onto the
base their card names (and no other)."""

import pytest
import torch

from fpeval.generation.training import DenoiserTraining, train_denoiser
from fpeval.models.adapters import adapter_state, add_adapters, merge_adapters, target_layers
from fpeval.models.autoencoder import AutoencoderConfig, FrameAutoencoder
from fpeval.models.mini import FramePackMini, MiniCondition, MiniConfig
from fpeval.plan.variants import make_plan
from fpeval.sampling.engine import materialise

SMALL = dict(dim=32, depth=2, heads=1, rope_axes_dim=(8, 12, 12))


def random_model(seed=0, **options):
    torch.manual_seed(seed)
    model = FramePackMini(MiniConfig(**SMALL, **options))
    for p in model.parameters():  # leave the zero-initialised output layers behind
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def inputs(seed=1):
    torch.manual_seed(seed)
    step = make_plan("vanilla", 3).steps[2]
    timeline = torch.randn(2, 8, 29, 8, 8)
    ctx = materialise(step, timeline)
    return torch.randn(2, 8, 9, 8, 8), torch.tensor([0.6, 0.3]), ctx, MiniCondition(timeline[:, :, :1])


def test_adapters_attach_to_the_blocks_linear_layers_only_and_freeze_the_rest():
    model = add_adapters(random_model(), rank=4)
    names = sorted(target_layers(model))
    assert names == sorted(f"blocks.{i}.{n}" for i in range(2) for n in ("qkv", "proj", "mlp.0", "mlp.2"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith((".A", ".B")) for n in trainable)
    # rank x (in + out) per layer: qkv 32->96, proj 32->32, mlp 32->64 and 64->32
    expected = 2 * 4 * ((32 + 96) + (32 + 32) + (32 + 64) + (64 + 32))
    assert sum(v.numel() for v in adapter_state(model).values()) == expected


def test_an_adapter_starts_as_the_base_model_and_merges_into_the_same_function():
    base = random_model()
    x, s, ctx, cond = inputs()
    with torch.no_grad():
        reference = base(x, s, ctx, cond)
        adapted = add_adapters(random_model(), rank=4, alpha=8)
        assert torch.equal(adapted(x, s, ctx, cond), reference)  # B starts at zero
        for name, value in adapter_state(adapted).items():
            if name.endswith(".B"):
                adapted.get_parameter(name).copy_(torch.randn_like(value) * 0.1)
        moved = adapted(x, s, ctx, cond)
        assert (moved - reference).abs().max() > 1e-3
        merged = merge_adapters(adapted)
        assert not adapter_state(merged) and not any("parametrizations" in k for k in merged.state_dict())
        torch.testing.assert_close(merged(x, s, ctx, cond), moved, rtol=1e-5, atol=1e-5)


@pytest.fixture
def trained_adapter(tmp_path):
    base = tmp_path / "base.safetensors"
    random_model().save(base)
    ae = tmp_path / "ae.safetensors"
    FrameAutoencoder(AutoencoderConfig(width=32, blocks=1)).save(ae)
    cfg = DenoiserTraining(
        recipe="causal", steps=3, batch=2, clips=2, init=str(base), adapter_rank=2, lr=1e-2
    )
    out = tmp_path / "causal.safetensors"
    model, card = train_denoiser(cfg, ae, out, latents=torch.randn(2, 8, 48, 8, 8), log=lambda *_: None)
    return base, out, model, card


def test_the_causal_recipe_with_adapters_ships_a_and_b_and_loads_merged_onto_its_base(trained_adapter):
    base, out, trained, card = trained_adapter
    assert card["adapter"]["rank"] == 2 and card["adapter"]["base"] == "base.safetensors"
    assert out.stat().st_size < base.stat().st_size / 3
    loaded = FramePackMini.load(out)
    assert loaded.config.causal and not adapter_state(loaded)
    x, s, ctx, cond = inputs()
    with torch.no_grad():
        expected = merge_adapters(trained)(x, s, ctx, cond)
        torch.testing.assert_close(loaded(x, s, ctx, cond), expected, rtol=1e-5, atol=1e-5)
        plain = FramePackMini.load(base, causal=True)(x, s, ctx, cond)
    assert (plain - expected).abs().max() > 0  # the adapters were trained, not left at zero
    from safetensors.torch import load_file

    shipped = load_file(str(out))
    assert all(v.abs().max() > 0 for k, v in shipped.items() if k.endswith(".B"))


def test_an_adapter_refuses_a_base_whose_weights_changed(trained_adapter):
    base, out, _, _ = trained_adapter
    random_model(seed=5).save(base)  # same name and architecture, other weights
    with pytest.raises(ValueError, match="low-rank adapter of base.safetensors"):
        FramePackMini.load(out)


def test_an_adapter_file_that_does_not_fit_its_base_is_refused(trained_adapter):
    from safetensors.torch import load_file, save_file

    _, out, _, _ = trained_adapter
    state = load_file(str(out))
    state.pop(next(k for k in state if k.endswith(".A")))
    save_file(state, str(out))
    with pytest.raises(ValueError, match="does not fit its base: missing"):
        FramePackMini.load(out)


def test_adapter_rank_needs_a_checkpoint_to_adapt(tmp_path):
    ae = tmp_path / "ae.safetensors"
    FrameAutoencoder(AutoencoderConfig(width=32, blocks=1)).save(ae)
    cfg = DenoiserTraining(recipe="base", steps=1, batch=2, clips=2, adapter_rank=2)
    with pytest.raises(ValueError, match="adapter_rank needs init"):
        train_denoiser(cfg, ae, tmp_path / "x.safetensors", latents=torch.randn(2, 8, 48, 8, 8), log=print)
    assert not (tmp_path / "x.safetensors").exists()


def test_an_adapter_loads_with_the_option_its_card_already_switches_on(trained_adapter):
    _, out, _, _ = trained_adapter
    assert FramePackMini.load(out, causal=True).config.causal  # the same option twice is no conflict
