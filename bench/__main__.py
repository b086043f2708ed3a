"""`python -m bench`: run the benchmark cases, show progress, print and save the table.

Examples::

    python -m bench                       # every family, every backend available here
    python -m bench --family strings --quick
    python -m bench --backend cpu --backend reference
    python -m bench --gpu                 # add the cuda backend (needs a GPU)
"""
from __future__ import annotations

import argparse
import sys
import time

from . import harness


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--family", action="append", choices=harness.FAMILIES, help="repeatable; default all")
    p.add_argument("--backend", action="append", choices=harness.OUR_BACKENDS,
                   help="repeatable; default reference + cpu (+ cuda with --gpu)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    p.add_argument("--gpu", action="store_true", help="also time the cuda backend")
    p.add_argument("--tag", default=None, help="results file name (default: <families>[-quick][-gpu])")
    args = p.parse_args(argv)

    families = tuple(args.family or harness.FAMILIES)
    backends = tuple(args.backend or (("reference", "cpu") + (("cuda",) if args.gpu else ())))
    tag = args.tag or "-".join(families) + ("-quick" if args.quick else "") + ("-gpu" if args.gpu else "")

    harness.GPU = harness.GPU or args.gpu
    harness._SGEMM_PEAK = harness.sgemm_peak_gflops()
    info = harness.machine_info()
    # Every ratio needs its floor and its conditions beside it: the CPU, its sgemm rate, the load.
    print(f"machine: {info.get('cpu', '?')}, {info['cpus']} cores; sgemm peak {harness._SGEMM_PEAK:.0f} GFLOP/s "
          f"(NumPy 2048^3 float32); load average {info['load_average'][0]:.1f}", flush=True)
    cases = harness.load_cases(families, args.quick)
    rows: list[harness.Row] = []
    t0 = time.perf_counter()
    try:
        from rich.console import Console
        from rich.progress import Progress
        from rich.table import Table

        console = Console(width=150)
        with Progress(console=console, transient=True) as prog:
            task = prog.add_task("bench", total=len(cases))
            for case in cases:
                rows += harness.run_case(case, backends, args.quick,
                                         lambda msg: prog.update(task, description=msg))
                prog.advance(task)
        table = Table(title=f"bagu_fast bench ({time.perf_counter() - t0:.0f} s; sgemm peak "
                            f"{harness._SGEMM_PEAK:.0f} GFLOP/s)")
        for h in harness.HEADERS:
            table.add_column(h)
        for cells in harness.table_rows(rows):
            table.add_row(*cells)
        console.print(table)
    except ImportError:  # plain output without rich
        for i, case in enumerate(cases, 1):
            rows += harness.run_case(case, backends, args.quick,
                                     lambda msg: print(f"[{i}/{len(cases)}] {msg}", file=sys.stderr, flush=True))
        print(harness.markdown_table(rows))
    json_path, png_path = harness.write_results(rows, tag, quick=args.quick)
    print(f"results: {json_path}" + (f", {png_path}" if png_path else ""))
    wrong = [r for r in rows if r.status.startswith("WRONG")]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
