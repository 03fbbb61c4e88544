"""Ablation grids: rows (model, schedule, variant, params) x samples (start images x seeds) x video length.

A grid is a YAML file validated by pydantic. ``expand`` turns it into items, one per video, each
keyed by its content (row, sample, sampler, length and the model's weights), so a run can tell
finished work from unfinished work. ``check`` finds every problem a grid has before any work starts.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from fpeval.plan.variants import VARIANTS, VariantConfig, make_plan, variant
from fpeval.sampling.sampler import SOLVERS

# Bounds a grid is checked against before any work (a typo such as sections: 100000000 would otherwise
# run for hours and fill the disk). Seeds stay below 2**32 so every sampling seed fits torch's generator.
MAX_SECTIONS = 500
MAX_HELDOUT = 10_000
MAX_SEED = 2**32 - 1
MAX_STEPS = 1000
MAX_BATCH = 1024
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"  # a grid's name is its default folder under results/


class Row(BaseModel):
    """One table row: a model sampled with one variant (and optionally another schedule or parameters)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    variant: str
    schedule: str | None = None
    model: str | None = None  # default: the grid's model
    sigma_test: StrictFloat | StrictInt | None = Field(default=None, ge=0, le=1)
    history_guidance: StrictFloat | StrictInt | None = None
    cfg_scale: StrictFloat | StrictInt = 1.0

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, v: str) -> str:
        if v not in VARIANTS:
            raise ValueError(f"unknown variant {v!r}; accepted: {', '.join(VARIANTS)}")
        return v

    @model_validator(mode="after")
    def _variant_builds(self) -> Row:
        try:
            self.variant_config()
        except ValidationError as e:
            raise ValueError("; ".join(err["msg"] for err in e.errors())) from None
        return self

    def variant_config(self) -> VariantConfig:
        overrides = dict(
            schedule=self.schedule, sigma_test=self.sigma_test, history_guidance=self.history_guidance
        )
        return variant(self.variant, **{k: v for k, v in overrides.items() if v is not None})


class Samples(BaseModel):
    """Start images (held-out world frames and/or image files) and seeds; every row sees every sample."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    heldout: StrictInt = Field(
        default=16, ge=0, le=MAX_HELDOUT, description="held-out world start images 0..n-1"
    )
    images: tuple[str, ...] = ()  # image files, relative to the config file
    seeds: tuple[StrictInt, ...] = (0,)
    prompt: str = ""

    @model_validator(mode="after")
    def _not_empty(self) -> Samples:
        if self.heldout == 0 and not self.images:
            raise ValueError("samples need start images: set heldout > 0 or list image files")
        if not self.seeds:
            raise ValueError("samples need at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {list(self.seeds)}")
        bad = [s for s in self.seeds if not 0 <= s <= MAX_SEED]
        if bad:
            raise ValueError(f"seeds must be in 0..{MAX_SEED}, got {bad}")
        return self


class Sampler(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: StrictInt = Field(default=10, ge=1, le=MAX_STEPS)
    shift: StrictFloat | StrictInt | None = Field(default=3.0, gt=0, le=100)  # None: the dynamic-shift rule
    solver: str = "unipc"

    @field_validator("solver")
    @classmethod
    def _known_solver(cls, v: str) -> str:
        if v not in SOLVERS:
            raise ValueError(f"unknown solver {v!r}; accepted: {', '.join(SOLVERS)}")
        return v


class TableSpec(BaseModel):
    """Which per-frame metrics the table shows as global means and as drift (Eq. 7, %)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quality: tuple[str, ...] = ()
    drift: tuple[str, ...] = ()
    reference: str | None = None  # row the paired differences are taken against


class JudgeSpec(BaseModel):
    """The automatic pairwise judge: prefers the video with lower drift on ``drift`` metrics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "drift"
    drift: tuple[str, ...] = ()
    margin: StrictFloat | StrictInt = Field(
        default=0.0, ge=0
    )  # |Δ|% differences within the margin count as a tie


class Grid(BaseModel):
    """An ablation grid; see ``configs/*.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    model: str = "mini-v2"
    rows: tuple[Row, ...] = Field(min_length=1)
    samples: Samples = Samples()
    sections: StrictInt = Field(default=20, ge=1, le=MAX_SECTIONS, description="video length in sections")
    sampler: Sampler = Sampler()
    metrics: tuple[str, ...] | None = None  # default: every weight-free metric
    batch: StrictInt = Field(
        default=8, ge=1, le=MAX_BATCH, description="videos generated together (same row)"
    )
    threads: StrictInt = Field(
        default=2, ge=1, le=256, description="torch CPU threads per worker (results depend on it)"
    )
    table: TableSpec = TableSpec()
    judge: JudgeSpec | None = JudgeSpec()

    @field_validator("name")
    @classmethod
    def _folder_name(cls, v: str) -> str:
        if not re.match(NAME_PATTERN, v):
            raise ValueError(
                f"name {v!r} must be letters, digits, '.', '_', '+' or '-', starting with a letter or digit "
                "(it names the run's folder under results/)"
            )
        return v

    @model_validator(mode="after")
    def _unique_rows(self) -> Grid:
        names = [r.name for r in self.rows]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"row names must be unique; repeated: {', '.join(dupes)}")
        return self

    def model_of(self, row: Row) -> str:
        return row.model or self.model


def load_grid(path: str | Path) -> tuple[Grid, Path]:
    """Read and validate a grid YAML; returns the grid and the folder its relative paths refer to."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(f"{path} is not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping with 'name' and 'rows', got {type(data).__name__}")
    try:
        return Grid.model_validate(data), path.parent
    except ValidationError as e:
        raise ValueError(f"invalid config {path}:\n{_explain(e)}") from None


def _explain(e: ValidationError) -> str:
    lines = []
    for err in e.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Item:
    """One video of a grid: a row applied to one start image and seed."""

    row: Row
    model: str
    image: str  # sample id: 'heldout-3' or the image file's name
    image_source: str  # 'heldout:3' or the image file's path
    seed: int  # the replicate: the sample's seed as listed in the grid
    key: str  # content hash: changes when anything that shapes this video changes
    noise_seed: int = 0  # the sampler's seed: distinct for every (start image, seed) of the grid

    @property
    def stem(self) -> str:
        return f"{slug(self.row.name)}__{slug(self.image)}__seed{self.seed}"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-") or "x"


def sample_ids(grid: Grid, base: Path) -> list[tuple[str, str]]:
    """(id, source) of every start image of the grid, held-out frames first."""
    out = [(f"heldout-{i}", f"heldout:{i}") for i in range(grid.samples.heldout)]
    for name in grid.samples.images:
        p = Path(name) if Path(name).is_absolute() else base / name
        out.append((Path(name).name, str(p)))
    return out


def expand(grid: Grid, base: Path = Path("."), device: str = "cpu") -> list[Item]:
    """Every item of the grid, row by row, then image, then seed. ``device`` enters the keys: a CPU and a
    GPU (or 1 and 2 CPU threads) give slightly different floating-point results."""
    from fpeval import __version__

    items = []
    for row in grid.rows:
        model = grid.model_of(row)
        for position, (image, source) in enumerate(sample_ids(grid, base)):
            for seed in grid.samples.seeds:
                noise_seed = noise_seed_of(seed, position)
                content = dict(
                    row=row.model_dump(exclude={"name"}),
                    variant=row.variant_config().model_dump(),
                    model=model,
                    weights=model_digest(model),
                    image=source if source.startswith("heldout:") else file_digest(source),
                    seed=seed,
                    noise_seed=noise_seed,
                    prompt=grid.samples.prompt,
                    sections=grid.sections,
                    sampler=grid.sampler.model_dump(),
                    batch=grid.batch,
                    threads=grid.threads,
                    device=str(device).split(":")[0],
                    metrics=grid.metrics,
                    version=__version__,
                )
                key = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
                items.append(Item(row, model, image, source, seed, key, noise_seed))
    return items


def noise_seed_of(seed: int, position: int) -> int:
    """The sampling seed of the ``position``-th start image at replicate ``seed``: every start image
    gets its own noise, so videos of different images are independent draws (rows share them, so
    rows are compared on the same noise)."""
    return int(seed) * 1_000_003 + int(position)


def batches(items: list[Item], size: int) -> list[list[Item]]:
    """Fixed groups of one row's items generated together. Composition depends only on the grid, so a
    resumed or distributed run computes every video in exactly the batch it had before."""
    out, current = [], []
    for item in items:
        if current and (len(current) == size or current[0].row != item.row):
            out.append(current)
            current = []
        current.append(item)
    if current:
        out.append(current)
    return out


@cache
def file_digest(path: str) -> str:
    """``checkpoints.file_digest``, once per path for the life of the process (a grid names the
    same weights and images for many items)."""
    from fpeval.models.checkpoints import file_digest as digest

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"file not found: {p}")
    return digest(p)


def model_digest(model: str) -> str:
    """A digest of the weights a model name or path resolves to (FramePack-mini files; a folder's index)."""
    from fpeval.models import MINI_MODELS, codebook_path, mini_files

    if model in MINI_MODELS:
        files = list(mini_files(model))
        book = codebook_path(files[0])
        files += [book] if book.exists() else []
        return hashlib.sha256("".join(file_digest(str(f)) for f in files).encode()).hexdigest()[:16]
    p = Path(model)
    if p.is_file():
        return file_digest(str(p))
    if p.is_dir():
        from fpeval.models.checkpoints import folder_digest

        return folder_digest(p)
    raise ValueError(f"model {model!r} is neither a shipped name nor an existing path")


def check(grid: Grid, base: Path = Path(".")) -> list[str]:
    """Every problem that would stop the grid, found before any work: unknown models, schedules a
    backend cannot run, variants the model cannot serve, missing or unreadable start images."""
    from fpeval.images import to_tensor
    from fpeval.models import MINI_MODELS, codebook_path, mini_files, plan_problem

    problems = []
    for row in grid.rows:
        try:
            config = row.variant_config()
            plan = make_plan(config, grid.sections)
        except ValueError as e:
            problems.append(f"row {row.name!r}: {e}")
            continue
        model = grid.model_of(row)
        if model not in MINI_MODELS and not Path(model).exists():
            problems.append(
                f"row {row.name!r}: model {model!r} not found; accepted: {', '.join(MINI_MODELS)}, "
                "a FramePack-mini .safetensors file or a HunyuanVideo-FramePack folder"
            )
            continue
        missing = [str(f) for f in (mini_files(model) if model in MINI_MODELS else ()) if not f.is_file()]
        if missing:
            problems.append(f"row {row.name!r}: the weights of {model!r} are missing: {', '.join(missing)}")
            continue
        reason = plan_problem(model, plan, config)
        if reason:
            problems.append(f"row {row.name!r}: {reason}")
        if config.discrete:
            book = codebook_path(mini_files(model)[0] if model in MINI_MODELS else model)
            if not book.exists():
                problems.append(
                    f"row {row.name!r}: variant {config.label} needs a +D codebook; {model!r} has none "
                    f"(looked for {book})"
                    + ("" if model == "mini-v2-discrete" else "; use model mini-v2-discrete")
                )
    problems += metric_problems(grid)
    for image, source in sample_ids(grid, base):
        if source.startswith("heldout:"):
            continue
        try:
            to_tensor(source, multiple=16)
        except ValueError as e:
            problems.append(f"start image {image}: {e}")
    return problems


def metric_problems(grid: Grid) -> list[str]:
    """Unknown metric names, table or judge metrics the run will not compute, drift asked of per-video
    metrics, and a reference that is not a row."""
    from metrics.base import registry

    try:
        computed = {m.name: m for m in registry.expand(list(grid.metrics) if grid.metrics else None)}
    except (KeyError, ValueError) as e:
        return [f"metrics: {e.args[0] if e.args else e}"]
    problems = []
    wanted = [("table.quality", grid.table.quality), ("table.drift", grid.table.drift)]
    if grid.judge is not None:
        wanted.append(("judge.drift", grid.judge.drift))
    for where, names in wanted:
        unknown = [n for n in names if n not in computed]
        if unknown:
            problems.append(
                f"{where}: {', '.join(unknown)} not among the run's metrics; it computes {', '.join(computed)}"
            )
        if where != "table.quality":
            per_video = [n for n in names if n in computed and computed[n].kind == "per-video"]
            if per_video:
                problems.append(f"{where}: {', '.join(per_video)} give one value per video, so no drift")
    rows = [r.name for r in grid.rows]
    if grid.table.reference is not None and grid.table.reference not in rows:
        problems.append(f"table.reference: {grid.table.reference!r} is not a row; rows: {', '.join(rows)}")
    return problems
