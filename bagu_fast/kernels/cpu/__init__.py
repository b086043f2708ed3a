"""Numba CPU kernels.  Importing this package makes ``@njit(cache=True)`` safe everywhere.

Numba refuses to even define a ``cache=True`` function when it finds no writable cache
directory ("cannot cache function ...: no locator available"): a read-only install (a container
image, a system site-packages) with no writable ``NUMBA_CACHE_DIR`` or home directory would
make every kernel unusable.  Before any kernel module is imported this package checks that the
cache can be located; if not, it points Numba at a private directory under the system temporary
directory, and where even that cannot be written, our kernels compile without a disk cache
(slower first calls, same results).
"""
from __future__ import annotations

import os
import tempfile


def _probe() -> None:  # a function in this directory: it locates its cache like every kernel here
    pass


def _cache_locatable() -> bool:
    from numba.core.caching import FunctionCache

    try:
        FunctionCache(_probe)
    except RuntimeError:  # "no locator available"
        return False
    return True


def _compile_without_cache() -> None:
    """Let this package's ``cache=True`` kernels compile uncached instead of failing."""
    from numba.core.dispatcher import Dispatcher

    original = Dispatcher.enable_caching
    if getattr(original, "_bagu_fast_guard", False):
        return

    def enable_caching(self) -> None:
        try:
            original(self)
        except RuntimeError:
            if not getattr(self.py_func, "__module__", "").startswith("bagu_fast."):
                raise  # other libraries' functions keep Numba's own behaviour

    enable_caching._bagu_fast_guard = True  # type: ignore[attr-defined]
    Dispatcher.enable_caching = enable_caching


def _private_temp_dir() -> str | None:
    """``<tmp>/bagu_fast-numba-cache-<uid>``, only if it is ours alone (cache files are pickles:
    a directory another user could write to must never be loaded from)."""
    uid = os.getuid()
    path = os.path.join(tempfile.gettempdir(), f"bagu_fast-numba-cache-{uid}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    import stat

    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o022:
        return None
    return path


def _ensure_cache() -> None:
    from numba.core import config

    try:
        if _cache_locatable():
            return
        saved = config.CACHE_DIR
        private = _private_temp_dir()
        if private is not None:
            config.CACHE_DIR = private
            if _cache_locatable():
                return
        config.CACHE_DIR = saved
    except Exception:  # an unexpected Numba internals change: fall through to the safe path
        pass
    _compile_without_cache()


_ensure_cache()
