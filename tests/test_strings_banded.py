"""Edit distance on long strings over wide alphabets: the banded bit-parallel distance (narrow
probe band and upper-bound band) and sparse pattern masks, checked against the NumPy reference
(itself checked against the textbook recurrence in test_strings_distance.py).

Sizes stay small enough for CI; the sparse masks are reached by a pattern with more distinct
symbols than the dense table's budget.  Memory is measured in bench/, not here.
"""
from __future__ import annotations

import numpy as np
import pytest

import bagu_fast as bf

from .strings_helpers import ASTRAL, CJK, MIXED, mutate, random_text, ref_distance


# --------------------------------------------------------------------------------------- distance
@pytest.mark.parametrize("alphabet", [ASTRAL, MIXED])
def test_long_random_pairs_match_reference(rng, alphabet):
    """Banded passes over unrelated strings (upper-bound band), odd lengths around word edges."""
    for m, n in [(65, 64), (129, 300), (1000, 1001), (2049, 1500)]:
        a, b = random_text(rng, alphabet, m), random_text(rng, alphabet, n)
        assert bf.levenshtein(a, b, backend="cpu") == ref_distance(a, b)


@pytest.mark.parametrize("alphabet", [ASTRAL, MIXED])
def test_long_similar_pairs_match_reference(rng, alphabet):
    """Long similar strings take the narrow probe band (exact when the distance fits it); a
    large length gap or many edits overflow it and fall back to the wide band."""
    base = random_text(rng, alphabet, 9000)
    for edits in (1, 700, 3000):
        other = mutate(rng, base, edits, alphabet)
        assert bf.levenshtein(base, other, backend="cpu") == ref_distance(base, other)
    tail = base[:8500] + random_text(rng, alphabet, 1200)
    assert bf.levenshtein(base, tail, backend="cpu") == ref_distance(base, tail)


def test_sparse_masks_many_distinct_symbols(rng):
    """A pattern with more distinct symbols than the dense mask table's budget (9 000 distinct
    CJK code points: sparse per-word masks) against a mutated copy and an unrelated text."""
    pattern = "".join(rng.permutation(list(CJK[:9000])))
    similar = mutate(rng, pattern, 300, CJK)
    other = random_text(rng, CJK, 9500)
    for b in (similar, other):
        assert bf.levenshtein(pattern, b, backend="cpu") == ref_distance(pattern, b)
    assert bf.cpdist([pattern, "abc"], [other, "abd"], backend="cpu").tolist() == [ref_distance(pattern, other), 1]


def test_long_pairs_in_cdist_and_cpdist(rng):
    queries = [random_text(rng, MIXED, k) for k in (0, 1, 64, 65, 700)]
    choices = [random_text(rng, ASTRAL, k) for k in (3, 130, 900)]
    expected = np.array([[ref_distance(q, c) for c in choices] for q in queries])
    np.testing.assert_array_equal(bf.cdist(queries, choices, dtype=np.int64, backend="cpu"), expected)
    pairs = bf.cpdist(queries[2:], choices, dtype=np.int64, backend="cpu")
    np.testing.assert_array_equal(pairs, [ref_distance(q, c) for q, c in zip(queries[2:], choices)])
