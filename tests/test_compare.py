"""fpeval compare: a rerun against a reference run, number by number and verdict by verdict."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fpeval.cli import app
from fpeval.runs.compare import compare_runs

RESULTS = Path(__file__).resolve().parents[1] / "results" / "quick"


@pytest.fixture
def pair(tmp_path):
    ref, run = tmp_path / "reference", tmp_path / "run"
    for folder in (ref, run):
        folder.mkdir()
        for name in ("summary.csv", "ratings.csv", "findings.csv"):
            shutil.copy(RESULTS / name, folder / name)
    return run, ref


def test_an_identical_run_reproduces_and_says_how_much_it_checked(pair):
    run, ref = pair
    result = compare_runs(run, ref)
    n = 3 * len(pd.read_csv(ref / "summary.csv")) + 4 * len(pd.read_csv(ref / "ratings.csv"))
    assert result.reproduces and result.compared == n
    assert "reproduces" in result.report() and f"({n} numbers, every verdict)" in result.report()


def test_moved_numbers_missing_rows_and_changed_verdicts_are_named(pair):
    run, ref = pair
    summary = pd.read_csv(run / "summary.csv")
    summary.loc[0, "estimate"] *= 1 + 5e-5  # within 1e-4: not reported
    summary.loc[1, "upper"] *= 1.01
    summary = summary.drop(index=2)
    summary.to_csv(run / "summary.csv", index=False)
    findings = pd.read_csv(run / "findings.csv")
    findings.loc[0, "verdict"] = (
        "reproduced" if findings.loc[0, "verdict"] != "reproduced" else "not reproduced"
    )
    findings.to_csv(run / "findings.csv", index=False)
    result = compare_runs(run, ref)
    assert not result.reproduces
    assert len(result.moved) == 1 and result.moved.iloc[0]["column"] == "upper"
    assert result.moved.iloc[0]["relative"] == pytest.approx(0.01)
    assert len(result.missing) == 1 and "only in the reference" in result.missing[0]
    assert len(result.verdicts) == 1
    text = result.report()
    assert "1 of" in text and "1 verdict(s) changed" in text
    assert compare_runs(run, ref, tolerance=0.02).moved.empty  # a wider tolerance absorbs the 1 %


def test_the_command_reports_and_exits_1_only_when_strict(pair):
    run, ref = pair
    ok = CliRunner().invoke(app, ["compare", str(run), str(ref)])
    assert ok.exit_code == 0 and "reproduces" in ok.output
    summary = pd.read_csv(run / "summary.csv")
    summary.loc[5, "estimate"] += 1.0
    summary.to_csv(run / "summary.csv", index=False)
    assert CliRunner().invoke(app, ["compare", str(run), str(ref)]).exit_code == 0
    strict = CliRunner().invoke(app, ["compare", str(run), str(ref), "--strict"])
    assert strict.exit_code == 1 and "does not reproduce" in strict.output
    bad = CliRunner().invoke(app, ["compare", str(run / "nowhere"), str(ref)])
    assert bad.exit_code == 2 and "not a finished run" in bad.stderr
