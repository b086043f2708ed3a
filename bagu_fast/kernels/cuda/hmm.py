"""Numba CUDA kernels for the sequence-model family (HMM and linear-chain CRF share them).

Raw signature and semantics: see :mod:`bagu_fast.kernels.reference.hmm`.  NumPy inputs are copied
in and the results copied out (NumPy back); device inputs (Numba device arrays, or anything with
``__cuda_array_interface__``) give Numba device arrays back.

Kernel layout: one thread block per sequence, threads over states (``tid, tid + NT, ...`` so any
``N`` works), one ``syncthreads`` per time step.  Everything is computed in log space in float64
(inputs and outputs may be float32; the float64 working rows live in shared or global memory):

* forward: thread ``j`` folds ``alpha_{t-1}(i) + trans(i, j)`` over ``i`` with an online
  log-sum-exp (one ``exp`` per term; ``-inf`` terms skipped).  The block's two live rows
  (previous / current) sit in dynamic shared memory (``2 N`` float64, up to ``MAX_SHARED_BYTES``;
  past that, in a global ``[S, 2 N]`` buffer), so every thread reads the previous row from shared
  memory (a broadcast); reads of ``trans[i, j]`` are coalesced across the block and stay in cache;
* backward: thread ``i`` folds ``trans(i, j) + em_{t+1}(j) + beta_{t+1}(j)`` over ``j``;
  posteriors / counts run the forward pass, then the backward pass, writing
  ``gamma = exp(alpha + beta - logz)`` and accumulating thread ``i``'s row of ``xi`` (and
  ``gamma_0`` / ``gamma_{L-1}``) into a per-sequence buffer ``[S, N + 2, N]`` (no atomics); a
  second kernel sums it over sequences in a fixed order, so results are deterministic;
* Viterbi: thread ``j`` keeps the strict maximum over ``i = 0, 1, ...`` (lowest index wins ties,
  as the other backends), int32 back-pointers ``[R, N]`` in global memory, and thread 0 does the
  backtrace of its sequence;
* CRF gradient: after the counts, one block per sequence turns ``gamma`` into
  ``onehot(tags) - gamma`` (threads over states) and thread 0 adds the gold score and the observed
  counts to the per-sequence buffer before the same reduction.

No warp shuffles, so everything runs in the CUDA simulator; ``PTX_SIGNATURES`` lists every kernel
for float32 and float64.
"""
from __future__ import annotations

import math
import os

import numpy as np
from numba import cuda, float64

__all__ = ["forward", "backward", "posteriors", "viterbi", "expected_counts", "crf_grad"]

MAX_THREADS = 128  # threads per block (at most); tests lower it to exercise the N > threads loops
MAX_SHARED_BYTES = 48 * 1024  # dynamic shared memory per block for the two working rows (0: global)

NEG_INF = float("-inf")


@cuda.jit(device=True, inline=True)
def _lse_add(m, acc, x):
    """Online log-sum-exp: fold x into (m, acc) where the running value is m + log(acc)."""
    if x == NEG_INF:
        return m, acc
    if x > m:
        return x, acc * math.exp(m - x) + 1.0
    return m, acc + math.exp(x - m)


@cuda.jit(device=True, inline=True)
def _lse_value(m, acc):
    if m == NEG_INF:
        return NEG_INF
    return m + math.log(acc)


@cuda.jit(device=True)
def _log_total(row, off, end):
    """log sum_i exp(row[off + i] + end[i]): the log partition of a sequence from its last alpha."""
    m = NEG_INF
    acc = 0.0
    for i in range(end.shape[0]):
        m, acc = _lse_add(m, acc, row[off + i] + float64(end[i]))
    return _lse_value(m, acc)


@cuda.jit(device=True)
def _forward_pass(start, trans, em, r0, L, buf, rows, write_rows, alpha_out, write_alpha):
    """alpha of one sequence: the two live rows in buf (1-D, 2 N: shared or global memory); every
    row also into rows[r0 + t] (float64) when write_rows and alpha_out[r0 + t] when write_alpha."""
    N = start.shape[0]
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    for j in range(tid, N, nt):
        a = float64(start[j]) + float64(em[r0, j])
        buf[j] = a
        if write_rows:
            rows[r0, j] = a
        if write_alpha:
            alpha_out[r0, j] = a
    cuda.syncthreads()
    for t in range(1, L):
        cur = (t & 1) * N
        prev = N - cur
        for j in range(tid, N, nt):
            m = NEG_INF
            acc = 0.0
            for i in range(N):
                m, acc = _lse_add(m, acc, buf[prev + i] + float64(trans[i, j]))
            a = _lse_value(m, acc) + float64(em[r0 + t, j])
            buf[cur + j] = a
            if write_rows:
                rows[r0 + t, j] = a
            if write_alpha:
                alpha_out[r0 + t, j] = a
        cuda.syncthreads()


@cuda.jit(device=True, inline=True)
def _buffer(ping, s, use_shared):
    """The block's 2 N float64 working rows: dynamic shared memory when the launch gave it, else
    the block's row of the global ping-pong buffer."""
    sh = cuda.shared.array(0, float64)
    if use_shared != 0:
        return sh
    return ping[s]


@cuda.jit
def _forward_kernel(start, trans, end, em, seq_start, seq_len, ping, use_shared, write_alpha, alpha_out, logz):
    s = cuda.blockIdx.x
    if s >= seq_len.shape[0]:
        return
    r0 = seq_start[s]
    L = seq_len[s]
    N = start.shape[0]
    buf = _buffer(ping, s, use_shared)
    _forward_pass(start, trans, em, r0, L, buf, alpha_out, False, alpha_out, write_alpha != 0)
    if cuda.threadIdx.x == 0:
        logz[s] = _log_total(buf, ((L - 1) & 1) * N, end)


@cuda.jit
def _backward_kernel(trans, end, em, seq_start, seq_len, ping, use_shared, beta_out):
    s = cuda.blockIdx.x
    if s >= seq_len.shape[0]:
        return
    r0 = seq_start[s]
    L = seq_len[s]
    N = trans.shape[0]
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    buf = _buffer(ping, s, use_shared)
    first = ((L - 1) & 1) * N
    for i in range(tid, N, nt):
        buf[first + i] = float64(end[i])
        beta_out[r0 + L - 1, i] = end[i]
    cuda.syncthreads()
    for t in range(L - 2, -1, -1):
        cur = (t & 1) * N
        nxt = N - cur
        for i in range(tid, N, nt):
            m = NEG_INF
            acc = 0.0
            for j in range(N):
                m, acc = _lse_add(m, acc, float64(trans[i, j]) + float64(em[r0 + t + 1, j]) + buf[nxt + j])
            b = _lse_value(m, acc)
            buf[cur + i] = b
            beta_out[r0 + t, i] = b
        cuda.syncthreads()


@cuda.jit
def _posteriors_kernel(start, trans, end, em, seq_start, seq_len, rows, ping, use_shared, want_counts, logz, gamma,
                       counts):
    """Forward into rows (float64 [R, N]), backward with ping-pong beta; gamma (output dtype);
    when want_counts, counts[s] rows 0..N-1 = xi sum, row N = gamma_0, row N + 1 = gamma_{L-1}."""
    s = cuda.blockIdx.x
    if s >= seq_len.shape[0]:
        return
    r0 = seq_start[s]
    L = seq_len[s]
    N = start.shape[0]
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    shared_z = cuda.shared.array(1, float64)
    buf = _buffer(ping, s, use_shared)
    _forward_pass(start, trans, em, r0, L, buf, rows, True, gamma, False)
    if tid == 0:
        z = _log_total(rows[r0 + L - 1], 0, end)
        shared_z[0] = z
        logz[s] = z
    cuda.syncthreads()
    z = shared_z[0]
    finite = z != NEG_INF
    if want_counts != 0:
        for i in range(tid, N, nt):
            for j in range(N):
                counts[s, i, j] = 0.0
    first = ((L - 1) & 1) * N
    for i in range(tid, N, nt):
        b = float64(end[i])
        buf[first + i] = b
        g = 0.0
        if finite:
            g = math.exp(rows[r0 + L - 1, i] + b - z)
        gamma[r0 + L - 1, i] = g
        if want_counts != 0:
            counts[s, N + 1, i] = g
            if L == 1:
                counts[s, N, i] = g
    cuda.syncthreads()
    for t in range(L - 2, -1, -1):
        cur = (t & 1) * N
        nxt = N - cur
        for i in range(tid, N, nt):
            m = NEG_INF
            acc = 0.0
            a = rows[r0 + t, i]
            for j in range(N):
                w = float64(trans[i, j]) + float64(em[r0 + t + 1, j]) + buf[nxt + j]
                m, acc = _lse_add(m, acc, w)
                if want_counts != 0 and finite and a != NEG_INF:
                    counts[s, i, j] += math.exp(a + w - z)
            b = _lse_value(m, acc)
            buf[cur + i] = b
            g = 0.0
            if finite:
                g = math.exp(a + b - z)
            gamma[r0 + t, i] = g
            if want_counts != 0 and t == 0:
                counts[s, N, i] = g
        cuda.syncthreads()


@cuda.jit
def _sum_sequences(counts, out):
    """out[k, j] = sum_s counts[s, k, j] (fixed order): one thread per (k, j)."""
    idx = cuda.grid(1)
    K = counts.shape[1]
    N = counts.shape[2]
    if idx >= K * N:
        return
    k = idx // N
    j = idx - k * N
    acc = 0.0
    for s in range(counts.shape[0]):
        acc += counts[s, k, j]
    out[k, j] = acc


@cuda.jit
def _viterbi_kernel(start, trans, end, em, seq_start, seq_len, ping, use_shared, bp, path, score):
    s = cuda.blockIdx.x
    if s >= seq_len.shape[0]:
        return
    r0 = seq_start[s]
    L = seq_len[s]
    N = start.shape[0]
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    buf = _buffer(ping, s, use_shared)
    for j in range(tid, N, nt):
        buf[j] = float64(start[j]) + float64(em[r0, j])
    cuda.syncthreads()
    for t in range(1, L):
        cur = (t & 1) * N
        prev = N - cur
        for j in range(tid, N, nt):
            best = NEG_INF
            arg = 0
            for i in range(N):
                c = buf[prev + i] + float64(trans[i, j])
                if c > best:
                    best = c
                    arg = i
            buf[cur + j] = best + float64(em[r0 + t, j])
            bp[r0 + t, j] = arg
        cuda.syncthreads()
    if tid == 0:
        last = ((L - 1) & 1) * N
        k = 0
        top = buf[last] + float64(end[0])
        for j in range(1, N):
            v = buf[last + j] + float64(end[j])
            if v > top:
                top = v
                k = j
        score[s] = top
        path[r0 + L - 1] = k
        for t in range(L - 1, 0, -1):
            k = bp[r0 + t, k]
            path[r0 + t - 1] = k


@cuda.jit
def _crf_observed_kernel(start, trans, end, em, tags, seq_start, seq_len, logz, llh, g_em, counts):
    """g_em = onehot(tags) - gamma (g_em holds gamma on entry); counts[s] = observed - expected;
    sequences with logz = -inf: llh = -inf, zero gradient."""
    s = cuda.blockIdx.x
    if s >= seq_len.shape[0]:
        return
    r0 = seq_start[s]
    L = seq_len[s]
    N = start.shape[0]
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    dead = logz[s] == NEG_INF
    for e in range(tid, L * N, nt):
        t = e // N
        j = e - t * N
        g = 0.0
        if not dead:
            g = -float64(g_em[r0 + t, j])
            if tags[r0 + t] == j:
                g += 1.0
        g_em[r0 + t, j] = g
    for e in range(tid, (N + 2) * N, nt):
        k = e // N
        j = e - k * N
        if dead:
            counts[s, k, j] = 0.0
        else:
            counts[s, k, j] = -counts[s, k, j]
    cuda.syncthreads()
    if tid == 0:
        if dead:
            llh[s] = NEG_INF
        else:
            y = tags[r0]
            gold = float64(start[y]) + float64(em[r0, y])
            counts[s, N, y] += 1.0
            for t in range(1, L):
                yp = y
                y = tags[r0 + t]
                gold += float64(trans[yp, y]) + float64(em[r0 + t, y])
                counts[s, yp, y] += 1.0
            gold += float64(end[y])
            counts[s, N + 1, y] += 1.0
            llh[s] = gold - float64(logz[s])


@cuda.jit
def _fill(x, value):
    """x[:] = value for a 1-D x (grid-stride loop): output initialisation without a host copy."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for k in range(start, x.shape[0], stride):
        x[k] = value


@cuda.jit
def _flag_bad_values(x, flag):
    """flag[0] = 1 if any entry of the 1-D x is NaN or +inf (grid-stride loop)."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for k in range(start, x.shape[0], stride):
        if not x[k] < math.inf:
            flag[0] = 1


def has_nan_or_posinf(x) -> bool:
    """True when the device (or host) array holds NaN or +inf, checked on the device: only one
    int32 flag comes back to the host, not the array."""
    d = _to_device(x)
    n = int(np.prod(d.shape, dtype=np.int64))
    if n == 0:
        return False
    flag = cuda.to_device(np.zeros(1, np.int32))
    blocks = min(1024, (n + 255) // 256)
    _flag_bad_values[blocks, 256](d.reshape(n), flag)
    return bool(flag.copy_to_host()[0])


# --------------------------------------------------------------------------------------------
# PTX registry
# --------------------------------------------------------------------------------------------
def _sigs():
    out = {}
    for t in ("float32", "float64"):
        v, m = f"{t}[::1]", f"{t}[:, ::1]"
        i64, f3, f2 = "int64[::1]", "float64[:, :, ::1]", "float64[:, ::1]"
        out.setdefault("_forward_kernel", []).append(
            f"void({v}, {m}, {v}, {m}, {i64}, {i64}, {f2}, int64, int64, {m}, {v})")
        out.setdefault("_backward_kernel", []).append(f"void({m}, {v}, {m}, {i64}, {i64}, {f2}, int64, {m})")
        out.setdefault("_posteriors_kernel", []).append(
            f"void({v}, {m}, {v}, {m}, {i64}, {i64}, {f2}, {f2}, int64, int64, {v}, {m}, {f3})")
        out.setdefault("_sum_sequences", []).append(f"void({f3}, {m})")
        out.setdefault("_viterbi_kernel", []).append(
            f"void({v}, {m}, {v}, {m}, {i64}, {i64}, {f2}, int64, int32[:, ::1], int32[::1], {v})")
        out.setdefault("_flag_bad_values", []).append(f"void({v}, int32[::1])")
        out.setdefault("_fill", []).append(f"void({v}, {t})")
        out.setdefault("_crf_observed_kernel", []).append(
            f"void({v}, {m}, {v}, {m}, int32[::1], {i64}, {i64}, {v}, {v}, {m}, {f3})")
    out["_fill"].append("void(int32[::1], int32)")
    return out


PTX_SIGNATURES = _sigs()


# --------------------------------------------------------------------------------------------
# launchers
# --------------------------------------------------------------------------------------------
def _is_device(x) -> bool:
    return hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host")


def _to_device(x, dtype=None):
    if hasattr(x, "copy_to_host"):
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return cuda.as_cuda_array(x)
    return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))


def _threads(N: int) -> int:
    nt = 1
    while nt < N and nt < MAX_THREADS:
        nt *= 2
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        nt = max(nt, 32)  # whole warps on a real device
    return min(nt, MAX_THREADS) if MAX_THREADS >= 1 else 1


class _Launch:
    """Device copies of the chain inputs and the output helpers of one call."""

    def __init__(self, start, trans, end, em, seq_start, seq_len):
        self.on_device = any(_is_device(x) for x in (start, trans, end, em))
        self.dtype = np.dtype(em.dtype)
        self.R, self.N = (int(d) for d in em.shape)
        self.S = int(len(seq_len))
        self.seq_start_host = np.ascontiguousarray(seq_start, dtype=np.int64)
        self.seq_len_host = np.ascontiguousarray(seq_len, dtype=np.int64)
        if self.S:
            self.start, self.trans, self.end, self.em = (_to_device(x, self.dtype) for x in (start, trans, end, em))
            self.seq_start = cuda.to_device(self.seq_start_host)
            self.seq_len = cuda.to_device(self.seq_len_host)
        self.nt = _threads(self.N)
        self.shared_bytes = 2 * self.N * 8 if 2 * self.N * 8 <= MAX_SHARED_BYTES else 0

    def ping(self):
        """(global ping-pong rows, use_shared flag): the two working rows of every block live in
        dynamic shared memory when they fit, else in this [S, 2 N] global buffer."""
        if self.shared_bytes:
            return cuda.device_array((1, 2 * self.N), dtype=np.float64), np.int64(1)
        return cuda.device_array((self.S, 2 * self.N), dtype=np.float64), np.int64(0)

    def config(self):
        return self.S, self.nt, 0, self.shared_bytes

    def full(self, shape, value, dtype=None):
        """A device array of ``shape`` filled on the device."""
        dt = np.dtype(dtype or self.dtype)
        x = cuda.device_array(shape, dtype=dt)
        n = int(np.prod(shape, dtype=np.int64))
        if n:
            _fill[min(1024, (n + 255) // 256), 256](x.reshape(n), dt.type(value))
        return x

    def out(self, x):
        """Host copy for host inputs, the device array otherwise."""
        if x is None or self.on_device or isinstance(x, np.ndarray):
            return x
        return x.copy_to_host()

    def empty_result(self, x):
        return cuda.to_device(x) if self.on_device else x


def forward(start, trans, end, em, seq_start, seq_len, return_alpha):
    ln = _Launch(start, trans, end, em, seq_start, seq_len)
    if ln.S == 0:
        alpha = np.full((ln.R, ln.N), -np.inf, dtype=ln.dtype) if return_alpha else None
        return ln.empty_result(np.empty(0, ln.dtype)), (None if alpha is None else ln.empty_result(alpha))
    logz = cuda.device_array(ln.S, dtype=ln.dtype)
    alpha = ln.full((ln.R, ln.N), -np.inf) if return_alpha else cuda.device_array((1, ln.N), dtype=ln.dtype)
    ping, use_shared = ln.ping()
    _forward_kernel[ln.config()](ln.start, ln.trans, ln.end, ln.em, ln.seq_start, ln.seq_len, ping, use_shared,
                                 np.int64(1 if return_alpha else 0), alpha, logz)
    return ln.out(logz), (ln.out(alpha) if return_alpha else None)


def backward(start, trans, end, em, seq_start, seq_len):
    ln = _Launch(start, trans, end, em, seq_start, seq_len)
    beta = ln.full((ln.R, ln.N), -np.inf)
    if ln.S:
        ping, use_shared = ln.ping()
        _backward_kernel[ln.config()](ln.trans, ln.end, ln.em, ln.seq_start, ln.seq_len, ping, use_shared, beta)
    return ln.out(beta)


def _run_posteriors(ln: _Launch, want_counts: bool):
    """(logz, gamma, per-sequence counts or None) on the device."""
    gamma = ln.full((ln.R, ln.N), 0.0)
    logz = cuda.device_array(ln.S, dtype=ln.dtype)
    rows = cuda.device_array((ln.R, ln.N), dtype=np.float64)
    ping, use_shared = ln.ping()
    counts = cuda.device_array((ln.S if want_counts else 1, ln.N + 2, ln.N), dtype=np.float64)
    _posteriors_kernel[ln.config()](ln.start, ln.trans, ln.end, ln.em, ln.seq_start, ln.seq_len, rows, ping,
                                    use_shared, np.int64(1 if want_counts else 0), logz, gamma, counts)
    return logz, gamma, (counts if want_counts else None)


def _reduce(ln: _Launch, counts):
    out = cuda.device_array((ln.N + 2, ln.N), dtype=ln.dtype)
    n = (ln.N + 2) * ln.N
    _sum_sequences[(n + 127) // 128, 128](counts, out)
    return out


def _empty_counts(ln: _Launch):
    """(start, trans, end) counts of no sequence: zeros, on the device for device inputs."""
    z = np.zeros((ln.N + 2, ln.N), ln.dtype)
    return tuple(ln.empty_result(np.ascontiguousarray(x)) for x in (z[ln.N], z[:ln.N], z[ln.N + 1]))


def _split_counts(ln: _Launch, total):
    """(start, trans, end) rows of the summed counts: device views for device inputs, else host
    copies."""
    N = ln.N
    if ln.on_device:
        return total[N], total[:N], total[N + 1]
    host = total.copy_to_host()
    return host[N].copy(), host[:N].copy(), host[N + 1].copy()


def posteriors(start, trans, end, em, seq_start, seq_len):
    ln = _Launch(start, trans, end, em, seq_start, seq_len)
    if ln.S == 0:
        return ln.empty_result(np.zeros((ln.R, ln.N), ln.dtype)), ln.empty_result(np.empty(0, ln.dtype))
    logz, gamma, _ = _run_posteriors(ln, False)
    return ln.out(gamma), ln.out(logz)


def expected_counts(start, trans, end, em, seq_start, seq_len):
    ln = _Launch(start, trans, end, em, seq_start, seq_len)
    if ln.S == 0:
        c_start, c_trans, c_end = _empty_counts(ln)
        return (ln.empty_result(np.empty(0, ln.dtype)), c_start, c_trans, c_end,
                ln.empty_result(np.zeros((ln.R, ln.N), ln.dtype)))
    logz, gamma, counts = _run_posteriors(ln, True)
    c_start, c_trans, c_end = _split_counts(ln, _reduce(ln, counts))
    return ln.out(logz), c_start, c_trans, c_end, ln.out(gamma)


def viterbi(start, trans, end, em, seq_start, seq_len):
    ln = _Launch(start, trans, end, em, seq_start, seq_len)
    if ln.S == 0:
        return ln.empty_result(np.full(ln.R, -1, np.int32)), ln.empty_result(np.empty(0, ln.dtype))
    path = ln.full(ln.R, -1, dtype=np.int32)
    score = cuda.device_array(ln.S, dtype=ln.dtype)
    ping, use_shared = ln.ping()
    bp = cuda.device_array((ln.R, ln.N), dtype=np.int32)
    _viterbi_kernel[ln.config()](ln.start, ln.trans, ln.end, ln.em, ln.seq_start, ln.seq_len, ping, use_shared, bp,
                                 path, score)
    return ln.out(path), ln.out(score)


def crf_grad(start, trans, end, em, tags, seq_start, seq_len):
    ln = _Launch(start, trans, end, em, seq_start, seq_len)
    if ln.S == 0:
        c_start, c_trans, c_end = _empty_counts(ln)
        return (ln.empty_result(np.empty(0, ln.dtype)), ln.empty_result(np.zeros((ln.R, ln.N), ln.dtype)), c_trans,
                c_start, c_end)
    d_tags = _to_device(tags, np.int32)
    logz, gamma, counts = _run_posteriors(ln, True)
    llh = cuda.device_array(ln.S, dtype=ln.dtype)
    _crf_observed_kernel[ln.S, ln.nt](ln.start, ln.trans, ln.end, ln.em, d_tags, ln.seq_start, ln.seq_len, logz,
                                      llh, gamma, counts)
    c_start, c_trans, c_end = _split_counts(ln, _reduce(ln, counts))
    return ln.out(llh), ln.out(gamma), c_trans, c_start, c_end
