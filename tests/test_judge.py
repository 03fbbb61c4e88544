"""The metric judge's vote store follows the run it judged: re-judging the same content stores nothing
new, changed content replaces the stale judge votes, and people's votes are never dropped."""

import numpy as np
import pandas as pd
import pytest

from fpeval.runs.grid import load_grid
from fpeval.runs.judge import judge_run, judge_votes, store_votes, sync_judge_store
from fpeval.votes.store import ConflictingVote, VoteStore

CONFIG = "configs/quick.yaml"


def per_video(rows, metrics, seed=0):
    rng = np.random.default_rng(seed)
    records = [
        dict(image=i, seed=0, row=r, metric=m, drift_pct=float(rng.uniform(0, 50)))
        for i in range(3)
        for r in rows
        for m in metrics
    ]
    return pd.DataFrame(records)


def stored(path):
    store = VoteStore(path)
    try:
        return store.votes()
    finally:
        store.close()


def test_the_judge_store_follows_the_content_it_judged(tmp_path):
    grid, _ = load_grid(CONFIG)
    rows = [r.name for r in grid.rows]
    metrics = grid.table.drift
    judge_run(grid, per_video(rows[:-1], metrics), tmp_path)
    assert len(stored(tmp_path / "votes.sqlite")) == 3 * (len(rows) - 1) * (len(rows) - 2) // 2
    judge_run(grid, per_video(rows[:-1], metrics), tmp_path)  # same content: nothing new, no error
    assert len(stored(tmp_path / "votes.sqlite")) == 3 * (len(rows) - 1) * (len(rows) - 2) // 2
    grown = per_video(rows, metrics, seed=1)  # a row added and the drift values changed
    with pytest.raises(ConflictingVote):
        store_votes(judge_votes(grown, metrics), tmp_path / "votes.sqlite", grid.name)
    judge_run(grid, grown, tmp_path)
    votes = stored(tmp_path / "votes.sqlite")
    expected = judge_votes(grown, metrics, grid.judge.name, grid.judge.margin)
    assert len(votes) == len(expected) == 3 * len(rows) * (len(rows) - 1) // 2
    assert set(zip(votes["pair_id"], votes["choice"], strict=True)) == set(
        zip(expected["pair"], expected["choice"], strict=True)
    )
    assert not (tmp_path / "votes.sqlite.new").exists()
    fewer = per_video(rows[:3], metrics, seed=1)  # rows removed: no vote of theirs may stay behind
    judge_run(grid, fewer, tmp_path)
    assert len(stored(tmp_path / "votes.sqlite")) == 3 * 3


def test_rejudging_refuses_a_store_holding_peoples_votes(tmp_path):
    path = tmp_path / "votes.sqlite"
    metrics = ("clarity_laplacian",)
    store_votes(judge_votes(per_video(["a", "b"], metrics), metrics), path, "s")
    store = VoteStore(path)
    try:
        study = store.studies()["study_id"].iloc[0]
        pair = store.votes()["pair_id"].iloc[0]
        left, right = store.votes()[["shown_left", "shown_right"]].iloc[0]
        store.add_vote("u-1", study, pair, "alice", left, right, "left")
    finally:
        store.close()
    with pytest.raises(ValueError, match="holds 1 votes by people"):
        sync_judge_store(judge_votes(per_video(["a", "b"], metrics, seed=3), metrics), path, "s")
    assert "alice" in set(stored(path)["annotator"])
