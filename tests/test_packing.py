"""Packed patch embedding: parity with diffusers' FramePack transformer, the init rule, tails, errors."""

import pytest
import torch
import torch.nn.functional as F

from fpeval.plan.packing import ContextGroup, PackedPatchEmbed, RotaryTable, TailGroup, pool_rotary
from fpeval.plan.schedule import layout, parse
from fpeval.plan.tokens import LatentSize, count_tokens

diffusers = pytest.importorskip("diffusers")

from hunyuan_tiny import tiny_transformer  # noqa: E402


def official_init(k1_weight: torch.Tensor, k: int) -> torch.Tensor:
    """The official rule written independently: W_k[o, i, a, b, c] = W_1[o, i, a//k, b//k, c//k] / k^3."""
    o, i, t, h, w = k1_weight.shape
    a = torch.arange(t * k) // k
    b = torch.arange(h * k) // k
    c = torch.arange(w * k) // k
    return k1_weight[:, :, a][:, :, :, b][:, :, :, :, c] / k**3


@pytest.fixture(scope="module")
def pair():
    model = tiny_transformer(image_proj_dim=16)
    ours = PackedPatchEmbed(4, 20, patch_size=2, kernels=(1, 2, 4), rope_axes_dim=(2, 4, 4), rope_theta=256.0)
    ours.init_from_k1(model.clean_x_embedder.proj)
    with torch.no_grad():
        ours.section_proj.load_state_dict(model.x_embedder.proj.state_dict())
        for k, conv in ((2, model.clean_x_embedder.proj_2x), (4, model.clean_x_embedder.proj_4x)):
            conv.weight.copy_(official_init(model.clean_x_embedder.proj.weight, k))
            conv.bias.copy_(model.clean_x_embedder.proj.bias)
    return model, ours


def test_init_rule_matches_official_weights(pair):
    model, ours = pair
    for k, conv in ((2, model.clean_x_embedder.proj_2x), (4, model.clean_x_embedder.proj_4x)):
        assert torch.equal(ours.proj[f"k{k}"].weight, conv.weight)
        assert torch.equal(ours.proj[f"k{k}"].bias, conv.bias)


@pytest.mark.parametrize(
    "frames2,frames4,h,w", [(2, 16, 12, 20), (3, 5, 12, 20), (1, 1, 8, 8), (4, 7, 10, 6)]
)
def test_history_embeddings_equal_diffusers(pair, frames2, frames4, h, w):
    model, ours = pair
    g = torch.Generator().manual_seed(frames2 * 100 + frames4)
    c1 = torch.randn(2, 4, 2, h, w, generator=g)
    c2 = torch.randn(2, 4, frames2, h, w, generator=g)
    c4 = torch.randn(2, 4, frames4, h, w, generator=g)
    with torch.no_grad():
        ref1, ref2, ref4 = model.clean_x_embedder(c1, c2, c4)
        assert torch.allclose(ours._embed(c1, 1), ref1, atol=1e-6)
        assert torch.allclose(ours._embed(c2, 2), ref2, atol=1e-6)
        assert torch.allclose(ours._embed(c4, 4), ref4, atol=1e-6)


def test_packed_tokens_and_rope_equal_diffusers_forward(pair):
    """The tokens and rotary tables entering the first transformer block are exactly ours."""
    model, ours = pair
    g = torch.Generator().manual_seed(1)
    B, H, W = 1, 12, 20  # 12 x 20 is not a multiple of the k4 spatial kernel (8): padding is exercised
    x, c1 = torch.randn(B, 4, 3, H, W, generator=g), torch.randn(B, 4, 2, H, W, generator=g)
    c2, c4 = torch.randn(B, 4, 3, H, W, generator=g), torch.randn(B, 4, 5, H, W, generator=g)
    ix, i1 = torch.tensor([20, 21, 22]), torch.tensor([0, 19])
    i2, i4 = torch.tensor([16, 17, 18]), torch.arange(10, 15)
    seen = {}

    def grab(_module, args, kwargs):
        seen["tokens"], seen["rope"] = args[0], args[4]

    handle = model.transformer_blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            model(
                hidden_states=x,
                timestep=torch.tensor([500]),
                encoder_hidden_states=torch.randn(B, 5, 16, generator=g),
                encoder_attention_mask=torch.ones(B, 5),
                pooled_projections=torch.randn(B, 8, generator=g),
                image_embeds=torch.randn(B, 3, 16, generator=g),
                indices_latents=ix,
                guidance=torch.tensor([5000.0]),
                latents_clean=c1,
                indices_latents_clean=i1,
                latents_history_2x=c2,
                indices_latents_history_2x=i2,
                latents_history_4x=c4,
                indices_latents_history_4x=i4,
            )
            # given in any order: the embedder orders groups by kernel, largest first
            packed = ours(x, ix, [ContextGroup(c1, i1, 1), ContextGroup(c4, i4, 4), ContextGroup(c2, i2, 2)])
    finally:
        handle.remove()
    assert packed.tokens.shape == seen["tokens"].shape
    assert torch.allclose(packed.tokens, seen["tokens"], atol=1e-6)
    assert torch.allclose(packed.rope_cos, seen["rope"][0], atol=1e-6)
    assert torch.allclose(packed.rope_sin, seen["rope"][1], atol=1e-6)
    assert packed.section == slice(packed.num_tokens - 3 * 6 * 10, packed.num_tokens)
    assert [(r, k) for r, k, _ in packed.spans] == [
        ("history", 4),
        ("history", 2),
        ("history", 1),
        ("section", 1),
    ]


def test_rotary_table_equals_diffusers():
    from diffusers.models.transformers.transformer_hunyuan_video_framepack import (
        HunyuanVideoFramepackRotaryPosEmbed,
    )

    ref = HunyuanVideoFramepackRotaryPosEmbed(2, 1, [16, 56, 56], 256.0)
    idx = torch.tensor([0, 3, 7, 40])
    rc, rs = ref(idx, 12, 20, torch.device("cpu"))
    cos, sin = RotaryTable((16, 56, 56), 256.0).grid(idx, 6, 10)
    assert torch.allclose(cos.flatten(1).T, rc, atol=1e-6)
    assert torch.allclose(sin.flatten(1).T, rs, atol=1e-6)


@pytest.mark.parametrize("k", [2, 4, 8, 16])
def test_kn_starts_as_k1_on_average_pooled_input(k):
    """The init rule's purpose: kN(x) == k1(avg_pool_(k,k,k)(x)) when sizes divide."""
    torch.manual_seed(k)
    emb = PackedPatchEmbed(3, 12, patch_size=2, kernels=(1, k), rope_axes_dim=(4, 4, 4))
    emb.init_from_k1()
    x = torch.randn(2, 3, 2 * k, 4 * k, 6 * k, dtype=torch.float64)
    emb = emb.double()
    ours = emb._embed(x, k)
    ref = emb._embed(F.avg_pool3d(x, k), 1)
    assert torch.allclose(ours, ref, atol=1e-10)


def test_pool_rotary_replicate_pads():
    t = torch.arange(2 * 3 * 5 * 1, dtype=torch.float32).reshape(2, 3, 5, 1)
    pooled = pool_rotary(t, 2)
    assert pooled.shape == (2, 2, 3, 1)
    # last time slot averages frame 2 with its replica; last row averages row 4 with its replica
    assert pooled[0, 1, 2, 0] == t[0, 2, 4, 0]


def groups_from_layout(name, latent, gaps=0, batch=1, channels=4, tail_frames=0):
    """Random latents placed by the schedule layout -> (section, section indices, context, tail)."""
    plan = parse(name)
    g = torch.Generator().manual_seed(7)
    context, section, tail = [], None, None
    for p in layout(plan, gaps=gaps, tail_frames=tail_frames):
        lat = torch.randn(batch, channels, max(len(p.indices), 1), latent.height, latent.width, generator=g)
        if p.role == "section":
            section = (lat, torch.tensor(p.indices))
        elif p.role == "tail":
            if p.indices and p.label != "td":
                tail = TailGroup(lat, torch.tensor(p.indices), option=p.label, kernel=max(plan.kernels))
        else:
            context.append(ContextGroup(lat, torch.tensor(p.indices), p.kernel, p.role))
    return section, context, tail


@pytest.mark.parametrize(
    "name",
    [
        "f1k1_x_g9_f1k1f2k2f16k4_td",
        "td_f16k4f4k2f1k1_g9",
        "td_f16k4f4k2f1k1_g9_x_f1k1",
        "td_f8k8f4k4f2k2f1k1_g9",
        "td_f16k16f8k8f4k4f2k2f1k1_g9",
    ],
)
def test_packed_token_count_equals_token_math(name):
    latent = LatentSize(12, 20)
    emb = PackedPatchEmbed(4, 24, kernels=(1, 2, 4, 8, 16), rope_axes_dim=(4, 4, 4))
    (x, ix), context, _ = groups_from_layout(name, latent, gaps=3)
    packed = emb(x, ix, context)
    assert packed.num_tokens == count_tokens(name, latent).total
    assert packed.rope_cos.shape == (packed.num_tokens, 12)
    assert packed.tokens[:, packed.section].shape[1] == count_tokens(name, latent).section


@pytest.mark.parametrize("option", ["ta", "tc"])
def test_tail_tokens_equal_token_math(option):
    latent = LatentSize(12, 20)
    name = f"{option}_f16k4f4k2f1k1_g9"
    emb = PackedPatchEmbed(4, 24, kernels=(1, 2, 4), rope_axes_dim=(4, 4, 4))
    (x, ix), context, tail = groups_from_layout(name, latent, tail_frames=5)
    packed = emb(x, ix, context, tail)
    assert packed.num_tokens == count_tokens(name, latent, history_frames=21 + 5).total
    tail_span = packed.spans[0][2]
    assert packed.spans[0][0] == "tail"
    if option == "ta":
        assert tail_span.stop == 5
        # each tail frame's rotary row is the spatial mean of its frame's table
        cos, _ = emb.rope.grid(tail.indices, 6, 10)
        assert torch.allclose(packed.rope_cos[:5], cos.mean(dim=(2, 3)).T, atol=1e-6)


def test_bad_inputs_raise_clear_errors():
    emb = PackedPatchEmbed(4, 24, kernels=(1, 2), rope_axes_dim=(4, 4, 4))
    x, ix = torch.randn(1, 4, 2, 8, 8), torch.tensor([5, 6])
    with pytest.raises(ValueError, match="expected 4 latent channels"):
        emb(torch.randn(1, 3, 2, 8, 8), ix)
    with pytest.raises(ValueError, match="expected 2 RoPE indices"):
        emb(x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="kernel k4 is not available"):
        emb(x, ix, [ContextGroup(torch.randn(1, 4, 4, 8, 8), range(4), 4)])
    with pytest.raises(ValueError, match="must match the section"):
        emb(x, ix, [ContextGroup(torch.randn(1, 4, 1, 6, 8), [0], 1)])
    with pytest.raises(ValueError, match="zero frames"):
        emb(x, ix, [ContextGroup(torch.randn(1, 4, 0, 8, 8), [], 1)])
    with pytest.raises(ValueError, match="not a multiple of the patch size"):
        emb(torch.randn(1, 4, 2, 7, 8), ix)
    with pytest.raises(ValueError, match="takes no tokens"):
        emb(x, ix, tail=TailGroup(torch.randn(1, 4, 1, 8, 8), [0], option="td"))
    with pytest.raises(ValueError, match="kernels must include 1"):
        PackedPatchEmbed(4, 24, kernels=(2, 3))
    with pytest.raises(ValueError, match="three positive even"):
        RotaryTable((3, 4, 4))


@pytest.mark.parametrize("k", [8, 16])
def test_pooled_kernels_equal_the_init_rule_conv(k):
    """A pooled kN (pooling + k4) gives the same tokens as a full kN conv initialised from that k4."""
    torch.manual_seed(0)
    full = PackedPatchEmbed(3, 12, kernels=(1, 2, 4, k), rope_axes_dim=(4, 4, 4)).double()
    pooled = PackedPatchEmbed(3, 12, kernels=(1, 2, 4, k), rope_axes_dim=(4, 4, 4), pooled_above=4).double()
    pooled.load_state_dict({n: v for n, v in full.state_dict().items() if n in pooled.state_dict()})
    with torch.no_grad():  # the full kN as "k4 on the (k/4)^3-average-pooled input"
        r = k // 4
        w = (
            pooled.proj["k4"].weight.repeat_interleave(r, 2).repeat_interleave(r, 3).repeat_interleave(r, 4)
            / r**3
        )
        full.proj[f"k{k}"].weight.copy_(w)
        full.proj[f"k{k}"].bias.copy_(pooled.proj["k4"].bias)
    x = torch.randn(2, 3, k + 3, 2 * k + 6, 4 * k - 2, dtype=torch.float64)  # padding on every axis
    torch.testing.assert_close(pooled._embed(x, k), full._embed(x, k))
    assert sum(p.numel() for p in pooled.parameters()) < sum(p.numel() for p in full.parameters()) / 2
    with pytest.raises(ValueError, match="pooled_above=k3"):
        PackedPatchEmbed(3, 12, kernels=(1, 2, 4), rope_axes_dim=(4, 4, 4), pooled_above=3)


@pytest.mark.parametrize("frames", [1, 3, 513])
def test_tail_rotary_means_match_the_full_grid(frames):
    rope = RotaryTable((8, 12, 12), 256.0)
    idx = torch.arange(frames) + 7
    cos, sin = rope.grid(idx, 4, 6)
    fc, fs = rope.frame_mean(idx, 4, 6)
    assert fc.shape == (32, 1, 4, 6)
    assert torch.allclose(fc, cos.mean(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose(fs, sin.mean(dim=1, keepdim=True), atol=1e-6)
    sc, ss = rope.spatial_mean(idx, 4, 6)
    assert sc.shape == (32, frames, 1, 1)
    assert torch.allclose(sc, cos.mean(dim=(2, 3), keepdim=True), atol=1e-6)
    assert torch.allclose(ss, sin.mean(dim=(2, 3), keepdim=True), atol=1e-6)


def test_rotary_tables_reused_across_grid_sizes_equal_fresh_ones():
    """The spatial rows are kept per grid size: a table that served other sizes first gives exactly
    what a fresh table gives."""
    idx = torch.tensor([0, 5, 9])
    used = RotaryTable((8, 12, 12), 256.0)
    for h, w in [(4, 6), (3, 3), (4, 6), (6, 4)]:
        cos, sin = used.grid(idx, h, w)
        fresh_cos, fresh_sin = RotaryTable((8, 12, 12), 256.0).grid(idx, h, w)
        assert cos.shape == (32, 3, h, w)
        assert torch.equal(cos, fresh_cos) and torch.equal(sin, fresh_sin)
    assert sorted(used._spatial_tables) == [(3, 3, "cpu"), (4, 6, "cpu"), (6, 4, "cpu")]
