"""Run an ablation grid: generate every video, score it, and write tidy results; resumable, optionally on Ray.

Layout of a run folder::

    grid.json                 the validated config
    videos/<stem>.mp4 + .json every video with its sidecar (row, variant, model, image, seed, per-frame section)
    items/<key>.parquet       per-frame metrics of one video
    items/<key>.json          its completion record, written last: an item counts as done only with it
    per_frame.parquet, per_video.parquet, summary.csv, figures/, votes.sqlite, ratings.csv, table.md

Videos are generated in fixed batches (``fpeval.runs.grid.batches``); a rerun skips batches whose items are
all done, and recomputes any other batch whole, so every video comes from exactly the same batch as in
an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fpeval.artifacts import atomic_path, write_text
from fpeval.runs.grid import Grid, Item, batches, check, expand


def item_done(out: Path, item: Item) -> bool:
    """Whether the item's outputs are on disk and are this item's: its completion record exists, the
    video's sidecar carries the item's content key and the MP4 has the digest the record wrote."""
    record = out / "items" / f"{item.key}.json"
    if not record.is_file():
        return False
    try:
        rec = json.loads(record.read_text())
        files = rec["files"]
        sidecar = json.loads((out / "videos" / f"{item.stem}.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    if sidecar.get("key") != item.key or not all((out / f).is_file() for f in files):
        return False
    digest = rec.get("video_sha256")
    return digest is None or digest == file_sha256(out / "videos" / f"{item.stem}.mp4")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def set_aside_stale(out: Path, items: list[Item]) -> list[Path]:
    """Move outputs that belong to no item of the grid (left by an earlier config in this folder)
    into ``out/stale/``, so that nothing on disk can be mistaken for this grid's."""
    keys, stems = {i.key for i in items}, {i.stem for i in items}
    moved = []
    for folder, names in (("items", keys), ("videos", stems)):
        for path in sorted((out / folder).glob("*")) if (out / folder).is_dir() else []:
            if path.is_file() and path.stem not in names:
                target = out / "stale" / folder / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                path.replace(target)
                moved.append(target)
    return moved


@cache
def _backend(model: str, device: str):
    from fpeval import models

    return models.load(model, device=device) if device != "cpu" else models.load(model)


def start_image(source: str) -> torch.Tensor:
    """A start image from its source: 'heldout:i' (held-out world frame i) or an image file."""
    from fpeval.images import to_tensor

    if source.startswith("heldout:"):
        from fpeval.world.clips import clip

        return clip(int(source.split(":", 1)[1]), "heldout", 1)[0]
    return to_tensor(source, multiple=16)


def run_batch(grid: Grid, batch: list[Item], out: Path, device: str = "cpu") -> list[str]:
    """Generate and score one batch; write every unfinished item of it. Returns the keys written."""
    import metrics
    from fpeval.generation.generate import generate
    from fpeval.video import write_mp4, write_sidecar

    torch.set_num_threads(grid.threads)
    out = Path(out)
    row = batch[0].row
    backend = _backend(batch[0].model, device)
    config = row.variant_config()
    t0 = time.perf_counter()
    result = generate(
        backend,
        config,
        [start_image(item.image_source) for item in batch],
        grid.samples.prompt,
        sections=grid.sections,
        seeds=[item.noise_seed for item in batch],
        steps=grid.sampler.steps,
        solver=grid.sampler.solver,
        shift=grid.sampler.shift,
        cfg_scale=row.cfg_scale,
    )
    seconds = (time.perf_counter() - t0) / len(batch)
    written = []
    for i, item in enumerate(batch):
        if item_done(out, item):
            continue
        meta = result.metadata[i]
        frames = result.frames[i]
        ids = dict(
            row=row.name,
            variant=config.label,
            schedule=meta["schedule"],
            model=item.model,
            image=item.image,
            seed=item.seed,
            video=item.stem,
        )
        per_frame = metrics.compute(frames, list(grid.metrics) if grid.metrics else None, fps=backend.fps)
        frame = per_frame["frame"].to_numpy()
        sections = np.asarray(meta["frame_section"])[np.clip(frame, 0, None)]
        per_frame.insert(0, "section", np.where(frame >= 0, sections, -1))  # -1: a per-video value
        for col, value in reversed(ids.items()):
            per_frame.insert(0, col, value)
        video = write_mp4(out / "videos" / f"{item.stem}.mp4", frames, fps=backend.fps)
        sidecar = {**ids, "key": item.key, "prompt": grid.samples.prompt or None}
        keep = (
            "fps",
            "sections",
            "steps",
            "solver",
            "shift",
            "frame_section",
            "provenance",
            "fpeval_version",
        )
        sidecar.update({k: meta[k] for k in keep})
        write_sidecar(video, sidecar)
        with atomic_path(out / "items" / f"{item.key}.parquet") as tmp:
            per_frame.to_parquet(tmp, index=False)
        latents = result.latents[i].float().cpu().contiguous().numpy()
        record = dict(
            key=item.key,
            video=item.stem,
            files=[f"videos/{item.stem}.mp4", f"videos/{item.stem}.json", f"items/{item.key}.parquet"],
            latents_sha256=hashlib.sha256(latents.tobytes()).hexdigest(),
            video_sha256=file_sha256(video),
            seconds_per_video=round(seconds, 3),
            device=device,
        )
        write_text(out / "items" / f"{item.key}.json", json.dumps(record, indent=2))
        written.append(item.key)
    return written


def run(
    grid: Grid,
    out: str | Path,
    base: Path = Path("."),
    *,
    device: str = "cpu",
    ray_address: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run ``grid`` into ``out`` (resuming what is there) and write the tables and figures."""
    problems = check(grid, base)
    if problems:
        raise ValueError("the config cannot run:\n" + "\n".join(f"  - {p}" for p in problems))
    out = Path(out)
    items = expand(grid, base, device)
    write_text(out / "grid.json", grid.model_dump_json(indent=2))
    stale = set_aside_stale(out, items)
    if stale:
        log(f"moved {len(stale)} files of an earlier config to {out / 'stale'}")
    todo = [b for b in batches(items, grid.batch) if not all(item_done(out, i) for i in b)]
    done = len(items) - sum(len(b) for b in todo)
    log(f"{grid.name}: {len(items)} videos, {done} already done, {len(todo)} batches to run")
    if ray_address:
        _run_on_ray(grid, todo, out, device, ray_address, progress)
    else:
        from tqdm.auto import tqdm

        for batch in tqdm(todo, desc=grid.name, unit="batch", disable=not progress):
            run_batch(grid, batch, out, device)
    from fpeval.runs.report import write_report

    write_report(grid, load_items(out, items), out, log=log)
    return out


def _run_on_ray(grid: Grid, todo: list[list[Item]], out: Path, device: str, address: str, progress: bool):
    """Spread batches over a Ray cluster ('local' starts one here); each task writes its own items."""
    import ray
    from tqdm.auto import tqdm

    started = not ray.is_initialized()
    if started:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        gpus = 1 if device.startswith("cuda") else 0
        task = ray.remote(num_cpus=grid.threads, num_gpus=gpus)(run_batch)
        pending = [task.remote(grid, batch, str(out), device) for batch in todo]
        with tqdm(total=len(pending), desc=f"{grid.name} (ray)", unit="batch", disable=not progress) as bar:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                ray.get(ready)
                bar.update(len(ready))
    finally:
        if started:
            ray.shutdown()


def load_items(out: Path, items: list[Item]) -> pd.DataFrame:
    """Per-frame metrics of every item of the grid (all must be done)."""
    missing = [i.stem for i in items if not item_done(out, i)]
    if missing:
        raise ValueError(
            f"{len(missing)} videos of the grid are not done, e.g. {missing[0]}; run the grid first"
        )
    return pd.concat([pd.read_parquet(out / "items" / f"{i.key}.parquet") for i in items], ignore_index=True)
