"""The benchmark scripts stay runnable, and the bounded-cost contexts are what they claim to be.

No timings are asserted here: figures live in BENCHMARKS.md, written by the scripts themselves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

from bounded_cost import SCHEDULE, Bench, section_context  # noqa: E402

from fpeval.plan.tokens import LatentSize, count_tokens  # noqa: E402

IMAGE_TOKENS = 16  # the start-image tokens of FramePack-mini (8x8 latent, patch 2)


@pytest.fixture(scope="module")
def bench():
    return Bench("cpu", sections=60, steps=1)


def tokens(bench, mode, section):
    return bench.tokens(section_context(mode, section, bench.sections, bench.timeline))


def test_packed_context_has_a_fixed_token_budget(bench):
    padded = count_tokens(SCHEDULE.format(tail="td"), LatentSize(8, 8)).total + IMAGE_TOKENS
    assert [tokens(bench, "td", i) for i in (1, 2, 30, 60)] == [padded] * 4
    # tc compresses however many tail frames into one k4-pooled frame: one token once a tail exists
    assert tokens(bench, "tc", 2) == padded
    assert tokens(bench, "tc", 30) == tokens(bench, "tc", 60) == padded + 1


def test_ta_tail_grows_one_token_per_frame(bench):
    # history = start frame + 9 frames per finished section; the schedule holds 19, the rest is tail
    for i in (6, 30, 60):
        history = 1 + 9 * (i - 1)
        want = count_tokens(SCHEDULE.format(tail="ta"), LatentSize(8, 8), history_frames=history).total
        assert tokens(bench, "ta", i) == want + IMAGE_TOKENS
    assert tokens(bench, "ta", 60) - tokens(bench, "ta", 59) == 9


def test_full_baseline_holds_every_earlier_frame_at_k1(bench):
    per_frame = 16  # 8x8 latent, patch 2
    for i in (1, 2, 60):
        frames = 1 + 9 * (i - 1) + 9  # start + earlier sections + the section itself
        assert tokens(bench, "full", i) == frames * per_frame + IMAGE_TOKENS


def _run(script, *args):
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--no-write"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_bounded_cost_script_runs(tmp_path):
    out = _run(
        "bounded_cost.py",
        *("--sections", "3", "--indices", "1,2,3", "--steps", "1", "--repeats", "1", "--rounds", "2"),
        *("--figure", str(tmp_path / "cost.png")),
    )
    assert "td: section 3 / section 2 = " in out and "tc: section 3 / section 2 = " in out
    assert (tmp_path / "cost.png").stat().st_size > 0
    lines = [ln.split() for ln in out.splitlines() if ln.strip().startswith("full ")]
    assert [int(parts[2]) for parts in lines] == [176, 320, 464]  # tokens: one section (144) more each time
    assert all(float(parts[4]) > 0 for parts in lines)  # a section allocates memory


def test_batched_sampling_script_runs_and_batching_keeps_results():
    out = _run(
        "batched_sampling.py",
        *(
            "--batch",
            "2",
            "--sections",
            "1",
            "--steps",
            "2",
            "--repeats",
            "1",
            "--variants",
            "vanilla,inverted",
        ),
    )
    lines = [ln for ln in out.splitlines() if "max |frame difference|" in ln]
    assert len(lines) == 2
    assert all(int(ln.rsplit(" ", 1)[1]) <= 1 for ln in lines)  # batched == per-video up to rounding


def test_batched_sampling_rejects_unknown_variant():
    out = subprocess.run(
        [sys.executable, str(BENCH / "batched_sampling.py"), "--variants", "vanila", "--no-write"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode != 0
    assert "unknown variants ['vanila']" in out.stderr and "accepted: vanilla" in out.stderr


def test_precision_script_runs_and_float32_reproduces_its_reference():
    out = _run(
        "precision_compile.py",
        *(
            "--batch",
            "1",
            "--sections",
            "1",
            "--steps",
            "2",
            "--repeats",
            "1",
            "--modes",
            "float32,bf16-autocast",
        ),
    )
    rows = {ln.split()[0]: ln for ln in out.splitlines() if "ms/section" in ln}
    assert set(rows) == {"float32", "bf16-autocast"}
    # the timed float32 run is the FLOP-counted reference run again: same seeds, same latents
    assert "max |latent - float32| 0," in rows["float32"]
    assert "max |latent - float32| 0," not in rows["bf16-autocast"]  # bf16 really changes the arithmetic


def test_the_full_size_gpu_benchmark_runs_its_code_path_on_a_tiny_cpu_config():
    script = BENCH / "full_size.py"
    args = [
        "--config",
        "smoke",
        "--device",
        "cpu",
        "--steps",
        "1",
        "--repeats",
        "1",
        "--long",
        "3",
        "--no-write",
    ]
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "inverted: diffusers" in result.stdout and "vanilla: diffusers" in result.stdout
    assert "long inverted video: section 2" in result.stdout


def test_the_timing_harness_interleaves_checks_outputs_and_bounds_the_ratio():
    from harness import Comparison, compare

    calls = []
    result = compare(lambda: calls.append("a") or 1, lambda: calls.append("b") or 1, rounds=4, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then alternating order
    assert len(result.a) == len(result.b) == 4
    with pytest.raises(AssertionError, match="arms disagree"):

        def disagree(x, y):
            assert x == y, "arms disagree"

        compare(lambda: 1, lambda: 2, rounds=1, check=disagree)
    fixed = Comparison([2.0, 2.2, 1.8, 2.0, 2.1], [1.0, 1.0, 1.0, 1.0, 1.0], ("x", "y"))
    med, low, high = fixed.ratio_interval()
    assert med == 2.0 and 1.8 <= low <= med <= high <= 2.2
    assert "x / y = 2.000" in fixed.summary()


def test_votes_survive_kill_9_of_the_server_mid_stream():
    """The HTTP load test's code path, small: clients retry until acknowledged while the server is
    killed with SIGKILL and restarted; every vote is stored exactly once (the script asserts it)."""
    script = BENCH / "vote_store.py"
    args = ["--clients", "2", "--votes", "30", "--kills", "2", "--no-write"]
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "with 2 kill -9 + restarts; stored 60 (each exactly once)" in result.stdout


def test_causal_cache_script_runs_and_checks_both_arms_agree():
    out = _run("causal_cache.py", "--steps", "2", "--batch", "1", "--repeats", "2")
    assert "reused context keys/values" in out and "speed-up:" in out


def test_sampler_overhead_script_checks_both_arms_agree_before_timing():
    out = _run("sampler_overhead.py", "--sections", "2", "--steps", "2", "--repeats", "2")
    assert "outputs equal within 1e-05" in out and "fpeval / diffusers = " in out


def test_main_job_counts_cpu_attention_and_every_row(tmp_path):
    import torch
    import torch.nn.functional as F
    import yaml
    from main_job import grid_flops  # registers the CPU attention formula
    from torch.utils.flop_counter import FlopCounterMode

    q, k, v = torch.randn(2, 4, 50, 16), torch.randn(2, 4, 70, 16), torch.randn(2, 4, 70, 16)
    with FlopCounterMode(display=False) as counter:
        F.scaled_dot_product_attention(q, k, v)
    assert counter.get_total_flops() == 2 * (2 * 2 * 4 * 50 * 70 * 16)  # QK^T and PV
    config = dict(
        name="tiny",
        model="mini-v2",
        samples=dict(heldout=3, seeds=[0]),
        sections=1,
        sampler=dict(steps=2, shift=3.0, solver="unipc"),
        rows=[dict(name="a", variant="vanilla"), dict(name="b", variant="inverted")],
    )
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    rows = grid_flops(path)
    assert [r["row"] for r in rows] == ["a", "b"]
    assert all(r["sampling"] > 0 and r["decoding"] > 0 for r in rows)
    # three videos per row: the decoder's FLOPs are three times one video's 10 frames
    assert rows[0]["decoding"] == rows[1]["decoding"] and rows[0]["decoding"] % 3 == 0


def test_main_job_phases_read_each_phase_once_from_a_real_profile(tmp_path):
    """The breakdown takes each phase's outermost cumulative time: decoding is the backend's decode, not
    also the autoencoder's own decode inside it; a phase that did not run counts 0."""
    import cProfile
    import pstats

    from main_job import PHASES, phases

    import metrics
    from fpeval.generation.generate import generate
    from fpeval.models import load
    from fpeval.runs.runner import start_image

    backend = load("mini-v2")
    profile = cProfile.Profile()
    profile.enable()
    out = generate(backend, "vanilla", [start_image("heldout:0")], sections=1, seeds=[0], steps=2)
    metrics.compute(out.frames[0], ["clarity_laplacian"], fps=backend.fps)
    profile.disable()
    profile.dump_stats(tmp_path / "p.prof")
    total, spent = phases(tmp_path / "p.prof")
    seconds = dict(spent)
    assert [label for label, _ in spent] == [label for label, _, _ in PHASES]
    sampling, decoding, scoring = (seconds[PHASES[i][0]] for i in (2, 3, 4))
    assert sampling > 0 and decoding > 0 and scoring > 0
    assert seconds[PHASES[5][0]] == 0 and seconds[PHASES[6][0]] == 0  # no MP4, no report
    assert total >= max(sampling, decoding, scoring)  # total: the longest call in the profile
    generate_seconds = next(
        ct
        for (file, _, func), (*_, ct, _) in pstats.Stats(str(tmp_path / "p.prof")).stats.items()
        if func == "generate" and file.endswith("fpeval/generation/generate.py")
    )
    assert sampling + decoding <= generate_seconds  # a decode counted twice would not fit
