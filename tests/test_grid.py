"""Ablation grid configs: validation, clear errors before any work, content keys and fixed batches."""

import re
from pathlib import Path

import pytest
import yaml

from fpeval.runs.grid import Grid, batches, check, expand, load_grid

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path, data, name="grid.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def tiny(**overrides):
    data = dict(
        name="tiny",
        samples=dict(heldout=2, seeds=[0]),
        sections=2,
        rows=[dict(name="vanilla", variant="vanilla"), dict(name="inverted", variant="inverted")],
    )
    data.update(overrides)
    return data


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml")))
def test_shipped_configs_validate(name):
    grid, base = load_grid(CONFIGS / f"{name}.yaml")
    assert grid.name == name
    assert check(grid, base) == []


def test_quick_config_has_every_variant_family():
    from fpeval.plan.variants import VARIANTS

    grid, _ = load_grid(CONFIGS / "quick.yaml")
    assert {r.variant for r in grid.rows} == set(VARIANTS)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(rows=[dict(name="a", variant="warp")]), "unknown variant 'warp'"),
        (dict(sections=-1), "sections"),
        (dict(sections=0), "greater than or equal to 1"),
        (dict(rows=[dict(name="a", variant="vanilla")] * 2), "repeated: a"),
        (dict(samples=dict(heldout=0)), "need start images"),
        (dict(sampler=dict(solver="heun")), "unknown solver 'heun'"),
        (dict(rows=[]), "rows"),
        (dict(colour="red"), "colour"),
        (dict(rows=[dict(name="a", variant="vanilla", schedule="td_q9")]), "invalid schedule"),
        (dict(sections=True), "sections: Input should be a valid integer"),  # no bool as int
        (dict(sections="3"), "sections: Input should be a valid integer"),
        (dict(sections=100_000_000), "less than or equal to 500"),
        (dict(samples=dict(heldout=2, seeds=[-1])), r"seeds must be in 0\.\.4294967295"),
        (dict(samples=dict(heldout=2, seeds=[2**40])), "seeds must be in"),
        (dict(samples=dict(heldout=True)), "heldout"),
        (dict(sampler=dict(steps=10**6)), "less than or equal to 1000"),
        (dict(batch=0), "greater than or equal to 1"),
        (dict(name="../../x"), "it names the run's folder"),
        (dict(name="a/b"), "it names the run's folder"),
        (dict(rows=[dict(name="a", variant="df", sigma_test=2)]), "sigma_test"),
    ],
)
def test_bad_configs_fail_with_the_field_named(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        load_grid(write(tmp_path, tiny(**change)))


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_grid(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rows: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_grid(bad)
    bad.write_text("- a list")
    with pytest.raises(ValueError, match="mapping"):
        load_grid(bad)


def test_check_finds_problems_that_need_the_world(tmp_path):
    hunyuan = tmp_path / "hunyuan"
    hunyuan.mkdir()
    grid = Grid.model_validate(
        tiny(
            sections=6,  # long enough for a tail beyond the history
            samples=dict(heldout=1, images=["missing.png"]),
            rows=[
                dict(name="tail", variant="vanilla", schedule="ta_f16k4f4k2f1k1_g9", model=str(hunyuan)),
                dict(name="k8", variant="vanilla", schedule="td_f8k8f4k4f2k2f1k1_g9", model=str(hunyuan)),
                dict(name="+D", variant="vanilla+D", model="mini-v2"),
                dict(name="nowhere", variant="vanilla", model="mini-xl"),
                dict(name="ok", variant="inverted"),
            ],
        )
    )
    problems = check(grid, tmp_path)
    assert len(problems) == 5
    assert "tail input" in problems[0] and "k8" in problems[1]
    assert "needs a +D codebook" in problems[2] and "use model mini-v2-discrete" in problems[2]
    assert "model 'mini-xl' not found" in problems[3]
    assert "missing.png" in problems[4] and "not found" in problems[4]


def test_keys_change_with_content_and_batches_are_fixed(tmp_path):
    grid = Grid.model_validate(tiny(samples=dict(heldout=3, seeds=[0, 1]), batch=4))
    items = expand(grid)
    assert len(items) == 2 * 3 * 2 and len({i.key for i in items}) == len(items)
    assert [i.key for i in expand(grid)] == [i.key for i in items]  # stable
    longer = expand(Grid.model_validate(tiny(samples=dict(heldout=3, seeds=[0, 1]), batch=4, sections=3)))
    assert not {i.key for i in longer} & {i.key for i in items}
    renamed = tiny(samples=dict(heldout=3, seeds=[0, 1]), batch=4)
    renamed["rows"][0]["name"] = "plain"
    assert expand(Grid.model_validate(renamed))[0].key == items[0].key  # a row's name is not content
    assert [len(b) for b in batches(items, 4)] == [4, 2, 4, 2]  # never across rows
    assert all(len({i.row for i in b}) == 1 for b in batches(items, 4))
    assert expand(grid, device="cuda:0")[0].key != items[0].key


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(metrics=["clarity_laplacian", "sharpness"]), "unknown metric 'sharpness'"),
        (
            dict(metrics=["clarity_laplacian"], table=dict(quality=["colourfulness"])),
            "table.quality: colourfulness",
        ),
        (dict(table=dict(drift=["dynamic_degree"])), "one value per video, so no drift"),
        (dict(table=dict(drift=["nope"])), "table.drift: nope not among"),
        (dict(judge=dict(drift=["nope"])), "judge.drift: nope"),
        (dict(table=dict(reference="nobody")), "'nobody' is not a row"),
    ],
)
def test_check_finds_metric_and_table_problems_before_any_work(tmp_path, change, message):
    problems = check(Grid.model_validate(tiny(**change)), tmp_path)
    assert len(problems) == 1 and re.search(message, problems[0]), problems
