"""Bad input of every public function of the HMM / CRF family: None, strings, dicts, wrong dtypes,
object arrays, and pandas / torch CPU objects (wrong dtype: named errors; right dtype: the same
answer as NumPy).  Value checks of broadcast views read their distinct memory only.
"""
from __future__ import annotations


import numpy as np
import pytest

from bagu_fast import hmm
from bagu_fast.hmm import CategoricalHMM, GaussianHMM
from bagu_fast.hmm import _checks

# the good arguments of every public function, and the kind of each array argument
_LS, _LT, _LE = np.log([0.5, 0.5]), np.log([[0.9, 0.1], [0.2, 0.8]]), np.zeros((4, 2))
_EM = np.zeros((2, 3, 2))
_HMM_ARGS = {"log_startprob": _LS, "log_transmat": _LT, "log_emission": _LE, "lengths": [1, 3]}
_CRF_ARGS = {"emissions": _EM, "transitions": np.zeros((2, 2)), "start_transitions": np.zeros(2),
             "end_transitions": np.zeros(2), "lengths": [3, 2]}
FUNCTIONS = {
    "forward": (hmm.forward, _HMM_ARGS),
    "backward": (hmm.backward, _HMM_ARGS),
    "posteriors": (hmm.posteriors, _HMM_ARGS),
    "viterbi": (hmm.viterbi, _HMM_ARGS),
    "baum_welch_stats": (hmm.baum_welch_stats, _HMM_ARGS),
    "crf_log_partition": (hmm.crf_log_partition, _CRF_ARGS),
    "crf_marginals": (hmm.crf_marginals, _CRF_ARGS),
    "crf_decode": (hmm.crf_decode, _CRF_ARGS),
    "crf_log_likelihood": (hmm.crf_log_likelihood, dict(_CRF_ARGS, tags=np.zeros((2, 3), np.int64))),
}
INTEGER_ARGS = ("lengths", "tags")


def test_every_public_function_is_covered():
    public = {name for name in hmm.__all__ if callable(getattr(hmm, name)) and name[0].islower()}
    assert public == set(FUNCTIONS)


def _bad_values(arg, good):
    """(label, value, exception) of bad values for one argument."""
    shape = np.shape(good)
    out = [
        ("list of strings", ["a", "b"], TypeError),
        ("dict", {"a": 1.0}, TypeError),
        ("object array", np.full(shape, None, dtype=object), TypeError),
        ("string", "abc", TypeError),
    ]
    if arg in INTEGER_ARGS:
        out.append(("float array", np.zeros(shape), TypeError))
        if arg == "tags":
            out.append(("None", None, TypeError))
    else:
        out += [("None", None, TypeError), ("int array", np.zeros(shape, np.int64), TypeError),
                ("bool array", np.zeros(shape, bool), TypeError), ("complex array", np.zeros(shape, complex), TypeError)]
    return out


CASES = [(fn, arg, label) for fn, (_, args) in FUNCTIONS.items() for arg in args
         for label, _, _ in _bad_values(arg, args[arg])]


@pytest.mark.parametrize("fn, arg, label", CASES, ids=[f"{f}-{a}-{lb}" for f, a, lb in CASES])
def test_bad_types_are_named(fn, arg, label):
    func, args = FUNCTIONS[fn]
    value, exc = next((v, e) for lb, v, e in _bad_values(arg, args[arg]) if lb == label)
    kw = dict(args, backend="cpu")
    kw[arg] = value
    with pytest.raises(exc) as info:
        func(**kw)
    assert arg in str(info.value), str(info.value)


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_flags_and_backend_are_checked(fn):
    func, args = FUNCTIONS[fn]
    for backend in (None, "gpu", 3):
        with pytest.raises(ValueError, match="backend"):
            func(**args, backend=backend)
    flag = {"forward": "return_alpha", "crf_log_likelihood": "return_grad"}.get(fn)
    if flag:
        for value in (1, "yes", None):
            with pytest.raises(TypeError, match=flag):
                func(**args, **{flag: value}, backend="cpu")


def _flat(result):
    """Every array of a result (tuples and named tuples flattened) as NumPy."""
    if isinstance(result, tuple):
        return [a for part in result for a in _flat(part)]
    return [np.asarray(result)]


def _assert_same(got, expected):
    got, expected = _flat(got), _flat(expected)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_torch_cpu_tensors(fn):
    torch = pytest.importorskip("torch")
    func, args = FUNCTIONS[fn]
    expected = func(**args, backend="cpu")
    as_torch = {k: torch.as_tensor(np.asarray(v)) for k, v in args.items()}
    got = func(**as_torch, backend="cpu")
    assert all(isinstance(x, torch.Tensor) for x in (got if isinstance(got, tuple) else (got,)))
    _assert_same(got, expected)
    for arg in args:
        if arg in INTEGER_ARGS:
            bad = torch.zeros(np.shape(args[arg]), dtype=torch.float64)
        else:
            bad = torch.zeros(np.shape(args[arg]), dtype=torch.int64)
        with pytest.raises(TypeError, match=arg):
            func(**dict(args, **{arg: bad}), backend="cpu")


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_pandas_objects(fn):
    pd = pytest.importorskip("pandas")
    func, args = FUNCTIONS[fn]
    expected = func(**args, backend="cpu")
    conv = {k: (pd.DataFrame(v) if np.ndim(v) == 2 else pd.Series(v) if np.ndim(v) == 1 else v)
            for k, v in args.items()}
    _assert_same(func(**conv, backend="cpu"), expected)
    for arg, v in args.items():
        if np.ndim(v) in (1, 2):
            bad = pd.DataFrame(np.full(np.shape(v), "x")) if np.ndim(v) == 2 else pd.Series(["x"] * len(v))
            with pytest.raises(TypeError, match=arg):
                func(**dict(args, **{arg: bad}), backend="cpu")


@pytest.mark.parametrize("cls", [CategoricalHMM, GaussianHMM])
def test_estimators_name_bad_x_and_lengths(cls):
    X = np.array([[0], [1], [1], [0]]) if cls is CategoricalHMM else np.random.default_rng(0).standard_normal((4, 1))
    for bad in (None, ["a", "b"], {"a": 1}, [[1, 2], [3]], np.full((4, 1), None, dtype=object)):
        with pytest.raises(TypeError, match="X"):
            cls(2, n_iter=1).fit(bad)
    for bad in (["a", "b"], {"a": 1}, "4", 4, np.array([2.0, 2.0])):
        with pytest.raises(TypeError, match="lengths"):
            cls(2, n_iter=1).fit(X, bad)
    m = cls(2, n_iter=1, random_state=0).fit(X)
    for method in ("score", "predict", "predict_proba", "decode", "score_samples"):
        with pytest.raises(TypeError, match="X"):
            getattr(m, method)(None)


# ----------------------------------------------------------------------------------------------
# value checks of broadcast views: the distinct memory only, in bounded blocks
# ----------------------------------------------------------------------------------------------
def test_distinct_memory_of_broadcast_views():
    row = np.array([0.0, -1.0, np.nan])
    view = np.broadcast_to(row, (1000, 3))
    np.testing.assert_array_equal(_checks.distinct(view), row[None])
    col = np.broadcast_to(np.arange(4.0)[:, None], (4, 5))
    np.testing.assert_array_equal(_checks.distinct(col), np.arange(4.0)[:, None])
    np.testing.assert_array_equal(_checks.distinct(view, keep_last=True), row[None])
    both = np.broadcast_to(np.float64(2.0), (3, 7))
    assert _checks.distinct(both).shape == (1, 1)
    assert _checks.distinct(both, keep_last=True).shape == (1, 7)
    plain = np.arange(12.0).reshape(3, 4)[:, ::2]  # non-contiguous but no broadcast axis
    np.testing.assert_array_equal(_checks.distinct(plain), plain)
    # blocks cover every row of the distinct data exactly once
    big = np.arange(3 * (_checks._CHUNK // 2) * 2, dtype=np.float64).reshape(-1, 2)
    rows = np.concatenate([blk for _, blk in _checks.blocks(big)])
    np.testing.assert_array_equal(rows, big)


def test_huge_broadcast_inputs_are_checked_quickly(monkeypatch):
    """An 8e9-element broadcast view: the checks read its distinct memory only (a full-size
    temporary would take tens of GB): every block the value checks read is counted."""
    read = []
    original = _checks.blocks

    def counting_blocks(arr, keep_last=False):
        for r, blk in original(arr, keep_last):
            read.append(blk.size)
            yield r, blk

    monkeypatch.setattr(_checks, "blocks", counting_blocks)
    n = 4_000_000_000
    ok = np.broadcast_to(np.zeros((1, 2)), (n, 2))
    bad = np.broadcast_to(np.array([[0.0, np.nan]]), (n, 2))
    _checks.no_nan_or_posinf(ok, "log_emission")
    with pytest.raises(ValueError, match="log_emission"):
        _checks.no_nan_or_posinf(bad, "log_emission")
    with pytest.raises(ValueError, match="log_emission"):
        hmm.forward(_LS, _LT, bad, backend="cpu")
    with pytest.raises(ValueError, match="emissions"):
        hmm.crf_log_partition(np.broadcast_to(np.array([np.inf, 0.0]), (4, n // 8, 2)), np.zeros((2, 2)),
                              np.zeros(2), np.zeros(2), backend="cpu")
    # a [N, N] transition matrix broadcast from one row, N = 60 000 (3.6e9 entries)
    N = 60_000
    lt_row = np.full(N, -np.log(N))
    _checks.log_distribution(np.broadcast_to(lt_row, (N, N)), "log_transmat", np.dtype(np.float64))
    lt_row[0] = 0.0
    with pytest.raises(ValueError, match="log_transmat"):
        hmm.forward(np.full(N, -np.log(N)), np.broadcast_to(lt_row, (N, N)), np.zeros((1, N)), backend="cpu")
    assert read and max(read) <= 2 * N, max(read)  # one row of each view, never the broadcast size


def test_value_checks_of_strided_inputs_see_every_entry():
    le = np.zeros((9, 4))
    le[7, 3] = np.nan
    with pytest.raises(ValueError, match="log_emission"):
        hmm.forward(np.log([0.5, 0.5]), _LT, le[:, 2:], backend="cpu")  # a strided view
    lt = np.log(np.full((2, 4), 0.5))
    with pytest.raises(ValueError, match=r"log_transmat.*row 1"):
        bad = lt.copy()
        bad[1, 0] = 0.0
        hmm.forward(np.log([0.5, 0.5]), bad[:, ::2], np.zeros((3, 2)), backend="cpu")
