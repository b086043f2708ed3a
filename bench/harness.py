"""The one benchmark harness: cases, timing, correctness checks, table, JSON and PNG.

A family contributes ``bench/cases_<family>.py`` with ``cases(quick: bool) -> list[Case]``.
Every runner (our backends and installed peers) is warmed up once (JIT excluded), then timed
over several repeats; the median is reported.  Each runner's result is checked before its
time is reported.  GPU runners synchronise inside their callable (see :func:`cuda_sync`).
"""
from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import os
import platform
import resource
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Set by `python -m bench --gpu` (or BAGU_BENCH_GPU=1): cases then add GPU peers (torch CUDA, CuPy).
GPU = os.environ.get("BAGU_BENCH_GPU") == "1"
FAMILIES = ("strings", "attention", "recurrent", "hmm", "trees", "concurrency")
OUR_BACKENDS = ("reference", "cpu", "cuda")


@dataclass
class Case:
    family: str
    name: str
    size: str
    setup: Callable[[], Any]
    ours: dict[str, Callable[[Any], Any]]
    peers: dict[str, Callable[[Any], Any]]
    check: Callable[[Any, Any], None]
    work: float = 0.0
    unit: str = ""
    slow: tuple = ()
    measure_memory: bool = False


@dataclass
class Row:
    family: str
    case: str
    size: str
    runner: str
    kind: str  # "ours" or "peer"
    median_s: float | None = None
    times_s: list = field(default_factory=list)
    throughput: float | None = None
    unit: str = ""
    vs_reference: float | None = None
    vs_best_peer: float | None = None
    peak_rss_mib: float | None = None
    status: str = "ok"


def installed(module: str) -> bool:
    """True when ``module`` can be imported here (used to detect peers)."""
    return importlib.util.find_spec(module) is not None


def to_host(result: Any) -> Any:
    """A NumPy copy of a result: Numba device arrays and torch tensors are copied back."""
    import numpy

    if hasattr(result, "copy_to_host"):
        return result.copy_to_host()
    if type(result).__module__.split(".")[0] == "torch":
        return result.detach().cpu().numpy()
    return numpy.asarray(result)


def cuda_sync() -> None:
    """Wait for the GPU (no-op without one); GPU runners call it before returning."""
    from numba import cuda

    cuda.synchronize()


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _release_free_memory() -> None:
    """Return freed heap pages to the OS, so that reused allocations show up in RSS again."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the measurement may read low
        pass


def _peak_rss_delta(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` once while sampling RSS; return (result, peak RSS above the start, MiB)."""
    _release_free_memory()
    start = _rss_mib()
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        result = fn()
    finally:
        done.set()
        t.join()
    peak[0] = max(peak[0], _rss_mib())
    return result, peak[0] - start


def time_runner(fn: Callable[[], Any], *, once: bool, budget_s: float, max_repeats: int) -> list[float]:
    """Median-ready timings of ``fn`` (already warmed up)."""
    times: list[float] = []
    repeats = 1 if once else max_repeats
    t_end = time.perf_counter() + budget_s
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if i >= 2 and time.perf_counter() > t_end:
            break
    return times


def run_case(case: Case, backends: tuple[str, ...], quick: bool, progress: Callable[[str], None]) -> list[Row]:
    """Warm up, check and time every selected runner of ``case``."""
    inputs = case.setup()
    runners = [(n, f, "ours") for n, f in case.ours.items() if n in backends]
    runners += [(n, f, "peer") for n, f in case.peers.items()]
    rows = []
    for name, fn, kind in runners:
        progress(f"{case.family}: {case.name} [{case.size}] — {name}")
        row = Row(case.family, case.name, case.size, name, kind, unit=case.unit)
        try:
            result = fn(inputs)  # warm-up: JIT compile, caches, first-touch
            case.check(inputs, result)
            if case.measure_memory:
                del result
                _, row.peak_rss_mib = _peak_rss_delta(lambda: fn(inputs))
        except AssertionError as exc:
            row.status = f"WRONG: {str(exc)[:120]}"
            rows.append(row)
            continue
        except Exception as exc:  # a runner that cannot run here is reported, not fatal
            row.status = f"error: {type(exc).__name__}: {str(exc)[:100]}"
            rows.append(row)
            continue
        row.times_s = time_runner(lambda: fn(inputs), once=name in case.slow, budget_s=1.0 if quick else 3.0,
                                  max_repeats=5 if quick else 15)
        row.median_s = statistics.median(row.times_s)
        if case.work:
            row.throughput = case.work / row.median_s
        rows.append(row)
    ref = next((r.median_s for r in rows if r.runner == "reference" and r.median_s), None)
    peer_times = [r.median_s for r in rows if r.kind == "peer" and r.median_s]
    best_peer = min(peer_times) if peer_times else None
    for r in rows:
        if r.median_s and r.kind == "ours":
            r.vs_reference = ref / r.median_s if ref else None
            r.vs_best_peer = best_peer / r.median_s if best_peer else None
    return rows


def load_cases(families: tuple[str, ...], quick: bool) -> list[Case]:
    cases: list[Case] = []
    import pkgutil

    available = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]))
    for fam in families:
        # a family's cases: bench/cases_<family>.py and any bench/cases_<family>_<part>.py
        for name in available:
            if name == f"cases_{fam}" or name.startswith(f"cases_{fam}_"):
                cases.extend(importlib.import_module(f"bench.{name}").cases(quick))
    return cases


def sgemm_peak_gflops(n: int = 2048, repeats: int = 3) -> float:
    """This machine's float32 matmul rate (NumPy's BLAS, all cores, best of ``repeats``): the
    floor printed beside every ratio, since the bench machine differs from run to run."""
    import numpy

    a = numpy.random.default_rng(0).standard_normal((n, n), dtype=numpy.float32)
    a @ a  # warm-up: BLAS threads, page faults
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


_SGEMM_PEAK: float | None = None


def machine_info() -> dict:
    import numpy

    info = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "numpy": numpy.__version__, "peak_rss_mib_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "sgemm_peak_gflops": _SGEMM_PEAK, "load_average": os.getloadavg()}
    for mod in ("numba", "rapidfuzz", "torch", "editdistance", "hmmlearn", "torchcrf", "lightgbm", "xgboost",
                "sklearn"):
        if installed(mod):
            info[mod] = getattr(importlib.import_module(mod), "__version__", "?")
    try:
        with open("/proc/cpuinfo") as fh:
            fields = dict(l.split(":", 1) for l in fh.read().split("\n\n")[0].splitlines() if ":" in l)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["cpu"] = fields.get("model name", "?")
        info["cpu_family_model"] = f"family {fields.get('cpu family', '?')}, model {fields.get('model', '?')}"
    except OSError:
        pass
    return info


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt_tp(r: Row) -> str:
    if r.throughput is None:
        return "—"
    v = r.throughput
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale and not r.unit.startswith(("G", "M")):
            return f"{v / scale:.1f} {prefix}{r.unit}/s"
    return f"{v:.1f} {r.unit}/s"


def _fmt_ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}×"


def table_rows(rows: list[Row]) -> list[list[str]]:
    out = []
    for r in rows:
        mem = "" if r.peak_rss_mib is None else f" (peak +{r.peak_rss_mib:.0f} MiB)"
        name = r.runner if r.kind == "ours" else f"{r.runner} (peer)"
        if r.status != "ok":
            out.append([r.case, r.size, name, r.status, "", "", ""])
            continue
        out.append([r.case, r.size, name, _fmt_time(r.median_s) + mem, _fmt_tp(r), _fmt_ratio(r.vs_reference),
                    _fmt_ratio(r.vs_best_peer)])
    return out


HEADERS = ["case", "size", "backend / peer", "median", "throughput", "× vs reference", "× vs best peer"]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    return "\n".join(lines)


def write_results(rows: list[Row], tag: str, *, quick: bool = False) -> tuple[Path, Path | None]:
    """Write ``bench/results/<tag>.json`` (+ ``.md`` table and ``.png`` chart); return paths."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / f"{tag}.json"
    payload = {"machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": quick,
               "rows": [r.__dict__ for r in rows]}
    json_path.write_text(json.dumps(payload, indent=1))
    (RESULTS_DIR / f"{tag}.md").write_text(markdown_table(rows) + "\n")
    return json_path, plot(rows, RESULTS_DIR / f"{tag}.png", title_info=chart_title(payload))


def chart_title(payload: dict) -> str:
    """The conditions every ratio needs beside it: CPU, its sgemm rate, the date."""
    m = payload.get("machine", {})
    peak = m.get("sgemm_peak_gflops")
    sgemm = f"sgemm {peak:.0f} GFLOP/s" if peak else "sgemm not recorded"
    cpu = m.get("cpu", "?") + (f" ({m['cpu_family_model']})" if m.get("cpu_family_model") else "")
    return f"{cpu}, {m.get('cpus', '?')} cores, {sgemm}, {str(payload.get('date', '?'))[:16]}"


def peer_ratios(rows: list) -> list[tuple[str, str, float]]:
    """Per case with a timed peer: (label, best peer's name, our best time / its time).

    "Ours" is our fastest non-reference backend of the case; a ratio < 1 means we are faster.
    ``rows`` may be :class:`Row` objects or their JSON dicts.
    """
    get = (lambda r, k: r[k]) if rows and isinstance(rows[0], dict) else getattr
    cases = list(dict.fromkeys((get(r, "case"), get(r, "size")) for r in rows))
    out = []
    for case, size in cases:
        timed = [r for r in rows if (get(r, "case"), get(r, "size")) == (case, size) and get(r, "median_s")]
        ours = [r for r in timed if get(r, "kind") == "ours" and get(r, "runner") != "reference"]
        peers = [r for r in timed if get(r, "kind") == "peer"]
        if ours and peers:
            best_ours = min(ours, key=lambda r: get(r, "median_s"))
            best_peer = min(peers, key=lambda r: get(r, "median_s"))
            label = f"{case}: {get(best_ours, 'runner')} vs {get(best_peer, 'runner')}\n{size}"
            out.append((label, get(best_peer, "runner"), get(best_ours, "median_s") / get(best_peer, "median_s")))
    return out


def plot(rows: list, path: Path, title_info: str = "") -> Path | None:
    """Horizontal bars of our time over the best peer's per case, on a log axis centred on 1.0
    (green: faster than the peer, red: slower); None without matplotlib or without a peer."""
    if not installed("matplotlib"):
        return None
    ratios = peer_ratios(rows)
    if not ratios:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    labels = ["\n".join(part if len(part) <= 60 else part[:57] + "..." for part in label.split("\n"))
              for label, _, _ in ratios]
    values = [r for _, _, r in ratios]
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.5 * len(values)))
    ys = list(range(len(values)))[::-1]
    colors = ["#2e7d32" if v <= 1 else "#c62828" for v in values]
    ax.barh(ys, [v - 1 for v in values], left=1, color=colors, height=0.6)  # bars start at 1.0
    ax.set_xscale("log")
    span = max(max(values), 1 / min(values), 1.5) * 4
    ax.set_xlim(1 / span, span)
    ax.axvline(1.0, color="black", linewidth=1)
    steps = (0.001, 0.01, 0.1, 1, 10, 100, 1000) if span > 20 else (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20)
    ticks = [t for t in steps if 1 / span <= t <= span]
    ax.set_xticks(ticks, [f"{t:g}×" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for y, v in zip(ys, values):
        ax.text(v * 1.04 if v > 1 else v / 1.04, y, f"{v:.3g}×",
                va="center", ha="left" if v > 1 else "right", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("our time / best peer's time (log scale; < 1: bagu_fast faster)")
    ax.set_title(f"bagu_fast vs best peer per case\n{title_info}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
