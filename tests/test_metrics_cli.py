"""``fpeval metrics``: JSON summary, per-frame table, listing, and exit code 2 for user errors."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fpeval.cli import app
from fpeval.video import write_video

runner = CliRunner()


@pytest.fixture
def videos(tmp_path):
    g = np.random.default_rng(0)
    base = g.integers(0, 256, (32, 64, 3)).astype(np.uint8)
    frames = np.stack([np.clip(base.astype(int) + 5 * t, 0, 255) for t in range(10)]).astype(np.uint8)
    a = write_video(
        tmp_path / "a.mp4", frames, {"variant": "v", "seed": 0, "frame_section": [0] * 5 + [1] * 5}, 10
    )
    b = write_video(tmp_path / "b", frames[::-1].copy(), {"variant": "v", "seed": 1}, fps=10)
    return a, b


def test_json_summary_has_means_and_drift_per_metric(videos, tmp_path):
    out = tmp_path / "table.parquet"
    result = runner.invoke(
        app,
        ["metrics", *map(str, videos), "--metrics", "exposure,flicker_vbench", "--json", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    first, second = summary["videos"]
    assert first["video"] == str(videos[0]) and first["frames"] == 10 and first["fps"] == 10.0
    assert set(first["metrics"]) == {"exposure_brightness", "exposure_clipped", "flicker_vbench"}
    bright = first["metrics"]["exposure_brightness"]
    assert bright["window"] == 1 and bright["signed_drift"] > 0.1
    assert bright["drift"] == pytest.approx(abs(bright["end"] - bright["start"]))
    # the second video is the first reversed (PNG, lossless vs H.264): drift flips sign, about the same size
    assert second["metrics"]["exposure_brightness"]["signed_drift"] < 0
    assert second["metrics"]["exposure_brightness"]["drift"] == pytest.approx(bright["drift"], abs=0.01)
    table = pd.read_parquet(out)
    assert list(table.columns) == ["video", "section", "frame", "metric", "value"]
    assert table.loc[table["video"] == str(videos[0]), "section"].notna().all()
    assert table.loc[table["video"] == str(videos[1]), "section"].isna().all()


def test_plain_output_and_listing(videos):
    result = runner.invoke(app, ["metrics", str(videos[0]), "-m", "clarity_laplacian"])
    assert result.exit_code == 0, result.output
    assert "clarity_laplacian" in result.output and "drift" in result.output
    listing = runner.invoke(app, ["metrics", "--list"])
    assert listing.exit_code == 0
    assert (
        "clarity_musiq" in listing.output
        and "semantic_viclip" in listing.output
        and "identity_arcface" in listing.output
        and "needs a backend" in listing.output
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.mp4"], "no such video"),
        (["{a}", "-m", "nonsense"], "unknown metric 'nonsense'"),
        (["{a}", "--out", "x.txt"], "--out must end in .parquet or .csv"),
        (["{a}", "--weights", "lpips"], "KEY=PATH"),
        (["{a}", "-m", "identity_arcface"], "needs a backend"),
        ([], "at least one video"),
    ],
)
def test_user_errors_exit_2_with_a_message(videos, args, message):
    args = [a.replace("{a}", str(videos[0])) for a in args]
    result = runner.invoke(app, ["metrics", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_missing_weights_exit_2_naming_the_file(videos, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("FPEVAL_LPIPS_BACKBONE", raising=False)
    monkeypatch.delenv("FPEVAL_WEIGHTS_DIR", raising=False)
    result = runner.invoke(app, ["metrics", str(videos[0]), "-m", "lpips"])
    assert result.exit_code == 2
    assert "alexnet-owt-7be5be79.pth" in result.output and "FPEVAL_LPIPS_BACKBONE" in result.output


def test_corrupt_file_exits_2(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    result = runner.invoke(app, ["metrics", str(bad)])
    assert result.exit_code == 2 and "not a readable video" in result.output
