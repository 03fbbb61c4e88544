"""The metric judge: an automatic pairwise annotator that votes from metrics with a stated preference.

For every pair of rows on the same start image and seed, the judge compares the two videos' Eq. 7
drift (in %) on each of its metrics and prefers the video that drifts less on more of them (a tie when
they split evenly or differ by less than the margin). Its votes go to the same vote store as human votes,
under the annotator id ``judge:<name>``, and are rated by the same code; they are never mixed with
human votes unless asked.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from fpeval.runs.grid import Grid

EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)  # judge votes get a fixed, ordered clock


def judge_votes(per_video: pd.DataFrame, drift_metrics, name: str = "drift", margin: float = 0.0, seed=0):
    """Votes (left, right, choice, annotator, created_at, pair) from per-video drift; left/right and the
    vote order are shuffled with ``seed`` (sequential Elo depends on the order)."""
    drift = per_video[per_video["metric"].isin(list(drift_metrics))]
    if drift.empty:
        raise ValueError(f"no per-video drift for the judge's metrics {list(drift_metrics)}")
    wide = drift.pivot_table(index=["image", "seed", "row"], columns="metric", values="drift_pct")
    rng = np.random.default_rng(seed)
    votes = []
    for (image, s), g in wide.groupby(level=["image", "seed"], sort=True):
        rows = g.index.get_level_values("row").tolist()
        for a, b in itertools.combinations(rows, 2):
            left, right = (a, b) if rng.random() < 0.5 else (b, a)
            lv, rv = g.xs(left, level="row").iloc[0], g.xs(right, level="row").iloc[0]
            diff = (rv - lv).to_numpy(dtype=float)  # > 0: left drifts less
            score = int(np.sum(diff > margin)) - int(np.sum(diff < -margin))
            choice = "left" if score > 0 else "right" if score < 0 else "tie"
            votes.append(dict(pair=f"{image}|{s}|{a}|{b}", left=left, right=right, choice=choice))
    order = rng.permutation(len(votes))
    out = pd.DataFrame([votes[i] for i in order], columns=["pair", "left", "right", "choice"])
    out["annotator"] = f"judge:{name}"
    out["created_at"] = [(EPOCH + timedelta(seconds=i)).isoformat() for i in range(len(out))]
    return out


def store_votes(votes: pd.DataFrame, store_path: Path, study: str) -> int:
    """Write judge votes to the vote store; ids derive from (study, pair, annotator), so re-judging a run
    stores nothing twice. Returns how many were new."""
    from fpeval.votes.store import VoteStore

    store = VoteStore(store_path)
    new = 0
    try:
        for v in votes.itertuples(index=False):
            vote_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fpeval:{study}:{v.pair}:{v.annotator}"))
            new += bool(
                store.add_vote(
                    vote_id,
                    study,
                    v.pair,
                    v.annotator,
                    v.left,
                    v.right,
                    v.choice,
                    created_at=v.created_at,
                )
            )
    finally:
        store.close()
    return new


def sync_judge_store(votes: pd.DataFrame, store_path: Path, study: str) -> int:
    """Make a run's vote store hold exactly the judge's current ``votes``: unchanged content stores
    nothing; changed content (rows added or removed, a model retrained) makes the earlier judge votes
    stale, so the store is rebuilt beside the old one and swapped in. Refused when the store holds
    anyone's votes but the judge's (those are never dropped). Returns how many votes were written."""
    from fpeval.votes.store import VoteStore

    if not store_path.exists():
        return store_votes(votes, store_path, study)
    store = VoteStore(store_path)
    try:
        people, held = store.votes(annotators="humans"), store.votes(annotators="judges")
    finally:
        store.close()
    current = set(zip(votes["pair"], votes["left"], votes["right"], votes["choice"], strict=True))
    if set(zip(held["pair_id"], held["left"], held["right"], held["choice"], strict=True)) == current:
        return 0
    if not people.empty:
        raise ValueError(
            f"{store_path} holds {len(people)} votes by people and its judge votes are stale; "
            "move the people's votes to a study of their own (`fpeval votes design`) and rerun"
        )
    fresh = store_path.with_name(store_path.name + ".new")
    for stale in (fresh, *(fresh.with_name(fresh.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    new = store_votes(votes, fresh, study)
    for side in ("-wal", "-shm"):  # the closed old store's journal files must not meet the new store
        store_path.with_name(store_path.name + side).unlink(missing_ok=True)
    fresh.replace(store_path)
    return new


def ratings_source(who: str, table: pd.DataFrame) -> str:
    """Who the ratings come from, and the prior when the fit needed one (small or lopsided studies)."""
    prior = table.attrs.get("prior")
    return f"{who}; {prior}" if prior else who


def judge_run(grid: Grid, per_video: pd.DataFrame, out: Path) -> pd.DataFrame | None:
    """Judge a finished run, store the votes in ``out/votes.sqlite`` and return its rating table;
    None when there is nothing to compare (a grid with one row)."""
    from metrics.ratings import rating_table

    spec = grid.judge
    metrics = spec.drift or grid.table.drift or tuple(sorted(per_video["metric"].unique()))
    votes = judge_votes(per_video, metrics, spec.name, spec.margin)
    if votes.empty:
        return None
    sync_judge_store(votes, out / "votes.sqlite", grid.name)
    table = rating_table(votes)
    table.insert(0, "source", ratings_source(f"judge:{spec.name}", table))
    return table
