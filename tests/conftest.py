import os

import pytest
import torch

# Headless plotting everywhere; deterministic CPU math.
os.environ.setdefault("MPLBACKEND", "Agg")
# No test reaches a model hub; the download path is tested against file:// and refused URLs.
os.environ.setdefault("FPEVAL_OFFLINE", "1")
torch.use_deterministic_algorithms(True, warn_only=True)


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)
