"""Provenance check for tests/reference/causal_published_framing.json.

That file holds the two framing tables (probit outcome, 100 simulations) printed in statsmodels'
own test file, statsmodels/stats/tests/test_mediation.py (objects ``framing_para_4231`` and
``framing_boot_4231``, labelled there "Compare to mediation R package vignette"). statsmodels' test
reproduces them to 1e-6 with ``numpy.random.RandomState(4231)`` and ``n_rep=100``, so they are
statsmodels' output at that seed (the R vignette's design: mediate(..., sims = 100)), not an R print.

This script regenerates both tables that way and checks them against the JSON (no file is written):
    .venv/bin/python tests/reference/causal_published_framing.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.api as sm
from statsmodels.stats.mediation import Mediation

HERE = Path(__file__).resolve().parent
COVS = "age + educ + gender + income"
NAMES = {
    "ACME (control)": "acme_control", "ACME (treated)": "acme_treated", "ACME (average)": "acme_average",
    "ADE (control)": "ade_control", "ADE (treated)": "ade_treated", "ADE (average)": "ade_average",
    "Total effect": "total", "Prop. mediated (control)": "prop_mediated_control",
    "Prop. mediated (treated)": "prop_mediated_treated", "Prop. mediated (average)": "prop_mediated_average",
}
COLS = {"Estimate": "estimate", "Lower CI bound": "ci_low", "Upper CI bound": "ci_high", "P-value": "p_value"}


def main():
    data = pd.read_csv(HERE / "causal_framing.csv")
    pub = json.loads((HERE / "causal_published_framing.json").read_text())
    out = sm.GLM.from_formula("cong_mesg ~ emo + treat + " + COVS, data,
                              family=sm.families.Binomial(link=sm.families.links.Probit()))
    med = sm.OLS.from_formula("emo ~ treat + " + COVS, data)
    worst = 0.0
    for kind, method in [("quasi_bayesian", "parametric"), ("bootstrap", "boot")]:
        fit = Mediation(out, med, "treat", "emo", outcome_fit_kwargs={"atol": 1e-11}).fit(
            method=method, n_rep=100, rng=np.random.RandomState(4231))
        smry = fit.summary()
        for label, name in NAMES.items():
            for col, key in COLS.items():
                worst = max(worst, abs(float(smry.loc[label, col]) - pub[kind][name][key]))
    print(f"statsmodels {statsmodels.__version__}: largest difference from the JSON {worst:.2e}")
    assert worst < 1e-5, worst


if __name__ == "__main__":
    main()
