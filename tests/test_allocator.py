"""pose.allocator.retain_freed_memory: freed blocks stay in the process (no fresh, zeroed pages
for the next forward pass). Checked in child processes, since the setting cannot be undone."""
import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="retain_freed_memory acts on glibc's malloc only")

CHILD = r"""
import json, resource, sys
import torch
from pose.allocator import retain_freed_memory

applied = retain_freed_memory() if sys.argv[1] == "retain" else None
faults = []
for _ in range(16):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = torch.empty(16 * 2 ** 20)  # 64 MB: above glibc's largest mmap threshold
    block.fill_(1.0)                   # touch every page
    del block
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "again": retain_freed_memory(), "faults": faults}))
"""


def _child(mode):
    # glibc's own defaults: no malloc settings or other allocators from the environment
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD")}
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_blocks_are_reused_without_page_faults():
    default = _child("default")
    retained = _child("retain")
    # by default glibc maps every 64 MB block afresh: each allocation faults on new pages
    # (16384 faults with 4 kB pages, at least 32 with transparent 2 MB pages)
    assert min(default["faults"][1:]) >= 32
    # retained: the first allocations grow the heap (small allocations in between may take
    # a corner of a freed block, so glibc can need a few), then freed blocks are reused
    assert retained["applied"] is True and retained["again"] is True
    assert retained["faults"][0] >= 32
    assert max(retained["faults"][-6:]) * 20 < min(default["faults"][1:])

