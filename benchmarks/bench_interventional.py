"""Benchmark: efficacy.mediation.interventional_effects with 1,000 Monte Carlo draws per unit (issue #19).

Simulated study (n = 500, one covariate): a binary mediator (logit) followed by a continuous one that
depends on it, a binary outcome (logit) with treatment x mediator interactions; 1,000 antithetic draws per
unit and ``--boot`` bootstrap resamples (all three models refitted on every resample by batched OLS / IRLS,
the potential-outcome arrays of blocks of resamples evaluated as one array computation: no Python loop over
draws or resamples). Prints the time of the point estimate and of the bootstrap, per resample, and the
table.

No reference tool to race: R's ``CMAverse::cmest(model = "gformula")`` and ``intmed`` compute related
interventional effects but are not installed on this machine (not in Debian), and no Python package
computes them, so the benchmark records our own time only. On the reference machine (2 cores shared with
other jobs, 2026-12-07) the point estimate took 0.14 s and each resample about 60 ms (5 x 10^5 unit-draws
per scenario, nine scenario arrays), i.e. about 12 s for 200 and about 60 s for 1,000 resamples.

Run:  .venv/bin/python benchmarks/bench_interventional.py [--n 500] [--draws 1000] [--boot 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import special

from efficacy.mediation import interventional_effects


def simulate(n, seed=2026):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=n)
    t = rng.integers(0, 2, n).astype(float)
    m1 = (rng.random(n) < special.expit(-0.3 + 0.9 * t + 0.3 * c)).astype(float)
    m2 = 0.4 * t + 0.5 * m1 - 0.2 * c + rng.normal(size=n)
    y = (rng.random(n) < special.expit(-0.5 + 0.4 * t + 0.6 * m1 + 0.5 * m2 + 0.2 * t * m2 + 0.2 * c)).astype(float)
    return pd.DataFrame({"t": t, "m1": m1, "m2": m2, "y": y, "c": c})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--boot", type=int, default=200)
    a = ap.parse_args()
    d = simulate(a.n)
    kw = {"covariates": ["c"], "outcome_model": "logit", "interaction": True, "n_draws": a.draws, "seed": 1}
    t0 = time.perf_counter()
    interventional_effects(d, "t", ["m1", "m2"], "y", n_boot=0, **kw)
    t_point = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = interventional_effects(d, "t", ["m1", "m2"], "y", n_boot=a.boot, **kw)
    t_all = time.perf_counter() - t0
    per = (t_all - t_point) / max(a.boot, 1)
    print(f"n = {a.n}, {a.draws} draws per unit, {a.boot} bootstrap resamples, 2 mediators (logit, linear), "
          "logit outcome with interactions")
    print(f"point estimate: {t_point:.2f} s; with bootstrap: {t_all:.2f} s ({1000 * per:.1f} ms per resample; "
          f"1,000 resamples ~ {t_point + 1000 * per:.0f} s)")
    print(res.to_frame().round(4).to_string(index=False))


if __name__ == "__main__":
    main()
