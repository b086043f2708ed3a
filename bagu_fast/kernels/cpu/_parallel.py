"""How every family calls its ``parallel=True`` kernels safely from any number of threads.

Wrap each call of a ``parallel=True`` kernel (or a group of calls) in :func:`parallel_region`::

    with parallel_region():                         # plain prange kernel
        _histogram_kernel(...)
    with parallel_region(single_thread_blas=True):  # a prange kernel that calls np.dot inside
        _sdpa_blocks(...)

Why:

* Numba's ``workqueue`` threading layer (what it falls back to where no OpenMP / TBB runtime
  exists, or what ``NUMBA_THREADING_LAYER=workqueue`` selects) is not thread-safe: two Python
  threads in parallel regions at once abort the whole process ("Concurrent access has been
  detected").  Under that layer parallel regions are serialised by one lock; under ``omp`` /
  ``tbb`` they run concurrently without a lock.  The layer is known only after the first
  parallel launch, so calls take the lock until then.
* ``np.dot`` inside ``prange`` calls SciPy's BLAS; nested threading oversubscribes the cores.
  BLAS is held to one thread while *any* such region is running, with one process-wide
  reference count, and the original limit comes back when the last region ends.  Setting and
  restoring the limit costs tens of µs, so consecutive regions in a loop keep the limit for a
  short grace period instead of toggling it per call.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

import numba

_layer: str | None = None  # numba's threading layer, once a parallel region has run
_layer_lock = threading.RLock()  # serialises parallel regions under the workqueue layer


def _learn_layer() -> None:
    global _layer
    try:
        _layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet (e.g. the kernel exited early)
        pass


class _BlasLimit:
    """Process-wide, reference-counted "BLAS on one thread" switch (threadpoolctl)."""

    GRACE_S = 0.05  # keep the limit this long after the last region, for loops of small calls

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._limiter = None
        self._controller = None
        self._release_timer: threading.Timer | None = None

    def acquire(self) -> None:
        with self._lock:
            if self._release_timer is not None:
                self._release_timer.cancel()
                self._release_timer = None
            if self._depth == 0 and self._limiter is None:
                if self._controller is None:
                    # np.dot in @njit calls SciPy's BLAS: load it before the controller looks
                    # for BLAS libraries, or the limit would miss it.
                    import scipy.linalg.cython_blas  # noqa: F401
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._depth += 1

    def release(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                timer = threading.Timer(self.GRACE_S, self._restore_if_idle)
                timer.daemon = True
                self._release_timer = timer
                timer.start()

    def _restore_if_idle(self) -> None:
        with self._lock:
            if self._depth == 0 and self._limiter is not None:
                self._limiter.restore_original_limits()
                self._limiter = None
            self._release_timer = None

    def restore_now(self) -> None:
        """Drop a lingering limit at once (tests and benchmarks that compare BLAS speeds)."""
        with self._lock:
            if self._release_timer is not None:
                self._release_timer.cancel()
                self._release_timer = None
        self._restore_if_idle()


blas_limit = _BlasLimit()


@contextmanager
def parallel_region(single_thread_blas: bool = False) -> Iterator[None]:
    """Run a ``parallel=True`` kernel call safely under any threading layer (see module doc)."""
    if single_thread_blas:
        blas_limit.acquire()
    try:
        if _layer is not None and _layer != "workqueue":
            yield
        else:
            with _layer_lock:
                yield
                if _layer is None:
                    _learn_layer()
    finally:
        if single_thread_blas:
            blas_limit.release()
