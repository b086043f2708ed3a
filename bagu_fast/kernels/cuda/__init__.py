"""Numba CUDA kernels.  Importing a module here imports ``numba.cuda``.

Every CUDA kernel module lists its own kernels in a module-level ``PTX_SIGNATURES`` dict
``{kernel_name: [signature, ...]}``; a family may be one module (``attention.py``) or a package
of modules (``trees/``).  :func:`kernel_module_names` walks every module of this package, sub-packages
included, and :func:`compile_all_ptx` (run by tests/test_cuda_ptx.py) compiles each registered
kernel to PTX for every architecture in :data:`PTX_ARCHS` without needing a GPU.
"""
from __future__ import annotations

import importlib
import pkgutil

PTX_ARCHS = ((8, 0), (9, 0))


def kernel_modules() -> list[str]:
    """Names of the families in this package (a module or a package each; found without importing)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def kernel_module_names() -> list[str]:
    """Every module of every family, relative to this package (``"attention"``, ``"trees.histogram"``,
    ...): ``pkgutil.walk_packages`` over this package, private modules (``_name``) left out.
    Importing the sub-packages to walk them imports ``numba.cuda``."""
    prefix = __name__ + "."
    names = []
    for info in pkgutil.walk_packages(__path__, prefix=prefix):
        rel = info.name[len(prefix):]
        if not any(part.startswith("_") for part in rel.split(".")):
            names.append(rel)
    return sorted(names)


def compile_module_ptx(name: str, archs=PTX_ARCHS) -> list[dict]:
    """Compile the kernels module ``name`` (relative to this package) registers, for every arch;
    one record per (kernel, signature, arch), with its ``family`` (the first part of the name).

    Also reports, as ``unregistered``, any ``@cuda.jit`` kernel defined in the module that its
    ``PTX_SIGNATURES`` forgot (kernels it imports from a sibling are that sibling's).  Needs the
    real ``numba.cuda`` (not the simulator).
    """
    from types import SimpleNamespace
    from unittest import mock

    import numba.cuda.dispatcher as cuda_dispatcher
    from numba import cuda
    from numba.cuda.dispatcher import CUDADispatcher

    module = importlib.import_module(f"{__name__}.{name}")
    family = name.split(".")[0]
    registry = getattr(module, "PTX_SIGNATURES", {})
    records = []
    for attr, value in vars(module).items():
        # device functions are compiled through the kernels that call them
        if (isinstance(value, CUDADispatcher) and attr not in registry and not value.targetoptions.get("device")
                and getattr(value.py_func, "__module__", module.__name__) == module.__name__):
            records.append({"module": name, "family": family, "kernel": attr, "error": "unregistered"})
    for kernel_name, signatures in registry.items():
        kernel = getattr(module, kernel_name)
        for sig in signatures:
            for cc in archs:
                rec = {"module": name, "family": family, "kernel": kernel_name, "signature": str(sig), "cc": list(cc)}
                # Kernels may call @cuda.jit(device=True) functions: typing that call asks the
                # driver for the current device's compute capability (the only driver call on
                # that path), so answer it with the target arch.
                fake_device = SimpleNamespace(compute_capability=cc)
                try:
                    with mock.patch.object(cuda_dispatcher, "get_current_device", lambda: fake_device):
                        ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
                    rec["ptx_bytes"] = len(ptx)
                except Exception as exc:  # reported, and failed, by the test
                    rec["error"] = f"{type(exc).__name__}: {exc}"
                records.append(rec)
    return records


def compile_all_ptx(archs=PTX_ARCHS) -> list[dict]:
    """:func:`compile_module_ptx` for every module :func:`kernel_module_names` finds."""
    return [rec for name in kernel_module_names() for rec in compile_module_ptx(name, archs)]
