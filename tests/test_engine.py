"""The engine's history policies with a recording denoiser: what each variant really feeds the model."""

import pytest
import torch

from fpeval.plan.variants import make_plan, variant
from fpeval.sampling.engine import generate_latents, materialise
from fpeval.sampling.history import Codebook
from fpeval.sampling.sampler import flow_sigmas


class Recorder:
    """A denoiser that records its inputs and returns a fixed linear velocity."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, sigma, context, cond):
        self.calls.append(dict(sigma=float(sigma[0]), context=context, cond=cond))
        return 0.1 * x


START = torch.randn(1, 4, 1, 4, 4, generator=torch.Generator().manual_seed(0))


def run(name, steps=3, sections=2, **kw):
    rec = Recorder()
    cfg = variant(name, **kw.pop("overrides", {}))
    res = generate_latents(rec, cfg, START, "c", sections=sections, seeds=[0], steps=steps, shift=3.0, **kw)
    return rec, res


def test_vanilla_calls_once_per_step_with_clean_history():
    rec, res = run("vanilla")
    assert len(rec.calls) == 2 * 3
    first = rec.calls[0]["context"]
    k1 = [g for g in first.groups if g.role == "past_history" and g.kernel == 1][0]
    assert torch.equal(k1.latents, START)  # the start latent is the newest history frame of section 0
    assert first.group_sigmas is None
    assert res.latents.shape == (1, 4, 19, 4, 4) and torch.equal(res.latents[:, :, :1], START)


def test_discrete_history_is_quantised_and_anchor_is_not():
    book = Codebook(torch.randn(5, 4, generator=torch.Generator().manual_seed(1)))
    rec, _ = run("vanilla+D", codebook=book)
    ctx = rec.calls[-1]["context"]
    for g in ctx.groups:
        known = g.latents[:, :, (g.latents != 0).flatten(3).any(-1).any(1)[0]]  # padding frames stay zero
        pix = known.permute(0, 2, 3, 4, 1).reshape(-1, 4)
        gap = (pix[:, None, :] - book.centroids[None]).abs().amax(-1).amin(-1)  # to the nearest centroid
        in_book = (gap < 1e-6).all()
        assert bool(in_book) == (g.role != "start_frame"), g.role
    with pytest.raises(ValueError, match="pass a codebook"):
        run("vanilla+D")


@pytest.mark.parametrize("sigma_test", [0.1, 0.5])
def test_diffusion_forcing_noises_history_at_sigma_test_times_sigma(sigma_test):
    rec, _ = run("df", overrides=dict(sigma_test=sigma_test))
    sigmas = flow_sigmas(3, 3.0)
    for call, s in zip(rec.calls[:3], sigmas[:3], strict=True):
        ctx = call["context"]
        assert ctx.group_sigmas == [
            0.0 if g.role == "start_frame" else pytest.approx(sigma_test * float(s)) for g in ctx.groups
        ]
        start = [g for g in ctx.groups if g.role == "start_frame"][0]
        assert torch.equal(start.latents, START)


def test_sigma_test_zero_equals_vanilla():
    _, a = run("df", overrides=dict(sigma_test=0.0))
    _, b = run("vanilla")
    assert torch.equal(a.latents, b.latents)


def test_history_guidance_puts_fully_noised_history_on_the_unconditional_side():
    rec, res = run("history_guidance", overrides=dict(history_guidance=2.0))
    assert len(rec.calls) == 2 * 2 * 3  # cond + uncond per step
    levels = sorted(max(c["context"].group_sigmas) for c in rec.calls[:2])
    sigma = float(flow_sigmas(2, 1.0)[0])
    assert levels == [pytest.approx(0.1 * sigma), 1.0]  # delayed history (sigma_test x sigma) vs fully noised
    _, plain = run("vanilla")
    assert torch.equal(res.latents, plain.latents)  # velocity 0.1 x ignores context: guidance is a no-op here


def test_real_cfg_calls_both_conditionings():
    rec = Recorder()
    generate_latents(
        rec, "vanilla", START, "pos", sections=1, seeds=[0], steps=2, shift=1.0, cfg_scale=4.0, uncond="neg"
    )
    assert sorted(c["cond"] for c in rec.calls) == ["neg", "neg", "pos", "pos"]
    with pytest.raises(ValueError, match="uncond"):
        generate_latents(
            rec, "vanilla", START, "pos", sections=1, seeds=[0], steps=2, shift=1.0, cfg_scale=4.0
        )


def test_same_seed_same_latents_and_seed_errors():
    _, a = run("inverted")
    _, b = run("inverted")
    assert torch.equal(a.latents, b.latents)
    with pytest.raises(ValueError, match="one seed per video"):
        generate_latents(Recorder(), "vanilla", START, "c", sections=1, seeds=[0, 1], steps=1, shift=1.0)
    with pytest.raises(ValueError, match=r"\(B, C, 1, H, W\)"):
        generate_latents(
            Recorder(), "vanilla", START[:, :, 0], "c", sections=1, seeds=[0], steps=1, shift=1.0
        )


def history_reader(x, sigma, context, cond):
    """A denoiser whose output depends on every history latent, per video."""
    pooled = sum(g.latents.float().mean(dim=(1, 2, 3, 4)) for g in context.groups)
    return 0.1 * x + pooled.view(-1, 1, 1, 1, 1)


@pytest.mark.parametrize("name", ["df", "history_guidance", "vanilla"])
def test_each_video_is_independent_of_its_batch(name):
    starts = torch.randn(2, 4, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    kw = dict(sections=3, steps=3, shift=3.0)
    pair = generate_latents(history_reader, variant(name), starts, "c", seeds=[3, 5], **kw).latents
    alone = generate_latents(history_reader, variant(name), starts[1:], "c", seeds=[5], **kw).latents
    torch.testing.assert_close(pair[1:], alone, rtol=0, atol=0)
    first = generate_latents(history_reader, variant(name), starts[:1], "c", seeds=[3], **kw).latents
    torch.testing.assert_close(pair[:1], first, rtol=0, atol=0)


@pytest.mark.parametrize(
    "order, schedule",
    [
        ("vanilla", "tc_f16k4f4k2f1k1_g9"),
        ("endpoint", "tc_f16k4f4k2f1k1_g9_x_f1k1"),
        ("inverted", "f1k1_x_g9_f1k1f4k2f16k4_tc"),
    ],
)
def test_the_tc_tail_summed_incrementally_equals_its_mean_at_every_step(order, schedule):
    """Across one run's steps the running tc sum gives the tail's mean as the plain gather does, and
    the memo holds exactly the tail's known frames, each summed once."""
    plan = make_plan(variant(order, schedule=schedule), 8)
    torch.manual_seed(0)
    timeline = torch.zeros(2, 4, plan.total_frames + 1, 4, 4)
    timeline[:, :, 0] = torch.randn(2, 4, 4, 4)
    memo, tails = {}, 0
    for step in plan.steps:
        plain, running = materialise(step, timeline), materialise(step, timeline, memo)
        if plain.tail is not None:
            tails += 1
            torch.testing.assert_close(running.tail.latents, plain.tail.latents, rtol=1e-6, atol=1e-6)
            spec = next(s for s in step.context if s.tail)
            assert memo["tc_frames"] == {t for t in spec.frames if t is not None}
        for t in step.section:  # the step's section is generated: it now reads as known
            if t < plan.total_frames:
                timeline[:, :, t] = torch.randn(2, 4, 4, 4)
    assert tails >= 3  # the comparison ran on a growing tail, not vacuously
