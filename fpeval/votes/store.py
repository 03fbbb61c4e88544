"""The vote store: one SQLite file in WAL mode with synchronous=FULL, so an acknowledged vote survives a
crash; a vote uuid is stored at most once, so clients may retry freely.

Tables: studies, media, items (clips and their competitor name), pairs, annotators (hashed tokens),
assignments (which pairs an annotator sees, in order) and votes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from metrics.ratings import CHOICES, JUDGE_PREFIX  # one vocabulary for stored votes and their ratings

PAIR_KINDS = ("regular", "gold", "repeat")

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    root TEXT,
    admin_token_hash TEXT,
    meta TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS media (
    media_id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(study_id),
    path TEXT NOT NULL,
    mime TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(study_id),
    competitor TEXT NOT NULL,
    media_id TEXT REFERENCES media(media_id),
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS pairs (
    pair_id TEXT NOT NULL,
    study_id TEXT NOT NULL REFERENCES studies(study_id),
    left_item TEXT NOT NULL REFERENCES items(item_id),
    right_item TEXT NOT NULL REFERENCES items(item_id),
    kind TEXT NOT NULL CHECK (kind IN ('regular', 'gold', 'repeat')),
    repeat_of TEXT,
    gold_choice TEXT CHECK (gold_choice IS NULL OR gold_choice IN ('left', 'right')),
    video_media TEXT REFERENCES media(media_id),
    image_media TEXT REFERENCES media(media_id),
    prompt TEXT,
    meta TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (study_id, pair_id)
);
CREATE TABLE IF NOT EXISTS annotators (
    annotator_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('human', 'judge')),
    token_hash TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assignments (
    study_id TEXT NOT NULL REFERENCES studies(study_id),
    annotator_id TEXT NOT NULL REFERENCES annotators(annotator_id),
    pair_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (study_id, annotator_id, pair_id),
    FOREIGN KEY (study_id, pair_id) REFERENCES pairs(study_id, pair_id)
);
CREATE TABLE IF NOT EXISTS votes (
    vote_uuid TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(study_id),
    pair_id TEXT NOT NULL,
    annotator_id TEXT NOT NULL REFERENCES annotators(annotator_id),
    shown_left TEXT NOT NULL REFERENCES items(item_id),
    shown_right TEXT NOT NULL REFERENCES items(item_id),
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie', 'both_bad', 'skip')),
    time_on_task_s REAL,
    created_at TEXT NOT NULL,
    UNIQUE (study_id, pair_id, annotator_id),
    FOREIGN KEY (study_id, pair_id) REFERENCES pairs(study_id, pair_id)
);
CREATE INDEX IF NOT EXISTS votes_by_annotator ON votes (study_id, annotator_id);
CREATE INDEX IF NOT EXISTS assignments_by_position ON assignments (study_id, annotator_id, position);
"""


class VoteError(ValueError):
    """A vote the store refuses; nothing was stored."""


class UnknownPair(VoteError):
    """The study or pair does not exist."""


class InvalidVote(VoteError):
    """The vote's fields are malformed (choice, shown items, time on task)."""


class NotAssigned(VoteError):
    """The pair exists but is not assigned to this annotator."""


class ConflictingVote(VoteError):
    """The uuid was used for a different vote, or the annotator already voted on this pair."""


def now_iso() -> str:
    """UTC now as an ISO 8601 string with microseconds (sorts lexicographically)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _iso(value) -> str:
    if value is None:
        return now_iso()
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat(timespec="microseconds")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def annotator_kind(annotator_id: str) -> str:
    return "judge" if annotator_id.startswith(JUDGE_PREFIX) else "human"


def _checked_vote(uuid, choice, annotator, time_on_task_s, created_at) -> tuple[float | None, str]:
    """Validate a vote's own fields; (time on task in s or None, created_at as ISO text)."""
    if not isinstance(uuid, str) or not uuid.strip() or len(uuid) > 128:
        raise InvalidVote("vote uuid must be a non-empty string of at most 128 characters")
    if choice not in CHOICES:
        raise InvalidVote(f"invalid choice {choice!r}; accepted: {', '.join(CHOICES)}")
    if time_on_task_s is not None:
        try:
            time_on_task_s = float(time_on_task_s)
        except (TypeError, ValueError):
            raise InvalidVote("time_on_task_s must be a number of seconds") from None
        if not 0 <= time_on_task_s < 86400:
            raise InvalidVote("time_on_task_s must be between 0 and 86400 seconds")
    if not isinstance(annotator, str) or not annotator.strip() or len(annotator) > 200:
        raise InvalidVote("annotator id must be a non-empty string of at most 200 characters")
    try:
        created = _iso(created_at)
    except (TypeError, ValueError):
        raise InvalidVote(f"created_at {created_at!r} is not a timestamp") from None
    return time_on_task_s, created


class VoteStore:
    """Thread-safe handle on a vote database (one SQLite connection per thread)."""

    def __init__(self, path: str | Path, timeout_s: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(SCHEMA)

    # ------------------------------------------------------------------------------- connections

    def _conn(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(
                self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
            )
            con.row_factory = sqlite3.Row
            con.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise RuntimeError(f"could not put {self.path} in WAL mode (got {mode})")
            con.execute("PRAGMA synchronous=FULL")  # an acknowledged commit is on disk
            con.execute("PRAGMA foreign_keys=ON")
            self._local.con = con
            with self._lock:
                self._all.append(con)
        return con

    class _Transaction:
        def __init__(self, con: sqlite3.Connection):
            self.con = con

        def __enter__(self) -> sqlite3.Connection:
            self.con.execute("BEGIN IMMEDIATE")
            return self.con

        def __exit__(self, exc_type, exc, tb):
            self.con.execute("COMMIT" if exc_type is None else "ROLLBACK")
            return False

    def _write(self) -> _Transaction:
        """A write transaction that takes the lock up front (no upgrade deadlocks between writers)."""
        return self._Transaction(self._conn())

    def close(self) -> None:
        with self._lock:
            for con in self._all:
                con.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> VoteStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def pragma(self, name: str):
        return self._conn().execute(f"PRAGMA {name}").fetchone()[0]

    # ----------------------------------------------------------------------------------- studies

    def add_study(self, study_id: str, name: str | None = None, root: str | None = None, meta=None) -> None:
        """Create a study (no-op if it exists with the same id)."""
        with self._write() as con:
            con.execute(
                "INSERT OR IGNORE INTO studies (study_id, name, root, meta, created_at) VALUES (?, ?, ?, ?, ?)",
                (study_id, name or study_id, root, json.dumps(meta or {}), now_iso()),
            )

    def study(self, study_id: str) -> dict:
        row = self._conn().execute("SELECT * FROM studies WHERE study_id = ?", (study_id,)).fetchone()
        if row is None:
            raise UnknownPair(f"unknown study {study_id!r}")
        out = dict(row)
        out.pop("admin_token_hash")
        out["meta"] = json.loads(out["meta"])
        return out

    def studies(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT study_id, name, root, created_at FROM studies ORDER BY created_at", self._conn()
        )

    def new_admin_token(self, study_id: str) -> str:
        """Issue (or rotate) the study's admin token; only its hash is stored."""
        token = new_token()
        with self._write() as con:
            cur = con.execute(
                "UPDATE studies SET admin_token_hash = ? WHERE study_id = ?", (hash_token(token), study_id)
            )
            if cur.rowcount != 1:
                raise UnknownPair(f"unknown study {study_id!r}")
        return token

    def is_admin(self, study_id: str, token: str | None) -> bool:
        if not token:
            return False
        row = (
            self._conn()
            .execute("SELECT admin_token_hash FROM studies WHERE study_id = ?", (study_id,))
            .fetchone()
        )
        return bool(row and row[0]) and secrets.compare_digest(row[0], hash_token(token))

    # ----------------------------------------------------------------------------- media, items

    def add_media(self, study_id: str, media: Iterable[dict]) -> None:
        """Register files by opaque id: dicts with media_id, path (relative to the study root), mime."""
        with self._write() as con:
            con.executemany(
                "INSERT INTO media (media_id, study_id, path, mime) VALUES (?, ?, ?, ?)",
                [(m["media_id"], study_id, str(m["path"]), m["mime"]) for m in media],
            )

    def media(self, media_id: str) -> dict | None:
        row = self._conn().execute("SELECT * FROM media WHERE media_id = ?", (media_id,)).fetchone()
        return dict(row) if row else None

    def add_items(self, study_id: str, items: Iterable[dict]) -> None:
        """Register clips: dicts with item_id, competitor, optional media_id and meta (sidecar fields)."""
        with self._write() as con:
            con.executemany(
                "INSERT INTO items (item_id, study_id, competitor, media_id, meta) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        i["item_id"],
                        study_id,
                        i["competitor"],
                        i.get("media_id"),
                        json.dumps(i.get("meta") or {}, default=str),
                    )
                    for i in items
                ],
            )

    def items(self, study_id: str) -> pd.DataFrame:
        df = pd.read_sql_query(
            "SELECT item_id, competitor, media_id, meta FROM items WHERE study_id = ? ORDER BY rowid",
            self._conn(),
            params=(study_id,),
        )
        df["meta"] = df["meta"].map(json.loads)
        return df

    # ------------------------------------------------------------------------------------- pairs

    def add_pairs(self, study_id: str, pairs: Iterable[dict]) -> None:
        """Register pairs: pair_id, left_item, right_item, kind, and optional repeat_of, gold_choice,
        video_media, image_media, prompt, meta. Left/right is the order shown to annotators."""
        rows = []
        for p in pairs:
            kind = p.get("kind", "regular")
            if kind not in PAIR_KINDS:
                raise ValueError(f"pair kind must be one of {PAIR_KINDS}, got {kind!r}")
            if p["left_item"] == p["right_item"]:
                raise ValueError(f"pair {p['pair_id']} shows the same item twice")
            rows.append(
                (
                    p["pair_id"],
                    study_id,
                    p["left_item"],
                    p["right_item"],
                    kind,
                    p.get("repeat_of"),
                    p.get("gold_choice"),
                    p.get("video_media"),
                    p.get("image_media"),
                    p.get("prompt"),
                    json.dumps(p.get("meta") or {}, default=str),
                )
            )
        with self._write() as con:
            con.executemany(
                "INSERT INTO pairs (pair_id, study_id, left_item, right_item, kind, repeat_of, gold_choice, "
                "video_media, image_media, prompt, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def pair(self, study_id: str, pair_id: str) -> dict | None:
        row = (
            self._conn()
            .execute("SELECT * FROM pairs WHERE study_id = ? AND pair_id = ?", (study_id, pair_id))
            .fetchone()
        )
        return dict(row) if row else None

    def pairs(self, study_id: str) -> pd.DataFrame:
        """Pairs with their competitors (admin view: names are included)."""
        return pd.read_sql_query(
            "SELECT p.pair_id, p.kind, p.repeat_of, p.gold_choice, p.left_item, p.right_item, "
            "l.competitor AS left, r.competitor AS right, p.prompt, p.video_media, p.image_media "
            "FROM pairs p JOIN items l ON l.item_id = p.left_item JOIN items r ON r.item_id = p.right_item "
            "WHERE p.study_id = ? ORDER BY p.rowid",
            self._conn(),
            params=(study_id,),
        )

    # -------------------------------------------------------------------------------- annotators

    def add_annotator(self, annotator_id: str) -> str | None:
        """Register an annotator; humans get a fresh token (returned once, stored hashed), judges none.

        Calling it again for a human rotates the token.
        """
        if not annotator_id or not annotator_id.strip() or len(annotator_id) > 200:
            raise ValueError("annotator id must be a non-empty string of at most 200 characters")
        kind = annotator_kind(annotator_id)
        token = new_token() if kind == "human" else None
        with self._write() as con:
            con.execute(
                "INSERT INTO annotators (annotator_id, kind, token_hash, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (annotator_id) DO UPDATE SET token_hash = excluded.token_hash",
                (annotator_id, kind, hash_token(token) if token else None, now_iso()),
            )
        return token

    def revoke_token(self, annotator_id: str) -> bool:
        """Invalidate a human annotator's token (their votes stay); False if there was none."""
        with self._write() as con:
            cur = con.execute(
                "UPDATE annotators SET token_hash = NULL WHERE annotator_id = ? AND kind = 'human' "
                "AND token_hash IS NOT NULL",
                (annotator_id,),
            )
            return cur.rowcount > 0

    def annotator_for_token(self, token: str | None) -> str | None:
        if not token:
            return None
        row = (
            self._conn()
            .execute(
                "SELECT annotator_id FROM annotators WHERE token_hash = ? AND kind = 'human'",
                (hash_token(token),),
            )
            .fetchone()
        )
        return row[0] if row else None

    def annotators(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT annotator_id, kind, created_at FROM annotators ORDER BY created_at", self._conn()
        )

    def assign(self, study_id: str, annotator_id: str, pair_ids: Sequence[str]) -> int:
        """Append pairs to an annotator's queue in the given order (already assigned ones are kept)."""
        with self._write() as con:
            start = con.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM assignments WHERE study_id = ? AND annotator_id = ?",
                (study_id, annotator_id),
            ).fetchone()[0]
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO assignments (study_id, annotator_id, pair_id, position) VALUES (?, ?, ?, ?)",
                [(study_id, annotator_id, pid, start + i) for i, pid in enumerate(pair_ids)],
            )
            return con.total_changes - before

    def assigned_pairs(self, study_id: str, annotator_id: str) -> list[str]:
        """An annotator's queue, in order."""
        rows = self._conn().execute(
            "SELECT pair_id FROM assignments WHERE study_id = ? AND annotator_id = ? ORDER BY position",
            (study_id, annotator_id),
        )
        return [r[0] for r in rows.fetchall()]

    def assignment_counts(self, study_id: str) -> dict[str, int]:
        """How many annotators each pair is assigned to."""
        rows = (
            self._conn()
            .execute(
                "SELECT p.pair_id, COUNT(a.annotator_id) FROM pairs p LEFT JOIN assignments a "
                "ON a.pair_id = p.pair_id AND a.study_id = p.study_id WHERE p.study_id = ? GROUP BY p.pair_id",
                (study_id,),
            )
            .fetchall()
        )
        return {r[0]: r[1] for r in rows}

    def is_assigned(self, study_id: str, annotator_id: str, pair_id: str) -> bool:
        return (
            self._conn()
            .execute(
                "SELECT 1 FROM assignments WHERE study_id = ? AND annotator_id = ? AND pair_id = ?",
                (study_id, annotator_id, pair_id),
            )
            .fetchone()
            is not None
        )

    def next_pair(self, study_id: str, annotator_id: str) -> dict | None:
        """The first assigned pair this annotator has not voted on (resume point), or None when done."""
        row = (
            self._conn()
            .execute(
                "SELECT p.* FROM assignments a JOIN pairs p ON p.study_id = a.study_id AND p.pair_id = a.pair_id "
                "LEFT JOIN votes v ON v.study_id = a.study_id AND v.pair_id = a.pair_id "
                "AND v.annotator_id = a.annotator_id "
                "WHERE a.study_id = ? AND a.annotator_id = ? AND v.vote_uuid IS NULL "
                "ORDER BY a.position LIMIT 1",
                (study_id, annotator_id),
            )
            .fetchone()
        )
        return dict(row) if row else None

    def progress(self, study_id: str, annotator_id: str) -> tuple[int, int]:
        """(voted, assigned) for one annotator."""
        row = (
            self._conn()
            .execute(
                "SELECT COUNT(*), COUNT(v.vote_uuid) FROM assignments a LEFT JOIN votes v "
                "ON v.study_id = a.study_id AND v.pair_id = a.pair_id AND v.annotator_id = a.annotator_id "
                "WHERE a.study_id = ? AND a.annotator_id = ?",
                (study_id, annotator_id),
            )
            .fetchone()
        )
        return int(row[1]), int(row[0])

    def media_visible_to(self, study_id: str, annotator_id: str, media_id: str) -> bool:
        """Is this media file part of a pair assigned to the annotator?"""
        return (
            self._conn()
            .execute(
                "SELECT 1 FROM assignments a JOIN pairs p ON p.study_id = a.study_id AND p.pair_id = a.pair_id "
                "WHERE a.study_id = ? AND a.annotator_id = ? AND (p.video_media = ? OR p.image_media = ?) "
                "LIMIT 1",
                (study_id, annotator_id, media_id, media_id),
            )
            .fetchone()
            is not None
        )

    # ------------------------------------------------------------------------------------- votes

    def add_vote(
        self,
        uuid: str,
        study: str,
        pair_id: str,
        annotator: str,
        shown_left: str,
        shown_right: str,
        choice: str,
        time_on_task_s: float | None = None,
        created_at=None,
        require_assignment: bool = False,
    ) -> bool:
        """Store one vote durably; True if newly stored, False if this uuid was already stored as is.

        Raises UnknownPair, InvalidVote, NotAssigned (with ``require_assignment``) or ConflictingVote
        (uuid reused for a different vote, or a second vote by the annotator on the same pair); a refused
        vote stores nothing. Unknown annotators are registered on the fly (judges: ``judge:<name>``).

        Human votes must name a designed pair and its item ids. A judge (``judge:<name>``) may instead
        compare competitors directly: shown_left / shown_right are then competitor names, and an unknown
        study or pair is created for it (items ``<study>:<competitor>``).
        """
        time_on_task_s, created = _checked_vote(uuid, choice, annotator, time_on_task_s, created_at)
        with self._write() as con:
            shown_left, shown_right = self._shown_items(
                con, study, pair_id, annotator, shown_left, shown_right
            )
            if (
                require_assignment
                and not con.execute(
                    "SELECT 1 FROM assignments WHERE study_id = ? AND annotator_id = ? AND pair_id = ?",
                    (study, annotator, pair_id),
                ).fetchone()
            ):
                raise NotAssigned(f"pair {pair_id!r} is not assigned to this annotator")
            con.execute(
                "INSERT OR IGNORE INTO annotators (annotator_id, kind, created_at) VALUES (?, ?, ?)",
                (annotator, annotator_kind(annotator), now_iso()),
            )
            vote = (study, pair_id, annotator, shown_left, shown_right, choice)
            cur = con.execute(
                "INSERT INTO votes (vote_uuid, study_id, pair_id, annotator_id, shown_left, shown_right, choice, "
                "time_on_task_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (uuid, *vote, time_on_task_s, created),
            )
            if cur.rowcount == 1:
                return True
            same = con.execute(
                "SELECT study_id, pair_id, annotator_id, shown_left, shown_right, choice FROM votes "
                "WHERE vote_uuid = ?",
                (uuid,),
            ).fetchone()
            if same is None:
                raise ConflictingVote(f"{annotator} already voted on pair {pair_id!r}")
            if tuple(same) != vote:
                raise ConflictingVote(f"vote uuid {uuid!r} was already used for a different vote")
            return False

    def _shown_items(self, con, study: str, pair_id: str, annotator: str, left: str, right: str):
        """The pair's two item ids in the order shown; a judge may name competitors instead (or a new pair)."""
        judge = annotator_kind(annotator) == "judge"
        pair = con.execute(
            "SELECT left_item, right_item FROM pairs WHERE study_id = ? AND pair_id = ?", (study, pair_id)
        ).fetchone()
        if pair is None and judge:
            pair = self._register_judged_pair(con, study, pair_id, left, right)
        if pair is None:
            raise UnknownPair(f"unknown pair {pair_id!r} in study {study!r}")
        if judge and {left, right} != {pair[0], pair[1]}:
            names = dict(
                con.execute(
                    "SELECT competitor, item_id FROM items WHERE item_id IN (?, ?)", (pair[0], pair[1])
                ).fetchall()
            )
            left, right = names.get(left, left), names.get(right, right)
        if {left, right} != {pair[0], pair[1]} or left == right:
            raise InvalidVote("shown_left / shown_right are not the two items of this pair")
        return left, right

    @staticmethod
    def _register_judged_pair(con, study: str, pair_id: str, left: str, right: str):
        """A judge compares competitors directly: create the study, items and pair it names on the fly."""
        if not left or not right or left == right:
            raise InvalidVote(
                "a judged pair needs two different competitor names as shown_left / shown_right"
            )
        con.execute(
            "INSERT OR IGNORE INTO studies (study_id, name, meta, created_at) VALUES (?, ?, '{}', ?)",
            (study, study, now_iso()),
        )
        items = []
        for name in (left, right):
            item_id = f"{study}:{name}"
            con.execute(
                "INSERT OR IGNORE INTO items (item_id, study_id, competitor) VALUES (?, ?, ?)",
                (item_id, study, name),
            )
            items.append(item_id)
        con.execute(
            "INSERT INTO pairs (pair_id, study_id, left_item, right_item, kind, meta) VALUES (?, ?, ?, ?, 'regular', ?)",
            (pair_id, study, items[0], items[1], json.dumps({"judged": True})),
        )
        return tuple(items)

    def count_votes(self, study: str | None = None) -> int:
        if study is None:
            return self._conn().execute("SELECT COUNT(*) FROM votes").fetchone()[0]
        return self._conn().execute("SELECT COUNT(*) FROM votes WHERE study_id = ?", (study,)).fetchone()[0]

    def votes(self, study: str | None = None, annotators: str | None = None) -> pd.DataFrame:
        """Votes joined with their pairs and competitors, oldest first.

        ``annotators``: None (everyone), "humans" or "judges" (ids ``judge:<name>``). Columns: vote_uuid,
        study, pair_id, annotator, annotator_kind, shown_left, shown_right, left, right (competitor
        names of the shown sides), choice, time_on_task_s, created_at (UTC), kind, repeat_of,
        gold_choice, prompt.
        """
        where, params = [], []
        if study is not None:
            where.append("v.study_id = ?")
            params.append(study)
        if annotators == "humans":
            where.append("an.kind = 'human'")
        elif annotators == "judges":
            where.append("an.kind = 'judge'")
        elif annotators not in (None, "all"):
            raise ValueError(f"annotators must be None, 'humans' or 'judges', got {annotators!r}")
        sql = (
            "SELECT v.vote_uuid, v.study_id AS study, v.pair_id, v.annotator_id AS annotator, "
            "an.kind AS annotator_kind, v.shown_left, v.shown_right, l.competitor AS left, "
            "r.competitor AS right, v.choice, v.time_on_task_s, v.created_at, p.kind, p.repeat_of, "
            "p.gold_choice, p.prompt FROM votes v JOIN pairs p ON p.study_id = v.study_id AND p.pair_id = v.pair_id "
            "JOIN annotators an ON an.annotator_id = v.annotator_id "
            "JOIN items l ON l.item_id = v.shown_left JOIN items r ON r.item_id = v.shown_right"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY v.created_at, v.rowid"
        )
        df = pd.read_sql_query(sql, self._conn(), params=params)
        df["created_at"] = pd.to_datetime(df["created_at"], utc=True, format="ISO8601")
        df["time_on_task_s"] = df["time_on_task_s"].astype(float)
        return df

    def export_csv(self, path: str | Path, study: str | None = None, annotators: str | None = None) -> Path:
        """Write the votes table as CSV, atomically."""
        from fpeval.artifacts import atomic_path

        with atomic_path(path) as tmp:
            self.votes(study, annotators).to_csv(tmp, index=False)
        return Path(path)
