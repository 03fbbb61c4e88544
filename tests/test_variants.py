"""Variant plans: equal to the official loops for N = 1..12, structure of the other variants, errors."""

import json

import pytest

from fpeval.plan.variants import VARIANTS, inverted_paddings, make_plan, variant

LWS = 9

# demo_gradio.py / diffusers: latent paddings per section, written out for N = 1..12.
EXPECTED_PADDINGS = {
    1: [0],
    2: [1, 0],
    3: [2, 1, 0],
    4: [3, 2, 1, 0],
    5: [3, 2, 2, 1, 0],
    6: [3, 2, 2, 2, 1, 0],
    7: [3, 2, 2, 2, 2, 1, 0],
    8: [3, 2, 2, 2, 2, 2, 1, 0],
    9: [3, 2, 2, 2, 2, 2, 2, 1, 0],
    10: [3, 2, 2, 2, 2, 2, 2, 2, 1, 0],
    11: [3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 0],
    12: [3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 0],
}


@pytest.mark.parametrize("n", range(1, 13))
def test_inverted_paddings_table(n):
    assert inverted_paddings(n) == EXPECTED_PADDINGS[n]


def official_inverted(n):
    """The official inverted loop, restated: per section, index splits and which history frames feed each input.

    History is a list of generated latent frames, newest section first, after 19 zeros ("Z").
    """
    steps, history = [], ["Z"] * 19
    total = 1 + n * LWS
    for k, pad in enumerate(EXPECTED_PADDINGS[n]):
        P = pad * LWS
        sizes = [1, P, LWS, 1, 2, 16]
        edges = [sum(sizes[:i]) for i in range(7)]
        idx = [list(range(edges[i], edges[i + 1])) for i in range(6)]
        # the section generated at step k covers timeline frames of section j = n-1-k
        j = n - 1 - k
        section = list(range(1 + j * LWS, 1 + (j + 1) * LWS))
        steps.append(
            {
                "section": section,
                "section_rope": idx[2],
                "clean": (["S", history[0]], idx[0] + idx[3]),
                "2x": (history[1:3], idx[4]),
                "4x": (history[3:19], idx[5]),
            }
        )
        history = section + history
        assert len(history) <= total + 18
    return steps


def official_f1(n):
    """The official F1 (vanilla) loop, restated: history = 19 zeros + start latent, sections appended."""
    steps, history = [], ["Z"] * 19 + ["S"]
    for k in range(n):
        idx = list(range(29))
        start, k4, k2, k1, noisy = idx[0:1], idx[1:17], idx[17:19], idx[19:20], idx[20:29]
        section = list(range(1 + k * LWS, 1 + (k + 1) * LWS))
        steps.append(
            {
                "section": section,
                "section_rope": noisy,
                "clean": (["S", history[-1]], start + k1),
                "2x": (history[-3:-1], k2),
                "4x": (history[-19:-3], k4),
            }
        )
        history = history + section
    return steps


def ours(plan):
    """Our plan in the same vocabulary: frame ids ('S' start, 'Z' zeros, ints generated) per transformer input."""

    def name(t):
        return "Z" if t is None else ("S" if t == 0 else t)

    out = []
    for step in plan.steps:
        by = {1: ([], []), 2: ([], []), 4: ([], [])}
        for spec in step.context:
            by[spec.kernel][0].extend(name(t) for t in spec.frames)
            by[spec.kernel][1].extend(spec.rope)
        out.append(
            {
                "section": list(step.section),
                "section_rope": list(step.section_rope),
                "clean": by[1],
                "2x": by[2],
                "4x": by[4],
            }
        )
    return out


def _as_lists(steps):
    return [{k: (list(map(list, v)) if isinstance(v, tuple) else v) for k, v in s.items()} for s in steps]


@pytest.mark.parametrize("n", range(1, 13))
def test_inverted_plan_equals_official_loop(n):
    assert _as_lists(ours(make_plan("inverted", n))) == _as_lists(official_inverted(n))


@pytest.mark.parametrize("n", range(1, 13))
def test_vanilla_plan_equals_official_f1_loop(n):
    assert _as_lists(ours(make_plan("vanilla", n))) == _as_lists(official_f1(n))


def test_end_image_feeds_only_the_first_inverted_step():
    plan = make_plan("inverted", 3, end_image=True)
    end = plan.total_frames
    first_k1 = [s for s in plan.steps[0].context if s.role == "future_history" and s.kernel == 1][0]
    assert first_k1.frames == (end,)
    for step in plan.steps[1:]:
        assert all(end not in spec.frames for spec in step.context)


def test_endpoint_plan():
    plan = make_plan("endpoint", 4)
    first, *rest = plan.steps
    # step 0 generates the first and the last section together, a RoPE gap of two sections between them
    assert first.section == tuple(range(1, 10)) + tuple(range(28, 37))
    assert first.section_rope[9] - first.section_rope[8] - 1 == 2 * LWS
    assert not any(s.role == "endpoint" for s in first.context)
    # later steps fill the gap forward, the end section's first frame as endpoint, gap shrinking to 0
    assert [s.section[0] for s in rest] == [10, 19]
    for step, gap in zip(rest, [LWS, 0], strict=True):
        (ep,) = [s for s in step.context if s.role == "endpoint"]
        assert ep.frames == (28,)
        assert ep.rope[0] - step.section_rope[-1] - 1 == gap
    covered = sorted(t for s in plan.steps for t in s.section)
    assert covered == list(range(1, plan.total_frames))


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("n", [1, 2, 5])
def test_every_variant_covers_every_frame_once(name, n):
    plan = make_plan(name, n)
    covered = sorted(t for s in plan.steps for t in s.section)
    assert covered == list(range(1, plan.total_frames))
    json.loads(plan.to_json())


def test_repeat_i2v_is_a_fresh_i2v_from_the_last_frame():
    plan = make_plan("repeat_i2v", 3)
    first_vanilla = make_plan("vanilla", 1).steps[0]
    for step in plan.steps:
        last = step.section[0] - 1
        seen = {t for spec in step.context for t in spec.frames if t is not None}
        assert seen == {last}  # nothing but the previous section's last frame
        # the same layout as the first section of vanilla sampling, with that frame as the start image
        for ours, ref in zip(step.context, first_vanilla.context, strict=True):
            assert (ours.role, ours.kernel, ours.rope) == (ref.role, ref.kernel, ref.rope)
            assert ours.frames == tuple(last if t == 0 else t for t in ref.frames)


def test_tail_frames_are_planned():
    plan = make_plan(variant("vanilla", schedule="ta_f4k2f1k1_g9"), 3)
    last = plan.steps[-1]
    (tail,) = [s for s in last.context if s.tail]
    assert tail.frames == tuple(range(0, 19 - 5)) and tail.tail == "ta"
    assert tail.rope == tuple(range(len(tail.frames)))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(name="nope"), "unknown variant 'nope'"),
        (dict(name="df", sigma_test=1.5), "sigma_test must be in"),
        (dict(name="df", sigma_test=-0.1), "sigma_test must be in"),
        (dict(name="history_guidance", history_guidance=0.5), "history_guidance must be >= 1"),
        (dict(name="inverted", schedule="td_f16k4f4k2f1k1_g9"), "samples inverted but schedule"),
        (dict(name="vanilla", schedule="f1k1_x_g9_f1k1f2k2f16k4_td"), "samples forward"),
        (dict(name="endpoint", schedule="td_f16k4f4k2f1k1_g9"), "endpoint sampling needs"),
        (dict(name="vanilla", schedule="td_f16k3_g9"), "unknown kernel"),
    ],
)
def test_bad_configs(kwargs, match):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        variant(name, **kwargs)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_bad_section_counts(n):
    with pytest.raises(ValueError, match="sections must be an integer >= 1"):
        make_plan("vanilla", n)


def test_end_image_only_for_inverted():
    with pytest.raises(ValueError, match="only used by inverted"):
        make_plan("vanilla", 2, end_image=True)


def test_gap_belongs_to_the_anchor_beyond_it():
    """F1 start anchor (no gap) plus an endpoint after 'x': the gap is the endpoint's distance."""
    plan = make_plan(variant("endpoint", schedule="f1k1_td_f16k4f2k2f1k1_g9_x_f1k1"), 4)
    for step, gap in zip(plan.steps[1:], [LWS, 0], strict=True):
        (ep,) = [s for s in step.context if s.role == "endpoint"]
        assert ep.rope[0] - step.section_rope[-1] - 1 == gap
        (start,) = [s for s in step.context if s.role == "start_frame"]
        assert start.rope == (0,)
