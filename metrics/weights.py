"""Finding model files the way the field does: on disk first, then downloaded once into the standard cache.

Every learned metric names the files it needs. They are looked for, in order: the path given explicitly
(``weights={...}`` in ``metrics.compute``, ``--weights KEY=PATH`` on the command line), the metric's
environment variable, ``$FPEVAL_WEIGHTS_DIR``, then the caches where torchvision, open_clip and the
Hugging Face hub keep their downloads. When nothing is found and a ``Source`` is known, the file is
downloaded into that cache (torch hub's ``hub/checkpoints`` for URLs, the Hugging Face hub cache for
repos) and reused offline afterwards. ``FPEVAL_OFFLINE=1`` or ``HF_HUB_OFFLINE=1`` (``--offline`` on
the command line) turns downloads off. When a file can be neither found nor fetched, the error is one
line: the file, the cache it belongs in, and how to provide it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR_ENV = "FPEVAL_WEIGHTS_DIR"
OFFLINE_ENV = "FPEVAL_OFFLINE"
TORCHVISION_MODELS = "https://download.pytorch.org/models"  # where torchvision's weight enums download from
_TRUE = ("1", "true", "yes", "on")


class MissingWeightsError(FileNotFoundError):
    """A metric's model file is neither on this machine nor downloadable now."""


@dataclass(frozen=True)
class Source:
    """Where the field publishes a file: a URL (kept in torch hub's checkpoints folder under its own
    name) or files of a Hugging Face repo (kept in the hub cache; the first one is returned)."""

    url: str | None = None
    hf_repo: str | None = None
    hf_files: tuple[str, ...] = ()

    def describe(self) -> str:
        return self.url or f"the Hugging Face repo {self.hf_repo} ({', '.join(self.hf_files)})"

    def cache(self) -> Path:
        if self.url:
            return torch_checkpoints_dir()
        return hf_repo_cache(self.hf_repo)


def offline() -> bool:
    """Downloads are off: ``FPEVAL_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to 1 / true / yes / on."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in (OFFLINE_ENV, "HF_HUB_OFFLINE"))


def download(source: Source) -> Path:
    """Fetch ``source`` into its standard cache (atomically, with torch hub's hash check when the file
    name carries one); return the file."""
    if source.url:
        import torch.hub

        name = source.url.rsplit("/", 1)[-1].split("?")[0]
        dest = torch_checkpoints_dir() / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        match = torch.hub.HASH_REGEX.search(name)
        torch.hub.download_url_to_file(source.url, str(dest), hash_prefix=match.group(1) if match else None)
        return dest
    from huggingface_hub import hf_hub_download

    paths = [Path(hf_hub_download(source.hf_repo, f, cache_dir=str(hf_hub_cache()))) for f in source.hf_files]
    return paths[0]


class MissingBackendError(ValueError):
    """A registered metric has no implementation here; register a callable for it."""


def torch_checkpoints_dir() -> Path:
    """torchvision's download cache: ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def vbench_cache_dir() -> Path:
    """VBench's model cache: ``$VBENCH_CACHE_DIR``, default ``~/.cache/vbench``."""
    return Path(os.environ.get("VBENCH_CACHE_DIR") or Path.home() / ".cache" / "vbench")


def vbench2_cache_dir() -> Path:
    """VBench-2.0's model cache: ``$VBENCH2_CACHE_DIR``, default ``~/.cache/vbench2``."""
    return Path(os.environ.get("VBENCH2_CACHE_DIR") or Path.home() / ".cache" / "vbench2")


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def hf_repo_cache(repo_id: str) -> Path:
    """A model repo's folder in the Hugging Face cache (``models--owner--name``)."""
    return hf_hub_cache() / f"models--{repo_id.replace('/', '--')}"


def hf_snapshots(repo_id: str) -> list[Path]:
    """Snapshot folders of a model repo in the Hugging Face cache, newest first."""
    root = hf_repo_cache(repo_id) / "snapshots"
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)


def hf_repo_dirs(repo_id: str) -> list[Path]:
    """Where a hub repo's files are looked for: its snapshots, newest first, else its cache folder."""
    return hf_snapshots(repo_id) or [hf_repo_cache(repo_id)]


def find_weights(
    what: str,
    filenames: Sequence[str],
    *,
    explicit: str | os.PathLike | None = None,
    env: str,
    flag: str,
    search_dirs: Iterable[Path] = (),
    directory: bool = False,
    source: Source | None = None,
) -> Path:
    """The first existing candidate for ``what``, else ``source`` downloaded into its cache.

    ``filenames`` are tried in each search folder; an explicit or environment path may be the file itself
    or a folder holding one of them; with ``directory=True`` such a folder is returned as it is.
    Raises MissingWeightsError (one line) when nothing is found and nothing can be fetched.
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
    provide = f"set {env}=/path/to/{filenames[0]} (or {WEIGHTS_DIR_ENV}=<folder>) or pass {flag}"
    if source is None:
        places = "; ".join(dict.fromkeys(str(Path(t).parent) for t in tried)) or "no folder"
        raise MissingWeightsError(
            f"{what}: {' or '.join(filenames)} not found in {places}; put it there, or {provide}"
        )
    if offline():
        raise MissingWeightsError(
            f"{what}: {filenames[0]} is not in {source.cache()} and downloads are off "
            f"({OFFLINE_ENV} / HF_HUB_OFFLINE); fetch it once from {source.describe()} into that folder, "
            f"or {provide}"
        )
    try:
        return download(source)
    except Exception as e:  # no network, a proxy, a moved file: say what to do instead
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        raise MissingWeightsError(
            f"{what}: {filenames[0]} is not in {source.cache()} and downloading it from "
            f"{source.describe()} failed ({reason}); fetch it into that folder by hand, or {provide}"
        ) from e


def find_vbench_hub_file(
    what: str, filename: str, *, key: str, env: str, folder: str, hf_repo: str, explicit=None
) -> Path:
    """One weights file as VBench keeps it: in ``~/.cache/vbench/<folder>/``, else in (or fetched into)
    the HF cache of ``hf_repo``; ``key`` names it for ``--weights key=...``."""
    return find_weights(
        what,
        [filename],
        explicit=explicit,
        env=env,
        flag=f"--weights {key}=/path/to/{filename}",
        search_dirs=[vbench_cache_dir() / folder, *hf_repo_dirs(hf_repo)],
        source=Source(hf_repo=hf_repo, hf_files=(filename,)),
    )


def build_from_checkpoint(path: str | os.PathLike, key: str, build: Callable, layout: str):
    """Read a torch checkpoint, take ``checkpoint[key]`` when it is there (the state dict otherwise) and
    ``build`` the model from it; a file of another layout is a one-line MissingWeightsError naming the
    file and the ``layout`` expected."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        state = checkpoint[key] if isinstance(checkpoint, dict) and key in checkpoint else checkpoint
        return build(state)
    except (RuntimeError, KeyError, TypeError, AttributeError, IndexError) as e:
        reason = " ".join(str(e).split())[:300]
        raise MissingWeightsError(f"{path} is not {layout}: {reason}") from e


def count_layers(state: dict, prefix: str) -> int:
    """How many numbered blocks ``prefix<i>.`` a state dict holds (e.g. ``blocks.`` -> 12)."""
    found = {k[len(prefix) :].split(".", 1)[0] for k in state if k.startswith(prefix)}
    return len({i for i in found if i.isdigit()})


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
