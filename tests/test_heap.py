"""fpeval.heap: with glibc, keeping freed memory removes the page faults of a sampler's repeated calls."""

import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys, torch
from fpeval.heap import keep_freed_memory
from fpeval.models.mini import Block
torch.set_num_threads(1)
if sys.argv[1] == "keep":
    assert keep_freed_memory()
torch.manual_seed(0)
block = Block(256, 4, 2.0)
x, modulation = torch.randn(8, 200, 256), torch.randn(200, 6 * 256)
cos, sin = torch.ones(200, 64), torch.zeros(200, 64)
with torch.no_grad():
    out = block(x, modulation, cos, sin)[0]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        block(x, modulation, cos, sin)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, float(out.double().sum()))
"""


def _faults_and_sum(mode: str) -> tuple[int, float]:
    run = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    faults, total = run.stdout.split()
    return int(faults), float(total)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keeping_freed_memory_removes_most_page_faults_and_changes_no_value():
    default_faults, default_sum = _faults_and_sum("default")
    kept_faults, kept_sum = _faults_and_sum("keep")
    # 20 calls of a v2-sized block at batch 8: ~27,000 faults by default, ~2,000 when freed memory is kept
    assert kept_faults * 4 < default_faults, (kept_faults, default_faults)
    assert kept_sum == default_sum


def test_keep_freed_memory_is_a_no_op_off_linux(monkeypatch):
    from fpeval import heap

    heap.keep_freed_memory.cache_clear()
    monkeypatch.setattr(heap.sys, "platform", "darwin")
    try:
        assert heap.keep_freed_memory() is False
    finally:
        heap.keep_freed_memory.cache_clear()
