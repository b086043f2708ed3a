"""Helpers shared by the edit-distance tests: an independent textbook distance, the NumPy
reference on code points, random and mutated strings, and the check of an edit script."""
from __future__ import annotations

import numpy as np

import bagu_fast as bf
from bagu_fast.kernels.reference.strings.wagner_fischer import distance as _reference_distance

ASTRAL = "ab😀"
LOWER = "abcdefghijklmnopqrstuvwxyz"
CJK = "".join(chr(0x4E00 + k) for k in range(20000))
MIXED = "aZ0~é€😀𝄞" + CJK[:50]  # one, two, three and four UTF-8 bytes; BMP and astral


def naive_levenshtein(a, b, weights=(1, 1, 1)) -> int:
    """Textbook recursion-free Wagner–Fischer in pure Python (independent of the reference)."""
    ins, dele, sub = weights
    prev = [j * ins for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        cur = [i * dele] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cur[j] = min(prev[j] + dele, cur[j - 1] + ins, prev[j - 1] + (0 if a[i - 1] == b[j - 1] else sub))
        prev = cur
    return prev[-1]


def random_strings(rng, n, lo, hi, alphabet=4, base=97):
    return ["".join(chr(base + x) for x in rng.integers(0, alphabet, size=k)) for k in rng.integers(lo, hi + 1, size=n)]


def ref_distance(a, b) -> int:
    """The reference's Wagner–Fischer on code points (one row at a time)."""
    return _reference_distance(np.array([ord(c) for c in a], np.int64), np.array([ord(c) for c in b], np.int64),
                               np.ones(3, np.int64))


def random_text(rng, alphabet: str, n: int) -> str:
    return "".join(alphabet[k] for k in rng.integers(0, len(alphabet), size=n))


def mutate(rng, s: str, edits: int, alphabet: str) -> str:
    """``s`` after ``edits`` random substitutions / insertions / deletions."""
    out = list(s)
    for _ in range(edits):
        kind, pos = int(rng.integers(3)), int(rng.integers(0, len(out) + 1))
        c = alphabet[int(rng.integers(len(alphabet)))]
        if kind == 0 and pos < len(out):
            out[pos] = c
        elif kind == 1:
            out.insert(pos, c)
        elif pos < len(out):
            del out[pos]
    return "".join(out)


def check_script(a, b, ops, expected: int) -> None:
    """A minimal script: length = distance, ordered positions, replays a into b."""
    assert len(ops) == expected
    assert all(kind in ("replace", "insert", "delete") for kind, _, _ in ops)
    assert bf.apply_editops(ops, a, b) == list(b)
