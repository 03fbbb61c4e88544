"""Shared fixtures for the voting tests: a tiny results folder, a study, and a real uvicorn server."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from fpeval.video import read_mp4, write_mp4

ROOT = Path(__file__).resolve().parents[1]
# Distinctive names, so a blindness check can search every response for them.
ROWS = ("RowAlphaQx", "RowBravoQx", "RowCharlieQx")
SECRET_WORDS = ROWS + (
    "VariantQz",
    "ScheduleQy",
    "ModelQw",
    "StemQv",
    "videos",
    ".mp4",
    "study.json",
    "sqlite",
)


def make_results(
    root: Path, rows=ROWS, images=("img0", "img1"), seeds=(0,), frames=6, size=32, prompt="a red ball"
):
    """RESULTS_DIR/videos/<stem>.mp4 + sidecars, one clip per (row, image, seed)."""
    videos = root / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for r, row in enumerate(rows):
        for i, image in enumerate(images):
            for seed in seeds:
                t = np.arange(frames)[:, None, None]
                y, x = np.mgrid[0:size, 0:size]
                base = (x[None] * 4 + t * 10 + r * 60 + i * 30 + seed * 7) % 256
                clip = np.stack([base, (y[None] * 4 + r * 80) % 256 + 0 * t, np.full_like(base, 40 * r)], -1)
                stem = f"StemQv_{row}_{image}_s{seed}"
                write_mp4(videos / f"{stem}.mp4", clip.astype(np.uint8), fps=8)
                meta = {
                    "row": row,
                    "variant": f"VariantQz{r}",
                    "schedule": f"ScheduleQy{r}",
                    "model": "ModelQw",
                    "image": image,
                    "seed": seed,
                    "prompt": prompt,
                    "fps": 8,
                    "frame_section": [0, frames],
                }
                (videos / f"{stem}.json").write_text(json.dumps(meta))
    return root


def make_study(tmp: Path, annotators=("ann_one", "ann_two"), **kwargs):
    from fpeval.votes.design import design_study

    results = make_results(tmp / "results")
    kwargs.setdefault("gold", 2)
    kwargs.setdefault("repeats", 2)
    return design_study(results, tmp / "study", annotators=annotators, **kwargs)


@contextlib.contextmanager
def running_server(study_dir: Path, timeout_s: float = 20.0):
    """``fpeval votes serve`` in a subprocess on a free port; yields (base_url, process); always stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fpeval.votes.cli", "serve", str(study_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def pump():
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            if m and not url:
                url.append(m.group(1))
                found.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if not found.wait(timeout_s):
            raise RuntimeError(f"server did not start: {''.join(lines)}")
        base = url[0]
        _wait_healthy(base, timeout_s)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        reader.join(5)


def _wait_healthy(base: str, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{base} never became healthy")


def test_fixture_results_have_the_layout_the_design_reads(tmp_path):
    from fpeval.votes.design import load_clips

    make_results(tmp_path, images=("img0",), frames=4)
    clips = load_clips(tmp_path)
    assert sorted(c.row for c in clips) == sorted(ROWS)
    assert read_mp4(clips[0].video).shape == (4, 32, 32, 3)


def vote_everything(study_root, annotator, pick):
    """Vote on every pair of ``annotator``'s queue with ``pick(pair row) -> choice``, through the store."""
    from fpeval.votes.study import Study

    study = Study.open(study_root)
    pairs = study.store.pairs(study.study_id).set_index("pair_id")
    k = 0
    while (pair := study.store.next_pair(study.study_id, annotator)) is not None:
        p = pairs.loc[pair["pair_id"]]
        study.store.add_vote(
            f"{annotator}-{k}",
            study.study_id,
            pair["pair_id"],
            annotator,
            p["left_item"],
            p["right_item"],
            pick(p),
        )
        k += 1
    study.store.close()
