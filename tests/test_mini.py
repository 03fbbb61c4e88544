"""FramePack-mini: forward shapes for every paper schedule, training lowers the loss, checkpoints."""

import json

import pytest
import torch

from fpeval.generation.training import DenoiserTraining, flow_loss, sample_layout
from fpeval.models.autoencoder import AutoencoderConfig, FrameAutoencoder
from fpeval.models.mini import FramePackMini, MiniCondition, MiniConfig
from fpeval.plan.schedule import PAPER_SCHEDULES
from fpeval.plan.variants import make_plan, variant
from fpeval.sampling.engine import SectionContext, materialise

SMALL = dict(dim=32, depth=1, heads=1, rope_axes_dim=(8, 12, 12))


def small_model(seed=0):
    torch.manual_seed(seed)
    return FramePackMini(MiniConfig(**SMALL))


PAPER = sorted(set(PAPER_SCHEDULES.values()) | {"td_f16k16f8k8f4k4f2k2f1k1_g9", "tc_f16k4f4k2f1k1_g9"})


@pytest.mark.parametrize("schedule", PAPER)
def test_forward_shapes_for_every_paper_schedule(schedule):
    model = small_model()
    for p in model.parameters():  # leave the zero-initialised output layers behind
        torch.nn.init.normal_(p, std=0.05)
    plan = variant(
        "inverted"
        if schedule.endswith("_td")
        else ("endpoint" if "_x_f1k1" in schedule and schedule.startswith("td") else "vanilla"),
        schedule=schedule,
    )
    steps = make_plan(plan, 3).steps
    timeline = torch.randn(2, 8, 29, 8, 8)
    for step in steps:
        ctx = materialise(step, timeline)
        x = torch.randn(2, 8, len(step.section), 8, 8)
        out = model(x, torch.rand(2), ctx, MiniCondition(timeline[:, :, :1]))
        assert out.shape == x.shape and torch.isfinite(out).all()
        assert out.std() > 1e-3  # every output position is written, none left at the zero init
        assert (out.flatten(3).std(dim=3) > 1e-4).all()


def test_context_changes_the_output_and_per_token_sigma_matters():
    model = small_model()
    for p in model.parameters():  # leave the zero-initialised output layers behind
        torch.nn.init.normal_(p, std=0.05)
    step = make_plan("vanilla", 3).steps[2]
    timeline = torch.randn(1, 8, 29, 8, 8)
    ctx = materialise(step, timeline)
    x, s, cond = torch.randn(1, 8, 9, 8, 8), torch.tensor([0.5]), MiniCondition(timeline[:, :, :1])
    base = model(x, s, ctx, cond)
    other = materialise(step, timeline + 1)
    assert not torch.allclose(base, model(x, s, other, MiniCondition(timeline[:, :, :1])))
    noisy = SectionContext(ctx.section_indices, ctx.groups, ctx.tail, [0.7] * len(ctx.groups))
    assert not torch.allclose(base, model(x, s, noisy, cond))


def test_a_few_training_steps_lower_the_loss():
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(8, 8, 1, 8, 8, generator=g) + 0.05 * torch.randn(8, 8, 40, 8, 8, generator=g)
    model = small_model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    step = sample_layout(torch.Generator().manual_seed(0), DenoiserTraining(model=SMALL), 40)[1]
    sigma = torch.full((8,), 0.5)

    def loss():  # fixed batch, fixed noise
        return flow_loss(model, latents, step, sigma, torch.Generator().manual_seed(1))

    before = loss().item()
    for _ in range(60):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.7 * before


def test_checkpoint_round_trip_and_errors(tmp_path):
    model = small_model(3)
    path = model.save(tmp_path / "m.safetensors", {"note": "test"})
    back = FramePackMini.load(path)
    for (n, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    assert json.loads(path.with_suffix(".json").read_text())["note"] == "test"
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        FramePackMini.load(tmp_path / "absent.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    bad.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="not a readable safetensors"):
        FramePackMini.load(bad)
    bad.with_suffix(".json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupted"):
        FramePackMini.load(bad)


@pytest.mark.parametrize(
    "config, latent_side",
    [
        (AutoencoderConfig(width=32, blocks=1), 16),  # v2: 4x4 patches
        (AutoencoderConfig(architecture="kl", block_out_channels=(8, 8, 8, 8), norm_num_groups=4), 8),  # v1
    ],
)
def test_autoencoder_round_trip_shapes(tmp_path, config, latent_side):
    torch.manual_seed(0)
    ae = FrameAutoencoder(config)
    assert config.factor == 64 // latent_side
    frames = torch.rand(2, 3, 3, 64, 64)
    z = ae.encode(frames)
    assert z.shape == (2, 3, 8, latent_side, latent_side)
    assert ae.decode(z).shape == frames.shape
    ae.fit_latent_stats(frames[0])
    path = ae.save(tmp_path / "ae.safetensors")
    back = FrameAutoencoder.load(path)
    torch.testing.assert_close(back.encode(frames), ae.encode(frames))


def test_pca_start_reconstructs_frames_inside_the_principal_subspace_exactly():
    """With zero-initialised trunks the patch codec starts as PCA: anything that lies in the span of the
    top components (around the patch mean) comes back unchanged; components outside it are lost."""
    torch.manual_seed(0)
    ae = FrameAutoencoder(AutoencoderConfig(width=32, blocks=1))
    data = torch.rand(6, 3, 64, 64) * 2 - 1
    ae.vae.init_from_pca(data)
    inside = ae.vae.decode(ae.vae.encode(data))
    again = ae.vae.decode(ae.vae.encode(inside))
    torch.testing.assert_close(again, inside, atol=1e-4, rtol=0)
    assert (inside - data).abs().mean() > 0.05  # 8 of 48 components cannot hold random pixels


@pytest.mark.parametrize("scale", ["channel", "shared"])
def test_latent_normalisation_centres_each_channel_and_scales_as_configured(scale):
    torch.manual_seed(0)
    from fpeval.world import clip

    ae = FrameAutoencoder(AutoencoderConfig(width=32, blocks=1, latent_scale=scale))
    frames = torch.cat(
        [clip(s, frames=2) for s in range(4)]
    )  # natural-looking: variance falls with the component
    ae.vae.init_from_pca(frames * 2 - 1)
    ae.fit_latent_stats(frames)
    z = ae.encode(frames)
    torch.testing.assert_close(z.mean(dim=(0, 2, 3)), torch.zeros(8), atol=1e-5, rtol=0)
    raw = ae.encode_raw(frames).std(dim=(0, 2, 3))
    if scale == "channel":
        torch.testing.assert_close(z.std(dim=(0, 2, 3)), torch.ones(8), atol=1e-4, rtol=0)
    else:  # one scale: the PCA ordering survives, and the channels' mean square is 1
        torch.testing.assert_close(z.std(dim=(0, 2, 3)), raw / raw.pow(2).mean().sqrt(), atol=1e-4, rtol=0)
        assert z.std(dim=(0, 2, 3))[0] > 2 * z.std(dim=(0, 2, 3))[-1]


def test_training_can_continue_from_a_checkpoint(tmp_path):
    from fpeval.generation.training import train_denoiser

    g = torch.Generator().manual_seed(0)
    latents = torch.randn(4, 8, 1, 8, 8, generator=g) + 0.05 * torch.randn(4, 8, 40, 8, 8, generator=g)
    start = small_model(5).save(tmp_path / "start.safetensors", {"loss_curve": [{"step": 0, "loss": 1.0}]})
    cfg = DenoiserTraining(steps=2, batch=2, init=str(start))
    model, card = train_denoiser(
        cfg, "unused", tmp_path / "next.safetensors", latents=latents, log=lambda _: None
    )
    assert card["continues"]["loss_curve"] == [{"step": 0, "loss": 1.0}]
    assert model.config == FramePackMini.load(start).config
    assert FramePackMini.load(tmp_path / "next.safetensors").config.dim == 32


def test_world_latents_cache_is_reused_only_for_the_same_clips_and_autoencoder(tmp_path, monkeypatch):
    from fpeval.generation import training

    torch.manual_seed(0)
    ae = FrameAutoencoder(AutoencoderConfig(width=32, blocks=1))
    ae_path = ae.save(tmp_path / "ae.safetensors")
    calls = []
    real = training.encode_world

    def counting(*args, **kwargs):
        calls.append(args[1:3])
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "encode_world", counting)
    cache = tmp_path / "latents.safetensors"
    cfg = DenoiserTraining(clips=2, clip_frames=3)
    first = training.cached_world_latents(cache, ae_path, cfg)
    again = training.cached_world_latents(cache, ae_path, cfg)
    assert calls == [(2, 3)] and first.shape == (2, 8, 3, 16, 16)
    torch.testing.assert_close(again, first)
    training.cached_world_latents(cache, ae_path, DenoiserTraining(clips=1, clip_frames=3))
    assert calls == [(2, 3), (1, 3)]  # a different clip set re-encodes


def test_float16_storage_halves_the_file_and_loads_as_float32(tmp_path):
    from fpeval.models.checkpoints import read_checkpoint, write_checkpoint

    model = small_model(5)
    state = model.state_dict()
    full = write_checkpoint(tmp_path / "full.safetensors", state, model.config.model_dump())
    half = write_checkpoint(
        tmp_path / "half.safetensors", state, model.config.model_dump(), {"note": 1}, torch.float16
    )
    assert half.stat().st_size < 0.6 * full.stat().st_size
    config, back = read_checkpoint(half)
    assert json.loads(half.with_suffix(".json").read_text())["storage_dtype"] == "float16"
    for name, tensor in state.items():
        assert back[name].dtype == tensor.dtype == torch.float32
        assert torch.equal(back[name], tensor.half().float()), name
    loaded = FramePackMini.load(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())


@pytest.mark.parametrize(
    ("name", "step_index", "expected"),
    [
        ("anchor", 1, [9] * 9),  # the frame before the section
        ("inverted", 1, [37] * 9),  # the frame after it (future history)
        ("inverted", -1, [0] * 5 + [10] * 4),  # last step: start frame for the first half, then frame 10
    ],
)
def test_carry_picks_the_nearest_full_resolution_context_frame(name, step_index, expected):
    from fpeval.models.mini import nearest_k1_frames

    plan = make_plan(name, 5)
    step = plan.steps[step_index]
    # each frame's latents hold its own index + 1, so zeros mean "unknown", never a frame
    timeline = (torch.arange(plan.total_frames + 1).float() + 1).view(1, 1, -1, 1, 1).expand(1, 8, -1, 4, 4)
    ctx = materialise(step, timeline.clone())
    carried = nearest_k1_frames(ctx, torch.Size((1, 8, len(step.section), 4, 4)))
    assert (carried[0, 0, :, 0, 0] - 1).long().tolist() == expected


def test_carry_can_be_switched_on_when_continuing_and_starts_as_the_same_model(tmp_path):
    start = small_model(3)
    for p in start.parameters():  # leave the zero-initialised output layers behind
        torch.nn.init.normal_(p, std=0.05)
    path = start.save(tmp_path / "start.safetensors")
    with_carry = FramePackMini.load(path, carry=True)
    assert with_carry.config.carry and not FramePackMini.load(path).config.carry
    step = make_plan("anchor", 3).steps[2]
    timeline = torch.randn(1, 8, 29, 8, 8)
    ctx, cond = materialise(step, timeline), MiniCondition(timeline[:, :, :1])
    x, s = torch.randn(1, 8, 9, 8, 8), torch.tensor([0.5])
    assert torch.equal(start.eval()(x, s, ctx, cond), with_carry(x, s, ctx, cond))
    torch.nn.init.normal_(with_carry.carry_embed.weight, std=0.05)  # once trained, the carried frame counts
    assert not torch.allclose(start(x, s, ctx, cond), with_carry(x, s, ctx, cond))
    with pytest.raises(ValueError, match="only carry, out_conv"):
        FramePackMini.load(path, dim=64)
    refined = FramePackMini.load(path, carry=True, out_conv=True)  # the output convolution starts at zero too
    assert torch.equal(start(x, s, ctx, cond), refined(x, s, ctx, cond))
    torch.nn.init.normal_(refined.out_refine[2].weight, std=0.05)
    assert not torch.allclose(start(x, s, ctx, cond), refined(x, s, ctx, cond))


def test_training_noise_levels_shift_like_the_sampling_schedule():
    from fpeval.generation.training import training_sigmas
    from fpeval.sampling.sampler import flow_sigmas, shift_sigmas

    plain = training_sigmas(20_000, torch.Generator().manual_seed(0))
    shifted = training_sigmas(20_000, torch.Generator().manual_seed(0), shift=3.0)
    assert torch.equal(plain, torch.sigmoid(torch.randn(20_000, generator=torch.Generator().manual_seed(0))))
    # the same map as the sampler's static shift: t = 0.5 -> 0.75 at shift 3
    assert torch.allclose(shifted, 3 * plain / (1 + 2 * plain))
    assert flow_sigmas(2, 3.0)[1].item() == pytest.approx(0.75)
    assert float(shift_sigmas(torch.tensor(0.5), 3.0)) == pytest.approx(0.75)
    # logit-normal puts ~0.2 % of levels above 0.95; shifted by 3, ~3 % (where sampling starts)
    assert (plain > 0.95).float().mean() < 0.005 < 0.02 < (shifted > 0.95).float().mean() < 0.05
    # uniform t shifted by 3: P(sigma > 0.95) = P(t > 0.95 / 2.05), as often as the sampler is there
    even = training_sigmas(20_000, torch.Generator().manual_seed(0), 3.0, "uniform")
    assert (even > 0.95).float().mean().item() == pytest.approx(1 - 0.95 / (3 - 2 * 0.95), abs=0.01)
    with pytest.raises(ValueError, match="accepted: logit_normal, uniform"):
        training_sigmas(4, torch.Generator(), 3.0, "beta")


def test_a_checkpoint_path_loads_with_the_autoencoder_its_card_names(tmp_path):
    from fpeval.models import card_autoencoder
    from fpeval.models.checkpoints import file_digest

    ae = FrameAutoencoder(AutoencoderConfig(width=32, blocks=1)).save(tmp_path / "my-ae.safetensors")
    den = small_model().save(
        tmp_path / "den.safetensors",
        {"autoencoder": "my-ae.safetensors", "autoencoder_digest": file_digest(ae)},
    )
    assert card_autoencoder(den) == ae
    stale = small_model().save(
        tmp_path / "stale.safetensors", {"autoencoder": "my-ae.safetensors", "autoencoder_digest": "0" * 16}
    )
    with pytest.raises(ValueError, match="my-ae.safetensors.*pass the autoencoder's path"):
        card_autoencoder(stale)
    unnamed = small_model().save(tmp_path / "unnamed.safetensors", {})
    with pytest.raises(ValueError, match="names no autoencoder"):
        card_autoencoder(unnamed)


@pytest.mark.parametrize("extras", [{}, {"carry": True, "out_conv": True}], ids=["plain", "carry+out_conv"])
def test_causal_attention_hides_later_frames_of_the_section(extras):
    """A causal model's output for latent frame i does not move when frame j > i changes; the same
    weights without the mask (the base model) do move. Earlier frames still reach later ones."""
    torch.manual_seed(0)
    base = FramePackMini(MiniConfig(**SMALL, **extras))
    for p in base.parameters():  # leave the zero-initialised output layers behind
        torch.nn.init.normal_(p, std=0.05)
    causal = FramePackMini(MiniConfig(**SMALL, **extras, causal=True))
    causal.load_state_dict(base.state_dict())
    step = make_plan("vanilla", 3).steps[2]
    timeline = torch.randn(1, 8, 29, 8, 8)
    ctx, cond, s = materialise(step, timeline), MiniCondition(timeline[:, :, :1]), torch.tensor([0.6])
    x = torch.randn(1, 8, 9, 8, 8)
    later = x.clone()
    later[:, :, 5:] += 1.0  # frames 5..8 change
    for model, hidden in ((causal, True), (base, False)):
        a, b = model(x, s, ctx, cond), model(later, s, ctx, cond)
        assert torch.allclose(a[:, :, :5], b[:, :, :5], atol=1e-6) == hidden
    earlier = x.clone()
    earlier[:, :, 1] += 1.0
    a, b = causal(x, s, ctx, cond), causal(earlier, s, ctx, cond)
    assert not torch.allclose(a[:, :, 2:], b[:, :, 2:])  # frame 1 still informs frames 2..8


def test_block_causal_mask_layout():
    from fpeval.models.mini import block_causal_mask

    mask = block_causal_mask(n=7, n_section=4, frames=2)  # 3 prefix tokens, 2 frames of 2 tokens
    expected = torch.tensor(
        [
            [1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(mask, expected)


def test_the_causal_recipe_switches_the_mask_on_and_a_causal_card_serves_the_causal_variant(tmp_path):
    from fpeval.generation.training import train_denoiser
    from fpeval.models import plan_problem

    base = tmp_path / "base.safetensors"
    small_model().save(base)
    cfg = DenoiserTraining(recipe="causal", steps=2, batch=2, clips=2, init=str(base))
    ae = tmp_path / "ae.safetensors"
    FrameAutoencoder(AutoencoderConfig(width=32, blocks=1)).save(ae)
    latents = torch.randn(2, 8, 48, 8, 8)
    out = tmp_path / "causal.safetensors"
    from fpeval.models.checkpoints import read_card

    model, _ = train_denoiser(cfg, ae, out, latents=latents, log=lambda *_: None)
    assert model.config.causal and read_card(out)["config"]["causal"]
    plan = make_plan(variant("causal"), 2)
    assert plan_problem(str(out), plan, variant("causal")) is None
    problem = plan_problem(str(base), plan, variant("causal"))
    assert problem and "block-causal" in problem and str(base) in problem
    assert plan_problem(str(base), plan, variant("vanilla")) is None


def test_a_causal_model_reuses_its_context_keys_and_values_across_sampler_steps():
    """The second call on a context runs the section alone against the stored context keys and values,
    and gives what a fresh context gives; a model without the mask stores nothing."""
    torch.manual_seed(0)
    model = FramePackMini(MiniConfig(**SMALL, causal=True))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    step = make_plan("vanilla", 3).steps[2]
    timeline = torch.randn(2, 8, 29, 8, 8)
    cond = MiniCondition(timeline[:, :, :1])
    ctx = materialise(step, timeline)
    first = model(torch.randn(2, 8, 9, 8, 8), torch.tensor([0.9, 0.9]), ctx, cond)
    assert len(ctx.cache["causal_prefix"]) == 1
    x, s = torch.randn(2, 8, 9, 8, 8), torch.tensor([0.4, 0.4])
    cached = model(x, s, ctx, cond)
    fresh = model(x, s, materialise(step, timeline), cond)
    torch.testing.assert_close(cached, fresh, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(first, cached)
    other = MiniCondition(timeline[:, :, 1:2])  # another conditioning: its own entry, not a stale one
    torch.testing.assert_close(model(x, s, ctx, other), model(x, s, materialise(step, timeline), other))
    assert len(ctx.cache["causal_prefix"]) == 2
    plain_ctx = materialise(step, timeline)
    small_model()(x, s, plain_ctx, cond)
    assert plain_ctx.cache == {}


def test_a_sections_context_is_embedded_once_and_reused_exactly():
    """Sampling without gradients stores the packed context on ``SectionContext.cache``; later steps give
    bit-identical outputs to a fresh context, a noised copy (DiffusionForcing) embeds its own, and a
    training forward (gradients on) stores nothing."""
    from fpeval.sampling.contract import noise_history

    model = small_model()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    step = make_plan(variant("vanilla", schedule="tc_f16k4f4k2f1k1_g9"), 4).steps[3]
    timeline = torch.randn(2, 8, 38, 8, 8)
    cond = MiniCondition(timeline[:, :, :1])
    x, s = torch.randn(2, 8, 9, 8, 8), torch.tensor([0.7, 0.7])
    ctx = materialise(step, timeline)
    assert ctx.tail is not None  # the tail's tokens are cached too
    with torch.no_grad():
        first = model(x, s, ctx, cond)
        assert any(k[0] == "packed_context" for k in ctx.cache if isinstance(k, tuple))
        again = model(x * 0.5, s * 0.5, ctx, cond)
        fresh = model(x * 0.5, s * 0.5, materialise(step, timeline), cond)
        assert torch.equal(again, fresh) and not torch.equal(first, again)
        noised = noise_history(ctx, 0.5, [torch.Generator().manual_seed(i) for i in range(2)])
        assert not noised.cache
        out = model(x, s, noised, cond)
        assert not torch.equal(out, first)
    trained = materialise(step, timeline)
    model(x, s, trained, cond).sum().backward()
    assert not trained.cache


def test_rotation_equals_the_textbook_pairwise_form_bit_for_bit():
    from fpeval.models.mini import rotate

    torch.manual_seed(0)
    x, angle = torch.randn(2, 3, 5, 8), torch.randn(5, 4)
    cos, sin = angle.cos().repeat_interleave(2, -1), angle.sin().repeat_interleave(2, -1)
    a, b = x[..., 0::2], x[..., 1::2]
    expected = torch.stack([a * cos[:, 0::2] - b * sin[:, 0::2], b * cos[:, 1::2] + a * sin[:, 1::2]], -1)
    assert torch.equal(rotate(x, cos, sin), expected.flatten(-2))
    # the rotation keeps each pair's length and turns (1, 0) to (cos, sin)
    assert torch.allclose(
        rotate(x, cos, sin).unflatten(-1, (-1, 2)).norm(dim=-1), x.unflatten(-1, (-1, 2)).norm(dim=-1)
    )
    unit = torch.zeros(1, 1, 5, 8)
    unit[..., 0] = 1
    assert torch.equal(rotate(unit, cos, sin)[0, 0, :, :2], torch.stack([cos[:, 0], sin[:, 0]], -1))


def test_a_batch_sharing_its_noise_levels_gives_each_video_what_it_gets_alone():
    """The shared (N, 6 dim) modulation path equals the per-video (B, N, 6 dim) one: batched output rows
    equal each video's own forward, and a batch whose videos differ in sigma takes the per-video path."""
    model = small_model()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    step = make_plan("vanilla", 3).steps[2]
    timeline = torch.randn(3, 8, 29, 8, 8)
    ctx = materialise(step, timeline)
    x, cond = torch.randn(3, 8, 9, 8, 8), MiniCondition(timeline[:, :, :1])
    with torch.no_grad():
        shared = model(x, torch.full((3,), 0.4), ctx, cond)
        mixed = model(x, torch.tensor([0.4, 0.9, 0.4]), ctx, cond)
        for i in range(3):
            one = materialise(step, timeline[i : i + 1])
            alone = model(x[i : i + 1], torch.tensor([0.4]), one, MiniCondition(timeline[i : i + 1, :, :1]))
            assert torch.allclose(shared[i : i + 1], alone, atol=1e-6)
        assert torch.allclose(mixed[[0, 2]], shared[[0, 2]], atol=1e-6)
        assert not torch.allclose(mixed[1], shared[1], atol=1e-3)
