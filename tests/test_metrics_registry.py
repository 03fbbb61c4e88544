"""The registry and ``compute``: tidy output, groups, input validation and the plug-in point."""

import numpy as np
import pandas as pd
import pytest
import torch

import metrics
from metrics import base
from metrics.base import CallableMetric, Registry, register_backend, register_callable


@pytest.fixture
def video():
    g = np.random.default_rng(0)
    base = g.integers(0, 256, (24, 40, 3)).astype(np.uint8)
    return np.stack([np.roll(base, t, axis=1) for t in range(6)])


def test_compute_default_is_every_weight_free_metric_in_long_format(video):
    df = metrics.compute(video, device="cpu")
    assert list(df.columns) == ["frame", "metric", "value"]
    assert df["frame"].dtype == np.int64 and df["value"].dtype == np.float64
    table = metrics.available()
    weight_free = table[~table["needs_weights"]]["name"].tolist()
    assert df["metric"].unique().tolist() == weight_free
    assert len(weight_free) >= 16
    kinds = table.set_index("name")["kind"]
    counts = df.groupby("metric").size()
    for name in weight_free:
        expected = {"per-frame": 6, "per-pair": 5, "per-video": 1}[kinds[name]]
        if name == "motion_smoothness":
            expected = 2  # frames 1 and 3 (frame 5 has no right neighbour)
        assert counts[name] == expected, name


def test_groups_expand_and_unknown_names_are_rejected(video):
    df = metrics.compute(video, ["clarity", "exposure_brightness", "clarity_laplacian"], device="cpu")
    assert df["metric"].unique().tolist() == [
        "clarity_laplacian",
        "clarity_tenengrad",
        "clarity_brisque",
        "exposure_brightness",
    ]
    assert metrics.compute(video, "colour,noise", device="cpu")["metric"].unique().tolist() == [
        "colourfulness",
        "noise_sigma",
    ]
    with pytest.raises(ValueError, match="unknown metric 'sharpness'.*groups: .*clarity"):
        metrics.compute(video, ["sharpness"])
    learned = metrics.registry.expand(["learned"])
    assert {m.name for m in learned} >= {"lpips_first", "aesthetic_clip", "semantic_clip", "dynamic_raft"}
    assert all(m.needs_weights for m in learned)


def test_registry_lists_placeholders_that_explain_themselves(video):
    table = metrics.available().set_index("name")
    assert table.loc["identity_arcface", "needs_weights"] and not table.loc["identity_arcface", "ready"]
    for name in ("clarity_musiq", "semantic_viclip", "anatomy"):
        assert table.loc[name, "needs_weights"] and table.loc[name, "ready"]
    assert set(table.columns) >= {"kind", "needs_weights", "higher_is_better", "description", "group"}
    with pytest.raises(metrics.MissingBackendError, match="register_backend\\('identity_arcface'"):
        metrics.compute(video, ["identity_arcface"])


def test_plug_in_callables_and_backends(video, monkeypatch):
    reg = Registry()
    monkeypatch.setattr(base, "registry", reg)  # keep the global registry untouched

    reg.add(
        CallableMetric("clarity_musiq", None, kind="per-frame", higher_is_better=True, description="MUSIQ")
    )
    calls = []

    def fake_musiq(frames):
        calls.append(frames.shape[0])
        return frames.mean(dim=(1, 2, 3)) * 100

    register_backend("clarity_musiq", fake_musiq)
    df = base.compute(video, ["clarity_musiq"], device="cpu", batch_size=4)
    assert calls == [4, 2]  # batched per batch_size
    expected = video.reshape(6, -1).mean(1) / 255 * 100
    np.testing.assert_allclose(df["value"], expected, rtol=1e-5)
    register_callable("mean_gap", lambda f: (f[1:] - f[:-1]).abs().mean(dim=(1, 2, 3)), kind="per-pair")
    register_callable("total", lambda f: f.sum(), kind="per-video")
    out = base.compute(video, ["mean_gap", "total"], device="cpu")
    assert out[out["metric"] == "mean_gap"]["frame"].tolist() == [1, 2, 3, 4, 5]
    assert out[out["metric"] == "total"]["frame"].tolist() == [metrics.VIDEO_FRAME]
    register_callable("wrong", lambda f: torch.zeros(3), kind="per-pair")
    with pytest.raises(ValueError, match="returned 3 values, expected 5"):
        base.compute(video, ["wrong"], device="cpu")
    with pytest.raises(ValueError, match="already registered"):
        register_callable("total", lambda f: f.sum(), kind="per-video")
    with pytest.raises(ValueError, match="kind must be one of"):
        register_callable("bad", lambda f: f, kind="per-second")


def test_metric_objects_are_callable_like_compute(video):
    from metrics.weight_free import ClarityTenengrad

    direct = ClarityTenengrad()(video, device="cpu")
    expected = metrics.functional.tenengrad(torch.from_numpy(video).permute(0, 3, 1, 2).float() / 255)
    np.testing.assert_allclose(direct["value"], expected.numpy(), rtol=1e-6)


def test_float_tensor_layouts_and_uint8_agree(video):
    x = torch.from_numpy(video).float() / 255
    names = ["clarity_laplacian", "consistency_prev_ssim", "motion_smoothness"]
    a = metrics.compute(video, names, device="cpu")
    b = metrics.compute(x, names, device="cpu")  # (T, H, W, 3)
    c = metrics.compute(x.permute(0, 3, 1, 2), names, device="cpu")  # (T, 3, H, W)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    batched = metrics.compute(video, names, device="cpu", batch_size=2)
    pd.testing.assert_frame_equal(a, batched, rtol=1e-6)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((4, 32, 32, 3), dtype=np.int16), "unsupported video dtype int16"),
        (np.zeros((4, 32, 32), dtype=np.uint8), r"uint8 video must be \(T, H, W, 3\)"),
        (np.zeros((4, 32, 32, 4), dtype=np.uint8), r"uint8 video must be \(T, H, W, 3\)"),
        (np.zeros((0, 32, 32, 3), dtype=np.uint8), "no frames"),
        (np.zeros((4, 8, 32, 3), dtype=np.uint8), "at least 16x16"),
        (torch.full((4, 3, 32, 32), 2.0), r"must be in \[0, 1\], got \[2, 2\]"),
        (torch.full((4, 3, 32, 32), float("nan")), "NaN"),
        (torch.zeros(4, 5, 32, 32), "3 colour channels"),
        (torch.zeros(32, 32, 3), "4 dimensions"),
        (torch.zeros(4, 3, 32, 32, dtype=torch.int32), "unsupported video dtype torch.int32"),
        ([[1, 2, 3]], "unsupported video type list"),
    ],
)
def test_bad_inputs_raise_value_errors_saying_what_is_accepted(bad, message):
    with pytest.raises(ValueError, match=message) as info:
        metrics.compute(bad, ["clarity_laplacian"], device="cpu")
    assert "accepted" in str(info.value) or "NaN" in str(info.value)


def test_to_wide_and_per_frame_tables_feed_drift(video):
    per_frame = metrics.compute(
        video, ["clarity_laplacian", "flicker_brightness", "dynamic_degree"], device="cpu"
    )
    wide = metrics.to_wide(per_frame)
    assert list(wide.columns) == ["frame", "clarity_laplacian", "flicker_brightness"]
    assert len(wide) == 6 and np.isnan(wide.loc[0, "flicker_brightness"])
