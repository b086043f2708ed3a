"""Every registered CUDA kernel compiles to PTX for sm_80 and sm_90 (no GPU needed).

Runs in a subprocess without NUMBA_ENABLE_CUDASIM, because the simulator replaces the real
compiler for the whole process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bagu_fast.kernels.cuda import kernel_modules  # pkgutil only: imports no numba.cuda

SCRIPT = "import json; from bagu_fast.kernels.cuda import compile_all_ptx; print(json.dumps(compile_all_ptx()))"


@pytest.fixture(scope="module")
def ptx_records() -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_kernel_is_registered_and_compiles(ptx_records):
    failures = [r for r in ptx_records if "error" in r]
    assert not failures, failures


# every family module in bagu_fast/kernels/cuda (found on disk, so a new family is covered at once)
@pytest.mark.parametrize("family", kernel_modules())
def test_family_has_kernels_for_both_archs(ptx_records, family):
    archs = {tuple(r["cc"]) for r in ptx_records if r["module"] == family and "ptx_bytes" in r}
    assert archs == {(8, 0), (9, 0)}
