"""Flow-matching section samplers, as plain functions over ``model(x, sigma) -> velocity``.

Flow matching: x_sigma = (1 - sigma) x0 + sigma eps, the model predicts the velocity v = eps - x0,
so x0 = x - sigma v. Sigmas run from 1 to 0 and are shifted by sigma' = s sigma / (1 + (s - 1) sigma),
with a static s or the dynamic rule s = exp(mu), mu linear in the sequence length (capped at ln 7).
The official FramePack solver is UniPC (bh1, order <= 3) returning the last x0 prediction; diffusers'
pipeline uses first-order Euler. Both are here, with real classifier-free guidance as a wrapper.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Callback = Callable[[dict], None]

SOLVERS = ("euler", "unipc")


def dynamic_shift_mu(
    seq_len: float,
    base_seq_len: int = 256,
    max_seq_len: int = 4096,
    base_shift: float = 0.5,
    max_shift: float = 1.15,
    max_exp_shift: float = 7.0,
) -> float:
    """mu for the dynamic shift: linear from (base_seq_len, base_shift) to (max_seq_len, max_shift), capped at ln 7."""
    slope = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    mu = base_shift + slope * (seq_len - base_seq_len)
    return min(mu, math.log(max_exp_shift))


def shift_sigmas(sigmas, shift: float):
    """The static time shift s * t / (1 + (s - 1) t) of noise levels (arrays or tensors); shift > 1
    moves them towards 1. Sampling schedules and training noise levels share it."""
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def flow_sigmas(steps: int, shift: float | None = None, *, seq_len: float | None = None) -> torch.Tensor:
    """``steps + 1`` shifted sigmas from 1 down to 0 (float32).

    Give ``shift`` for a static shift, or ``seq_len`` (image tokens of the section) for the dynamic
    rule. The arithmetic follows diffusers' FlowMatchEulerDiscreteScheduler in float32.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if (shift is None) == (seq_len is None):
        raise ValueError("give exactly one of shift (static) or seq_len (dynamic shift)")
    s = shift if shift is not None else math.exp(dynamic_shift_mu(seq_len))
    if s <= 0:
        raise ValueError(f"shift must be > 0, got {s}")
    sigmas = np.linspace(1.0, 0.0, steps + 1)[:-1].astype(np.float32)
    if shift is not None:
        sigmas = shift_sigmas(sigmas, s)
    else:
        mu = dynamic_shift_mu(seq_len)
        sigmas = math.exp(mu) / (math.exp(mu) + (1 / sigmas - 1))
    return torch.cat([torch.from_numpy(np.asarray(sigmas, dtype=np.float32)), torch.zeros(1)])


def _expand(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-sample sigma broadcast over the remaining dims of x (moved to x's device)."""
    return sigma.to(x.device).reshape(-1, *([1] * (x.ndim - 1)))


def sample_euler(
    model: Velocity, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback | None = None
) -> torch.Tensor:
    """First-order Euler on the flow ODE; returns the sample at sigmas[-1] (float32)."""
    x = x.float()
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i].expand(x.shape[0]).to(x.device)
        v = model(x, sigma).float()
        x = x + (sigmas[i + 1] - sigmas[i]) * v
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sigmas[i], "denoised": x - _expand(sigma, x) * v})
    return x


def sample_unipc(
    model: Velocity,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    order: int = 3,
    variant: str = "bh1",
    callback: Callback | None = None,
) -> torch.Tensor:
    """Flow-matching UniPC predictor-corrector on x0 predictions (lambda = -log sigma).

    Uses ``len(sigmas) - 1`` model calls and returns the last x0 prediction, as the official
    FramePack sampler does. ``order`` is capped at 3 and at ``len(sigmas) - 2``.
    """
    if variant not in ("bh1", "bh2"):
        raise ValueError(f"unknown UniPC variant {variant!r}; accepted: 'bh1', 'bh2'")
    if not 1 <= order <= 3:
        raise ValueError(f"UniPC order must be 1, 2 or 3, got {order}")
    x = x.float()
    order = max(1, min(order, len(sigmas) - 2))

    def x0_of(xt: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        # the schedule's coefficients stay on the CPU; the model sees sigma on x's device
        return xt - _expand(sigma, xt) * model(xt, sigma.to(xt.device)).float()

    prev_x0: list[torch.Tensor] = []
    prev_sigma: list[torch.Tensor] = []
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i].expand(x.shape[0]).float()
        if i == 0:
            x0 = x0_of(x, sigma)
        else:
            x, x0 = _unipc_update(x0_of, x, prev_x0, prev_sigma, sigma, min(i, order), variant)
        prev_x0 = (prev_x0 + [x0])[-order:]
        prev_sigma = (prev_sigma + [sigma])[-order:]
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sigmas[i], "denoised": x0})
    return prev_x0[-1]


def _unipc_update(x0_of, x, prev_x0, prev_sigma, sigma, order, variant):
    """One UniPC step from prev_sigma[-1] to sigma: predictor, model call at the prediction, corrector."""
    s0, m0 = prev_sigma[-1], prev_x0[-1]
    lam0, lam_t = -torch.log(s0), -torch.log(sigma)
    h = lam_t - lam0

    rks, d1s = [], []
    for k in range(1, order):
        lam_k = -torch.log(prev_sigma[-(k + 1)])
        rk = ((lam_k - lam0) / h)[0]
        rks.append(rk)
        d1s.append((prev_x0[-(k + 1)] - m0) / rk)
    rks = torch.tensor([*[float(r) for r in rks], 1.0], dtype=torch.float64)

    hh = -h[0].double()
    h_phi_1 = torch.expm1(hh)
    b_h = hh if variant == "bh1" else torch.expm1(hh)
    h_phi_k = h_phi_1 / hh - 1
    factorial = 1
    rows, b = [], []
    for k in range(1, order + 1):
        rows.append(rks ** (k - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= k + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    R = torch.stack(rows)
    b = torch.stack(b)

    x_lin = _expand(sigma / s0, x) * x - float(h_phi_1) * m0
    if d1s:
        D = torch.stack(d1s, dim=1)
        rhos_p = (
            torch.tensor([0.5], dtype=torch.float64)
            if order == 2
            else torch.linalg.solve(R[:-1, :-1], b[:-1])
        )
        x_pred = x_lin - float(b_h) * torch.tensordot(D, rhos_p.to(D.device, D.dtype), dims=([1], [0]))
    else:
        D = None
        x_pred = x_lin
    x0_t = x0_of(x_pred, sigma)
    rhos_c = torch.tensor([0.5], dtype=torch.float64) if order == 1 else torch.linalg.solve(R, b)
    corr = torch.tensordot(D, rhos_c[:-1].to(D.device, D.dtype), dims=([1], [0])) if D is not None else 0.0
    x_new = x_lin - float(b_h) * (corr + float(rhos_c[-1]) * (x0_t - m0))
    return x_new, x0_t


def sample(
    model: Velocity,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    solver: str = "unipc",
    callback: Callback | None = None,
) -> torch.Tensor:
    """Run ``solver`` ('euler' or 'unipc') from noise ``x`` along ``sigmas``; returns clean latents."""
    if solver == "euler":
        return sample_euler(model, x, sigmas, callback)
    if solver == "unipc":
        return sample_unipc(model, x, sigmas, callback=callback)
    raise ValueError(f"unknown solver {solver!r}; accepted: {', '.join(SOLVERS)}")


def guided(cond: Velocity, uncond: Velocity, scale: float) -> Velocity:
    """Real classifier-free guidance: v = v_u + scale (v_c - v_u); scale 1 calls only ``cond``."""
    if scale == 1.0:
        return cond

    def model(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        v_u = uncond(x, sigma).float()
        return v_u + scale * (cond(x, sigma).float() - v_u)

    return model


def seeded_noise(
    shape: Sequence[int], generators: Sequence[torch.Generator], device=None, dtype=torch.float32
) -> torch.Tensor:
    """Standard normal noise, one batch item per generator, so each video's noise is independent of the batch."""
    if len(generators) != shape[0]:
        raise ValueError(f"need one generator per batch item: batch {shape[0]}, generators {len(generators)}")
    return torch.cat(
        [
            torch.randn((1, *shape[1:]), generator=g, device=g.device, dtype=dtype).to(device or g.device)
            for g in generators
        ]
    )
