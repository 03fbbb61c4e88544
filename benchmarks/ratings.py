"""Bradley–Terry with bootstrap CIs: fpeval's vectorised bootstrap vs a lean per-round refit.

Both arms start from the votes table and do the same statistics: the BT MLE and ``--rounds`` vote-level
bootstrap resamples. fpeval draws every round as one multinomial over the distinct (left, right,
outcome) cells and fits all rounds at once by batched Newton. The baseline is what a careful user would
write: compress the votes into win counts once, draw each round's counts from the same multinomial and
refit with choix's ``ilsr_pairwise_dense`` (ties as half wins). Timed with the interleaved harness; the
point estimates of both arms are checked equal. Target: <= 2 s for 100k votes, 20 variants, 1000
rounds on 2 cores.

    python benchmarks/ratings.py [--votes 100000] [--variants 20] [--rounds 1000] [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import compare  # noqa: E402
from report import command, machine, write_section  # noqa: E402

from metrics.ratings import bootstrap  # noqa: E402


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


def lean_baseline(votes: pd.DataFrame, rounds: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(MLE strengths, (rounds, n) bootstrap strengths): win counts, multinomial resamples, choix per round."""
    import choix

    v = votes[votes["choice"] != "skip"]
    names = sorted(set(v["left"]) | set(v["right"]))
    index = {name: i for i, name in enumerate(names)}
    score = v["choice"].map({"left": 1.0, "right": 0.0, "tie": 0.5, "both_bad": 0.5}).to_numpy()
    cells = pd.DataFrame({"a": v["left"].map(index), "b": v["right"].map(index), "s": score})
    counts = cells.value_counts().reset_index(name="n")
    a, b, s, n = (counts[c].to_numpy() for c in ("a", "b", "s", "n"))

    def wins_of(weights: np.ndarray) -> np.ndarray:
        wins = np.zeros((len(names), len(names)))
        np.add.at(wins, (a, b), weights * s)
        np.add.at(wins, (b, a), weights * (1 - s))
        return wins

    def fit(wins: np.ndarray) -> np.ndarray:
        theta = choix.ilsr_pairwise_dense(wins, alpha=0.0, tol=1e-10)
        return theta - theta.mean()

    rng = np.random.default_rng(seed)
    point = fit(wins_of(n.astype(float)))
    draws = rng.multinomial(n.sum(), n / n.sum(), size=rounds)
    return point, np.array([fit(wins_of(d.astype(float))) for d in draws])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--votes", type=int, default=100_000)
    ap.add_argument("--variants", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=10, help="interleaved timing rounds")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    votes = synthetic_votes(args.votes, args.variants)
    scale = 400 / np.log(10)  # natural log-odds -> the Elo-like scale fpeval reports

    def ours():
        return bootstrap(votes, rounds=args.rounds, seed=0)

    def lean():
        return lean_baseline(votes, args.rounds)

    def check(table, baseline) -> None:
        point = (table["rating"] - table["rating"].mean()).to_numpy()
        np.testing.assert_allclose(point, baseline[0] * scale, atol=1e-3)  # the same MLE, in rating points
        ours_sd = ((table["upper"] - table["lower"]) / (2 * 1.96)).mean()
        base_sd = (baseline[1] * scale).std(axis=0, ddof=1).mean()
        assert abs(ours_sd / base_sd - 1) < 0.15, (ours_sd, base_sd)  # the same bootstrap spread

    result = compare(ours, lean, names=("fpeval", "lean baseline"), rounds=args.repeats, check=check)
    med, low, high = result.ratio_interval()
    print(f"{args.votes} votes, {args.variants} variants, {args.rounds} rounds: {result.summary()}")
    print(f"speed-up of fpeval over the lean baseline: {1 / med:.2f}x [{1 / high:.2f}, {1 / low:.2f}]")
    if not args.no_write:
        write_section(
            "Bradley–Terry bootstrap",
            f"BT MLE + {args.rounds} bootstrap rounds over {args.votes} synthetic votes, {args.variants} variants, "
            f"{args.repeats} interleaved rounds after a warm-up (`benchmarks/harness.py`). Baseline: the votes "
            "compressed to win counts once, each round's counts drawn from the same multinomial and refitted "
            "with choix `ilsr_pairwise_dense`; both arms' MLEs agree to 1e-3 rating points and their bootstrap "
            f"spreads within 15 %. 1-minute load average at the start: {load:.2f}.\n\n"
            f"Command: `{command()}`  \nMachine: {machine()}\n\n"
            "| votes | variants | rounds | fpeval s (min / median / max) | baseline s (min / median / max) | "
            "fpeval / baseline [95 % CI] |\n| --- | --- | --- | --- | --- | --- |\n"
            f"| {args.votes} | {args.variants} | {args.rounds} | {result.spread(result.a)} | "
            f"{result.spread(result.b)} | **{med:.3f}** [{low:.3f}, {high:.3f}] |",
        )


if __name__ == "__main__":
    main()
