"""WLSMV with continuous observed variables beside ordered ones (efficacy.sem.wls_mixed) against lavaan 0.6.14.

Reference: tests/reference/wlsmv_mixed.R -> wlsmv_mixed_hs.json, on HolzingerSwineford1939 with x1..x6 cut into
3-5 ordered categories, x7..x9 continuous, treat = sex - 1, age = ageyr, agec = age - 13 (wlsmv_mixed_hs.csv); a MIMIC
model (all indicators ordered, covariates continuous) and the outcome model on data with missing values (listwise
deletion, 234 of 301 rows; missing = "pairwise", all 301 rows) too. A fit
without exogenous covariates or with ``conditional.x = FALSE`` puts every observed variable in the joint moments
(lavaan then sets fixed.x = FALSE); the ``*_cx_true`` fits are lavaan's default for categorical data with covariates,
``conditional.x = TRUE`` (probit / linear regressions on the covariates, residual correlations).
Tolerances: sample statistics and Gamma 1e-6 (closed forms and one-dimensional ML fits: lavaan's nlminb and our
bounded search agree to ~1e-8), estimates 1e-4 absolute, SEs 1e-3 relative (the issue's bar), test statistics and
fit indices 1e-5 relative (they follow from the estimates, which agree to ~1e-6).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from efficacy.errors import DataError, SEMError
from efficacy.sem import sem

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "wlsmv_mixed_hs.json").read_text())
ORD6 = [f"x{i}" for i in range(1, 7)]
ORD3 = ["x1", "x2", "x3"]
# key -> (model, ordered, conditional_x); outcome_na: the outcome model on data with missing values (listwise)
CASES = {"cfa": ("cfa", ORD6, False), "outcome": ("outcome", ORD6, False), "med_cx_false": ("med", ORD3, False),
         "med_cov_cx_false": ("med_cov", ORD3, False), "med_cx_true": ("med", ORD3, None),
         "med_cov_cx_true": ("med_cov", ORD3, None), "out_cx_true": ("out_x", ORD6, None),
         "mimic": ("mimic", ORD6, None), "outcome_na": ("outcome", ORD6, False), "cfa_pw": ("cfa", ORD6, False),
         "med_pw": ("med", ORD3, False)}
FIT_KEYS = ["chisq", "chisq.scaled", "chisq.scaling.factor", "baseline.chisq.scaled", "cfi", "tli", "cfi.scaled",
            "tli.scaled", "rmsea", "rmsea.scaled", "rmsea.ci.upper.scaled", "srmr"]


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "wlsmv_mixed_hs.csv")


def _model(name):
    # sem() fits the model; the defined parameters (:=) are latent_mediation's business
    return "\n".join(line for line in FIX["models"][name].split("\n") if ":=" not in line)


def _with_na(data):
    """As wlsmv_mixed.R: every 7th row (from the first) misses x9, every 11th (from the third) x2, every 13th
    (from the fifth) x8."""
    d = data.copy()
    d.loc[d.index[::7], "x9"] = np.nan
    d.loc[d.index[2::11], "x2"] = np.nan
    d.loc[d.index[4::13], "x8"] = np.nan
    return d


@pytest.fixture(scope="module")
def fits(data):
    return {key: sem(_with_na(data) if key.endswith(("_na", "_pw")) else data, _model(m), estimator="WLSMV",
                     ordered=o, conditional_x=c, missing="pairwise" if key.endswith("_pw") else "listwise")
            for key, (m, o, c) in CASES.items()}


def _ours(frame, lhs, op, rhs, col="estimate"):
    m = frame[(frame.lhs == lhs) & (frame.op == op) & (frame.rhs == rhs)]
    if m.empty and op == "~~":
        m = frame[(frame.lhs == rhs) & (frame.op == op) & (frame.rhs == lhs)]
    assert len(m) == 1, (lhs, op, rhs)
    return float(m[col].iloc[0])


def _by_label(series, label):
    if label in series.index:
        return float(series[label])
    a, b = label.split("~~")
    return float(series[f"{b}~~{a}"])


@pytest.mark.parametrize("key", list(CASES))
def test_sample_statistics_and_gamma_equal_lavaan(fits, key):
    """wls.obs (thresholds, minus the means of continuous variables, their variances, polychoric / polyserial /
    Pearson covariances) and the whole NACOV (lavInspect(fit, "gamma")) as lavaan's muthen1984."""
    res, ref = fits[key], FIX[key]
    names = ref["wls_obs"]["names"]
    ours = np.array([_by_label(res.wls_obs, n) for n in names])
    np.testing.assert_allclose(ours, ref["wls_obs"]["value"], atol=1e-6)
    idx = [res.gamma.index.get_loc(n) if n in res.gamma.index else
           res.gamma.index.get_loc("~~".join(n.split("~~")[::-1])) for n in names]
    G = res.gamma.to_numpy()[np.ix_(idx, idx)]
    np.testing.assert_allclose(np.diag(G), ref["gamma_diag"]["value"], rtol=1e-6)
    if ref.get("gamma"):   # the whole matrix for three fits (wlsmv_mixed.R; {} for the others)
        np.testing.assert_allclose(G, np.array(ref["gamma"]), atol=1e-6)


@pytest.mark.parametrize("key", list(CASES))
def test_estimates_ses_and_std_all_equal_lavaan(fits, key):
    res, ref = fits[key], FIX[key]
    assert res.converged and res.estimator == "WLSMV"
    e = res.estimates
    pe = pd.DataFrame(ref["estimates"])
    pe = pe[pe.op != ":="]
    est = [_ours(e, r.lhs, r.op, r.rhs) for r in pe.itertuples()]
    se = [_ours(e, r.lhs, r.op, r.rhs, "se") for r in pe.itertuples()]
    np.testing.assert_allclose(est, pe["est"], atol=1e-4)
    free = pe["se"].to_numpy() > 0
    np.testing.assert_allclose(np.array(se)[free], pe["se"].to_numpy()[free], rtol=1e-3)
    assert np.all(np.array(se)[~free] == 0)
    ss = pd.DataFrame(ref["std"])
    ss = ss[ss.op != ":="]
    std = [_ours(e, r.lhs, r.op, r.rhs, "std_all") for r in ss.itertuples()]
    np.testing.assert_allclose(std, ss["est_std"], atol=1e-4)
    assert len(pe) == len(e)   # no extra rows (no thresholds or scaling factors for continuous variables)


@pytest.mark.parametrize("key", list(CASES))
def test_test_statistics_and_fit_indices_equal_lavaan(fits, key):
    res, ref = fits[key], FIX[key]
    f, rf = res.fit, ref["fit"]
    assert f["npar"] == rf["npar"] and f["df"] == rf["df"] and f["baseline_df"] == rf["baseline.df"]
    for k in FIT_KEYS:
        np.testing.assert_allclose(f[k], rf[k], rtol=1e-5, atol=1e-9, err_msg=k)
    np.testing.assert_allclose(f["baseline_chisq"], rf["baseline.chisq"], rtol=1e-5)
    # shift parameter b = df - a tr(UG), a = sqrt(df / tr((UG)^2)) from lavaan's traces
    t = ref["test"]
    a = np.sqrt(t["df"] / t["trace_ugamma2"])
    np.testing.assert_allclose(f["chisq.shift.parameters"], t["df"] - a * t["trace_ugamma"], rtol=1e-5)
    # lavaan reports no robust (catML) indices with continuous variables in the model
    assert np.isnan(f["cfi.robust"]) and np.isnan(f["rmsea.robust"]) and rf["cfi.robust"] is None


def test_listwise_and_pairwise_deletion_as_lavaan(fits):
    assert fits["outcome_na"].n == FIX["outcome_na"]["nobs"] == 234
    assert fits["cfa_pw"].n == FIX["cfa_pw"]["nobs"] == 301 and fits["cfa_pw"].missing == "pairwise"


def test_exogenous_covariate_gets_free_mean_and_variance(fits):
    """conditional.x = FALSE: lavaan sets fixed.x = FALSE, the treatment's mean and variance are parameters."""
    e = fits["med_cx_false"].estimates
    assert _ours(e, "treat", "~~", "treat", "se") > 0 and _ours(e, "treat", "~1", "", "se") > 0
    assert any("generalised inverse" in w for w in fits["med_cx_false"].warnings)   # binary 'continuous' variable


def test_conditional_x_statistics_are_regressions_on_the_covariates(fits):
    """conditional.x = TRUE: slopes of every endogenous variable on each covariate in the WLS statistics, the
    covariates' moments fixed at the sample values (cov.x with divisor n - 1, as lavaan), two fewer parameters."""
    res = fits["med_cx_true"]
    assert res.conditional_x and not fits["med_cx_false"].conditional_x
    assert [k for k in res.wls_obs.index if "~treat" in k] == ["x1~treat", "x2~treat", "x3~treat", "x9~treat"]
    e = res.estimates
    assert _ours(e, "treat", "~~", "treat", "se") == 0 and _ours(e, "treat", "~1", "", "se") == 0
    assert res.fit["npar"] == fits["med_cx_false"].fit["npar"] - 2


def test_all_ordered_path_unchanged(data):
    """ordered naming every observed variable still takes the all-ordered path (no wls_obs attribute)."""
    res = sem(data, "f =~ x1 + x2 + x3 + x4", ordered=["x1", "x2", "x3", "x4"])
    assert res.converged and not hasattr(res, "wls_obs")


# --------------------------------------------------------------------------- bad input


def test_ordered_variable_predicting_another_raises(data):
    with pytest.raises(SEMError, match="ordered variable cannot predict"):
        sem(data, "f =~ x1 + x2 + x3\nx9 ~ f + x4", ordered=["x1", "x2", "x3", "x4"])


def test_continuous_variable_without_variance_raises(data):
    d = data.copy()
    d["x9"] = 4.0
    with pytest.raises(DataError, match="without variance"):
        sem(d, "f =~ x1 + x2 + x3\nx9 ~ f", ordered=["x1", "x2", "x3"])


def test_fiml_with_wlsmv_raises(data):
    with pytest.raises(SEMError, match="FIML is not available with WLSMV"):
        sem(data, "f =~ x1 + x2 + x3\nx9 ~ f", ordered=["x1", "x2", "x3"], missing="fiml")


def test_pairwise_with_covariates_fits(data):
    # conditional.x = TRUE with missing = "pairwise" is lavaan's (reference: tests/test_wlsmv_condpair.py); on
    # complete data it is the listwise fit
    m = "f =~ x1 + x2 + x3\nf ~ treat\nx9 ~ f"
    pw = sem(data, m, ordered=["x1", "x2", "x3"], missing="pairwise")
    lw = sem(data, m, ordered=["x1", "x2", "x3"])
    np.testing.assert_allclose(pw.to_frame()["estimate"], lw.to_frame()["estimate"], atol=1e-8)


def test_non_numeric_continuous_variable_raises(data):
    d = data.copy()
    d["x9"] = np.where(d["x9"] > 5, "hi", "lo")
    with pytest.raises(DataError, match="must be numeric"):
        sem(d, "f =~ x1 + x2 + x3\nx9 ~ f", ordered=["x1", "x2", "x3"])


def test_constant_covariate_raises(data):
    d = data.copy()
    d["treat"] = 1.0
    with pytest.raises(DataError, match="without variance"):
        sem(d, "f =~ x1 + x2 + x3\nf ~ treat\nx9 ~ f + treat", ordered=ORD3)


# --------------------------------------------------------------------------- latent_mediation(estimator="WLSMV")


@pytest.mark.parametrize("key,covs,y,y_items", [("med_cx_true", [], "x9", None),
                                                ("med_cov_cx_true", ["age"], "x9", None),
                                                ("med_latent_y", [], "speed", ["x7", "x8", "x9"])])
def test_latent_mediation_wlsmv_equals_lavaan(data, key, covs, y, y_items):
    """a, b, c', a*b, c' + a*b, their delta-method SEs (robust vcov) and std.all equal lavaan's WLSMV fit of the
    same model (mediator items ordered; treatment, age and the outcome x9 - or the outcome factor's items x7..x9 -
    continuous; conditional.x = TRUE)."""
    from efficacy.mediation.latent import latent_mediation

    ref = FIX[key]
    pe = pd.DataFrame(ref["estimates"])
    ss = pd.DataFrame(ref["std"])
    res = latent_mediation(data, "treat", ORD3, y, covariates=covs, outcome_items=y_items, estimator="WLSMV",
                           n_boot=0, mediator_name="visual", sum_score=False)
    assert res.estimator == "WLSMV" and res.test == "scaled.shifted" and res.converged and not res.reason
    t = res.to_frame().set_index("effect")
    rows = {"a": ("visual", "~", "treat"), "b": (y, "~", "visual"), "direct": (y, "~", "treat"),
            "indirect": ("ind", ":=", "a*b"), "total": ("tot", ":=", "c+a*b")}
    for eff, key3 in rows.items():
        r = pe[(pe.lhs == key3[0]) & (pe.op == key3[1]) & (pe.rhs == key3[2])].iloc[0]
        s = ss[(ss.lhs == key3[0]) & (ss.op == key3[1]) & (ss.rhs == key3[2])].iloc[0]
        np.testing.assert_allclose(t.loc[eff, "estimate"], r.est, atol=1e-4, err_msg=eff)
        np.testing.assert_allclose(t.loc[eff, "se"], r.se, rtol=1e-3, err_msg=eff)
        np.testing.assert_allclose(t.loc[eff, "std_all"], s.est_std, atol=1e-4, err_msg=eff)
    np.testing.assert_allclose(res.indirect_std, ss.loc[ss.lhs == "ind", "est_std"].iloc[0], atol=1e-4)
    np.testing.assert_allclose(res.fit["chisq.scaled"], ref["fit"]["chisq.scaled"], rtol=1e-5)
    z = 1.959963984540054
    np.testing.assert_allclose(res.indirect_ci, (res.indirect - z * res.indirect_se, res.indirect + z * res.indirect_se))
    assert t.loc["indirect", "ci_method"] == "delta"


def test_dwls_difference_test_of_nested_mixed_models(data):
    """lavTestLRT's default for WLSMV (Satorra 2000, scaled and shifted) on two nested mixed models; the
    difference is a small number from two close fits, hence 1e-4 relative."""
    from efficacy.sem.lrt import lrt_difference

    ref = FIX["lrt"]
    f1 = sem(data, FIX["models"]["outcome"], ordered=ORD6, conditional_x=False)
    f0 = sem(data, ref["model0"], ordered=ORD6, conditional_x=False)
    out = lrt_difference(f1, f0)
    assert out["method"] == "satorra.2000" and out["delta_df"] == ref["delta_df"]
    np.testing.assert_allclose(out["delta_chisq"], ref["delta_chisq"], rtol=1e-4)
    np.testing.assert_allclose(out["pvalue"], ref["pvalue"], rtol=1e-4)


def test_non_numeric_covariate_raises(data):
    d = data.copy()
    d["treat"] = np.where(d["treat"] > 0, "girl", "boy")
    with pytest.raises(DataError, match="exogenous covariate must be numeric"):
        sem(d, "f =~ x1 + x2 + x3\nf ~ treat\nx9 ~ f + treat", ordered=ORD3)
