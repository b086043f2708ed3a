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
  detected").  Under that layer parallel regions run one at a time.  The layer is known only
  after the first parallel launch, so regions run one at a time until then.
* Under ``omp`` / ``tbb`` concurrent regions are safe but each brings its own team of
  ``numba.get_num_threads()`` threads: two Python threads launching full-width kernels at once
  put twice as many busy threads as cores on the machine, and OpenMP's spinning workers make
  that much slower than the same calls one after another.  So regions share a budget of
  ``numba.config.NUMBA_NUM_THREADS`` cores: a region takes as many as its caller's
  ``numba.get_num_threads()`` (Numba's per-thread setting) and waits until they are free.
  Full-width regions therefore run one after another; narrow ones (``set_num_threads(1)``)
  still run side by side.
* Regions nest: a thread that is already inside a region does not wait again.
* ``np.dot`` inside ``prange`` calls SciPy's BLAS; nested threading oversubscribes the cores.
  BLAS is held to one thread while *any* such region is running, with one process-wide
  reference count, and the original limit comes back when the last region ends.  Setting and
  restoring the limit costs tens of µs, so consecutive regions in a loop keep the limit for a
  short grace period (one background thread restores it) instead of toggling it per call.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

import numba

_layer: str | None = None  # numba's threading layer, once a parallel region has run


def _learn_layer() -> None:
    global _layer
    try:
        _layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet (e.g. the kernel exited early)
        pass


class _CoreBudget:
    """Process-wide budget of cores shared by parallel regions (re-entrant per thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._free: int | None = None
        self._total = 0
        self._local = threading.local()

    def acquire(self) -> None:
        held = getattr(self._local, "held", None)
        if held is not None:  # nested region in this thread: the cores are ours already
            self._local.depth += 1
            return
        total = numba.config.NUMBA_NUM_THREADS
        if _layer is None or _layer == "workqueue":
            want = total  # not thread-safe (or not known yet): exclusive
        else:
            want = max(1, min(numba.get_num_threads(), total))
        with self._cond:
            if self._free is None:
                self._free = self._total = total
            while self._free < want:
                self._cond.wait()
            self._free -= want
        self._local.held = want
        self._local.depth = 1

    def release(self) -> None:
        self._local.depth -= 1
        if self._local.depth:
            return
        want, self._local.held = self._local.held, None
        with self._cond:
            self._free += want
            self._cond.notify_all()


_cores = _CoreBudget()


class _BlasLimit:
    """Process-wide, reference-counted "BLAS on one thread" switch (threadpoolctl)."""

    GRACE_S = 0.05  # keep the limit this long after the last region, for loops of small calls

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._depth = 0
        self._limiter = None
        self._controller = None
        self._idle_since = 0.0
        self._restorer: threading.Thread | None = None

    def acquire(self) -> None:
        with self._lock:
            if self._limiter is None:
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
                self._idle_since = time.monotonic()
                if self._restorer is None or not self._restorer.is_alive():
                    self._restorer = threading.Thread(
                        target=self._restore_when_idle, name="bagu_fast-blas-limit", daemon=True
                    )
                    self._restorer.start()
                else:
                    self._wake.notify()

    def _restore_when_idle(self) -> None:
        """Background thread: drop the limit once no region has run for GRACE_S, then exit."""
        with self._lock:
            while self._limiter is not None:
                if self._depth == 0:
                    left = self._idle_since + self.GRACE_S - time.monotonic()
                    if left <= 0:
                        self._limiter.restore_original_limits()
                        self._limiter = None
                        break
                    self._wake.wait(left)
                else:
                    self._wake.wait()
            self._restorer = None

    def restore_now(self) -> None:
        """Drop a lingering limit at once (tests and benchmarks that compare BLAS speeds)."""
        with self._lock:
            if self._depth == 0 and self._limiter is not None:
                self._limiter.restore_original_limits()
                self._limiter = None
                self._wake.notify()


blas_limit = _BlasLimit()


@contextmanager
def thread_count(n: int) -> Iterator[None]:
    """Run the block with ``numba.get_num_threads() == n`` in this thread (clamped to
    ``1..NUMBA_NUM_THREADS``), restoring the previous count afterwards.  The count changes who
    runs which work item, never a result."""
    before = numba.get_num_threads()
    want = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    if want != before:
        numba.set_num_threads(want)
    try:
        yield
    finally:
        if want != before:
            numba.set_num_threads(before)


@contextmanager
def parallel_region(single_thread_blas: bool = False) -> Iterator[None]:
    """Run a ``parallel=True`` kernel call safely under any threading layer (see module doc)."""
    if single_thread_blas:
        blas_limit.acquire()
    try:
        _cores.acquire()
        try:
            yield
            if _layer is None:
                _learn_layer()
        finally:
            _cores.release()
    finally:
        if single_thread_blas:
            blas_limit.release()
