"""The HunyuanVideo-FramePack backend: latent parity with diffusers' own pipeline, and every variant runs."""

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from hunyuan_tiny import tiny_inputs, tiny_pipeline  # noqa: E402

from fpeval.models.hunyuan import HunyuanCondition, HunyuanFramepackDenoiser, history_problem  # noqa: E402
from fpeval.plan.variants import VARIANTS, variant  # noqa: E402
from fpeval.sampling.engine import generate_latents  # noqa: E402
from fpeval.sampling.history import Codebook  # noqa: E402

H = W = 32
STEPS = 4


@pytest.fixture(scope="module")
def pipe():
    p = tiny_pipeline(shift=7.0)
    p.set_progress_bar_config(disable=True)
    return p


def pipeline_latents(pipe, inp, sections, sampling_type, **extra):
    """diffusers' own pipeline: the final latent video for seed 42."""
    return pipe(
        image=inp["image"],
        prompt_embeds=inp["prompt_embeds"],
        prompt_attention_mask=inp["prompt_attention_mask"],
        pooled_prompt_embeds=inp["pooled_prompt_embeds"],
        height=H,
        width=W,
        num_frames=33 * sections,
        latent_window_size=9,
        num_inference_steps=STEPS,
        guidance_scale=6.0,
        generator=torch.Generator().manual_seed(42),
        output_type="latent",
        sampling_type=sampling_type,
        **extra,
    ).frames[-1]


def _cond(pipe, inp, guidance=6.0):
    img = pipe.video_processor.preprocess(inp["image"], H, W)
    emb = pipe.encode_image(img, device="cpu").float()
    return img, HunyuanCondition(
        inp["prompt_embeds"],
        inp["prompt_attention_mask"],
        inp["pooled_prompt_embeds"],
        emb,
        guidance_scale=guidance,
    )


@pytest.mark.parametrize(
    "sampling_type,name,sections,last_image",
    [
        ("inverted_anti_drifting", "inverted", 3, False),
        ("inverted_anti_drifting", "inverted", 3, True),
        ("inverted_anti_drifting", "inverted", 6, False),  # N > 4: paddings [3, 2, 2, 2, 1, 0]
        ("vanilla", "vanilla", 3, False),
    ],
)
def test_latents_equal_diffusers_pipeline(pipe, sampling_type, name, sections, last_image):
    inp = tiny_inputs(H, W)
    img, cond = _cond(pipe, inp)
    extra = {}
    if last_image:
        last = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(5)) * 2 - 1
        extra["last_image"] = last
    ref = pipeline_latents(pipe, inp, sections, sampling_type, **extra)

    # Same random stream as the pipeline: the start latent is sampled first, then one noise draw per section.
    g = torch.Generator().manual_seed(42)
    start = pipe.prepare_image_latents(img, dtype=torch.float32, device="cpu", generator=g)
    end = None
    if last_image:
        last_img = pipe.video_processor.preprocess(extra["last_image"], H, W)
        end = pipe.prepare_image_latents(last_img, dtype=torch.float32, device="cpu", generator=g)
        # diffusers 0.42 computes the averaged SigLIP embeds of both images but passes image_embeds only
    res = generate_latents(
        HunyuanFramepackDenoiser(pipe.transformer),
        name,
        start,
        cond,
        sections=sections,
        generators=[g],
        steps=STEPS,
        solver="euler",
        shift=7.0,
        end_latents=end,
    )
    assert res.latents.shape == ref.shape == (1, 4, 1 + 9 * sections, H // 8, W // 8)
    torch.testing.assert_close(res.latents, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_runs_and_is_deterministic(pipe, name):
    inp = tiny_inputs(H, W)
    _, cond = _cond(pipe, inp)
    den = HunyuanFramepackDenoiser(pipe.transformer)
    start = inp["image_latents"].repeat(2, 1, 1, 1, 1)
    cond2 = HunyuanCondition(
        inp["prompt_embeds"].repeat(2, 1, 1),
        inp["prompt_attention_mask"].repeat(2, 1),
        inp["pooled_prompt_embeds"].repeat(2, 1),
        cond.image_embeds.repeat(2, 1, 1),
    )
    kwargs = {}
    if name == "vanilla+D":
        kwargs["codebook"] = Codebook.fit([torch.randn(1, 4, 5, 4, 4)], k=8, seed=0)
    if VARIANTS[name].get("causal"):  # never fine-tuned with a causal mask: refused, not faked
        with pytest.raises(ValueError, match="block-causal"):
            generate_latents(den, name, start, cond2, sections=3, seeds=[1, 2], steps=3, **kwargs)
        return
    if history_problem(variant(name)):  # noised history needs per-token timesteps: refused, not faked
        with pytest.raises(ValueError, match="cannot take noised history"):
            generate_latents(den, name, start, cond2, sections=3, seeds=[1, 2], steps=3, **kwargs)
        return
    runs = [
        generate_latents(den, name, start, cond2, sections=3, seeds=[1, 2], steps=3, **kwargs).latents
        for _ in range(2)
    ]
    assert runs[0].shape == (2, 4, 28, 4, 4)
    assert torch.isfinite(runs[0]).all()
    assert torch.equal(runs[0], runs[1])  # same seeds -> identical latents
    assert not torch.equal(runs[0][0], runs[0][1])  # different seeds -> different videos


@pytest.mark.parametrize(
    "schedule,sections,message",
    [
        ("td_f8k8f4k4f2k2f1k1_g9", 1, "only has k1, k2 and k4 inputs; this plan needs k8"),
        ("td_f1k1_g9", 1, "no k2, k4 group"),
        ("f1k1_ta_f16k4f2k2f1k1_g9", 4, "no tail input"),
    ],
)
def test_plan_backend_mismatch_is_a_clear_error(pipe, schedule, sections, message):
    inp = tiny_inputs(H, W)
    _, cond = _cond(pipe, inp)
    den = HunyuanFramepackDenoiser(pipe.transformer)
    with pytest.raises(ValueError, match=message):
        cfg = variant("vanilla", schedule=schedule)
        generate_latents(den, cfg, inp["image_latents"], cond, sections=sections, seeds=[0], steps=1)


def test_real_cfg_equals_diffusers_true_cfg(pipe):
    inp = tiny_inputs(H, W)
    img, cond = _cond(pipe, inp)
    g = torch.Generator().manual_seed(9)
    neg = dict(
        negative_prompt_embeds=torch.randn(1, 6, 16, generator=g),
        negative_prompt_attention_mask=torch.ones(1, 6),
        negative_pooled_prompt_embeds=torch.randn(1, 8, generator=g),
    )
    ref = pipeline_latents(pipe, inp, 2, "inverted_anti_drifting", true_cfg_scale=3.0, **neg)
    uncond = HunyuanCondition(
        neg["negative_prompt_embeds"],
        neg["negative_prompt_attention_mask"],
        neg["negative_pooled_prompt_embeds"],
        cond.image_embeds,
        guidance_scale=6.0,
    )
    gen = torch.Generator().manual_seed(42)
    start = pipe.prepare_image_latents(img, dtype=torch.float32, device="cpu", generator=gen)
    res = generate_latents(
        HunyuanFramepackDenoiser(pipe.transformer),
        "inverted",
        start,
        cond,
        sections=2,
        generators=[gen],
        steps=STEPS,
        solver="euler",
        shift=7.0,
        cfg_scale=3.0,
        uncond=uncond,
    )
    torch.testing.assert_close(res.latents, ref, rtol=1e-5, atol=1e-5)
