"""Trees bench cases: histogram gradient boosting against LightGBM, XGBoost (``tree_method="hist"``)
and scikit-learn's HistGradientBoosting, same hyper-parameters, in one run.

* fit, regression and binary classification, ``N x 28`` synthetic data, 100 trees, 31 leaves,
  255 bins, learning rate 0.1, min_samples_leaf 20, no early stopping, all threads of the machine
  (binning included on every side).  Work = rows x trees.  The check: training loss within 2 % of
  LightGBM's (MSE, log-loss), LightGBM fitted once in the check when installed.
  With a GPU (``--gpu`` / ``BAGU_BENCH_GPU=1``, as ``bench/gpu_check.sh`` runs it) the fit
  cases also time ``backend="cuda"``, the full fit on the GPU (binning on the cpu, every tree
  grown on the device), against the cpu fit and the same peers (LightGBM where installed).
* predict ``N`` rows with the 100 trees of each library's own fitted model.
* binning alone (BinMapper.fit_transform vs LightGBM's ``Dataset.construct``).
* histogram build alone (root: every row; a node: 30 % of the rows, sorted indices): work =
  rows x features; the size column gives the memory-bandwidth floor measured here (bytes read:
  one uint8 code per cell plus a float32 gradient per row (and an int64 index for a node)).
"""
from __future__ import annotations

import os
import time

import numpy as np

from bagu_fast.trees import BinMapper, HistGradientBoostingClassifier, HistGradientBoostingRegressor, build_histogram

from . import harness
from .harness import Case, installed

N_FEATURES = 28
PARAMS = dict(max_iter=100, max_leaf_nodes=31, max_bins=255, learning_rate=0.1, min_samples_leaf=20)
THREADS = os.cpu_count() or 1


def make_data(n: int, seed: int = 0, classification: bool = False):
    """``n x 28`` float32 features; a non-linear target (regression) or its median split."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, N_FEATURES), dtype=np.float32)
    y = (X[:, 0] * 2 + np.sin(3 * X[:, 1]) + X[:, 2] * X[:, 3] + np.abs(X[:, 4]) - 0.5 * X[:, 5] ** 2
         + 0.3 * X[:, 6:12].sum(1) + 0.5 * rng.standard_normal(n)).astype(np.float32)
    if classification:
        y = (y > np.median(y)).astype(np.int32)
    return X, y


def _memory_bandwidth_gbs() -> float:
    """Read bandwidth (GB/s) of this machine: a large array summed (best of 3)."""
    a = np.ones(64 * 2**20 // 8)  # 64 MiB
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best / 1e9


# ---------------------------------------------------------------- peers
def _lgb(classification):
    import lightgbm as lgb

    cls = lgb.LGBMClassifier if classification else lgb.LGBMRegressor
    return cls(n_estimators=PARAMS["max_iter"], num_leaves=PARAMS["max_leaf_nodes"], max_bin=PARAMS["max_bins"],
               learning_rate=PARAMS["learning_rate"], min_child_samples=PARAMS["min_samples_leaf"],
               min_child_weight=1e-3, reg_lambda=0.0, subsample=1.0, colsample_bytree=1.0, num_threads=THREADS,
               verbose=-1)


def _xgb(classification):
    import xgboost as xgb

    cls = xgb.XGBClassifier if classification else xgb.XGBRegressor
    return cls(n_estimators=PARAMS["max_iter"], tree_method="hist", grow_policy="lossguide",
               max_leaves=PARAMS["max_leaf_nodes"], max_depth=0, max_bin=PARAMS["max_bins"],
               learning_rate=PARAMS["learning_rate"], min_child_weight=1e-3, reg_lambda=0.0, n_jobs=THREADS)


def _sk(classification):
    from sklearn.ensemble import HistGradientBoostingClassifier as C
    from sklearn.ensemble import HistGradientBoostingRegressor as R

    return (C if classification else R)(**PARAMS, early_stopping=False)


def _ours(classification, backend="cpu"):
    return (HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor)(
        **PARAMS, early_stopping=False, backend=backend)


def _peer_makers(classification):
    makers = {}
    if installed("lightgbm"):
        makers["lightgbm"] = lambda: _lgb(classification)
    if installed("xgboost"):
        makers["xgboost"] = lambda: _xgb(classification)
    if installed("sklearn"):
        makers["sklearn"] = lambda: _sk(classification)
    return makers


# ---------------------------------------------------------------- checks
def _loss(model, X, y, classification):
    if classification:
        p = np.clip(model.predict_proba(X)[:, 1], 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.mean((model.predict(X).astype(np.float64) - y) ** 2))


LOSSES: dict = {}  # {case: {library: training loss}}, written to bench/results/trees-losses.json


def _record_loss(inputs, model, loss, classification):
    import json

    lib = type(model).__module__.split(".")[0]
    if getattr(model, "backend_", None) == "cuda":
        lib += " (cuda)"
    case = f"{len(inputs['y'])} {'log-loss' if classification else 'MSE'}"
    LOSSES.setdefault(case, {})[lib] = loss
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (harness.RESULTS_DIR / "trees-losses.json").write_text(json.dumps(LOSSES, indent=1))


# Fitted models of the fit cases, reused by the predict case (a 1M-row fit takes tens of seconds
# per library on 2 cores): {(n, classification, runner): model}.
_MODELS: dict = {}


def _fit_checker(classification):
    def check(inputs, model):
        X, y = inputs["X"], inputs["y"]
        loss = _loss(model, X, y, classification)
        ours = isinstance(model, (HistGradientBoostingRegressor, HistGradientBoostingClassifier))
        if "ref_loss" not in inputs:
            if installed("lightgbm"):
                ref = _lgb(classification).fit(X, y)
                inputs["lgb_model"] = ref  # the LightGBM runner's (untimed) warm-up returns it
                inputs["ref_loss"] = _loss(ref, X, y, classification)
            else:  # no peer: the loss must beat a constant model by far
                inputs["ref_loss"] = (np.log(2) if classification else float(np.var(y))) * 0.5
        _record_loss(inputs, model, loss, classification)
        # ours: within 2 % of LightGBM's training loss (the target); peers: a sanity bound
        # (XGBoost's lossguide trees have no min_samples_leaf and land a few % higher)
        bound = 1.02 if ours else 1.25
        assert loss <= inputs["ref_loss"] * bound, \
            f"training loss {loss:.5f} > {bound} x LightGBM's {inputs['ref_loss']:.5f}"

    return check


def _fit_case(n, classification):
    def setup():
        X, y = make_data(n, seed=1 if classification else 0, classification=classification)
        return {"X": X, "y": y}

    def runner(name, make):
        def fit(x):
            if name == "lightgbm" and "lgb_model" in x:  # warm-up: the model the check already fitted
                model = x.pop("lgb_model")
            else:
                model = make().fit(x["X"], x["y"])
                if name == "cuda":
                    harness.cuda_sync()  # the last leaf update may still run
            _MODELS[(n, classification, name)] = model
            return model

        return fit

    ours = {"cpu": runner("cpu", lambda: _ours(classification))}
    if harness.GPU:  # the GPU full fit: codes, gradients, raw predictions and histograms on the device
        ours["cuda"] = runner("cuda", lambda: _ours(classification, "cuda"))
    peers = {name: runner(name, mk) for name, mk in _peer_makers(classification).items()}
    kind = "classifier (binary log-loss)" if classification else "regressor (squared error)"
    return Case("trees", f"hgb {kind} fit", f"{n}x{N_FEATURES}, 100 trees x 31 leaves, {THREADS} threads",
                setup, ours, peers, _fit_checker(classification), work=n * PARAMS["max_iter"], unit="row·tree",
                slow=("cpu", "cuda") + tuple(peers))


def _predict_case(n):
    def setup():
        X, y = make_data(n, seed=0)
        makers = {"cpu": lambda: _ours(False), **_peer_makers(False)}
        models = {name: _MODELS[(n, False, name)] if (n, False, name) in _MODELS else mk().fit(X, y)
                  for name, mk in makers.items()}
        return {"X": X, "y": y, "models": models}

    def run(name):
        if name == "lightgbm":
            return lambda x: x["models"][name].predict(x["X"], num_threads=THREADS)
        return lambda x: x["models"][name].predict(x["X"])

    def check(inputs, pred):
        mse = float(np.mean((np.asarray(pred, dtype=np.float64) - inputs["y"]) ** 2))
        assert mse < 0.5 * float(np.var(inputs["y"])), f"predictions do not fit the training data (MSE {mse:.4f})"

    peers = {name: run(name) for name in _peer_makers(False)}
    return Case("trees", "hgb predict (raw float X)", f"{n}x{N_FEATURES}, 100 trees x 31 leaves", setup,
                {"cpu": run("cpu")}, peers, check, work=n * PARAMS["max_iter"], unit="row·tree")


def _binning_case(n):
    def setup():
        X, _ = make_data(n)
        return {"X": X}

    def check(inputs, codes):
        if isinstance(codes, np.ndarray):
            assert codes.shape == inputs["X"].shape and codes.dtype == np.uint8
            assert codes.max() <= 254

    peers = {}
    if installed("lightgbm"):
        import lightgbm as lgb

        peers["lightgbm"] = lambda x: lgb.Dataset(x["X"], params={"max_bin": 255, "verbose": -1,
                                                                   "num_threads": THREADS}).construct()
    return Case("trees", "binning (fit + transform)", f"{n}x{N_FEATURES} f32 -> uint8, 255 bins", setup,
                {"cpu": lambda x: BinMapper(random_state=0).fit_transform(x["X"])}, peers, check,
                work=n * N_FEATURES, unit="cell")


def _hist_case(n, frac, bw_gbs, backends):
    def setup():
        rng = np.random.default_rng(5)
        X, y = make_data(n)
        codes = BinMapper(random_state=0).fit_transform(X)
        g = (y - y.mean()).astype(np.float32)
        idx = None if frac >= 1 else np.sort(rng.choice(n, int(n * frac), replace=False))
        return {"B": codes, "g": g, "idx": idx, "ref": None}

    def run(x, b):
        return build_histogram(x["B"], x["g"], sample_indices=x["idx"], backend=b)

    def run_cuda(x):
        if harness.GPU:  # inputs already on the GPU: time the kernel, not the copies
            from numba import cuda

            if "_dev" not in x:
                x["_dev"] = (cuda.to_device(x["B"]), cuda.to_device(x["g"]),
                             None if x["idx"] is None else cuda.to_device(x["idx"]))
            dB, dg, didx = x["_dev"]
            out = build_histogram(dB, dg, sample_indices=didx, backend="cuda")
            harness.cuda_sync()
            return tuple(o.copy_to_host() for o in out)
        return run(x, "cuda")

    def check(inputs, out):
        if inputs["ref"] is None:
            inputs["ref"] = build_histogram(inputs["B"], inputs["g"], sample_indices=inputs["idx"], backend="cpu")
        ref = inputs["ref"]
        np.testing.assert_array_equal(out[2], ref[2])
        np.testing.assert_allclose(out[0], ref[0], rtol=1e-9, atol=1e-6)

    rows = n if frac >= 1 else int(n * frac)
    bytes_read = rows * (N_FEATURES + 4 + (0 if frac >= 1 else 8))
    floor = bytes_read / (bw_gbs * 1e9)
    ours = {b: (lambda x, b=b: run(x, b)) for b in backends if b != "cuda"}
    if "cuda" in backends:
        ours["cuda"] = run_cuda
    label = "root, all rows" if frac >= 1 else f"node, {int(frac * 100)}% of rows (sorted indices)"
    return Case("trees", f"histogram build ({label})",
                f"{rows}x{N_FEATURES}, 256 bins; bandwidth floor {floor * 1e3:.2f} ms ({bw_gbs:.1f} GB/s read)",
                setup, ours, {}, check, work=rows * N_FEATURES, unit="cell", slow=("reference",))


def cases(quick: bool) -> list[Case]:
    n = 100_000 if quick else 1_000_000
    bw = _memory_bandwidth_gbs()
    all3 = ("reference", "cpu", "cuda")
    out = [_binning_case(n), _hist_case(n, 1.0, bw, all3), _hist_case(n, 0.3, bw, all3)]
    if installed("sklearn"):  # the estimators need scikit-learn (a GPU image may lack it)
        out += [_fit_case(n, False), _fit_case(n, True), _predict_case(n)]
    return out


def main(argv=None) -> int:
    """``python -m bench.cases_trees [--quick] [--tag trees]``: this family's cases only, each fit
    done once.

    A 1M-row fit takes tens of seconds per library on 2 cores (minutes on a loaded machine), and
    the harness times every runner after a separate warm-up run, which doubles that.  Here every
    fit runner is fitted once, checked and timed; ours is JIT-warmed first on a 20 000-row slice;
    LightGBM runs first and gives the reference loss.  The other cases go through
    ``harness.run_case`` unchanged.  Results are written after every case (``--tag``, default
    ``trees``).
    """
    import argparse

    from .harness import Row

    p = argparse.ArgumentParser(prog="python -m bench.cases_trees")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tag", default=None)
    args = p.parse_args(argv)
    tag = args.tag or ("trees-quick" if args.quick else "trees")
    rows: list = []
    for case in cases(args.quick):
        t0 = time.perf_counter()
        if " fit" in case.name:
            inputs = case.setup()
            cls = "classifier" in case.name
            for b in case.ours:  # JIT warm-up (cpu; cuda: every kernel compiled)
                _ours(cls, b).set_params(max_iter=3).fit(inputs["X"][:20000], inputs["y"][:20000])
            order = sorted(case.peers.items(), key=lambda kv: kv[0] != "lightgbm") + list(case.ours.items())
            case_rows = []
            for name, fn in order:
                kind = "ours" if name in case.ours else "peer"
                print(f"{case.name}: {name}", flush=True)
                row = Row(case.family, case.name, case.size, name, kind, unit=case.unit)
                t = time.perf_counter()
                try:
                    model = fn(inputs)
                    dt = time.perf_counter() - t
                    if name == "lightgbm":
                        inputs["ref_loss"] = _loss(model, inputs["X"], inputs["y"], cls)
                    case.check(inputs, model)
                    row.times_s, row.median_s, row.throughput = [dt], dt, case.work / dt
                except AssertionError as exc:
                    row.status = f"WRONG: {str(exc)[:120]}"
                case_rows.append(row)
            best = min((r.median_s for r in case_rows if r.kind == "peer" and r.median_s), default=None)
            for r in case_rows:
                if r.kind == "ours" and r.median_s and best:
                    r.vs_best_peer = best / r.median_s
            rows += [r for r in case_rows if r.kind == "ours"] + [r for r in case_rows if r.kind == "peer"]
        else:
            rows += harness.run_case(case, ("reference", "cpu") + (("cuda",) if harness.GPU else ()), args.quick,
                                     lambda m: print(m, flush=True))
        print(f"case {case.name} done in {time.perf_counter() - t0:.0f}s", flush=True)
        harness.write_results(rows, tag)
    print(harness.markdown_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
