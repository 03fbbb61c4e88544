"""A CLI-wide rule: every user error exits 2 with a one-line message on stderr, no traceback, and
nothing written. One table of bad inputs runs through every subcommand."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fpeval.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    text = root / "not_an_image.png"
    text.write_text("hello")
    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    notvideo = root / "notes.mp4"
    notvideo.write_text("not a video")
    notyaml = root / "bad.yaml"
    notyaml.write_text("rows: [unclosed")
    badgrid = root / "grid.yaml"
    badgrid.write_text("name: ok\nrows:\n  - {name: a, variant: inverted}\nsections: true\n")
    goodgrid = root / "good.yaml"
    goodgrid.write_text(
        "name: ok\nrows:\n  - {name: a, variant: inverted}\nsections: 1\nsamples: {heldout: 1}\n"
    )
    unfinished = root / "unfinished_run"
    unfinished.mkdir()
    notstudy = root / "not_a_study"
    notstudy.mkdir()
    ckpt = root / "weights.safetensors"
    ckpt.write_bytes(b"\x00" * 64)
    ckpt.with_suffix(".json").write_text('{"config": {}}')
    from PIL import Image

    image = root / "start.png"
    Image.new("RGB", (64, 64), (120, 80, 40)).save(image)
    return dict(
        text=text, empty=empty, notvideo=notvideo, notyaml=notyaml, badgrid=badgrid, goodgrid=goodgrid,
        unfinished=unfinished, notstudy=notstudy, ckpt=ckpt, image=image, root=root,
    )  # fmt: skip


CASES = [
    # schedule
    ("schedule explain zz", "invalid schedule"),
    ("schedule explain td_f16k4f4k2f1k1", "g"),
    ("schedule tokens td_zz --height 480 --width 832", "invalid schedule"),
    ("schedule tokens td_f16k4f4k2f1k1_g9 --height 0 --width 832", "height"),
    ("schedule tokens td_f16k4f4k2f1k1_g9 --height 480 --width -16", "width"),
    ("schedule tokens td_f16k4f4k2f1k1_g9 --height 481 --width 832", "481"),
    ("schedule tokens td_f16k4f4k2f1k1_g9 --height 480 --width 832 -T -1", "history"),
    ("schedule context-length --out {out} --max-history 0", "max"),
    # variant
    ("variant show bogus --sections 3", "unknown variant"),
    ("variant show vanilla --sections 0", "sections"),
    ("variant show vanilla --sections -2", "sections"),
    ("variant show vanilla --sections 3 --schedule td_q9", "invalid schedule"),
    # run
    ("run {root}/missing.yaml", "not found"),
    ("run {notyaml}", "not valid YAML"),
    ("run {badgrid} --check", "sections"),
    ("run {goodgrid} --out {out} --device bogus", "device"),
    # instrument
    ("instrument mini-xl --out {out}", "the instrument runs FramePack-mini models"),
    ("instrument mini-v2 --out {out} --variant bogus", "unknown variant"),
    ("instrument mini-v2 --out {out} --sections 0", "sections"),
    ("instrument mini-v2 --out {out} --images 1", "images"),
    # table
    ("table {root}/no_such_run", "not a finished run"),
    ("table {unfinished}", "not a finished run"),
    # train
    ("train bogus --out {out}/x.safetensors", "unknown recipe"),
    ("train base --out {out}/x.pt", "must end in .safetensors"),
    ("train base --out {out}/x.safetensors --model dim=abc", "dim"),
    ("train base --out {out}/x.safetensors --model nope=1", "bad --model override"),
    ("train base --out {out}/x.safetensors --init {root}/missing.safetensors", "missing.safetensors"),
    ("train base --out {out}/x.safetensors --init {ckpt}", "weights.safetensors"),
    ("train base --out {out}/x.safetensors --sigma-distribution beta", "'logit_normal' or 'uniform'"),
    ("train base --out {out}/x.safetensors --steps 0", "steps"),
    ("train ae --out {out}/x.safetensors --batch 0", "batch"),
    ("train base --out {out}/x.safetensors --autoencoder {root}/missing.safetensors", "missing.safetensors"),
    # generate
    ("generate --model mini-xl --image {image} --sections 2 --out {out}", "unknown model"),
    ("generate --model mini-v2 --image {root}/missing.png --sections 2 --out {out}", "missing.png"),
    ("generate --model mini-v2 --image {text} --sections 2 --out {out}", "not a readable image"),
    ("generate --model mini-v2 --image {image} --sections 0 --out {out}", "sections"),
    ("generate --model mini-v2 --image {image} --sections 2 --variant bogus --out {out}", "unknown variant"),
    ("generate --model mini-v2 --image {image} --sections 2 --steps 0 --out {out}", "steps"),
    ("generate --model mini-v2 --image {image} --sections 2 --seed -1 --out {out}", "seed"),
    ("generate --model mini-v2 --image {image} --sections 2 --solver heun --out {out}", "solver"),
    ("generate --model mini-v2 --image {image} --sections 2 --device bogus --out {out}", "device"),
    ("generate --model {root} --image {image} --sections 2 --variant df --out {out}", "per-token timesteps"),
    (
        "generate --model {root} --image {image} --sections 2 --variant history_guidance --out {out}",
        "history guidance",
    ),
    ("generate --model {root} --image {image} --sections 2 --variant causal --out {out}", "bidirectionally"),
    ("generate --model mini-v2 --image {image} --sections 2 --variant causal --out {out}", "block-causal"),
    (
        "train causal --out {out}/x.safetensors --autoencoder {root}/missing.safetensors",
        "missing.safetensors",
    ),
    ("train causal --out {out}/x.safetensors --variants vanilla,warp", "bad --variants 'vanilla,warp'"),
    # metrics
    ("metrics {root}/missing.mp4", "no such video"),
    ("metrics {empty}", "empty"),
    ("metrics {notvideo}", "not a readable video"),
    ("metrics {notstudy}", "holds no"),
    ("metrics {notvideo} --metrics bogus", "unknown metric"),
    ("metrics {notvideo} --device bogus", "device"),
    # votes
    ("votes design {root}/no_results --out {out}", "does not exist"),
    ("votes annotators {notstudy}", "not a study folder"),
    ("votes serve {notstudy}", "not a study folder"),
    ("votes export {notstudy} --out {out}/v.csv", "not a study folder"),
    ("votes report {notstudy}", "not a study folder"),
]


@pytest.mark.parametrize(("command", "message"), CASES, ids=[c for c, _ in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(files, tmp_path, command, message):
    out = tmp_path / "out"
    args = command.format(out=out, **{k: str(v) for k, v in files.items()}).split()
    before = sorted(p.name for p in files["root"].rglob("*"))
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    if lines[0].startswith("error:"):
        # our rule: one line saying what is wrong; only a list of several problems (indented, one
        # per line) or, for a bad schedule name, the grammar may follow it
        details = lines[1:]
        assert all(line.startswith(" ") for line in details) or details[0].startswith("schedule grammar"), (
            result.stderr
        )
    else:  # click's own parameter checks (min=...) print its usage box, still exit 2, no traceback
        assert lines[0].startswith("Usage:") and "Invalid value" in result.stderr, result.stderr
    assert message.lower() in result.stderr.lower(), result.stderr
    assert not out.exists()  # nothing written
    assert sorted(p.name for p in files["root"].rglob("*")) == before


def test_the_table_has_at_least_forty_cases_across_the_subcommands():
    assert len(CASES) >= 40
    assert {c.split()[0] for c, _ in CASES} >= {
        "schedule", "variant", "run", "instrument", "table", "train", "generate", "metrics", "votes"
    }  # fmt: skip
