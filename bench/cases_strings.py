"""Edit-distance bench cases; RapidFuzz (and editdistance) are the peers."""
from __future__ import annotations

import numpy as np

import bagu_fast as bf
from bagu_fast.kernels.reference import strings as ref

from .harness import Case, installed

ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz"))


def random_words(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[str]:
    """``n`` random lowercase words with lengths uniform in [lo, hi]."""
    return ["".join(rng.choice(ALPHABET, size=k)) for k in rng.integers(lo, hi + 1, size=n)]


def _ref_pair(a: str, b: str) -> int:
    return ref._distance(np.array([ord(c) for c in a], np.int64), np.array([ord(c) for c in b], np.int64),
                         np.ones(3, np.int64))


def _check_matrix(inputs, result, samples: int = 300) -> None:
    """Compare a random sample of entries (all entries of small matrices) with the reference."""
    q, c = inputs
    result = np.asarray(result)
    assert result.shape == (len(q), len(c)), f"shape {result.shape}"
    rng = np.random.default_rng(1)
    n = len(q) * len(c)
    flat = np.arange(n) if n <= samples else rng.choice(n, size=samples, replace=False)
    for k in flat:
        i, j = divmod(int(k), len(c))
        assert result[i, j] == _ref_pair(q[i], c[j]), f"({i}, {j}): {result[i, j]} != reference"


def _check_pairs(inputs, result, samples: int = 300) -> None:
    a, b = inputs
    result = np.asarray(result).reshape(-1)
    assert len(result) == len(a), f"length {len(result)}"
    rng = np.random.default_rng(2)
    idx = np.arange(len(a)) if len(a) <= samples else rng.choice(len(a), size=samples, replace=False)
    for i in idx:
        assert result[i] == _ref_pair(a[i], b[i]), f"pair {i}: {result[i]} != reference"


def _peers_matrix() -> dict:
    peers = {}
    if installed("rapidfuzz"):
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        peers["rapidfuzz"] = lambda x: process.cdist(x[0], x[1], scorer=Levenshtein.distance, workers=-1)
    return peers


def _peers_pairs() -> dict:
    peers = {}
    if installed("rapidfuzz"):
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        peers["rapidfuzz"] = lambda x: process.cpdist(x[0], x[1], scorer=Levenshtein.distance, workers=-1)
    if installed("editdistance"):
        import editdistance

        peers["editdistance"] = lambda x: np.array([editdistance.eval(p, q) for p, q in zip(*x)])
    return peers


def _ours(fn, backends=("reference", "cpu", "cuda")) -> dict:
    return {b: (lambda x, b=b: fn(x, b)) for b in backends}


def cases(quick: bool) -> list[Case]:
    n = 500 if quick else 2000
    n_pairs = 2000 if quick else 10_000
    long_len = 2000 if quick else 10_000
    matrix = lambda x, b: bf.cdist(x[0], x[1], workers=-1, backend=b)
    pairs = lambda x, b: bf.cpdist(x[0], x[1], workers=-1, backend=b)

    def long_pair(x, b):
        return np.array([bf.levenshtein(x[0][0], x[1][0], backend=b)])

    pair_peers = {}
    if installed("rapidfuzz"):
        from rapidfuzz.distance import Levenshtein

        pair_peers["rapidfuzz"] = lambda x: np.array([Levenshtein.distance(x[0][0], x[1][0])])
    if installed("editdistance"):
        import editdistance

        pair_peers["editdistance"] = lambda x: np.array([editdistance.eval(x[0][0], x[1][0])])

    return [
        Case("strings", "cdist words (vs reference)", "100x100, 4-20 chars",
             lambda: (random_words(np.random.default_rng(10), 100, 4, 20),
                      random_words(np.random.default_rng(11), 100, 4, 20)),
             _ours(matrix), _peers_matrix(), _check_matrix, work=100 * 100, unit="pairs", slow=("reference",)),
        Case("strings", "cdist words", f"{n}x{n}, 4-20 chars",
             lambda: (random_words(np.random.default_rng(12), n, 4, 20),
                      random_words(np.random.default_rng(13), n, 4, 20)),
             _ours(matrix, ("cpu", "cuda")), _peers_matrix(), _check_matrix, work=n * n, unit="pairs"),
        Case("strings", "cpdist", f"{n_pairs} pairs, 40-60 chars",
             lambda: (random_words(np.random.default_rng(14), n_pairs, 40, 60),
                      random_words(np.random.default_rng(15), n_pairs, 40, 60)),
             _ours(pairs), _peers_pairs(), _check_pairs, work=n_pairs, unit="pairs", slow=("reference",)),
        Case("strings", "one long pair", f"{long_len}x{long_len} chars",
             lambda: (random_words(np.random.default_rng(16), 1, long_len, long_len),
                      random_words(np.random.default_rng(17), 1, long_len, long_len)),
             _ours(long_pair), pair_peers, _check_pairs, work=long_len * long_len, unit="cells",
             slow=("reference",)),
    ] + startup_cases(quick)


def _cold_start(code: str):
    """Runner timing a fresh Python process that imports a library and computes one distance."""
    import subprocess
    import sys

    def run(_inputs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return np.array([int(out.stdout.strip())])

    return run


def startup_cases(quick: bool) -> list[Case]:
    """A second process's first call (the Numba cache must make it cheap)."""
    peers = {}
    if installed("rapidfuzz"):
        peers["rapidfuzz"] = _cold_start(
            "from rapidfuzz.distance import Levenshtein; print(Levenshtein.distance('kitten', 'sitting'))")
    ours = {"cpu": _cold_start("import bagu_fast; print(bagu_fast.levenshtein('kitten', 'sitting'))")}

    def check(_inputs, result):
        assert int(result[0]) == 3, result

    return [Case("strings", "new process: import + first call", "kitten/sitting", lambda: None, ours, peers, check,
                 work=1, unit="calls")]
