import json

import pandas as pd
from test_votes_support import make_results, vote_everything
from typer.testing import CliRunner

from fpeval.votes.cli import votes_app
from fpeval.votes.study import Study

runner = CliRunner()


def better(p):
    """RowAlpha > RowBravo > RowCharlie; the clean clip beats its degraded copy."""
    if p["kind"] == "gold":
        return p["gold_choice"]
    return "left" if p["left"] < p["right"] else "right"


def test_design_export_report_from_the_command_line(tmp_path):
    results = make_results(tmp_path / "results", images=("img0", "img1", "img2"), frames=2, size=16)
    study_dir = tmp_path / "study"
    r = runner.invoke(
        votes_app, ["design", str(results), "--out", str(study_dir), "-a", "ann1", "-a", "ann2"]
    )
    assert r.exit_code == 0, r.output
    assert "9 regular" in r.output and "annotator ann1: /?token=" in r.output
    vote_everything(study_dir, "ann1", better)
    vote_everything(study_dir, "ann2", lambda p: better(p) if p["kind"] == "gold" else "tie")

    r = runner.invoke(votes_app, ["report", str(study_dir), "--rounds", "100", "--format", "json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert [row["competitor"] for row in report["ratings"]] == ["RowAlphaQx", "RowBravoQx", "RowCharlieQx"]
    # 9 regular pairs + 1 repeat (gold pairs are not rated), 2 competitors each, 2 annotators.
    assert sum(row["votes"] for row in report["ratings"]) == (9 + 1) * 2 * 2
    assert report["quality"]["gold_accuracy"] == {"ann1": 1.0, "ann2": 1.0}
    assert report["quality"]["swap_consistency"] == {"ann1": 1.0, "ann2": 1.0}
    assert report["quality"]["fleiss_kappa"] < 0  # one annotator always says tie, the other never

    only_ann1 = tmp_path / "ann1.csv"
    study = Study.open(study_dir)
    study.store.votes(study.study_id).query("annotator == 'ann1'").to_csv(only_ann1, index=False)
    r = runner.invoke(votes_app, ["report", str(only_ann1), "--rounds", "20"])  # lopsided: prior, no failure
    assert r.exit_code == 0 and "Note: no plain Bradley–Terry MLE (never wins: RowCharlieQx" in r.output
    rows = r.output.split("| competitor", 1)[1]
    assert "log-odds prior" in r.output and rows.index("RowAlphaQx") < rows.index("RowCharlieQx")
    r = runner.invoke(votes_app, ["report", str(only_ann1), "--rounds", "20", "--l2", "0.1"])
    assert r.exit_code == 0 and r.output.index("RowAlphaQx") < r.output.index("RowCharlieQx")

    out = tmp_path / "votes.csv"
    r = runner.invoke(votes_app, ["export", str(study_dir), "--out", str(out)])
    assert r.exit_code == 0 and f"{2 * 11} votes" in r.output  # 9 regular + 1 gold + 1 repeat, 2 annotators
    assert len(pd.read_csv(out)) == 22
    r = runner.invoke(votes_app, ["report", str(out), "--rounds", "50", "--method", "elo"])
    assert r.exit_code == 0, r.output
    assert "| competitor | rating | lower | upper | rank | elo | tier | votes | win_rate |" in r.output

    r = runner.invoke(votes_app, ["annotators", str(study_dir), "--add", "ann3", "--limit", "2"])
    assert r.exit_code == 0 and "annotator ann3: /?token=" in r.output and "ann1" in r.output


def test_user_errors_exit_2_with_a_message(tmp_path):
    results = make_results(tmp_path / "results", images=("img0",), frames=2, size=16)
    cases = [
        ["design", str(tmp_path / "nope"), "--out", str(tmp_path / "s")],
        ["report", str(tmp_path / "nope")],
        ["report", str(results), "--format", "xml"],
        ["serve", str(tmp_path)],
        ["export", str(tmp_path), "--out", str(tmp_path / "v.txt")],
        ["design", str(results), "--out", str(tmp_path / "s"), "--gold", "-1"],
    ]
    for args in cases:
        r = runner.invoke(votes_app, args)
        assert r.exit_code == 2, (args, r.output)
        assert "error:" in r.output


def test_votes_is_registered_in_the_main_cli():
    from fpeval.cli import app

    r = runner.invoke(app, ["votes", "--help"])
    assert r.exit_code == 0 and "design" in r.output and "report" in r.output


def test_rotating_a_link_keeps_the_queue_and_revoking_stops_it(tmp_path):
    results = make_results(tmp_path / "results", images=("img0", "img1", "img2"), frames=2, size=16)
    study_dir = tmp_path / "study"
    assert runner.invoke(votes_app, ["design", str(results), "--out", str(study_dir)]).exit_code == 0

    def add(*extra):
        r = runner.invoke(votes_app, ["annotators", str(study_dir), "--add", "ann", *extra])
        assert r.exit_code == 0, r.output
        token = r.output.split("/?token=")[1].split()[0]
        line = next(x for x in r.output.splitlines() if x.startswith("ann "))
        return token, int(line.split("/")[1].split()[0])

    first, queued = add("--limit", "5")
    study = Study.open(study_dir)
    before = study.store.assigned_pairs(study.study_id, "ann")
    second, again = add("--limit", "5")  # a new link, the same queue
    kinds = study.store.pairs(study.study_id).set_index("pair_id")["kind"]
    assert queued == again == len(before) and first != second
    assert study.store.assigned_pairs(study.study_id, "ann") == before
    assert sum(kinds[q] != "repeat" for q in before) == 5  # 5 pairs, plus the repeat of any of them
    assert study.store.annotator_for_token(first) is None and study.store.annotator_for_token(second) == "ann"
    _, grown = add("--more", "3")
    queue = study.store.assigned_pairs(study.study_id, "ann")
    assert grown == len(queue) == len(set(queue))  # three further pairs (and their repeats), none twice
    assert sum(kinds[q] != "repeat" for q in queue) == 5 + 3
    r = runner.invoke(votes_app, ["annotators", str(study_dir), "--revoke", "ann"])
    assert r.exit_code == 0 and "link revoked" in r.output
    assert study.store.annotator_for_token(second) is None
    assert "ann" not in study.tokens()["annotators"]
    r = runner.invoke(votes_app, ["annotators", str(study_dir), "--revoke", "ann"])
    assert r.exit_code == 2 and "no active link" in r.output
