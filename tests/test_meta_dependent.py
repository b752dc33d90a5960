"""Dependent effect sizes (``efficacy.meta.dependent``) against metafor + clubSandwich.

Fixtures: ``tests/reference/meta_dependent_{assink,konstantopoulos}.json`` written by
``tests/reference/meta_dependent.R`` (metafor 3.8.1, clubSandwich 0.5.8): for r = 0 and
0.2, ..., 0.8 and with / without a moderator, ``V <- vcalc(vi, cluster = study, obs = esid,
rho = r)`` (checked equal to ``impute_covariance_matrix``), ``rma.mv(yi, V, mods, random =
~ 1 | study/esid)`` (nlminb, rel.tol 1e-10), ``coef_test(vcov = "CR2")`` / ``conf_int()`` /
``vcovCR()``, the variance shares of Cheung (2014) computed in R from the fit, and
``anova(full, reduced)`` with each level's variance fixed at 0.
Tolerance: 1e-4 relative (the issue's bar for iterative estimates); our REML optimum is
solved to 1e-10 and R's to nlminb's relative tolerance, so most numbers agree to ~1e-7.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.meta.dependent import che, che_sensitivity, impute_covariance
from efficacy.errors import DataError
from efficacy.meta import three_level
from efficacy.meta.multilevel import _cr2_vcov

REF = Path(__file__).parent / "reference"
RTOL = 1e-4
ATOL = 1e-9  # only for values that are 0 in exact arithmetic (a variance fixed at 0)
MODS = {"none": None, "deltype": "deltype", "yc": "yc"}


def _load(name):
    f = json.loads((REF / f"meta_dependent_{name}.json").read_text())
    return f, pd.DataFrame(f["data"])


FIX = {name: _load(name) for name in ("assink", "konstantopoulos")}


@pytest.fixture(scope="module")
def sens():
    """One batched sensitivity run per data set and moderator set, over every r in the fixture."""
    out = {}
    for name, (f, d) in FIX.items():
        for mods in sorted({rec["mods"] for rec in f["fits"]}):
            rs = [rec["r"] for rec in f["fits"] if rec["mods"] == mods]
            s = che_sensitivity(d, "yi", "vi", "study", "esid", r=rs, mods=MODS[mods])
            out[name, mods] = {fit.r: fit for fit in s.fits}
    return out


CASES = [(name, i) for name, (f, _) in FIX.items() for i in range(len(f["fits"]))]


@pytest.mark.parametrize("name,i", CASES,
                         ids=[f"{n}-{FIX[n][0]['fits'][i]['mods']}-r{FIX[n][0]['fits'][i]['r']}" for n, i in CASES])
def test_che_matches_rma_mv_and_clubsandwich(sens, name, i):
    rec = FIX[name][0]["fits"][i]
    fit = sens[name, rec["mods"]][rec["r"]]
    assert fit.converged, fit.reason
    assert (fit.k, fit.n_studies) == (rec["k"], rec["n_studies"])
    close = lambda ours, ref: assert_allclose(ours, ref, rtol=RTOL, atol=ATOL, err_msg=rec["call"])
    t = fit.coef_table
    close(fit.sigma2, rec["sigma2"])
    close(fit.logLik, rec["logLik"])
    close(t["estimate"], rec["coef"])
    close(t["se"], rec["se"])
    close(t["statistic"], rec["zval"])
    close(t["pvalue"], rec["pval"])
    close(t["ci_low"], rec["ci_lb"])
    close(t["ci_high"], rec["ci_ub"])
    close([fit.QE, fit.QE_pvalue], [rec["QE"], rec["QEp"]])
    cr2 = rec["CR2"]
    close(t["se_cr2"], cr2["se"])
    close(t["statistic_cr2"], cr2["tstat"])
    close(t["df_cr2"], cr2["df"])
    close(t["pvalue_cr2"], cr2["pval"])
    close(t["ci_low_cr2"], cr2["ci_lb"])
    close(t["ci_high_cr2"], cr2["ci_ub"])
    close(fit.vcov_cr2, np.atleast_2d(cr2["vcov"]))
    var = fit.variance.set_index("level")
    close(fit.typical_v, rec["typical_v"])
    close(var.loc[["sampling", "within", "between"], "share"],
          [rec["shares"]["sampling"], rec["shares"]["within"], rec["shares"]["between"]])
    for level in ("between", "within"):
        close([var.loc[level, "LRT"], var.loc[level, "pvalue"]],
              [rec["lrt"][level]["LRT"], rec["lrt"][level]["pval"]])


def test_che_single_fit_equals_sensitivity_row(sens):
    _, d = FIX["assink"]
    fit = che(d, "yi", "vi", "study", "esid", r=0.6, mods="deltype")
    ref = sens["assink", "deltype"][0.6]
    assert_allclose(fit.coef_table.select_dtypes("number"), ref.coef_table.select_dtypes("number"), rtol=1e-8)
    assert "CR2" in fit.summary() and "between" in fit.summary()
    json.dumps(fit.to_dict())
    tidy = fit.to_frame()
    assert {"estimate", "se", "statistic", "df", "pvalue", "ci_low", "ci_high"} <= set(tidy.columns)
    assert list(tidy["vcov"].unique()) == ["CR2", "model"]
    assert fit.se == pytest.approx(ref.coef_table["se_cr2"].iloc[0])


def test_sensitivity_table(sens):
    _, d = FIX["konstantopoulos"]
    s = che_sensitivity(d, "yi", "vi", "study", "esid")
    assert_allclose(s.r, np.arange(0.2, 0.81, 0.1))
    tab = s.to_frame()
    assert len(tab) == 7 and (tab["converged"]).all()
    lo, hi = s.estimate_range
    assert lo <= s.estimate.min() + 1e-15 and hi >= s.estimate.max() - 1e-15
    json.dumps(s.to_dict())
    assert "estimate ranges" in s.summary()


def test_r_zero_is_three_level():
    """With r = 0 the CHE model is the three-level model (efficacy.meta.three_level)."""
    _, d = FIX["konstantopoulos"]
    a = che(d, "yi", "vi", "study", "esid", r=0.0, mods="yc")
    b = three_level(d, "yi", "vi", "study", "esid", mods=["yc"], robust=True)
    cols = ["estimate", "se", "se_cr2", "df_cr2", "pvalue_cr2"]
    assert_allclose(a.coef_table[cols], b.coef_table[cols], rtol=1e-6)


def test_blockwise_cr2_equals_dense(sens):
    """The block-wise CR2 and Satterthwaite df equal efficacy.meta.multilevel._cr2_vcov on the k x k matrices."""
    _, d = FIX["assink"]
    fit = sens["assink", "deltype"][0.6]
    s1, s2 = fit.sigma2
    st = d["study"].to_numpy()
    Phi = impute_covariance(vi=d["vi"], study=st, r=0.6) + s1 * (st[:, None] == st[None, :]) + s2 * np.eye(len(d))
    X = np.column_stack([np.ones(len(d)), d["deltype"] == "general", d["deltype"] == "overt"]).astype(float)
    W = np.linalg.inv(Phi)
    e = d["yi"].to_numpy() - X @ fit.coef_table["estimate"].to_numpy()
    vc, df = _cr2_vcov(X, W, Phi, e, st)
    assert_allclose(fit.vcov_cr2, vc, rtol=1e-8)
    assert_allclose(fit.coef_table["df_cr2"], df, rtol=1e-8)


def test_impute_covariance():
    V = impute_covariance(vi=[0.04, 0.09, 0.01, 0.16], study=[1, 1, 2, 1], r=0.5)
    expect = np.array([[0.04, 0.03, 0, 0.04], [0.03, 0.09, 0, 0.06], [0, 0, 0.01, 0], [0.04, 0.06, 0, 0.16]])
    assert_allclose(V, expect, rtol=1e-14)
    d = pd.DataFrame({"v": [0.04, 0.09], "s": ["a", "a"]})
    assert_allclose(impute_covariance(d, "v", "s", r=0.2)[0, 1], 0.2 * 0.06)


def test_missing_values_dropped():
    _, d = FIX["konstantopoulos"]
    d2 = d.copy()
    d2.loc[3, "yc"] = np.nan
    fit = che(d2, "yi", "vi", "study", "esid", r=0.6, mods="yc")
    ref = che(d2.drop(index=3), "yi", "vi", "study", "esid", r=0.6, mods="yc")
    assert fit.dropped == 1 and fit.k == 55
    assert_allclose(fit.coef_table["estimate"], ref.coef_table["estimate"], rtol=1e-10)


@pytest.mark.parametrize("r", [1.0, -1.0, 1.5, np.nan])
def test_bad_r(r):
    _, d = FIX["konstantopoulos"]
    with pytest.raises(DataError, match="between -1 and 1") as err:
        che(d, "yi", "vi", "study", "esid", r=r)
    assert err.value.where == "r"
    with pytest.raises(DataError, match="between -1 and 1"):
        che_sensitivity(d, "yi", "vi", "study", "esid", r=[0.2, r])


def test_r_too_negative_for_largest_study():
    _, d = FIX["assink"]  # the largest study has 22 effects: V is positive definite only for r > -1/21
    with pytest.raises(DataError, match="not positive definite"):
        che(d, "yi", "vi", "study", "esid", r=-0.2)


def test_too_few_effects_for_moderators():
    d = pd.DataFrame({"study": [1, 1, 2], "yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.01],
                      "x1": [1.0, 2.0, 3.0], "x2": [0.5, 0.1, 0.9], "x3": [2.0, 0.0, 1.0]})
    with pytest.raises(DataError, match="moderators \\+ 2"):
        che(d, mods=["x1", "x2", "x3"])


def test_other_bad_input():
    d = pd.DataFrame({"study": [1, 1, 1], "yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.01]})
    with pytest.raises(DataError, match="fewer than two studies"):
        che(d)
    d = pd.DataFrame({"study": [1, 1, 2, 2], "es": [1, 1, 1, 2], "yi": [0.1, 0.3, 0.2, 0.0],
                      "vi": [0.01, 0.02, 0.01, 0.02]})
    with pytest.raises(DataError, match="es_id is not unique"):
        che(d, es_id="es")
    d["vi"] = [0.01, 0.0, 0.01, 0.02]
    with pytest.raises(DataError, match="positive"):
        che(d)
    with pytest.raises(DataError, match="column .effect.: no such column"):
        che(d, yi="effect")
