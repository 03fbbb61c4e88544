"""drift_table, drift_curve, robust_slope and decay_curve on hand-made tidy tables."""

import numpy as np
import pandas as pd
import pytest

from metrics.drift import decay_curve, drift_curve, drift_table, robust_slope


def _tidy(values, metric="m", start_frame=0, **ids):
    df = pd.DataFrame(
        {"frame": np.arange(start_frame, start_frame + len(values)), "metric": metric, "value": values}
    )
    for k, v in ids.items():
        df.insert(0, k, v)
    return df


def test_drift_table_by_video_with_hand_values():
    a = _tidy(np.r_[np.full(3, 2.0), np.full(14, 9.0), np.full(3, 5.0)], video="a", seed=0)  # T = 20, n = 3
    b = _tidy(np.linspace(10, 0, 7), video="b", seed=1)  # T = 7, n = 1
    shuffled = pd.concat([a, b]).sample(frac=1.0, random_state=0)  # order of rows must not matter
    t = drift_table(shuffled, by=["video", "seed"]).set_index("video")
    assert list(t.columns[:2]) == ["seed", "metric"]
    assert t.loc["a", "window"] == 3 and t.loc["b", "window"] == 1
    assert t.loc["a", "start"] == 2.0 and t.loc["a", "end"] == 5.0
    assert t.loc["a", "signed_drift"] == 3.0 and t.loc["a", "drift"] == 3.0
    assert t.loc["a", "drift_pct"] == pytest.approx(150.0)  # 100 * 3 / |start 2|
    assert t.loc["a", "mean"] == pytest.approx((6 + 126 + 15) / 20)
    assert t.loc["b", "signed_drift"] == pytest.approx(-10.0) and t.loc["b", "drift_pct"] == pytest.approx(
        100.0
    )
    assert t.loc["b", "n"] == 7


def test_drift_table_per_pair_per_video_and_zero_start():
    pairs = _tidy(np.arange(19, dtype=float), metric="pair", start_frame=1)  # 19 values -> n = 2
    video = pd.DataFrame({"frame": [-1], "metric": ["deg"], "value": [1.0]})
    zero = _tidy(np.r_[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], metric="z")
    t = drift_table(pd.concat([pairs, video, zero])).set_index("metric")
    assert t.loc["pair", "window"] == 2 and t.loc["pair", "signed_drift"] == pytest.approx(17.5 - 0.5)
    assert t.loc["deg", "mean"] == 1.0 and np.isnan(t.loc["deg", "drift"]) and t.loc["deg", "window"] == 0
    assert t.loc["z", "drift"] == 1.0 and np.isnan(t.loc["z", "drift_pct"])  # relative to a zero start
    assert list(t.index) == ["pair", "deg", "z"]  # first-seen order


def test_drift_table_names_missing_columns():
    with pytest.raises(ValueError, match="lacks column"):
        drift_table(pd.DataFrame({"frame": [0], "value": [1.0]}))
    with pytest.raises(ValueError, match="video"):
        drift_table(_tidy([1.0, 2.0]), by=["video"])


def test_drift_curve_per_section_seconds_and_frames():
    df = _tidy(np.arange(12, dtype=float), video="v")
    df["section"] = np.repeat([0, 1, 2], 4)
    by_section = drift_curve(df, "section", by=["video"])
    assert by_section["mean"].tolist() == [1.5, 5.5, 9.5]
    assert by_section["change"].tolist() == [0.0, 4.0, 8.0]
    assert by_section[["frame_start", "frame_end"]].values.tolist() == [[0, 3], [4, 7], [8, 11]]
    by_seconds = drift_curve(df, "0.5s", fps=12)  # 6 frames per bin
    assert by_seconds["mean"].tolist() == [2.5, 8.5]
    assert by_seconds["t_start"].tolist() == [0.0, 0.5] and by_seconds["t_end"].tolist() == [0.5, 1.0]
    assert drift_curve(df, 5)["n"].tolist() == [5, 5, 2]
    with pytest.raises(ValueError, match="section"):
        drift_curve(df.drop(columns="section"), "section")
    with pytest.raises(ValueError, match="fps"):
        drift_curve(df, "2s")
    with pytest.raises(ValueError, match="expected"):
        drift_curve(df, 2.5)


def test_robust_slope_ignores_outliers():
    y = 0.5 * np.arange(30) + 1.0
    y[[3, 17]] = [100.0, -50.0]  # two broken frames
    t = robust_slope(_tidy(y, video="v"), by=["video"], fps=10)
    assert t.loc[0, "slope"] == pytest.approx(0.5) and t.loc[0, "intercept"] == pytest.approx(1.0)
    assert t.loc[0, "slope_low"] <= 0.5 <= t.loc[0, "slope_high"]
    assert t.loc[0, "slope_per_s"] == pytest.approx(5.0)
    ols = np.polyfit(np.arange(30), y, 1)[0]
    assert abs(ols - 0.5) > 0.1  # least squares is pulled away; Theil-Sen is not
    assert np.isnan(robust_slope(_tidy([1.0]))["slope"].item())


def test_decay_curve_uses_similarity_to_first_metrics():
    ssim = _tidy([0.9, 0.8, 0.6, 0.5], metric="consistency_first_ssim", start_frame=1)
    other = _tidy([1.0, 2.0, 3.0, 4.0], metric="clarity_laplacian")
    curve = decay_curve(pd.concat([ssim, other]))
    assert curve["metric"].unique().tolist() == ["consistency_first_ssim"]
    assert curve["frame"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(curve["change"], [0.0, -0.1, -0.3, -0.4])
    binned = decay_curve(ssim, every=2)
    assert binned["value"].tolist() == pytest.approx([0.9, 0.7, 0.5])
    with pytest.raises(ValueError, match="similarity-to-first"):
        decay_curve(other)
