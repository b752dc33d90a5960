"""Benchmark: WLSMV CFA of ordered items vs the ML fit of the same model, and vs lavaan.

Issue #18 target: a WLSMV CFA on 2 factors x 6 five-category items, n = 1,000, takes at most 2x
the time of the ML fit of the same model (items treated as continuous) in efficacy. Both timings
include everything a user waits for: for WLSMV the thresholds, the polychoric matrix with its
asymptotic covariance (Gamma), the DWLS fit, robust SEs, the scale-shifted test and all fit
measures (including the catML-based robust CFI/TLI/RMSEA); for ML the fit, SEs and fit measures.
Timed on one core (BLAS threads pinned to 1 unless set), best of ``--repeat`` interleaved rounds,
CPU and wall seconds. If ``Rscript`` is on the PATH the same WLSMV model is timed in lavaan (``cfa(..., ordered = TRUE,
estimator = "WLSMV")``, best of the same number of repeats, R start-up excluded) and the
chi-square of both is printed. Run from the repository root::

    .venv/bin/python benchmarks/bench_wlsmv.py [--n 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one core, as the target; set before numpy loads
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from efficacy.sem import sem

ITEMS = [f"y{j + 1}" for j in range(12)]
MODEL = "f1 =~ " + " + ".join(ITEMS[:6]) + "\nf2 =~ " + " + ".join(ITEMS[6:])


def interleaved(fns, repeat):
    """Best wall-clock and CPU seconds of each function over ``repeat`` interleaved rounds.

    Rounds alternate between the functions so that load from other processes on a shared machine
    hits them alike; CPU time (``time.process_time``, BLAS pinned to one thread) is the fairer
    comparison there, wall time is printed beside it.
    """
    wall = [np.inf] * len(fns)
    cpu = [np.inf] * len(fns)
    outs = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0, c0 = time.perf_counter(), time.process_time()
            outs[i] = fn()
            wall[i] = min(wall[i], time.perf_counter() - t0)
            cpu[i] = min(cpu[i], time.process_time() - c0)
    return wall, cpu, outs


def simulate(n, rng):
    """Two correlated factors (r = .4), loadings .5-.8, latent responses cut into 5 skewed categories."""
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    lam = np.linspace(0.5, 0.8, 6)
    y = np.hstack([f[:, [0]] * lam, f[:, [1]] * lam])
    y = y + rng.normal(size=y.shape) * np.sqrt(1 - np.tile(lam, 2) ** 2)
    cuts = np.array([-1.6, -0.8, 0.0, 0.9])   # piled towards the top categories, like self-efficacy items
    return pd.DataFrame(np.digitize(y, cuts) + 1, columns=ITEMS)


R_SCRIPT = """
suppressPackageStartupMessages(library(lavaan))
d <- read.csv("{csv}")
m <- "{model}"
best <- Inf
for (i in seq_len({repeat})) {{
  t0 <- proc.time()[["elapsed"]]
  fit <- cfa(m, d, ordered = names(d), estimator = "WLSMV")
  fm <- fitMeasures(fit)
  best <- min(best, proc.time()[["elapsed"]] - t0)
}}
cat(best, fitMeasures(fit, "chisq"), fitMeasures(fit, "chisq.scaled"), "\\n")
"""


def lavaan_time(data, repeat):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        data.to_csv(csv, index=False)
        script = Path(tmp) / "b.R"
        script.write_text(R_SCRIPT.format(csv=csv, model=MODEL.replace("\n", "\\n"), repeat=repeat))
        out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        print("lavaan failed:", out.stderr.strip()[-300:])
        return None
    secs, chisq, chisq_s = (float(v) for v in out.stdout.split())
    return secs, chisq, chisq_s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    data = simulate(args.n, np.random.default_rng(args.seed))
    sem(data, MODEL, auto="cfa", ordered=True)  # warm-up (imports, caches)
    sem(data, MODEL, auto="cfa")
    (w_w, w_m), (c_w, c_m), (res_w, res_m) = interleaved(
        [lambda: sem(data, MODEL, auto="cfa", ordered=True), lambda: sem(data, MODEL, auto="cfa")], args.repeat)
    print(f"WLSMV CFA, 2 factors x 6 five-category items, n = {args.n} (best of {args.repeat}, "
          f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS')})")
    print(f"  efficacy WLSMV : {c_w:8.4f} s CPU {w_w:8.4f} s wall   chisq {res_w.fit['chisq']:.4f}  "
          f"scaled {res_w.fit['chisq.scaled']:.4f}  converged={res_w.converged}")
    print(f"  efficacy ML    : {c_m:8.4f} s CPU {w_m:8.4f} s wall   chisq {res_m.fit['chisq']:.4f}")
    print(f"  ratio WLSMV / ML = {c_w / c_m:.2f} CPU, {w_w / w_m:.2f} wall (target <= 2)")
    lav = lavaan_time(data, args.repeat)
    if lav is not None:
        secs, chisq, chisq_s = lav
        print(f"  lavaan WLSMV   : {secs:8.4f} s wall   chisq {chisq:.4f}  scaled {chisq_s:.4f}")
        print(f"  ratio efficacy / lavaan = {w_w / secs:.2f} wall")


if __name__ == "__main__":
    main()
