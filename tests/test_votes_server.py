import json

import pytest
from starlette.testclient import TestClient
from test_votes_support import SECRET_WORDS, make_study

from fpeval.votes.server import COOKIE, create_app
from fpeval.votes.study import Study


@pytest.fixture
def env(tmp_path):
    summary = make_study(tmp_path, annotators=("ann_one", "ann_two"))
    study = Study.open(summary.root)
    study.add_annotator("ann_few", limit=3, seed=5)
    tokens = study.tokens()["annotators"]
    yield summary, study, tokens, TestClient(create_app(study))
    study.store.close()


def as_annotator(client, token):
    client.cookies.set(COOKIE, token)
    return client


def vote(client, pair_id, choice="left", uid=None, **extra):
    body = {
        "uuid": uid or f"u-{pair_id}-{choice}",
        "pair_id": pair_id,
        "choice": choice,
        "time_on_task_s": 1.25,
    }
    return client.post("/api/votes", json={**body, **extra})


def test_the_token_link_sets_a_cookie_and_leaves_the_address_bar(env):
    _, _, tokens, client = env
    r = client.get(f"/?token={tokens['ann_one']}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert (
        "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    )
    assert client.get("/api/next").json()["annotator"] == "ann_one"  # the cookie now authenticates
    assert client.get("/?token=wrong", follow_redirects=False).status_code == 401


def test_vote_flow_progress_and_resume(env):
    _, study, tokens, client = env
    as_annotator(client, tokens["ann_one"])
    seen = []
    for k in range(3):
        state = client.get("/api/next").json()
        assert state["progress"] == {"done": k, "total": 10}
        seen.append(state["pair"]["pair_id"])
        r = vote(client, seen[-1], ["left", "tie", "both_bad"][k])
        assert r.status_code == 201 and r.json()["progress"]["done"] == k + 1
    fresh = as_annotator(TestClient(create_app(Study.open(study.root))), tokens["ann_one"])  # a new server
    state = fresh.get("/api/next").json()
    assert state["progress"]["done"] == 3 and state["pair"]["pair_id"] not in seen
    for _ in range(7):
        assert vote(fresh, fresh.get("/api/next").json()["pair"]["pair_id"], "skip").status_code == 201
    assert fresh.get("/api/next").json() == {
        "annotator": "ann_one",
        "progress": {"done": 10, "total": 10},
        "pair": None,
    }
    votes = study.store.votes(study.study_id)
    assert votes["choice"].tolist()[:3] == ["left", "tie", "both_bad"] and len(votes) == 10
    pairs = study.store.pairs(study.study_id).set_index("pair_id")
    first = votes.iloc[0]  # the stored order is the order shown
    assert (first["shown_left"], first["shown_right"]) == tuple(
        pairs.loc[first["pair_id"], ["left_item", "right_item"]]
    )
    assert first["time_on_task_s"] == 1.25


def test_retrying_a_vote_with_the_same_uuid_stores_it_once(env):
    _, study, tokens, client = env
    as_annotator(client, tokens["ann_two"])
    pid = client.get("/api/next").json()["pair"]["pair_id"]
    assert vote(client, pid, uid="retry-1").status_code == 201
    again = vote(client, pid, uid="retry-1")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    other = vote(client, pid, uid="retry-2", choice="right")
    assert other.status_code == 409 and "already voted" in other.json()["error"]
    assert study.store.count_votes() == 1


def test_bad_input_is_refused_with_a_clear_4xx_and_stores_nothing(env):
    summary, study, tokens, client = env
    as_annotator(client, tokens["ann_few"])
    mine = client.get("/api/next").json()["pair"]["pair_id"]
    assigned = set(study.store.pairs(study.study_id)["pair_id"])
    not_mine = next(p for p in assigned if not study.store.is_assigned(study.study_id, "ann_few", p))
    good = {"uuid": "bad-1", "pair_id": mine, "choice": "left"}
    cases = [
        (dict(json={**good, "pair_id": "no-such-pair"}), 404, "unknown pair"),
        (dict(json={**good, "choice": "maybe"}), 422, "invalid choice"),
        (dict(json={**good, "pair_id": not_mine}), 403, "not assigned"),
        (dict(json={**good, "time_on_task_s": "long"}), 422, "time_on_task_s"),
        (dict(json={**good, "time_on_task_s": -3}), 422, "time_on_task_s"),
        (dict(json={**good, "extra": 1}), 422, "unknown field"),
        (dict(json={"uuid": "bad-1", "pair_id": mine}), 422, "missing field"),
        (dict(json={**good, "uuid": 5}), 422, "strings"),
        (dict(json=[good]), 400, "object"),
        (
            dict(content=b'{"uuid": "bad-1", "pair_', headers={"content-type": "application/json"}),
            400,
            "malformed",
        ),
        (dict(content=json.dumps(good), headers={"content-type": "text/plain"}), 415, "JSON"),
        (dict(json={**good, "pad": "x" * 10_000}), 413, "larger than"),
    ]
    for kwargs, status, message in cases:
        r = client.post("/api/votes", **kwargs)
        assert r.status_code == status, (kwargs, r.text)
        assert message in r.json()["error"]
    anonymous = TestClient(create_app(study))
    r = anonymous.post("/api/votes", json=good)
    assert r.status_code == 401 and "missing annotator token" in r.json()["error"]
    r = as_annotator(anonymous, "forged-token").post("/api/votes", json=good)
    assert r.status_code == 401 and "unknown annotator token" in r.json()["error"]
    r = TestClient(create_app(study)).post(
        "/api/votes", json=good, headers={"Authorization": f"Bearer {summary.admin_token}"}
    )
    assert r.status_code == 401  # the admin token is not an annotator token
    assert study.store.count_votes() == 0
    assert vote(client, mine).status_code == 201  # the same vote, well-formed, is accepted


def test_media_is_served_by_opaque_id_only_to_its_annotators(env):
    _, study, tokens, client = env
    as_annotator(client, tokens["ann_few"])
    state = client.get("/api/next").json()["pair"]
    r = client.get(state["video"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and r.content[4:8] == b"ftyp"
    ranged = client.get(state["video"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # seeking works
    assert client.get(state["image"]).headers["content-type"] == "image/png"
    pairs = study.store.pairs(study.study_id)
    hidden = next(
        p for _, p in pairs.iterrows() if not study.store.is_assigned(study.study_id, "ann_few", p["pair_id"])
    )
    assert client.get(f"/media/{hidden['video_media']}").status_code == 404
    items = study.store.items(study.study_id)
    assert client.get(f"/media/{items['media_id'].iloc[0]}").status_code == 404  # originals are not served
    assert client.get("/media/..%2Fstudy.json").status_code == 404
    assert TestClient(create_app(study)).get(state["video"]).status_code == 401
    for response in (r, ranged):  # file times would reveal the design order
        assert "etag" not in response.headers and "last-modified" not in response.headers


def test_nothing_an_annotator_receives_names_a_row_variant_or_path(env):
    summary, study, tokens, client = env
    blobs = []

    def record(r):
        blobs.append(r.content)
        blobs.append(json.dumps(dict(r.headers)).encode())
        return r

    record(client.get(f"/?token={tokens['ann_one']}", follow_redirects=False))
    as_annotator(client, tokens["ann_one"])
    for path in ("/", "/static/app.js", "/static/style.css", "/static/index.html"):
        assert record(client.get(path)).status_code == 200
    record(client.post("/api/votes", json={"uuid": "x-1", "pair_id": "nope", "choice": "left"}))
    record(client.post("/api/votes", json={"uuid": "x-1", "pair_id": "nope", "choice": "bogus"}))
    for k in range(10):
        state = record(client.get("/api/next")).json()["pair"]
        record(client.get(state["video"]))
        record(client.get(state["image"]))
        record(vote(client, state["pair_id"], "right", uid=f"blind-{k}"))
        record(vote(client, state["pair_id"], "left", uid=f"blind-other-{k}"))  # 409 message
    record(client.get("/api/next"))
    forbidden = [w.encode() for w in SECRET_WORDS] + [
        str(summary.root).encode(),
        str(summary.root.parent).encode(),
    ]
    forbidden += [
        str(study.root.resolve()).encode(),
        b"degraded",
        b"gold_choice",
        b"repeat_of",
        b"competitor",
    ]
    for blob in blobs:
        for word in forbidden:
            assert word not in blob, word
    assert study.store.count_votes() == 10


def test_admin_endpoints_need_the_admin_token(env):
    summary, study, tokens, client = env
    as_annotator(client, tokens["ann_one"])
    pid = client.get("/api/next").json()["pair"]["pair_id"]
    vote(client, pid, "left")
    for path in ("/api/admin/stats", "/api/admin/export"):
        assert client.get(path).status_code == 401  # an annotator cookie is not enough
        assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 403
        assert client.get(path, headers={"Authorization": f"Bearer {tokens['ann_one']}"}).status_code == 403
    admin = {"Authorization": f"Bearer {summary.admin_token}"}
    stats = client.get("/api/admin/stats", headers=admin).json()
    assert stats["votes"] == 1 and stats["pairs"] == {"regular": 6, "gold": 2, "repeat": 2}
    assert (
        stats["annotators"]["ann_one"]["voted"] == 1
        and stats["annotators"]["ann_few"]["assigned"]
        == study.store.progress(study.study_id, "ann_few")[1]
        >= 3
    )
    csv = client.get("/api/admin/export", headers=admin)
    assert (
        csv.headers["content-type"].startswith("text/csv")
        and "RowAlphaQx" in csv.text
        or "RowBravoQx" in csv.text
    )
    records = client.get("/api/admin/export?format=json", headers=admin).json()
    assert len(records) == 1 and records[0]["pair_id"] == pid
    assert client.get("/api/admin/export?format=xml", headers=admin).status_code == 422


def test_fuzzed_requests_get_4xx_never_500_and_store_nothing(env):
    _, study, tokens, client = env
    as_annotator(client, tokens["ann_few"])
    mine = client.get("/api/next").json()["pair"]["pair_id"]
    quoted = mine.encode()
    raw = [
        b"[" * 3000 + b"]" * 3000,  # deeper than the JSON parser's recursion limit
        b'{"uuid": ' + b"[" * 900 + b"]" * 900 + b', "pair_id": "p", "choice": "left"}',
        b'{"uuid": "\\ud800", "pair_id": "' + quoted + b'", "choice": "left"}',  # a lone surrogate
        b'{"uuid": "ok", "pair_id": "\\udfff' + quoted + b'", "choice": "left"}',
        b'{"uuid": "a\\u0000b", "pair_id": "x", "choice": "left"}',
        b'{"uuid": "' + b"u" * 101 + b'", "pair_id": "x", "choice": "left"}',
        b'{"uuid": {"a": 1}, "pair_id": "x", "choice": "left"}',
        b"\xff\xfe\x00",
        b"x" * 5000,
        b"",
        b"null",
        b'"just a string"',
    ]
    for body in raw:
        r = client.post("/api/votes", content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (body[:60], r.status_code, r.text[:200])
    for token in ("forged", "tab\tbed", "x" * 5000, ""):
        fresh = TestClient(create_app(study))
        fresh.cookies.set(COOKIE, token)
        r = fresh.post("/api/votes", content=b"[" * 3000, headers={"content-type": "application/json"})
        assert r.status_code == 401  # the token is checked before the body is read
        link = fresh.get("/", params={"token": token}, follow_redirects=False)
        assert link.status_code == 401 and COOKIE not in link.headers.get("set-cookie", "")
    assert study.store.count_votes() == 0
    assert vote(client, mine).status_code == 201  # still serving


def test_a_link_for_another_annotator_asks_before_switching_the_session(env):
    _, _, tokens, client = env
    client.get(f"/?token={tokens['ann_one']}")
    assert client.get("/api/next").json()["annotator"] == "ann_one"
    r = client.get(f"/?token={tokens['ann_two']}", follow_redirects=False)
    assert r.status_code == 200 and "already signed in" in r.text and 'action="/session"' in r.text
    assert client.get("/api/next").json()["annotator"] == "ann_one"  # nothing switched yet
    r = client.post("/session", data={"token": tokens["ann_two"]}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/next").json()["annotator"] == "ann_two"
    assert client.post("/session", data={"token": "forged"}).status_code == 401
    assert client.get("/api/next").json()["annotator"] == "ann_two"
    r = client.get(f"/?token={tokens['ann_two']}", follow_redirects=False)  # the same annotator: no question
    assert r.status_code == 303


def test_serve_refuses_a_busy_port_and_a_bad_host_with_one_line(env, tmp_path):
    import socket

    from typer.testing import CliRunner

    from fpeval.votes.cli import votes_app

    summary = env[0]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        for args in (["--port", str(port)], ["--host", "no-such-host.invalid"], ["--port", "70000"]):
            r = CliRunner().invoke(votes_app, ["serve", str(summary.root), *args])
            assert r.exit_code == 2, (args, r.output)
            assert "Traceback" not in r.output and ("cannot listen" in r.output or "--port" in r.output)
    finally:
        busy.close()
