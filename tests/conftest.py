import os

import pytest
import torch

# Headless plotting everywhere; deterministic CPU math.
os.environ.setdefault("MPLBACKEND", "Agg")
torch.use_deterministic_algorithms(True, warn_only=True)


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)
