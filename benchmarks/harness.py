"""The timing harness every comparison uses: interleaved A/B rounds, warm-up excluded, outputs checked.

Each round times both arms back to back, in alternating order, so that a change in machine load hits
both; the per-round ratio A / B is summarised by its median with a percentile-bootstrap 95 % interval
over rounds, beside each arm's min / median / max.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Comparison:
    """Seconds of each arm per round, and the ratio ``a / b`` per round."""

    a: list[float]
    b: list[float]
    names: tuple[str, str]

    @property
    def ratios(self) -> list[float]:
        return [x / y for x, y in zip(self.a, self.b, strict=True)]

    def ratio_interval(self, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0):
        """(median, low, high): the median ratio with a percentile-bootstrap interval over rounds."""
        r = np.asarray(self.ratios)
        rng = np.random.default_rng(seed)
        medians = np.median(r[rng.integers(0, len(r), (resamples, len(r)))], axis=1)
        alpha = (1 - confidence) / 2
        low, high = np.quantile(medians, [alpha, 1 - alpha])
        return float(np.median(r)), float(low), float(high)

    @staticmethod
    def spread(values: list[float]) -> str:
        return f"{min(values):.4g} / {statistics.median(values):.4g} / {max(values):.4g}"

    def summary(self) -> str:
        med, low, high = self.ratio_interval()
        a, b = self.names
        return (
            f"{a}: {self.spread(self.a)} s; {b}: {self.spread(self.b)} s (min / median / max over "
            f"{len(self.a)} rounds); {a} / {b} = {med:.3f} [{low:.3f}, {high:.3f}]"
        )


def compare(
    a: Callable[[], object],
    b: Callable[[], object],
    *,
    names: tuple[str, str] = ("a", "b"),
    rounds: int = 10,
    warmup: int = 1,
    check: Callable[[object, object], None] | None = None,
    sync: Callable[[], None] | None = None,
) -> Comparison:
    """Time ``a`` and ``b`` over ``rounds`` interleaved rounds after ``warmup`` untimed ones.

    ``check(out_a, out_b)`` runs on the warm-up outputs (raise if the arms disagree); ``sync`` runs
    before and after each timed call (e.g. ``torch.cuda.synchronize``)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    for _ in range(max(warmup, 1 if check else 0)):
        out_a, out_b = a(), b()
    if check is not None:
        check(out_a, out_b)

    def timed(fn) -> float:
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        return time.perf_counter() - t0

    times_a, times_b = [], []
    for r in range(rounds):
        if r % 2 == 0:
            times_a.append(timed(a))
            times_b.append(timed(b))
        else:
            times_b.append(timed(b))
            times_a.append(timed(a))
    return Comparison(times_a, times_b, names)
