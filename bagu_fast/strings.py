"""Edit distance (Levenshtein) with an API that mirrors RapidFuzz.

``levenshtein`` / ``normalized_levenshtein`` / ``levenshtein_editops`` follow
``rapidfuzz.distance.Levenshtein`` (``distance``, ``normalized_distance``, ``editops``);
``cdist`` / ``cpdist`` follow ``rapidfuzz.process``.

Inputs may be ``str`` (any Unicode, astral code points included), ``bytes``, a sequence of
hashable tokens, or a 1-D integer array.  Elements compare by value across all of these: the
character ``"a"``, the byte ``97``, the integer ``97`` and the token ``"a"`` are equal; any
other token (a word, a tuple, ...) equals only an equal token.
"""
from __future__ import annotations

import numbers
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Union

import numpy as np

from . import _dispatch, _validate

__all__ = [
    "levenshtein",
    "normalized_levenshtein",
    "levenshtein_editops",
    "apply_editops",
    "cdist",
    "cpdist",
]

StringLike = Union[str, bytes, Sequence[Hashable], np.ndarray]
EDIT_KINDS = ("replace", "insert", "delete")  # index = kind code used by the kernels

# Tokens that are not integers or single characters get ids from here up, far above any
# Unicode code point, so they never collide with characters, bytes or small integers.
_TOKEN_ID_BASE = 1 << 40


# Packed code arrays are uint8 (ASCII, bytes), uint32 (Unicode) or int64 (tokens, integer arrays);
# the kernels compare values across these dtypes.
_CODE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint32), np.dtype(np.int64))


def _str_codes(s: str) -> np.ndarray:
    """Code points of ``s`` without a per-character loop: uint8 for ASCII, else uint32."""
    if s.isascii():
        return np.frombuffer(s.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _Encoder:
    """Turns string-likes into code arrays (see ``_CODE_DTYPES``); one instance per call so that
    equal tokens get equal ids across every argument of that call."""

    def __init__(self) -> None:
        self.token_ids: dict[Hashable, int] = {}

    def token(self, item: Any, name: str) -> int:
        if isinstance(item, (numbers.Integral, np.integer)) and not isinstance(item, bool):
            return int(item)
        if isinstance(item, str) and len(item) == 1:
            return ord(item)
        try:
            return self.token_ids.setdefault(item, _TOKEN_ID_BASE + len(self.token_ids))
        except TypeError:
            raise TypeError(f"{name} holds an unhashable element of type {type(item).__name__}") from None

    def encode(self, s: Any, name: str) -> np.ndarray:
        if isinstance(s, str):
            return _str_codes(s)
        if isinstance(s, (bytes, bytearray, memoryview)):
            return np.frombuffer(bytes(s), dtype=np.uint8)
        if isinstance(s, np.ndarray):
            if s.ndim != 1:
                raise ValueError(f"{name} must be 1-D when given as an array, got shape {s.shape}")
            if s.size and not np.issubdtype(s.dtype, np.integer):
                if s.dtype == object:
                    return np.array([self.token(x, name) for x in s], dtype=np.int64)
                raise TypeError(f"{name} must hold integers when given as an array, got dtype {s.dtype}")
            if s.dtype == np.uint64 and s.size and s.max() > np.iinfo(np.int64).max:
                raise ValueError(f"{name} holds integers too large for int64")
            return s if s.dtype in _CODE_DTYPES else s.astype(np.int64)
        if s is None:
            raise TypeError(f"{name} must be a str, bytes, sequence or 1-D integer array, got None")
        if not isinstance(s, Iterable) or isinstance(s, (dict, set, frozenset)):
            raise TypeError(f"{name} must be a str, bytes, sequence or 1-D integer array, got {type(s).__name__}")
        return np.array([self.token(x, name) for x in s], dtype=np.int64)

    def pack(self, strings: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Pack a collection of string-likes into (codes, offsets)."""
        if strings is None or isinstance(strings, (str, bytes)) or not isinstance(strings, Iterable):
            raise TypeError(f"{name} must be a sequence of strings, got {type(strings).__name__}")
        items = strings if isinstance(strings, list) else list(strings)
        try:  # fast path, all str: one join and one encode (join raises TypeError otherwise)
            joined = "".join(items) if items and isinstance(items[0], str) else None
        except TypeError:
            joined = None
        if joined is not None:
            lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
            codes = _str_codes(joined)
        else:
            arrays = [self.encode(s, f"{name}[{i}]") for i, s in enumerate(items)]
            lengths = np.array([len(a) for a in arrays], dtype=np.int64)
            codes = np.concatenate([a.astype(np.int64, copy=False) for a in arrays]) if arrays else np.empty(0, dtype=np.int64)
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return codes, offsets


def _weights(weights: Any) -> np.ndarray:
    if weights is None:
        return np.ones(3, dtype=np.int64)
    values = _validate.number_tuple(weights, "weights", 3, minimum=0)
    if any(v != int(v) for v in values):
        raise ValueError(f"weights must be whole numbers (insert, delete, substitute), got {weights!r}")
    return np.array([int(v) for v in values], dtype=np.int64)


def _cutoff(score_cutoff: Any) -> int | None:
    if score_cutoff is None:
        return None
    return _validate.integer(score_cutoff, "score_cutoff", minimum=0)


def _norm_cutoff(score_cutoff: Any) -> float | None:
    if score_cutoff is None:
        return None
    value = _validate.real_number(score_cutoff, "score_cutoff", minimum=0.0)
    if value > 1.0:
        raise ValueError(f"score_cutoff must be in [0, 1] for normalized distances, got {score_cutoff!r}")
    return value


def _maximum(len1: np.ndarray, len2: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Largest possible weighted distance for the given lengths (RapidFuzz's definition)."""
    ins, dele, sub = (int(w) for w in weights)
    worst = len1 * dele + len2 * ins
    via_sub = np.where(len1 >= len2, len2 * sub + (len1 - len2) * dele, len1 * sub + (len2 - len1) * ins)
    return np.minimum(worst, via_sub)


class _Threads:
    """Run CPU kernels with ``workers`` Numba threads (-1: all), restoring the old count."""

    def __init__(self, workers: int, backend: str) -> None:
        self.workers, self.active = workers, backend == "cpu"

    def __enter__(self) -> None:
        if self.active:
            import numba

            self.saved = numba.get_num_threads()
            n = numba.config.NUMBA_NUM_THREADS
            numba.set_num_threads(n if self.workers == -1 else min(self.workers, n))

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            import numba

            numba.set_num_threads(self.saved)


def _workers(workers: Any) -> int:
    value = _validate.integer(workers, "workers")
    if value == 0 or value < -1:
        raise ValueError(f"workers must be a positive thread count or -1 (all cores), got {value}")
    return value


def _run(kind: str, a_codes, a_off, b_codes, b_off, weights, backend: str, workers: int = 1) -> np.ndarray:
    """Call kernel ``kind`` ("cdist" / "cpdist") of ``backend`` on packed strings."""
    with _Threads(workers, backend):
        return getattr(_dispatch.kernels("strings", backend), kind)(a_codes, a_off, b_codes, b_off, weights)


def _pair_distance(a: np.ndarray, b: np.ndarray, weights: np.ndarray, backend: str) -> int:
    """Distance of two encoded sequences (a batch of one pair)."""
    return int(_run("cpdist", a, np.array([0, len(a)]), b, np.array([0, len(b)]), weights, backend)[0])


def levenshtein(
    s1: StringLike,
    s2: StringLike,
    *,
    weights: tuple[int, int, int] | None = (1, 1, 1),
    score_cutoff: int | None = None,
    backend: str = "auto",
) -> int:
    """Levenshtein distance between ``s1`` and ``s2``.

    Parameters
    ----------
    s1, s2 : str, bytes, sequence of hashables or 1-D integer array
        The two sequences.  Empty sequences are valid.
    weights : (insert, delete, substitute), optional
        Non-negative whole-number costs, as in RapidFuzz.  ``None`` means ``(1, 1, 1)``.
    score_cutoff : int, optional
        When the distance exceeds it, ``score_cutoff + 1`` is returned instead.
    backend : {"auto", "cpu", "cuda", "reference"}
        Which implementation runs; ``"auto"`` is the Numba CPU kernel.

    Returns
    -------
    int
        The minimal total cost of insertions, deletions and substitutions turning s1 into s2.

    Examples
    --------
    >>> levenshtein("kitten", "sitting")
    3
    """
    w, cutoff, backend = _weights(weights), _cutoff(score_cutoff), _dispatch.resolve_backend(backend)
    enc = _Encoder()
    dist = _pair_distance(enc.encode(s1, "s1"), enc.encode(s2, "s2"), w, backend)
    return dist if cutoff is None or dist <= cutoff else cutoff + 1


def normalized_levenshtein(
    s1: StringLike,
    s2: StringLike,
    *,
    weights: tuple[int, int, int] | None = (1, 1, 1),
    score_cutoff: float | None = None,
    backend: str = "auto",
) -> float:
    """Levenshtein distance divided by the largest distance possible for these lengths.

    Same definition as ``rapidfuzz.distance.Levenshtein.normalized_distance``: 0 for equal
    sequences (and for two empty ones), 1 for nothing in common.  A result above
    ``score_cutoff`` (a float in [0, 1]) is returned as 1.0.  Other parameters as
    :func:`levenshtein`.
    """
    w, cutoff, backend = _weights(weights), _norm_cutoff(score_cutoff), _dispatch.resolve_backend(backend)
    enc = _Encoder()
    a, b = enc.encode(s1, "s1"), enc.encode(s2, "s2")
    dist = _pair_distance(a, b, w, backend)
    maximum = int(_maximum(np.int64(len(a)), np.int64(len(b)), w))
    norm = dist / maximum if maximum else 0.0
    return norm if cutoff is None or norm <= cutoff else 1.0


def levenshtein_editops(s1: StringLike, s2: StringLike, *, backend: str = "auto") -> list[tuple[str, int, int]]:
    """A minimal list of edit operations turning ``s1`` into ``s2`` (unit weights).

    Returns a list of ``(kind, src_pos, dest_pos)`` tuples, kind one of ``"replace"``,
    ``"insert"``, ``"delete"``, in the format of RapidFuzz's ``Editops.as_list()``:
    ``src_pos`` indexes ``s1`` and ``dest_pos`` indexes ``s2``.  Its length equals
    ``levenshtein(s1, s2)``; :func:`apply_editops` replays it.  Backends: ``"reference"`` and
    ``"cpu"`` (a single traceback has nothing to gain from a GPU; ``"cuda"`` raises).
    """
    backend = _dispatch.resolve_backend(backend)
    if backend == "cuda":
        raise ValueError("levenshtein_editops runs on backend 'cpu' or 'reference', not 'cuda'")
    enc = _Encoder()
    a, b = enc.encode(s1, "s1"), enc.encode(s2, "s2")
    ops = _dispatch.kernels("strings", backend).editops(a, b)
    return [(EDIT_KINDS[k], int(i), int(j)) for k, i, j in ops]


def apply_editops(ops: Iterable[tuple[str, int, int]], s1: StringLike, s2: StringLike) -> list:
    """Apply edit operations from :func:`levenshtein_editops` to ``s1``.

    Returns the result as a list of elements (join it for strings).  Applying the editops of
    ``(s1, s2)`` to ``s1`` gives ``s2``.
    """
    src, dest = list(s1), list(s2)
    out: list = []
    i = 0
    for kind, src_pos, dest_pos in ops:
        if kind not in EDIT_KINDS:
            raise ValueError(f"ops holds an unknown edit kind {kind!r}; expected one of {EDIT_KINDS}")
        if not (0 <= src_pos <= len(src) and 0 <= dest_pos <= len(dest)) or src_pos < i:
            raise ValueError(f"ops holds an out-of-order or out-of-range operation {(kind, src_pos, dest_pos)!r}")
        out.extend(src[i:src_pos])
        i = src_pos
        if kind == "insert":
            out.append(dest[dest_pos])
        elif kind == "replace":
            out.append(dest[dest_pos])
            i += 1
        else:
            i += 1
    out.extend(src[i:])
    return out


def _finish(dist: np.ndarray, cutoff: int | None, dtype: Any) -> np.ndarray:
    if cutoff is not None:
        dist = np.minimum(dist, cutoff + 1)
    return dist.astype(dtype, copy=False)


def _out_dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return np.dtype(np.int32)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy integer or float dtype, got {dtype!r}") from None
    if not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise TypeError(f"dtype must be a NumPy integer or float dtype, got {dt}")
    return dt


def _batch(kind: str, queries, choices, weights, score_cutoff, dtype, workers, backend) -> np.ndarray:
    """Shared body of :func:`cdist` and :func:`cpdist`: validate, pack, run ``kind``, finish."""
    w, cutoff, out_dtype = _weights(weights), _cutoff(score_cutoff), _out_dtype(dtype)
    backend, workers = _dispatch.resolve_backend(backend), _workers(workers)
    enc = _Encoder()
    a_codes, a_off = enc.pack(queries, "queries")
    b_codes, b_off = enc.pack(choices, "choices")
    if kind == "cpdist" and len(a_off) != len(b_off):
        raise ValueError(
            f"queries and choices must have the same length, got {len(a_off) - 1} and {len(b_off) - 1}"
        )
    return _finish(_run(kind, a_codes, a_off, b_codes, b_off, w, backend, workers), cutoff, out_dtype)


def cdist(
    queries: Iterable[StringLike],
    choices: Iterable[StringLike],
    *,
    weights: tuple[int, int, int] | None = (1, 1, 1),
    score_cutoff: int | None = None,
    dtype: Any = None,
    workers: int = 1,
    backend: str = "auto",
) -> np.ndarray:
    """Distance of every query to every choice, like ``rapidfuzz.process.cdist``.

    Parameters
    ----------
    queries, choices : iterable of string-likes
        Each element as accepted by :func:`levenshtein`.
    weights, score_cutoff : as :func:`levenshtein`
    dtype : NumPy dtype, optional
        Output dtype; int32 by default, as RapidFuzz.
    workers : int
        CPU threads (-1: all cores), as RapidFuzz.
    backend : {"auto", "cpu", "cuda", "reference"}

    Returns
    -------
    numpy.ndarray
        ``[len(queries), len(choices)]`` distances.
    """
    return _batch("cdist", queries, choices, weights, score_cutoff, dtype, workers, backend)


def cpdist(
    queries: Iterable[StringLike],
    choices: Iterable[StringLike],
    *,
    weights: tuple[int, int, int] | None = (1, 1, 1),
    score_cutoff: int | None = None,
    dtype: Any = None,
    workers: int = 1,
    backend: str = "auto",
) -> np.ndarray:
    """Element-wise distances ``d(queries[i], choices[i])``, like ``rapidfuzz.process.cpdist``.

    ``queries`` and ``choices`` must have the same length.  Other parameters as :func:`cdist`.
    """
    return _batch("cpdist", queries, choices, weights, score_cutoff, dtype, workers, backend)
