"""Mixed WLSMV with exogenous covariates (conditional.x = TRUE) and ``missing="pairwise"`` against lavaan 0.6.14.

Reference: tests/reference/wlsmv_condpair.R -> wlsmv_condpair_hs.json, on wlsmv_mixed_hs.csv with missing values in
ordered (x1, x2) and continuous (x8, x9) outcomes; ``ord_xna`` also misses the covariate x7 in 16 rows, which lavaan
drops (fixed.x = TRUE). Each probit / linear regression on the covariates uses the rows where its variable is observed,
each residual correlation the rows where both are, casewise scores are zero where a variable is missing.
Tolerances: sample statistics and the Gamma diagonal 1e-6 (closed forms and one-dimensional ML fits agree with
lavaan to ~1e-8), estimates 1e-4 absolute, SEs 1e-3 relative, chi-square (plain and scaled-shifted) 1e-5 relative.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from efficacy.sem import sem

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "wlsmv_condpair_hs.json").read_text())
ORD3 = ["x1", "x2", "x3"]
CASES = {"ord": "ord", "ord_xna": "ord", "mix": "mix"}


def _with_na(data, x_na=False):
    """As wlsmv_condpair.R (R's seq(a, n, by = k) = rows a-1, a-1+k, ... here)."""
    d = data.copy()
    d.loc[d.index[2::11], "x2"] = np.nan
    d.loc[d.index[0::7], "x9"] = np.nan
    d.loc[d.index[1::17], "x1"] = np.nan
    d.loc[d.index[4::13], "x8"] = np.nan
    if x_na:
        d.loc[d.index[3::19], "x7"] = np.nan
    return d


@pytest.fixture(scope="module")
def fits():
    data = pd.read_csv(REF / "wlsmv_mixed_hs.csv")
    return {key: sem(_with_na(data, key == "ord_xna"), FIX["models"][m], estimator="WLSMV", ordered=ORD3,
                     missing="pairwise") for key, m in CASES.items()}


def _ref_frame(key):
    e = FIX[key]["estimates"]
    return pd.DataFrame({"lhs": e["lhs"], "op": e["op"], "rhs": e["rhs"], "est": e["est"], "se": e["se"]})


@pytest.mark.parametrize("key", list(CASES))
def test_sample_statistics_and_gamma(fits, key):
    res, ref = fits[key], FIX[key]
    names = ref["wls_obs"]["names"]
    assert sorted(res.wls_obs.index) == sorted(names)
    np.testing.assert_allclose(res.wls_obs.reindex(names).to_numpy(), ref["wls_obs"]["value"], rtol=1e-6, atol=1e-7)
    g = np.diag(res.gamma.reindex(index=names, columns=names).to_numpy())
    np.testing.assert_allclose(g, ref["gamma_diag"]["value"], rtol=1e-6)


@pytest.mark.parametrize("key", list(CASES))
def test_estimates_and_ses(fits, key):
    fr = fits[key].to_frame()
    ref = _ref_frame(key)
    ref = ref[ref["op"].isin(["=~", "~", "|", "~~"]) & (ref["se"] > 0)]
    ours = fr.set_index(["lhs", "op", "rhs"])
    for r in ref.itertuples():
        row = ours.loc[(r.lhs, r.op, r.rhs)]
        assert row["estimate"] == pytest.approx(r.est, abs=1e-4), (r.lhs, r.op, r.rhs)
        assert row["se"] == pytest.approx(r.se, rel=1e-3), (r.lhs, r.op, r.rhs)
    assert len(ref) >= 10


@pytest.mark.parametrize("key", list(CASES))
def test_tests_and_n(fits, key):
    res, ref = fits[key], FIX[key]
    assert res.fit["n"] == ref["nobs"]
    for k in ("chisq", "chisq.scaled", "chisq.scaling.factor"):
        assert res.fit[k] == pytest.approx(ref["fit"][k], rel=1e-5), k
    assert res.fit["df"] == ref["fit"]["df"]


def test_covariate_rows_dropped_with_a_warning(fits):
    assert FIX["ord_xna"]["nobs"] == 301 - 16
    assert any("exogenous covariate" in w for w in fits["ord_xna"].warnings)
