"""Numba CUDA kernels.  Importing a module here imports ``numba.cuda``.

Every CUDA kernel module lists its kernels in a module-level ``PTX_SIGNATURES`` dict
``{kernel_name: [signature, ...]}``; :func:`compile_all_ptx` (and tests/test_cuda_ptx.py)
compile each one to PTX for every architecture in :data:`PTX_ARCHS` without needing a GPU.
"""
from __future__ import annotations

import importlib
import pkgutil

PTX_ARCHS = ((8, 0), (9, 0))


def kernel_modules() -> list[str]:
    """Names of the family modules in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def compile_all_ptx(archs=PTX_ARCHS) -> list[dict]:
    """Compile every registered kernel for every arch; one record per (kernel, signature, arch).

    Also reports, as ``unregistered``, any ``@cuda.jit`` kernel of a module that its
    ``PTX_SIGNATURES`` forgot.  Needs the real ``numba.cuda`` (not the simulator).
    """
    from types import SimpleNamespace
    from unittest import mock

    import numba.cuda.dispatcher as cuda_dispatcher
    from numba import cuda
    from numba.cuda.dispatcher import CUDADispatcher

    records = []
    for name in kernel_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        registry = getattr(module, "PTX_SIGNATURES", {})
        for attr, value in vars(module).items():
            # device functions are compiled through the kernels that call them
            if isinstance(value, CUDADispatcher) and attr not in registry and not value.targetoptions.get("device"):
                records.append({"module": name, "kernel": attr, "error": "unregistered"})
        for kernel_name, signatures in registry.items():
            kernel = getattr(module, kernel_name)
            for sig in signatures:
                for cc in archs:
                    rec = {"module": name, "kernel": kernel_name, "signature": str(sig), "cc": list(cc)}
                    # Kernels may call @cuda.jit(device=True) functions: typing that call asks the
                    # driver for the current device's compute capability (the only driver call on
                    # that path), so answer it with the target arch (see shared CUDA_NOTES.md).
                    fake_device = SimpleNamespace(compute_capability=cc)
                    try:
                        with mock.patch.object(cuda_dispatcher, "get_current_device", lambda: fake_device):
                            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
                        rec["ptx_bytes"] = len(ptx)
                    except Exception as exc:  # reported, and failed, by the test
                        rec["error"] = f"{type(exc).__name__}: {exc}"
                    records.append(rec)
    return records
