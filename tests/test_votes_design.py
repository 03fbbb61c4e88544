import json
from collections import Counter

import numpy as np
import pytest
from test_votes_support import ROWS, make_results, make_study

from fpeval.video import read_mp4
from fpeval.votes.design import (
    GAP_PX,
    degrade,
    design_study,
    load_clips,
    plan_pairs,
    side_by_side,
)
from fpeval.votes.study import Study, annotation_order


@pytest.fixture(scope="module")
def designed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("design")
    summary = make_study(tmp, annotators=("ann_one", "ann_two"))
    study = Study.open(summary.root)
    yield summary, study, study.store.pairs(study.study_id)
    study.store.close()


def test_pairs_compare_rows_on_the_same_image_seed_and_prompt(designed):
    summary, study, pairs = designed
    regular = pairs[pairs["kind"] == "regular"]
    assert summary.counts == {"clips": 6, "regular": 6, "gold": 2, "repeat": 2, "pairs": 10}
    assert summary.study_id == study.study_id == "study"  # the folder name unless --name says otherwise
    items = study.store.items(study.study_id).set_index("item_id")
    for _, p in regular.iterrows():
        left, right = items.loc[p["left_item"], "meta"], items.loc[p["right_item"], "meta"]
        assert left["row"] != right["row"]
        assert (left["image"], left["seed"], left["prompt"]) == (
            right["image"],
            right["seed"],
            right["prompt"],
        )


def test_every_row_combination_gets_equal_counts_in_both_orders(designed):
    _, _, pairs = designed
    regular = pairs[pairs["kind"] == "regular"]
    combos = Counter(tuple(sorted(lr)) for lr in regular[["left", "right"]].values.tolist())
    assert set(combos.values()) == {2} and len(combos) == 3
    ordered = Counter(tuple(lr) for lr in regular[["left", "right"]].values.tolist())
    assert all(n == 1 for n in ordered.values()) and len(ordered) == 6  # each order shown once


def test_gold_pairs_put_a_clip_against_its_degraded_copy(designed):
    _, study, pairs = designed
    gold = pairs[pairs["kind"] == "gold"]
    assert sorted(gold["gold_choice"]) == ["left", "right"]
    for _, p in gold.iterrows():
        clean = p["left"] if p["gold_choice"] == "left" else p["right"]
        degraded = p["right"] if p["gold_choice"] == "left" else p["left"]
        assert degraded == f"{clean} (degraded)" and clean in ROWS


def test_repeats_are_swapped_copies_of_regular_pairs(designed):
    _, _, pairs = designed
    by_id = pairs.set_index("pair_id")
    for _, p in pairs[pairs["kind"] == "repeat"].iterrows():
        original = by_id.loc[p["repeat_of"]]
        assert original["kind"] == "regular"
        assert (p["left_item"], p["right_item"]) == (original["right_item"], original["left_item"])


def test_side_by_side_render_is_both_clips_in_one_video(designed):
    summary, study, pairs = designed
    p = pairs[pairs["kind"] == "regular"].iloc[0]
    path, mime = study.media_path(p["video_media"])
    assert mime == "video/mp4" and path.parent.name == "media" and path.stem == p["video_media"]
    frames = read_mp4(path)
    assert frames.shape == (6, 32, 32 + GAP_PX + 32, 3)
    items = study.store.items(study.study_id).set_index("item_id")
    left = read_mp4(study.media_path(items.loc[p["left_item"], "media_id"])[0])  # the original, copied
    assert np.abs(frames[:, :, :32].astype(int) - left.astype(int)).mean() < 6  # codec noise only
    image, mime = study.media_path(p["image_media"])
    assert mime == "image/png" and image.is_file()
    manifest = json.loads((summary.root / "study.json").read_text())
    assert manifest["counts"] == summary.counts and len(manifest["pairs"]) == 10


def test_annotators_get_every_pair_with_repeats_after_their_originals(designed):
    summary, study, pairs = designed
    for annotator in ("ann_one", "ann_two"):
        assert study.store.progress(study.study_id, annotator) == (0, 10)
    rng = np.random.default_rng(0)
    for _ in range(20):
        order = annotation_order(pairs, rng)
        assert sorted(order) == sorted(pairs["pair_id"])
        for _, p in pairs[pairs["kind"] == "repeat"].iterrows():
            assert order.index(p["pair_id"]) > order.index(p["repeat_of"])
    tokens = json.loads((summary.root / "tokens.json").read_text())
    assert (summary.root / "tokens.json").stat().st_mode & 0o077 == 0
    assert tokens["annotators"] == summary.annotator_tokens and tokens["admin"] == summary.admin_token


def test_limited_assignment_spreads_pairs_and_keeps_gold(designed):
    _, _, pairs = designed
    coverage = {pid: 0 for pid in pairs["pair_id"]}
    rng = np.random.default_rng(1)
    for _ in range(4):
        order = annotation_order(pairs, rng, limit=4, coverage=coverage)
        base = [pid for pid in order if pid in set(pairs.loc[pairs["kind"] != "repeat", "pair_id"])]
        assert len(base) == 4
        assert any(pid in set(pairs.loc[pairs["kind"] == "gold", "pair_id"]) for pid in base)
        for pid in base:
            coverage[pid] += 1
    regular = pairs.loc[pairs["kind"] == "regular", "pair_id"]
    counts = [coverage[p] for p in regular]
    assert max(counts) - min(counts) <= 1  # 12 regular slots over 6 pairs: 2 each


def test_balance_takes_the_smallest_combination_count(tmp_path):
    make_results(tmp_path / "a", rows=ROWS[:2], images=("i0", "i1", "i2"), frames=2)
    make_results(tmp_path / "a", rows=ROWS[2:], images=("i0",), frames=2)
    clips = load_clips(tmp_path / "a")
    plans, report = plan_pairs(clips, np.random.default_rng(0))
    assert set(report["pairs_per_combination"].values()) == {1} and len(plans) == 3
    plans, report = plan_pairs(clips, np.random.default_rng(0), balance=False)
    assert report["pairs_per_combination"][f"{ROWS[0]} vs {ROWS[1]}"] == 3 and len(plans) == 5
    plans, _ = plan_pairs(clips, np.random.default_rng(0), balance=False, max_per_combination=2)
    assert len(plans) == 4


def test_design_refuses_bad_input_and_leaves_nothing_behind(tmp_path):
    with pytest.raises(FileNotFoundError, match="videos"):
        design_study(tmp_path / "missing", tmp_path / "s")
    results = make_results(tmp_path / "r", rows=ROWS[:1], images=("i0",), frames=2)
    with pytest.raises(ValueError, match="at least two rows"):
        design_study(results, tmp_path / "s")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no half-built study
    sidecar = next((results / "videos").glob("*.json"))
    meta = json.loads(sidecar.read_text())
    del meta["seed"]
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="missing key"):
        load_clips(results)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(ValueError, match="already exists"):
        design_study(results, tmp_path / "taken")


def test_degrade_is_clearly_worse_and_side_by_side_pads():
    rng = np.random.default_rng(0)
    clip = np.tile(np.linspace(0, 255, 32, dtype=np.uint8)[None, None, :, None], (6, 32, 1, 3))
    bad = degrade(clip, rng)
    assert bad.shape == clip.shape and np.abs(bad.astype(int) - clip.astype(int)).mean() > 20
    short = np.zeros((3, 16, 8, 3), dtype=np.uint8) + 200
    sbs = side_by_side(clip, short)
    assert sbs.shape == (6, 32, 32 + GAP_PX + 8, 3)
    assert (sbs[5, :16, -8:] == 200).all() and (sbs[5, 16:, -8:] == 0).all()  # last frame held, padded
