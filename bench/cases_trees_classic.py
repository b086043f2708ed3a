"""Classic-trees bench cases, loaded with the "trees" family; scikit-learn is the peer.

* class histogram and split criterion kernels: reference / cpu (/ cuda with ``--gpu``: device
  inputs, the kernel timed with a synchronisation), throughput in (row, feature) cells per second;
  the class histogram reads one byte per cell, so ``cells/s`` is also its bytes/s against the
  memory-bandwidth floor;
* ``DecisionTreeClassifier(max_depth=12)`` fit on 1 000 000 x 28 and
  ``RandomForestClassifier(100, max_features="sqrt", n_jobs=-1)`` fit on 200 000 x 28 (binary,
  ``make_classification``), binning included, against scikit-learn's estimators with the same
  parameters (``n_jobs=-1`` on both forests); every fitted model is checked on 50 000 held-out
  rows, and the accuracies are written to ``bench/results/trees_classic_accuracy.json``;
* forest ``predict_proba`` on the held-out rows.

Work for the fits: ``rows x features`` per fit (so throughput reads as cells/s).
"""
from __future__ import annotations

import json

import numpy as np

import bagu_fast.trees as bt

from . import harness
from .harness import Case, installed, to_host

N_TEST = 50_000
ACCURACY: dict = {}
MODELS: dict = {}  # the last checked fit of each (case, library): the predict case reuses them


def _classification(n: int, seed: int = 0):
    def make():
        from sklearn.datasets import make_classification

        X, y = make_classification(n_samples=n + N_TEST, n_features=28, n_informative=12, n_redundant=6,
                                   n_clusters_per_class=8, flip_y=0.05, class_sep=0.8, random_state=seed)
        return {"X": X[:n], "y": y[:n], "Xt": X[n:], "yt": y[n:]}

    return make


def _accuracy_check(case_name: str, size: str, floor: float):
    def check(inputs, model):
        acc = float(np.mean(model.predict(inputs["Xt"]) == inputs["yt"]))
        who = "sklearn" if type(model).__module__.startswith("sklearn") else "bagu_fast"
        ACCURACY.setdefault(case_name, {})[who] = acc
        MODELS[case_name, who] = model
        # merged into the file, one entry per (case, size): quick and full runs keep their own
        path = harness.RESULTS_DIR / "trees_classic_accuracy.json"
        harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        saved = json.loads(path.read_text()) if path.exists() else {}
        saved.setdefault(f"{case_name} [{size}]", {})[who] = acc
        path.write_text(json.dumps(saved, indent=1, sort_keys=True))
        assert acc >= floor, f"held-out accuracy {acc:.4f} < {floor}"
        if who == "sklearn" and "bagu_fast" in ACCURACY[case_name]:
            ours = ACCURACY[case_name]["bagu_fast"]
            print(f"[trees_classic] {case_name}: accuracy bagu_fast {ours:.4f}, sklearn {acc:.4f} "
                  f"({100 * (ours - acc):+.2f} points)", flush=True)

    return check


def _fit_case(name: str, n: int, ours_factory, peer_factory, floor: float) -> Case:
    ours = {"cpu": lambda x: ours_factory().fit(x["X"], x["y"])}
    peers = {}
    if installed("sklearn"):
        peers["sklearn"] = lambda x: peer_factory().fit(x["X"], x["y"])
    size = f"{n:,} x 28"
    return Case("trees", name, size, _classification(n), ours, peers, _accuracy_check(name, size, floor),
                work=n * 28.0, unit="cells", slow=("sklearn",))


def _predict_case(n: int, n_trees: int, fit_case: str) -> Case:
    def setup():
        x = _classification(n)()
        # the forests the fit case checked (same data), or fresh ones when it did not run
        x["ours"] = MODELS.get((fit_case, "bagu_fast")) or bt.RandomForestClassifier(
            n_trees, n_jobs=-1, random_state=0).fit(x["X"], x["y"])
        if installed("sklearn"):
            from sklearn.ensemble import RandomForestClassifier

            x["sk"] = MODELS.get((fit_case, "sklearn")) or RandomForestClassifier(
                n_trees, n_jobs=-1, random_state=0).fit(x["X"], x["y"])
        return x

    def check(x, proba):
        assert proba.shape == (N_TEST, 2) and np.allclose(proba.sum(1), 1)
        assert np.mean(x["ours"].classes_[proba.argmax(1)] == x["yt"]) > 0.7

    ours = {"cpu": lambda x: x["ours"].predict_proba(x["Xt"])}
    peers = {"sklearn": lambda x: x["sk"].predict_proba(x["Xt"])} if installed("sklearn") else {}
    return Case("trees", f"RF({n_trees}) predict_proba", f"{N_TEST:,} rows", setup, ours, peers, check,
                work=float(N_TEST), unit="rows")


def _kernel_cases(n: int, F: int, n_classes: int) -> list[Case]:
    def setup():
        rng = np.random.default_rng(0)
        return {"binned": rng.integers(0, 256, (n, F)).astype(np.uint8), "y": rng.integers(0, n_classes, n)}

    def check_hist(x, h):
        h = to_host(h)
        assert h.shape == (F, 256, n_classes) and int(h.sum()) == n * F
        f = 3
        np.testing.assert_array_equal(h[f].sum(1), np.bincount(x["binned"][:, f], minlength=256))

    def dev(x):
        if "_dev" not in x:
            from numba import cuda

            x["_dev"] = (cuda.to_device(x["binned"]), cuda.to_device(x["y"].astype(np.int64)))
        return x["_dev"]

    def hist_cuda(x):
        if harness.GPU:
            b, y = dev(x)
            out = bt.build_class_histogram(b, y, n_classes, backend="cuda")
            harness.cuda_sync()
            return out
        return bt.build_class_histogram(x["binned"], x["y"], n_classes, backend="cuda")

    hist_ours = {b: (lambda x, b=b: bt.build_class_histogram(x["binned"], x["y"], n_classes, backend=b))
                 for b in ("reference", "cpu")}
    hist_ours["cuda"] = hist_cuda

    # split criterion: every threshold of every feature of that histogram
    def crit_setup():
        x = setup()
        h = bt.build_class_histogram(x["binned"], x["y"], n_classes)
        left = np.cumsum(h, axis=1)[:, :-1].reshape(-1, n_classes)
        reps = max(1, 1_000_000 // left.shape[0])
        left = np.tile(left, (reps, 1))
        right = np.tile(h.sum(axis=1)[:, None, :], (1, 255, 1)).reshape(-1, n_classes)
        right = np.tile(right, (reps, 1)) - left
        return {"left": left, "right": right, "expected": bt.split_criterion(left, right, criterion="entropy",
                                                                             backend="reference")}

    def check_crit(x, g):
        g = to_host(g)
        np.testing.assert_allclose(g, x["expected"], rtol=1e-9, atol=1e-12)

    def crit_cuda(x):
        if harness.GPU:
            if "_dev" not in x:
                from numba import cuda

                x["_dev"] = (cuda.to_device(x["left"]), cuda.to_device(x["right"]))
            out = bt.split_criterion(*x["_dev"], criterion="entropy", backend="cuda")
            harness.cuda_sync()
            return out
        return bt.split_criterion(x["left"], x["right"], criterion="entropy", backend="cuda")

    crit_ours = {b: (lambda x, b=b: bt.split_criterion(x["left"], x["right"], criterion="entropy", backend=b))
                 for b in ("reference", "cpu")}
    crit_ours["cuda"] = crit_cuda
    n_cand = (1_000_000 // (F * 255) or 1) * F * 255
    return [
        Case("trees", "class histogram", f"{n:,} x {F}, {n_classes} classes", setup, hist_ours, {}, check_hist,
             work=float(n * F), unit="cells", slow=("reference",)),
        Case("trees", "split criterion (entropy)", f"{n_cand:,} splits", crit_setup, crit_ours, {}, check_crit,
             work=float(n_cand), unit="splits", slow=("reference",)),
    ]


def cases(quick: bool) -> list[Case]:
    from sklearn.ensemble import RandomForestClassifier as SkForest
    from sklearn.tree import DecisionTreeClassifier as SkTree

    n_dt = 100_000 if quick else 1_000_000
    n_rf = 20_000 if quick else 200_000
    n_trees = 20 if quick else 100
    out = _kernel_cases(200_000 if quick else 1_000_000, 28, 2)
    out.append(_fit_case("DecisionTree(max_depth=12) fit", n_dt,
                         lambda: bt.DecisionTreeClassifier(max_depth=12, random_state=0),
                         lambda: SkTree(max_depth=12, random_state=0), floor=0.7))
    rf_case = f"RandomForest({n_trees}, sqrt) fit"
    out.append(_fit_case(rf_case, n_rf,
                         lambda: bt.RandomForestClassifier(n_trees, max_features="sqrt", n_jobs=-1, random_state=0),
                         lambda: SkForest(n_trees, max_features="sqrt", n_jobs=-1, random_state=0), floor=0.7))
    out.append(_predict_case(n_rf, n_trees, rf_case))
    return out
