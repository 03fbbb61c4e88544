"""Notebook voting widget (anywidget): the same blind pair as the web page, writing to the same store.

    from fpeval.votes.widget import VotingWidget
    VotingWidget("study/", annotator="alice")

Clicks and keys in the widget send a message to Python, which stores the vote through
:class:`fpeval.votes.annotation.AnnotationSession` (the web server's code path) and shows the next pair.
"""

from __future__ import annotations

import uuid as uuid_lib
from pathlib import Path

import anywidget
import traitlets

from fpeval.votes.annotation import AnnotationSession
from fpeval.votes.store import VoteError
from fpeval.votes.study import Study

STATIC = Path(__file__).parent / "static"


class VotingWidget(anywidget.AnyWidget):
    _esm = STATIC / "widget.js"
    _css = STATIC / "widget.css"

    pair_id = traitlets.Unicode("").tag(sync=True)
    video = traitlets.Bytes(b"").tag(sync=True)
    image = traitlets.Bytes(b"").tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    done = traitlets.Int(0).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    finished = traitlets.Bool(False).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, study: str | Path | Study, annotator: str, **kwargs):
        super().__init__(**kwargs)
        study = study if isinstance(study, Study) else Study.open(study)
        if study.store.progress(study.study_id, annotator)[1] == 0:
            study.add_annotator(annotator)  # first visit: queue this annotator's pairs
        self.session = AnnotationSession(study, annotator)
        self.on_msg(self._on_message)
        self.show_next()

    def _read(self, media_id: str | None) -> bytes:
        found = self.session.study.media_path(media_id) if media_id else None
        return found[0].read_bytes() if found else b""

    def show_next(self) -> None:
        """Load the annotator's next unvoted pair (or the finished state)."""
        pair = self.session.current()
        progress = self.session.progress()
        with self.hold_sync():
            self.done, self.total = progress["done"], progress["total"]
            if pair is None:
                self.video, self.image, self.prompt = b"", b"", ""
                self.finished = True
                self.pair_id = ""
            else:
                self.video = self._read(pair["video"])
                self.image = self._read(pair["image"])
                self.prompt = pair["prompt"]
                self.finished = False
                self.pair_id = pair["pair_id"]

    def vote(
        self,
        choice: str,
        uuid: str | None = None,
        time_on_task_s: float | None = None,
        pair_id: str | None = None,
    ) -> bool:
        """Store a vote on the shown pair (as a click does) and advance; False if refused or a duplicate."""
        try:
            stored = self.session.submit(
                uuid or str(uuid_lib.uuid4()), pair_id or self.pair_id, choice, time_on_task_s
            )
        except VoteError as e:
            self.message = f"vote refused: {e}"
            return False
        self.message = ""
        self.show_next()
        return stored

    def _on_message(self, widget, content, buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "vote":
            self.vote(
                str(content.get("choice", "")),
                uuid=content.get("uuid"),
                time_on_task_s=content.get("time_on_task_s"),
                pair_id=content.get("pair_id"),
            )
