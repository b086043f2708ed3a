"""Every registered CUDA kernel compiles to PTX for sm_80 and sm_90 (no GPU needed).

The kernel modules are found by ``pkgutil.walk_packages`` over :mod:`bagu_fast.kernels.cuda`
(families that are packages of modules included), each module's own ``PTX_SIGNATURES`` compiled.
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

SCRIPT = """
import json, pkgutil
import bagu_fast.kernels.cuda as kc
prefix = kc.__name__ + "."
names = sorted(m.name[len(prefix):] for m in pkgutil.walk_packages(kc.__path__, prefix=prefix)
               if not any(p.startswith("_") for p in m.name[len(prefix):].split(".")))
assert names == kc.kernel_module_names(), (names, kc.kernel_module_names())
print(json.dumps({"modules": names, "records": [r for n in names for r in kc.compile_module_ptx(n)]}))
"""
# every kernel registered when the families' registries were last counted (attention 6, hmm 8,
# recurrent 7, strings 5, trees 20): the walk must find at least these
MIN_KERNELS = {"attention": 6, "hmm": 8, "recurrent": 7, "strings": 5, "trees": 20}


@pytest.fixture(scope="module")
def ptx_result() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def ptx_records(ptx_result) -> list[dict]:
    return ptx_result["records"]


def test_every_kernel_is_registered_and_compiles(ptx_records):
    failures = [r for r in ptx_records if "error" in r]
    assert not failures, failures


def test_the_walk_finds_every_family_and_kernel(ptx_result, ptx_records):
    families = {m.split(".")[0] for m in ptx_result["modules"]}
    assert families == set(kernel_modules())
    assert any("." in m for m in ptx_result["modules"])  # a family that is a package was walked into
    kernels = {(r["module"], r["kernel"]) for r in ptx_records if "ptx_bytes" in r}
    per_family = {f: sum(1 for m, _ in kernels if m.split(".")[0] == f) for f in families}
    print(f"PTX check: {len(kernels)} kernels, {len(ptx_records)} compilations, per family {per_family}")
    for family, minimum in MIN_KERNELS.items():
        assert per_family.get(family, 0) >= minimum, (family, per_family)


# every family module in bagu_fast/kernels/cuda (found on disk, so a new family is covered at once)
@pytest.mark.parametrize("family", kernel_modules())
def test_family_has_kernels_for_both_archs(ptx_records, family):
    archs = {tuple(r["cc"]) for r in ptx_records if r["family"] == family and "ptx_bytes" in r}
    assert archs == {(8, 0), (9, 0)}
