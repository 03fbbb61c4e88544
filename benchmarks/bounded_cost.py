"""Per-section time and peak memory vs section index: packed FramePack context vs full (unpacked) history.

FramePack's claim is that the packed context has a fixed token budget, so every section costs the
same however long the video already is. On the shipped FramePack-mini this script times one
section (the full sampler: ``--steps`` model calls) at section indices up to 60 for

- ``td``  the default vanilla schedule ``f1k1_td_f16k4f2k2f1k1_g9`` (tail deleted),
- ``tc``  the same schedule with the tail compressed to one frame,
- ``ta``  the same schedule with every tail frame appended as one token (grows slowly, by design),
- ``full`` a baseline without packing: the start frame plus every earlier frame at k1,

interleaving indices and modes over ``--repeats`` rounds and reporting medians. Peak memory of a
section is the extra memory allocated at its peak (CPU: torch.profiler's memory timeline; CUDA:
``max_memory_allocated``). The claim itself, packed section 60 / section 2 <= 1.05, is measured
with the shared harness (``benchmarks/harness.py``): the two sections timed back to back in
alternating order over ``--rounds`` rounds, the median ratio with a bootstrap 95 % interval; a
section's cost includes building its context from the timeline, not building the plan.

    python benchmarks/bounded_cost.py [--device cpu|cuda] [--sections 60] [--steps 4] [--repeats 3] [--rounds 60]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import compare  # noqa: E402
from report import ROOT, add_run_args, command, machine, wall_time, write_section  # noqa: E402

from fpeval.models import load  # noqa: E402
from fpeval.models.mini import MiniCondition  # noqa: E402
from fpeval.plan.packing import ContextGroup  # noqa: E402
from fpeval.plan.variants import make_plan, variant  # noqa: E402
from fpeval.sampling.engine import SectionContext, materialise  # noqa: E402
from fpeval.sampling.sampler import flow_sigmas, sample  # noqa: E402

SCHEDULE = "f1k1_{tail}_f16k4f2k2f1k1_g9"
MODES = ("td", "tc", "ta", "full")
FIGURE = ROOT / "benchmarks" / "figures"


@functools.cache
def _plan(tail: str, sections: int):
    return make_plan(variant("vanilla", schedule=SCHEDULE.format(tail=tail)), sections)


def section_context(
    mode: str, section: int, sections: int, timeline: torch.Tensor, memo: dict | None = None
) -> SectionContext:
    """The context of 1-based ``section`` in a ``sections``-long vanilla video, packed or full (the
    plan is built once per schedule; materialising the context is part of the section's cost).
    ``memo``: the generation run's state before this section (the running ``tc`` tail sum)."""
    step = _plan("td" if mode == "full" else mode, sections).steps[section - 1]
    if mode != "full":
        return materialise(step, timeline, memo)
    past = list(range(1, step.section[0]))
    groups = [ContextGroup(timeline[:, :, :1], torch.tensor([0]), 1, "start_frame")]
    if past:
        groups.append(ContextGroup(timeline[:, :, past], torch.tensor(past), 1, "past_history"))
    return SectionContext(torch.tensor(step.section), groups)


class Bench:
    """The shipped model, a random latent timeline and the sampler for one section."""

    def __init__(self, device: str, sections: int, steps: int):
        torch.manual_seed(0)
        self.device, self.sections, self.steps = device, sections, steps
        self.model = "mini-v2"
        self.den = load(self.model, device=device).denoiser
        plan = make_plan(variant("vanilla"), sections)
        self.section_frames = plan.section_frames
        self.size = 4 * self.den.config.patch_size  # latent side: 4 k1 patches, 16 tokens a frame
        self.timeline = torch.randn(1, 8, plan.total_frames, self.size, self.size, device=device)
        self.cond = MiniCondition(self.timeline[:, :, :1])
        self.sigmas = flow_sigmas(steps, 3.0)

    def tokens(self, ctx: SectionContext) -> int:
        x = torch.zeros(1, 8, self.section_frames, self.size, self.size, device=self.device)
        packed = self.den.embed(x, ctx.section_indices, ctx.groups, ctx.tail)
        return int(packed.tokens.shape[1]) + 16  # + the start-image tokens

    @torch.no_grad()
    def run_section(self, ctx: SectionContext) -> None:
        g = torch.Generator(self.device).manual_seed(0)
        x = torch.randn(1, 8, self.section_frames, self.size, self.size, generator=g, device=self.device)
        return sample(lambda xt, s: self.den(xt, s, ctx, self.cond), x, self.sigmas, "unipc")

    def timed(self, mode: str, section: int) -> float:
        # building the context is part of a section's cost
        return wall_time(lambda: self.section(mode, section), self.device)[0]

    def section(self, mode: str, section: int) -> torch.Tensor:
        """One section, context building included, from the state a run has when it reaches it."""
        memo = dict(self.primed(mode, section))  # a fresh copy: materialise updates it
        return self.run_section(section_context(mode, section, self.sections, self.timeline, memo))

    @functools.cache  # noqa: B019 (one Bench per run)
    def primed(self, mode: str, section: int) -> dict:
        """The run state before ``section``: what materialising the previous section left (tc: the
        running tail sum), built outside the timer as a real run builds it one section earlier."""
        memo: dict = {}
        if mode != "full" and section >= 2:
            materialise(_plan(mode, self.sections).steps[section - 2], self.timeline, memo)
        return memo

    def ratio(self, mode: str, last: int, rounds: int):
        """Section ``last`` against section 2 of ``mode`` through the interleaved harness."""
        sync = torch.cuda.synchronize if self.device.startswith("cuda") else None
        return compare(
            lambda: self.section(mode, last),
            lambda: self.section(mode, 2),
            names=(f"{mode} section {last}", f"{mode} section 2"),
            rounds=rounds,
            warmup=2,
            sync=sync,
        )


def peak_memory(bench: Bench, mode: str, section: int) -> float:
    """Extra memory (MiB) allocated at the peak of one section, above what was allocated before it.

    CPU: the allocation timeline of ``torch.profiler`` (profile_memory); CUDA: ``max_memory_allocated``.
    """
    ctx = section_context(mode, section, bench.sections, bench.timeline)
    if bench.device.startswith("cuda"):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        bench.run_section(ctx)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with profile(
        activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
    ) as prof:
        bench.run_section(ctx)
    with tempfile.TemporaryDirectory() as tmp:
        prof.export_memory_timeline(f"{tmp}/timeline.json", device="cpu")
        _, sizes = json.loads(Path(f"{tmp}/timeline.json").read_text())
    totals = [sum(s) for s in sizes]
    return (max(totals) - totals[0]) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(ap, sections=60, steps=4)
    ap.add_argument("--indices", default="1,2,5,10,20,30,40,50,60")
    ap.add_argument(
        "--rounds", type=int, default=60, help="interleaved rounds of the section-N / section-2 ratios"
    )
    ap.add_argument(
        "--figure",
        type=Path,
        help="plot path (default: benchmarks/figures/bounded_cost_<device>.png; with --no-write, no plot unless given)",
    )
    args = ap.parse_args()

    indices = [int(i) for i in args.indices.split(",") if int(i) <= args.sections]
    bench = Bench(args.device, args.sections, args.steps)
    for mode in MODES:  # warm-up
        bench.timed(mode, 2)
    times: dict[tuple[str, int], list[float]] = {(m, i): [] for m in MODES for i in indices}
    for r in range(args.repeats):
        for i in indices if r % 2 == 0 else reversed(indices):
            for mode in MODES:
                times[mode, i].append(bench.timed(mode, i))
        print(f"round {r + 1}/{args.repeats} done", flush=True)
    rows = []
    for (mode, i), ts in times.items():
        ctx = section_context(mode, i, args.sections, bench.timeline)
        rows.append(
            dict(
                mode=mode,
                section=i,
                tokens=bench.tokens(ctx),
                seconds=statistics.median(ts),
                peak_mib=peak_memory(bench, mode, i),
            )
        )
    df = pd.DataFrame(rows)

    last = indices[-1]
    comparisons = (
        {m: bench.ratio(m, last, args.rounds) for m in ("td", "tc")} if 2 in indices and last > 2 else {}
    )
    print(df.to_string(index=False))
    verdicts = {}
    for mode, cmp in comparisons.items():
        med, low, high = cmp.ratio_interval()
        verdicts[mode] = (med, low, high, "met" if high <= 1.05 else "not met")
        print(f"{mode}: section {last} / section 2 = {med:.3f} [{low:.3f}, {high:.3f}] ({cmp.summary()})")

    fig_path = args.figure or FIGURE / f"bounded_cost_{args.device.split(':')[0]}.png"
    if args.figure or not args.no_write:
        fig_path.parent.mkdir(parents=True, exist_ok=True)
        _plot(df, fig_path, args)
    if args.no_write:
        return
    _write(df, verdicts, indices, last, bench, fig_path, args)


def _write(
    df: pd.DataFrame, verdicts: dict, indices: list[int], last: int, bench, fig_path: Path, args
) -> None:
    """This benchmark's section of BENCHMARKS.md: the per-index table and the harness ratios."""
    cmd = command()
    table = [
        "| section | "
        + " | ".join(f"{m} time" for m in MODES)
        + " | "
        + " | ".join(f"{m} tokens" for m in MODES)
        + " | "
        + " | ".join(f"{m} peak MiB" for m in MODES)
        + " |",
        "| --- " * (1 + 3 * len(MODES)) + "|",
    ]
    for i in indices:
        sub = df[df.section == i].set_index("mode")
        table.append(
            f"| {i} | "
            + " | ".join(f"{sub.seconds[m]:.3f} s" for m in MODES)
            + " | "
            + " | ".join(str(sub.tokens[m]) for m in MODES)
            + " | "
            + " | ".join(f"{sub.peak_mib[m]:.1f}" for m in MODES)
            + " |"
        )
    ratio_line = "; ".join(
        f"{m}: **{med:.3f}** [{low:.3f}, {high:.3f}] ({verdict})"
        for m, (med, low, high, verdict) in verdicts.items()
    )
    write_section(
        f"Bounded per-section cost ({args.device.split(':')[0]})",
        f"FramePack-mini (`{bench.model}`, batch 1), one section of 9 latent frames = {args.steps} UniPC model calls; "
        f"the table: median of {args.repeats} interleaved rounds over indices and modes; peak memory: extra memory "
        f"allocated at the peak of one section ({'torch.profiler memory timeline' if args.device == 'cpu' else 'torch.cuda.max_memory_allocated'}). "
        "`td`/`tc`/`ta`: the default vanilla schedule with its three tail options; `full`: no packing, "
        "every earlier frame at k1.\n\n"
        f"Command: `{cmd}`  \nMachine: {machine(args.device)}\n\n"
        + "\n".join(table)
        + f"\n\nGoal: packed section {last} / section 2 <= 1.05 (upper end of the 95 % interval). Measured with "
        f"the interleaved harness over {args.rounds} rounds, baseline = section 2 of the same schedule: {ratio_line}.\n\n"
        f"![bounded cost](benchmarks/figures/{fig_path.name})",
    )


def _plot(df: pd.DataFrame, path: Path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for mode, sub in df.groupby("mode", sort=False):
        axes[0].plot(sub.section, sub.seconds, "o-", label=mode)
        axes[1].plot(sub.section, sub.tokens, "o-", label=mode)
        axes[2].plot(sub.section, sub.peak_mib, "o-", label=mode)
    axes[0].set(xlabel="section index", ylabel=f"seconds per section ({args.steps} steps)", yscale="log")
    axes[1].set(xlabel="section index", ylabel="tokens per model call", yscale="log")
    axes[2].set(xlabel="section index", ylabel="peak memory of a section (MiB)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"FramePack-mini per-section cost, {args.device}")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
