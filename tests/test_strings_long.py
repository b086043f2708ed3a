"""Edit distance on long strings over wide alphabets (issue 10): the banded bit-parallel
distance, sparse pattern masks, and Hirschberg editops, checked against the NumPy reference
(itself checked against the textbook recurrence in test_strings.py) and by replaying scripts.

Sizes stay small enough for CI; the Hirschberg recursion is exercised on small inputs by
lowering the leaf budget (``_EDITOPS_LEAF_WORDS``), the sparse masks by a pattern with more
distinct symbols than the dense table's budget.  Memory is measured in bench/, not here.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest

import bagu_fast as bf
from bagu_fast.kernels.cpu import strings as cpu_strings
from bagu_fast.kernels.reference import strings as ref_strings

ASTRAL = "ab😀"
LOWER = "abcdefghijklmnopqrstuvwxyz"
CJK = "".join(chr(0x4E00 + k) for k in range(20000))
MIXED = "aZ0~é€😀𝄞" + CJK[:50]  # one, two, three and four UTF-8 bytes; BMP and astral


def ref_distance(a, b) -> int:
    """The reference's Wagner–Fischer on code points (one row at a time)."""
    return ref_strings._distance(np.array([ord(c) for c in a], np.int64), np.array([ord(c) for c in b], np.int64),
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


# ---------------------------------------------------------------------------------------- editops
@pytest.fixture(params=[1 << 20, 400, 0], ids=["leaf-budget", "small-leaves", "split-to-the-end"])
def leaf_words(request, monkeypatch):
    """The leaf budget: the default, small (several Hirschberg levels on small inputs) and zero
    (split until one column is left)."""
    monkeypatch.setattr(cpu_strings, "_EDITOPS_LEAF_WORDS", request.param)
    return request.param


@pytest.mark.parametrize("alphabet", [ASTRAL, LOWER, MIXED])
def test_editops_random_long(rng, leaf_words, alphabet):
    for m, n in [(0, 70), (70, 0), (1, 200), (200, 1), (130, 129), (700, 650), (1500, 1800)]:
        if leaf_words == 0 and m * n > 200_000:
            continue  # one split per column: keep it small
        a, b = random_text(rng, alphabet, m), random_text(rng, alphabet, n)
        check_script(a, b, bf.levenshtein_editops(a, b, backend="cpu"), ref_distance(a, b))


def test_editops_similar_documents(rng, leaf_words):
    """Long similar texts: the exact distance from the narrow probe band bounds the splits."""
    base = random_text(rng, MIXED, 3000 if leaf_words == 0 else 9000)  # 0: one split per column
    for edits in (3, 200):
        other = mutate(rng, base, edits, MIXED)
        check_script(base, other, bf.levenshtein_editops(base, other, backend="cpu"), ref_distance(base, other))


def test_editops_sparse_masks(rng):
    """Editops whose pattern has too many distinct symbols for a dense mask table."""
    a = "".join(rng.permutation(list(CJK[:9000])))
    b = mutate(rng, a, 150, CJK)
    check_script(a, b, bf.levenshtein_editops(a, b, backend="cpu"), ref_distance(a, b))


def test_editops_repeats_and_tokens(rng, leaf_words):
    """Periodic strings (many optimal paths) and token sequences (int64 codes)."""
    size = 60 if leaf_words == 0 else 400
    a, b = "ab" * size + "c", "ba" * (size + 10)
    check_script(a, b, bf.levenshtein_editops(a, b, backend="cpu"), ref_distance(a, b))
    words = ["the", "a", "cat", 7, 3.0, ("t",), "😀"]
    ta = [words[k] for k in rng.integers(0, len(words), 3 * size // 2)]
    tb = [words[k] for k in rng.integers(0, len(words), 5 * size // 4)]
    expected = bf.levenshtein(ta, tb, backend="reference")
    check_script(ta, tb, bf.levenshtein_editops(ta, tb, backend="cpu"), expected)


def test_editops_deterministic_across_threads(rng):
    """Same script on every call and for every Numba thread count."""
    a, b = random_text(rng, ASTRAL, 5000), random_text(rng, ASTRAL, 4800)
    saved = numba.get_num_threads()
    try:
        first = bf.levenshtein_editops(a, b, backend="cpu")
        numba.set_num_threads(1)
        single = bf.levenshtein_editops(a, b, backend="cpu")
    finally:
        numba.set_num_threads(saved)
    assert first == single == bf.levenshtein_editops(a, b, backend="cpu")
    check_script(a, b, first, ref_distance(a, b))


def test_editops_leaves_inputs_alone(rng):
    a = np.array([ord(c) for c in random_text(rng, MIXED, 900)], np.int64)
    b = np.array([ord(c) for c in random_text(rng, MIXED, 800)], np.int64)
    a0, b0 = a.copy(), b.copy()
    ops = cpu_strings.editops(a, b)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    assert ops.dtype == np.int64 and ops.shape == (ref_strings._distance(a, b, np.ones(3, np.int64)), 3)


# -------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [None, 3, 2.5, {"a": 1}, {1, 2}])
def test_editops_rejects_non_sequences(bad):
    with pytest.raises(TypeError, match="s1"):
        bf.levenshtein_editops(bad, "abc", backend="cpu")
    with pytest.raises(TypeError, match="s2"):
        bf.levenshtein_editops("abc", bad, backend="cpu")


def test_editops_rejects_cuda_and_unknown_backends():
    with pytest.raises(ValueError, match="cuda"):
        bf.levenshtein_editops("a" * 100, "b" * 100, backend="cuda")
    with pytest.raises(ValueError, match="backend"):
        bf.levenshtein_editops("a", "b", backend="gpu")


def test_kernel_rejects_offsets_outside_codes():
    codes = np.arange(100, dtype=np.int64)
    with pytest.raises(ValueError, match="offsets"):
        cpu_strings.cpdist(codes, [0, 101], codes, [0, 100], np.ones(3, np.int64))
    with pytest.raises(ValueError, match="offsets"):
        cpu_strings.cdist(codes, [0, 80, 70], codes, [0, 100], np.ones(3, np.int64))
