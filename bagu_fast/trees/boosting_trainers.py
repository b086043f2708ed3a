"""The training state of one gradient-boosting fit, per backend.

A trainer holds what a fit updates tree after tree: the gradients and hessians (float32
``[K, n]``), the training rows' raw predictions (float64 ``[K, n]``) and the grower's buffers.
Each has the same four steps: :meth:`gradients` (from the raw predictions), :meth:`grow` (one
tree of class ``k``, also added to the raw predictions; returns its node records, the layout of
:mod:`bagu_fast.kernels.reference.trees.boosting_grower`), :meth:`raw_host`, and the two host
kernels the fit loop needs (:meth:`predict_binned` for validation rows, :meth:`loss_value`).

* :class:`CpuTrainer`: Numba kernels, every buffer allocated once per fit;
* :class:`CudaTrainer`: codes, gradients, raw predictions and the grower's buffers on the GPU
  (:mod:`bagu_fast.kernels.cuda.trees.boosting_grower`), validation and scores on the cpu;
* :class:`ReferenceTrainer`: the NumPy reference grower and losses (slow; for comparison).
"""
from __future__ import annotations

import numpy as np

from ..kernels.cpu._parallel import parallel_region

__all__ = ["CpuTrainer", "CudaTrainer", "ReferenceTrainer", "TRAINERS", "predict_raw", "MIN_HESSIAN_TO_SPLIT"]

MIN_HESSIAN_TO_SPLIT = 1e-3


class _CpuHostSteps:
    """Validation predictions and loss values with the cpu kernels (the cpu and cuda fits)."""

    @staticmethod
    def predict_binned(binned, tree, missing_bin, raw_row):
        from ..kernels.cpu.trees import predictor

        with parallel_region():
            predictor.predict_binned(binned, tree, missing_bin, raw_row)

    @staticmethod
    def loss_value(kind, raw, y, w, use_w):
        from ..kernels.cpu.trees import loss

        return loss.loss_value(kind, raw, y, w, use_w)


class CpuTrainer(_CpuHostSteps):
    """A cpu fit: gradients, one tree at a time (Numba, in place), raw predictions."""

    def __init__(self, binned, raw, y, w, use_w, kind, K, params, max_leaf):
        from ..kernels.cpu.trees import boosting_grower, histogram, loss

        self.grower, self.loss = boosting_grower, loss
        n, n_features = binned.shape
        n_bins = params["max_bins"] + 1
        self.binned, self.raw, self.y, self.w, self.use_w, self.kind = binned, raw, y, w, use_w, kind
        self.const_hess = kind == 0 and not use_w
        self.grad = np.empty((K, n), dtype=np.float32)
        self.hess = np.empty((K, n), dtype=np.float32) if not self.const_hess else np.empty((K, 1), dtype=np.float32)
        self.binned_cols = np.ascontiguousarray(binned.T)  # column-major copy for the partitions
        self.idx = np.arange(n, dtype=np.intp)
        self.tmp = np.empty(2 * n, dtype=np.intp)  # partition scratch
        self.pool = np.empty((max_leaf + 1, n_features, n_bins, 3), dtype=np.float64)
        self.scratch = np.empty((histogram.MAX_CHUNKS, n_features, n_bins, 3), dtype=np.float64)
        self.res = np.empty((n_features, 9), dtype=np.float64)
        self.counts = np.zeros(2 * 64, dtype=np.int64)
        self.nodes = np.empty((2 * max_leaf - 1, boosting_grower.N_FIELDS), dtype=np.float64)
        self.leaf_start = np.empty(max_leaf, dtype=np.intp)
        self.leaf_end = np.empty(max_leaf, dtype=np.intp)
        self.leaf_node = np.empty(max_leaf, dtype=np.intp)
        self.args = (n_bins, max_leaf, params["max_depth"], params["min_samples_leaf"], params["l2_regularization"],
                     MIN_HESSIAN_TO_SPLIT, 0.0, params["learning_rate"])

    def gradients(self):
        ls, raw, y, w, use_w, grad, hess = self.loss, self.raw, self.y, self.w, self.use_w, self.grad, self.hess
        with parallel_region():
            if self.kind == 0:
                ls.grad_squared_error(raw[0], y, w, use_w, grad[0], hess[0] if use_w else grad[0])
            elif self.kind == 1:
                ls.grad_binary(raw[0], y, w, use_w, grad[0], hess[0])
            else:
                ls.grad_multiclass(raw, y, w, use_w, grad, hess)

    def grow(self, k):
        gr = self.grower
        g = self.grad[k]
        h = g if self.const_hess else self.hess[k]
        with parallel_region():
            n_nodes, n_leaves = gr.grow_boosting_tree(
                self.binned, self.binned_cols, g, h, not self.const_hess, 1.0, *self.args, self.idx, self.tmp,
                self.pool, self.scratch, self.res, self.counts, self.nodes, self.leaf_start, self.leaf_end,
                self.leaf_node)
            gr.update_raw_from_leaves(self.raw[k], self.idx, self.nodes, self.leaf_start, self.leaf_end,
                                      self.leaf_node, n_leaves)
        return self.nodes[:n_nodes].copy()

    def raw_host(self):
        return self.raw


class CudaTrainer(_CpuHostSteps):
    """A GPU fit: codes, gradients, raw predictions and the grower's buffers stay on the device;
    trees come back as node records."""

    def __init__(self, binned, raw, y, w, use_w, kind, K, params, max_leaf):
        from numba import cuda

        from ..kernels.cuda.trees import boosting_grower, loss

        self.cuda_loss = loss
        n = binned.shape[0]
        self.kind, self.use_w = kind, use_w
        self.const_hess = kind == 0 and not use_w
        self.raw = cuda.to_device(raw)
        self.y = cuda.to_device(y)
        self.w = cuda.to_device(w)
        self.grad = cuda.device_array((K, n), dtype=np.float32)
        self.hess = cuda.device_array((K, 1 if self.const_hess else n), dtype=np.float32)
        self.tg = boosting_grower.TreeGrower(binned, params["max_bins"] + 1, max_leaf, params["max_depth"],
                                             params["min_samples_leaf"], params["l2_regularization"],
                                             MIN_HESSIAN_TO_SPLIT, 0.0, params["learning_rate"])

    def gradients(self):
        self.cuda_loss.gradients(self.kind, self.raw, self.y, self.w, self.use_w, self.grad, self.hess)

    def grow(self, k):
        tree = self.tg.grow(self.grad[k], None if self.const_hess else self.hess[k])
        self.tg.add_leaves(self.raw[k])
        return tree

    def raw_host(self):
        return self.raw.copy_to_host()


class ReferenceTrainer:
    """A NumPy fit with the reference kernels (:mod:`bagu_fast.kernels.reference.trees`)."""

    def __init__(self, binned, raw, y, w, use_w, kind, K, params, max_leaf):
        from ..kernels.reference.trees import boosting_grower, loss, predictor

        self.grower, self.loss, self.predictor = boosting_grower, loss, predictor
        self.binned, self.raw, self.y, self.w, self.use_w, self.kind = binned, raw, y, w, use_w, kind
        self.args = (params["max_bins"] + 1, max_leaf, params["max_depth"], params["min_samples_leaf"],
                     params["l2_regularization"], MIN_HESSIAN_TO_SPLIT, 0.0, params["learning_rate"])

    def gradients(self):
        self.grad, self.hess = self.loss.gradients(self.kind, self.raw, self.y, self.w, self.use_w)

    def grow(self, k):
        hess = None if self.hess is None else self.hess[k]
        nodes, leaves = self.grower.grow_boosting_tree(self.binned, self.grad[k], hess, *self.args)
        for node, rows in leaves:
            self.raw[k, rows] += nodes[node, self.grower.F_VALUE]
        return nodes

    def raw_host(self):
        return self.raw

    def predict_binned(self, binned, tree, missing_bin, raw_row):
        self.predictor.predict_binned(binned, tree, missing_bin, raw_row)

    def loss_value(self, kind, raw, y, w, use_w):
        return self.loss.loss_value(kind, raw, y, w, use_w)


TRAINERS = {"cpu": CpuTrainer, "cuda": CudaTrainer, "reference": ReferenceTrainer}


def predict_raw(backend, X, p, starts, classes, raw):
    """``raw[k] +=`` the trees ``starts`` / ``classes`` of the flat predictor arrays ``p`` on the
    raw rows ``X``: the reference traversal for a reference fit, else the cpu's."""
    args = (X, p["feature"], p["threshold"], p["mleft"], p["left"], p["right"], p["value"], starts, classes, raw)
    if backend == "reference":
        from ..kernels.reference.trees import predictor

        predictor.predict_raw(*args)
        return
    from ..kernels.cpu.trees import predictor

    with parallel_region():
        predictor.predict_raw(*args)
