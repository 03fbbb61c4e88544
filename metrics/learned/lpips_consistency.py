"""LPIPS distance of every frame to the first and to the previous frame (lower = more consistent).

The ``lpips`` package ships its linear heads; the backbone (AlexNet by default) is torchvision's
ImageNet checkpoint, read from ``$TORCH_HOME/hub/checkpoints`` (fetched there on first use, as torchvision
does) or the path given.
"""

from __future__ import annotations

import functools
import os
import warnings

import torch

from metrics.frames import Video
from metrics.weight_free import PairStatistic
from metrics.weights import (
    TORCHVISION_MODELS,
    MissingWeightsError,
    Source,
    find_weights,
    torch_checkpoints_dir,
)

BACKBONE_ENV = "FPEVAL_LPIPS_BACKBONE"
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


def backbone_path(net: str = "alex", path: str | os.PathLike | None = None):
    if net not in BACKBONE_FILES:
        raise ValueError(f"LPIPS backbone must be one of {list(BACKBONE_FILES)}, got {net!r}")
    return find_weights(
        f"LPIPS {net} backbone (torchvision ImageNet weights)",
        [BACKBONE_FILES[net]],
        explicit=path,
        env=BACKBONE_ENV,
        flag="--weights lpips=/path/to/" + BACKBONE_FILES[net],
        search_dirs=[torch_checkpoints_dir()],
        source=Source(url=f"{TORCHVISION_MODELS}/{BACKBONE_FILES[net]}"),
    )


@functools.lru_cache(maxsize=4)
def _load(net: str, path: str, device: str) -> torch.nn.Module:
    import lpips

    with warnings.catch_warnings():  # lpips still passes torchvision's old `pretrained=False`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)  # heads from the package
    state = torch.load(path, map_location="cpu", weights_only=True)
    # torchvision names the trunk "features.<i>.*"; lpips splits it into slices keeping <i>.
    slot = {
        name: f"{slice_name}.{name}"
        for slice_name, sl in model.net.named_children()
        for name, _ in sl.named_children()
    }
    mapped = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "features" and parts[1] in slot:
            mapped[f"{slot[parts[1]]}.{'.'.join(parts[2:])}"] = value
    missing = set(model.net.state_dict()) - set(mapped)
    if missing:
        raise MissingWeightsError(
            f"{path} is not a torchvision {net} checkpoint: missing {sorted(missing)[:4]} (features.* keys)"
        )
    model.net.load_state_dict(mapped)
    return model.eval().to(device)


def load_lpips(
    net: str = "alex", path: str | os.PathLike | None = None, device: str = "cpu"
) -> torch.nn.Module:
    """An ``lpips.LPIPS`` model with the package's heads and the torchvision backbone (fetched on first use)."""
    return _load(net, str(backbone_path(net, path)), str(device))


class LpipsFirst(PairStatistic):
    name, group, higher_is_better, reference = "lpips_first", "lpips", False, "first"
    needs_weights = True
    net = "alex"
    description = f"LPIPS ({net}) of each frame to the first frame; weights key 'lpips' or ${BACKBONE_ENV}"

    def check(self, video: Video):
        backbone_path(self.net, video.weights.get("lpips"))

    def values(self, video: Video):
        model = load_lpips(self.net, video.weights.get("lpips"), video.device)
        return super().values(video, lambda ref, cur: model(ref, cur, normalize=True).flatten())


class LpipsPrev(LpipsFirst):
    name, reference = "lpips_prev", "prev"
    description = "LPIPS (alex) of each frame to the previous frame"
