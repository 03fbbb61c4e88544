"""The fpeval command line: help everywhere, JSON token counts, clear errors, the context-length job."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from fpeval.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["schedule"],
        ["schedule", "explain"],
        ["schedule", "tokens"],
        ["schedule", "list"],
        ["schedule", "context-length"],
    ],
)
def test_help_on_every_command(args):
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_tokens_json_total():
    result = runner.invoke(
        app,
        ["schedule", "tokens", "f1k1_x_g9_f1k1f2k2f16k4_td", "--height", "480", "--width", "832", "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["total"] == 17966
    assert payload["frame_tokens"] == 1560
    assert payload["section_tokens"] == 14040


def test_tokens_text_and_history_frames():
    result = runner.invoke(app, ["schedule", "tokens", "ta_f16k4f4k2f1k1_g9", "-T", "30", "--json"])
    assert json.loads(result.stdout)["context_tokens"] == 2756 + 9
    text = runner.invoke(app, ["schedule", "tokens", "td_f16k4f4k2f1k1_g9"])
    assert text.exit_code == 0 and "total 16796" in text.output


def test_explain():
    result = runner.invoke(app, ["schedule", "explain", "td_f16k4f4k2f1k1_g9_x_f1k1"])
    assert result.exit_code == 0
    assert "endpoint" in result.output and "past_history" in result.output and "forward" in result.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["schedule", "explain", "td_f16k5_g9"], "unknown kernel k5"),
        (["schedule", "tokens", "td_f16k4", "--json"], "missing the generated section"),
        (["schedule", "tokens", "td_f1k1_g9", "--height", "-8"], "positive integer"),
        (["schedule", "tokens", "td_f1k1_g9", "--width", "830"], "not a multiple of 8"),
        (
            ["train", "base", "--out", "never.safetensors", "--model", "width=3"],
            "bad --model override 'width=3'",
        ),
        (["train", "base", "--out", "never.safetensors", "--model", "dim=64"], "head_dim"),
    ],
)
def test_bad_input_exits_2_with_message(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_context_length_job(tmp_path):
    result = runner.invoke(app, ["schedule", "context-length", "--out", str(tmp_path), "--max-history", "40"])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "context_length.csv")
    assert (tmp_path / "context_length.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind
    rel = df[(df.schedule == "f1k1_x_g9_f1k1f2k2f16k4_td") & (df.history_frames == 19)]
    assert rel.total_tokens.item() == 17966
    # bounded: packed schedules stop growing (td) while the unpacked baseline grows by L_f per frame
    van = df[(df.family.str.startswith("f16k4f4k2f1k1")) & (df["tail"] == "td")]
    assert van.total_tokens.iloc[-1] == van.total_tokens.iloc[21] == 16796
    base = df[df.family == "no packing (all k1)"].set_index("history_frames").total_tokens
    assert base[40] - base[39] == 1560
    ta = df[(df.family.str.startswith("f16k4f4k2f1k1")) & (df["tail"] == "ta")].set_index("history_frames")
    assert ta.total_tokens[40] - ta.total_tokens[21] == 19
    eq2 = df[df.family.str.startswith("Eq. 2")].set_index("history_frames").total_tokens
    assert eq2[40] == pytest.approx(11 * 1560, rel=1e-6)
    assert set(df["tail"]) == {"td", "ta", "tc", "none"}


def test_variant_show_json_is_the_plan():
    result = runner.invoke(app, ["variant", "show", "inverted", "--sections", "3", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["schedule"] == "f1k1_x_g9_f1k1f2k2f16k4_td" and plan["total_frames"] == 28
    assert [s["section"][0] for s in plan["steps"]] == [19, 10, 1]
    first = plan["steps"][0]
    assert first["section_rope"] == list(range(19, 28))  # padding 2 x 9
    assert [(c["role"], c["kernel"], c["rope"][0]) for c in first["context"]] == [
        ("start_frame", 1, 0),
        ("future_history", 1, 28),
        ("future_history", 2, 29),
        ("future_history", 4, 31),
    ]


def test_variant_show_text_and_list():
    text = runner.invoke(app, ["variant", "show", "inverted", "-n", "2", "--end-image"])
    assert text.exit_code == 0 and "end image" in text.output and "zeros x16" in text.output
    listing = runner.invoke(app, ["variant", "list"])
    assert "df(sigma_test=0.1)" in listing.output and "repeat_i2v" in listing.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["variant", "show", "nope", "-n", "2"], "unknown variant 'nope'"),
        (["variant", "show", "df", "-n", "2", "--sigma-test", "1.5"], "sigma_test must be in [0, 1]"),
        (["variant", "show", "vanilla", "-n", "0"], "sections must be an integer >= 1"),
    ],
)
def test_variant_show_errors(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr
