"""`fpeval drift` and metrics.analysis: finding and grouping anyone's videos, summaries and A − B
comparisons with bootstrap intervals, checked against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metrics.analysis import (
    assign_groups,
    collect_videos,
    compare_groups,
    group_curves,
    group_summary,
    parse_every,
)
from metrics.video_io import write_frames, write_video


def _fading(frames: int = 16, start: int = 200, step: int = 8, seed: int = 0) -> np.ndarray:
    """A textured clip that darkens by ``step`` grey levels per frame."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 40, (32, 32, 3))
    return np.stack([np.clip(base + start - step * t, 0, 255) for t in range(frames)]).astype(np.uint8)


@pytest.fixture
def two_groups(tmp_path):
    """fading/ and steady/ hold three clips each with the same names (so they pair)."""
    for s in range(3):
        write_video(tmp_path / "fading" / f"seed{s}.mp4", _fading(seed=s), fps=8)
        write_video(tmp_path / "steady" / f"seed{s}.mp4", _fading(step=0, seed=s), fps=8)
    return tmp_path


def test_collects_files_folders_frame_folders_and_globs(two_groups):
    write_frames(two_groups / "frames" / "clip", _fading(frames=4))
    found = collect_videos(
        [two_groups / "fading", str(two_groups / "steady" / "seed*.mp4"), two_groups / "frames"]
    )
    assert list(found["source"]) == ["fading"] * 3 + ["steady"] * 3 + ["frames"]
    assert list(found["name"]) == ["seed0", "seed1", "seed2"] * 2 + ["clip"]
    again = collect_videos([two_groups / "fading", two_groups / "fading" / "seed0.mp4"])
    assert len(again) == 3  # a video named twice is scored once


def test_bad_inputs_say_what_is_accepted(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such video"):
        collect_videos([tmp_path / "missing.mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no videos: accepted are files ending in .mp4"):
        collect_videos([tmp_path / "empty"])
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="is not a video"):
        collect_videos([tmp_path / "notes.txt"])
    for bad in ("0", "-2", "xs", "0s", "seconds"):
        with pytest.raises(ValueError, match="accepted are 'section'"):
            parse_every(bad)
    assert parse_every("section") == "section" and parse_every("8") == 8 and parse_every("0.5s") == "0.5s"


def test_groups_from_a_pattern_or_a_table(two_groups):
    videos = collect_videos([two_groups / "fading", two_groups / "steady"])
    by_pattern = assign_groups(videos, r"/(?P<group>\w+)/seed(?P<key>\d)")
    assert list(by_pattern["group"]) == ["fading"] * 3 + ["steady"] * 3
    assert list(by_pattern["key"]) == ["0", "1", "2"] * 2
    assert list(assign_groups(videos)["group"]) == list(by_pattern["group"])  # default: the folder
    with pytest.raises(ValueError, match="matches none of 6"):
        assign_groups(videos, r"/nothing/")
    with pytest.raises(ValueError, match="not a regular expression"):
        assign_groups(videos, r"(")
    table = two_groups / "groups.csv"
    pd.DataFrame(
        {
            "video": [f"{g}/seed{s}.mp4" for g in ("fading", "steady") for s in range(3)],
            "group": list("AAABBB"),
        }
    ).to_csv(table, index=False)
    assert list(assign_groups(videos, table=table)["group"]) == list("AAABBB")
    pd.DataFrame({"video": ["fading/seed0.mp4"], "group": ["A"]}).to_csv(table, index=False)
    with pytest.raises(ValueError, match="does not list 5 video"):
        assign_groups(videos, table=table)
    pd.DataFrame({"file": ["x"], "group": ["A"]}).to_csv(table, index=False)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['video'\]"):
        assign_groups(videos, table=table)


def _per_video(a: list[float], b: list[float], keys_b: list[str] | None = None) -> pd.DataFrame:
    rows = [
        dict(group="A", key=str(i), metric="m", mean=v, drift=v, signed_drift=v, drift_pct=v)
        for i, v in enumerate(a)
    ]
    keys_b = keys_b or [str(i) for i in range(len(b))]
    rows += [
        dict(group="B", key=k, metric="m", mean=v, drift=v, signed_drift=v, drift_pct=v)
        for k, v in zip(keys_b, b, strict=True)
    ]
    return pd.DataFrame(rows)


def test_summary_is_the_mean_over_videos_with_a_bootstrap_interval():
    values = [1.0, 2.0, 4.0, 9.0]
    summary = group_summary(_per_video(values, [3.0]), rounds=4000)
    a = summary[(summary.group == "A") & (summary.statistic == "drift")].iloc[0]
    assert a.estimate == pytest.approx(np.mean(values)) and a.videos == 4
    assert 1.0 <= a.lower < a.estimate < a.upper <= 9.0
    b = summary[(summary.group == "B") & (summary.statistic == "drift")].iloc[0]
    assert b.estimate == 3.0 and np.isnan(b.lower)  # one video: no interval


def test_pairing_removes_between_video_spread():
    """B = A − 1 on every key, with keys spread from 0 to 50: the paired difference is exactly 1 with
    a zero-width interval; unpaired, the interval is wide and includes 0."""
    a = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    per_video = _per_video(a, [v - 1 for v in a])
    paired = compare_groups(per_video, "A", "B").query("statistic == 'mean'").iloc[0]
    assert paired.paired and paired.difference == pytest.approx(1.0)
    assert paired.lower == pytest.approx(1.0) and paired.upper == pytest.approx(1.0) and paired.excludes_zero
    unpaired = compare_groups(per_video, "A", "B", paired=False).query("statistic == 'mean'").iloc[0]
    assert unpaired.difference == pytest.approx(1.0) and unpaired.lower < 0 < unpaired.upper
    assert not unpaired.excludes_zero
    shifted = _per_video(a, [v - 1 for v in a], keys_b=["0", "1", "2", "3", "4", "x"])
    assert not compare_groups(shifted, "A", "B").paired.iloc[0]  # keys differ: unpaired by default
    with pytest.raises(ValueError, match="unmatched: 5, x"):
        compare_groups(shifted, "A", "B", paired=True)
    with pytest.raises(ValueError, match="no group 'C'"):
        compare_groups(per_video, "A", "C")


def test_curves_average_each_videos_bin_means():
    rows = []
    for key, offset in (("0", 0.0), ("1", 10.0)):
        for frame in range(8):
            rows.append(dict(group="A", key=key, video=key, frame=frame, metric="m", value=frame + offset))
    curves = group_curves(pd.DataFrame(rows), every=4)
    assert list(curves["x"]) == [0, 4]
    # video 0: bins (0..3) -> 1.5 and (4..7) -> 5.5; video 1: +10; mean over videos
    assert list(curves["mean"]) == [6.5, 10.5] and list(curves["videos"]) == [2, 2]
    seconds = group_curves(pd.DataFrame(rows), every="0.5s", fps={"0": 8, "1": 8})
    assert list(seconds["x"]) == [0.0, 0.5]


def test_drift_command_writes_tables_figure_and_comparison(two_groups):
    from fpeval.cli import app

    out = two_groups / "report"
    result = CliRunner().invoke(
        app,
        [
            "drift",
            str(two_groups / "fading"),
            str(two_groups / "steady"),
            "--out",
            str(out),
            "-m",
            "exposure_brightness,consistency_first_ssim",
            "--compare",
            "fading",
            "steady",
            "--every",
            "0.5s",
            "--rounds",
            "500",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in (
        "per_frame.parquet",
        "per_video.csv",
        "summary.csv",
        "curves.csv",
        "compare.csv",
        "drift.png",
        "videos.csv",
    ):
        assert (out / name).stat().st_size > 0
    per_frame = pd.read_parquet(out / "per_frame.parquet")
    assert set(per_frame.group) == {"fading", "steady"} and per_frame.video.nunique() == 6
    compare = pd.read_csv(out / "compare.csv")
    brightness = compare[(compare.metric == "exposure_brightness") & (compare.statistic == "drift")].iloc[0]
    # 15 frames x 8 levels between the windows' centres, less codec error: about 0.4 of full scale
    assert brightness.paired and 0.3 < brightness.difference < 0.5 and brightness.excludes_zero
    assert "fading − steady (paired)" in result.output
    curves = pd.read_csv(out / "curves.csv")
    assert sorted(curves.x.unique()) == [0.0, 0.5, 1.0, 1.5]  # 16 frames at 8 fps in half-second bins


def test_drift_command_refuses_an_unknown_group(two_groups):
    from fpeval.cli import app

    result = CliRunner().invoke(
        app,
        ["drift", str(two_groups / "fading"), "--out", str(two_groups / "r"), "--compare", "fading", "other"],
    )
    assert result.exit_code != 0
    assert "--compare 'other': no such group; the groups are: fading" in result.output
    assert not (two_groups / "r").exists()  # nothing written


def test_a_grouping_table_may_use_bare_names_only_when_they_are_unique(two_groups):
    videos = collect_videos([two_groups / "fading", two_groups / "steady"])
    table = two_groups / "groups.csv"
    pd.DataFrame({"video": ["seed0.mp4"], "group": ["A"]}).to_csv(table, index=False)
    with pytest.raises(ValueError, match="'seed0.mp4', which is the name of several videos"):
        assign_groups(videos, table=table)
    one = collect_videos([two_groups / "fading"])
    pd.DataFrame(
        {"video": ["seed0.mp4", "seed1.mp4", "seed2.mp4"], "group": list("ABA"), "key": list("xyz")}
    ).to_csv(table, index=False)
    grouped = assign_groups(one, table=table)
    assert list(grouped["group"]) == list("ABA") and list(grouped["key"]) == list("xyz")
