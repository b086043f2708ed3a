"""How every family calls its ``parallel=True`` kernels safely from any number of threads.

Launch each ``parallel=True`` kernel through :func:`run_parallel` (or wrap a group of calls in
:func:`parallel_region`)::

    run_parallel(_histogram_kernel, ...)                 # plain prange kernel
    run_parallel(_sdpa_blocks, ..., single_thread_blas=True, work=macs)  # calls np.dot; its size
    with parallel_region():                              # several calls, Python between them
        ...

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
* Handing the cores from one thread to the next must cost next to nothing.  Under ``omp`` each
  Python thread that launches a region has its own OpenMP team.  When the cores pass to another
  thread, that thread's team starts (its workers asleep, or not yet created) while the previous
  thread, back in Python, prepares its next call on the same cores; and GNU OpenMP stops
  spinning between regions altogether once more threads belong to teams than there are cores,
  so every later region waits for sleeping workers to wake (on a virtual machine, for an idle
  virtual CPU to be scheduled again).  So:

  - a caller that finds the cores taken queues its kernel call, and the holder runs it on its
    own thread before it lets the cores go (:class:`_CoreBudget`): one team does the work, and
    a caller's Python work never runs beside a kernel.  A queued ``parallel_region`` body
    cannot move to another thread: it is handed the cores when the holder is done;
  - small kernels (:func:`run_parallel` with ``work`` up to :data:`SHARE_WORK`) of threads that
    are calling at the same time run side by side, each on its share of the cores: nothing is
    handed over and no worker has to wake.  Measured on this project's 2-core machine, two
    threads making 40 calls each of a ``[1, 1, 1000, 64]`` attention took 0.94x the time of the
    same 80 calls one after another (the median of 26 pairs of runs), where serialising every
    call, with or without the holder running the others' calls, took 1.2x.
* Regions nest: a thread that is already inside a region does not wait again (also inside a
  call that the holder runs for another thread).
* ``np.dot`` inside ``prange`` calls SciPy's BLAS; nested threading oversubscribes the cores.
  BLAS is held to one thread while *any* such region is running, with one process-wide
  reference count, and the original limit comes back when the last region ends.  Setting and
  restoring the limit costs tens of µs, so consecutive regions in a loop keep the limit for a
  short grace period (one background thread restores it) instead of toggling it per call.
"""
from __future__ import annotations

import collections
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import numba

_layer: str | None = None  # numba's threading layer, once a parallel region has run
T = TypeVar("T")


def _learn_layer() -> None:
    global _layer
    try:
        _layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet (e.g. the kernel exited early)
        pass


class _Waiter:
    """A caller waiting for cores: with ``fn`` the holder may run it on its own thread (then
    ``done``), else (a ``parallel_region`` body) it is handed the cores (``promoted``)."""

    __slots__ = ("fn", "args", "want", "threads", "done", "promoted", "result", "error")

    def __init__(self, fn, args, want: int, threads: int) -> None:
        self.fn, self.args, self.want, self.threads = fn, args, want, threads
        self.done = self.promoted = False
        self.result = self.error = None


class _CoreBudget:
    """Process-wide budget of cores shared by parallel regions (re-entrant per thread).

    A caller that finds the cores taken queues up.  The holder, before it lets the cores go,
    runs the queued kernel calls (:func:`run_parallel`) itself, so one OpenMP team does the
    work of every thread; having served someone it also lingers up to ``LINGER_S`` for the
    next call of a busy caller.  After ``MAX_SERVED`` calls (fairness to its own caller), or for
    a queued ``parallel_region`` body (which only its own thread can run), the holder hands the
    cores to the first waiter instead of releasing them.

    A *shared* call (:func:`run_parallel` of a small kernel) asks for its share of
    the cores only: ``total // k`` when ``k`` threads have started parallel calls within the
    last ``ACTIVE_S``, so that several threads calling small kernels in loops run them side by
    side on fewer threads each, with no team to wake and nothing to hand over.
    """

    MAX_SERVED = 16
    LINGER_S = 0.002
    ACTIVE_S = 0.02

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._free: int | None = None
        self._queue: collections.deque[_Waiter] = collections.deque()
        self._local = threading.local()
        self._recent: dict[int, float] = {}  # thread -> start of its latest parallel call

    def _active(self) -> int:
        """Threads (this one included) that started a parallel call within ``ACTIVE_S``.  Call
        with the lock held."""
        now = time.monotonic()
        self._recent[threading.get_ident()] = now
        if len(self._recent) > 1:
            for ident in [i for i, t in self._recent.items() if now - t > self.ACTIVE_S]:
                del self._recent[ident]
        return len(self._recent)

    def holds(self) -> bool:
        return getattr(self._local, "held", None) is not None

    def width(self) -> int:
        """The thread count this thread's region runs with."""
        return self._local.width

    def acquire(self, fn=None, args=(), share: bool = False) -> _Waiter | None:
        """Take the cores for this thread (nested: nothing to do), or queue up.  Returns None
        when this thread now holds the cores, else the waiter once the holder has run ``fn``."""
        if self.holds():
            self._local.depth += 1
            return None
        total = numba.config.NUMBA_NUM_THREADS
        threads = max(1, min(numba.get_num_threads(), total))
        exclusive = _layer is None or _layer == "workqueue"  # not thread-safe (or not known yet)
        with self._cond:
            if self._free is None:
                self._free = total
            active = self._active()
            if exclusive:
                want = total
            elif share:
                want = max(1, min(threads, total // active))
            else:
                want = threads
            if not self._queue and self._free >= want:
                self._free -= want
                waiter = None
            else:
                waiter = _Waiter(fn, args, want, threads)
                self._queue.append(waiter)
                self._cond.notify_all()  # a lingering holder picks it up
                try:
                    while not (waiter.done or waiter.promoted):
                        self._cond.wait()
                except BaseException:  # interrupted while waiting: leave no trace in the queue
                    if waiter.promoted:
                        self._give_back(waiter.want)
                    elif not waiter.done:
                        self._queue.remove(waiter)
                    raise
        if waiter is not None and waiter.done:
            return waiter
        self._local.held = want
        self._local.width = want if share and not exclusive else numba.get_num_threads()
        self._local.depth = 1
        self._local.served = 0
        return None

    def release(self) -> None:
        self._local.depth -= 1
        if self._local.depth:
            return
        self._local.depth = 1  # kernels run while serving see their cores as held
        held = self._local.held
        try:
            self._serve(held)
        finally:
            self._local.held = None
            self._local.depth = 0

    def _next_runnable(self, held: int) -> _Waiter | None:
        for waiter in self._queue:
            if waiter.fn is not None and waiter.want <= held:
                self._queue.remove(waiter)
                return waiter
        return None

    def _serve(self, held: int) -> None:
        """Run queued kernel calls on this thread, then release (or hand over) the cores."""
        with self._cond:
            try:
                self._serve_locked(held)
            finally:
                self._give_back(held)

    def _serve_locked(self, held: int) -> None:
        deadline = None
        while self._local.served < self.MAX_SERVED:
            waiter = self._next_runnable(held)
            if waiter is None:
                if self._queue or not self._local.served:
                    return  # a region body waits for the cores, or nobody is calling
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.LINGER_S
                if now >= deadline:
                    return
                self._cond.wait(deadline - now)  # a busy caller is about to call again
                continue
            deadline = None
            self._cond.release()
            try:
                with thread_count(min(waiter.threads, held)):
                    waiter.result = waiter.fn(*waiter.args)
            except Exception as exc:  # re-raised in the caller's thread
                waiter.error = exc
            except BaseException:  # KeyboardInterrupt / SystemExit: this thread's own
                waiter.error = RuntimeError("the thread running this call was interrupted")
                raise
            finally:
                self._cond.acquire()
                waiter.done = True
                self._local.served += 1
                self._cond.notify_all()

    def _give_back(self, n: int) -> None:
        """Return ``n`` cores and hand them, FIFO, to the waiters that now fit (they run on
        their own threads).  Call with the lock held."""
        self._free += n
        while self._queue and self._queue[0].want <= self._free:
            waiter = self._queue.popleft()
            self._free -= waiter.want
            waiter.promoted = True
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
    """Run a ``parallel=True`` kernel call safely under any threading layer (see module doc).

    Prefer :func:`run_parallel` for a single kernel call: while the cores are taken, its call
    can run on the thread that holds them, with no hand-over; a region's body can only run on
    its own thread, once the cores are handed to it."""
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


# Kernels of at most this many multiply-adds (a few milliseconds on one core) may run on a share
# of the cores beside other threads' calls (run_parallel's ``work``).
SHARE_WORK = 1 << 28


def run_parallel(fn: Callable[..., T], *args: Any, single_thread_blas: bool = False,
                 work: float | None = None) -> T:
    """``fn(*args)`` as in :func:`parallel_region`, returning its result (or raising its error).

    When another thread holds the cores, that thread runs ``fn(*args)`` for this one as soon as
    its own work is done (this thread blocks until then), so the calls of all threads run one
    after another on one team of worker threads.  ``fn`` must therefore only launch kernels: it
    may run on any thread (with at most this thread's ``numba.get_num_threads()``), must not
    use thread-local state and must not wait for locks or other threads.

    ``work``: the kernel's multiply-adds (or a comparable count), if known.  A kernel of at
    most :data:`SHARE_WORK` runs, while other threads are calling too, on this thread's share of
    the cores, beside them (see :class:`_CoreBudget`; results do not depend on the thread
    count); a longer one, or one of unknown size, takes the whole machine, one after another,
    so that it never runs narrow after the others have stopped.  Uncontended, either way this
    is exactly ``with parallel_region(...): fn(*args)``."""
    share = work is not None and work <= SHARE_WORK
    if single_thread_blas:
        blas_limit.acquire()
    try:
        waiter = _cores.acquire(fn, args, share)
        if waiter is not None:  # the holder ran it
            if waiter.error is not None:
                error, waiter.error = waiter.error, None
                raise error
            return waiter.result
        try:
            with thread_count(_cores.width()):
                result = fn(*args)
            if _layer is None:
                _learn_layer()
        finally:
            _cores.release()
        return result
    finally:
        if single_thread_blas:
            blas_limit.release()
