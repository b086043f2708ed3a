"""The convergence monitor of the HMM estimators (hmmlearn's ``ConvergenceMonitor``)."""
from __future__ import annotations

from collections import deque

__all__ = ["ConvergenceMonitor"]


class ConvergenceMonitor:
    """Log-likelihood history of a fit and hmmlearn's stopping rule.

    ``converged`` is True once ``n_iter`` iterations ran or the last improvement is below
    ``tol``.  ``history`` holds the log-likelihood of the data before each M-step.
    """

    def __init__(self, tol: float, n_iter: int, verbose: bool) -> None:
        self.tol = tol
        self.n_iter = n_iter
        self.verbose = verbose
        self.history: deque = deque()
        self.iter = 0

    def _reset(self) -> None:
        self.iter = 0
        self.history.clear()

    def report(self, log_prob: float) -> None:
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else float("nan")
            print(f"{self.iter + 1:>10d} {log_prob:>16.8f} {delta:>+16.8f}")
        self.history.append(log_prob)
        self.iter += 1

    @property
    def converged(self) -> bool:
        return self.iter == self.n_iter or (len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol)
