"""The schedule language: round trips, roles, official index layouts, and errors on bad names."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fpeval.plan.schedule import (
    KERNELS,
    PAPER_SCHEDULES,
    TAIL_OPTIONS,
    Direction,
    Role,
    build,
    layout,
    parse,
)

PAPER_NAMES = [
    "td_f16k4f4k2f1k1_g9",
    "td_f16k4f4k2f1k1_g9+D",
    "td_f16k4f4k2f1k1_g9_x_f1k1",
    "f1k1_x_g9_f1k1f2k2f16k4_td",
    "td_f16k4f2k2f1k1_g9",
    "td_f8k8f4k4f2k2f1k1_g9",
    "td_f32k16f16k8f8k4f4k2f1k1_g9",
    "ta_f16k4f4k2f1k1_g9",
    "tc_f16k4f4k2f1k1_g9",
    "f1k1_td_f16k4f2k2f1k1_g9",
    "f1k1_x_g9_f1k1f2k2f16k4_ta+D",
    "td_f16k4f4k2f1k1_g9_x_f1k1_x_f1k1",
    "f16k4f2k2f1k1_g9",
    "f1k1_x_g9",
    "g9",
]


@pytest.mark.parametrize("name", PAPER_NAMES + list(PAPER_SCHEDULES.values()))
def test_round_trip(name):
    assert str(parse(name)) == name
    assert parse(str(parse(name))) == parse(name)


def test_vanilla_structure():
    s = parse("td_f16k4f4k2f1k1_g9")
    assert s.direction is Direction.FORWARD
    assert s.section.frames == 9
    assert s.tail == "td"
    assert not s.discrete
    assert s.history.role is Role.PAST_HISTORY
    assert [(g.frames, g.kernel) for g in s.history.segments] == [(16, 4), (4, 2), (1, 1)]
    assert s.history_capacity == 21
    assert s.anchors == ()
    assert s.kernels == (4, 2, 1)


def test_inverted_structure():
    s = parse("f1k1_x_g9_f1k1f2k2f16k4_td")
    assert s.direction is Direction.INVERTED
    assert s.history.role is Role.FUTURE_HISTORY
    assert [(g.frames, g.kernel) for g in s.history.segments] == [(1, 1), (2, 2), (16, 4)]
    assert [a.role for a in s.anchors] == [Role.START_FRAME]
    assert s.history_capacity == 19


def test_endpoint_and_discrete_and_anchor_roles():
    e = parse("td_f16k4f4k2f1k1_g9_x_f1k1")
    assert e.direction is Direction.FORWARD
    assert [a.role for a in e.anchors] == [Role.ENDPOINT]
    assert parse("td_f16k4f4k2f1k1_g9+D").discrete
    f1 = parse("f1k1_td_f16k4f2k2f1k1_g9")
    assert [a.role for a in f1.anchors] == [Role.START_FRAME]
    assert f1.history.frames == 19


def test_with_tail_and_build():
    s = parse("td_f16k4f4k2f1k1_g9")
    assert str(s.with_tail("tc")) == "tc_f16k4f4k2f1k1_g9"
    assert str(s.with_tail(None)) == "f16k4f4k2f1k1_g9"
    inv = parse("f1k1_x_g9_f1k1f2k2f16k4_td")
    assert str(inv.with_tail("ta")) == "f1k1_x_g9_f1k1f2k2f16k4_ta"
    f1 = parse("f1k1_td_f16k4f2k2f1k1_g9")
    assert str(f1.with_tail("tc")) == "f1k1_tc_f16k4f2k2f1k1_g9"
    assert str(build([(16, 4), (4, 2), (1, 1)])) == "td_f16k4f4k2f1k1_g9"
    assert (
        str(build([(1, 1), (2, 2), (16, 4)], direction="inverted", start_frame=True))
        == "f1k1_x_g9_f1k1f2k2f16k4_td"
    )
    assert (
        str(build([(16, 4), (2, 2), (1, 1)], start_frame=True, start_gap=False)) == "f1k1_td_f16k4f2k2f1k1_g9"
    )
    assert str(build([(16, 4), (4, 2), (1, 1)], endpoint=True)) == "td_f16k4f4k2f1k1_g9_x_f1k1"
    with pytest.raises(ValueError, match="no history run"):
        parse("f1k1_x_g9").with_tail("td")


def _split(placements):
    """Placements -> {label@role: indices} for comparison with the official loops."""
    return [(p.role, p.label, list(p.indices)) for p in placements if p.indices]


@pytest.mark.parametrize("padding", [0, 1, 2, 3])
def test_layout_equals_official_inverted_loop(padding):
    # demo_gradio.py: indices = arange(0, 1 + P + lws + 1 + 2 + 16) split [1, P, lws, 1, 2, 16]
    # = (start, blank, noisy, post k1, k2, k4), with P = padding * lws, lws = 9.
    lws, P = 9, padding * 9
    sizes = [1, P, lws, 1, 2, 16]
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    start, _blank, noisy, post, k2, k4 = (list(range(bounds[i], bounds[i + 1])) for i in range(6))
    expected = [
        ("start_frame", "f1k1", start),
        ("section", "g9", noisy),
        ("future_history", "f1k1", post),
        ("future_history", "f2k2", k2),
        ("future_history", "f16k4", k4),
    ]
    assert _split(layout("f1k1_x_g9_f1k1f2k2f16k4_td", gaps=P)) == expected


def test_layout_equals_official_f1_loop():
    # demo_gradio_f1.py: indices 0..28 split [1, 16, 2, 1, lws] = (start, k4, k2, k1, noisy).
    expected = [
        ("start_frame", "f1k1", [0]),
        ("past_history", "f16k4", list(range(1, 17))),
        ("past_history", "f2k2", [17, 18]),
        ("past_history", "f1k1", [19]),
        ("section", "g9", list(range(20, 29))),
    ]
    assert _split(layout("f1k1_td_f16k4f2k2f1k1_g9")) == expected


def test_layout_tail_and_gaps():
    # ta: 3 tail frames take the oldest indices; td deletes them (history stays contiguous).
    ta = layout("ta_f4k2f1k1_g2", tail_frames=3)
    assert _split(ta) == [
        ("tail", "ta", [0, 1, 2]),
        ("past_history", "f4k2", [3, 4, 5, 6]),
        ("past_history", "f1k1", [7]),
        ("section", "g2", [8, 9]),
    ]
    td = layout("td_f4k2f1k1_g2", tail_frames=3)
    assert _split(td)[0] == ("past_history", "f4k2", [0, 1, 2, 3])
    ep = layout("td_f1k1_g2_x_f1k1_x_f1k1", gaps=[5, 2])
    assert _split(ep)[-2:] == [("endpoint", "f1k1", [8]), ("endpoint", "f1k1", [11])]
    with pytest.raises(ValueError, match="2 gap"):
        layout("td_f1k1_g2_x_f1k1_x_f1k1", gaps=[1])
    with pytest.raises(ValueError, match=">= 0"):
        layout("f1k1_x_g2", gaps=-1)


BAD_NAMES = [
    ("td_f16k3f1k1_g9", "unknown kernel k3", 3),
    ("td_f16k4f0k1_g9", "frame count must be >= 1", 8),
    ("td_f16k4f1k1", "missing the generated section", 12),
    ("td_f1k1_g9_g9", "more than one", 11),
    ("td_f1k1_g0", "section length must be >= 1", 8),
    ("td_f016k4_g9", "leading zero", 3),
    ("tx_f1k1_g9", "unknown tail option", 0),
    ("f1k1_td_x_g9", "tail option must sit", 5),
    ("f1k1_g9_f1k1", "history on both sides", 8),
    ("f1k1_g9_x", "must have frames beyond", 8),
    ("f1k1_x_x_g9", "two gaps", 5),
    ("td__f1k1_g9", "empty part", 3),
    ("td_f1k1_g9_", "empty part", 11),
    ("td_f1k1q_g9", "expected 'fNkK'", 7),
    ("td_g9", "tail option must sit", 0),
    ("f1k1_g9+D+D", "written 'gN'", 5),
    ("f1k1_gx", "written 'gN'", 5),
]


@pytest.mark.parametrize("name,problem,position", BAD_NAMES)
def test_bad_names_name_token_and_position(name, problem, position):
    with pytest.raises(ValueError) as info:
        parse(name)
    msg = str(info.value)
    assert problem in msg
    assert f"at position {position})" in msg
    assert "schedule grammar" in msg  # the grammar is shown


def test_non_string_and_empty():
    with pytest.raises(ValueError, match="must be a string"):
        parse(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty name"):
        parse("")


# -- property-based -------------------------------------------------------------------------
ALPHABET = "fkgxtdac_+D0123456789 -k٣"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_fuzz_only_value_error_escapes(text):
    try:
        s = parse(text)
    except ValueError:
        return
    # Anything accepted prints back to the same name (canonical form is the only accepted form).
    assert str(s) == text


segment = st.tuples(st.integers(1, 64), st.sampled_from(KERNELS)).map(lambda t: f"f{t[0]}k{t[1]}")
run = st.lists(segment, min_size=1, max_size=5).map("".join)


@st.composite
def valid_names(draw):
    """Random valid names, built oldest -> newest: [start frames] [tail history] gN [history tail] [x endpoint]."""
    forward = draw(st.booleans())
    tail = draw(st.sampled_from([None, *TAIL_OPTIONS]))
    history = draw(st.one_of(st.none(), run))
    parts = []
    for r in draw(st.lists(run, max_size=2)):  # start frames, each followed by a gap ...
        parts += [r, "x"]
    if parts and history is not None and forward and draw(st.booleans()):
        parts.pop()  # ... except the F1 layout, where the start frame touches the history's far end
    if history is not None and forward:
        parts += ([tail] if tail else []) + [history]
    parts.append(f"g{draw(st.integers(1, 33))}")
    if history is not None and not forward:
        parts += [history] + ([tail] if tail else [])
    for r in draw(st.lists(run, max_size=2)):  # endpoints
        parts += ["x", r]
    return "_".join(parts) + ("+D" if draw(st.booleans()) else "")


@settings(max_examples=300, deadline=None)
@given(valid_names())
def test_valid_plans_round_trip(name):
    s = parse(name)
    assert str(s) == name
    assert parse(str(s)) == s
    # the history run, if any, touches the section
    if s.history is not None:
        i = s.parts.index(s.history)
        assert abs(i - s.parts.index(s.section)) == 1
    assert all(re.fullmatch(r"(f[1-9][0-9]*k(1|2|4|8|16))+", str(r)) for r in s.runs)
