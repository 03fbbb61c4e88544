"""One annotator's voting session: the blind view of their next pair, and vote submission.

The web page and the notebook widget both go through this class, so they store votes the same way.
The view holds opaque ids, the prompt and progress only: never a row, variant or file name.
"""

from __future__ import annotations

from fpeval.votes.store import InvalidVote, UnknownPair
from fpeval.votes.study import Study


class AnnotationSession:
    def __init__(self, study: Study, annotator: str):
        self.study = study
        self.annotator = annotator

    @property
    def store(self):
        return self.study.store

    def progress(self) -> dict:
        done, total = self.store.progress(self.study.study_id, self.annotator)
        return {"done": done, "total": total}

    def current(self) -> dict | None:
        """The next pair to vote on (the resume point), or None when every assigned pair has a vote."""
        pair = self.store.next_pair(self.study.study_id, self.annotator)
        if pair is None:
            return None
        return {
            "pair_id": pair["pair_id"],
            "video": pair["video_media"],
            "image": pair["image_media"],
            "prompt": pair["prompt"] or "",
        }

    def submit(self, uuid: str, pair_id: str, choice: str, time_on_task_s: float | None = None) -> bool:
        """Store a vote on an assigned pair, with the left/right order it was shown in.

        True if stored, False for a retry of an already stored uuid; raises a VoteError otherwise.
        """
        if not isinstance(pair_id, str) or not pair_id or len(pair_id) > 100:
            raise InvalidVote("pair_id must be a non-empty string")
        pair = self.store.pair(self.study.study_id, pair_id)
        if pair is None:
            raise UnknownPair(f"unknown pair {pair_id!r}")
        return self.store.add_vote(
            uuid,
            self.study.study_id,
            pair_id,
            self.annotator,
            pair["left_item"],
            pair["right_item"],
            choice,
            time_on_task_s=time_on_task_s,
            require_assignment=True,
        )
