"""Against a real uvicorn process: concurrent clients with retries, and kill -9 in the middle of a vote stream."""

import os
import signal
import threading

import httpx
import pytest
from test_votes_support import make_results, running_server

from fpeval.votes.design import design_study
from fpeval.votes.study import Study


@pytest.fixture(scope="module")
def live_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    results = make_results(tmp / "results", images=tuple(f"img{i}" for i in range(6)), frames=2, size=16)
    annotators = [f"client{i}" for i in range(4)] + ["streamer"]
    summary = design_study(results, tmp / "study", gold=1, repeats=1, annotators=annotators)
    return summary


def pairs_of(study_root, annotator):
    study = Study.open(study_root)
    rows = study.store._conn().execute(
        "SELECT pair_id FROM assignments WHERE study_id = ? AND annotator_id = ? ORDER BY position",
        (study.study_id, annotator),
    )
    out = [r[0] for r in rows]
    study.store.close()
    return out


def test_concurrent_clients_with_retries_store_every_vote_exactly_once(live_study):
    summary = live_study
    clients = [f"client{i}" for i in range(4)]
    queues = {c: pairs_of(summary.root, c) for c in clients}
    statuses = {c: [] for c in clients}
    with running_server(summary.root) as (base, _):

        def run(annotator):
            headers = {"Authorization": f"Bearer {summary.annotator_tokens[annotator]}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                for k, pid in enumerate(queues[annotator]):
                    body = {
                        "uuid": f"{annotator}-{k}",
                        "pair_id": pid,
                        "choice": "left",
                        "time_on_task_s": 0.5,
                    }
                    for _attempt in range(3):  # a client that never trusts the first acknowledgement
                        statuses[annotator].append(http.post("/api/votes", json=body).status_code)

        # Two threads per annotator send the same uuids at the same time.
        threads = [threading.Thread(target=run, args=(c,)) for c in clients for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        admin = {"Authorization": f"Bearer {summary.admin_token}"}
        exported = httpx.get(f"{base}/api/admin/export?format=json", headers=admin).json()
    for c in clients:
        assert statuses[c].count(201) == len(queues[c])  # stored once ...
        assert statuses[c].count(200) == 5 * len(queues[c])  # ... and acknowledged as duplicates 5 times
    mine = [v for v in exported if v["annotator"] in clients]
    assert len(mine) == len({v["vote_uuid"] for v in mine}) == sum(len(q) for q in queues.values())


def test_kill_9_during_a_vote_stream_loses_no_acknowledged_vote(live_study):
    summary = live_study
    queue = pairs_of(summary.root, "streamer")
    headers = {"Authorization": f"Bearer {summary.annotator_tokens['streamer']}"}
    acknowledged: list[str] = []
    killed = threading.Event()
    with running_server(summary.root) as (base, proc):

        def stream():
            with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
                for k, pid in enumerate(queue):
                    body = {"uuid": f"stream-{k}", "pair_id": pid, "choice": "right"}
                    try:
                        r = http.post("/api/votes", json=body)
                    except httpx.HTTPError:
                        return  # the server is gone mid-request: this vote was never acknowledged
                    if r.status_code in (200, 201):
                        acknowledged.append(body["uuid"])
                        if len(acknowledged) == len(queue) // 2:
                            os.kill(proc.pid, signal.SIGKILL)  # while this client keeps sending
                            killed.set()

        sender = threading.Thread(target=stream)
        sender.start()
        sender.join(30)
        assert killed.is_set() and proc.wait(10) == -signal.SIGKILL
    assert len(acknowledged) >= len(queue) // 2
    with running_server(summary.root) as (base, _):
        state = httpx.get(f"{base}/api/next", headers=headers).json()
        study = Study.open(summary.root)
        stored = set(study.store.votes(study.study_id)["vote_uuid"])
        assert set(acknowledged) <= stored
        assert study.store.pragma("integrity_check") == "ok"
        assert state["progress"]["done"] == len([u for u in stored if u.startswith("stream-")])
        # The annotator resumes at the first pair without a vote and can finish.
        assert state["pair"]["pair_id"] == queue[state["progress"]["done"]]
        for k in range(state["progress"]["done"], len(queue)):
            r = httpx.post(
                f"{base}/api/votes",
                headers=headers,
                json={"uuid": f"stream-{k}", "pair_id": queue[k], "choice": "tie"},
            )
            assert r.status_code in (200, 201)
        assert httpx.get(f"{base}/api/next", headers=headers).json()["pair"] is None
        study.store.close()
