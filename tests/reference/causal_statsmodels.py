"""Reference values for tests/test_causal.py from statsmodels.stats.mediation.Mediation.

R's `mediation` is not installable here; statsmodels' Mediation implements the same Imai, Keele & Tingley
(2010) simulation (its own tests compare it with the R package on the framing data). This script runs it
with many replications on tests/reference/causal_framing.csv and writes
tests/reference/causal_statsmodels_framing.json: for each configuration the summary table plus the SD of
the simulated draws of each effect (used by the tests to set Monte Carlo tolerances).

Run from the repository root:  .venv/bin/python tests/reference/causal_statsmodels.py   (about 2 minutes)

Known differences from R / efficacy.mediation.causal (all within Monte Carlo error of the estimands):
statsmodels draws independent mediator errors for M(0) and M(1) (R shares them), its bootstrap resamples
the two models with independent indices (R uses one resample for both), and its bootstrap point estimates
are the means of the resampled effects (R: the original-data estimate).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.api as sm
from statsmodels.stats.mediation import Mediation

HERE = Path(__file__).resolve().parent
COVS = "age + educ + gender + income"
NAMES = {  # statsmodels summary label -> efficacy.mediation.causal effect name
    "ACME (control)": "acme_control", "ACME (treated)": "acme_treated", "ACME (average)": "acme_average",
    "ADE (control)": "ade_control", "ADE (treated)": "ade_treated", "ADE (average)": "ade_average",
    "Total effect": "total", "Prop. mediated (control)": "prop_mediated_control",
    "Prop. mediated (treated)": "prop_mediated_treated", "Prop. mediated (average)": "prop_mediated_average",
}
CONFIGS = {
    # name: (outcome formula, family or None for OLS, method, n_rep)
    "probit": ("cong_mesg ~ emo + treat + " + COVS, "probit", "parametric", 4000),
    "logit": ("cong_mesg ~ emo + treat + " + COVS, "logit", "parametric", 4000),
    "probit_interaction": ("cong_mesg ~ emo * treat + " + COVS, "probit", "parametric", 2000),
    "linear": ("immigr ~ emo + treat + " + COVS, None, "parametric", 4000),
    "probit_bootstrap": ("cong_mesg ~ emo + treat + " + COVS, "probit", "bootstrap", 1000),
}


def run(data, formula, family, method, n_rep, seed):
    if family is None:
        out = sm.OLS.from_formula(formula, data)
    else:
        link = sm.families.links.Probit() if family == "probit" else sm.families.links.Logit()
        out = sm.GLM.from_formula(formula, data, family=sm.families.Binomial(link=link))
    med = sm.OLS.from_formula("emo ~ treat + " + COVS, data)
    fit = Mediation(out, med, "treat", "emo").fit(method=method, n_rep=n_rep, rng=np.random.default_rng(seed))
    smry = fit.summary()
    draws = {
        "acme_control": fit.ACME_ctrl, "acme_treated": fit.ACME_tx, "acme_average": fit.ACME_avg,
        "ade_control": fit.ADE_ctrl, "ade_treated": fit.ADE_tx, "ade_average": fit.ADE_avg,
        "total": fit.total_effect, "prop_mediated_control": fit.prop_med_ctrl,
        "prop_mediated_treated": fit.prop_med_tx, "prop_mediated_average": fit.prop_med_avg,
    }
    table = {}
    for label, name in NAMES.items():
        r = smry.loc[label]
        table[name] = {"estimate": float(r["Estimate"]), "ci_low": float(r["Lower CI bound"]),
                       "ci_high": float(r["Upper CI bound"]), "p_value": float(r["P-value"]),
                       "sd_draws": float(np.std(draws[name], ddof=1))}
    return table


def main():
    data = pd.read_csv(HERE / "causal_framing.csv")
    result = {"source": {
        "tool": "statsmodels.stats.mediation.Mediation(outcome_model, mediator_model, 'treat', 'emo')"
                ".fit(method, n_rep, rng=numpy.random.default_rng(seed))",
        "statsmodels": statsmodels.__version__, "numpy": np.__version__, "pandas": pd.__version__,
        "mediator_model": "OLS.from_formula('emo ~ treat + " + COVS + "')",
        "data": "tests/reference/causal_framing.csv", "script": "tests/reference/causal_statsmodels.py"},
        "configs": {}}
    for i, (name, (formula, family, method, n_rep)) in enumerate(CONFIGS.items()):
        t0 = time.perf_counter()
        table = run(data, formula, family, method, n_rep, seed=20260 + i)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)
        result["configs"][name] = {"outcome_formula": formula, "family": family or "gaussian (OLS)",
                                   "method": method, "n_rep": n_rep, "seed": 20260 + i, "effects": table}
    path = HERE / "causal_statsmodels_framing.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
