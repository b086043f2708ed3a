"""Edit scripts: levenshtein_editops is minimal and replays through apply_editops (reference and
cpu), including long inputs through Hirschberg's splits, sparse masks and many optimal paths;
apply_editops refuses malformed scripts.

The Hirschberg recursion is exercised on small inputs by lowering the leaf budget
(``edit_script.LEAF_WORDS``), the sparse masks by a pattern with more distinct symbols than the
dense table's budget.  Memory is measured in bench/, not here."""
from __future__ import annotations

import numba
import numpy as np
import pytest

import bagu_fast as bf
from bagu_fast.kernels.cpu import strings as cpu_strings
from bagu_fast.kernels.cpu.strings import edit_script
from bagu_fast.kernels.reference.strings.wagner_fischer import distance as reference_distance

from .strings_helpers import ASTRAL, CJK, LOWER, MIXED, check_script, mutate, random_strings, random_text, ref_distance


EDITOPS_CASES = [("kitten", "sitting"), ("", "abc"), ("abc", ""), ("", ""), ("abc", "abc"), ("ab", "ba"),
                 ("intention", "execution"), ("a" * 70 + "b", "b" + "a" * 70)]


@pytest.mark.parametrize("backend_name", ["reference", "cpu"])
@pytest.mark.parametrize("s1, s2", EDITOPS_CASES)
def test_editops_are_minimal_and_apply(backend_name, s1, s2):
    ops = bf.levenshtein_editops(s1, s2, backend=backend_name)
    assert len(ops) == bf.levenshtein(s1, s2, backend="reference")
    assert "".join(bf.apply_editops(ops, s1, s2)) == s2
    assert all(kind in ("replace", "insert", "delete") for kind, _, _ in ops)


@pytest.mark.parametrize("backend_name", ["reference", "cpu"])
def test_editops_random(backend_name, rng):
    for _ in range(30):
        a, b = random_strings(rng, 2, 0, 150, alphabet=5)
        ops = bf.levenshtein_editops(a, b, backend=backend_name)
        assert len(ops) == bf.levenshtein(a, b)
        assert "".join(bf.apply_editops(ops, a, b)) == b


def test_editops_long_cpu(rng):
    a, b = random_strings(rng, 2, 4000, 4000, alphabet=8)
    ops = bf.levenshtein_editops(a, b, backend="cpu")
    assert len(ops) == bf.levenshtein(a, b, backend="cpu")
    assert "".join(bf.apply_editops(ops, a, b)) == b


def test_editops_reference_format():
    assert bf.levenshtein_editops("kitten", "sitting", backend="reference") == [
        ("replace", 0, 0), ("replace", 4, 4), ("insert", 6, 6)]


# ------------------------------------------------------------------------------ long inputs
@pytest.fixture(params=[1 << 20, 400, 0], ids=["leaf-budget", "small-leaves", "split-to-the-end"])
def leaf_words(request, monkeypatch):
    """The leaf budget: the default, small (several Hirschberg levels on small inputs) and zero
    (split until one column is left)."""
    monkeypatch.setattr(edit_script, "LEAF_WORDS", request.param)
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
    assert ops.dtype == np.int64 and ops.shape == (reference_distance(a, b, np.ones(3, np.int64)), 3)


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


# ----------------------------------------------------------------------------- apply_editops
@pytest.mark.parametrize("ops", [
    [("replace", 1, 0)],  # src_pos past the end of "a"
    [("insert", 0, 1)],  # dest_pos past the end of "b"
    [("insert", 0)],  # not a triple
    [("delete", 0, 0), ("delete", 0, 0)],  # the same element deleted twice
    [("replace", 0, 0), ("insert", 0, 0)],  # going backwards
    [("swap", 0, 0)],
    [("replace", 0.0, 0)],
    [("delete", -1, 0)],
])
def test_apply_editops_rejects_invalid_ops(ops):
    with pytest.raises(ValueError, match=r"ops\[\d\]"):
        bf.apply_editops(ops, "a", "b")


def test_apply_editops_accepts_valid_scripts():
    assert bf.apply_editops([("insert", 1, 1)], "a", "ab") == ["a", "b"]
    assert bf.apply_editops([("delete", 0, 0)], "ab", "b") == ["b"]
    assert bf.apply_editops([("insert", 0, 0), ("replace", 0, 1)], "a", "xy") == ["x", "y"]
    assert bf.apply_editops([], "abc", "abc") == ["a", "b", "c"]
