"""Vote store throughput: 8 clients x 1000 votes, every vote stored exactly once despite retries.

Two runs on the same kind of study (1000 pairs, each client its own annotator):
* http: a real ``fpeval votes serve`` process (uvicorn) and 8 client threads posting votes; every
  10th vote is sent twice (a retry after a lost acknowledgement);
* direct: 8 processes calling ``VoteStore.add_vote`` on one SQLite file, also with retries.
Each commit is fsynced (WAL, synchronous=FULL), so the figures include one disk flush per vote.

    python benchmarks/vote_store.py [--clients 8] [--votes 1000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from report import command, machine, write_section  # noqa: E402

from fpeval.votes.store import VoteStore  # noqa: E402
from fpeval.votes.study import DATABASE, MANIFEST  # noqa: E402

COMBOS = [("iA", "iB"), ("iB", "iC"), ("iC", "iA")]


def make_study(root: Path, clients: int, votes: int) -> dict[str, str]:
    """A study folder without media (voting does not need it); returns annotator tokens."""
    root.mkdir(parents=True)
    (root / MANIFEST).write_text(json.dumps({"study_id": "bench"}))
    store = VoteStore(root / DATABASE)
    store.add_study("bench")
    store.add_items("bench", [{"item_id": f"i{c}", "competitor": c} for c in "ABC"])
    store.add_pairs(
        "bench",
        [
            {"pair_id": f"p{k}", "left_item": COMBOS[k % 3][0], "right_item": COMBOS[k % 3][1]}
            for k in range(votes)
        ],
    )
    tokens = {}
    for i in range(clients):
        tokens[f"c{i}"] = store.add_annotator(f"c{i}")
        store.assign("bench", f"c{i}", [f"p{k}" for k in range(votes)])
    store.close()
    return tokens


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``fpeval votes serve`` on a fixed port, killable with SIGKILL and restartable on the same port."""

    def __init__(self, root: Path):
        self.root, self.port, self.proc, self.kills = root, free_port(), None, 0
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import httpx

        cmd = [sys.executable, "-m", "fpeval.votes.cli", "serve", str(self.root), "--port", str(self.port)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=env
        )
        for _ in range(400):
            try:
                httpx.get(f"{self.base}/api/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the voting server did not come up")

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown, no flush beyond what SQLite already committed
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def run_http(root: Path, tokens: dict[str, str], votes: int, kills: int = 0) -> tuple[float, int, int, int]:
    """(seconds, votes answered 201, retries answered 200, server kills) for clients posting through
    the real API; every 10th vote is sent twice, and with ``kills`` the server is killed with SIGKILL
    and restarted that many times mid-stream while clients retry until acknowledged."""
    import httpx

    server = Server(root)
    server.start()
    codes: list[int] = []
    lock = threading.Lock()
    acknowledged = [0]
    total = votes * len(tokens)

    def post_until_acknowledged(http, body) -> int:
        while True:
            try:
                code = http.post("/api/votes", json=body).status_code
            except httpx.TransportError:  # the server is down or restarting: retry the same uuid
                time.sleep(0.05)
                continue
            with lock:
                acknowledged[0] += 1
            return code

    def client(annotator: str, token: str):
        mine = []
        with httpx.Client(
            base_url=server.base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            for k in range(votes):
                body = {
                    "uuid": f"{annotator}-{k}",
                    "pair_id": f"p{k}",
                    "choice": "left",
                    "time_on_task_s": 1.0,
                }
                for _ in range(2 if k % 10 == 0 else 1):
                    mine.append(post_until_acknowledged(http, body))
        with lock:
            codes.extend(mine)

    def killer():
        for i in range(1, kills + 1):
            while acknowledged[0] < total * i / (kills + 1):
                time.sleep(0.01)
            server.kill()
            server.start()

    try:
        threads = [threading.Thread(target=client, args=item) for item in tokens.items()]
        watcher = threading.Thread(target=killer)
        t0 = time.perf_counter()
        for t in [*threads, watcher]:
            t.start()
        for t in [*threads, watcher]:
            t.join()
        elapsed = time.perf_counter() - t0
    finally:
        server.stop()
    return elapsed, codes.count(201), codes.count(200), server.kills


def _direct_client(path: str, annotator: str, votes: int) -> int:
    store = VoteStore(path)
    stored = 0
    for k in range(votes):
        for _ in range(2 if k % 10 == 0 else 1):
            stored += store.add_vote(
                f"{annotator}-{k}", "bench", f"p{k}", annotator, *COMBOS[k % 3], "right", 1.0
            )
    store.close()
    return stored


def run_direct(root: Path, clients: int, votes: int) -> tuple[float, int]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(clients) as pool:
        pool.starmap(_direct_client, [(str(root / DATABASE), "warmup", 0)] * clients)  # imports done
        t0 = time.perf_counter()
        stored = pool.starmap(
            _direct_client, [(str(root / DATABASE), f"c{i}", votes) for i in range(clients)]
        )
        elapsed = time.perf_counter() - t0
    return elapsed, sum(stored)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--votes", type=int, default=1000)
    ap.add_argument(
        "--kills", type=int, default=3, help="SIGKILL + restarts of the server during the HTTP run"
    )
    ap.add_argument("--no-write", action="store_true", help="print only; do not update BENCHMARKS.md")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    n = args.clients * args.votes
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tokens = make_study(Path(tmp) / "http", args.clients, args.votes)
        elapsed, created, duplicates, kills = run_http(Path(tmp) / "http", tokens, args.votes, args.kills)
        stored = VoteStore(Path(tmp) / "http" / DATABASE).count_votes()
        # a vote acknowledged before a kill may be re-sent after it: it must come back as a duplicate
        assert stored == n and created <= n, (stored, created, n)
        print(
            f"http:   {n} votes in {elapsed:.1f} s = {n / elapsed:.0f} votes/s with {kills} kill -9 + restarts; "
            f"stored {stored} (each exactly once), {duplicates} retries acknowledged as duplicates"
        )
        rows.append(
            (
                f"HTTP (uvicorn + {args.clients} client threads, {kills} × kill -9)",
                elapsed,
                stored,
                duplicates,
            )
        )

        make_study(Path(tmp) / "direct", args.clients, args.votes)
        elapsed, created = run_direct(Path(tmp) / "direct", args.clients, args.votes)
        stored = VoteStore(Path(tmp) / "direct" / DATABASE).count_votes()
        assert stored == created == n, (stored, created, n)
        print(f"direct: {n} votes in {elapsed:.1f} s = {n / elapsed:.0f} votes/s; stored {stored}")
        rows.append(("VoteStore.add_vote (8 processes)", elapsed, stored, n // 10))
    if not args.no_write:
        table = "\n".join(
            f"| {name} | {n} (+{dup} retries) | {elapsed:.1f} s | **{n / elapsed:.0f}** | {stored} |"
            for name, elapsed, stored, dup in rows
        )
        write_section(
            "Vote store",
            f"{args.clients} clients x {args.votes} votes into one SQLite store (WAL, synchronous=FULL: one fsync per "
            "vote); every 10th vote is sent twice, and each vote must be stored exactly once. 1-minute load average "
            f"when the run started: {load:.2f} (other jobs may share the machine).\n\n"
            f"Command: `{command()}`  \nMachine: {machine()}\n\n"
            "| path | votes sent | wall time | votes/s | votes stored |\n| --- | --- | --- | --- | --- |\n"
            + table,
        )


if __name__ == "__main__":
    main()
