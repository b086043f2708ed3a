"""Numba CUDA tree grower for histogram gradient boosting: a full fit on the device.

:class:`TreeGrower` grows one tree with the algorithm of the cpu grower
(:func:`bagu_fast.kernels.cpu.trees.boosting_grower.grow_boosting_tree`) and returns the same flat float64 node
records (``[n_nodes, N_FIELDS]``, the cpu module's field constants), so the predictors are
shared.  What lives where:

* on the device for the whole fit: the uint8 codes ``[n, F]``, gradients / hessians
  ``[K, n]`` (float32, as on the cpu), the training raw predictions ``[K, n]`` (float64), two index
  buffers ``[2, n]`` and a histogram pool of int64 slots ``[max_leaf_nodes + 1, 3, F, B]``
  (sums of quantised gradients, of quantised hessians, counts);
* on the host: the best-first control loop (which leaf splits next, the node records, the free
  slots).  Per split it launches a handful of kernels and copies one small record back: the
  split search results of both children (``[2, F, 9]`` float64); per tree also the quantisation
  scales (two scalars) and the root's totals.

One tree, step by step (the same decisions as the cpu grower, in the same order):

1. gradients / hessians are quantised to int64 fixed point with one scale per tree
   (:func:`.histogram._quantised`: the sum of all rows cannot overflow), so every histogram is a
   sum of integers: exact, independent of the atomics' order, and the larger child's histogram
   ``parent − smaller`` (``_sub_i64``, in the parent's slot) is exact too;
2. root histogram (``_hist_q`` on every row), dequantised to float64 (``_dequantise``),
   split search (``_split_feature``: the cpu scan's float64 running sums in the same order);
3. the leaf of largest gain (lowest leaf on ties) is partitioned stably from one index buffer
   into the other at the same positions (``_partition_count``, ``_tile_offsets``,
   ``_partition_scatter``, positions from the device's own counts, so always in bounds); the
   host knows the left count from the split record (the same counts), so nothing is copied back;
   the left child keeps the leaf number, the right child becomes a new leaf;
4. the smaller child's histogram is built through its index segment, the larger one is the
   parent's slot minus it; each child that may still split is searched; closed leaves free
   their slots;
5. leaf values ``−lr · G / (H + λ)`` are computed on the host from the split records' float64
   sums (as on the cpu), and ``_add_leaf_values`` adds them to the raw predictions of each leaf's
   rows (one block row per leaf; every row written by one thread).

The cpu grower sums float32 gradients in float64; here they are rounded to multiples of
``1 / scale`` (``scale ≈ 2**62 / (n · max|g|)``) first, so sums differ by at most
``n · max|g| / 2**63`` per histogram bin: splits and leaf values agree with the cpu's except at
exact ties of gain.  Nothing depends on atomics' timing, so a fit is reproducible.

Gradients come from :mod:`.loss` (the cpu formulas, float64 inside, float32 stored).  Launch
shapes: ``NT`` threads per block on a GPU; in the simulator ``SIM_THREADS`` (1) thread per block
with many rows (:mod:`._launch`).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ...cpu.trees.boosting_grower import (F_BIN, F_COUNT, F_DEPTH, F_FEATURE, F_GAIN, F_LEAF, F_LEFT, F_MLEFT,
                                          F_RIGHT, F_VALUE, N_FIELDS)
from ...cpu.trees.splitting import denominator
from ._launch import (MAX_GRID, NT, SIM_THREADS, SIMULATOR, block_threads, blocks, launch, stride_blocks,
                      threads)
from .histogram import ROWS_PER_BLOCK, _dequantise, _fill_i64, _hist_q, _quantised, _sub_i64
from .partition import _partition_count, _partition_scatter, _tile_offsets
from .splitting import _split_feature

__all__ = ["TreeGrower"]


@cuda.jit
def _add_leaf_values(raw, idx, leaf_start, leaf_end, leaf_buf, leaf_value):
    """``raw[idx[leaf_buf[j], i]] += leaf_value[j]`` for ``i`` in leaf ``j``'s segment; grid
    ``(blocks, n_leaves)``: block row ``j`` strides over leaf ``j`` (each row belongs to one leaf)."""
    j = cuda.blockIdx.y
    b = leaf_buf[j]
    v = leaf_value[j]
    step = cuda.gridDim.x * cuda.blockDim.x
    for i in range(leaf_start[j] + cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x, leaf_end[j], step):
        raw[idx[b, i]] += v


PTX_SIGNATURES = {
    "_add_leaf_values": ["void(float64[::1], int64[:, ::1], int64[::1], int64[::1], int64[::1], float64[::1])"],
}


class TreeGrower:
    """Device buffers of one fit and the host-side best-first loop that grows each tree.

    Parameters mirror the cpu ``grow_boosting_tree``: ``binned`` uint8 ``[n, F]`` (host or device),
    ``n_bins`` (the missing-value bin is ``n_bins - 1``), ``max_leaf_nodes``, ``max_depth``
    (``< 0``: unlimited), ``min_samples_leaf``, ``l2`` (λ), ``min_hessian``, ``min_gain``,
    ``learning_rate``.  :meth:`grow` grows one tree from device gradients, :meth:`add_leaves`
    adds that tree's leaf values to a device raw-prediction row.
    """

    def __init__(self, binned, n_bins, max_leaf_nodes, max_depth, min_samples_leaf, l2, min_hessian, min_gain,
                 learning_rate):
        n, n_features = (int(s) for s in binned.shape)
        if hasattr(binned, "copy_to_host"):
            self.binned = binned
        else:
            self.binned = cuda.to_device(np.ascontiguousarray(binned, dtype=np.uint8))
        self.n = n
        self.n_features = n_features
        self.n_bins = int(n_bins)
        self.missing_bin = self.n_bins - 1
        self.max_leaf = int(max_leaf_nodes)
        self.max_depth = int(max_depth)
        self.msl = int(min_samples_leaf)
        self.lam = float(l2)
        self.min_hessian = float(min_hessian)
        self.min_gain = float(min_gain)
        self.lr = float(learning_rate)
        n_slots = self.max_leaf + 1
        slot_size = 3 * n_features * self.n_bins
        self.pool = cuda.device_array((n_slots, 3, n_features, self.n_bins), dtype=np.int64)
        self.pool_flat = self.pool.reshape(n_slots, slot_size)
        self._slot_views: dict = {}
        self.dq = cuda.device_array((2, 2, n_features, self.n_bins), dtype=np.float64)  # [child, g / h, F, B]
        self.res = cuda.device_array((2, n_features, 9), dtype=np.float64)
        self._dq_views = [(self.dq[j, 0], self.dq[j, 1]) for j in range(2)]  # views cost host time: made once
        self._res_views = [self.res[j] for j in range(2)]
        self.idx = cuda.device_array((2, max(n, 1)), dtype=np.int64)
        self.arange = cuda.to_device(np.arange(max(n, 1), dtype=np.int64))
        self.qg = cuda.device_array(max(n, 1), dtype=np.int64)
        self.qh = cuda.device_array(max(n, 1), dtype=np.int64)
        self.part_nt = SIM_THREADS if SIMULATOR else NT
        max_tiles = max(1, (n + self.part_nt - 1) // self.part_nt)
        self.tile_counts = cuda.device_array(max_tiles, dtype=np.int32)
        self.tile_offsets = cuda.device_array(max_tiles + 1, dtype=np.int64)
        self.leaf_int = cuda.device_array((3, self.max_leaf), dtype=np.int64)  # start, end, buffer
        self.leaf_val = cuda.device_array(self.max_leaf, dtype=np.float64)
        self._leaves = None  # host table of the last tree: (start, end, buffer, value)

    # ---------------------------------------------------------------- device steps
    def _slot(self, s):
        """``(g, h, c, flat)`` views of pool slot ``s`` (cached: views cost host time per call)."""
        v = self._slot_views.get(s)
        if v is None:
            v = (self.pool[s, 0], self.pool[s, 1], self.pool[s, 2], self.pool_flat[s])
            self._slot_views[s] = v
        return v

    def _histogram(self, s, buf, start, end, use_idx):
        """Quantised histogram of rows ``idx[buf, start:end]`` (or all rows) into slot ``s``."""
        g, h, c, flat = self._slot(s)
        nt = block_threads(flat.shape[0])
        launch(_fill_i64, stride_blocks(flat.shape[0], nt), nt)(flat, 0)
        m = end - start
        if m == 0 or self.n_features == 0:
            return
        seg = self.idx[buf, start:end] if use_idx else self.idx[0]
        grid = (blocks(m, ROWS_PER_BLOCK), self.n_features)
        nt = block_threads(min(m, ROWS_PER_BLOCK))
        launch(_hist_q, grid, nt)(self.binned, self.qg, self._qh, self._has_hess, seg, use_idx, m, g, h, c)

    def _subtract(self, parent, child):
        pf = self._slot(parent)[3]
        cf = self._slot(child)[3]
        nt = block_threads(pf.shape[0])
        launch(_sub_i64, stride_blocks(pf.shape[0], nt), nt)(pf, cf)

    def _dequantise(self, s, j):
        """Float64 sums of slot ``s`` into ``dq[j]``; constant hessians: the counts (× 1.0)."""
        g, h, c, _ = self._slot(s)
        F, B = self.n_features, self.n_bins
        if SIMULATOR:
            shape = ((1, 1), (1, SIM_THREADS))
        else:
            shape = ((blocks(F, 8), blocks(B, 32)), (8, 32))
        dg, dh = self._dq_views[j]
        launch(_dequantise, *shape)(g, self._sg, dg)
        launch(_dequantise, *shape)(h if self._has_hess else c, self._sh if self._has_hess else 1.0, dh)

    def _search(self, s, j):
        """Best split per feature of slot ``s`` into ``res[j]`` (slot ``s`` dequantised into ``dq[j]``)."""
        self._dequantise(s, j)
        c = self._slot(s)[2]
        nt = block_threads(self.n_bins - 1)
        dg, dh = self._dq_views[j]
        launch(_split_feature, self.n_features, nt)(dg, dh, c, self.lam, float(self.msl), self.min_hessian,
                                                     self.min_gain, self._res_views[j])

    def _partition(self, buf, start, end, feature, bin_, mleft):
        """Rows ``idx[buf, start:end]`` to ``idx[1 - buf, start:end]``, lefts first (stable).  The
        left count stays on the device (the split record already says it: the same counts)."""
        m = end - start
        src = self.idx[buf, start:end]
        dst = self.idx[1 - buf, start:end]
        nt = self.part_nt
        rpt = max(1, -(-m // (2 * nt))) if SIMULATOR else 1  # simulator: two tiles of many rows
        tiles = -(-m // (nt * rpt))
        mb = self.missing_bin
        launch(_partition_count, tiles, nt)(src, self.binned, feature, bin_, mleft, mb, rpt, self.tile_counts)
        launch(_tile_offsets, 1, SIM_THREADS if SIMULATOR else NT)(self.tile_counts, tiles, self.tile_offsets)
        launch(_partition_scatter, tiles, nt)(src, self.binned, feature, bin_, mleft, mb, rpt, self.tile_offsets, dst)

    @staticmethod
    def _best(res_j):
        """``(gain, feature, bin, mleft, gl, hl, nl, gr, hr, nr)`` of the best feature (lowest on
        ties; ``gain = -inf`` when none), from one ``[F, 9]`` record."""
        if res_j.shape[0] == 0:
            return None
        f = int(np.argmax(res_j[:, 0]))  # the first maximum: the lowest feature on ties
        r = res_j[f]
        if not r[0] > -np.inf:
            return None
        return [float(r[0]), f, int(r[1]), bool(r[2] != 0.0), float(r[3]), float(r[4]), float(r[5]),
                float(r[6]), float(r[7]), float(r[8])]

    # ---------------------------------------------------------------- one tree
    def grow(self, grad, hess=None):
        """Grow one tree from the device rows ``grad`` / ``hess`` (float32 ``[n]``; ``hess=None``:
        constant hessians 1).  Returns the node records ``[n_nodes, N_FIELDS]`` (host, float64)."""
        n = self.n
        msl = self.msl
        max_depth = self.max_depth
        max_leaf = self.max_leaf
        neg_inf = -math.inf
        self._has_hess = hess is not None
        gnt = block_threads(n)
        gblocks = stride_blocks(n, gnt)
        self.idx[0].copy_to_device(self.arange)
        if n:
            _, self._sg = _quantised(grad, n, out=self.qg, nt=gnt, max_blocks=gblocks)
            if self._has_hess:
                _, self._sh = _quantised(hess, n, out=self.qh, nt=gnt, max_blocks=gblocks)
        else:
            self._sg = 1.0
        if not self._has_hess:
            self._sh = 1.0
        self._qh = self.qh if self._has_hess else self.qg
        nodes = np.zeros((2 * max_leaf - 1, N_FIELDS), dtype=np.float64)
        free = list(range(max_leaf, -1, -1))  # slot stack (the cpu grower's order)
        # per leaf: rows idx[buf][start:end], node, depth, sums (G, H, N), slot, split record
        start, end, buf, node_of, depth, slot = [0], [n], [0], [0], [0], []
        sums = []
        split = [None]
        s0 = free.pop()
        slot.append(s0)
        self._histogram(s0, 0, 0, n, False)
        self._dequantise(s0, 0)
        g0 = self._dq_views[0][0][0].copy_to_host() if self.n_features else np.zeros(1)
        h0 = self._dq_views[0][1][0].copy_to_host() if self.n_features else np.zeros(1)
        G = 0.0
        H = 0.0
        for b in range(self.n_bins if self.n_features else 0):  # feature 0's bins in order (as the cpu)
            G += float(g0[b])
            H += float(h0[b])
        sums.append([G, H, float(n)])
        if n >= 2 * msl and max_depth != 0 and self.n_features:
            self._search(s0, 0)
            split[0] = self._best(self._res_views[0].copy_to_host())
        n_leaves = 1
        n_nodes = 1
        while n_leaves < max_leaf:
            k = -1
            best = neg_inf
            for j in range(n_leaves):  # best-first: the largest gain, lowest leaf on ties
                if split[j] is not None and split[j][0] > best:
                    best = split[j][0]
                    k = j
            if k < 0:
                break
            gain, feature, bin_, mleft, gl, hl, nl, gr, hr, nr = split[k]
            s, e, b_ = start[k], end[k], buf[k]
            n_left = int(nl)
            self._partition(b_, s, e, feature, bin_, mleft)
            node = node_of[k]
            left_node, right_node = n_nodes, n_nodes + 1
            n_nodes += 2
            nodes[node, F_FEATURE] = feature
            nodes[node, F_BIN] = bin_
            nodes[node, F_MLEFT] = 1.0 if mleft else 0.0
            nodes[node, F_LEFT] = left_node
            nodes[node, F_RIGHT] = right_node
            nodes[node, F_GAIN] = gain
            r = n_leaves
            n_leaves += 1
            d = depth[k] + 1
            start.append(s + n_left)
            end.append(e)
            buf.append(1 - b_)
            node_of.append(right_node)
            depth.append(d)
            sums.append([gr, hr, nr])
            split.append(None)
            slot.append(-1)
            end[k] = s + n_left
            buf[k] = 1 - b_
            node_of[k] = left_node
            depth[k] = d
            sums[k] = [gl, hl, nl]
            split[k] = None
            nodes[left_node, F_DEPTH] = d
            nodes[right_node, F_DEPTH] = d
            can_l = n_left >= 2 * msl and (max_depth < 0 or d < max_depth)
            can_r = (e - s - n_left) >= 2 * msl and (max_depth < 0 or d < max_depth)
            parent_slot = slot[k]
            if n_leaves >= max_leaf or not (can_l or can_r):
                free.append(parent_slot)
                slot[k] = -1
                slot[r] = -1
                continue
            small_slot = free.pop()
            small, large = (k, r) if n_left <= e - s - n_left else (r, k)
            self._histogram(small_slot, buf[small], start[small], end[small], True)
            self._subtract(parent_slot, small_slot)
            slot[small] = small_slot
            slot[large] = parent_slot
            searched = [(c, j) for c, (j, ok) in enumerate(((k, can_l), (r, can_r))) if ok]
            for c, j in searched:
                self._search(slot[j], c)
            if searched:
                res = self.res.copy_to_host()
                for c, j in searched:
                    split[j] = self._best(res[c])
            for j in (k, r):
                if split[j] is None:  # closed leaf: its histogram is no longer needed
                    free.append(slot[j])
                    slot[j] = -1
        values = []
        for j in range(n_leaves):
            nd = node_of[j]
            # a root that does not split adds nothing (as the cpu grower)
            v = -self.lr * sums[j][0] / denominator(sums[j][1], self.lam) if n_leaves > 1 else 0.0
            nodes[nd, F_LEAF] = 1.0
            nodes[nd, F_VALUE] = v
            nodes[nd, F_COUNT] = sums[j][2]
            values.append(v)
        self._leaves = (start, end, buf, values)
        return nodes[:n_nodes].copy()

    def add_leaves(self, raw):
        """``raw[i] += value of the last grown tree's leaf holding row i`` (``raw``: a float64
        device row ``[n]``)."""
        start, end, buf, values = self._leaves
        L = len(values)
        if self.n == 0 or L == 0:
            return
        self.leaf_int.copy_to_device(self._leaf_table(start, end, buf))
        host_val = np.zeros(self.max_leaf, dtype=np.float64)
        host_val[:L] = values
        self.leaf_val.copy_to_device(host_val)
        largest = max(e - s for s, e in zip(start, end))
        nt = block_threads(largest)
        bx = 1 if SIMULATOR else max(1, min(MAX_GRID, (largest + nt - 1) // nt))
        li = self.leaf_int
        launch(_add_leaf_values, (bx, L), nt)(raw, self.idx, li[0], li[1], li[2], self.leaf_val)

    def _leaf_table(self, start, end, buf):
        t = np.zeros((3, self.max_leaf), dtype=np.int64)
        L = len(start)
        t[0, :L] = start
        t[1, :L] = end
        t[2, :L] = buf
        return t
