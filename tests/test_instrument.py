"""The instrument report: known answers for its measures, and the whole report on a tiny setting."""

import numpy as np
import pandas as pd
import pytest
import torch
from mini_tiny import write_tiny_mini

from fpeval import models
from fpeval.generation.instrument import (
    WORLD,
    identify,
    per_clip,
    retention_summary,
    teacher_forced,
    teacher_forced_curve,
    video_measures,
    world_videos,
    write_instrument_report,
)
from metrics.functional import psnr, ssim


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    denoiser, autoencoder = write_tiny_mini(tmp_path_factory.mktemp("tiny"))
    return models.load(str(denoiser), autoencoder=autoencoder)


def test_identify_finds_each_video_own_start_and_a_permutation():
    starts = world_videos(range(4), 1)[:, 0]
    windows = starts[[2, 0, 3, 1]][:, None].repeat(1, 3, 1, 1, 1)
    assert identify(windows, starts).tolist() == [2, 0, 3, 1]


def test_a_still_video_keeps_its_start_and_does_not_drift():
    starts = world_videos(range(3), 1)[:, 0]
    still = starts[:, None].repeat(1, 19, 1, 1, 1)  # 2 sections of 9 frames + the start frame
    per_section, per_video = video_measures(still, starts, 9, model="m", variant="still", sections=2)
    assert per_section["section"].tolist() == [1, 2] * 3
    np.testing.assert_allclose(per_section["ssim_to_start"], 1.0, atol=1e-6)
    assert per_video["identified"].all()
    np.testing.assert_allclose(per_video["first_section_ssim"], 1.0, atol=1e-6)
    np.testing.assert_allclose(per_video[[c for c in per_video if c.startswith("drift_")]], 0.0, atol=1e-6)


def test_a_video_that_fades_to_grey_loses_its_start():
    starts = world_videos(range(3), 1)[:, 0]
    fade = torch.linspace(0, 1, 19).view(1, 19, 1, 1, 1)
    video = starts[:, None] * (1 - fade) + 0.5 * fade
    _, per_video = video_measures(video, starts, 9, model="m", variant="fade", sections=2)
    assert (per_video["last_window_ssim"] < per_video["first_section_ssim"] - 0.2).all()
    assert (per_video["drift_colourfulness"] > 0).all()


def test_teacher_forcing_scores_against_independent_values(backend):
    frames = teacher_forced(backend, [0, 1], section=1, sections=3, steps=1)
    assert frames["frame"].tolist() == list(range(10, 19)) * 2 and frames["offset"].tolist()[:2] == [1, 2]
    table = per_clip(frames)
    video = world_videos([0, 1], 28)
    truth, last = video[:, 10:19], video[:, 9:10].expand(-1, 9, -1, -1, -1)
    ae = backend.autoencoder
    with torch.no_grad():
        copy = ae.decode(ae.encode(video[:, 9]).unsqueeze(1).expand(-1, 9, -1, -1, -1)).clamp(0, 1)
    for i in range(2):
        assert table.loc[i, "psnr_repeat_last"] == pytest.approx(
            float(psnr(last[i], truth[i]).mean()), rel=1e-6
        )
        assert table.loc[i, "ssim_repeat_last"] == pytest.approx(
            float(ssim(last[i], truth[i]).mean()), rel=1e-6
        )
        assert table.loc[i, "psnr_copy_latent"] == pytest.approx(
            float(psnr(copy[i], truth[i]).mean()), rel=1e-5
        )
        # the frame right after the context is closer to it than the section's last frame is
        first, final = frames[frames["image"] == i].iloc[[0, -1]]["psnr_repeat_last"]
        assert first > final
    assert np.isfinite(table["psnr_prediction"]).all() and (table["psnr_autoencoder"] > 0).all()
    curve = teacher_forced_curve(frames)
    assert curve["offset"].tolist() == list(range(1, 10))
    assert curve["psnr_repeat_last"].iloc[0] == pytest.approx(
        frames[frames["offset"] == 1]["psnr_repeat_last"].mean()
    )
    # one Euler step from pure noise is the model's expectation itself
    one_step = teacher_forced(backend, [0, 1], section=1, sections=3, steps=1, solver="euler")
    assert one_step["psnr_prediction"].tolist() == one_step["psnr_expectation"].tolist()


def test_retention_summary_ratios_and_paired_drift():
    rows = []
    for variant, first, found, drift in ((WORLD, 0.8, [1, 1, 0, 1], 1.0), ("v", 0.4, [1, 0, 0, 0], 3.0)):
        for i in range(4):
            rows.append(
                dict(
                    model="m",
                    sections=2,
                    variant=variant,
                    video=i,
                    image=i,
                    first_section_ssim=first,
                    last_window_ssim=first / 2,
                    identified=bool(found[i]),
                    drift_sharpness=drift + i,
                )
            )
    summary = retention_summary(pd.DataFrame(rows)).set_index("variant")
    assert summary.loc["v", "first_ssim_vs_world"] == pytest.approx(0.5)
    assert summary.loc["v", "identified"] == pytest.approx(0.25)
    assert summary.loc["v", "identified_vs_world"] == pytest.approx(0.25 / 0.75)
    assert summary.loc["v", "drift_sharpness_minus_world"] == pytest.approx(2.0)
    assert summary.loc["v", "drift_sharpness_minus_world_low"] == pytest.approx(2.0)


def test_the_report_runs_on_a_tiny_setting(backend, tmp_path):
    tables = write_instrument_report(
        [backend],
        tmp_path,
        images=3,
        sections=(2,),
        variants=("vanilla:td_f16k4f4k2f1k1_g9", "inverted"),
        steps=1,
        filmstrips=1,
        log=lambda m: None,
    )
    per_video = tables["retention_per_video"]
    assert sorted(set(per_video["variant"])) == sorted([WORLD, "vanilla:td_f16k4f4k2f1k1_g9", "inverted"])
    assert len(per_video) == 3 * 3 and per_video["image"].tolist()[:3] == [0, 1, 2]
    assert len(tables["retention_per_section"]) == 3 * 3 * 2
    for name in (
        "teacher_forced_per_frame",
        "teacher_forced_curve",
        "teacher_forced_per_clip",
        "teacher_forced_summary",
        "retention_summary",
        "retention_per_section",
    ):
        assert (tmp_path / f"{name}.csv").is_file()
    assert (tmp_path / "retention_curve.png").stat().st_size > 0
    assert (tmp_path / "filmstrip_tiny_2sections_image0.png").stat().st_size > 0
    world = tables["retention_summary"].set_index("variant").loc[WORLD]
    assert world["first_ssim_vs_world"] == pytest.approx(1.0)


def test_cli_refuses_bad_input_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from fpeval.cli import app

    runner = CliRunner()
    bad_variant = runner.invoke(app, ["instrument", "mini-v2", "--out", str(tmp_path), "--variant", "bogus"])
    assert bad_variant.exit_code == 2 and "unknown variant" in bad_variant.output
    not_mini = runner.invoke(app, ["instrument", "some/folder", "--out", str(tmp_path)])
    assert not_mini.exit_code == 2 and "FramePack-mini" in not_mini.output
    assert not any(tmp_path.iterdir())
