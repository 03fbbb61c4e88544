"""Flow-matching samplers: diffusers' sigmas and Euler steps, UniPC accuracy, CFG, seeded noise."""

import math

import numpy as np
import pytest
import torch

from fpeval.sampling.sampler import (
    dynamic_shift_mu,
    flow_sigmas,
    guided,
    sample,
    sample_euler,
    sample_unipc,
    seeded_noise,
)

diffusers = pytest.importorskip("diffusers")


@pytest.mark.parametrize("steps", [1, 4, 25])
@pytest.mark.parametrize("shift", [1.0, 3.0, 7.0])
def test_static_sigmas_equal_diffusers(steps, shift):
    sch = diffusers.FlowMatchEulerDiscreteScheduler(shift=shift)
    sch.set_timesteps(sigmas=np.linspace(1, 0, steps + 1)[:-1], device="cpu")
    assert torch.equal(flow_sigmas(steps, shift), sch.sigmas)


@pytest.mark.parametrize("seq_len", [64, 256, 1000, 14040, 100_000])
def test_dynamic_sigmas_equal_diffusers(seq_len):
    sch = diffusers.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True)
    sch.set_timesteps(sigmas=np.linspace(1, 0, 26)[:-1], device="cpu", mu=dynamic_shift_mu(seq_len))
    torch.testing.assert_close(flow_sigmas(25, seq_len=seq_len), sch.sigmas, rtol=1e-6, atol=1e-7)


def test_dynamic_shift_rule():
    assert dynamic_shift_mu(256) == pytest.approx(0.5)
    assert dynamic_shift_mu(4096) == pytest.approx(1.15)
    assert dynamic_shift_mu(10**6) == pytest.approx(math.log(7.0))  # capped at ln 7
    # 480p released section (14040 tokens) hits the cap: s = 7
    assert math.exp(dynamic_shift_mu(14040)) == pytest.approx(7.0)


def test_euler_equals_diffusers_scheduler_steps():
    torch.manual_seed(0)
    w = torch.randn(6, 6) * 0.3

    def model(x, sigma):
        return torch.tanh(x @ w) * (1 + sigma[:, None])

    x = torch.randn(3, 6)
    sch = diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0)
    sch.set_timesteps(sigmas=np.linspace(1, 0, 11)[:-1], device="cpu")
    ref = x.clone()
    for t in sch.timesteps:
        ref = sch.step(model(ref, (t / 1000).expand(3)), t, ref, return_dict=False)[0]
    ours = sample_euler(model, x.clone(), flow_sigmas(10, 7.0))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)


def gaussian_velocity(m=2.0, s=0.5):
    """Exact velocity for data x0 ~ N(m, s^2): the flow maps eps to m + s eps."""

    def v(x, sigma):
        sig = sigma.reshape(-1, *[1] * (x.ndim - 1))
        a = 1 - sig
        var = (a * s) ** 2 + sig**2
        x0 = m + a * s * s * (x - a * m) / var
        eps = sig * (x - a * m) / var
        return eps - x0

    return v, (lambda e: m + s * e)


@pytest.mark.parametrize("solver", ["euler", "unipc"])
def test_solvers_converge_to_the_exact_flow_map(solver):
    v, exact = gaussian_velocity()
    e = torch.randn(512, generator=torch.Generator().manual_seed(0)).double()
    errors = [
        (sample(v, e.clone(), flow_sigmas(n, 1.0).double(), solver) - exact(e)).abs().max().item()
        for n in (50, 100, 200)
    ]
    assert errors[0] > errors[1] > errors[2]
    rate = math.log2(errors[1] / errors[2])
    assert rate > (0.8 if solver == "euler" else 1.5)  # Euler first order; UniPC clearly higher


def test_unipc_beats_euler_at_equal_model_calls():
    v, exact = gaussian_velocity()
    e = torch.randn(512, generator=torch.Generator().manual_seed(1))
    sig = flow_sigmas(25, 3.0)
    err_u = (sample_unipc(v, e.clone(), sig) - exact(e)).abs().mean()
    err_e = (sample_euler(v, e.clone(), sig) - exact(e)).abs().mean()
    assert err_u < 0.6 * err_e


def test_unipc_uses_one_model_call_per_sigma():
    calls = []
    v, _ = gaussian_velocity()

    def counted(x, sigma):
        calls.append(float(sigma[0]))
        return v(x, sigma)

    sample_unipc(counted, torch.randn(4), flow_sigmas(10, 3.0))
    assert len(calls) == 10 and 0.0 not in calls


def test_guided_combines_and_skips_at_scale_one():
    def cond(x, s):
        return torch.ones_like(x)

    def uncond(x, s):
        return torch.zeros_like(x)

    x, s = torch.zeros(2, 3), torch.ones(2)
    assert guided(cond, uncond, 1.0) is cond
    assert torch.equal(guided(cond, uncond, 3.0)(x, s), torch.full((2, 3), 3.0))


def test_seeded_noise_is_batch_invariant():
    gens = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]  # noqa: E731
    both = seeded_noise((2, 4, 3), gens([7, 8]))
    alone = seeded_noise((1, 4, 3), gens([8]))
    assert torch.equal(both[1:], alone)
    with pytest.raises(ValueError, match="one generator per batch item"):
        seeded_noise((3, 4), gens([1]))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: flow_sigmas(0, 1.0), "positive integer"),
        (lambda: flow_sigmas(5), "exactly one of shift"),
        (lambda: flow_sigmas(5, 1.0, seq_len=10), "exactly one of shift"),
        (
            lambda: sample(lambda x, s: x, torch.zeros(1), flow_sigmas(2, 1.0), "heun"),
            "unknown solver 'heun'",
        ),
        (
            lambda: sample_unipc(lambda x, s: x, torch.zeros(1), flow_sigmas(2, 1.0), variant="bh3"),
            "unknown UniPC variant",
        ),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
