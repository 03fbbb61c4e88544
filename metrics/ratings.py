"""Ratings from pairwise A/B votes: Elo (the paper's ELO-K32 and FastChat's online Elo), Bradley–Terry
MLE with vectorised bootstrap intervals, ranks and win rates. Annotator agreement and quality checks
live in ``metrics.agreement``.

Every function takes a votes DataFrame with columns ``left`` and ``right`` (competitor names),
``choice`` in {left, right, tie, both_bad, skip}, ``annotator`` and ``created_at``; quality checks
also read ``pair_id``, ``kind`` (regular / gold / repeat), ``repeat_of`` and ``gold_choice``, as
returned by :meth:`fpeval.votes.store.VoteStore.votes`.

Conventions (all parameters):

* ``skip`` votes are always dropped; ``both_bad`` counts as a tie (FastChat's "tie (bothbad)") unless
  ``both_bad="drop"``.
* Gold pairs (a clip against a deliberately degraded copy) are annotator checks, never ratings input.
* Judge votes (annotator ids ``judge:<name>``) and human votes are never mixed silently: with the
  default ``annotators=None`` a frame holding both kinds is refused; pass "humans", "judges" or "all".
* Ratings use base 10 and scale 400: P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / 400)).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

CHOICES = ("left", "right", "tie", "both_bad", "skip")
JUDGE_PREFIX = "judge:"
TIE_TIER_WIDTH = 16.0  # the paper: ELO differences within +-16 are ties


# ---------------------------------------------------------------------------------------------- votes


@dataclass(frozen=True)
class Outcomes:
    """Votes reduced to integer competitor ids and the left side's score (1 win, 0 loss, 0.5 tie)."""

    names: list[str]
    left: np.ndarray
    right: np.ndarray
    score: np.ndarray

    @property
    def n(self) -> int:
        return len(self.names)

    def wins(self) -> np.ndarray:
        """W[i, j] = wins of i over j, ties counted as half a win each way."""
        w = np.zeros((self.n, self.n))
        np.add.at(w, (self.left, self.right), self.score)
        np.add.at(w, (self.right, self.left), 1.0 - self.score)
        return w


def select_annotators(votes: pd.DataFrame, annotators: str | None = None) -> pd.DataFrame:
    """Keep human or judge votes. ``None`` refuses a frame that mixes both kinds."""
    if "annotator" not in votes.columns:
        if annotators not in (None, "all"):
            raise ValueError("votes have no 'annotator' column; cannot select humans or judges")
        return votes
    is_judge = votes["annotator"].astype(str).str.startswith(JUDGE_PREFIX)
    if annotators is None:
        if is_judge.any() and (~is_judge).any():
            raise ValueError(
                "votes mix human and judge annotators; pass annotators='humans', 'judges' or 'all'"
            )
        return votes
    if annotators == "humans":
        return votes[~is_judge]
    if annotators == "judges":
        return votes[is_judge]
    if annotators == "all":
        return votes
    raise ValueError(f"annotators must be None, 'humans', 'judges' or 'all', got {annotators!r}")


def rating_votes(
    votes: pd.DataFrame, both_bad: str = "tie", annotators: str | None = None, sort: bool = True
) -> pd.DataFrame:
    """The votes that enter a rating: no skips, no gold pairs, both_bad as tie or dropped, time-sorted."""
    missing = {"left", "right", "choice"} - set(votes.columns)
    if missing:
        raise ValueError(f"votes lack column(s) {sorted(missing)}")
    if both_bad not in ("tie", "drop"):
        raise ValueError(f"both_bad must be 'tie' or 'drop', got {both_bad!r}")
    bad = ~votes["choice"].isin(CHOICES)
    if bad.any():
        raise ValueError(f"unknown choice(s) {sorted(set(votes.loc[bad, 'choice']))}; accepted: {CHOICES}")
    v = select_annotators(votes, annotators)
    keep = v["choice"] != "skip"
    if both_bad == "drop":
        keep &= v["choice"] != "both_bad"
    if "kind" in v.columns:
        keep &= v["kind"].fillna("regular") != "gold"
    v = v[keep]
    if (v["left"] == v["right"]).any():
        raise ValueError("a vote compares a competitor with itself")
    if sort and "created_at" in v.columns:
        v = v.sort_values("created_at", kind="stable")
    return v


def outcomes(votes: pd.DataFrame, both_bad: str = "tie", annotators: str | None = None) -> Outcomes:
    """Integer-coded rating votes (see :func:`rating_votes`)."""
    v = rating_votes(votes, both_bad, annotators)
    both = np.concatenate([v["left"].astype(str).to_numpy(object), v["right"].astype(str).to_numpy(object)])
    codes, names = pd.factorize(both, sort=True)
    choice = v["choice"].to_numpy(object)
    score = np.where(choice == "left", 1.0, np.where(choice == "right", 0.0, 0.5))
    m = len(v)
    return Outcomes(list(names), codes[:m].astype(np.int64), codes[m:].astype(np.int64), score)


# ------------------------------------------------------------------------------------------------ Elo


def _elo_sequence(o: Outcomes, order: np.ndarray, k: float, initial: float, base: float, scale: float):
    r = np.full(o.n, float(initial))
    for t in order:
        a, b, s = o.left[t], o.right[t], o.score[t]
        expected_a = 1.0 / (1.0 + base ** ((r[b] - r[a]) / scale))
        delta = k * (s - expected_a)
        r[a] += delta
        r[b] -= delta
    return r


def elo(
    votes: pd.DataFrame,
    k: float = 32.0,
    initial: float = 1000.0,
    base: float = 10.0,
    scale: float = 400.0,
    both_bad: str = "tie",
    annotators: str | None = None,
    shuffles: int = 0,
    seed: int = 0,
) -> pd.Series:
    """Sequential Elo over votes sorted by ``created_at``; the paper's ELO-K32 with the defaults.

    Elo depends on vote order; ``shuffles=n`` averages the final ratings over n random orders instead.
    """
    o = outcomes(votes, both_bad, annotators)
    if o.n == 0:
        raise ValueError("no rating votes (after dropping skips, gold pairs and filtered annotators)")
    if shuffles:
        rng = np.random.default_rng(seed)
        runs = [
            _elo_sequence(o, rng.permutation(len(o.score)), k, initial, base, scale) for _ in range(shuffles)
        ]
        r = np.mean(runs, axis=0)
    else:
        r = _elo_sequence(o, np.arange(len(o.score)), k, initial, base, scale)
    return pd.Series(r, index=pd.Index(o.names, name="competitor"), name="elo")


def online_elo(
    votes: pd.DataFrame,
    k: float = 4.0,
    initial: float = 1000.0,
    base: float = 10.0,
    scale: float = 400.0,
    both_bad: str = "tie",
    annotators: str | None = None,
) -> pd.Series:
    """FastChat's online Elo: K = 4, init 1000, ties half, votes sorted by time."""
    return elo(votes, k, initial, base, scale, both_bad, annotators).rename("online_elo")


# ----------------------------------------------------------------------------------- Bradley–Terry


def _strongly_connected(wins: np.ndarray) -> np.ndarray:
    """Per leading index: is the 'beat at least partly' graph strongly connected? (MLE exists iff so)."""
    n = wins.shape[-1]
    reach = ((wins > 0) | np.eye(n, dtype=bool)).astype(np.float64)
    for _ in range(max(1, math.ceil(math.log2(max(n, 2))))):
        reach = (np.matmul(reach, reach) > 0).astype(np.float64)
    return (reach > 0).all(axis=(-2, -1))


def _unreachable_hint(o_names: list[str], wins: np.ndarray) -> str:
    """Who makes the Bradley–Terry MLE not exist: competitors that never win or never lose."""
    never_win = [o_names[i] for i in range(len(o_names)) if wins[i].sum() == 0]
    never_lose = [o_names[i] for i in range(len(o_names)) if wins[:, i].sum() == 0]
    detail = []
    if never_win:
        detail.append(f"never wins: {', '.join(never_win)}")
    if never_lose:
        detail.append(f"never loses: {', '.join(never_lose)}")
    return "; ".join(detail) or "the comparison graph is not strongly connected"


def _unreachable_message(o_names: list[str], wins: np.ndarray) -> str:
    hint = _unreachable_hint(o_names, wins)
    return f"the Bradley–Terry MLE does not exist ({hint}); collect more votes or pass an explicit l2 prior"


def _bt_loss(theta: np.ndarray, wins: np.ndarray, l2: float):
    """Negative log-likelihood (ties = half wins) and its gradient, natural-log strength units."""
    d = theta[:, None] - theta[None, :]
    log_p = -np.logaddexp(0.0, -d)  # log sigmoid(d)
    p = np.exp(log_p)
    games = wins + wins.T
    loss = -(wins * log_p).sum() + 0.5 * l2 * theta @ theta
    grad = -(wins - games * p).sum(axis=1) + l2 * theta
    return loss, grad


def _newton_polish(theta: np.ndarray, wins: np.ndarray, l2: float, steps: int = 3) -> np.ndarray:
    """A few exact Newton steps on the gauge-fixed problem: L-BFGS's answer to machine precision."""
    n = len(theta)
    games = wins + wins.T
    for _ in range(steps):
        d = theta[:, None] - theta[None, :]
        p = 1.0 / (1.0 + np.exp(-d))
        grad = (wins - games * p).sum(axis=1) - l2 * theta
        c = games * p * (1.0 - p)
        lap = np.diag(c.sum(axis=1)) - c + l2 * np.eye(n)
        if l2 == 0:
            lap = lap + np.ones((n, n)) / n  # gauge: the step keeps the mean fixed
        theta = theta + np.linalg.solve(lap, grad)
        if l2 == 0:
            theta -= theta.mean()
    return theta


def _to_scale(theta: np.ndarray, scale: float, base: float, initial: float) -> np.ndarray:
    return theta * scale / math.log(base) + initial


def bradley_terry(
    votes: pd.DataFrame,
    scale: float = 400.0,
    base: float = 10.0,
    initial: float = 1000.0,
    anchor: str | None = None,
    anchor_rating: float | None = None,
    both_bad: str = "tie",
    annotators: str | None = None,
    l2: float = 0.0,
) -> pd.Series:
    """Bradley–Terry maximum likelihood (scipy L-BFGS, ties = half wins) on an Elo-like scale.

    Strengths theta (natural log odds) are mapped to ``scale / ln(base) * theta + initial``, as FastChat
    does. Gauge: mean rating = ``initial``, or ``anchor`` gets ``anchor_rating`` (default ``initial``).
    No regularisation unless ``l2 > 0`` (penalty l2/2 * |theta|^2); without it, a competitor that never
    wins or never loses has no finite MLE and a ValueError says so.
    """
    from scipy.optimize import minimize

    o = outcomes(votes, both_bad, annotators)
    if o.n < 2:
        raise ValueError("Bradley–Terry needs votes between at least two competitors")
    wins = o.wins()
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    if l2 == 0 and not _strongly_connected(wins):
        raise ValueError(_unreachable_message(o.names, wins))
    total = wins.sum()
    res = minimize(
        lambda t: tuple(x / total for x in _bt_loss(t, wins, l2)),
        np.zeros(o.n),
        jac=True,
        method="L-BFGS-B",
        options=dict(maxiter=10_000, ftol=1e-15, gtol=1e-12, maxcor=30),
    )
    theta = _newton_polish(res.x - (res.x.mean() if l2 == 0 else 0.0), wins, l2)
    ratings = pd.Series(
        _to_scale(theta, scale, base, initial), index=pd.Index(o.names, name="competitor"), name="bt"
    )
    return _anchor(ratings, anchor, initial if anchor_rating is None else anchor_rating)


def _anchor(ratings, anchor: str | None, value: float):
    if anchor is None:
        return ratings
    if anchor not in ratings.index:
        raise ValueError(f"anchor {anchor!r} is not a competitor; competitors: {', '.join(ratings.index)}")
    return ratings - ratings[anchor] + value


def fit_bradley_terry_batch(
    wins: np.ndarray, l2: float = 0.0, tol: float = 1e-10, max_iter: int = 100
) -> np.ndarray:
    """Fit many Bradley–Terry problems at once by damped Newton; wins is (rounds, n, n).

    Returns mean-zero strengths (rounds, n) in natural log units; without a prior (``l2 = 0``) rounds
    whose MLE does not exist (graph not strongly connected) are NaN. Used for bootstrap, where one
    scipy fit per round is slow.
    """
    wins = np.asarray(wins, dtype=np.float64)
    rounds, n, _ = wins.shape
    ok = _strongly_connected(wins) if l2 == 0 else np.ones(rounds, dtype=bool)
    theta = np.zeros((rounds, n))
    games = wins + np.swapaxes(wins, 1, 2)
    gauge = np.ones((n, n)) / n if l2 == 0 else l2 * np.eye(n)  # fixes the mean, or the prior does
    eye = np.eye(n, dtype=bool)

    def loglik(t, w):
        d = t[:, :, None] - t[:, None, :]
        return -(w * np.logaddexp(0.0, -d)).sum(axis=(1, 2)) - 0.5 * l2 * (t * t).sum(axis=1)

    active = ok.copy()
    ll = loglik(theta, wins)
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        t, w, g = theta[idx], wins[idx], games[idx]
        d = t[:, :, None] - t[:, None, :]
        p = 1.0 / (1.0 + np.exp(-d))
        grad = (w - g * p).sum(axis=2) - l2 * t
        c = g * p * (1.0 - p)
        lap = -c
        lap[:, eye] = c.sum(axis=2)
        step = np.linalg.solve(lap + gauge, grad[:, :, None])[:, :, 0]
        # Halve the step where the full Newton step would lower the likelihood (rare, far from optimum).
        factor = np.ones(len(idx))
        for _halving in range(30):
            new = t + factor[:, None] * step
            new_ll = loglik(new, w)
            worse = new_ll < ll[idx] - 1e-12 * np.abs(ll[idx])
            if not worse.any():
                break
            factor[worse] *= 0.5
        theta[idx] = new - new.mean(axis=1, keepdims=True) if l2 == 0 else new
        ll[idx] = new_ll
        done = np.abs(grad).max(axis=1) / np.maximum(w.sum(axis=(1, 2)), 1.0) < tol
        active[idx[done]] = False
    theta[~ok] = np.nan
    return theta


# ------------------------------------------------------------------------------------------ bootstrap


def _resampled_wins(o: Outcomes, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """(rounds, n, n) win matrices of vote-level bootstrap resamples, drawn as one multinomial per round."""
    n = o.n
    cell = (o.left * n + o.right) * 3 + np.searchsorted([0.0, 0.5, 1.0], o.score)
    cells, counts = np.unique(cell, return_counts=True)
    draws = rng.multinomial(len(cell), counts / counts.sum(), size=rounds).astype(np.float64)
    pair, kind = np.divmod(cells, 3)
    a, b = np.divmod(pair, n)
    s = np.array([0.0, 0.5, 1.0])[kind]
    wins = np.zeros((rounds, n * n))
    np.add.at(wins.T, a * n + b, (draws * s).T)
    np.add.at(wins.T, b * n + a, (draws * (1.0 - s)).T)
    return wins.reshape(rounds, n, n)


def bootstrap(
    votes: pd.DataFrame,
    rounds: int = 1000,
    seed: int = 0,
    method: str = "bt",
    confidence: float = 0.95,
    k: float | None = None,
    scale: float = 400.0,
    base: float = 10.0,
    initial: float = 1000.0,
    anchor: str | None = None,
    both_bad: str = "tie",
    annotators: str | None = None,
    l2: float = 0.0,
) -> pd.DataFrame:
    """Point ratings with percentile bootstrap intervals (votes resampled with replacement).

    method "bt": Bradley–Terry, all rounds fitted at once (vectorised Newton); "elo" (K = 32) and
    "online_elo" (K = 4): sequential Elo over each resample in its random order, as FastChat does,
    vectorised across rounds. Rounds with no finite BT MLE are left out and counted in
    ``result.attrs["dropped_rounds"]``; ``l2`` is the explicit prior of :func:`bradley_terry`.
    Columns: rating, lower, upper.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    o = outcomes(votes, both_bad, annotators)
    rng = np.random.default_rng(seed)
    if method == "bt":
        point = bradley_terry(
            votes, scale, base, initial, anchor=anchor, both_bad=both_bad, annotators=annotators, l2=l2
        )
        theta = fit_bradley_terry_batch(_resampled_wins(o, rounds, rng), l2=l2)
        samples = _to_scale(theta, scale, base, initial)
    elif method in ("elo", "online_elo"):
        k = k if k is not None else (32.0 if method == "elo" else 4.0)
        point = elo(votes, k, initial, base, scale, both_bad, annotators)
        samples = _bootstrap_elo(o, rounds, rng, k, initial, base, scale)
    else:
        raise ValueError(f"method must be 'bt', 'elo' or 'online_elo', got {method!r}")
    if anchor is not None:
        if anchor not in o.names:
            raise ValueError(f"anchor {anchor!r} is not a competitor")
        samples = samples - samples[:, [o.names.index(anchor)]] + initial
        point = _anchor(point, anchor, initial)
    valid = ~np.isnan(samples).any(axis=1)
    dropped = int((~valid).sum())
    if dropped == rounds:
        raise ValueError("no bootstrap round has a finite Bradley–Terry MLE; collect more votes")
    if dropped:
        warnings.warn(
            f"{dropped} of {rounds} bootstrap rounds had no finite MLE and were left out", stacklevel=2
        )
    alpha = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(samples[valid], [alpha, 1.0 - alpha], axis=0)
    out = pd.DataFrame(
        {"rating": point.reindex(o.names).to_numpy(), "lower": lower, "upper": upper},
        index=pd.Index(o.names, name="competitor"),
    )
    out.attrs.update(rounds=rounds, dropped_rounds=dropped, method=method, confidence=confidence, seed=seed)
    return out


def _bootstrap_elo(o: Outcomes, rounds, rng, k, initial, base, scale) -> np.ndarray:
    m = len(o.score)
    picks = rng.integers(0, m, size=(rounds, m))
    r = np.full((rounds, o.n), float(initial))
    rows = np.arange(rounds)
    for t in range(m):
        v = picks[:, t]
        a, b, s = o.left[v], o.right[v], o.score[v]
        delta = k * (s - 1.0 / (1.0 + base ** ((r[rows, b] - r[rows, a]) / scale)))
        r[rows, a] += delta
        r[rows, b] -= delta
    return r


# ------------------------------------------------------------------------------------- ranks, tables


def rank_by_intervals(lower: pd.Series, upper: pd.Series) -> pd.Series:
    """Rank = 1 + number of competitors whose lower bound exceeds this one's upper bound."""
    lo = lower.to_numpy(float)
    up = upper.reindex(lower.index).to_numpy(float)
    rank = 1 + (lo[None, :] > up[:, None]).sum(axis=1)
    return pd.Series(rank, index=lower.index, name="rank")


def tie_tiers(ratings: pd.Series, width: float = TIE_TIER_WIDTH) -> pd.Series:
    """The paper's rank with ties (applied there to ELO-K32): sorted from the top, a tier holds the
    ratings within ``width`` of its highest; rank = 1 + the number of tiers above.

    The paper's Table 2 ELOs 1224, 1220 | 1174, 1173, 1170 | 1152 | 1087 | 1015 give ranks 1, 1, 2, 2, 2,
    3, 4, 5. Missing ratings get no tier (NaN)."""
    valid = ratings.dropna().astype(float).sort_values(ascending=False, kind="stable")
    tier = pd.Series(np.nan, index=ratings.index, name="tier")
    rank, top = 0, None
    for name, value in valid.items():
        if top is None or top - value > width:
            rank, top = rank + 1, value
        tier[name] = rank
    return tier.astype("Int64") if valid.size == len(ratings) else tier


def win_rate_matrix(
    votes: pd.DataFrame, both_bad: str = "tie", annotators: str | None = None
) -> pd.DataFrame:
    """M[a, b] = share of a-vs-b votes won by a (ties half); NaN where a and b never met."""
    o = outcomes(votes, both_bad, annotators)
    wins = o.wins()
    games = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, wins / np.where(games > 0, games, 1), np.nan)
    idx = pd.Index(o.names, name="competitor")
    return pd.DataFrame(rate, index=idx, columns=pd.Index(o.names, name="opponent"))


# Prior used when a study cannot support the plain Bradley–Terry MLE (someone never wins or never
# loses): strengths ~ N(0, 2^2) in natural log-odds, i.e. a standard deviation of about 350 Elo points.
FALLBACK_L2 = 0.25
MAX_DROPPED_SHARE = 0.05  # beyond this share of bootstrap rounds without an MLE, the prior is used


def rating_table(
    votes: pd.DataFrame,
    method: str = "bt",
    rounds: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    tier_width: float = TIE_TIER_WIDTH,
    both_bad: str = "tie",
    annotators: str | None = None,
    anchor: str | None = None,
    l2: float = 0.0,
) -> pd.DataFrame:
    """Tidy table, one row per competitor, best first.

    Columns: competitor, rating (``method``), lower / upper (bootstrap CI), rank (CI-based), elo (the
    paper's sequential ELO-K32, votes in time order), tier (the paper's rank: +-16 tiers on ``elo``),
    votes, win_rate (ties half). Small or lopsided studies never fail: when the plain Bradley–Terry
    MLE does not exist, or more than ``MAX_DROPPED_SHARE`` of the bootstrap resamples lack one (their
    interval would be biased), the fit uses the prior ``FALLBACK_L2`` and ``table.attrs["prior"]`` says so.
    """
    o = outcomes(votes, both_bad, annotators)
    wins = o.wins()
    options = dict(rounds=rounds, seed=seed, method=method, confidence=confidence, anchor=anchor)
    options.update(both_bad=both_bad, annotators=annotators)
    boot, prior = None, None
    if method == "bt" and l2 == 0 and o.n >= 2:
        if not _strongly_connected(wins):
            prior = f"no plain Bradley–Terry MLE ({_unreachable_hint(o.names, wins)})"
        else:
            with warnings.catch_warnings():  # the dropped rounds are counted in attrs instead
                warnings.simplefilter("ignore")
                boot = bootstrap(votes, l2=0.0, **options)
            share = boot.attrs["dropped_rounds"] / rounds
            if share > MAX_DROPPED_SHARE:
                prior = f"{share:.0%} of bootstrap resamples have no plain Bradley–Terry MLE"
    if prior:
        l2, boot = FALLBACK_L2, None
        prior += f", so it is fitted with a N(0, {1 / math.sqrt(l2):g}^2) log-odds prior"
    if boot is None:
        boot = bootstrap(votes, l2=l2, **options)
    games = (wins + wins.T).sum(axis=1)
    table = boot.copy()
    table["rank"] = rank_by_intervals(table["lower"], table["upper"])
    table["elo"] = elo(votes, 32.0, both_bad=both_bad, annotators=annotators).reindex(table.index)
    table["tier"] = tie_tiers(table["elo"], tier_width)
    table["votes"] = games.astype(int)
    table["win_rate"] = wins.sum(axis=1) / np.maximum(games, 1)
    table = table.sort_values("rating", ascending=False, kind="stable").reset_index()
    table.attrs.update(boot.attrs)
    table.attrs.update(l2=l2, prior=prior)
    return table


def format_markdown(table: pd.DataFrame, digits: int = 1) -> str:
    """A :func:`rating_table` as a GitHub Markdown table."""
    cols = [c for c in ("rating", "lower", "upper", "rank", "elo", "tier", "votes", "win_rate") if c in table]
    lines = [
        "| competitor | " + " | ".join(cols) + " |",
        "| --- | " + " | ".join("---:" for _ in cols) + " |",
    ]
    for _, row in table.iterrows():
        cells = []
        for c in cols:
            if c in ("rank", "tier", "votes"):
                cells.append(str(int(row[c])))
            elif c == "win_rate":
                cells.append(f"{row[c]:.3f}")
            else:
                cells.append(f"{row[c]:.{digits}f}")
        lines.append(f"| {row['competitor']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
