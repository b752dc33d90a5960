"""Manuscript tables (efficacy.tables): what the CFA fit table reports for robust estimators."""
import numpy as np
import pandas as pd

from efficacy.tables import cfa_fit_table


def _fit_rows():
    return pd.DataFrame({
        "model": ["efficacy", "esteem"], "estimator": ["WLSMV", "ML"],
        "chisq": [40.0, 12.5], "df": [9, 5], "pvalue": [1e-5, 0.03], "cfi": [0.95, 0.97], "rmsea": [0.09, 0.06],
        "rmsea_ci_low": [0.06, 0.02], "rmsea_ci_high": [0.12, 0.10], "srmr": [0.04, 0.03],
        "chisq.scaled": [25.25, np.nan], "df.scaled": [9, np.nan], "pvalue.scaled": [0.0027, np.nan],
        "cfi.robust": [0.981, np.nan], "rmsea.robust": [0.067, np.nan], "rmsea.ci.lower.robust": [0.035, np.nan],
        "rmsea.ci.upper.robust": [0.101, np.nan], "converged": [True, True], "proper": [True, True],
    })


def test_robust_rows_report_the_scaled_statistic_and_robust_indices():
    t = cfa_fit_table(_fit_rows())
    f = t.to_frame().set_index("Model")
    assert list(f.columns[:2]) == ["Estimator", "χ²"]
    assert f.loc["efficacy", "Estimator"] == "WLSMV"
    assert f.loc["efficacy", "χ²"] == "25.25"          # chisq.scaled, not the DWLS 40.00
    assert f.loc["efficacy", "CFI"] == ".981" and f.loc["efficacy", "RMSEA"] == ".067"
    assert f.loc["efficacy", "90% CI"] == "[.035, .101]"
    assert f.loc["esteem", "χ²"] == "12.50" and f.loc["esteem", "CFI"] == ".970"   # the ML row as fitted
    assert "Estimators: ML, WLSMV" in t.note and "scaled chi-square" in t.note


def test_ml_only_table_keeps_its_ml_note():
    d = _fit_rows().drop(columns=["estimator"])
    t = cfa_fit_table(d)
    assert "Estimator" not in t.columns
    assert t.note.startswith("Maximum-likelihood estimation")
    assert t.to_frame().set_index("Model").loc["efficacy", "χ²"] == "40.00"
