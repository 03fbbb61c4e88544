"""BRISQUE (Mittal et al. 2012) batched in torch, scored by the SVM model the ``brisque`` package ships.

Features and scoring follow the ``brisque`` package (v0.2) step by step so scores agree with it: luma
from skimage's rgb2gray weights, MSCN coefficients with a 7x7 Gaussian (sigma 7/6, zero padding),
asymmetric generalised Gaussian fits of the MSCN map and its four neighbour products, at full and
half scale (OpenCV's bicubic resize), min-max scaling, then the epsilon-SVR with an RBF kernel.
Lower is better (roughly 0-100). Computed in float64.
"""

from __future__ import annotations

import functools
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from metrics.functional import separable_filter
from metrics.weights import find_weights

GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)  # skimage.color.rgb2gray
MODEL_ENV = "FPEVAL_BRISQUE_MODEL"
# OpenCV INTER_CUBIC (a = -0.75) taps for an exact 2x downscale (source offset 0.5).
_HALF_CUBIC = torch.tensor([-0.09375, 0.59375, 0.59375, -0.09375], dtype=torch.float64)


@dataclass(frozen=True)
class BrisqueModel:
    """The epsilon-SVR (RBF kernel) and the feature min/max scaling."""

    support_vectors: torch.Tensor  # (n_sv, 36)
    coefficients: torch.Tensor  # (n_sv,)
    gamma: float
    rho: float
    feature_min: torch.Tensor  # (36,)
    feature_max: torch.Tensor  # (36,)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Scores of (N, 36) raw features."""
        dev = features.device
        lo, hi = self.feature_min.to(dev), self.feature_max.to(dev)
        x = -1.0 + 2.0 / (hi - lo) * (features.double() - lo)
        d2 = torch.cdist(x, self.support_vectors.to(dev)).square()
        return torch.exp(-self.gamma * d2) @ self.coefficients.to(dev) - self.rho


class _PlainDataUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # the scaling file holds only lists of floats
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a BRISQUE scaling file")


def package_model_dir() -> Path | None:
    """``brisque/models`` inside the installed ``brisque`` package (found without importing it)."""
    spec = importlib.util.find_spec("brisque")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def parse_libsvm_model(text: str, num_features: int = 36) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """(support vectors, coefficients, gamma, rho) of a LIBSVM text model (epsilon-SVR, RBF kernel)."""
    header, _, body = text.partition("\nSV\n")
    params = dict(line.split(" ", 1) for line in header.splitlines() if " " in line)
    if params.get("svm_type") != "epsilon_svr" or params.get("kernel_type") != "rbf":
        raise ValueError(
            f"expected an epsilon_svr model with an rbf kernel, got {params.get('svm_type')}/{params.get('kernel_type')}"
        )
    rows = [line.split() for line in body.splitlines() if line.strip()]
    sv = torch.zeros(len(rows), num_features, dtype=torch.float64)
    coef = torch.empty(len(rows), dtype=torch.float64)
    for i, row in enumerate(rows):
        coef[i] = float(row[0])
        for item in row[1:]:
            idx, val = item.split(":")
            sv[i, int(idx) - 1] = float(val)
    return sv, coef, float(params["gamma"]), float(params["rho"])


@functools.lru_cache(maxsize=4)
def load_model(path: str | None = None) -> BrisqueModel:
    """Read the SVM and scaling files from ``path`` (a folder), $FPEVAL_BRISQUE_MODEL or the brisque package."""
    pkg = package_model_dir()
    svm = find_weights(
        "BRISQUE SVM model (svm.txt and normalize.pickle, shipped in the `brisque` package: pip install 'fpeval[metrics]')",
        ["svm.txt"],
        explicit=path,
        env=MODEL_ENV,
        flag="--weights brisque=<folder>",
        search_dirs=[pkg] if pkg else [],
    )
    scaling_file = svm.parent / "normalize.pickle"
    if not scaling_file.is_file():
        raise FileNotFoundError(f"BRISQUE scaling file {scaling_file} is missing beside {svm}")
    sv, coef, gamma, rho = parse_libsvm_model(svm.read_text())
    with open(scaling_file, "rb") as f:
        scaling = _PlainDataUnpickler(f).load()
    lo = torch.tensor(scaling["min_"], dtype=torch.float64)
    hi = torch.tensor(scaling["max_"], dtype=torch.float64)
    return BrisqueModel(sv, coef, gamma, rho, lo, hi)


def _gaussian_taps(n: int = 7, sigma: float = 7 / 6) -> torch.Tensor:
    """1-D taps whose outer product is the package's normalised 2-D Gaussian kernel."""
    r = torch.arange(n, dtype=torch.float64) - n // 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def mscn(gray: torch.Tensor, n: int = 7, sigma: float = 7 / 6) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients of (N, H, W) grey images in [0, 1].

    The 2-D Gaussian with zero padding (scipy's 'same' convolution) is applied as two 1-D passes.
    """
    g = _gaussian_taps(n, sigma)
    mu, mean_sq = separable_filter(torch.stack([gray, gray * gray]), g, "same").unbind(0)
    return (gray - mu) / (torch.sqrt((mu * mu - mean_sq).abs()) + 1 / 255)


def _pair_products(m: torch.Tensor) -> list[torch.Tensor]:
    return [
        m,
        m[:, :, :-1] * m[:, :, 1:],  # horizontal
        m[:, :-1, :] * m[:, 1:, :],  # vertical
        m[:, :-1, :-1] * m[:, 1:, 1:],  # main diagonal
        m[:, 1:, :-1] * m[:, :-1, 1:],  # secondary diagonal
    ]


def _log_phi(alpha: torch.Tensor) -> torch.Tensor:
    """log of Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)), increasing in a from 0 towards 3/4."""
    return 2 * torch.lgamma(2 / alpha) - torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)


def solve_alpha(target: torch.Tensor, iterations: int = 64) -> torch.Tensor:
    """Shape parameter a with phi(a) = target, by bisection in log a (phi is monotone)."""
    lo = torch.full_like(target, -7.0)  # a in [e^-7, e^7]
    hi = torch.full_like(target, 7.0)
    log_target = torch.log(target)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        below = _log_phi(torch.exp(mid)) < log_target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return torch.exp((lo + hi) / 2)


def _aggd_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(left mean square, right mean square, R_hat) per row of (N, M), as the package estimates them."""
    neg = x < 0
    sq = x * x
    total = sq.sum(1)
    left_sum = torch.where(neg, sq, 0.0).sum(1)
    n_left = neg.sum(1)
    left = left_sum / n_left
    right = (total - left_sum) / (x.shape[1] - n_left)
    r_hat = x.abs().mean(1) ** 2 / (total / x.shape[1])
    gamma = left.sqrt() / right.sqrt()
    return left, right, r_hat * (gamma**3 + 1) * (gamma + 1) / (gamma**2 + 1) ** 2


def _aggd_finish(alpha: torch.Tensor, left: torch.Tensor, right: torch.Tensor):
    sigma_l, sigma_r = left.sqrt(), right.sqrt()
    lg1, lg2, lg3 = torch.lgamma(1 / alpha), torch.lgamma(2 / alpha), torch.lgamma(3 / alpha)
    mean = (sigma_r - sigma_l) * torch.exp(0.5 * (lg1 - lg3)) * torch.exp(lg2 - lg1)
    return alpha, mean, sigma_l, sigma_r


def _scale_moments(gray: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    return [_aggd_moments(c.flatten(1)) for c in _pair_products(mscn(gray))]


def _features(moments: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """The 18 features per scale from the moments of its 5 coefficient maps (one batched alpha solve)."""
    left, right, big_r = (torch.stack(m, dim=1) for m in zip(*moments, strict=True))
    alpha, mean, sl, sr = _aggd_finish(solve_alpha(big_r), left, right)
    feats = []
    for i in range(len(moments)):
        if i % 5 == 0:  # the MSCN map itself: shape and variance
            feats += [alpha[:, i], (sl[:, i] ** 2 + sr[:, i] ** 2) / 2]
        else:
            feats += [alpha[:, i], mean[:, i], sl[:, i] ** 2, sr[:, i] ** 2]
    return torch.stack(feats, dim=1)


def half_size_cubic(gray: torch.Tensor) -> torch.Tensor:
    """OpenCV ``resize(fx=0.5, fy=0.5, INTER_CUBIC)`` of (N, H, W): round-half-even sizes, replicated borders."""

    def along_last(x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        out = round(n / 2)
        pad_right = max(0, 2 * out - (n - 1))
        flat = x.reshape(-1, 1, n)
        padded = F.pad(flat, (1, pad_right), mode="replicate")
        y = F.conv1d(padded, _HALF_CUBIC.to(x.device, x.dtype).view(1, 1, 4), stride=2)[..., :out]
        return y.reshape(*x.shape[:-1], out)

    return along_last(along_last(gray).transpose(-1, -2)).transpose(-1, -2)


def brisque_features(frames: torch.Tensor) -> torch.Tensor:
    """(N, 36) BRISQUE features of (N, 3, H, W) frames in [0, 1] (float64)."""
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"brisque needs (N, 3, H, W) frames in [0, 1], got shape {tuple(frames.shape)}")
    if min(frames.shape[-2:]) < 16:
        raise ValueError(f"brisque needs frames of at least 16x16 pixels, got {tuple(frames.shape[-2:])}")
    x = frames.double()
    gray = torch.einsum("nchw,c->nhw", x, torch.tensor(GRAY_WEIGHTS, dtype=x.dtype, device=x.device))
    return _features(_scale_moments(gray) + _scale_moments(half_size_cubic(gray)))


def brisque(frames: torch.Tensor, model: BrisqueModel | None = None) -> torch.Tensor:
    """BRISQUE score per frame of (N, 3, H, W) frames in [0, 1]; lower is better."""
    model = model or load_model()
    return model.predict(brisque_features(frames))
