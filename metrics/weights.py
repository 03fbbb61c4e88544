"""Finding model files on disk, never on the network.

Every learned metric names the files it needs. They are looked for, in order: the path given explicitly
(``weights={...}`` in ``metrics.compute``, ``--weights KEY=PATH`` on the command line), the metric's
environment variable, ``$FPEVAL_WEIGHTS_DIR``, then the caches where torchvision, open_clip and the
Hugging Face hub keep their downloads. When nothing is found the error says which file, where it was
looked for, and which variable or flag to set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

WEIGHTS_DIR_ENV = "FPEVAL_WEIGHTS_DIR"


class MissingWeightsError(FileNotFoundError):
    """A metric's model file is not on this machine (nothing is ever downloaded)."""


class MissingBackendError(ValueError):
    """A registered metric has no implementation here; register a callable for it."""


def torch_checkpoints_dir() -> Path:
    """torchvision's download cache: ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def hf_snapshots(repo_id: str) -> list[Path]:
    """Snapshot folders of a model repo in the Hugging Face cache, newest first."""
    root = hf_hub_cache() / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)


def find_weights(
    what: str,
    filenames: Sequence[str],
    *,
    explicit: str | os.PathLike | None = None,
    env: str,
    flag: str,
    search_dirs: Iterable[Path] = (),
    directory: bool = False,
) -> Path:
    """The first existing candidate for ``what``; raise MissingWeightsError listing every place tried.

    ``filenames`` are tried in each search folder; an explicit or environment path may be the file itself
    or a folder holding one of them; with ``directory=True`` such a folder is returned as it is.
    """
    tried: list[str] = []
    if explicit is not None:
        found = _match(Path(explicit), filenames, directory)
        if found is None:
            raise MissingWeightsError(
                f"{what}: {explicit} does not exist or holds none of {', '.join(filenames)} "
                f"(given explicitly; fix the path passed as {flag})"
            )
        return found
    if os.environ.get(env):
        found = _match(Path(os.environ[env]), filenames, directory)
        if found is None:
            raise MissingWeightsError(
                f"{what}: ${env}={os.environ[env]} does not exist or holds none of {', '.join(filenames)}"
            )
        return found
    dirs = []
    if os.environ.get(WEIGHTS_DIR_ENV):
        dirs.append(Path(os.environ[WEIGHTS_DIR_ENV]))
    dirs.extend(search_dirs)
    for d in dirs:
        for name in filenames:
            candidate = d / name
            tried.append(str(candidate))
            if candidate.is_file():
                return candidate
    raise MissingWeightsError(
        f"{what} not found (nothing is downloaded). Looked for {' or '.join(filenames)} in: "
        + ("; ".join(dict.fromkeys(str(Path(t).parent) for t in tried)) or "no folder")
        + f". Put the file in one of those folders, set {env}=/path/to/{filenames[0]} "
        f"(or {WEIGHTS_DIR_ENV}=<folder>), or pass {flag}."
    )


def _match(path: Path, filenames: Sequence[str], directory: bool) -> Path | None:
    if path.is_file():
        return path
    if path.is_dir():
        if directory:
            return path
        for name in filenames:
            if (path / name).is_file():
                return path / name
    return None
