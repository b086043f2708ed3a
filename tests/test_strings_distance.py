"""Edit distance (levenshtein, normalized_levenshtein, cdist, cpdist): every backend against the
reference, the reference against known answers and the textbook recurrence; cutoffs, output
dtypes and exact results for huge weights."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bagu_fast as bf
from bagu_fast.kernels.cpu import strings as cpu_strings

from .conftest import CUDA_SIM, sim_small
from .strings_helpers import naive_levenshtein, random_strings


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


# ----------------------------------------------------------------------------- raw kernels
def test_kernel_rejects_offsets_outside_codes():
    codes = np.arange(100, dtype=np.int64)
    with pytest.raises(ValueError, match="offsets"):
        cpu_strings.cpdist(codes, [0, 101], codes, [0, 100], np.ones(3, np.int64))
    with pytest.raises(ValueError, match="offsets"):
        cpu_strings.cdist(codes, [0, 80, 70], codes, [0, 100], np.ones(3, np.int64))
