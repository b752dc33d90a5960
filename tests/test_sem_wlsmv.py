"""WLSMV for ordered-categorical indicators (efficacy.sem.wls) and categorical omega against lavaan / semTools.

Reference values: tests/reference/sem_wlsmv_fits.json, made by tests/reference/sem_wlsmv.R (lavaan 0.6.14,
semTools 0.5.6); the multi-group blocks are ordinal invariance by school fitted from semTools::measEq.syntax
(ID.cat = "Wu.Estabrook.2016"). Every block holds the lavaan call ("call"), its options (estimator DWLS, se "robust.sem",
test "scaled.shifted", parameterization "delta"), ``fitMeasures()``, the scaled-shifted test (statistic,
scaling factor, shift), ``parameterEstimates()`` and ``standardizedSolution()``; and, for CFAs,
``compRelSEM()`` (categorical omega). Data: Holzinger & Swineford x1..x9 cut into 3-5 categories
(categorical_hs_cut.csv) and psych's bfi agreeableness / conscientiousness items with their missing values
(categorical_bfi.csv).

Tolerances (the issue's): estimates, thresholds and standardised estimates 1e-4 absolute; SEs 1e-3 relative;
fit measures 1e-4 relative (1e-6 absolute near zero); omega 1e-5 absolute. The DWLS fit and the inference are
deterministic given the polychoric statistics, which themselves agree with lavaan to about 1e-8
(tests/test_categorical.py), so these tolerances leave a wide margin and still catch any wrong formula (a
wrong N - 1, a missing Gamma term or the diagonal instead of the full Gamma shift the SEs or the scaling
factor by far more than 1e-3).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import DataError, SEMError
from efficacy.measurement import ROBUST_FIT_KEYS, cfa
from efficacy.reliability import categorical_omega, mcdonald_omega
from efficacy.sem import sem

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "sem_wlsmv_fits.json").read_text(encoding="utf-8"))
M = R["models"]


@pytest.fixture(scope="module")
def data():
    hs = pd.read_csv(REF / "categorical_hs_cut.csv")[[f"x{i}" for i in range(1, 10)]]
    hs_g = hs.assign(school=pd.read_csv(REF / "sem_hs1939.csv")["school"])   # same row order (sem_wlsmv.R)
    return dict(hs=hs, hs_g=hs_g, bfi=pd.read_csv(REF / "categorical_bfi.csv"))


# key -> (data set, model, keyword arguments of efficacy.sem.sem); the lavaan call is R[key]["call"]
CASES = {
    "hs": ("hs", "hs", dict(auto="cfa")),                                # 3 factors, 3-5 categories
    "hs_sem": ("hs", "hs_sem", dict()),                                  # latent regression + residual covariance
    "bfi": ("bfi", "bfi", dict(auto="cfa")),                             # 6-point items, listwise (lavaan default)
    "bfi_pairwise": ("bfi", "bfi", dict(auto="cfa", missing="pairwise")),
    "c1": ("bfi", "c1", dict(auto="cfa")),                               # one factor, df = 2
}

# lavaan fitMeasures names -> ours (the engine's names for the standard ML-like entries)
FIT_KEYS = {"chisq": "chisq", "pvalue": "pvalue", "chisq.scaled": "chisq.scaled", "pvalue.scaled": "pvalue.scaled",
            "chisq.scaling.factor": "chisq.scaling.factor", "baseline.chisq": "baseline_chisq",
            "baseline.chisq.scaled": "baseline.chisq.scaled",
            "baseline.chisq.scaling.factor": "baseline.chisq.scaling.factor",
            "cfi": "cfi", "tli": "tli", "cfi.scaled": "cfi.scaled", "tli.scaled": "tli.scaled",
            "cfi.robust": "cfi.robust", "tli.robust": "tli.robust",
            "rmsea": "rmsea", "rmsea.ci.lower": "rmsea_ci_low", "rmsea.ci.upper": "rmsea_ci_high",
            "rmsea.scaled": "rmsea.scaled", "rmsea.ci.lower.scaled": "rmsea.ci.lower.scaled",
            "rmsea.ci.upper.scaled": "rmsea.ci.upper.scaled", "rmsea.robust": "rmsea.robust",
            "rmsea.ci.lower.robust": "rmsea.ci.lower.robust", "rmsea.ci.upper.robust": "rmsea.ci.upper.robust",
            "srmr": "srmr"}


@pytest.fixture(scope="module")
def fits(data):
    return {key: sem(data[d], M[m], ordered=True, **kw) for key, (d, m, kw) in CASES.items()}


def _ref_table(key):
    e = pd.DataFrame(R[key]["estimates"]).merge(pd.DataFrame(R[key]["std"]), on=["lhs", "op", "rhs", "group"])
    e["rhs"] = e["rhs"].fillna("")
    return e


@pytest.mark.parametrize("key", sorted(CASES))
def test_wlsmv_fit_measures_match_lavaan(fits, key):
    ref, res = R[key]["fit"], fits[key]
    assert res.converged and res.proper and not res.warnings, res.warnings
    assert res.fit["df"] == ref["df"] and res.fit["df.scaled"] == ref["df.scaled"]
    assert res.fit["npar"] == ref["npar"] and res.n == ref["ntotal"] == R[key]["nobs"]
    assert res.fit["baseline_df"] == ref["baseline.df"]
    for k_ref, k in FIT_KEYS.items():
        assert_allclose(res.fit[k], ref[k_ref], rtol=1e-4, atol=1e-6, err_msg=f"{key}: {k_ref}")


@pytest.mark.parametrize("key", sorted(CASES))
def test_wlsmv_scaled_shifted_test_matches_lavaan(fits, key):
    t, res = R[key]["test"], fits[key]
    assert_allclose(res.fit["chisq"], t["standard"], rtol=1e-4)
    assert_allclose(res.fit["chisq.scaled"], t["stat"], rtol=1e-4)
    assert_allclose(res.fit["chisq.scaling.factor"], t["scaling_factor"], rtol=1e-4)
    assert_allclose(res.fit["chisq.shift.parameters"], t["shift_parameter"], rtol=1e-4, atol=1e-6)
    # the scaled statistic is T / scaling factor + shift (lavaan's definition)
    assert_allclose(res.fit["chisq"] / res.fit["chisq.scaling.factor"] + res.fit["chisq.shift.parameters"],
                    res.fit["chisq.scaled"], rtol=1e-12)


@pytest.mark.parametrize("key", sorted(CASES))
def test_wlsmv_estimates_thresholds_and_ses_match_lavaan(fits, key):
    ref = _ref_table(key)
    ours = fits[key].estimates.assign(rhs=lambda d: d["rhs"].fillna("")).set_index(["lhs", "op", "rhs"])
    assert len(ours) == len(ref)
    assert set(ref["op"]) == {"=~", "|", "~~", "~*~", "~1"} | ({"~"} if key == "hs_sem" else set())
    for _, r in ref.iterrows():
        o = ours.loc[(r["lhs"], r["op"], r["rhs"])]
        where = f"{key}: {r['lhs']} {r['op']} {r['rhs']}"
        assert_allclose(o["estimate"], r["est"], atol=1e-4, err_msg=where)
        assert_allclose(o["std_all"], r["est_std"], atol=1e-4, err_msg=where)
        if r["se"] > 0:
            assert_allclose(o["se"], r["se"], rtol=1e-3, err_msg=where)
        else:   # fixed (markers, scaling factors, intercepts) or derived (residual variances of items)
            assert o["se"] == 0 and o["free"] == 0, where


def test_wlsmv_result_says_what_was_used(fits):
    res = fits["hs"]
    assert (res.estimator, res.test, res.information, res.se_type) == ("WLSMV", "scaled.shifted", "expected",
                                                                       "robust.sem")
    assert fits["bfi_pairwise"].missing == "pairwise" and res.missing == "listwise"
    th = res.estimates[res.estimates["op"] == "|"]
    assert list(th.loc[th["lhs"] == "x3", "rhs"]) == ["t1", "t2", "t3", "t4"]     # x3 has 5 categories
    assert (th["free"] > 0).all() and len(th) == 27   # 2 + 3 + 4 + 2 + 3 + 4 + 2 + 3 + 4
    assert "x1|t1" in res.vcov.index and res.vcov.shape == (39, 39)
    d = res.estimates.set_index(["lhs", "op", "rhs"])
    # delta parameterisation: residual variance = 1 - explained variance, scaling factors fixed at 1
    lam = d.loc[("visual", "=~", "x2"), "estimate"]
    phi = d.loc[("visual", "~~", "visual"), "estimate"]
    assert_allclose(d.loc[("x2", "~~", "x2"), "estimate"], 1 - lam ** 2 * phi, rtol=1e-10)
    assert (res.estimates.loc[res.estimates["op"] == "~*~", "estimate"] == 1).all()
    assert np.isnan(res.loglik)


def test_ordered_implies_wlsmv_and_ordered_list(data):
    a = sem(data["hs"], M["hs"], auto="cfa", ordered=[f"x{i}" for i in range(1, 10)])
    b = sem(data["hs"], M["hs"], auto="cfa", ordered=True, estimator="wlsmv")
    assert a.estimator == b.estimator == "WLSMV"
    assert_allclose(a.fit["chisq.scaled"], b.fit["chisq.scaled"], rtol=1e-12)


def test_cfa_passes_wlsmv_through(data):
    res = cfa(data["bfi"], {"agree": [f"A{i}" for i in range(1, 6)], "consc": [f"C{i}" for i in range(1, 6)]},
              ordered=True)
    ref = R["bfi"]["fit"]
    assert res.converged and res.sem.estimator == "WLSMV"
    for k in ROBUST_FIT_KEYS:
        assert k in res.fit, k
    for k in ("chisq", "cfi", "tli", "rmsea", "srmr", "chisq.scaled", "cfi.robust", "rmsea.robust", "tli.scaled"):
        assert_allclose(res.fit[k], ref[k], rtol=1e-4, err_msg=k)
    assert_allclose(res.fit["chisq.shift.parameters"], R["bfi"]["test"]["shift_parameter"], rtol=1e-4)
    assert (res.estimates["op"] == "|").sum() == 50


@pytest.mark.parametrize("key", ["hs", "bfi", "c1"])
def test_categorical_omega_matches_comprelsem(data, key):
    d = CASES[key][0]
    om = categorical_omega(data[d], M[CASES[key][1]]).omega
    ref = R[key]["omega"]
    assert list(om.index) == list(ref)
    assert_allclose(om.to_numpy(), [ref[f] for f in om.index], atol=1e-5)


def test_mcdonald_omega_ordinal_matches_comprelsem(data):
    res = mcdonald_omega(data["bfi"], [f"A{i}" for i in range(2, 6)], ordinal=True)
    assert_allclose(res.omega_total, R["c1"]["omega"]["agree"], atol=1e-5)
    assert res.n == R["c1"]["nobs"] and res.k == 4 and res.converged and res.proper
    assert np.isnan(res.ci_low) and np.isnan(res.omega_h)
    # the continuous (ML) omega of the same items differs: ordinal omega is a different coefficient
    assert abs(mcdonald_omega(data["bfi"], [f"A{i}" for i in range(2, 6)], n_boot=0).omega_total
               - res.omega_total) > 1e-3


def test_mcdonald_omega_ordinal_constant_item_is_nan_with_reason(data):
    d = data["bfi"][["A2", "A3", "A4"]].assign(A6=3)
    res = mcdonald_omega(d, ordinal=True)
    assert np.isnan(res.omega_total) and "zero-variance" in res.reason


# ----------------------------------------------------------------------------------------------- multi-group

# ordinal invariance by school: key -> equal, partial (lavaan: measEq.syntax(ID.cat = "Wu.Estabrook.2016",
# ID.fac = "std.lv") fitted with WLSMV; efficacy identifies the factors by marker variables instead)
MG_CASES = {
    "mg_configural": ((), ()),
    "mg_loadings": (("loadings",), ()),
    "mg_thresholds": (("thresholds",), ()),
    "mg_metric": (("thresholds", "loadings"), ()),
    "mg_scalar": (("thresholds", "loadings", "intercepts"), ()),
    "mg_scalar_partial": (("thresholds", "loadings", "intercepts"), ("x3 ~ 1",)),
    "mg_lavaan_default": ((), ()),        # plain cfa(group = "school", ordered = ...): lavaan's own configural
}


@pytest.fixture(scope="module")
def mg_fits(data):
    return {key: sem(data["hs_g"], M["hs"], auto="cfa", ordered=True, group="school", equal=eq, partial=pa)
            for key, (eq, pa) in MG_CASES.items()}


@pytest.mark.parametrize("key", sorted(MG_CASES))
def test_wlsmv_multigroup_fit_matches_lavaan(mg_fits, key):
    ref, res = R[key]["fit"], mg_fits[key]
    assert res.converged and res.proper and not res.warnings, res.warnings
    assert res.fit["df"] == ref["df"] and res.fit["npar"] == ref["npar"] and res.fit["ngroups"] == 2
    assert res.n == ref["ntotal"] == sum(R[key]["nobs"])
    for k_ref, k in FIT_KEYS.items():
        if ref[k_ref] is None:   # lavaan 0.6.14: no robust indices when thresholds are constrained across groups
            assert np.isnan(res.fit[k]), f"{key}: {k_ref}"
        else:
            assert_allclose(res.fit[k], ref[k_ref], rtol=1e-4, atol=1e-6, err_msg=f"{key}: {k_ref}")
    assert_allclose(res.fit["chisq.shift.parameters"], R[key]["test"]["shift_parameter"], rtol=1e-4)


@pytest.mark.parametrize("key", sorted(MG_CASES))
def test_wlsmv_multigroup_estimates_match_lavaan(mg_fits, key):
    """Thresholds, scaling factors and latent-response intercepts (the same under marker or std.lv
    identification): estimates and SEs; every row's fully standardised estimate."""
    ref = _ref_table(key)
    ours = mg_fits[key].estimates.assign(rhs=lambda d: d["rhs"].fillna("")).set_index(["lhs", "op", "rhs", "group"])
    assert len(ours) == len(ref)
    for _, r in ref.iterrows():
        o = ours.loc[(r["lhs"], r["op"], r["rhs"], r["group"])]
        where = f"{key}: {r['lhs']} {r['op']} {r['rhs']} (group {r['group']})"
        assert_allclose(o["std_all"], r["est_std"], atol=1e-4, err_msg=where)
        if r["op"] in ("|", "~*~") or (r["op"] == "~1" and r["lhs"].startswith("x")):
            assert_allclose(o["estimate"], r["est"], atol=1e-4, err_msg=where)
            if r["se"] > 0:
                assert_allclose(o["se"], r["se"], rtol=1e-3, err_msg=where)
            else:
                assert o["free"] == 0, where


def test_wlsmv_multigroup_wu_estabrook_layout(mg_fits):
    est = mg_fits["mg_scalar_partial"].estimates.set_index(["lhs", "op", "rhs", "group"])
    # thresholds equal across groups (one parameter), scaling factors free in group 2 only
    assert est.loc[("x2", "|", "t1", 1), "free"] == est.loc[("x2", "|", "t1", 2), "free"] > 0
    assert est.loc[("x2", "~*~", "x2", 1), "free"] == 0 and est.loc[("x2", "~*~", "x2", 2), "free"] > 0
    # intercepts 0 except the partial one (free in group 2); latent means free in group 2
    assert est.loc[("x2", "~1", "", 2), "free"] == 0 and est.loc[("x3", "~1", "", 2), "free"] > 0
    assert est.loc[("visual", "~1", "", 1), "free"] == 0 and est.loc[("visual", "~1", "", 2), "free"] > 0
    assert list(mg_fits["mg_scalar"].estimates["group_level"].unique()) == ["Pasteur", "Grant-White"]


def test_cfa_multigroup_wlsmv(data):
    res = cfa(data["hs_g"], M["hs"], group="school", equal=("thresholds", "loadings"), ordered=True)
    assert_allclose(res.fit["chisq.scaled"], R["mg_metric"]["fit"]["chisq.scaled"], rtol=1e-4)
    assert np.isnan(res.fit["cfi.robust"])


def test_empty_category_in_a_group_raises(data):
    d = data["hs_g"].copy()
    d.loc[(d["school"] == "Pasteur") & (d["x3"] == 5), "x3"] = 4     # category 5 of x3 now empty at Pasteur
    with pytest.raises(DataError, match="empty category"):
        sem(d, M["hs"], auto="cfa", ordered=True, group="school")


def test_multigroup_equal_types_checked(data):
    with pytest.raises(SEMError, match="delta parameterisation"):
        sem(data["hs_g"], M["hs"], auto="cfa", ordered=True, group="school", equal=("thresholds", "residuals"))
    with pytest.raises(SEMError, match="need equal thresholds"):
        sem(data["hs_g"], M["hs"], auto="cfa", ordered=True, group="school", equal=("loadings", "intercepts"))


# ----------------------------------------------------------------------------------------------- bad input


def test_single_category_item_raises(data):
    d = data["hs"].assign(x3=2)
    with pytest.raises(DataError, match="single observed category"):
        sem(d, M["hs"], auto="cfa", ordered=True)


def test_more_than_20_categories_raises(data):
    d = data["hs"].copy()
    d["x2"] = np.arange(len(d)) % 25
    with pytest.raises(DataError, match="more than 20 categories"):
        sem(d, M["hs"], auto="cfa", ordered=True)


def test_ordered_naming_a_column_not_in_the_model_raises(data):
    with pytest.raises(SEMError, match="not observed variables of the model"):
        sem(data["hs"], M["hs"], auto="cfa", ordered=[f"x{i}" for i in range(1, 10)] + ["x10"])


def test_ordered_naming_some_indicators_fits_a_mixed_model(data):
    """Continuous indicators beside ordered ones are fitted (efficacy.sem.wls_mixed; checked against lavaan in
    tests/test_wlsmv_mixed.py); they get no thresholds and no scaling factor."""
    res = sem(data["hs"], M["hs"], auto="cfa", ordered=["x1", "x2"])
    e = res.estimates
    assert res.converged and set(e.loc[e.op == "|", "lhs"]) == {"x1", "x2"}
    assert set(e.loc[e.op == "~*~", "lhs"]) == {"x1", "x2"}


def test_ordered_with_ml_or_fiml_raises(data):
    with pytest.raises(SEMError, match="need the WLSMV estimator"):
        sem(data["hs"], M["hs"], auto="cfa", ordered=True, estimator="ML")
    with pytest.raises(SEMError, match="missing-data method"):
        sem(data["hs"], M["hs"], auto="cfa", ordered=True, missing="fiml")


def test_residual_variance_of_ordered_item_is_not_a_parameter(data):
    with pytest.raises(SEMError, match="delta"):
        sem(data["hs"], M["hs"] + "\nx1 ~~ x1", auto="cfa", ordered=True)
