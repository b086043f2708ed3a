"""The per-call fast path of levenshtein / normalized_levenshtein / small cdist and cpdist calls:
the interpreted first calls and the JIT kernel agree bit for bit, and both agree with the
reference."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import bagu_fast as bf


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=90), st.binary(max_size=90), st.sampled_from([None, b"ab", b"abc\x00\xff"]))
def test_interpreted_tier_matches_the_kernel(a, b, alphabet):
    """The fast path's first calls run on Python integers: bit for bit the JIT kernel's answer
    (including -1, "too long for one word", past 64 symbols)."""
    from bagu_fast import strings
    from bagu_fast.kernels.cpu.strings.fast_pair import unit_distance_bytes

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
