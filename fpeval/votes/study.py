"""A study folder: ``study.json`` (the design, with names: for analysts only), ``media/`` (files named
by opaque ids), ``votes.sqlite`` (the vote store) and ``tokens.json`` (0600; annotator links and the
admin token, for the organiser to hand out)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpeval.artifacts import atomic_path
from fpeval.votes.store import VoteStore

MANIFEST = "study.json"
DATABASE = "votes.sqlite"
TOKENS = "tokens.json"
MEDIA = "media"


def write_secret(path: Path, text: str) -> Path:
    """Atomically write a file readable by its owner only (mode 0600 from the start)."""
    with atomic_path(path, mode=0o600) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def annotation_order(
    pairs, rng: np.random.Generator, limit: int | None = None, coverage: dict | None = None, min_gap: int = 3
) -> list[str]:
    """An annotator's queue: regular and gold pairs shuffled; each repeat at least ``min_gap`` after its original.

    With ``limit``, that many regular + gold pairs (gold in proportion, at least one) are taken, the
    least-assigned first so that votes spread evenly across pairs.
    """
    base = pairs[pairs["kind"] != "repeat"]
    repeats = pairs[pairs["kind"] == "repeat"]
    chosen = list(base["pair_id"])
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        coverage = coverage or {}
        gold = list(base.loc[base["kind"] == "gold", "pair_id"])
        regular = list(base.loc[base["kind"] != "gold", "pair_id"])
        n_gold = min(len(gold), max(1 if gold else 0, round(limit * len(gold) / max(len(base), 1))))

        def least_covered(ids: list[str], n: int) -> list[str]:
            tiebreak = rng.random(len(ids))
            return [
                ids[i]
                for i in sorted(range(len(ids)), key=lambda i: (coverage.get(ids[i], 0), tiebreak[i]))[:n]
            ]

        chosen = least_covered(gold, n_gold) + least_covered(regular, max(0, limit - n_gold))
    order = [chosen[i] for i in rng.permutation(len(chosen))]
    for i in rng.permutation(len(repeats)):
        rid, original = repeats["pair_id"].iloc[i], repeats["repeat_of"].iloc[i]
        if original not in order:
            continue
        lo = min(order.index(original) + 1 + min_gap, len(order))
        order.insert(int(rng.integers(lo, len(order) + 1)), rid)
    return order


@dataclass
class Study:
    """An opened study folder."""

    root: Path
    study_id: str
    store: VoteStore

    @classmethod
    def open(cls, root: str | Path) -> Study:
        root = Path(root)
        manifest = root / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(
                f"{root} is not a study folder (no {MANIFEST}); create one with `votes design`"
            )
        study_id = json.loads(manifest.read_text())["study_id"]
        store = VoteStore(root / DATABASE)
        store.study(study_id)  # raises if the database does not know the study
        return cls(root, study_id, store)

    def manifest(self) -> dict:
        return json.loads((self.root / MANIFEST).read_text())

    def media_path(self, media_id: str) -> tuple[Path, str] | None:
        """The file and MIME type of a media id, confined to the study's media folder."""
        row = self.store.media(media_id)
        if row is None or row["study_id"] != self.study_id:
            return None
        media_dir = (self.root / MEDIA).resolve()
        path = (self.root / row["path"]).resolve()
        if media_dir not in path.parents or not path.is_file():
            return None
        return path, row["mime"]

    def tokens(self) -> dict:
        path = self.root / TOKENS
        return json.loads(path.read_text()) if path.exists() else {"admin": None, "annotators": {}}

    def _save_tokens(self, tokens: dict) -> None:
        write_secret(self.root / TOKENS, json.dumps(tokens, indent=2))

    def revoke(self, annotator_id: str) -> bool:
        """Invalidate an annotator's link; their votes and queue stay (``add_annotator`` issues a new one)."""
        revoked = self.store.revoke_token(annotator_id)
        tokens = self.tokens()
        if tokens["annotators"].pop(annotator_id, None) is not None or revoked:
            self._save_tokens(tokens)
        return revoked

    def new_admin_token(self) -> str:
        token = self.store.new_admin_token(self.study_id)
        tokens = self.tokens()
        tokens["admin"] = token
        self._save_tokens(tokens)
        return token

    def add_annotator(
        self, annotator_id: str, limit: int | None = None, seed: int | None = None, more: int = 0
    ) -> str:
        """Register a human annotator, queue their pairs and return their (new) token.

        Each annotator gets every pair, or with ``limit`` the least-covered ones (so votes spread evenly),
        in a personal random order where a repeated swapped pair comes some pairs after its original.
        For an annotator who already has a queue this only rotates the token (the old link stops
        working; the queue and the votes stay), unless ``more`` asks for that many further pairs.
        """
        if annotator_id.startswith("judge:"):
            raise ValueError("'judge:' ids are reserved for automatic judges; they need no token")
        if more < 0:
            raise ValueError(f"more must be >= 0, got {more}")
        _, queued = self.store.progress(self.study_id, annotator_id)
        token = self.store.add_annotator(annotator_id)
        if not queued or more:
            pairs = self.store.pairs(self.study_id)
            coverage = self.store.assignment_counts(self.study_id)
            if seed is None:
                seed = int.from_bytes(os.urandom(4), "little")
            mine = set(self.store.assigned_pairs(self.study_id, annotator_id)) if queued else set()
            order = annotation_order(
                pairs[~pairs["pair_id"].isin(mine)],
                np.random.default_rng(seed),
                limit=more if queued else limit,
                coverage=coverage,
            )
            self.store.assign(self.study_id, annotator_id, order)
        tokens = self.tokens()
        tokens["annotators"][annotator_id] = token
        self._save_tokens(tokens)
        return token
