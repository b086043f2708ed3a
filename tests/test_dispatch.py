"""Backend dispatch and the environment the library runs in: device arrays (the simulator's
too), torch CPU tensors, and a read-only install without a writable Numba cache."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import bagu_fast as bf
from bagu_fast import _dispatch


REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- device arrays
def test_device_arrays_take_the_device_path(rng):
    """cuda.to_device arrays (the simulator's too) are device arrays: auto picks cuda, the result
    stays on the device."""
    from numba import cuda

    q = rng.standard_normal((1, 2, 5, 4)).astype(np.float32)
    dq = cuda.to_device(q)
    assert _dispatch.is_device_array(dq)
    assert _dispatch.resolve_backend("auto", dq) == "cuda"
    assert _dispatch.prepare_array(dq, "q") is dq
    out = bf.scaled_dot_product_attention(dq, dq, dq)
    assert _dispatch.is_device_array(out) and not isinstance(out, np.ndarray)
    expected = bf.scaled_dot_product_attention(q, q, q, backend="reference")
    np.testing.assert_allclose(out.copy_to_host(), expected, rtol=2e-4, atol=2e-5)
    # a host result handed back for a device template is moved to the device
    moved = _dispatch.wrap_like(np.ones(3), dq)
    assert _dispatch.is_device_array(moved) and moved.copy_to_host().tolist() == [1, 1, 1]


def test_host_backends_refuse_device_arrays():
    from numba import cuda

    with pytest.raises(ValueError, match="backend"):
        bf.scaled_dot_product_attention(*(cuda.to_device(np.ones((1, 1, 2, 2))),) * 3, backend="cpu")


# ----------------------------------------------------------------------------- torch CPU tensors
def test_torch_cpu_tensors_in_torch_out():
    torch = pytest.importorskip("torch")  # torch is a bench peer; this runs where it is installed
    q = torch.randn(1, 2, 5, 4, requires_grad=True)
    for backend in ("reference", "cpu"):
        out = bf.scaled_dot_product_attention(q, q, q, backend=backend)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
        expected = torch.nn.functional.scaled_dot_product_attention(q, q, q).detach()
        assert torch.allclose(out, expected, atol=1e-5)
    assert bf.levenshtein(torch.tensor([97, 98]), "ab") == 0  # elements, not raw bytes


def test_wrap_like_keeps_numpy_for_numpy():
    out = np.arange(3.0)
    assert _dispatch.wrap_like(out, np.zeros(2)) is out


# ----------------------------------------------------------------------------- read-only install
# One cheap kernel: compiling is what the cache is for, and each run compiles from scratch.
_CALLS = """
import bagu_fast as bf
assert bf.levenshtein("kitten", "sitting") == 3
print("ok")
"""


def _run_unprivileged(code: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` as a user who cannot write the package (root ignores permissions, so as root
    drop to nobody; otherwise the caller made the copy read-only)."""
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot drop write permission")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("cache_env", ["no-home", "read-only-cache-dir", "no-temp-dir"])
def test_read_only_install_without_writable_cache(tmp_path, cache_env):
    """The package directory is not writable, no user cache is writable: kernels still run
    (a private cache under the temp dir, or no disk cache at all)."""
    pkg_root = tmp_path / "site"
    shutil.copytree(REPO / "bagu_fast", pkg_root / "bagu_fast",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    for path in [pkg_root, *pkg_root.rglob("*"), readonly]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    pkg_root.parent.chmod(0o755)
    tmp_path.chmod(0o755)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(pkg_root),
           "NUMBA_ENABLE_CUDASIM": "1"}
    code = _CALLS
    if cache_env == "read-only-cache-dir":
        env["HOME"] = str(readonly)
        env["NUMBA_CACHE_DIR"] = str(readonly)
    elif cache_env == "no-temp-dir":
        code = f"import tempfile; tempfile.tempdir = {str(readonly)!r}\n" + _CALLS
    private = Path("/tmp") / "bagu_fast-numba-cache-65534"
    try:
        proc = _run_unprivileged(textwrap.dedent(code), env, cwd=readonly)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip() == "ok"
    finally:
        for path in [pkg_root, *pkg_root.rglob("*"), readonly]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        if os.geteuid() == 0:
            shutil.rmtree(private, ignore_errors=True)
