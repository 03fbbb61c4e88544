import multiprocessing
import threading
import uuid

import pandas as pd
import pytest

from fpeval.votes.store import ConflictingVote, InvalidVote, NotAssigned, UnknownPair, VoteStore


def make_store(path, n_pairs=6, annotators=("alice",)):
    """A study with competitors A, B, C and n_pairs pairs alternating over them; no media needed."""
    store = VoteStore(path)
    store.add_study("s1", "study one")
    store.add_items("s1", [{"item_id": f"i{c}", "competitor": c} for c in "ABC"])
    combos = [("iA", "iB"), ("iB", "iC"), ("iC", "iA")]
    store.add_pairs(
        "s1",
        [
            {"pair_id": f"p{k}", "left_item": combos[k % 3][0], "right_item": combos[k % 3][1]}
            for k in range(n_pairs)
        ],
    )
    for a in annotators:
        store.add_annotator(a)
        store.assign("s1", a, [f"p{k}" for k in range(n_pairs)])
    return store


def test_store_uses_wal_and_full_synchronous_commits(tmp_path):
    store = make_store(tmp_path / "v.sqlite")
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL: a commit is fsynced before it returns


def test_a_uuid_is_stored_once_and_reuse_for_another_vote_is_refused(tmp_path):
    store = make_store(tmp_path / "v.sqlite")
    assert store.add_vote("uuid-0001", "s1", "p0", "alice", "iA", "iB", "left", 2.5) is True
    assert store.add_vote("uuid-0001", "s1", "p0", "alice", "iA", "iB", "left", 2.5) is False
    assert store.count_votes() == 1
    with pytest.raises(ConflictingVote, match="different vote"):
        store.add_vote("uuid-0001", "s1", "p0", "alice", "iA", "iB", "right")
    with pytest.raises(ConflictingVote, match="already voted"):
        store.add_vote("uuid-0002", "s1", "p0", "alice", "iA", "iB", "right")
    assert store.votes()["choice"].tolist() == ["left"]


@pytest.mark.parametrize(
    "args, error",
    [
        (("uuid-0003", "s1", "nope", "alice", "iA", "iB", "left"), UnknownPair),
        (("uuid-0003", "s2", "p0", "alice", "iA", "iB", "left"), UnknownPair),
        (("uuid-0003", "s1", "p0", "alice", "iA", "iB", "maybe"), InvalidVote),
        (("uuid-0003", "s1", "p0", "alice", "iA", "iC", "left"), InvalidVote),
        (("uuid-0003", "s1", "p0", "alice", "iA", "iA", "left"), InvalidVote),
        (("", "s1", "p0", "alice", "iA", "iB", "left"), InvalidVote),
        (("uuid-0003", "s1", "p0", "", "iA", "iB", "left"), InvalidVote),
    ],
)
def test_refused_votes_store_nothing(tmp_path, args, error):
    store = make_store(tmp_path / "v.sqlite")
    with pytest.raises(error):
        store.add_vote(*args)
    with pytest.raises(InvalidVote):
        store.add_vote("uuid-0004", "s1", "p0", "alice", "iA", "iB", "left", time_on_task_s=-1)
    with pytest.raises(NotAssigned):
        store.add_vote("uuid-0005", "s1", "p0", "mallory", "iA", "iB", "left", require_assignment=True)
    assert store.count_votes() == 0
    assert "mallory" not in set(store.annotators()["annotator_id"])


def test_votes_frame_names_the_shown_sides_and_separates_judges(tmp_path):
    store = make_store(tmp_path / "v.sqlite")
    t = pd.Timestamp("2025-03-01 12:00", tz="UTC")
    store.add_vote("uuid-h1", "s1", "p0", "alice", "iB", "iA", "left", created_at=t)  # shown swapped
    store.add_vote(
        "uuid-j1", "s1", "p1", "judge:lpips", "iB", "iC", "right", created_at=t - pd.Timedelta("1h")
    )
    everyone = store.votes("s1")
    assert everyone["vote_uuid"].tolist() == ["uuid-j1", "uuid-h1"]  # oldest first
    human = store.votes("s1", annotators="humans")
    assert human[["left", "right", "choice", "annotator_kind"]].values.tolist() == [
        ["B", "A", "left", "human"]
    ]
    assert human["created_at"].iloc[0] == t
    assert store.votes(annotators="judges")["annotator"].tolist() == ["judge:lpips"]
    assert store.add_annotator("judge:lpips") is None  # judges have no login token


def test_progress_resume_point_and_tokens(tmp_path):
    store = make_store(tmp_path / "v.sqlite", n_pairs=4)
    token = store.add_annotator("bob")
    store.assign("s1", "bob", ["p2", "p0", "p3"])
    assert store.assign("s1", "bob", ["p0", "p1"]) == 1  # p0 already queued
    assert store.annotator_for_token(token) == "bob"
    assert store.annotator_for_token("not-a-token") is None
    assert token not in (tmp_path / "v.sqlite").read_bytes().decode("latin-1")  # only the hash is stored
    assert store.next_pair("s1", "bob")["pair_id"] == "p2"
    store.add_vote("uuid-b1", "s1", "p2", "bob", "iC", "iA", "skip")
    assert store.next_pair("s1", "bob")["pair_id"] == "p0"
    assert store.progress("s1", "bob") == (1, 4)
    rotated = store.add_annotator("bob")
    assert store.annotator_for_token(token) is None and store.annotator_for_token(rotated) == "bob"


def test_export_csv_round_trips(tmp_path):
    store = make_store(tmp_path / "v.sqlite")
    for k in range(3):
        store.add_vote(
            f"uuid-e{k}", "s1", f"p{k}", "alice", *(("iA", "iB"), ("iB", "iC"), ("iC", "iA"))[k], "tie"
        )
    path = store.export_csv(tmp_path / "out" / "votes.csv", "s1")
    back = pd.read_csv(path)
    assert back["vote_uuid"].tolist() == ["uuid-e0", "uuid-e1", "uuid-e2"]
    assert back[["left", "right"]].values.tolist() == [["A", "B"], ["B", "C"], ["C", "A"]]


def test_concurrent_threads_with_retries_store_every_vote_once(tmp_path):
    n_clients, n_votes = 4, 30
    store = make_store(tmp_path / "v.sqlite", n_pairs=n_votes, annotators=[f"c{i}" for i in range(n_clients)])
    pairs = {
        p: (left, right)
        for p, left, right in store.pairs("s1")[["pair_id", "left_item", "right_item"]].values
    }
    results = {i: [] for i in range(n_clients)}

    def client(i):
        for k in range(n_votes):
            vid = f"vote-{i}-{k}"
            for _attempt in range(2):  # every vote is retried once, as after a lost acknowledgement
                results[i].append(store.add_vote(vid, "s1", f"p{k}", f"c{i}", *pairs[f"p{k}"], "left"))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_votes() == n_clients * n_votes
    assert all(r.count(True) == n_votes and r.count(False) == n_votes for r in results.values())


def _process_client(path, i, n_votes, shared_uuid_prefix):
    store = VoteStore(path)
    combos = [("iA", "iB"), ("iB", "iC"), ("iC", "iA")]
    stored = 0
    for k in range(n_votes):
        # All processes race on the same uuids for client 0's votes: exactly one must win each.
        vid = f"{shared_uuid_prefix}-{k}" if i == 0 or k % 2 else f"proc{i}-{k}"
        annotator = "c0" if vid.startswith(shared_uuid_prefix) else f"c{i}"
        stored += store.add_vote(vid, "s1", f"p{k}", annotator, *combos[k % 3], "right")
    store.close()
    return stored


def test_concurrent_processes_racing_on_the_same_uuids(tmp_path):
    n_proc, n_votes = 3, 20
    path = tmp_path / "v.sqlite"
    make_store(path, n_pairs=n_votes, annotators=[f"c{i}" for i in range(n_proc)]).close()
    ctx = multiprocessing.get_context("fork")
    prefix = uuid.uuid4().hex
    with ctx.Pool(n_proc) as pool:
        stored = pool.starmap(_process_client, [(path, i, n_votes, prefix) for i in range(n_proc)])
    store = VoteStore(path)
    own = sum(1 for i in range(1, n_proc) for k in range(n_votes) if k % 2 == 0)
    assert store.count_votes() == n_votes + own
    assert sum(stored) == n_votes + own
    assert store.pragma("integrity_check") == "ok"


def test_a_judge_compares_competitors_directly_without_a_designed_study(tmp_path):
    store = VoteStore(tmp_path / "run.sqlite")
    t = "2025-01-01T00:00:00+00:00"
    assert store.add_vote("j-1", "grid", "img0|0|A|B", "judge:drift", "B", "A", "left", created_at=t) is True
    assert store.add_vote("j-1", "grid", "img0|0|A|B", "judge:drift", "B", "A", "left", created_at=t) is False
    with pytest.raises(ConflictingVote):
        store.add_vote("j-1", "grid", "img0|0|A|B", "judge:drift", "B", "A", "tie")
    assert store.add_vote("j-2", "grid", "img0|0|A|C", "judge:drift", "A", "C", "tie") is True
    judged = store.votes("grid", annotators="judges")
    assert judged[["left", "right", "choice"]].values.tolist() == [["B", "A", "left"], ["A", "C", "tie"]]
    with pytest.raises(UnknownPair):  # humans only vote on designed pairs
        store.add_vote("h-1", "grid", "img1|0|A|B", "alice", "A", "B", "left")
    with pytest.raises(InvalidVote):
        store.add_vote("j-3", "grid", "img2|0|A|A", "judge:drift", "A", "A", "left")
    assert store.count_votes() == 2


def test_a_judge_may_name_the_competitors_of_a_designed_pair_and_pair_ids_are_per_study(tmp_path):
    store = make_store(tmp_path / "v.sqlite")
    assert store.add_vote("j-1", "s1", "p0", "judge:lpips", "B", "A", "right")
    v = store.votes("s1").iloc[0]
    assert (v["shown_left"], v["shown_right"], v["left"], v["right"]) == ("iB", "iA", "B", "A")
    store.add_study("s2")
    store.add_items("s2", [{"item_id": "s2A", "competitor": "A"}, {"item_id": "s2B", "competitor": "B"}])
    store.add_pairs("s2", [{"pair_id": "p0", "left_item": "s2A", "right_item": "s2B"}])
    assert store.add_vote("h-2", "s2", "p0", "alice", "s2A", "s2B", "left")
    assert store.votes("s2")["study"].tolist() == ["s2"] and len(store.votes("s1")) == 1
