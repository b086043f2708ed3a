"""k-means for the means initialisation of GaussianHMM (no scikit-learn needed)."""
from __future__ import annotations

import numpy as np

__all__ = ["kmeans"]


def kmeans(X: np.ndarray, k: int, rs: np.random.RandomState, n_init: int = 10, max_iter: int = 100) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding, best of ``n_init`` (the means initialisation)."""
    best, best_inertia = None, np.inf
    n = X.shape[0]
    for _ in range(n_init):
        centers = np.empty((k, X.shape[1]))
        centers[0] = X[rs.randint(n)]
        d2 = ((X - centers[0]) ** 2).sum(1)
        for c in range(1, k):
            total = d2.sum()
            idx = rs.randint(n) if total <= 0 else int(np.searchsorted(np.cumsum(d2), rs.rand() * total))
            centers[c] = X[min(idx, n - 1)]
            d2 = np.minimum(d2, ((X - centers[c]) ** 2).sum(1))
        for _ in range(max_iter):
            dist = ((X[:, None, :] - centers[None]) ** 2).sum(-1)
            label = dist.argmin(1)
            new = np.array([X[label == c].mean(0) if np.any(label == c) else centers[c] for c in range(k)])
            if np.allclose(new, centers):
                centers = new
                break
            centers = new
        inertia = ((X - centers[((X[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)]) ** 2).sum()
        if inertia < best_inertia:
            best, best_inertia = centers, inertia
    return best
