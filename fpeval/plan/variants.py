"""Sampling variants as inspectable plans: for a video of N sections, the ordered generation steps.

A variant is a sampling order and a history policy; its schedule (``fpeval.plan.schedule``) says which
context is packed. Every step names the latent frames it generates and, for each context group, the
kernel, the RoPE indices and where the frames come from. Frames are addressed on the video's latent
timeline: index 0 is the start image, section j covers ``1 + j*S ... (j+1)*S`` (S = section length),
index ``1 + N*S`` is an optional end image, and any index outside what is known reads as zeros, as in
the official loops (which pad history with zero latents).

Backends never re-implement this: they receive the materialised groups of each step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fpeval.plan.schedule import Direction, Gap, Role, Run, Schedule, Section, Tail, layout, parse

ZERO = None  # a frame that reads as zeros


@dataclass(frozen=True)
class ContextSpec:
    """One context group of a step: ``frames`` (timeline indices, None = zeros) at ``kernel``, placed at ``rope``."""

    role: str
    kernel: int
    frames: tuple[int | None, ...]
    rope: tuple[int, ...]
    tail: str | None = None  # "ta" / "tc" for a tail group


@dataclass(frozen=True)
class Step:
    """One generation step: the timeline frames it generates, their RoPE indices, and its context."""

    index: int
    section: tuple[int, ...]
    section_rope: tuple[int, ...]
    context: tuple[ContextSpec, ...]


@dataclass(frozen=True)
class Plan:
    variant: str
    schedule: str
    sections: int
    section_frames: int
    total_frames: int  # latent frames of the finished video, the start image included
    steps: tuple[Step, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class Order(str, Enum):
    """The order a variant generates its sections in."""

    FORWARD = "forward"  # start to end
    INVERTED = "inverted"  # end to start (inverted anti-drifting)
    ENDPOINT = "endpoint"  # the first and the last section first, then forward (endpoint anti-drifting)
    REPEAT = "repeat"  # forward, each section a fresh image-to-video run from the last frame so far

    def __str__(self) -> str:
        return self.value


ORDERS = tuple(o.value for o in Order)


class VariantConfig(BaseModel):
    """A sampling variant with its parameters. ``name`` is a stable key of ``VARIANTS``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    schedule: str
    order: Order
    discrete: bool = False
    sigma_test: float = 0.0
    history_guidance: float = 1.0
    causal: bool = Field(
        default=False,
        description="needs a model fine-tuned with block-causal attention over time (Table 2's causal row)",
    )

    @field_validator("order", mode="before")
    @classmethod
    def _known_order(cls, v):
        if v not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}; got {v!r}")
        return v

    @field_validator("schedule")
    @classmethod
    def _schedule_parses(cls, v: str) -> str:
        parse(v)
        return v

    @field_validator("sigma_test")
    @classmethod
    def _sigma_in_range(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"sigma_test must be in [0, 1], got {v}")
        return v

    @field_validator("history_guidance")
    @classmethod
    def _guidance_positive(cls, v: float) -> float:
        if v < 1.0:
            raise ValueError(f"history_guidance must be >= 1 (1 = off), got {v}")
        return v

    @model_validator(mode="after")
    def _schedule_fits_order(self) -> VariantConfig:
        parsed = parse(self.schedule)
        want = Direction.INVERTED if self.order is Order.INVERTED else Direction.FORWARD
        if parsed.direction is not want:
            raise ValueError(
                f"variant {self.name!r} samples {self.order} but schedule {self.schedule} is {parsed.direction.value}"
            )
        has_endpoint = any(r.role is Role.ENDPOINT for r in parsed.runs)
        if (self.order == "endpoint") != has_endpoint:
            raise ValueError(
                f"variant {self.name!r}: endpoint sampling needs exactly a schedule with an endpoint ('..._gN_x_f1k1'); "
                f"got {self.schedule}"
            )
        if parsed.discrete and not self.discrete:
            object.__setattr__(self, "discrete", True)
        return self

    @property
    def plan_schedule(self) -> Schedule:
        return parse(self.schedule)

    @property
    def label(self) -> str:
        """A stable, parameter-bearing name for tables: e.g. ``df(sigma_test=0.1)``."""
        extra = []
        if self.name.startswith("df"):
            extra.append(f"sigma_test={self.sigma_test:g}")
        if self.name.startswith("history_guidance"):
            extra.append(f"scale={self.history_guidance:g}")
        return self.name + (f"({', '.join(extra)})" if extra else "")


VANILLA_F1 = "f1k1_td_f16k4f2k2f1k1_g9"
INVERTED = "f1k1_x_g9_f1k1f2k2f16k4_td"
ENDPOINT = "td_f16k4f4k2f1k1_g9_x_f1k1"

VARIANTS: dict[str, dict] = {
    "vanilla": dict(schedule=VANILLA_F1, order="forward"),
    "anchor": dict(schedule=VANILLA_F1, order="forward"),
    "inverted": dict(schedule=INVERTED, order="inverted"),
    "endpoint": dict(schedule=ENDPOINT, order="endpoint"),
    "vanilla+D": dict(schedule=VANILLA_F1, order="forward", discrete=True),
    "df": dict(schedule=VANILLA_F1, order="forward", sigma_test=0.1),
    # the paper's reading of history guidance: history denoising is delayed (on the conditional side the
    # history carries noise sigma_test x sigma, removed along with the section's) and the unconditional
    # side of CFG sees fully-noised history
    "history_guidance": dict(schedule=VANILLA_F1, order="forward", history_guidance=1.5, sigma_test=0.1),
    # every section is a fresh image-to-video run whose start image is the previous section's last frame
    "repeat_i2v": dict(schedule=VANILLA_F1, order="repeat"),
    # Table 2's "causal attention (like CausVid)": vanilla sampling on a model whose frames attend only
    # to the context and earlier frames; the mask lives in the model, so the variant only demands one
    "causal": dict(schedule=VANILLA_F1, order="forward", causal=True),
}


def variant(name: str, **overrides) -> VariantConfig:
    """The config of a named variant, with optional overrides (schedule, sigma_test, ...)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; accepted: {', '.join(VARIANTS)}")
    return VariantConfig(name=name, **{**VARIANTS[name], **overrides})


def inverted_paddings(sections: int) -> list[int]:
    """The official inverted loop's latent paddings: [N-1, ..., 0], or [3, 2, ..., 2, 1, 0] for N > 4."""
    if sections > 4:
        return [3] + [2] * (sections - 3) + [1, 0]
    return list(reversed(range(sections)))


def _section_frames(j: int, s: int) -> tuple[int, ...]:
    return tuple(range(1 + j * s, 1 + (j + 1) * s))


def _history_specs(run: Run, placements, frames: list[int | None]) -> list[ContextSpec]:
    """Split ``frames`` (in name order) over the run's segments, paired with their layout placements."""
    specs, at = [], 0
    for seg, place in zip(run.segments, placements, strict=True):
        specs.append(
            ContextSpec(run.role.value, seg.kernel, tuple(frames[at : at + seg.frames]), place.indices)
        )
        at += seg.frames
    return specs


def _known(t: int, known: set[int]) -> int | None:
    return t if t in known else ZERO


def _step(
    schedule: Schedule,
    index: int,
    section: tuple[int, ...],
    history_frames: list[int],
    tail_frames: list[int],
    anchor_frames: dict[int, list[int]],
    gaps: list[int],
    known: set[int],
    extra_section: tuple[int, ...] = (),
) -> Step:
    """Materialise one step's specs from the schedule's layout (RoPE) and timeline frames."""
    n_tail = len(tail_frames) if schedule.tail in ("ta", "tc") else 0
    places = layout(schedule, gaps=gaps, tail_frames=n_tail)
    history = schedule.history
    specs: list[ContextSpec] = []
    section_rope: tuple[int, ...] = ()
    extra_rope: tuple[int, ...] = ()
    p = 0
    anchor_no = 0
    for part in schedule.parts:
        if isinstance(part, Run):
            segs = places[p : p + len(part.segments)]
            p += len(part.segments)
            if part is history:
                specs += _history_specs(part, segs, [_known(t, known) for t in history_frames])
            elif extra_section and part.role is Role.ENDPOINT:
                # the first endpoint step generates the end section where the endpoint will sit
                start = segs[0].indices[0]
                extra_rope = tuple(range(start, start + len(extra_section)))
            else:
                frames = anchor_frames[anchor_no]
                specs += _history_specs(part, segs, [_known(t, known) for t in frames])
            if part is not history:
                anchor_no += 1
        elif isinstance(part, Tail):
            place = places[p]
            p += 1
            if n_tail:
                frames = tuple(_known(t, known) for t in tail_frames)
                specs.append(
                    ContextSpec("tail", max(schedule.kernels), frames, place.indices, tail=part.option)
                )
        elif isinstance(part, Section):
            section_rope = places[p].indices
            p += 1
    return Step(index, section + extra_section, section_rope + extra_rope, tuple(specs))


def make_plan(config: VariantConfig | str, sections: int, end_image: bool = False) -> Plan:
    """The ordered generation steps of ``config`` for a video of ``sections`` sections."""
    config = variant(config) if isinstance(config, str) else config
    if not isinstance(sections, int) or isinstance(sections, bool) or sections < 1:
        raise ValueError(f"sections must be an integer >= 1, got {sections!r}")
    if end_image and config.order != "inverted":
        raise ValueError(f"an end image is only used by inverted sampling, not by {config.name!r}")
    schedule = config.plan_schedule
    s = schedule.section.frames
    n = sections
    total = 1 + n * s
    end_slot = total  # where an end image sits on the timeline
    capacity = schedule.history_capacity
    anchors = schedule.anchors
    known: set[int] = {0} | ({end_slot} if end_image else set())
    steps: list[Step] = []

    def start_frames(run: Run) -> list[int]:
        return list(range(run.frames))

    if config.order in ("forward", "endpoint", "repeat"):
        order = list(range(n))
        if config.order == "endpoint" and n >= 2:
            order = [0] + list(range(1, n - 1))  # step 0 also makes the last section
        for k, j in enumerate(order):
            sec = _section_frames(j, s)
            first = sec[0]
            # repeat: the previous section's last frame is the only thing this section may see
            step_known = {first - 1} if config.order == "repeat" else known
            history_frames = list(range(first - capacity, first))
            tail = list(range(0, first - capacity)) if first - capacity > 0 else []
            anchor_frames: dict[int, list[int]] = {}
            gaps: list[int] = []
            for a, run in enumerate(anchors):
                if run.role is Role.START_FRAME:
                    anchor_frames[a] = (
                        [first - 1] * run.frames if config.order == "repeat" else start_frames(run)
                    )
                    oldest = first - capacity - (len(tail) if schedule.tail in ("ta", "tc") else 0)
                    gap = max(0, oldest - run.frames)
                else:  # endpoint: the first frames of the last section
                    end_sec = _section_frames(n - 1, s)
                    anchor_frames[a] = list(end_sec[: run.frames])
                    gap = max(0, end_sec[0] - (sec[-1] + 1))
                gaps.append(gap)
            gaps = _gaps_in_name_order(schedule, gaps)
            extra = _section_frames(n - 1, s) if (config.order == "endpoint" and k == 0 and n >= 2) else ()
            steps.append(
                _step(schedule, k, sec, history_frames, tail, anchor_frames, gaps, step_known, extra)
            )
            known |= set(sec) | set(extra)
    else:
        paddings = inverted_paddings(n)
        for k in range(n):
            j = n - 1 - k
            sec = _section_frames(j, s)
            after = sec[-1] + 1
            history_frames = list(range(after, after + capacity))
            tail = list(range(after + capacity, end_slot))
            anchor_frames = {a: start_frames(run) for a, run in enumerate(anchors)}
            gaps = [paddings[k] * s] * sum(isinstance(q, Gap) for q in schedule.parts)
            steps.append(_step(schedule, k, sec, history_frames, tail, anchor_frames, gaps, known))
            # as in the official loop, the end image is the first step's k1 history only
            known = (known - {end_slot}) | set(sec)
    return Plan(config.label, str(schedule), n, s, total, tuple(steps))


def _gaps_in_name_order(schedule: Schedule, anchor_gaps: list[int]) -> list[int]:
    """The length of every 'x' in name order: the gap of the anchor run on its far side from ``gN``."""
    runs = [i for i, q in enumerate(schedule.parts) if isinstance(q, Run)]
    anchor_index = {id(r): a for a, r in enumerate(schedule.anchors)}
    g = schedule.parts.index(schedule.section)
    gaps = []
    for i, part in enumerate(schedule.parts):
        if isinstance(part, Gap):
            beyond = max(r for r in runs if r < i) if i < g else min(r for r in runs if r > i)
            gaps.append(anchor_gaps[anchor_index[id(schedule.parts[beyond])]])
    return gaps
