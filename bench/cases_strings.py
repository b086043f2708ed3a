"""Edit-distance bench cases; RapidFuzz (and editdistance) are the peers.

Every case has RapidFuzz beside it: single calls (``levenshtein`` / ``normalized_levenshtein``
on kitten/sitting, ``cdist`` 2 x 2, ``cpdist`` 2 pairs: each runner makes ``CALLS`` calls in a
loop, so the throughput column reads calls/s and the per-call time is median / CALLS), the
100k-character pair over the alphabet "ab😀" and ``levenshtein_editops`` on 100k x 100k
characters (both with peak memory), plus the batch cases and the cold start.
"""
from __future__ import annotations

import hashlib

import numpy as np

import bagu_fast as bf
from bagu_fast.kernels.reference.strings.wagner_fischer import distance as reference_distance

from . import harness
from .harness import Case, installed

ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz"))
WIDE = "ab😀"  # ASCII and an astral code point: a code range of 128 k values, three symbols


def random_words(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[str]:
    """``n`` random lowercase words with lengths uniform in [lo, hi]."""
    return ["".join(rng.choice(ALPHABET, size=k)) for k in rng.integers(lo, hi + 1, size=n)]


def random_text(seed: int, alphabet: str, n: int) -> str:
    rng = np.random.default_rng(seed)
    return "".join(alphabet[k] for k in rng.integers(0, len(alphabet), size=n))


def _codes(s: str) -> np.ndarray:
    return np.array([ord(c) for c in s], np.int64)


def _ref_pair(a: str, b: str) -> int:
    return reference_distance(_codes(a), _codes(b), np.ones(3, np.int64))


# Reference distances of the full-size long pairs (``_ref_pair``, the NumPy reference: ~90 s of
# CPU each, too slow to redo on every bench run), keyed by a hash of the pair.  A pair not
# listed here is checked by running the reference.
_KNOWN_REFERENCE = {
    "b9f8b6afd40cffec0f5b580c": 42769,  # long_cases: 100k x 100k over "ab😀" (seeds 20, 21)
    "ab9cf88dbe67653756e77ec4": 87883,  # long_cases: 100k x 100k over a-z (seeds 22, 23)
}


def _key(a: str, b: str) -> str:
    return hashlib.sha1((a + "\x00" + b).encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _reference_distance(inputs: dict) -> int:
    """The reference distance of ``inputs["a"]``, ``inputs["b"]`` (computed once per input set)."""
    if "_expected" not in inputs:
        known = _KNOWN_REFERENCE.get(_key(inputs["a"], inputs["b"]))
        inputs["_expected"] = known if known is not None else _ref_pair(inputs["a"], inputs["b"])
    return inputs["_expected"]


# ------------------------------------------------------------------------------------- batches
def _check_matrix(inputs, result, samples: int = 300) -> None:
    """Compare a random sample of entries (all entries of small matrices) with the reference."""
    q, c = inputs
    result = np.asarray(result)
    assert result.shape == (len(q), len(c)), f"shape {result.shape}"
    rng = np.random.default_rng(1)
    n = len(q) * len(c)
    flat = np.arange(n) if n <= samples else rng.choice(n, size=samples, replace=False)
    for k in flat:
        i, j = divmod(int(k), len(c))
        assert result[i, j] == _ref_pair(q[i], c[j]), f"({i}, {j}): {result[i, j]} != reference"


def _check_pairs(inputs, result, samples: int = 300) -> None:
    a, b = inputs
    result = np.asarray(result).reshape(-1)
    assert len(result) == len(a), f"length {len(result)}"
    rng = np.random.default_rng(2)
    idx = np.arange(len(a)) if len(a) <= samples else rng.choice(len(a), size=samples, replace=False)
    for i in idx:
        assert result[i] == _ref_pair(a[i], b[i]), f"pair {i}: {result[i]} != reference"


def _peers_matrix() -> dict:
    peers = {}
    if installed("rapidfuzz"):
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        peers["rapidfuzz"] = lambda x: process.cdist(x[0], x[1], scorer=Levenshtein.distance, workers=-1)
    return peers


def _peers_pairs() -> dict:
    peers = {}
    if installed("rapidfuzz"):
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        peers["rapidfuzz"] = lambda x: process.cpdist(x[0], x[1], scorer=Levenshtein.distance, workers=-1)
    if installed("editdistance"):
        import editdistance

        peers["editdistance"] = lambda x: np.array([editdistance.eval(p, q) for p, q in zip(*x)])
    return peers


def _ours(fn, backends=("reference", "cpu", "cuda")) -> dict:
    """Our runners; the cuda one waits for the GPU before returning (``harness.cuda_sync``)."""
    runners = {}
    for b in backends:
        if b == "cuda":
            def run_cuda(x, fn=fn):
                out = fn(x, "cuda")
                if harness.GPU:
                    harness.cuda_sync()
                return out

            runners[b] = run_cuda
        else:
            runners[b] = lambda x, b=b: fn(x, b)
    return runners


def batch_cases(quick: bool) -> list[Case]:
    n = 500 if quick else 2000
    n_pairs = 2000 if quick else 10_000
    long_len = 2000 if quick else 10_000
    matrix = lambda x, b: bf.cdist(x[0], x[1], workers=-1, backend=b)  # noqa: E731
    pairs = lambda x, b: bf.cpdist(x[0], x[1], workers=-1, backend=b)  # noqa: E731

    def long_pair(x, b):
        return np.array([bf.levenshtein(x[0][0], x[1][0], backend=b)])

    pair_peers = {}
    if installed("rapidfuzz"):
        from rapidfuzz.distance import Levenshtein

        pair_peers["rapidfuzz"] = lambda x: np.array([Levenshtein.distance(x[0][0], x[1][0])])
    if installed("editdistance"):
        import editdistance

        pair_peers["editdistance"] = lambda x: np.array([editdistance.eval(x[0][0], x[1][0])])

    return [
        Case("strings", "cdist words (vs reference)", "100x100, 4-20 chars",
             lambda: (random_words(np.random.default_rng(10), 100, 4, 20),
                      random_words(np.random.default_rng(11), 100, 4, 20)),
             _ours(matrix), _peers_matrix(), _check_matrix, work=100 * 100, unit="pairs", slow=("reference",)),
        Case("strings", "cdist words", f"{n}x{n}, 4-20 chars",
             lambda: (random_words(np.random.default_rng(12), n, 4, 20),
                      random_words(np.random.default_rng(13), n, 4, 20)),
             _ours(matrix, ("cpu", "cuda")), _peers_matrix(), _check_matrix, work=n * n, unit="pairs"),
        Case("strings", "cpdist", f"{n_pairs} pairs, 40-60 chars",
             lambda: (random_words(np.random.default_rng(14), n_pairs, 40, 60),
                      random_words(np.random.default_rng(15), n_pairs, 40, 60)),
             _ours(pairs), _peers_pairs(), _check_pairs, work=n_pairs, unit="pairs", slow=("reference",)),
        Case("strings", "one long pair", f"{long_len}x{long_len} chars",
             lambda: (random_words(np.random.default_rng(16), 1, long_len, long_len),
                      random_words(np.random.default_rng(17), 1, long_len, long_len)),
             _ours(long_pair), pair_peers, _check_pairs, work=long_len * long_len, unit="cells",
             slow=("reference",)),
    ]


# ------------------------------------------------------------------------------- single calls
CALLS = 10_000  # calls per timed run of a per-call case: per-call time = median / CALLS
PAIR = ("kitten", "sitting")
WORDS_Q = ["kitten", "flaw"]
WORDS_C = ["sitting", "lawn"]


def _loop(call, calls: int):
    """Runner making ``calls`` calls of ``call()``; returns the last result."""

    def run(_inputs):
        out = None
        for _ in range(calls):
            out = call()
        return out

    return run


def per_call_cases(quick: bool) -> list[Case]:
    calls = 2000 if quick else CALLS
    backends = ("reference", "cpu", "cuda")

    def ours(make):
        """Our looped runners; ``make(backend)`` gives the call (the cuda one syncs after it)."""
        runners = {}
        for b in backends:
            call = make(b)
            if b == "cuda":
                def call(inner=call):  # noqa: E306
                    out = inner()
                    if harness.GPU:
                        harness.cuda_sync()
                    return out
            runners[b] = _loop(call, calls)
        return runners

    lev_peers, norm_peers, cdist_peers, cpdist_peers = {}, {}, {}, {}
    if installed("rapidfuzz"):
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        lev_peers["rapidfuzz"] = _loop(lambda: Levenshtein.distance(*PAIR), calls)
        norm_peers["rapidfuzz"] = _loop(lambda: Levenshtein.normalized_distance(*PAIR), calls)
        cdist_peers["rapidfuzz"] = _loop(lambda: process.cdist(WORDS_Q, WORDS_C, scorer=Levenshtein.distance), calls)
        cpdist_peers["rapidfuzz"] = _loop(lambda: process.cpdist(WORDS_Q, WORDS_C, scorer=Levenshtein.distance),
                                          calls)
    if installed("editdistance"):
        import editdistance

        lev_peers["editdistance"] = _loop(lambda: editdistance.eval(*PAIR), calls)

    expected_matrix = np.array([[_ref_pair(q, c) for c in WORDS_C] for q in WORDS_Q])

    def check_lev(_inputs, result):
        assert int(result) == _ref_pair(*PAIR) == 3, result

    def check_norm(_inputs, result):
        assert abs(float(result) - _ref_pair(*PAIR) / max(map(len, PAIR))) < 1e-12, result

    def check_cdist(_inputs, result):
        np.testing.assert_array_equal(np.asarray(result), expected_matrix)

    def check_cpdist(_inputs, result):
        np.testing.assert_array_equal(np.asarray(result), np.diag(expected_matrix))

    size = f"{calls} calls"
    slow = ("reference",)
    return [
        Case("strings", "levenshtein per call", f"kitten/sitting, {size}", lambda: None,
             ours(lambda b: lambda: bf.levenshtein(*PAIR, backend=b)), lev_peers, check_lev,
             work=calls, unit="calls", slow=slow),
        Case("strings", "normalized_levenshtein per call", f"kitten/sitting, {size}", lambda: None,
             ours(lambda b: lambda: bf.normalized_levenshtein(*PAIR, backend=b)), norm_peers, check_norm,
             work=calls, unit="calls", slow=slow),
        Case("strings", "cdist 2x2 per call", f"short words, {size}", lambda: None,
             ours(lambda b: lambda: bf.cdist(WORDS_Q, WORDS_C, backend=b)), cdist_peers, check_cdist,
             work=calls, unit="calls", slow=slow),
        Case("strings", "cpdist 2 pairs per call", f"short words, {size}", lambda: None,
             ours(lambda b: lambda: bf.cpdist(WORDS_Q, WORDS_C, backend=b)), cpdist_peers, check_cpdist,
             work=calls, unit="calls", slow=slow),
    ]


# ------------------------------------------------------------------------------- long strings
def _long_inputs(seed: int, alphabet: str, n: int):
    return lambda: {"a": random_text(seed, alphabet, n), "b": random_text(seed + 1, alphabet, n)}


def long_cases(quick: bool) -> list[Case]:
    n = 20_000 if quick else 100_000
    # the reference would take minutes at 100 k: checked against its stored / computed distance
    wide_ours = {"cpu": lambda x: bf.levenshtein(x["a"], x["b"], backend="cpu")}
    if harness.GPU:
        wide_ours.update(_ours(lambda x, b: bf.levenshtein(x["a"], x["b"], backend=b), ("cuda",)))
    wide_peers, editops_peers = {}, {}
    if installed("rapidfuzz"):
        from rapidfuzz.distance import Levenshtein

        wide_peers["rapidfuzz"] = lambda x: Levenshtein.distance(x["a"], x["b"])
        editops_peers["rapidfuzz"] = lambda x: Levenshtein.editops(x["a"], x["b"])
    if installed("editdistance"):
        import editdistance

        wide_peers["editdistance"] = lambda x: editdistance.eval(x["a"], x["b"])

    def check_distance(inputs, result):
        assert int(result) == _reference_distance(inputs), f"{result} != reference"

    def check_editops(inputs, result):
        ops = result.as_list() if hasattr(result, "as_list") else result  # RapidFuzz's Editops
        assert len(ops) == _reference_distance(inputs), f"{len(ops)} operations != reference distance"
        assert "".join(bf.apply_editops(ops, inputs["a"], inputs["b"])) == inputs["b"], "script does not replay"

    return [
        Case("strings", "long pair, wide alphabet", f'{n // 1000}k x {n // 1000}k chars over "{WIDE}"',
             _long_inputs(20, WIDE, n), wide_ours, wide_peers, check_distance, work=n * n, unit="cells",
             measure_memory=True),
        Case("strings", "levenshtein_editops", f"{n // 1000}k x {n // 1000}k chars, a-z",
             _long_inputs(22, "abcdefghijklmnopqrstuvwxyz", n),
             {"cpu": lambda x: bf.levenshtein_editops(x["a"], x["b"], backend="cpu")}, editops_peers, check_editops,
             work=n * n, unit="cells", measure_memory=True),
    ]


def cases(quick: bool) -> list[Case]:
    return per_call_cases(quick) + batch_cases(quick) + long_cases(quick) + startup_cases(quick)


# --------------------------------------------------------------------------------- cold start
def _cold_start(code: str):
    """Runner timing a fresh Python process that imports a library and computes one distance."""
    import subprocess
    import sys

    def run(_inputs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return np.array([int(out.stdout.strip())])

    return run


def startup_cases(quick: bool) -> list[Case]:
    """A second process's first call (the Numba cache must make it cheap)."""
    peers = {}
    if installed("rapidfuzz"):
        peers["rapidfuzz"] = _cold_start(
            "from rapidfuzz.distance import Levenshtein; print(Levenshtein.distance('kitten', 'sitting'))")
    ours = {"cpu": _cold_start("import bagu_fast; print(bagu_fast.levenshtein('kitten', 'sitting'))")}

    def check(_inputs, result):
        assert int(result[0]) == 3, result

    return [Case("strings", "new process: import + first call", "kitten/sitting", lambda: None, ours, peers, check,
                 work=1, unit="calls")]
