"""Benchmark: batched bootstrap alpha and omega vs pingouin's point-estimate alpha.

Issue #3 goal: bootstrap alpha and omega with 2000 resamples on n = 1000 x k = 10 in under 1 s.
Prints our times beside ``pingouin.cronbach_alpha`` (point estimate + Feldt interval only) and the
ratio. Run from the repository root::

    .venv/bin/python benchmarks/bench_reliability.py [--n 1000] [--k 10] [--n-boot 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import pingouin as pg

from efficacy.reliability import cronbach_alpha, mcdonald_omega


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20261128)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    f = rng.normal(size=(args.n, 1))
    loadings = np.linspace(0.5, 0.9, args.k)
    x = pd.DataFrame(f * loadings + rng.normal(size=(args.n, args.k)) * np.sqrt(1 - loadings**2),
                     columns=[f"i{j + 1}" for j in range(args.k)])

    t_pg, (a_pg, _) = best_of(lambda: pg.cronbach_alpha(x), args.repeat)
    t_a, a = best_of(lambda: cronbach_alpha(x, ci_method="bootstrap", n_boot=args.n_boot, seed=1),
                     args.repeat)
    t_o, o = best_of(lambda: mcdonald_omega(x, n_boot=args.n_boot, seed=1), args.repeat)
    t_pt, _ = best_of(lambda: cronbach_alpha(x), args.repeat)
    half = args.k // 2
    subs = {"a": list(x.columns[:half]), "b": list(x.columns[half:])}
    t_h, oh = best_of(lambda: mcdonald_omega(x, subscales=subs, n_boot=args.n_boot, seed=1),
                      max(1, args.repeat // 2))

    print(f"data: n = {args.n}, k = {args.k}; bootstrap resamples = {args.n_boot}; best of {args.repeat}")
    print(f"{'computation':<52}{'seconds':>10}{'ratio to pingouin':>20}")
    rows = [
        ("pingouin.cronbach_alpha (point + Feldt)", t_pg),
        ("efficacy cronbach_alpha (point + Feldt)", t_pt),
        (f"efficacy cronbach_alpha BCa bootstrap ({args.n_boot})", t_a),
        (f"efficacy mcdonald_omega BCa bootstrap ({args.n_boot})", t_o),
        ("efficacy alpha + omega bootstraps together", t_a + t_o),
        (f"efficacy omega + omega_h (2 subscales) BCa ({args.n_boot})", t_h),
    ]
    for name, t in rows:
        print(f"{name:<52}{t:>10.4f}{t / t_pg:>20.1f}")
    print(f"alpha {a.alpha:.4f} (pingouin {a_pg:.4f}) BCa [{a.ci_low:.4f}, {a.ci_high:.4f}]; "
          f"omega {o.omega_total:.4f} BCa [{o.ci_low:.4f}, {o.ci_high:.4f}], failed fits {o.n_boot_failed}")
    print(f"omega_h {oh.omega_h:.4f} BCa [{oh.omega_h_ci_low:.4f}, {oh.omega_h_ci_high:.4f}] "
          "(not part of the 1 s goal)")
    goal = t_a + t_o < 1.0
    print(f"goal (alpha + omega bootstraps < 1 s): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
