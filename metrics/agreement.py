"""Annotator agreement and quality checks on pairwise votes: Cohen's kappa (pairwise), Fleiss' kappa,
Krippendorff's alpha (nominal), gold-pair accuracy and swap consistency.

Votes as in ``metrics.ratings`` (columns ``left``, ``right``, ``choice``, ``annotator``), plus
``pair_id``, ``kind`` (regular / gold / repeat), ``repeat_of`` and ``gold_choice`` for the checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _labelled_units(votes: pd.DataFrame, both_bad: str = "keep") -> pd.DataFrame:
    """One row per (unit, annotator): the label in the unit's own orientation.

    Units are pairs; a repeated (swapped) pair maps onto its original with left/right exchanged, and an
    annotator's first vote on a unit counts. Skips are dropped; ``both_bad="tie"`` merges it into tie.
    """
    need = {"pair_id", "annotator", "choice"} - set(votes.columns)
    if need:
        raise ValueError(f"agreement needs column(s) {sorted(need)}")
    v = votes[votes["choice"] != "skip"].copy()
    if "created_at" in v.columns:
        v = v.sort_values("created_at", kind="stable")
    repeat_of = v["repeat_of"] if "repeat_of" in v.columns else pd.Series(None, index=v.index, dtype=object)
    is_repeat = repeat_of.notna() & (repeat_of.astype(str) != "")
    v["unit"] = np.where(is_repeat, repeat_of.astype(str), v["pair_id"].astype(str))
    flip = {"left": "right", "right": "left"}
    v["label"] = np.where(is_repeat, v["choice"].map(lambda c: flip.get(c, c)), v["choice"])
    if both_bad == "tie":
        v["label"] = v["label"].replace({"both_bad": "tie"})
    return v.drop_duplicates(["unit", "annotator"], keep="first")[["unit", "annotator", "label"]]


def cohen_kappa(
    votes: pd.DataFrame,
    annotator_a: str | None = None,
    annotator_b: str | None = None,
    both_bad: str = "keep",
) -> float:
    """Cohen's kappa between two annotators over the pairs both labelled (labels left/right/tie/both_bad).

    Without names, the frame must hold exactly two annotators.
    """
    units = _labelled_units(votes, both_bad)
    if annotator_a is None or annotator_b is None:
        names = sorted(units["annotator"].unique())
        if len(names) != 2:
            raise ValueError(f"name two annotators (the votes have {len(names)}); see pairwise_cohen_kappa")
        annotator_a, annotator_b = names
    wide = units.pivot(index="unit", columns="annotator", values="label")
    for name in (annotator_a, annotator_b):
        if name not in wide.columns:
            raise ValueError(f"annotator {name!r} has no labelled votes")
    both = wide[[annotator_a, annotator_b]].dropna()
    if both.empty:
        raise ValueError(f"{annotator_a} and {annotator_b} share no labelled pair")
    a, b = both[annotator_a].to_numpy(), both[annotator_b].to_numpy()
    observed = float((a == b).mean())
    labels = np.union1d(a, b)
    expected = float(sum((a == c).mean() * (b == c).mean() for c in labels))
    return 1.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)


def pairwise_cohen_kappa(votes: pd.DataFrame, both_bad: str = "keep") -> pd.DataFrame:
    """Cohen's kappa for every pair of annotators with shared pairs (NaN where they share none)."""
    names = sorted(_labelled_units(votes, both_bad)["annotator"].unique())
    out = pd.DataFrame(np.nan, index=names, columns=names)
    for i, a in enumerate(names):
        out.loc[a, a] = 1.0
        for b in names[i + 1 :]:
            try:
                out.loc[a, b] = out.loc[b, a] = cohen_kappa(votes, a, b, both_bad)
            except ValueError:
                pass
    return out


def _count_matrix(votes: pd.DataFrame, both_bad: str) -> np.ndarray:
    """(units, categories) rating counts over units labelled by at least two annotators."""
    units = _labelled_units(votes, both_bad)
    counts = pd.crosstab(units["unit"], units["label"]).to_numpy(float)
    return counts[counts.sum(axis=1) >= 2]


def fleiss_kappa(votes: pd.DataFrame, both_bad: str = "keep") -> float:
    """Fleiss' kappa over pairs with at least two raters (per-unit agreement allows unequal rater counts)."""
    return fleiss_kappa_from_counts(_count_matrix(votes, both_bad))


def fleiss_kappa_from_counts(counts: np.ndarray) -> float:
    """Fleiss' kappa from a (units, categories) count matrix."""
    counts = np.asarray(counts, dtype=float)
    n_i = counts.sum(axis=1)
    if len(counts) == 0 or (n_i < 2).any():
        raise ValueError("Fleiss' kappa needs units rated by at least two annotators")
    p_i = ((counts * counts).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_j = counts.sum(axis=0) / n_i.sum()
    p_bar, p_e = p_i.mean(), float((p_j * p_j).sum())
    return 1.0 if p_e == 1.0 else float((p_bar - p_e) / (1.0 - p_e))


def krippendorff_alpha(votes: pd.DataFrame, both_bad: str = "keep") -> float:
    """Krippendorff's alpha (nominal) over pairs; units with a single label carry no information."""
    return krippendorff_alpha_from_counts(_count_matrix(votes, both_bad))


def krippendorff_alpha_from_counts(counts: np.ndarray) -> float:
    """Nominal Krippendorff's alpha from a (units, categories) count matrix (units with < 2 values ignored)."""
    counts = np.asarray(counts, dtype=float)
    m_u = counts.sum(axis=1)
    counts, m_u = counts[m_u >= 2], m_u[m_u >= 2]
    if len(counts) == 0:
        raise ValueError("Krippendorff's alpha needs units with at least two values")
    # Coincidence matrix o_ck = sum_u n_uc (n_uk - [c == k]) / (m_u - 1).
    o = np.einsum("uc,uk,u->ck", counts, counts, 1.0 / (m_u - 1)) - np.diag(
        (counts / (m_u - 1)[:, None]).sum(0)
    )
    n_c = o.sum(axis=1)
    n = n_c.sum()
    observed = o.sum() - np.trace(o)
    expected = (n * n - (n_c * n_c).sum()) / (n - 1)
    return 1.0 if expected == 0 else float(1.0 - observed / expected)


def gold_accuracy(votes: pd.DataFrame) -> pd.DataFrame:
    """Per annotator: gold pairs answered (skips excluded), correct answers (clean clip chosen), accuracy."""
    need = {"kind", "gold_choice", "annotator", "choice"} - set(votes.columns)
    if need:
        raise ValueError(f"gold accuracy needs column(s) {sorted(need)}")
    g = votes[(votes["kind"] == "gold") & (votes["choice"] != "skip")]
    correct = (g["choice"] == g["gold_choice"]).astype(int)
    out = (
        correct.groupby(g["annotator"])
        .agg(["size", "sum"])
        .rename(columns={"size": "gold", "sum": "correct"})
    )
    out["accuracy"] = out["correct"] / out["gold"]
    out.index.name = "annotator"
    return out


def swap_consistency(votes: pd.DataFrame, both_bad: str = "keep") -> pd.DataFrame:
    """Per annotator: repeated swapped pairs answered both times, and the share answered the same way.

    "Same way" means the same clip won (left on the original = right on the swapped repeat) or the same
    non-decisive answer; skips on either side leave the repeat out.
    """
    need = {"pair_id", "repeat_of", "annotator", "choice"} - set(votes.columns)
    if need:
        raise ValueError(f"swap consistency needs column(s) {sorted(need)}")
    v = votes[votes["choice"] != "skip"]
    if both_bad == "tie":
        v = v.assign(choice=v["choice"].replace({"both_bad": "tie"}))
    repeats = v[v["repeat_of"].notna() & (v["repeat_of"].astype(str) != "")]
    originals = v[["pair_id", "annotator", "choice"]].drop_duplicates(["pair_id", "annotator"])
    merged = repeats.merge(
        originals,
        left_on=["repeat_of", "annotator"],
        right_on=["pair_id", "annotator"],
        suffixes=("_repeat", "_original"),
    )
    flip = {"left": "right", "right": "left"}
    same = merged["choice_repeat"].map(lambda c: flip.get(c, c)) == merged["choice_original"]
    out = same.astype(int).groupby(merged["annotator"]).agg(["size", "sum"])
    out = out.rename(columns={"size": "repeats", "sum": "consistent"})
    out["consistency"] = out["consistent"] / out["repeats"]
    out.index.name = "annotator"
    return out
