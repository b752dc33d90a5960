"""Benchmark: efficacy.measurement CFA / invariance vs semopy ``Model.fit`` on the same models.

Issue #4. Times, in one run, (1) a one-group CFA (two correlated factors x 5 items = 10 items,
n = 500) with Likert-like items and with Bandura-like 0-100 items (variances ~ 1000, the case
that made the earlier quasi-Newton optimiser take thousands of iterations), and (2) the
configural -> metric -> scalar -> strict sequence on 2 groups x 500. semopy has no cross-group
equality constraints (its ``multigroup`` fits each group separately), so its side of (2) is the
same single-group model fitted in each group, i.e. the configural step only. Ours includes the
standard errors (expected information) of the CFA, semopy's ``fit`` does not compute them.
Prints seconds (best of --repeat), chi-square of both (same ML discrepancy) and the ratio.
On the 0-100 items semopy stops early: its chi-square is higher than ours (e.g. 25.67 vs 22.61
with the default seed) and equals ours only after the data are divided by 25; ML chi-square
does not depend on the items' units, so the lower value is the optimum. Run from the repository root::

    .venv/bin/python benchmarks/bench_measurement.py [--n 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import semopy

from efficacy.measurement import cfa, invariance

MODEL = "f1 =~ y1 + y2 + y3 + y4 + y5\nf2 =~ y6 + y7 + y8 + y9 + y10"


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def simulate(n, rng, scale=1.0, shift=0.0):
    """Two correlated factors (r = .4), loadings .5-.9, items on a 1-5-like or 0-100-like scale."""
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    lam = np.linspace(0.5, 0.9, 5)
    x = np.hstack([f[:, [0]] * lam, f[:, [1]] * lam])
    x = x + rng.normal(size=x.shape) * np.sqrt(1 - np.tile(lam, 2) ** 2)
    x[:, 3] += shift  # a shifted intercept (only used for group B)
    return pd.DataFrame(3 * scale + scale * x, columns=[f"y{j + 1}" for j in range(10)])


def semopy_fit(data):
    m = semopy.Model(MODEL)
    m.fit(data)
    return m


def semopy_chisq(m):
    return float(semopy.calc_stats(m)["chi2"].iloc[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20261128)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    warm = simulate(100, np.random.default_rng(0))
    cfa(warm, MODEL), semopy_fit(warm)  # imports and first-call costs out of the timings
    rows = []
    for label, scale in (("Likert-like items", 1.0), ("0-100 items", 25.0)):
        d = simulate(args.n, rng, scale=scale)
        t_sp, m = best_of(lambda: semopy_fit(d), args.repeat)
        t_ours, res = best_of(lambda: cfa(d, MODEL), args.repeat)
        rows.append((f"one-group CFA, 10 items, n = {args.n}, {label}", t_ours, t_sp,
                     f"chisq ours {res.fit['chisq']:.3f} / semopy {semopy_chisq(m):.3f}"))

    a = simulate(args.n, rng)
    b = simulate(args.n, rng, shift=0.6)
    both = pd.concat([a.assign(g="A"), b.assign(g="B")], ignore_index=True)
    t_sp, _ = best_of(lambda: [semopy_fit(a), semopy_fit(b)], args.repeat)
    t_inv, inv = best_of(lambda: invariance(both, MODEL, "g", find_partial=False).to_frame(), args.repeat)
    t_conf, conf = best_of(lambda: cfa(both, MODEL, group="g", se=False), args.repeat)
    rows.append((f"configural step (2 groups x {args.n})", t_conf, t_sp,
                 f"chisq ours {conf.fit['chisq']:.3f} (semopy: per-group fits only)"))
    rows.append((f"configural -> strict, 4 models (2 x {args.n})", t_inv, t_sp,
                 "steps: " + ", ".join(f"{s} {c:.1f}" for s, c in zip(inv.step, inv.chisq))))
    t_part, part = best_of(lambda: invariance(both, MODEL, "g").to_frame(), max(1, args.repeat // 2))
    rows.append(("  ... with the partial-invariance search", t_part, t_sp,
                 "freed: " + ", ".join(part.loc[part.step == "partial_scalar", "freed"].fillna(""))))

    print(f"semopy {semopy.__version__}; best of {args.repeat}; ratio = semopy seconds / ours (> 1: ours faster)")
    print(f"{'computation':<52}{'ours s':>9}{'semopy s':>10}{'ratio':>8}  note")
    for name, t_o, t_s, note in rows:
        print(f"{name:<52}{t_o:>9.4f}{t_s:>10.4f}{t_s / t_o:>8.2f}  {note}")


if __name__ == "__main__":
    main()
