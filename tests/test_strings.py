"""Edit-distance family: every backend against the reference; the reference against known
answers and the textbook recurrence."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bagu_fast as bf

from .conftest import CUDA_SIM, sim_small

WEIGHTS = [(1, 1, 1), (2, 2, 2), (1, 1, 2), (2, 3, 1), (0, 1, 1), (0, 0, 0), (5, 1, 3)]
KNOWN = [
    ("kitten", "sitting", 3),
    ("flaw", "lawn", 2),
    ("", "", 0),
    ("", "abc", 3),
    ("abc", "", 3),
    ("intention", "execution", 5),
    ("sunday", "saturday", 3),
    ("😀a𝄞", "a𝄞😀", 2),  # astral code points count as one element each
    (b"\x00\xff", b"\xff", 1),
]


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


@pytest.mark.parametrize("s1, s2, expected", KNOWN)
def test_known_answers(backend, s1, s2, expected):
    assert bf.levenshtein(s1, s2, backend=backend) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcd", max_size=12), st.text(alphabet="abcd", max_size=12),
       st.sampled_from(WEIGHTS))
def test_reference_matches_textbook(s1, s2, weights):
    assert bf.levenshtein(s1, s2, weights=weights, backend="reference") == naive_levenshtein(s1, s2, weights)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="abc", max_size=10), st.text(alphabet="abc", max_size=10), st.text(alphabet="abc", max_size=10))
def test_reference_is_a_metric(a, b, c):
    d = lambda x, y: bf.levenshtein(x, y, backend="reference")
    assert d(a, b) == d(b, a)
    assert (d(a, b) == 0) == (a == b)
    assert d(a, c) <= d(a, b) + d(b, c)


@pytest.mark.parametrize("weights", WEIGHTS)
def test_cdist_matches_reference(fast_backend, rng, weights):
    n = sim_small(40, 6) if fast_backend == "cuda" else 40
    # lengths straddle the one-word (64) and two-word (128) limits of the bit-parallel kernels
    lengths = (0, 140) if fast_backend == "cpu" or not CUDA_SIM else (0, 70)
    queries = random_strings(rng, n, *lengths) + ["", "a", "a" * 64, "b" * 65]
    choices = random_strings(rng, n + 3, *lengths) + ["", "ab"]
    expected = bf.cdist(queries, choices, weights=weights, backend="reference")
    actual = bf.cdist(queries, choices, weights=weights, backend=fast_backend)
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("weights", WEIGHTS[:4])
def test_cpdist_matches_reference(fast_backend, rng, weights):
    n = sim_small(60, 8) if fast_backend == "cuda" else 60
    hi = 70 if fast_backend == "cuda" and CUDA_SIM else 200
    a = random_strings(rng, n, 0, hi, alphabet=6)
    b = random_strings(rng, n, 0, hi, alphabet=6)
    expected = bf.cpdist(a, b, weights=weights, backend="reference")
    np.testing.assert_array_equal(bf.cpdist(a, b, weights=weights, backend=fast_backend), expected)


def test_word_sizes_and_wide_alphabet(fast_backend, rng):
    """Queries of every length class (≤16, ≤32, ≤64, >64) and code points far above ASCII."""
    n = sim_small(30, 4) if fast_backend == "cuda" else 30
    q = [random_strings(rng, 1, k, k, alphabet=50, base=0x1F600)[0] for k in (1, 7, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129)]
    c = random_strings(rng, n, 0, 90, alphabet=50, base=0x1F600) + random_strings(rng, 3, 0, 10, alphabet=5)
    np.testing.assert_array_equal(bf.cdist(q, c, backend=fast_backend), bf.cdist(q, c, backend="reference"))


def test_long_pair(fast_backend, rng):
    n = 300 if fast_backend == "cuda" and CUDA_SIM else 3000
    a, b = random_strings(rng, 2, n, n, alphabet=20)
    expected = bf.levenshtein(a, b, backend="reference")
    assert bf.levenshtein(a, b, backend=fast_backend) == expected
    assert bf.levenshtein(a, b[: n // 3], backend=fast_backend) == bf.levenshtein(a, b[: n // 3], backend="reference")


def test_empty_collections(backend):
    assert bf.cdist([], ["a"], backend=backend).shape == (0, 1)
    assert bf.cdist(["a"], [], backend=backend).shape == (1, 0)
    assert bf.cpdist([], [], backend=backend).shape == (0,)


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


def test_score_cutoff_like_rapidfuzz(backend):
    assert bf.levenshtein("kitten", "sitting", score_cutoff=2, backend=backend) == 3
    assert bf.levenshtein("kitten", "sitting", score_cutoff=1, backend=backend) == 2
    assert bf.levenshtein("kitten", "sitting", score_cutoff=3, backend=backend) == 3
    m = bf.cdist(["kitten"], ["sitting", "kitten"], score_cutoff=1, backend=backend)
    np.testing.assert_array_equal(m, [[2, 0]])
    assert bf.cpdist(["abc"], ["xyz"], score_cutoff=0, backend=backend)[0] == 1


def test_normalized(backend):
    assert bf.normalized_levenshtein("kitten", "sitting", backend=backend) == pytest.approx(3 / 7)
    assert bf.normalized_levenshtein("", "", backend=backend) == 0.0
    assert bf.normalized_levenshtein("abc", "xyz", backend=backend) == 1.0
    # weights-aware maximum: deleting 3 and inserting 0 costs 3*2; substituting is capped the same way
    assert bf.normalized_levenshtein("abc", "", weights=(1, 2, 1), backend=backend) == 1.0
    assert bf.normalized_levenshtein("ab", "ac", weights=(1, 1, 5), backend=backend) == pytest.approx(2 / 4)
    assert bf.normalized_levenshtein("kitten", "sitting", score_cutoff=0.2, backend=backend) == 1.0


def test_output_dtype_and_workers(rng):
    q, c = random_strings(rng, 5, 0, 9), random_strings(rng, 4, 0, 9)
    expected = bf.cdist(q, c, backend="reference")
    assert bf.cdist(q, c).dtype == np.uint32  # RapidFuzz's default for distances
    out = bf.cdist(q, c, dtype=np.float64, workers=-1, backend="cpu")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(bf.cdist(q, c, workers=1, backend="cpu"), expected)


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


def test_inputs_not_modified(backend):
    q = [np.array([1, 2, 3]), np.array([3, 2])]
    c = [np.array([2, 3])]
    copies = [x.copy() for x in q + c]
    bf.cdist(q, c, backend=backend)
    for x, y in zip(q + c, copies):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("other", ["unicode", "tokens", "bytes"])
def test_mixed_code_widths(backend, rng, other):
    """ASCII (packed as uint8) against Unicode (uint32), tokens (int64) and bytes."""
    ascii_side = random_strings(rng, 5, 0, 70, alphabet=3)
    uni = random_strings(rng, 5, 0, 70, alphabet=3, base=0x61) + ["é" * 3 + "a"]
    if other == "tokens":
        uni = [list(s) + ["word"] for s in uni]
    elif other == "bytes":
        uni = [s.encode("utf-8") for s in uni]
    naive = np.array([[naive_levenshtein(list(a), list(b) if not isinstance(b, bytes) else [chr(x) for x in b])
                       for b in uni] for a in ascii_side])
    np.testing.assert_array_equal(bf.cdist(ascii_side, uni, backend=backend), naive)
    np.testing.assert_array_equal(bf.cdist(uni, ascii_side, backend=backend), naive.T)
    np.testing.assert_array_equal(bf.cpdist(ascii_side, uni[:5], backend=backend), naive.diagonal())


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=5), st.lists(st.text(max_size=80), min_size=1, max_size=5),
       st.sampled_from(WEIGHTS))
def test_cpu_matches_textbook_on_any_unicode(queries, choices, weights):
    expected = np.array([[naive_levenshtein(a, b, weights) for b in choices] for a in queries])
    np.testing.assert_array_equal(bf.cdist(queries, choices, weights=weights, backend="cpu"), expected)
    n = min(len(queries), len(choices))
    np.testing.assert_array_equal(bf.cpdist(queries[:n], choices[:n], weights=weights, backend="cpu"),
                                  expected.diagonal()[:n])


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


# ----------------------------------------------------------------------------- overflow
def test_huge_weights_are_exact(backend):
    assert bf.levenshtein("ab", "xy", weights=(2**62,) * 3, backend=backend) == 2**63  # RapidFuzz
    assert bf.levenshtein("abc", "xyz", weights=(10**9,) * 3, backend=backend) == 3 * 10**9
    assert bf.normalized_levenshtein("ab", "xy", weights=(2**62,) * 3, backend=backend) == 1.0
    out = bf.cdist(["abc"], ["xyz", "abd"], weights=(10**9,) * 3, backend=backend)
    assert out.dtype == np.uint32 and out.tolist() == [[3 * 10**9, 10**9]]
    out = bf.cpdist(["ab"], ["xy"], weights=(2**62,) * 3, dtype=np.uint64, backend=backend)
    assert out.tolist() == [2**63]


def test_results_never_wrap(backend):
    with pytest.raises(ValueError, match="dtype"):
        bf.cdist(["abc"], ["xyz"], weights=(2**31,) * 3, backend=backend)  # 6.4e9 > uint32
    with pytest.raises(ValueError, match="dtype"):
        bf.cdist(["abc"], ["xyz"], weights=(2**31,) * 3, dtype=np.int32, backend=backend)
    with pytest.raises(ValueError, match="dtype"):
        bf.cdist(["a" * 3], ["b" * 3], weights=(2**23,) * 3, dtype=np.float32, backend=backend)  # not exact
    assert bf.cdist(["abc"], ["xyz"], weights=(2**31,) * 3, dtype=np.int64, backend=backend).tolist() == [[3 * 2**31]]
    with pytest.raises(ValueError, match="weights"):  # no common factor: int64 cells could overflow
        bf.levenshtein("ab", "xy", weights=(2**62, 1, 3), backend=backend)
    with pytest.raises(ValueError, match="weights"):
        bf.cdist(["ab"], ["xy"], weights=(1e20, 1, 1), backend=backend)


@pytest.mark.parametrize("cutoff, expected", [(1.5, 2), (2, 3), (3, 3), (2**63 - 1, 3), (float("inf"), 3), (0, 1)])
def test_score_cutoff_any_real(backend, cutoff, expected):
    """RapidFuzz: a distance above the cutoff reads floor(cutoff) + 1; huge cutoffs are no-ops."""
    assert bf.levenshtein("abc", "xyz", score_cutoff=cutoff, backend=backend) == expected
    assert bf.cdist(["abc"], ["xyz"], score_cutoff=cutoff, backend=backend).tolist() == [[expected]]
    assert bf.cpdist(["abc"], ["xyz"], score_cutoff=cutoff, dtype=np.int64, backend=backend).tolist() == [expected]


def test_cutoff_with_huge_weights():
    out = bf.cdist(["ab", "a"], ["xy"], weights=(2**62,) * 3, score_cutoff=5, dtype=np.int64)
    assert out.tolist() == [[6], [6]]


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


# ----------------------------------------------------------------------------- per-call fast path
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=90), st.binary(max_size=90), st.sampled_from([None, b"ab", b"abc\x00\xff"]))
def test_interpreted_tier_matches_the_kernel(a, b, alphabet):
    """The fast path's first calls run on Python integers: bit for bit the JIT kernel's answer
    (including -1, "too long for one word", past 64 symbols)."""
    from bagu_fast import strings
    from bagu_fast.kernels.cpu.strings_pair import unit_distance_bytes

    if alphabet is not None:  # small alphabets: long common runs, many equal symbols
        a = bytes(alphabet[x % len(alphabet)] for x in a)
        b = bytes(alphabet[x % len(alphabet)] for x in b)
    assert strings._unit_distance_python(a, b) == unit_distance_bytes(a, b)


def test_fast_path_loads_the_jit_after_the_interpreted_calls(monkeypatch):
    from bagu_fast import strings

    monkeypatch.setattr(strings, "_pair_kernel", None)
    monkeypatch.setattr(strings, "_interpreted_left", 3)
    for _ in range(3):
        assert bf.levenshtein("kitten", "sitting") == 3
        assert strings._pair_kernel is None  # still interpreted: Numba not needed yet
    assert bf.levenshtein("kitten", "sitting") == 3
    assert strings._pair_kernel is not None


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abc\x00\x7f", max_size=90), st.text(alphabet="abc\x00\x7f", max_size=90), st.booleans())
def test_fast_path_matches_reference(s1, s2, as_bytes):
    """Default arguments on short ASCII str / bytes take the per-pair fast path (falling back past
    64 symbols): same answers as the reference, same types."""
    a, b = (s1.encode(), s2.encode()) if as_bytes else (s1, s2)
    expected = bf.levenshtein(a, b, backend="reference")
    assert bf.levenshtein(a, b) == expected
    assert bf.normalized_levenshtein(a, b) == bf.normalized_levenshtein(a, b, backend="reference")
    out = bf.cdist([a, b], [b])
    assert out.dtype == np.uint32 and out.tolist() == bf.cdist([a, b], [b], backend="reference").tolist()
    assert bf.cpdist([a], [b]).tolist() == [expected]
