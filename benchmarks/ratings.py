"""Bradley–Terry with bootstrap CIs: fpeval's vectorised bootstrap vs one scipy refit per round.

fpeval draws every round's resample as one multinomial over the distinct (left, right, outcome) cells
and fits all rounds at once by batched Newton; the baseline resamples the votes table and refits with
``bradley_terry`` (scipy L-BFGS) per round, as FastChat's bootstrap does. The baseline is timed on a
subset of rounds and extrapolated linearly to the full count. Target: <= 2 s for 100k votes, 20
variants, 1000 rounds on 2 cores.

    python benchmarks/ratings.py [--votes 100000] [--variants 20] [--rounds 1000] [--baseline-rounds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report import command, machine, write_section  # noqa: E402

from metrics.ratings import bootstrap, bradley_terry  # noqa: E402


def synthetic_votes(n_votes: int, n_variants: int, seed: int = 0) -> pd.DataFrame:
    """Votes between random pairs of variants with Bradley–Terry strengths, 10 % ties, 3 % both bad."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 0.6, n_variants)
    a = rng.integers(0, n_variants, n_votes)
    b = (a + rng.integers(1, n_variants, n_votes)) % n_variants
    p_left = 1.0 / (1.0 + np.exp(strength[b] - strength[a]))
    u = rng.random(n_votes)
    choice = np.where(rng.random(n_votes) < p_left, "left", "right").astype(object)
    choice[u < 0.10] = "tie"
    choice[(u >= 0.10) & (u < 0.13)] = "both_bad"
    names = np.array([f"variant{i:02d}" for i in range(n_variants)], dtype=object)
    return pd.DataFrame(
        {
            "left": names[a],
            "right": names[b],
            "choice": choice,
            "annotator": "h",
            "created_at": pd.Timestamp("2025-01-01", tz="UTC")
            + pd.to_timedelta(np.arange(n_votes), unit="s"),
        }
    )


def scipy_per_round(votes: pd.DataFrame, rounds: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        resample = votes.iloc[rng.integers(0, len(votes), len(votes))]
        out.append(bradley_terry(resample).to_numpy())
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--votes", type=int, default=100_000)
    ap.add_argument("--variants", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--baseline-rounds", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    votes = synthetic_votes(args.votes, args.variants)

    bootstrap(votes, rounds=10)  # warm-up
    ours = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        table = bootstrap(votes, rounds=args.rounds, seed=r)
        ours.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    baseline = scipy_per_round(votes, args.baseline_rounds)
    per_round = (time.perf_counter() - t0) / args.baseline_rounds
    m_ours = statistics.median(ours)
    extrapolated = per_round * args.rounds
    ratio = extrapolated / m_ours
    # The two bootstraps estimate the same spread: compare their standard deviations (baseline: few rounds).
    ours_sd = ((table["upper"] - table["lower"]) / (2 * 1.96)).mean()
    base_sd = baseline.std(axis=0, ddof=1).mean()
    print(
        f"{args.votes} votes, {args.variants} variants, {args.rounds} rounds: fpeval {m_ours:.2f} s "
        f"(target <= 2 s); scipy per round {per_round * 1e3:.1f} ms -> {extrapolated:.1f} s extrapolated "
        f"from {args.baseline_rounds} rounds; speed-up {ratio:.0f}x; mean CI half-width/1.96 {ours_sd:.2f} "
        f"vs baseline sd {base_sd:.2f} rating points"
    )
    if not args.no_write:
        cmd = command()
        write_section(
            "Bradley–Terry bootstrap",
            f"BT MLE + {args.rounds} bootstrap rounds over {args.votes} synthetic votes, {args.variants} variants "
            f"(median of {args.repeats}). Baseline: resample the votes table and refit with scipy L-BFGS per round, "
            f"timed over {args.baseline_rounds} rounds and extrapolated linearly to {args.rounds}. "
            f"1-minute load average when the run started: {load:.2f} (other jobs may share the machine).\n\n"
            f"Command: `{cmd}`  \nMachine: {machine()}\n\n"
            "| votes | variants | rounds | fpeval (vectorised) | scipy per round (extrapolated) | speed-up | "
            "bootstrap sd: fpeval / baseline |\n| --- | --- | --- | --- | --- | --- | --- |\n"
            f"| {args.votes} | {args.variants} | {args.rounds} | {m_ours:.2f} s | {extrapolated:.1f} s "
            f"({per_round * 1e3:.0f} ms x {args.rounds}) | **{ratio:.0f}x** | {ours_sd:.2f} / {base_sd:.2f} |",
        )


if __name__ == "__main__":
    main()
