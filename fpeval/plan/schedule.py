"""The paper's schedule language: parse and print packing names such as ``f1k1_x_g9_f1k1f2k2f16k4_td``.

A schedule says *which* context a section sees and how hard each frame is compressed; a variant
(sampling order and policy) says where on the time axis the section sits at every step. The name is
read left to right along the RoPE time axis, oldest to newest:

* ``fNkM``  N latent frames encoded with kernel kM = (M, 2M, 2M) over (t, h, w) latents.
  Adjacent segments with no ``_`` between them form one *run*.
* ``gN``    the generated section: N noisy latent frames (exactly one).
* ``x``     a RoPE gap of any length >= 0, filled in by the variant.
* ``td`` / ``ta`` / ``tc``  what happens to history frames beyond the schedule (delete / append one
  token per frame / compress all into one frame at the largest kernel), written at the history run's
  far end.
* ``+D``    discrete history (codebook-quantised history latents), as a suffix.

Roles follow from position. The run touching ``gN`` is the history: *past* history when it precedes
``gN`` (forward sampling), *future* history when it follows (inverted sampling). Any other run before
``gN`` is a start frame (an anchor); any other run after ``gN`` is an endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

KERNELS: tuple[int, ...] = (1, 2, 4, 8, 16)
TAIL_OPTIONS: tuple[str, ...] = ("td", "ta", "tc")
DISCRETE_SUFFIX = "+D"

GRAMMAR = """\
schedule grammar (parts joined by '_', read oldest -> newest along the RoPE time axis):
  name     := part ('_' part)* ['+D']
  part     := run | 'gN' | 'x' | tail
  run      := segment+                 segment := 'f' N 'k' K
  tail     := 'td' | 'ta' | 'tc'       (at the far end of the history run)
  N        := positive integer without leading zeros
  K        := one of 1, 2, 4, 8, 16
rules: exactly one 'gN'; history is the run touching 'gN' (before it: forward, after it: inverted);
       other runs are a start frame (before 'gN') or an endpoint (after 'gN'); 'x' is a RoPE gap.
examples: td_f16k4f4k2f1k1_g9   td_f16k4f4k2f1k1_g9+D   td_f16k4f4k2f1k1_g9_x_f1k1
          f1k1_x_g9_f1k1f2k2f16k4_td   f1k1_td_f16k4f2k2f1k1_g9 (start frame kept as an anchor)"""


class Role(str, Enum):
    """What a context run is to the generated section."""

    PAST_HISTORY = "past_history"
    FUTURE_HISTORY = "future_history"
    START_FRAME = "start_frame"
    ENDPOINT = "endpoint"


class Direction(str, Enum):
    """Forward: history precedes the section. Inverted: history follows it (end -> start generation)."""

    FORWARD = "forward"
    INVERTED = "inverted"


@dataclass(frozen=True)
class Segment:
    """``fNkM``: N latent frames at kernel kM."""

    frames: int
    kernel: int

    def __str__(self) -> str:
        return f"f{self.frames}k{self.kernel}"


@dataclass(frozen=True)
class Run:
    """Adjacent segments sharing one role, oldest segment first."""

    segments: tuple[Segment, ...]
    role: Role

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    def __str__(self) -> str:
        return "".join(str(s) for s in self.segments)


@dataclass(frozen=True)
class Section:
    """``gN``: the N noisy latent frames being generated."""

    frames: int

    def __str__(self) -> str:
        return f"g{self.frames}"


@dataclass(frozen=True)
class Gap:
    """``x``: a RoPE gap whose length the variant chooses at each step."""

    def __str__(self) -> str:
        return "x"


@dataclass(frozen=True)
class Tail:
    """``td`` / ``ta`` / ``tc``: the policy for history frames beyond the schedule."""

    option: str

    def __str__(self) -> str:
        return self.option


Part = Run | Section | Gap | Tail


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule name. ``str(Schedule)`` gives the canonical name back."""

    parts: tuple[Part, ...]
    discrete: bool = False
    _section_index: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sections = [i for i, p in enumerate(self.parts) if isinstance(p, Section)]
        if len(sections) != 1:
            raise ValueError(f"a schedule needs exactly one gN part, got {len(sections)}")
        object.__setattr__(self, "_section_index", sections[0])

    def __str__(self) -> str:
        return "_".join(str(p) for p in self.parts) + (DISCRETE_SUFFIX if self.discrete else "")

    # -- structure -------------------------------------------------------------------------
    @property
    def section(self) -> Section:
        return self.parts[self._section_index]  # type: ignore[return-value]

    @property
    def runs(self) -> tuple[Run, ...]:
        return tuple(p for p in self.parts if isinstance(p, Run))

    @property
    def history(self) -> Run | None:
        """The history run (past or future), or None for a schedule without history."""
        for run in self.runs:
            if run.role in (Role.PAST_HISTORY, Role.FUTURE_HISTORY):
                return run
        return None

    @property
    def anchors(self) -> tuple[Run, ...]:
        """Start-frame and endpoint runs, in name order."""
        return tuple(r for r in self.runs if r.role in (Role.START_FRAME, Role.ENDPOINT))

    @property
    def tail(self) -> str | None:
        """The tail option as written, or None when the name has none (frames beyond are dropped)."""
        for p in self.parts:
            if isinstance(p, Tail):
                return p.option
        return None

    @property
    def direction(self) -> Direction:
        history = self.history
        if history is not None and history.role is Role.FUTURE_HISTORY:
            return Direction.INVERTED
        return Direction.FORWARD

    @property
    def history_capacity(self) -> int:
        """Number of history latent frames the schedule holds (beyond them is the tail)."""
        history = self.history
        return 0 if history is None else history.frames

    @property
    def kernels(self) -> tuple[int, ...]:
        """Distinct context kernels, largest first."""
        return tuple(sorted({s.kernel for r in self.runs for s in r.segments}, reverse=True))

    def with_tail(self, option: str | None) -> Schedule:
        """The same schedule with another tail option (None removes it)."""
        if option is not None and option not in TAIL_OPTIONS:
            raise ValueError(f"unknown tail option {option!r}; accepted: {', '.join(TAIL_OPTIONS)}")
        history = self.history
        if history is None:
            raise ValueError(f"schedule {self} has no history run, so it takes no tail option")
        parts = [p for p in self.parts if not isinstance(p, Tail)]
        if option is not None:
            h = parts.index(history)
            at = h if history.role is Role.PAST_HISTORY else h + 1
            parts.insert(at, Tail(option))
        return Schedule(tuple(parts), self.discrete)

    def explain(self) -> str:
        """A human-readable breakdown, one line per part."""
        lines = [
            f"schedule   {self}",
            f"direction  {self.direction.value} "
            + (
                "(history precedes the section)"
                if self.direction is Direction.FORWARD
                else "(history follows the section; generation runs end -> start)"
            ),
            f"section    g{self.section.frames}: {self.section.frames} noisy latent frames",
        ]
        for p in self.parts:
            if isinstance(p, Run):
                for s in p.segments:
                    lines.append(
                        f"  {str(s):<9} {p.role.value:<15} {s.frames:>3} frame(s) at k{s.kernel} "
                        f"(kernel {s.kernel}x{2 * s.kernel}x{2 * s.kernel} over t,h,w latents)"
                    )
            elif isinstance(p, Section):
                lines.append(f"  {str(p):<9} {'section':<15} {p.frames:>3} noisy frame(s), read out")
            elif isinstance(p, Gap):
                lines.append(f"  {'x':<9} {'gap':<15} RoPE gap, length set by the variant at each step")
            else:
                lines.append(f"  {str(p):<9} {'tail':<15} {TAIL_MEANING[p.option]}")
        if self.history is not None and self.tail is None:
            lines.append("  (no tail option written: frames beyond the schedule are dropped, as td)")
        lines.append(f"history    {self.history_capacity} latent frame(s) held")
        lines.append(
            "discrete   " + ("yes (+D: history replaced by codebook centroids)" if self.discrete else "no")
        )
        return "\n".join(lines)


TAIL_MEANING = {
    "td": "frames beyond the schedule are deleted",
    "ta": "each frame beyond the schedule adds one token (pooled to one patch)",
    "tc": "frames beyond the schedule are averaged into one frame at the largest kernel",
}

# The paper's row names and the layouts of the released code, for tables and figures.
PAPER_SCHEDULES: dict[str, str] = {
    "vanilla": "td_f16k4f4k2f1k1_g9",
    "vanilla+D": "td_f16k4f4k2f1k1_g9+D",
    "endpoint": "td_f16k4f4k2f1k1_g9_x_f1k1",
    "inverted": "f1k1_x_g9_f1k1f2k2f16k4_td",
    "f1": "f1k1_td_f16k4f2k2f1k1_g9",
    "ladder_f16k4f2k2f1k1": "td_f16k4f2k2f1k1_g9",
    "ladder_f8k8f4k4f2k2f1k1": "td_f8k8f4k4f2k2f1k1_g9",
}

_SEGMENT = re.compile(r"f([0-9]+)k([0-9]+)")
_SECTION = re.compile(r"g([0-9]+)")


def _error(name: str, pos: int, token: str, problem: str) -> ValueError:
    return ValueError(f"invalid schedule {name!r}: {problem} (token {token!r} at position {pos})\n{GRAMMAR}")


def _number(name: str, pos: int, token: str, digits: str, what: str) -> int:
    if len(digits) > 1 and digits[0] == "0":
        raise _error(name, pos, token, f"{what} {digits!r} has a leading zero")
    value = int(digits)
    if value <= 0:
        raise _error(name, pos, token, f"{what} must be >= 1, got {value}")
    return value


def _tokens(name: str, body: str) -> Iterator[tuple[int, str]]:
    pos = 0
    for tok in body.split("_"):
        yield pos, tok
        pos += len(tok) + 1


def _parse_segments(name: str, pos: int, tok: str) -> tuple[Segment, ...]:
    segments = []
    at = 0
    while at < len(tok):
        m = _SEGMENT.match(tok, at)
        if m is None:
            raise _error(
                name, pos + at, tok, f"expected 'fNkK', 'gN', 'x' or a tail option, found {tok[at:]!r}"
            )
        frames = _number(name, pos + at, tok, m.group(1), "frame count")
        digits = m.group(2)
        if digits not in {str(k) for k in KERNELS}:
            raise _error(
                name,
                pos + at,
                tok,
                f"unknown kernel k{digits}; accepted: {', '.join(f'k{k}' for k in KERNELS)}",
            )
        segments.append(Segment(frames, int(digits)))
        at = m.end()
    return tuple(segments)


def parse(name: str) -> Schedule:
    """Parse a schedule name; raise ``ValueError`` naming the offending token and position."""
    if not isinstance(name, str):
        raise ValueError(f"a schedule name must be a string, got {type(name).__name__}")
    if not name:
        raise ValueError(f"invalid schedule '': empty name\n{GRAMMAR}")
    discrete = name.endswith(DISCRETE_SUFFIX)
    body = name[: -len(DISCRETE_SUFFIX)] if discrete else name

    raw: list[tuple[int, str, object]] = []  # (position, token, parsed value or segments)
    for pos, tok in _tokens(name, body):
        if tok == "":
            raise _error(name, pos, tok, "empty part (doubled, leading or trailing '_')")
        if tok == "x":
            raw.append((pos, tok, Gap()))
        elif tok in TAIL_OPTIONS:
            raw.append((pos, tok, Tail(tok)))
        elif tok[0] == "g":
            m = _SECTION.fullmatch(tok)
            if m is None:
                raise _error(name, pos, tok, "a section is written 'gN' with N a positive integer")
            raw.append((pos, tok, Section(_number(name, pos, tok, m.group(1), "section length"))))
        elif tok[0] == "t":
            raise _error(name, pos, tok, f"unknown tail option; accepted: {', '.join(TAIL_OPTIONS)}")
        else:
            raw.append((pos, tok, _parse_segments(name, pos, tok)))

    sections = [i for i, (_, _, v) in enumerate(raw) if isinstance(v, Section)]
    if not sections:
        raise _error(name, len(name), "", "missing the generated section 'gN'")
    if len(sections) > 1:
        pos, tok, _ = raw[sections[1]]
        raise _error(name, pos, tok, "more than one generated section 'gN'")
    g = sections[0]

    roles: dict[int, Role] = {}
    before = list(range(g - 1, -1, -1))  # walking outward from gN
    after = list(range(g + 1, len(raw)))
    history_side = None
    for side, order in (("before", before), ("after", after)):
        history_role = Role.PAST_HISTORY if side == "before" else Role.FUTURE_HISTORY
        anchor_role = Role.START_FRAME if side == "before" else Role.ENDPOINT
        previous: str | None = None  # kind of the part just inside (toward gN)
        for step, i in enumerate(order):
            pos, tok, value = raw[i]
            if isinstance(value, Gap):
                if previous == "gap":
                    raise _error(name, pos, tok, "two gaps in a row")
                previous = "gap"
            elif isinstance(value, Tail):
                if previous != "history":
                    raise _error(
                        name,
                        pos,
                        tok,
                        "a tail option must sit at the far end of the history run (next to it)",
                    )
                previous = "tail"
            else:
                if step == 0:
                    if history_side is not None:
                        raise _error(
                            name, pos, tok, "history on both sides of 'gN'; separate an endpoint with '_x_'"
                        )
                    history_side = side
                    roles[i] = history_role
                    previous = "history"
                else:
                    roles[i] = anchor_role
                    previous = "anchor"
        if previous == "gap":
            pos, tok, _ = raw[order[-1]]
            raise _error(name, pos, tok, "a gap 'x' must have frames beyond it")

    parts: list[Part] = []
    for i, (_, _, value) in enumerate(raw):
        parts.append(Run(value, roles[i]) if isinstance(value, tuple) else value)  # type: ignore[arg-type]
    return Schedule(tuple(parts), discrete)


def build(
    history: Sequence[tuple[int, int]] = (),
    *,
    section: int = 9,
    direction: Direction | str = Direction.FORWARD,
    tail: str | None = "td",
    start_frame: bool = False,
    start_gap: bool = True,
    endpoint: bool = False,
    discrete: bool = False,
) -> Schedule:
    """Assemble a schedule from (frames, kernel) pairs listed oldest -> newest, as in the name."""
    direction = Direction(direction)
    parts: list[str] = []
    hist = "".join(f"f{n}k{k}" for n, k in history)
    if direction is Direction.FORWARD:
        if start_frame:
            parts += ["f1k1"] + (["x"] if start_gap else [])
        if hist:
            parts += ([tail] if tail else []) + [hist]
        parts.append(f"g{section}")
        if endpoint:
            parts += ["x", "f1k1"]
    else:
        if start_frame:
            parts += ["f1k1"] + (["x"] if start_gap else [])
        parts.append(f"g{section}")
        if hist:
            parts += [hist] + ([tail] if tail else [])
    return parse("_".join(parts) + (DISCRETE_SUFFIX if discrete else ""))


@dataclass(frozen=True)
class Placement:
    """One group on the RoPE time axis: what it is, its kernel and the frame indices it occupies."""

    role: str  # a Role value, "section" or "tail"
    label: str  # "f16k4", "g9", "td"/"ta"/"tc"
    kernel: int  # 1 for the section
    indices: tuple[int, ...]


def layout(schedule: Schedule | str, gaps: int | Sequence[int] = 0, tail_frames: int = 0) -> list[Placement]:
    """Place every part on the RoPE time axis, oldest first, starting at index 0.

    ``gaps`` gives the length of each ``x`` in name order (one int is used for all of them);
    ``tail_frames`` is how many history frames lie beyond the schedule (they take indices only with
    ``ta`` / ``tc``; ``td`` deletes them, so the history stays contiguous).
    """
    plan = parse(schedule) if isinstance(schedule, str) else schedule
    n_gaps = sum(isinstance(p, Gap) for p in plan.parts)
    gap_list = [gaps] * n_gaps if isinstance(gaps, int) else list(gaps)
    if len(gap_list) != n_gaps:
        raise ValueError(
            f"schedule {plan} has {n_gaps} gap(s) 'x' but {len(gap_list)} gap length(s) were given"
        )
    if any(g < 0 for g in gap_list) or tail_frames < 0:
        raise ValueError(
            f"gap lengths and tail_frames must be >= 0, got gaps={gap_list}, tail_frames={tail_frames}"
        )
    placements: list[Placement] = []
    cursor = 0
    gap_iter = iter(gap_list)
    for part in plan.parts:
        if isinstance(part, Gap):
            cursor += next(gap_iter)
        elif isinstance(part, Tail):
            n = tail_frames if part.option != "td" else 0
            placements.append(Placement("tail", part.option, 0, tuple(range(cursor, cursor + n))))
            cursor += n
        elif isinstance(part, Section):
            placements.append(Placement("section", str(part), 1, tuple(range(cursor, cursor + part.frames))))
            cursor += part.frames
        else:
            for seg in part.segments:
                placements.append(
                    Placement(
                        part.role.value, str(seg), seg.kernel, tuple(range(cursor, cursor + seg.frames))
                    )
                )
                cursor += seg.frames
    return placements
