"""Benchmark: efficacy.mediation.causal.causal_mediation vs statsmodels.stats.mediation.Mediation (issue #5).

Same model on the same simulated data (n = 500, one covariate): mediator OLS ``m ~ t + x``, outcome
OLS ``y ~ m + t + x`` (or probit with --probit), 1,000 quasi-Bayesian simulations each. Prints both
run times, the speed ratio (issue goal >= 50x) and the estimates side by side.

Run:  .venv/bin/python benchmarks/bench_causal.py [--n 500] [--sims 1000] [--probit]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.mediation import Mediation

from efficacy.mediation.causal import causal_mediation

LABELS = {"ACME (control)": "acme_control", "ACME (treated)": "acme_treated", "ACME (average)": "acme_average",
          "ADE (control)": "ade_control", "ADE (treated)": "ade_treated", "ADE (average)": "ade_average",
          "Total effect": "total", "Prop. mediated (average)": "prop_mediated_average"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--sims", type=int, default=1000)
    ap.add_argument("--probit", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(2026)
    n = a.n
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n).astype(float)
    m = 0.5 * t + 0.3 * x + rng.normal(size=n)
    y = 0.4 * m + 0.2 * t + 0.2 * x + rng.normal(size=n)
    if a.probit:
        y = (y > 0.3).astype(float)
    d = pd.DataFrame({"t": t, "m": m, "y": y, "x": x})
    model = "probit" if a.probit else "linear"

    t0 = time.perf_counter()
    ours = causal_mediation(d, "t", "m", "y", covariates=["x"], outcome_model=model, n_sims=a.sims, seed=1)
    t_ours = time.perf_counter() - t0

    if a.probit:
        out = sm.GLM.from_formula("y ~ m + t + x", d,
                                  family=sm.families.Binomial(link=sm.families.links.Probit()))
    else:
        out = sm.OLS.from_formula("y ~ m + t + x", d)
    med = sm.OLS.from_formula("m ~ t + x", d)
    t0 = time.perf_counter()
    ref = Mediation(out, med, "t", "m").fit(method="parametric", n_rep=a.sims, rng=np.random.default_rng(1))
    smry = ref.summary()
    t_sm = time.perf_counter() - t0

    print(f"n = {n}, {a.sims} quasi-Bayesian simulations, {model} outcome")
    print(f"efficacy.causal_mediation : {t_ours:8.3f} s")
    print(f"statsmodels Mediation     : {t_sm:8.3f} s")
    print(f"speed-up                  : {t_sm / t_ours:8.1f}x  (issue goal >= 50x)")
    tab = ours.table
    rows = []
    for lab, name in LABELS.items():
        rows.append({"effect": name, "efficacy": tab.loc[name, "estimate"], "statsmodels": smry.loc[lab, "Estimate"],
                     "efficacy_ci": f"[{tab.loc[name, 'ci_low']:.3f}, {tab.loc[name, 'ci_high']:.3f}]",
                     "statsmodels_ci": f"[{smry.loc[lab, 'Lower CI bound']:.3f}, {smry.loc[lab, 'Upper CI bound']:.3f}]"})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
