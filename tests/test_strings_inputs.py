"""Edit-distance family: what every public function accepts (RapidFuzz's conventions) and what it
refuses (a TypeError / ValueError naming the argument, before any kernel runs)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import bagu_fast as bf
from bagu_fast import strings

# ----------------------------------------------------------------------------------- workers
# RapidFuzz's process.cdist / cpdist: 0 and 1 run serially, any negative count uses every core.


@pytest.mark.parametrize("workers", [0, 1, 2, -1, -2, -100, np.int64(3), 10**6])
def test_workers_any_integer_like_rapidfuzz(rng, workers):
    q = ["".join(rng.choice(list("abc"), int(k))) for k in rng.integers(0, 30, 40)]
    c = ["".join(rng.choice(list("abc"), int(k))) for k in rng.integers(0, 30, 30)]
    expected = bf.cdist(q, c, backend="reference")
    np.testing.assert_array_equal(bf.cdist(q, c, workers=workers, backend="cpu"), expected)
    np.testing.assert_array_equal(bf.cpdist(q[:30], c, workers=workers, backend="cpu"), expected[:30].diagonal())
    np.testing.assert_array_equal(bf.cdist(q, c, workers=workers, backend="reference"), expected)


def test_workers_thread_counts():
    import numba

    everything = numba.config.NUMBA_NUM_THREADS
    assert [strings._thread_count(w) for w in (0, 1, 2)] == [1, 1, 2]
    assert [strings._thread_count(w) for w in (-1, -2, -100)] == [everything] * 3


@pytest.mark.parametrize("workers", [0, 2, -1, -2])
def test_workers_count_is_used_and_restored(monkeypatch, workers):
    """The kernel runs with the resolved thread count; the caller's count comes back after."""
    import numba

    from bagu_fast.kernels.cpu import strings as cpu_strings

    seen = []
    kernel = cpu_strings.cdist

    def spy(*args):
        seen.append(numba.get_num_threads())
        return kernel(*args)

    before = numba.get_num_threads()
    monkeypatch.setattr(cpu_strings, "cdist", spy)
    words = ["kitten", "sitting", "flaw", "lawn"] * 80  # past the small-batch path
    bf.cdist(words, words[:3], workers=workers, backend="cpu")
    assert seen == [min(strings._thread_count(workers), numba.config.NUMBA_NUM_THREADS)]
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("workers", [1.0, 1.5, True, "2", None, [1]])
def test_workers_must_be_an_integer(workers):
    for fn in (bf.cdist, bf.cpdist):
        with pytest.raises(TypeError, match="workers"):
            fn(["a"], ["b"], workers=workers)


# ------------------------------------------------------------------ a str as a collection
def test_single_str_is_a_collection_of_characters(backend):
    """RapidFuzz's answers: a str passed as ``queries`` / ``choices`` is its characters."""
    np.testing.assert_array_equal(bf.cdist("abc", ["a", "b"], backend=backend), [[0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(bf.cdist(["abc"], "ab", backend=backend), [[2, 2]])
    np.testing.assert_array_equal(bf.cpdist("abc", "abd", backend=backend), [0, 0, 1])
    np.testing.assert_array_equal(bf.cdist("", ["a"], backend=backend).shape, (0, 1))
    np.testing.assert_array_equal(bf.cdist("ab😀", "😀", backend=backend), [[1], [1], [0]])


@pytest.mark.parametrize("raw", [b"ab", bytearray(b"ab"), memoryview(b"ab")])
def test_bytes_as_a_collection_is_refused(raw):
    """Its elements are integers (RapidFuzz raises TypeError too): the message says so."""
    for fn in (bf.cdist, bf.cpdist):
        with pytest.raises(TypeError, match="queries.*integers"):
            fn(raw, ["ab", "c"])
        with pytest.raises(TypeError, match="choices.*integers"):
            fn(["ab", "c"], raw)


# ------------------------------------------------------------------------- accepted kinds
def test_numpy_string_arrays(backend):
    words = ["kitten", "sitting", "", "flaw"]
    expected = bf.cdist(words, words, backend="reference")
    for arr in (np.array(words), np.array(words, dtype=object), np.array([w.encode() for w in words])):
        np.testing.assert_array_equal(bf.cdist(arr, words, backend=backend), expected)
        np.testing.assert_array_equal(bf.cdist(words, arr, backend=backend), expected)
        reversed_pairs = [expected[i, len(words) - 1 - i] for i in range(len(words))]
        np.testing.assert_array_equal(bf.cpdist(arr, arr[::-1], backend=backend), reversed_pairs)
    assert bf.levenshtein(np.str_("kitten"), np.bytes_(b"sitting"), backend=backend) == 3
    assert bf.levenshtein(np.array(list("kitten")), "sitting", backend=backend) == 3  # characters as elements
    assert bf.levenshtein(np.array(["ab", "c"]), ["ab", "c"], backend=backend) == 0  # words as elements


def test_bytes_and_str_mix(backend):
    """Bytes compare by value with code points (b"a"[0] == 97 == ord("a"))."""
    assert bf.levenshtein(b"kitten", "sitting", backend=backend) == 3
    np.testing.assert_array_equal(bf.cdist(["ab", b"ab", bytearray(b"xb")], [b"ab", "ab"], backend=backend),
                                  [[0, 0], [0, 0], [1, 1]])
    assert bf.levenshtein(["a", 97, b"a"], "aaa", backend=backend) == 1  # b"a" is one token, not a character


def test_mixed_element_kinds_in_a_collection(backend):
    out = bf.cdist(["ab", b"ab", ["a", "b"], (97, 98), np.array([97, 98]), "ab"], ["ab"], backend=backend)
    np.testing.assert_array_equal(out, [[0]] * 6)


def test_iterables_of_strings(backend):
    words = ["kitten", "sitting"]
    expected = bf.cdist(words, words, backend="reference")
    np.testing.assert_array_equal(bf.cdist(tuple(words), iter(words), backend=backend), expected)
    np.testing.assert_array_equal(bf.cdist((w for w in words), words, backend=backend), expected)


def test_pandas_series(backend):
    pd = pytest.importorskip("pandas")
    words = ["kitten", "sitting", "flaw"]
    expected = bf.cdist(words, words, backend="reference")
    for series in (pd.Series(words), pd.Series(words, index=[7, 3, 5]), pd.Series(words, dtype=object)):
        np.testing.assert_array_equal(bf.cdist(series, words, backend=backend), expected)
        np.testing.assert_array_equal(bf.cpdist(series, series, backend=backend), [0, 0, 0])
    assert bf.levenshtein(pd.Series(list("kitten")), "sitting", backend=backend) == 3
    with pytest.raises(TypeError, match=r"queries\[1\].*missing"):
        bf.cdist(pd.Series(["a", None]), ["a"], backend=backend)
    with pytest.raises(TypeError, match="queries.*DataFrame"):
        bf.cdist(pd.DataFrame({"w": words}), words, backend=backend)
    assert bf.normalized_levenshtein(pd.NA, "abc", backend=backend) == 1.0


@pytest.mark.parametrize("missing", [None, float("nan"), np.float64("nan")])
def test_normalized_missing_value_is_one_like_rapidfuzz(backend, missing):
    assert bf.normalized_levenshtein(missing, "abc", backend=backend) == 1.0
    assert bf.normalized_levenshtein("abc", missing, backend=backend) == 1.0
    with pytest.raises(TypeError, match="s1"):  # the distance itself refuses it, as RapidFuzz does
        bf.levenshtein(missing, "abc", backend=backend)
    with pytest.raises(ValueError, match="weights"):  # other arguments are still checked
        bf.normalized_levenshtein(missing, "abc", weights=(1, 1), backend=backend)


# ----------------------------------------------------------- refused kinds, every function
class _NoArray:
    """An object that is neither iterable nor readable as an array."""


BAD_SEQUENCES = [
    pytest.param(None, id="None"),
    pytest.param(3, id="int"),
    pytest.param(2.5, id="float"),
    pytest.param(float("nan"), id="nan"),
    pytest.param({"a": 1}, id="dict"),
    pytest.param({"a", "b"}, id="set"),
    pytest.param(frozenset("ab"), id="frozenset"),
    pytest.param(np.int64(7), id="numpy-scalar"),
    pytest.param(np.array("ab"), id="0-d-array"),
    pytest.param(_NoArray(), id="object"),
]
BAD_ELEMENTS = BAD_SEQUENCES + [pytest.param(["a", {}], id="unhashable")]


def _pair_calls():
    """Each public function taking one sequence per argument: (name, call(s1, s2))."""
    return {
        "levenshtein": lambda a, b: bf.levenshtein(a, b, backend="reference"),
        "normalized_levenshtein": lambda a, b: bf.normalized_levenshtein(a, b, backend="reference"),
        "levenshtein_editops": lambda a, b: bf.levenshtein_editops(a, b, backend="reference"),
        "apply_editops": lambda a, b: bf.apply_editops([], a, b),
    }


def _batch_calls():
    return {"cdist": bf.cdist, "cpdist": bf.cpdist}


def test_every_public_function_is_covered():
    assert set(strings.__all__) == set(_pair_calls()) | set(_batch_calls())


@pytest.mark.parametrize("fn", sorted(_pair_calls()))
@pytest.mark.parametrize("bad", BAD_SEQUENCES)
def test_pair_functions_name_a_bad_sequence(fn, bad):
    call = _pair_calls()[fn]
    if fn == "normalized_levenshtein" and (bad is None or isinstance(bad, float) and math.isnan(bad)):
        assert call(bad, "abc") == call("abc", bad) == 1.0  # a missing value (RapidFuzz)
        return
    with pytest.raises(TypeError, match="s1"):
        call(bad, "abc")
    with pytest.raises(TypeError, match="s2"):
        call("abc", bad)


@pytest.mark.parametrize("fn", sorted(_batch_calls()))
@pytest.mark.parametrize("bad", BAD_SEQUENCES)
def test_batch_functions_name_a_bad_collection(fn, bad):
    call = _batch_calls()[fn]
    with pytest.raises(TypeError, match="queries"):
        call(bad, ["ab", "c"])
    with pytest.raises(TypeError, match="choices"):
        call(["ab", "c"], bad)


@pytest.mark.parametrize("fn", sorted(_batch_calls()))
@pytest.mark.parametrize("bad", BAD_ELEMENTS)
@pytest.mark.parametrize("backend_name", ["reference", "cpu"])
def test_batch_functions_name_a_bad_element(fn, bad, backend_name):
    call = _batch_calls()[fn]
    with pytest.raises(TypeError, match=r"queries\[1\]"):
        call(["ab", bad], ["ab", "c"], backend=backend_name)
    with pytest.raises(TypeError, match=r"choices\[1\]"):
        call(["ab", "c"], ["ab", bad], backend=backend_name)


def test_missing_element_is_named_as_such():
    with pytest.raises(TypeError, match=r"choices\[1\].*missing value"):
        bf.cdist(["a"], ["b", None])
    with pytest.raises(TypeError, match=r"queries\[1\].*missing value"):
        bf.cpdist(np.array(["a", None], dtype=object), ["a", "b"])


@pytest.mark.parametrize("fn", ["levenshtein", "normalized_levenshtein", "levenshtein_editops"])
def test_pair_functions_name_a_bad_array(fn):
    call = _pair_calls()[fn]
    with pytest.raises(ValueError, match="s1.*1-D"):
        call(np.zeros((2, 2), int), "abc")
    with pytest.raises(TypeError, match="s2.*unhashable"):
        call("abc", [[1, 2]])


@pytest.mark.parametrize("ops", [None, 5, "insert", {"a": 1}, {("insert", 0, 0)}])
def test_apply_editops_names_bad_ops(ops):
    with pytest.raises(TypeError, match="ops"):
        bf.apply_editops(ops, "", "a")


def test_bad_input_leaves_inputs_alone():
    q = [np.array([1, 2, 3]), "ab"]
    c = ["ab", None]
    with pytest.raises(TypeError, match=r"choices\[1\]"):
        bf.cdist(q, c)
    assert q[0].tolist() == [1, 2, 3] and c == ["ab", None]
