"""Bad input gets a ValueError / TypeError naming the argument, before any kernel runs.

One section per family; every check runs on the reference backend unless the backend matters.
"""
from __future__ import annotations

import numpy as np
import pytest

import bagu_fast as bf

# ----------------------------------------------------------------------------- shared / dispatch


@pytest.mark.parametrize("backend", ["gpu", "", None, 1, "CPU"])
def test_unknown_backend(backend):
    with pytest.raises(ValueError, match="backend"):
        bf.levenshtein("a", "b", backend=backend)


def test_import_is_lazy():
    """``import bagu_fast`` pulls in neither numba, numba.cuda nor cupy (its speed is benched)."""
    import subprocess
    import sys

    code = "import sys, bagu_fast; print(*(m in sys.modules for m in ('numba', 'numba.cuda', 'cupy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False"], out


# ----------------------------------------------------------------------------- strings


@pytest.mark.parametrize("bad, exc", [(None, TypeError), (3, TypeError), (3.5, TypeError), ({"a": 1}, TypeError),
                                      (np.zeros((2, 2), int), ValueError),
                                      ([[1, 2]], TypeError), ([{}], TypeError)])
def test_levenshtein_bad_sequence(bad, exc):
    with pytest.raises(exc, match="s1"):
        bf.levenshtein(bad, "abc", backend="reference")


@pytest.mark.parametrize("weights, exc", [((1, 1), ValueError), ((1, 1, -1), ValueError), ("abc", TypeError),
                                          ((1, 1, None), TypeError), ((1, 1, float("nan")), ValueError),
                                          ((1, 1, 1.5), ValueError), (5, TypeError), ((True, 1, 1), TypeError)])
def test_bad_weights(weights, exc):
    with pytest.raises(exc, match="weights"):
        bf.levenshtein("a", "b", weights=weights, backend="reference")
    with pytest.raises(exc, match="weights"):
        bf.cdist(["a"], ["b"], weights=weights)


@pytest.mark.parametrize("cutoff, exc", [(-1, ValueError), (-0.5, ValueError), (float("nan"), ValueError), ("2", TypeError)])
def test_bad_score_cutoff(cutoff, exc):
    with pytest.raises(exc, match="score_cutoff"):
        bf.levenshtein("a", "b", score_cutoff=cutoff, backend="reference")
    with pytest.raises(exc, match="score_cutoff"):
        bf.cdist(["a"], ["b"], score_cutoff=cutoff)


@pytest.mark.parametrize("cutoff", [-0.1, 1.5, float("nan")])
def test_bad_normalized_cutoff(cutoff):
    with pytest.raises(ValueError, match="score_cutoff"):
        bf.normalized_levenshtein("a", "b", score_cutoff=cutoff, backend="reference")


@pytest.mark.parametrize("queries", [None, 5, b"ab"])
def test_cdist_bad_collection(queries):
    with pytest.raises(TypeError, match="queries"):
        bf.cdist(queries, ["a"])


def test_cdist_bad_element_names_position():
    with pytest.raises(TypeError, match=r"choices\[1\]"):
        bf.cdist(["a"], ["b", None])
    with pytest.raises(TypeError, match=r"queries\[0\]"):
        bf.cdist([[{}]], ["b"])


def test_cpdist_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        bf.cpdist(["a", "b"], ["a"])


@pytest.mark.parametrize("workers", [1.0, True, None])
def test_bad_workers(workers):
    with pytest.raises((ValueError, TypeError), match="workers"):
        bf.cdist(["a"], ["b"], workers=workers)


def test_bad_dtype():
    with pytest.raises(TypeError, match="dtype"):
        bf.cdist(["a"], ["b"], dtype="not-a-dtype")
    with pytest.raises(TypeError, match="dtype"):
        bf.cdist(["a"], ["b"], dtype=np.bool_)


def test_editops_rejects_cuda_and_bad_ops():
    with pytest.raises(ValueError, match="cuda"):
        bf.levenshtein_editops("a", "b", backend="cuda")
    with pytest.raises(ValueError, match="ops"):
        bf.apply_editops([("swap", 0, 0)], "a", "b")
    with pytest.raises(ValueError, match="ops"):
        bf.apply_editops([("replace", 5, 0)], "a", "b")


# ----------------------------------------------------------------------------- every public function


def _public_functions():
    import inspect

    import bagu_fast.trees

    seen = {}
    for module in (bf, bf.hmm, bagu_fast.trees):
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isfunction(obj) and name not in seen:
                seen[name] = obj
    return sorted(seen.items())


@pytest.mark.parametrize("bad", [None, {}, object(), "abc"], ids=["None", "dict", "object", "str"])
@pytest.mark.parametrize("name, fn", _public_functions(), ids=[n for n, _ in _public_functions()])
def test_bad_argument_kinds_are_named(name, fn, bad):
    """Every required argument given None / a dict / an object / a string: either the call is valid
    (strings are sequences of characters) or a TypeError / ValueError names one of the arguments:
    never a KeyError, AttributeError, IndexError or a Numba typing error from inside."""
    import inspect

    params = [p for p in inspect.signature(fn).parameters.values()
              if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    try:
        fn(*[bad] * len(params))
    except (TypeError, ValueError) as exc:
        names = [p.name for p in inspect.signature(fn).parameters.values()]
        assert any(n in str(exc) for n in names), f"{name}: {type(exc).__name__}: {exc} names no argument"
