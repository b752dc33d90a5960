"""Benchmark: every tau-squared estimator of efficacy.meta.random_effects at k = 100 (with a moderator and
Knapp-Hartung tests) against metafor's rma() on the same data in the same run (issue #21).

For each method the best of ``--repeat`` fits is timed in Python; when Rscript and metafor are available the
same data are written to a temporary CSV and timed in R (best of the same number of rma() calls), and the
script prints both times, the ratio (metafor / ours: above 1 means we are faster) and the largest difference
in tau2 and the coefficients as a sanity check. A SCRIPT, not a test (nothing asserts wall-clock time).

Run: ``.venv/bin/python benchmarks/bench_meta_estimators.py [--k 100] [--repeat 20]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from efficacy.meta import random_effects

METHODS = ["DL", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "PM", "PMM", "EB", "GENQ"]

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2])
out <- list()
for (m in strsplit(args[3], ",")[[1]]) {
  f <- function() if (m == "GENQ") rma(yi, vi, mods = ~ x, data = d, method = m, test = "knha", weights = n)
                  else rma(yi, vi, mods = ~ x, data = d, method = m, test = "knha")
  fit <- f()
  best <- Inf
  for (i in seq_len(reps)) { t <- system.time(f())[["elapsed"]]; best <- min(best, t) }
  # system.time has 1 ms resolution: time a batch as well and take the mean per fit
  t_all <- system.time(for (i in seq_len(reps)) f())[["elapsed"]] / reps
  out[[m]] <- list(seconds = min(best, t_all), tau2 = fit$tau2, beta = as.numeric(fit$beta))
}
cat(jsonlite::toJSON(out, digits = 12, auto_unbox = TRUE))
"""


def _data(k, seed=20261207):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=k)
    n = rng.integers(20, 200, k)
    vi = 4 / n
    yi = 0.3 + 0.15 * x + rng.normal(0, np.sqrt(vi + 0.04))
    return pd.DataFrame({"yi": yi, "vi": vi, "x": x, "n": n})


def _ours(d, method):
    kw = {"weights": d["n"].to_numpy()} if method == "GENQ" else {}
    return random_effects(yi=d["yi"].to_numpy(), vi=d["vi"].to_numpy(), mods=["x"], data=d, method=method,
                          test="knha", **kw)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--repeat", type=int, default=20)
    a = p.parse_args()
    d = _data(a.k)
    ours = {}
    for m in METHODS:
        fit = _ours(d, m)
        best = min(_time(lambda: _ours(d, m)) for _ in range(a.repeat))
        ours[m] = (best, fit)
    theirs = {}
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.csv"
            d.to_csv(path, index=False)
            script = Path(tmp) / "bench.R"
            script.write_text(R_SCRIPT)
            proc = subprocess.run(["Rscript", str(script), str(path), str(a.repeat), ",".join(METHODS)],
                                  capture_output=True, text=True)
            if proc.returncode == 0:
                theirs = json.loads(proc.stdout)
            else:
                print("metafor not timed:", proc.stderr.strip().splitlines()[-1:])
    else:
        print("Rscript not found: metafor not timed (install r-cran-metafor to compare)")
    print(f"k = {a.k}, one moderator, Knapp-Hartung; best of {a.repeat}")
    print(f"{'method':6s} {'ours ms':>9s} {'metafor ms':>11s} {'ratio':>7s} {'|d tau2|':>10s} {'|d beta|':>10s}")
    for m in METHODS:
        t, fit = ours[m]
        if m in theirs:
            r = theirs[m]
            dt = abs(fit.tau2 - r["tau2"])
            db = np.max(np.abs(np.asarray(fit.coef) - np.asarray(r["beta"])))
            print(f"{m:6s} {t * 1e3:9.2f} {r['seconds'] * 1e3:11.2f} {r['seconds'] / t:7.1f} {dt:10.2e} {db:10.2e}")
        else:
            print(f"{m:6s} {t * 1e3:9.2f}")


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
