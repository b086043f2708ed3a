"""How elements compare: str, bytes, token sequences, buffers and arrays are sequences of
elements equal exactly when Python's == says so (with RapidFuzz's one convention: a
one-character string is its code point), on every backend."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bagu_fast as bf

from .strings_helpers import naive_levenshtein


def test_input_kinds_agree(backend):
    """str, bytes, token lists and integer arrays compare element by element."""
    s1, s2 = "kitten", "sitting"
    expected = 3
    assert bf.levenshtein(s1.encode(), s2.encode(), backend=backend) == expected
    assert bf.levenshtein(list(s1), list(s2), backend=backend) == expected
    assert bf.levenshtein(np.array([ord(c) for c in s1]), np.array([ord(c) for c in s2], np.int16), backend=backend) == expected
    assert bf.levenshtein(["the", "cat", "sat"], ["the", "dog", "sat", "down"], backend=backend) == 2
    assert bf.levenshtein([("a", 1), ("b", 2)], [("b", 2)], backend=backend) == 1
    assert bf.levenshtein("a", [97], backend=backend) == 0  # 'a' equals the integer 97
    m = bf.cdist([["x", "yy"], "ab"], [("x",), b"ab"], backend=backend)
    np.testing.assert_array_equal(m, [[1, 2], [2, 0]])


# ----------------------------------------------------------------------------- element equality
# Elements compare as Python's == does (RapidFuzz 3.14's answers in the comments), with no
# collisions between tokens and integers, whatever the element kinds.
class _ArrayLike:
    """An object exposing only ``__array__`` (as a torch CPU tensor does)."""

    def __init__(self, values):
        self.values = np.asarray(values)

    def __array__(self, dtype=None, copy=None):
        return self.values


ELEMENT_CASES = [
    ([1 << 40], ["ab"], 1),  # a token id must never equal an integer
    ([1 << 40, "ab"], ["ab", 1 << 40], 2),
    ([True], [1], 0),  # True == 1
    ([1.0], [1], 0),  # 1.0 == 1
    ([np.float32(3), np.int8(2)], [3, 2.0], 0),
    ([1 + 0j], [1], 0),
    ([1.5], [1.5], 0),
    ([1.5], [1], 1),
    ("a", [97], 0),  # a character is its code point (RapidFuzz)
    (["a"], "a", 0),
    (["ab"], "ab", 2),
    (memoryview(np.array([97, 98], np.int32)), "ab", 0),  # a buffer holds its elements, not bytes
    (memoryview(b"ab"), "ab", 0),
    (bytearray(b"ab"), "ab", 0),
    (_ArrayLike([97, 98]), "ab", 0),
    (np.array([97.0, 98.0]), "ab", 0),
    (np.array([0.5, 2.5]), [0.5, 2.5], 0),
    ([2**63 - 1, 0], [], 2),
    ([2**63 - 1, -(2**63)], [-(2**63), 2**63 - 1], 2),
    ([2**63], [2**63], 0),  # beyond int64
    (np.array([2**64 - 1], np.uint64), [2**64 - 1], 0),
    (np.array([2**63 - 1, -(2**63)], np.int64), [0], 2),
    ([2**64], [2**64 + 1], 1),
    ([-(2**31) - 1], [-(2**31) - 1], 0),
    ([(1, 2), None, "xy"], [(1, 2), None, "xy"], 0),
]


@pytest.mark.parametrize("s1, s2, expected", ELEMENT_CASES)
def test_elements_compare_like_python(backend, s1, s2, expected):
    assert bf.levenshtein(s1, s2, backend=backend) == expected
    assert bf.cpdist([s1], [s2], backend=backend)[0] == expected
    assert bf.cdist([s1, s2], [s2], backend=backend)[0, 0] == expected


_POOL = [0, 1, True, 1.0, 97, "a", "ab", 2**40, 2**40 + 1, 2**63, -(2**63) - 1, -(2**31), 1.5, (1, 2), 5,
         5.0, None, b"a"]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(_POOL), max_size=9), st.lists(st.sampled_from(_POOL), max_size=9))
def test_mixed_elements_match_python_equality(a, b):
    """Any mix of element kinds gives the textbook distance under Python's == (cpu and reference),
    with RapidFuzz's one convention on top: a one-character string is its code point."""
    as_rapidfuzz = lambda x: ord(x) if isinstance(x, str) and len(x) == 1 else x  # noqa: E731
    expected = naive_levenshtein([as_rapidfuzz(x) for x in a], [as_rapidfuzz(x) for x in b])
    assert bf.levenshtein(a, b, backend="reference") == expected
    assert bf.levenshtein(a, b, backend="cpu") == expected
