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

import math
import numbers
import sys
from collections.abc import Hashable, Iterable, Mapping, Sequence, Set
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

# Element codes.  Every element becomes an int64 code such that two elements get the same code
# exactly when Python's ``==`` says they are equal (RapidFuzz's rule, with no hash collisions):
# a character is its code point, an integer (bool, NumPy integer, integral float, ...) in
# [_DIRECT_MIN, _DIRECT_MAX) is itself, and anything else (other integers, other numbers, words,
# tuples, ...) gets an id from a per-call dict counting up from _DIRECT_MAX.  Every code then lies
# within a span far below 2**63, so no kernel arithmetic on codes can overflow.
_DIRECT_MIN = -(1 << 31)
_DIRECT_MAX = 1 << 40
_TOKEN_ID_BASE = _DIRECT_MAX


# Packed code arrays are uint8 (ASCII, bytes), uint32 (Unicode) or int64 (everything else);
# the kernels compare values across these dtypes.
_CODE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint32), np.dtype(np.int64))
_ELEMENT_TYPES = "a str, bytes, a sequence of hashable elements, a buffer or a 1-D array"


def _is_missing(x: Any) -> bool:
    """None, a float NaN or ``pandas.NA``: what RapidFuzz treats as a missing value."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and x is getattr(pandas, "NA", None)


def _describe(x: Any) -> str:
    """The kind of ``x`` for an error message."""
    if _is_missing(x):
        return f"{x!r} (a missing value)"
    if isinstance(x, np.generic):
        return f"a single NumPy {x.dtype} value"
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return "a 0-d array"
    if isinstance(x, Mapping):
        return f"a {type(x).__name__} (pass a list of its keys or values)"
    if isinstance(x, Set):
        return f"a {type(x).__name__} (unordered: pass a list)"
    return type(x).__name__


def _check_host(s: Any, name: str, expected: str, array_like: bool) -> None:
    """TypeError naming ``name`` unless ``s`` is an iterable (or, with ``array_like``, an object
    NumPy can read) on the host.  Missing values, scalars (NumPy scalars too), mappings and sets
    (their iteration order is not the caller's), 0-d arrays and GPU arrays are refused."""
    if hasattr(s, "__cuda_array_interface__"):
        raise TypeError(f"{name} is a GPU array; edit distance takes host sequences")
    readable = isinstance(s, Iterable) or array_like and (hasattr(s, "__array__") or hasattr(s, "__array_interface__"))
    refused = isinstance(s, (np.generic, Mapping, Set)) or isinstance(s, np.ndarray) and s.ndim == 0
    if not readable or refused or _is_missing(s):
        raise TypeError(f"{name} must be {expected}, got {_describe(s)}")


_COLLECTION = "a collection of strings (list, tuple, array, ...)"


def _collection(strings: Any, name: str) -> list:
    """The string-likes of ``queries`` / ``choices`` as a list.

    As in RapidFuzz, a ``str`` is the collection of its characters; ``bytes`` (whose elements
    are integers, not strings) is refused, as are mappings and sets (no order of the caller's),
    pandas DataFrames (they iterate over column names) and anything that is not iterable."""
    if isinstance(strings, str):
        return list(strings)
    if isinstance(strings, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{name} must be {_COLLECTION}, got {type(strings).__name__}, whose elements are "
            f"integers; pass [{name}] to compare it as one sequence"
        )
    if type(strings).__module__.startswith("pandas") and getattr(strings, "ndim", 1) != 1:
        raise TypeError(f"{name} must be {_COLLECTION}, got a {type(strings).__name__}; pass one column")
    _check_host(strings, name, _COLLECTION, array_like=False)
    return strings if isinstance(strings, list) else list(strings)


def _str_codes(s: str) -> np.ndarray:
    """Code points of ``s`` without a per-character loop: uint8 for ASCII, else uint32."""
    if s.isascii():
        return np.frombuffer(s.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _Encoder:
    """Turns string-likes into code arrays (see ``_CODE_DTYPES``); one instance per call so that
    equal elements get equal codes across every argument of that call."""

    def __init__(self) -> None:
        self.token_ids: dict[Hashable, int] = {}

    def _token_id(self, key: Hashable) -> int:
        return self.token_ids.setdefault(key, _TOKEN_ID_BASE + len(self.token_ids))

    def token(self, item: Any, name: str) -> int:
        if type(item) is int or isinstance(item, (numbers.Integral, np.integer, np.bool_)):  # True == 1
            value = int(item)
            return value if _DIRECT_MIN <= value < _DIRECT_MAX else self._token_id(value)
        if isinstance(item, str):
            return ord(item) if len(item) == 1 else self._token_id(item)
        if isinstance(item, (numbers.Number, np.number)):
            if isinstance(item, (complex, np.complexfloating)) and item.imag == 0:
                item = item.real  # 1+0j == 1
            try:
                as_int = int(item)
            except (TypeError, ValueError, OverflowError):  # complex, NaN, inf
                as_int = None
            if as_int is not None and as_int == item:  # 1.0 == 1, Fraction(2, 1) == 2
                return self.token(as_int, name)
        try:
            return self._token_id(item)
        except TypeError:
            raise TypeError(f"{name} holds an unhashable element of type {type(item).__name__}") from None

    def _array(self, s: np.ndarray, name: str) -> np.ndarray:
        if s.ndim != 1:
            raise ValueError(f"{name} must be 1-D when given as an array or buffer, got shape {s.shape}")
        if s.size == 0:
            return np.empty(0, dtype=np.int64)
        kind = s.dtype.kind
        if kind == "b":
            return s.astype(np.int64)
        if kind in "iu":
            in_range = s < _DIRECT_MAX if kind == "u" else (s >= _DIRECT_MIN) & (s < _DIRECT_MAX)
            if in_range.all():
                return s if s.dtype in _CODE_DTYPES else s.astype(np.int64)
            return self._mixed(s, in_range, name)
        if kind == "f":
            with np.errstate(invalid="ignore"):
                in_range = (s >= _DIRECT_MIN) & (s < _DIRECT_MAX) & (s == np.trunc(s))
            if in_range.all():
                return s.astype(np.int64)
            return self._mixed(s, in_range, name)
        return np.array([self.token(x, name) for x in s.tolist()], dtype=np.int64)

    def _mixed(self, s: np.ndarray, direct: np.ndarray, name: str) -> np.ndarray:
        """Codes of a numeric array whose entries outside ``direct`` need token ids."""
        out = np.empty(s.shape[0], dtype=np.int64)
        out[direct] = s[direct].astype(np.int64)
        rest = ~direct
        out[rest] = [self.token(x, name) for x in s[rest].tolist()]
        return out

    def encode(self, s: Any, name: str) -> np.ndarray:
        if isinstance(s, str):
            return _str_codes(s)
        if isinstance(s, (bytes, bytearray)):
            return np.frombuffer(s, dtype=np.uint8)
        _check_host(s, name, _ELEMENT_TYPES, array_like=True)
        if isinstance(s, np.ndarray):
            return self._array(s, name)
        if isinstance(s, memoryview) or hasattr(s, "__array__") or hasattr(s, "__array_interface__"):
            # buffers and array-likes (memoryview, array.array, torch CPU tensors, pandas Series)
            # hold elements of their own type: read them as such, never as raw bytes
            try:
                arr = np.asarray(s)
            except Exception as exc:
                raise TypeError(f"{name} could not be read as an array: {exc}") from None
            return self._array(arr, name)
        return np.fromiter((self.token(x, name) for x in s), dtype=np.int64)

    def pack(self, strings: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Pack a collection of string-likes into (codes, offsets)."""
        items = _collection(strings, name)
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
            codes = np.concatenate([a.astype(np.int64, copy=False) for a in arrays] or [np.empty(0, np.int64)])
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return codes, offsets


_INT64_MAX = (1 << 63) - 1


class _Weights:
    """Validated (insert, delete, substitute) weights, divided by their common factor.

    Kernels run on the reduced weights in int64; the exact distance is ``kernel result * scale``
    in Python integers, so ``weights=(2**62,) * 3`` gives 2**63 exactly, as RapidFuzz does.
    """

    __slots__ = ("given", "reduced", "scale")

    def __init__(self, weights: Any) -> None:
        if weights is None:
            weights = (1, 1, 1)
        values = _validate.number_tuple(weights, "weights", 3, minimum=0)
        if any(v != int(v) for v in values):
            raise ValueError(f"weights must be whole numbers (insert, delete, substitute), got {weights!r}")
        ints = [int(v) for v in values]
        if max(ints) > _INT64_MAX:
            raise ValueError(f"weights must each be below 2**63, got {weights!r}")
        self.given = tuple(ints)
        self.scale = math.gcd(*ints) or 1
        self.reduced = np.array([v // self.scale for v in ints], dtype=np.int64)

    def check_lengths(self, m: int, n: int) -> None:
        """Refuse inputs whose table cells could overflow int64 inside a kernel: every cell is
        at most m * delete + n * insert, and one step adds at most the largest weight."""
        ins, dele, sub = (int(v) for v in self.reduced)
        if m * dele + n * ins + max(ins, dele, sub) > _INT64_MAX:
            raise ValueError(
                f"weights {self.given} are too large for sequences of lengths {m} and {n}: "
                "distances could exceed the int64 range"
            )


def _cutoff(score_cutoff: Any) -> int | None:
    """RapidFuzz's distance cutoff: any non-negative real; results above it read ``floor + 1``."""
    if score_cutoff is None:
        return None
    value = _validate.real_number(score_cutoff, "score_cutoff", minimum=0.0, finite=False)
    if math.isinf(value):
        return None
    return int(score_cutoff) if isinstance(score_cutoff, numbers.Integral) else math.floor(value)


def _norm_cutoff(score_cutoff: Any) -> float | None:
    if score_cutoff is None:
        return None
    value = _validate.real_number(score_cutoff, "score_cutoff", minimum=0.0)
    if value > 1.0:
        raise ValueError(f"score_cutoff must be in [0, 1] for normalized distances, got {score_cutoff!r}")
    return value


def _maximum(m: int, n: int, weights: tuple[int, int, int]) -> int:
    """Largest possible weighted distance for lengths m, n (RapidFuzz's definition), exact."""
    ins, dele, sub = weights
    worst = m * dele + n * ins
    via_sub = n * sub + (m - n) * dele if m >= n else m * sub + (n - m) * ins
    return min(worst, via_sub)


def _workers(workers: Any) -> int:
    """RapidFuzz's ``workers``: an integer; 0 and 1 run on one thread, a negative count on all cores."""
    return _validate.integer(workers, "workers")


def _thread_count(workers: int) -> int:
    """Numba threads for a validated ``workers`` count (the CPU backend's thread pool is
    ``NUMBA_NUM_THREADS`` wide: larger counts are clamped to it)."""
    if workers >= 0:
        return max(workers, 1)
    import numba

    return numba.config.NUMBA_NUM_THREADS


def _run(kind: str, a_codes, a_off, b_codes, b_off, weights, backend: str, workers: int = 1) -> np.ndarray:
    """Call kernel ``kind`` ("cdist" / "cpdist") of ``backend`` on packed strings."""
    kernel = getattr(_dispatch.kernels("strings", backend), kind)
    if backend != "cpu":
        return kernel(a_codes, a_off, b_codes, b_off, weights)
    from .kernels.cpu._parallel import thread_count

    with thread_count(_thread_count(workers)):
        return kernel(a_codes, a_off, b_codes, b_off, weights)


def _pair_distance(a: np.ndarray, b: np.ndarray, weights: _Weights, backend: str) -> int:
    """Exact distance of two encoded sequences (a batch of one pair), as a Python int."""
    weights.check_lengths(len(a), len(b))
    reduced = _run("cpdist", a, np.array([0, len(a)]), b, np.array([0, len(b)]), weights.reduced, backend)
    return int(reduced[0]) * weights.scale


_UNIT_WEIGHTS = (1, 1, 1)
_pair_kernel = None  # kernels.cpu.strings.fast_pair.unit_distance_bytes, imported on first use


def _fast_bytes(s: Any) -> bytes | None:
    """``s`` as bytes when the per-call fast path can take it (ASCII ``str`` or ``bytes``)."""
    t = type(s)
    if t is str:
        return s.encode("ascii") if s.isascii() else None
    return s if t is bytes else None


def _fast_unit_distance(s1: Any, s2: Any, weights: Any, backend: Any) -> int:
    """Unit-weight distance on the per-call fast path, or -1 where it cannot decide.

    Taken only for default arguments (unit weights, backend "auto" / "cpu") and short ASCII
    ``str`` / ``bytes`` pairs: every check the general path would make holds for these by
    construction, so they cost nanoseconds here."""
    if not _fast_path_allowed(weights, backend):
        return -1
    a = _fast_bytes(s1)
    if a is None:
        return -1
    b = _fast_bytes(s2)
    if b is None:
        return -1
    return _fast_pair(a, b)


def _fast_path_allowed(weights: Any, backend: Any) -> bool:
    """Unit weights given as ints (``(True, 1, 1) == (1, 1, 1)`` too, but the general path
    refuses bools) and a backend that runs on the CPU."""
    if weights is not _UNIT_WEIGHTS and not (
        type(weights) is tuple and weights == _UNIT_WEIGHTS and all(type(w) is int for w in weights)
    ):
        return False
    return backend == "auto" or backend == "cpu"


def _pair():
    """The per-pair kernel, imported on first use (so ``import bagu_fast`` stays Numba-free)."""
    global _pair_kernel
    if _pair_kernel is None:
        from .kernels.cpu.strings.fast_pair import unit_distance_bytes

        _pair_kernel = unit_distance_bytes
    return _pair_kernel


# Tiered execution of the per-call fast path: loading Numba and the cached kernel costs ~0.45 s
# in a new process (Numba's import ~0.2 s, its CPU target with SciPy's BLAS bindings and the
# cache ~0.25 s), ~500 000 times one call.  The first INTERPRETED_CALLS calls therefore run the
# same bit-parallel recurrence on Python integers (a few µs each): a script that compares a
# handful of strings never waits for the JIT, and a loop over many pairs pays the load once,
# at call INTERPRETED_CALLS + 1, as it did at call 1 (1 000 interpreted calls cost ~1% of it).
INTERPRETED_CALLS = 1000
_interpreted_left = INTERPRETED_CALLS


def _fast_pair(a: bytes, b: bytes) -> int:
    """Distance on the fast path: interpreted for the first calls, then the JIT kernel."""
    global _interpreted_left
    if _pair_kernel is None and _interpreted_left > 0:
        _interpreted_left -= 1
        return _unit_distance_python(a, b)
    return _pair()(a, b)


def _unit_distance_python(a: bytes, b: bytes) -> int:
    """:func:`bagu_fast.kernels.cpu.strings.fast_pair.unit_distance_bytes` on Python integers:
    the same result (-1 beyond 64 symbols after stripping), bit for bit.

    It repeats the kernel's single-word recurrence (``kernels.cpu.strings.bitparallel.step_word``)
    rather than calling it, because this tier exists to answer before Numba is imported; every
    step is masked to the pattern's bits, since Python integers do not wrap."""
    m, n = len(a), len(b)
    lo = 0
    while lo < m and lo < n and a[lo] == b[lo]:
        lo += 1
    while m > lo and n > lo and a[m - 1] == b[n - 1]:
        m -= 1
        n -= 1
    if m > n:  # the shorter side is the pattern
        a, b, m, n = b, a, n, m
    plen, tlen = m - lo, n - lo
    if plen == 0:
        return tlen
    if plen > 64:
        return -1
    peq: dict[int, int] = {}
    for i in range(plen):
        ch = a[lo + i]
        peq[ch] = peq.get(ch, 0) | (1 << i)
    mask = (1 << plen) - 1
    vp, vn = mask, 0
    for j in range(lo, n):
        x = peq.get(b[j], 0)
        d0 = ((((x & vp) + vp) & mask) ^ vp) | x | vn
        hp = (((vn | (~(d0 | vp) & mask)) << 1) | 1) & mask
        hn = ((d0 & vp) << 1) & mask
        vp, vn = hn | (~(d0 | hp) & mask), hp & d0
    return tlen + vp.bit_count() - vn.bit_count()


def levenshtein(
    s1: StringLike,
    s2: StringLike,
    *,
    weights: tuple[int, int, int] | None = _UNIT_WEIGHTS,
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
    score_cutoff : real, optional
        When the distance exceeds it, ``floor(score_cutoff) + 1`` is returned instead (RapidFuzz).
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
    if score_cutoff is None:
        dist = _fast_unit_distance(s1, s2, weights, backend)
        if dist >= 0:
            return dist
    w, cutoff, backend = _Weights(weights), _cutoff(score_cutoff), _dispatch.resolve_backend(backend)
    enc = _Encoder()
    dist = _pair_distance(enc.encode(s1, "s1"), enc.encode(s2, "s2"), w, backend)
    return dist if cutoff is None or dist <= cutoff else cutoff + 1


def normalized_levenshtein(
    s1: StringLike,
    s2: StringLike,
    *,
    weights: tuple[int, int, int] | None = _UNIT_WEIGHTS,
    score_cutoff: float | None = None,
    backend: str = "auto",
) -> float:
    """Levenshtein distance divided by the largest distance possible for these lengths.

    Same definition as ``rapidfuzz.distance.Levenshtein.normalized_distance``: 0 for equal
    sequences (and for two empty ones), 1 for nothing in common.  A result above
    ``score_cutoff`` (a float in [0, 1]) is returned as 1.0.  As in RapidFuzz, a missing value
    (None, a float NaN, ``pandas.NA``) for ``s1`` or ``s2`` gives 1.0.  Other parameters as
    :func:`levenshtein`.
    """
    if score_cutoff is None:
        dist = _fast_unit_distance(s1, s2, weights, backend)
        if dist >= 0:
            longest = max(len(s1), len(s2))  # unit weights: the largest distance is max(m, n)
            return dist / longest if longest else 0.0
    w, cutoff, backend = _Weights(weights), _norm_cutoff(score_cutoff), _dispatch.resolve_backend(backend)
    if _is_missing(s1) or _is_missing(s2):
        return 1.0  # RapidFuzz: a missing value is as far as can be from anything
    enc = _Encoder()
    a, b = enc.encode(s1, "s1"), enc.encode(s2, "s2")
    dist = _pair_distance(a, b, w, backend)
    maximum = _maximum(len(a), len(b), w.given)
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


def _editop(op: Any, k: int) -> tuple[str, int, int]:
    if isinstance(op, (str, bytes)) or not isinstance(op, Sequence) or len(op) != 3:
        raise ValueError(f"ops[{k}] must be a (kind, src_pos, dest_pos) triple, got {op!r}")
    kind, src_pos, dest_pos = op
    if kind not in EDIT_KINDS:
        raise ValueError(f"ops[{k}] has an unknown edit kind {kind!r}; expected one of {EDIT_KINDS}")
    for pos in (src_pos, dest_pos):
        if isinstance(pos, bool) or not isinstance(pos, (numbers.Integral, np.integer)):
            raise ValueError(f"ops[{k}] positions must be integers, got {op!r}")
    return kind, int(src_pos), int(dest_pos)


def apply_editops(ops: Iterable[tuple[str, int, int]], s1: StringLike, s2: StringLike) -> list:
    """Apply edit operations from :func:`levenshtein_editops` to ``s1``.

    Returns the result as a list of elements (join it for strings).  Applying the editops of
    ``(s1, s2)`` to ``s1`` gives ``s2``.  Like RapidFuzz's ``Editops.apply``, operations must be
    ``(kind, src_pos, dest_pos)`` triples in order: a ``"replace"`` / ``"delete"`` names an
    element of ``s1`` not yet consumed, an ``"insert"`` / ``"replace"`` an element of ``s2``,
    positions never go backwards; anything else raises ValueError naming the operation.
    """
    if isinstance(ops, (str, bytes, Mapping, Set)) or not isinstance(ops, Iterable):
        raise TypeError(f"ops must be a sequence of (kind, src_pos, dest_pos) triples, got {type(ops).__name__}")
    for s, name in ((s1, "s1"), (s2, "s2")):
        _check_host(s, name, _ELEMENT_TYPES, array_like=False)
    src, dest = list(s1), list(s2)
    out: list = []
    i = 0  # next element of src not yet copied or consumed
    last_dest = 0
    for k, op in enumerate(ops):
        kind, src_pos, dest_pos = _editop(op, k)
        src_limit = len(src) if kind == "insert" else len(src) - 1  # inserts may append at the end
        dest_limit = len(dest) if kind == "delete" else len(dest) - 1
        if not (i <= src_pos <= src_limit and last_dest <= dest_pos <= dest_limit):
            raise ValueError(
                f"ops[{k}] = {op!r} is out of order or out of range for sequences of lengths "
                f"{len(src)} and {len(dest)}"
            )
        out.extend(src[i:src_pos])
        i = src_pos
        last_dest = dest_pos
        if kind == "insert":
            out.append(dest[dest_pos])
            last_dest += 1
        elif kind == "replace":
            out.append(dest[dest_pos])
            i += 1
            last_dest += 1
        else:
            i += 1
    out.extend(src[i:])
    return out


def _out_dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return np.dtype(np.uint32)  # RapidFuzz's default for distances
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy integer or float dtype, got {dtype!r}") from None
    if not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
        raise TypeError(f"dtype must be a NumPy integer or float dtype, got {dt}")
    return dt


def _finish(reduced: np.ndarray, weights: _Weights, cutoff: int | None, dtype: np.dtype) -> np.ndarray:
    """Exact distances (``reduced * scale``, cut off) in ``dtype``, or a ValueError naming
    ``dtype`` when a value would not be represented exactly: never a wrapped number."""
    scale = weights.scale
    real_max = int(reduced.max()) * scale if reduced.size else 0
    cut = cutoff is not None and cutoff < real_max
    largest = cutoff + 1 if cut else real_max
    if np.issubdtype(dtype, np.integer):
        exact_max = int(np.iinfo(dtype).max)
    else:
        exact_max = 1 << (np.finfo(dtype).nmant + 1)  # every integer up to here is a float
    if largest > exact_max:
        raise ValueError(
            f"dtype {dtype} cannot hold the distance {largest} exactly; pass dtype=np.int64 or "
            "np.uint64 (or smaller weights)"
        )
    work = np.dtype(np.uint64) if largest > _INT64_MAX else np.dtype(np.int64)
    if cut:  # compare in the reduced domain, so values above the cutoff are never multiplied
        over = reduced > cutoff // scale
        out = np.where(over, 0, reduced).astype(work) * work.type(scale)
        out[over] = cutoff + 1
    elif scale != 1 or work != reduced.dtype:
        out = reduced.astype(work) * work.type(scale)
    else:
        out = reduced
    return out.astype(dtype, copy=False)


_SMALL_BATCH_PAIRS = 256  # below this many pairs a loop over the per-pair kernel beats packing


def _small_batch(kind: str, queries, choices, weights, score_cutoff, dtype, workers, backend) -> np.ndarray | None:
    """``cdist`` / ``cpdist`` of a handful of short ASCII strings with default arguments through
    the per-pair fast path; None where it does not apply (the general path then decides)."""
    if dtype is not None or score_cutoff is not None or type(queries) is not list or type(choices) is not list:
        return None
    if type(workers) is not int:  # any int is valid; these pairs run on one thread whatever it says
        return None
    nq, nc = len(queries), len(choices)
    if kind == "cpdist" and nq != nc:
        return None
    if (nq * nc if kind == "cdist" else nq) > _SMALL_BATCH_PAIRS:
        return None
    if nq == 0 or nc == 0 or not _fast_path_allowed(weights, backend):
        return None
    qb = [_fast_bytes(a) for a in queries]
    cb = [_fast_bytes(b) for b in choices]
    if None in qb or None in cb:
        return None
    pair = _pair()
    if kind == "cdist":
        out = [pair(a, b) for a in qb for b in cb]
    else:
        out = [pair(a, b) for a, b in zip(qb, cb)]
    if -1 in out:
        return None
    result = np.array(out, dtype=np.uint32)
    return result.reshape(nq, nc) if kind == "cdist" else result


def _batch(kind: str, queries, choices, weights, score_cutoff, dtype, workers, backend) -> np.ndarray:
    """Shared body of :func:`cdist` and :func:`cpdist`: validate, pack, run ``kind``, finish."""
    small = _small_batch(kind, queries, choices, weights, score_cutoff, dtype, workers, backend)
    if small is not None:
        return small
    w, cutoff, out_dtype = _Weights(weights), _cutoff(score_cutoff), _out_dtype(dtype)
    backend, workers = _dispatch.resolve_backend(backend), _workers(workers)
    enc = _Encoder()
    a_codes, a_off = enc.pack(queries, "queries")
    b_codes, b_off = enc.pack(choices, "choices")
    if kind == "cpdist" and len(a_off) != len(b_off):
        raise ValueError(
            f"queries and choices must have the same length, got {len(a_off) - 1} and {len(b_off) - 1}"
        )
    longest = [int(np.diff(off).max()) if len(off) > 1 else 0 for off in (a_off, b_off)]
    w.check_lengths(*longest)
    return _finish(_run(kind, a_codes, a_off, b_codes, b_off, w.reduced, backend, workers), w, cutoff, out_dtype)


def cdist(
    queries: Iterable[StringLike],
    choices: Iterable[StringLike],
    *,
    weights: tuple[int, int, int] | None = _UNIT_WEIGHTS,
    score_cutoff: int | None = None,
    dtype: Any = None,
    workers: int = 1,
    backend: str = "auto",
) -> np.ndarray:
    """Distance of every query to every choice, like ``rapidfuzz.process.cdist``.

    Parameters
    ----------
    queries, choices : iterable of string-likes
        Each element as accepted by :func:`levenshtein`.  As in RapidFuzz, a single ``str`` is
        the collection of its characters; ``bytes``, mappings, sets and DataFrames raise
        TypeError.
    weights, score_cutoff : as :func:`levenshtein`
    dtype : NumPy dtype, optional
        Output dtype; uint32 by default, as RapidFuzz.  A distance the dtype cannot hold
        exactly raises ValueError (never a wrapped value).
    workers : int
        CPU threads, as RapidFuzz: 0 and 1 run on one thread, a negative count on all cores.
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
    weights: tuple[int, int, int] | None = _UNIT_WEIGHTS,
    score_cutoff: int | None = None,
    dtype: Any = None,
    workers: int = 1,
    backend: str = "auto",
) -> np.ndarray:
    """Element-wise distances ``d(queries[i], choices[i])``, like ``rapidfuzz.process.cpdist``.

    ``queries`` and ``choices`` must have the same length.  Other parameters as :func:`cdist`.
    """
    return _batch("cpdist", queries, choices, weights, score_cutoff, dtype, workers, backend)
