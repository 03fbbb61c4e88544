"""The main-job runner: results of a grid, resuming after SIGKILL, Ray, tables and the metric judge."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fpeval.runs.grid import Grid, expand
from fpeval.runs.runner import run
from fpeval.runs.tables import build_table, format_table

TINY = dict(
    name="tiny",
    samples=dict(heldout=2, seeds=[0]),
    sections=2,
    sampler=dict(steps=2),
    batch=1,
    rows=[
        dict(name="vanilla", variant="vanilla", schedule="td_f16k4f4k2f1k1_g9"),
        dict(name="inverted", variant="inverted"),
        dict(name="endpoint", variant="endpoint"),
    ],
    metrics=[
        "clarity_laplacian",
        "colourfulness",
        "exposure_brightness",
        "consistency_first_ssim",
        "dynamic_degree",
    ],
    table=dict(
        quality=["clarity_laplacian", "consistency_first_ssim", "dynamic_degree"],
        drift=["clarity_laplacian", "colourfulness"],
    ),
)


def records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "items").glob("*.json"))}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    grid = Grid.model_validate(TINY)
    run(grid, out, progress=False, log=lambda _: None)
    return grid, out


def test_a_run_writes_every_artifact(finished):
    grid, out = finished
    items = expand(grid)
    assert len(records(out)) == len(items) == 6
    from fpeval.models import mini_files
    from fpeval.models.checkpoints import file_digest

    side = json.loads(next((out / "videos").glob("*.json")).read_text())
    denoiser, autoencoder = mini_files("mini-v2")
    assert side["provenance"]["denoiser"] == {"file": str(denoiser), "sha256": file_digest(denoiser)}
    assert side["provenance"]["autoencoder"]["sha256"] == file_digest(autoencoder)
    per_frame = pd.read_parquet(out / "per_frame.parquet")
    assert set(per_frame["metric"]) == set(TINY["metrics"])
    assert per_frame.groupby("video")["frame"].max().eq(2 * 9).all()  # 2 sections of 9 frames + the start
    assert set(per_frame.loc[per_frame["metric"] == "dynamic_degree", "section"]) == {-1}  # per video
    per_video = pd.read_parquet(out / "per_video.parquet")
    assert len(per_video) == 6 * 5
    for item in items:
        side = json.loads((out / "videos" / f"{item.stem}.json").read_text())
        assert (side["row"], side["image"], side["seed"], side["key"]) == (
            item.row.name,
            item.image,
            item.seed,
            item.key,
        )
        assert len(side["frame_section"]) == 19
        assert (out / "videos" / f"{item.stem}.mp4").stat().st_size > 0
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["statistic"]) == {"mean", "drift", "drift_pct", "signed_drift"}
    assert (out / "figures" / "curve_colourfulness.png").is_file()


def test_summary_matches_an_independent_computation(finished):
    from metrics.drift import start_end_contrast

    _, out = finished
    per_frame = pd.read_parquet(out / "per_frame.parquet")
    summary = pd.read_csv(out / "summary.csv").set_index(["row", "metric", "statistic"])
    for row in ("vanilla", "inverted"):
        f = per_frame[(per_frame["row"] == row) & (per_frame["metric"] == "colourfulness")]
        drifts = [start_end_contrast(g.sort_values("frame")["value"]) for _, g in f.groupby("video")]
        assert summary.loc[(row, "colourfulness", "drift"), "estimate"] == pytest.approx(sum(drifts) / 2)


def test_rerun_skips_finished_items_and_stores_no_vote_twice(finished):
    from fpeval.votes.store import VoteStore

    grid, out = finished
    before = {p.name: p.stat().st_mtime_ns for p in (out / "items").iterdir()}
    lines = []
    run(grid, out, progress=False, log=lines.append)
    assert "6 already done, 0 batches to run" in lines[0]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "items").iterdir()} == before
    votes = VoteStore(out / "votes.sqlite").votes(study="tiny")
    assert len(votes) == 2 * 3  # two samples x three row pairs, once each
    assert set(votes["annotator"]) == {"judge:drift"}


def test_tables_in_every_format(finished):
    _, out = finished
    table = build_table(out)
    assert list(table.index) == ["vanilla", "inverted", "endpoint"]
    assert {"clarity_laplacian", "Δ colourfulness (%)", "ELO-K32", "rank", "BT rank"} <= set(table.columns)
    elos = table["ELO-K32"].astype(float).sort_values(ascending=False)
    tops, expected = [], {}  # the paper's rank, recomputed: a new tier more than 16 below a tier's top
    for row, value in elos.items():
        if not tops or tops[-1] - value > 16:
            tops.append(value)
        expected[row] = len(tops)
    assert table["rank"].to_dict() == expected
    assert "judge:drift" in format_table(table, "md") and "rank: the paper's, from ELO-K32" in format_table(
        table
    )
    assert "\\begin{tabular}" in format_table(table, "latex")
    assert "<table" in format_table(table, "html")
    data = json.loads(format_table(table, "json"))
    assert data["ratings_source"].startswith("judge:drift") and len(data["rows"]) == 3
    with pytest.raises(ValueError, match="accepted: md, latex, html, json"):
        format_table(table, "xlsx")
    with pytest.raises(ValueError, match="not a finished run"):
        build_table(out / "videos")


def test_sigkill_mid_grid_then_rerun_gives_the_uninterrupted_results(finished, tmp_path):
    _, reference = finished
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fpeval.cli", "run", str(config), "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list((out / "items").glob("*.json"))) < 2:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    partial = records(out)
    assert 2 <= len(partial) < 6, "the run should have been killed mid-grid"
    stamps = {k: (out / "items" / f"{k}.json").stat().st_mtime_ns for k in partial}
    lines = []
    run(Grid.model_validate(TINY), out, progress=False, log=lines.append)
    assert f"{len(partial)} already done" in lines[0]
    assert {k: (out / "items" / f"{k}.json").stat().st_mtime_ns for k in partial} == stamps
    ours, theirs = records(out), records(reference)
    assert {k: v["latents_sha256"] for k, v in ours.items()} == {
        k: v["latents_sha256"] for k, v in theirs.items()
    }
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "per_frame.parquet"), pd.read_parquet(reference / "per_frame.parquet")
    )
    assert (out / "table.md").read_text() == (reference / "table.md").read_text()


def test_ray_gives_the_same_results(finished, tmp_path):
    pytest.importorskip("ray")
    _, reference = finished
    out = tmp_path / "ray"
    run(Grid.model_validate(TINY), out, ray_address="local", progress=False, log=lambda _: None)
    ours, theirs = records(out), records(reference)
    assert {k: v["latents_sha256"] for k, v in ours.items()} == {
        k: v["latents_sha256"] for k, v in theirs.items()
    }
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "per_frame.parquet"), pd.read_parquet(reference / "per_frame.parquet")
    )


def test_bad_configs_stop_before_any_work(tmp_path):
    bad = dict(TINY, samples=dict(heldout=1, images=["nowhere.png"]))
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=r"(?s)cannot run:.*nowhere\.png"):
        run(Grid.model_validate(bad), out, base=tmp_path, progress=False, log=lambda _: None)
    assert not out.exists()


def test_findings_are_checked_against_an_independent_paired_difference(finished):
    _, out = finished
    findings = pd.read_csv(out / "findings.csv")
    assert set(findings["finding"]) == {"F1", "F2"}  # no +D, one vanilla schedule, no DF rows
    assert set(findings["verdict"]) <= {"reproduced", "direction only", "not reproduced"}
    assert (findings["lower"] <= findings["estimate"]).all() and (
        findings["estimate"] <= findings["upper"]
    ).all()
    per_video = pd.read_parquet(out / "per_video.parquet")
    dyn = per_video[per_video["metric"] == "dynamic_degree"].pivot(
        index="image", columns="row", values="mean"
    )
    expected = (dyn["vanilla"] - (dyn["inverted"] + dyn["endpoint"]) / 2).mean()
    assert findings.loc[findings["finding"] == "F2", "estimate"].item() == pytest.approx(expected)
    f1 = findings[findings["finding"] == "F1"]
    assert list(f1["measure"].str.split(" %").str[0]) == ["Δ clarity_laplacian", "Δ colourfulness"]


def test_the_table_shows_peoples_ratings_from_the_study_designed_from_the_run(finished, tmp_path):
    from test_votes_support import vote_everything

    from fpeval.votes.design import design_study
    from fpeval.votes.study import Study

    _, out = finished
    study_dir = tmp_path / "study"
    design_study(out, study_dir, name="someone's study", gold=0, repeats=0, annotators=["ann1", "ann2"])
    rank = {"inverted": 0, "endpoint": 1, "vanilla": 2}  # people prefer inverted, then endpoint
    for annotator in ("ann1", "ann2"):
        vote_everything(
            study_dir, annotator, lambda p: "left" if rank[p["left"]] < rank[p["right"]] else "right"
        )
    study = Study.open(study_dir)
    n = study.store.count_votes(study.study_id)
    study.store.close()
    table = build_table(out, votes=study_dir)
    text = format_table(table)
    assert f"Ratings from people ({n} votes, 2 annotators" in text and "judge" not in text
    assert table["ELO-K32"].astype(float).idxmax() == "inverted"
    assert table["ELO-K32"].astype(float).idxmin() == "vanilla"
    assert table["rank"]["inverted"] == 1
    missing = tmp_path / "nowhere" / "votes.sqlite"
    with pytest.raises(ValueError, match="no vote store there"):
        build_table(out, votes=missing)
    assert not missing.parent.exists()  # nothing created
    with pytest.raises(ValueError, match="no study in .* was designed from"):
        build_table(out, votes=out / "votes.sqlite")  # the judge's store: no study designed from the run


def test_a_config_change_replaces_every_output_and_one_row_runs_to_its_table(tmp_path):
    import torch
    from mini_tiny import write_tiny_mini

    from fpeval.models.checkpoints import read_card
    from fpeval.models.mini import FramePackMini

    denoiser, _ = write_tiny_mini(tmp_path)
    model = FramePackMini.load(denoiser)
    torch.manual_seed(0)
    for p in model.parameters():  # leave the zero-initialised output behind, so the steps matter
        torch.nn.init.normal_(p, std=0.05)
    model.save(denoiser, read_card(denoiser))
    base = dict(
        name="seq",
        model=str(denoiser),
        samples=dict(heldout=1, seeds=[0]),
        sections=1,
        batch=1,
        rows=[dict(name="inverted", variant="inverted")],
        metrics=["clarity_laplacian"],
    )
    out = tmp_path / "run"

    def run_with(steps: int) -> tuple[dict, bytes, str]:
        grid = Grid.model_validate({**base, "sampler": {"steps": steps}})
        run(grid, out, progress=False, log=lambda _: None)
        (video,) = sorted((out / "videos").glob("*.mp4"))
        return (
            json.loads(video.with_suffix(".json").read_text()),
            video.read_bytes(),
            (out / "table.md").read_text(),
        )

    first = run_with(2)
    changed = run_with(1)
    back = run_with(2)
    assert first[0]["steps"] == 2 and changed[0]["steps"] == 1 and back[0]["steps"] == 2
    assert back[1] == first[1] and back[1] != changed[1]  # the steps-2 video again, byte for byte
    assert back[2] == first[2] and "No ratings" in back[2]  # one row: nothing to rate, still a table
    assert any((out / "stale" / "items").glob("*.parquet"))  # the steps-1 outputs were set aside


def test_two_rows_where_one_always_wins_run_to_their_table(tmp_path):
    from mini_tiny import write_tiny_mini

    denoiser, _ = write_tiny_mini(tmp_path)
    grid = Grid.model_validate(
        dict(
            name="pair",
            model=str(denoiser),
            samples=dict(heldout=3, seeds=[0]),
            sections=1,
            sampler=dict(steps=1),
            batch=3,
            rows=[dict(name="inverted", variant="inverted"), dict(name="repeat", variant="repeat_i2v")],
            metrics=["clarity_laplacian", "colourfulness"],
        )
    )
    out = run(grid, tmp_path / "run", progress=False, log=lambda _: None)
    table = build_table(out)
    assert sorted(table["rank"].tolist()) in ([1, 1], [1, 2])
    assert "Ratings from judge:drift" in format_table(table)
