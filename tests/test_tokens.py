"""Exact token counts, derived by hand from the official index layouts, and Eq. 2."""

import pytest
import torch
import torch.nn.functional as F

from fpeval.plan.schedule import parse
from fpeval.plan.tokens import (
    LatentSize,
    count_tokens,
    frame_tokens,
    geometric_length,
    geometric_limit,
    segment_tokens,
)

P480 = LatentSize.from_pixels(480, 832)  # latent 60 x 104
P720 = LatentSize.from_pixels(720, 1280)  # latent 90 x 160


def conv_tokens(frames: int, kernel: int, latent: LatentSize) -> int:
    """Independent count: run the official pad-then-strided-Conv3d on a zero tensor and count outputs."""
    x = torch.zeros(1, 1, frames, latent.height, latent.width)
    k = (kernel, 2 * kernel, 2 * kernel)
    pads = (0, (-latent.width) % k[2], 0, (-latent.height) % k[1], 0, (-frames) % k[0])
    x = F.pad(x, pads, mode="replicate") if any(pads) else x
    return F.conv3d(x, torch.zeros(1, 1, *k), stride=k).numel()


def test_frame_tokens_480p():
    # 832x480 -> latent 104x60 -> (1,2,2) patches: 52 * 30 = 1560 = L_f.
    assert frame_tokens(P480) == 1560


def test_released_inverted_480p_is_17966():
    # demo_gradio.py per section: noisy = 9 latents at k1      -> 9 * 1560          = 14040
    #   clean_latents = [start, history[0]] (2 frames at k1)   -> 2 * 1560          =  3120
    #   clean_latents_2x = history[1:3] (2 frames, (2,4,4))    -> 1 * 26 * 15       =   390
    #   clean_latents_4x = history[3:19] (16 frames, (4,8,8))  -> 4 * 13 * ceil(60/8)=8 = 416
    c = count_tokens("f1k1_x_g9_f1k1f2k2f16k4_td", P480)
    assert (c.section, c.context, c.total) == (14040, 3120 + 390 + 416, 17966)
    by_label = [(g.role, g.label, g.tokens) for g in c.groups]
    assert by_label == [
        ("start_frame", "f1k1", 1560),
        ("section", "g9", 14040),
        ("future_history", "f1k1", 1560),
        ("future_history", "f2k2", 390),
        ("future_history", "f16k4", 416),
        ("tail", "td", 0),
    ]


# Hand derivations at 832x480 (latent 60 x 104):
#   k1: 30*52 = 1560 per frame; k2: ceil(n/2) * 15 * 26 = 390 per 2 frames;
#   k4: ceil(n/4) * 8 * 13 = 104 per 4 frames; k8: ceil(n/8) * ceil(60/16)=4 * ceil(104/16)=7 = 28;
#   k16: ceil(n/16) * ceil(60/32)=2 * ceil(104/32)=4 = 8.
# At 1280x720 (latent 90 x 160):
#   k1: 45*80 = 3600; k2: ceil(90/4)=23 * 40 = 920; k4: ceil(90/8)=12 * 20 = 240;
#   k8: ceil(90/16)=6 * 10 = 60; k16: ceil(90/32)=3 * 5 = 15.
EXPECTED = {
    # name: (total at 480p, total at 720p)
    "td_f16k4f4k2f1k1_g9": (14040 + 4 * 104 + 2 * 390 + 1560, 9 * 3600 + 4 * 240 + 2 * 920 + 3600),
    "td_f16k4f4k2f1k1_g9+D": (14040 + 4 * 104 + 2 * 390 + 1560, 9 * 3600 + 4 * 240 + 2 * 920 + 3600),
    "td_f16k4f4k2f1k1_g9_x_f1k1": (14040 + 416 + 780 + 1560 + 1560, 32400 + 960 + 1840 + 3600 + 3600),
    "f1k1_x_g9_f1k1f2k2f16k4_td": (17966, 3600 + 32400 + 3600 + 920 + 960),
    "td_f16k4f2k2f1k1_g9": (14040 + 416 + 390 + 1560, 32400 + 960 + 920 + 3600),
    "td_f8k8f4k4f2k2f1k1_g9": (14040 + 28 + 104 + 390 + 1560, 32400 + 60 + 240 + 920 + 3600),
    "td_f16k16f8k8f4k4f2k2f1k1_g9": (14040 + 8 + 28 + 104 + 390 + 1560, 32400 + 15 + 60 + 240 + 920 + 3600),
    "f1k1_td_f16k4f2k2f1k1_g9": (1560 + 416 + 390 + 1560 + 14040, 3600 + 960 + 920 + 3600 + 32400),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_paper_rows_hand_derived(name):
    t480, t720 = EXPECTED[name]
    assert count_tokens(name, P480).total == t480
    assert count_tokens(name, P720).total == t720


@pytest.mark.parametrize("name", EXPECTED)
@pytest.mark.parametrize("latent", [P480, P720, LatentSize(12, 20)], ids=["480p", "720p", "12x20"])
def test_counts_match_real_conv_arithmetic(name, latent):
    plan = parse(name)
    expected = 0
    for run in plan.runs:
        expected += sum(conv_tokens(s.frames, s.kernel, latent) for s in run.segments)
    expected += conv_tokens(plan.section.frames, 1, latent)
    assert count_tokens(plan, latent).total == expected


def test_partial_history_and_tails():
    lat = P480
    van = "td_f16k4f4k2f1k1_g9"
    assert count_tokens(van, lat, history_frames=0).context == 0
    # newest frame goes to the k1 segment next to the section, then k2, then k4
    assert count_tokens(van, lat, history_frames=1).context == 1560
    assert count_tokens(van, lat, history_frames=2).context == 1560 + 390  # one k2 frame, padded
    assert count_tokens(van, lat, history_frames=6).context == 1560 + 780 + 104
    full = count_tokens(van, lat).context
    assert count_tokens(van, lat, history_frames=21).context == full
    # beyond capacity (21): td drops, ta adds one token per frame, tc adds one frame at k4 (104)
    assert count_tokens(van, lat, history_frames=50).context == full
    assert count_tokens("ta_f16k4f4k2f1k1_g9", lat, history_frames=50).context == full + 29
    assert count_tokens("tc_f16k4f4k2f1k1_g9", lat, history_frames=50).context == full + 104
    assert count_tokens("tc_f16k4f4k2f1k1_g9", lat, history_frames=21).context == full
    # inverted history fills from the k1 frame touching the section outward
    inv = "f1k1_x_g9_f1k1f2k2f16k4_td"
    assert count_tokens(inv, lat, history_frames=1).context == 1560 + 1560


def test_eq2_closed_form_and_limit():
    lf, s = 1560, 9
    for lam in (1.5, 2.0, 3.0):
        for t in (0, 1, 5, 20):
            explicit = s * lf + sum(lf / lam**i for i in range(t))
            assert geometric_length(s, t, lf, lam) == pytest.approx(explicit, rel=1e-12)
        assert geometric_limit(s, lf, lam) == pytest.approx((s + lam / (lam - 1)) * lf)
        assert geometric_length(s, 200, lf, lam) == pytest.approx(geometric_limit(s, lf, lam), rel=1e-9)
    assert geometric_limit(s, lf, 2.0) == (s + 2) * lf
    with pytest.raises(ValueError, match="lambda"):
        geometric_limit(s, lf, 1.0)


@pytest.mark.parametrize(
    "h,w,match",
    [
        (-480, 832, "positive integer"),
        (0, 832, "positive integer"),
        (484, 832, "not a multiple of 8"),
        (480, 830, "not a multiple of 8"),
        (488, 832, "multiple of the patch size 2"),  # latent 61 is odd
    ],
)
def test_bad_sizes(h, w, match):
    with pytest.raises(ValueError, match=match):
        LatentSize.from_pixels(h, w)


def test_bad_kernel_and_history():
    with pytest.raises(ValueError, match="unknown kernel k3"):
        segment_tokens(1, 3, P480)
    with pytest.raises(ValueError, match="history_frames"):
        count_tokens("td_f1k1_g9", P480, history_frames=-1)


def test_segment_tokens_equal_conv_for_every_kernel_and_length():
    lat = LatentSize(18, 34)  # not a multiple of any kernel above k1: padding everywhere
    for n in range(1, 20):
        for k in (1, 2, 4, 8, 16):
            assert segment_tokens(n, k, lat) == conv_tokens(n, k, lat), (n, k)
