import pytest
from test_votes_support import make_study

from fpeval.votes.study import Study

pytest.importorskip("anywidget")


def test_a_simulated_click_stores_a_vote_through_the_shared_session(tmp_path):
    from fpeval.votes.widget import VotingWidget

    summary = make_study(tmp_path, annotators=("ann_web",), gold=1, repeats=0)
    widget = VotingWidget(summary.root, annotator="nb_user")  # first visit queues this annotator's pairs
    assert (widget.done, widget.total, widget.finished) == (0, 7, False)
    assert widget.video[4:8] == b"ftyp" and widget.image[:4] == b"\x89PNG" and widget.prompt == "a red ball"
    first = widget.pair_id
    # Exactly what the browser side sends on a click on "Left is better".
    widget._on_message(
        widget,
        {"type": "vote", "choice": "left", "uuid": "nb-1", "pair_id": first, "time_on_task_s": 2.0},
        [],
    )
    assert widget.done == 1 and widget.pair_id != first
    widget._on_message(
        widget, {"type": "vote", "choice": "left", "uuid": "nb-1", "pair_id": first}, []
    )  # a resend
    widget._on_message(
        widget, {"type": "vote", "choice": "sideways", "uuid": "nb-2", "pair_id": widget.pair_id}, []
    )
    assert "invalid choice" in widget.message and widget.done == 1

    study = Study.open(summary.root)
    votes = study.store.votes(study.study_id)
    assert votes[["vote_uuid", "pair_id", "annotator", "choice", "time_on_task_s"]].values.tolist() == [
        ["nb-1", first, "nb_user", "left", 2.0]
    ]
    pair = study.store.pair(study.study_id, first)
    assert (votes["shown_left"].iloc[0], votes["shown_right"].iloc[0]) == (
        pair["left_item"],
        pair["right_item"],
    )

    again = VotingWidget(study, annotator="nb_user")  # resumes; the queue is not assigned twice
    assert (again.done, again.total, again.pair_id) == (1, 7, widget.pair_id)
    for choice in ["right", "tie", "both_bad", "skip", "left", "right"]:
        assert again.vote(choice) is True
    assert again.finished and again.video == b"" and (again.done, again.total) == (7, 7)
    assert study.store.count_votes(study.study_id) == 7
    study.store.close()
