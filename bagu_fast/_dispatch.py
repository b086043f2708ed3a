"""Backend choice and device-array handling shared by every family.

The public modules call :func:`resolve_backend` to turn ``backend="auto"`` into a concrete
backend, :func:`kernels` to get that backend's kernel module, and, for array families,
:func:`prepare_array` / :func:`wrap_like` so that NumPy stays NumPy and a device array comes
back as a device array of the library it came from.  Nothing here imports ``numba.cuda`` or
CuPy until a device array or ``backend="cuda"`` actually needs it, so ``import bagu_fast``
stays fast.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

BACKENDS = ("auto", "cpu", "cuda", "reference")


def _is_simulator_array(x: Any) -> bool:
    """Numba CUDA simulator device arrays carry no ``__cuda_array_interface__``; recognise them
    by type so the device paths run (and are tested) without a GPU."""
    return type(x).__module__.startswith("numba.cuda.simulator")


def is_device_array(x: Any) -> bool:
    """True for CuPy arrays, PyTorch CUDA tensors, Numba device arrays (anything on a GPU), and
    Numba CUDA simulator device arrays."""
    if type(x) is np.ndarray:  # the common case, without a failing attribute lookup (per-call cost)
        return False
    return hasattr(x, "__cuda_array_interface__") or _is_simulator_array(x)


def _is_torch(x: Any) -> bool:
    return type(x) is not np.ndarray and type(x).__module__.split(".")[0] == "torch"


def resolve_backend(backend: Any, *inputs: Any) -> str:
    """Return the concrete backend for ``backend`` given the (unvalidated) inputs.

    ``"auto"`` picks ``"cuda"`` when any input lives on a GPU, otherwise ``"cpu"``.
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "cuda" if any(is_device_array(x) for x in inputs) else "cpu"
    if backend != "cuda" and any(is_device_array(x) for x in inputs):
        raise ValueError(
            f"backend={backend!r} needs host (NumPy) inputs, but a GPU array was passed; "
            "use backend='cuda' or 'auto', or copy the input to the host first"
        )
    return backend


def cuda_available() -> bool:
    """True when CUDA kernels can run here: a real GPU, or the Numba CUDA simulator."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return True
    try:
        from numba import cuda
    except ImportError:  # pragma: no cover - numba-cuda is a dependency
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # pragma: no cover - driver errors mean "no"
        return False


def kernels(family: str, backend: str) -> ModuleType:
    """Import and return ``bagu_fast.kernels.<backend>.<family>``."""
    if backend == "cuda" and not cuda_available():
        raise RuntimeError(
            "backend='cuda' needs an NVIDIA GPU with a working driver (or NUMBA_ENABLE_CUDASIM=1 "
            "for the slow simulator); use backend='cpu' here"
        )
    return importlib.import_module(f"bagu_fast.kernels.{backend}.{family}")


def prepare_array(x: Any, name: str) -> Any:
    """NumPy array for host input; a C-contiguous Numba device array view for GPU input.

    Host inputs are converted with :func:`numpy.asarray` (no copy when already an array; torch
    CPU tensors are read through a detached view); the caller's object is never written to.
    Non-contiguous device arrays are made contiguous by their own library (CuPy / PyTorch)
    before viewing.
    """
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    if not is_device_array(x):
        if _is_torch(x) and hasattr(x, "detach"):
            x = x.detach()  # a tensor that requires grad refuses __array__
        try:
            return np.asarray(x)
        except Exception as exc:  # ragged nested lists and the like
            raise TypeError(f"{name} must be array-like, got {type(x).__name__}: {exc}") from None
    from numba import cuda

    if _is_simulator_array(x) or cuda.is_cuda_array(x) and type(x).__module__.startswith("numba"):
        arr = x  # already a Numba device array
    else:
        arr = cuda.as_cuda_array(x)
    if not arr.is_c_contiguous():
        module = type(x).__module__.split(".")[0]
        if module == "cupy":
            import cupy

            arr = cuda.as_cuda_array(cupy.ascontiguousarray(x))
        elif module == "torch":
            arr = cuda.as_cuda_array(x.contiguous())
        else:
            raise ValueError(f"{name} must be C-contiguous on the device")
    return arr


def host(x: Any) -> np.ndarray:
    """Host array of a prepared array: NumPy stays as is, device arrays are copied out."""
    return x if isinstance(x, np.ndarray) else x.copy_to_host()


def reshape(x: Any, shape: tuple) -> Any:
    """``x`` with ``shape``: a C-contiguous NumPy array (a view when ``x`` already is one), or a
    reshaped device array (``prepare_array`` made device arrays C-contiguous)."""
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x).reshape(shape)
    return x.reshape(*shape)


def wrap_like(result: Any, template: Any) -> Any:
    """Return a kernel's result as an array of ``template``'s library and device.

    NumPy templates get NumPy back (the CUDA launchers already copy out for host inputs), torch
    CPU tensors get torch CPU tensors, CuPy / torch CUDA inputs get CuPy / torch CUDA arrays,
    Numba device arrays (real or simulated) get Numba device arrays.
    """
    if not is_device_array(template):
        if _is_torch(template) and isinstance(result, np.ndarray):
            import torch

            return torch.from_numpy(np.ascontiguousarray(result))
        return result
    if isinstance(result, np.ndarray):  # a host result for device input: move it over
        from numba import cuda

        result = cuda.to_device(result)
    module = type(template).__module__.split(".")[0]
    if module == "cupy":
        import cupy

        return cupy.asarray(result)
    if module == "torch":
        import torch

        return torch.as_tensor(result, device=template.device)
    return result
