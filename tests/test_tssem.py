"""Two-stage MASEM (efficacy.meta.tssem) against metafor and lavaan on Craft et al. (2003).

Fixtures: ``tests/reference/tssem_craft.json`` written by ``tests/reference/tssem.R``:
stage 1 = ``metafor::rma.mv(yi, V, mods = ~ var1.var2 - 1, random = ~ var1.var2 | study,
struct = "UN"/"DIAG", method = "REML"/"ML")`` on ``rcalc()`` covariances; stage 2 = ``lavaan::sem(...,
sample.cov = pooled R, NACOV = (N - 1) * acov, WLS.V = solve(NACOV), estimator = "WLS")`` with the
residual variances constrained to 1 - explained variance, fit indices by metaSEM's formulas, and
likelihood-based CIs by profiling lavaan refits with ``uniroot``.

Tolerances: stage 2 from the same pooled matrix is a deterministic WLS problem solved to machine
precision on our side; lavaan meets the unit-diagonal constraints only to ~1e-8, so 1e-5 relative. Stage 1 REML/ML
estimates are iterative: 1e-6 relative where R converged with ``rel.tol = 1e-12``; where nlminb
refused that tolerance (a tau2 on the boundary, or a flat likelihood) R used metafor's defaults,
good to about 1e-5 relative, so 1e-4 there. The likelihood-based limits in R come from ``uniroot``
(tol 1e-10) over lavaan refits with the same ~1e-8 constraint slack: 1e-5 relative or 2e-7 absolute.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import MetaError
from efficacy.meta import run_analysis
from efficacy.meta.tssem import (
    TSSEM1Result,
    TSSEMResult,
    _CorrModel,
    tssem,
    tssem1,
    tssem2,
)

REF = Path(__file__).parent / "reference"
ROOT = Path(__file__).parents[1]
FIX = json.loads((REF / "tssem_craft.json").read_text())
VN = FIX["variables"]
CRAFT = pd.read_csv(ROOT / "data" / "literature" / "craft2003.csv")

STAGE1 = {"individual_UN_REML": ("individual", "UN", "REML"), "weighted_UN_REML": ("weighted", "UN", "REML"),
          "weighted_DIAG_ML": ("weighted", "DIAG", "ML")}
STAGE2 = {"individual_partial": "individual_UN_REML", "individual_full": "individual_UN_REML",
          "individual_misfit": "individual_UN_REML", "weighted_full": "weighted_UN_REML"}


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float)


@pytest.fixture(scope="module")
def stage1_fits():
    return {key: tssem1(CRAFT, acov=a, struct=s, method=m) for key, (a, s, m) in STAGE1.items()}


def _given_stage1(ref1):
    """The pooled matrix and its covariance exactly as R computed them (the input lavaan saw)."""
    R = np.eye(len(VN))
    for lab, v in zip(ref1["pairs"], ref1["coef"]):
        a, b = lab.split(".")
        R[VN.index(a), VN.index(b)] = R[VN.index(b), VN.index(a)] = v
    return {"R": pd.DataFrame(R, index=VN, columns=VN),
            "acov": pd.DataFrame(ref1["vcov"], index=ref1["pairs"], columns=ref1["pairs"]), "n": ref1["n_total"]}


@pytest.fixture(scope="module")
def stage2_fits():
    return {key: tssem2(_given_stage1(FIX["stage1"][s1]), FIX["stage2"][key]["model"]) for key, s1 in STAGE2.items()}


# ----------------------------------------------------------------------------- stage 1 vs rma.mv
@pytest.mark.parametrize("key", list(STAGE1))
def test_stage1_matches_rma_mv(stage1_fits, key):
    ref = FIX["stage1"][key]
    s1 = stage1_fits[key]
    tight = ref["control"] != "default"
    rtol = 1e-6 if tight else 1e-4
    assert s1.converged
    assert list(s1.pooled["pair"]) == ref["pairs"]
    assert s1.k == len(ref["studies"]) and s1.n_obs == ref["k"] and s1.n_total == ref["n_total"]
    assert_allclose(s1.pooled["estimate"], ref["coef"], rtol=rtol)
    assert_allclose(s1.pooled["se"], ref["se"], rtol=rtol)
    assert_allclose(s1.acov.to_numpy(), np.array(ref["vcov"]), rtol=10 * rtol, atol=1e-10)
    # a tau2 on the boundary: R stops at ~1e-11, we at ~1e-14
    assert_allclose(s1.pooled["tau2"], ref["tau2"], rtol=rtol, atol=1e-9)
    assert_allclose(s1.pooled["I2"], ref["I2"], rtol=rtol, atol=1e-5)
    assert_allclose([s1.Q, s1.Q_df, s1.Q_pvalue], [ref["QE"], ref["QE_df"], ref["QEp"]], rtol=1e-9)
    assert_allclose(s1.logLik, ref["logLik"], rtol=1e-9 if tight else 1e-7)
    # the pooled matrix holds the pooled correlations
    for lab, v in zip(ref["pairs"], s1.pooled["estimate"]):
        a, b = lab.split(".")
        assert s1.R.loc[a, b] == s1.R.loc[b, a] == v


def test_stage1_individual_drops_study_17_weighted_keeps_it(stage1_fits):
    """metafor drops study 17 with rcalc() covariances (they need correlations it did not report);
    the weighted-mean covariances (metaSEM's default) keep it."""
    assert [d.split(":")[0] for d in stage1_fits["individual_UN_REML"].dropped] == ["17"]
    assert stage1_fits["weighted_UN_REML"].dropped == []
    assert stage1_fits["weighted_UN_REML"].k == 10


def test_stage1_rho_unstructured(stage1_fits):
    """The between-study correlations of rma.mv's UN structure (rho, in R's lower-triangle order)."""
    ref = FIX["stage1"]["individual_UN_REML"]
    T = stage1_fits["individual_UN_REML"].tau2.to_numpy()
    C = T / np.sqrt(np.outer(np.diag(T), np.diag(T)))
    i, j = np.tril_indices(len(T), -1)
    order = np.lexsort((i, j))  # R's vech: column by column
    assert_allclose(C[i[order], j[order]], ref["rho"], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- stage 2 vs lavaan WLS
@pytest.mark.parametrize("key", list(STAGE2))
def test_stage2_matches_lavaan_wls(stage2_fits, key):
    ref = FIX["stage2"][key]
    res = stage2_fits[key]
    assert res.converged and res.proper
    est = res.estimates
    # lavaan imposes the unit diagonal by nonlinear equality constraints (augmented Lagrangian), met
    # only to ~1e-8 (its implied diagonal is 1.00000001), which moves its estimates by up to ~2e-6
    # relative (most agree to 1e-8; ours satisfy the diagonal exactly and stop at |gradient| < 1e-12)
    rtol = 1e-5
    for lhs, op, rhs, e, se in zip(ref["lhs"], ref["op"], ref["rhs"], ref["est"], ref["se"]):
        if op == ":=" and lhs not in set(est["lhs"]):
            continue
        if op == ":=":
            row = est[(est["op"] == ":=") & (est["lhs"] == lhs)].iloc[0]
        else:
            row = est[(est["op"] == op) & (((est["lhs"] == lhs) & (est["rhs"] == rhs))
                                           | ((op == "~~") & (est["lhs"] == rhs) & (est["rhs"] == lhs)))].iloc[0]
        assert_allclose(row["estimate"], e, rtol=rtol, atol=1e-9, err_msg=f"{lhs} {op} {rhs}")
        assert_allclose(row["se"], se, rtol=rtol, err_msg=f"se {lhs} {op} {rhs}")
    rv = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"])].set_index("lhs")["estimate"]
    assert_allclose(rv.loc[ref["resid_names"]], ref["resid_var"], rtol=rtol)
    assert_allclose(res.implied.loc[VN, VN].to_numpy(), np.array(ref["implied"]), rtol=rtol, atol=2e-8)
    f, rf = res.fit, ref["fit"]
    assert f["df"] == rf["df"] and f["n"] == rf["n"]
    assert_allclose(f["chisq"], rf["chisq"], rtol=1e-6, atol=1e-8)
    assert_allclose(f["chisq"], rf["chisq_lavaan"], rtol=1e-6, atol=1e-8)  # lavaan's own test statistic
    for k in ("rmsea", "cfi", "baseline_chisq", "baseline_df"):
        assert_allclose(f[k], rf[k], rtol=rtol, atol=1e-9, err_msg=k)
    assert_allclose(f["srmr"], rf["srmr"], rtol=rtol, atol=1e-7)
    if rf["df"] > 0:
        for k in ("pvalue", "tli", "rmsea_ci_low", "rmsea_ci_high"):
            assert_allclose(f[k], rf[k], rtol=rtol, atol=1e-9, err_msg=k)
    else:
        assert np.isnan(f["pvalue"]) and f["rmsea"] == 0.0 and f["cfi"] == 1.0


@pytest.mark.parametrize("key", [k for k in STAGE2 if FIX["stage2"][k]["lb"]])
def test_likelihood_based_intervals(stage2_fits, key):
    ref = FIX["stage2"][key]
    est = stage2_fits[key].estimates
    for lab, (lo, hi) in ref["lb"].items():
        if lab == "r":  # labelled in the R script's constraint lines only
            row = est[(est["op"] == "~~") & (est["lhs"] == "acog") & (est["rhs"] == "asom")].iloc[0]
        else:
            row = est[est["label"] == lab].iloc[0]
        assert row["ci_method"] == "LB"
        assert_allclose([row["ci_low"], row["ci_high"]], [lo, hi], rtol=1e-5, atol=2e-7, err_msg=lab)
        # asymmetric around the estimate for the products, unlike the Wald interval
        assert row["wald_ci_low"] < row["estimate"] < row["wald_ci_high"]


def test_misfit_model_fit_indices(stage2_fits):
    """A model that does not fit: chi-square 20.63 on 3 df, RMSEA 0.100 [0.062, 0.143], CFI 0.970."""
    f = stage2_fits["individual_misfit"].fit
    assert f["df"] == 3 and f["chisq"] > 20 and f["rmsea"] > 0.09 and f["cfi"] < 0.98
    assert_allclose(f["aic"], f["chisq"] - 2 * 3)
    assert_allclose(f["bic"], f["chisq"] - np.log(588) * 3)


# ----------------------------------------------------------------------------- both stages
def test_tssem_end_to_end_matches_both_references():
    """tssem() = tssem1() + tssem2(): stage-1 differences of ~1e-7 carry into stage 2."""
    ref = FIX["stage2"]["individual_full"]
    res = tssem(CRAFT, ref["model"], acov="individual")
    assert isinstance(res, TSSEMResult) and isinstance(res.stage1, TSSEM1Result)
    paths = res.paths
    assert_allclose(paths["estimate"], [e for e, op in zip(ref["est"], ref["op"]) if op == "~"], rtol=1e-5)
    assert_allclose(paths["se"], [s for s, op in zip(ref["se"], ref["op"]) if op == "~"], rtol=1e-5)
    assert_allclose(res.chisq, ref["fit"]["chisq"], rtol=1e-5)
    assert res.df == 2 and res.rmsea == 0.0 and res.cfi == 1.0
    assert_allclose(res.srmr, ref["fit"]["srmr"], rtol=1e-5)


def test_indirect_effects_found_by_path_tracing():
    """Without := lines every chain of regressions is a defined (indirect) effect, with LB CIs."""
    ref = FIX["stage2"]["individual_full"]
    st = _given_stage1(FIX["stage1"]["individual_UN_REML"])
    res = tssem2(st, "conf ~ acog + asom\nperf ~ conf")
    d = res.defined.set_index("lhs")
    assert list(d.index) == ["acog -> conf -> perf", "asom -> conf -> perf"]
    ind = dict(zip(ref["label"], ref["est"]))
    assert_allclose(d["estimate"], [ind["ind_acog"], ind["ind_asom"]], rtol=1e-6)
    assert_allclose(d["ci_low"], [ref["lb"]["ind_acog"][0], ref["lb"]["ind_asom"][0]], rtol=1e-6)
    tab = res.to_frame()
    ind_rows = tab[tab["table"] == "indirect"]
    assert list(ind_rows["from"]) == ["acog", "asom"] and set(ind_rows["via"]) == {"conf"}
    assert set(ind_rows["to"]) == {"perf"}
    # Wald intervals on request
    wald = tssem2(st, "conf ~ acog + asom\nperf ~ conf", ci_method="wald").defined
    assert (wald["ci_method"] == "Wald").all()
    assert_allclose(wald["ci_low"], wald["wald_ci_low"])


def test_jacobian_matches_finite_differences():
    """The analytic derivatives of the correlation structure (residual variances following the
    parameters) against central differences, for a path model and a one-factor model."""
    for model, variables in (("conf ~ acog + asom\nperf ~ conf + acog", VN),
                             ("f =~ acog + asom + conf\nperf ~ f", VN)):
        cm = _CorrModel(model, variables)
        rng = np.random.default_rng(1)
        theta = rng.uniform(0.1, 0.4, cm.npar)
        J = cm.jacobian(theta)
        h = 1e-6
        num = np.column_stack([(cm.rho(theta + h * e) - cm.rho(theta - h * e)) / (2 * h) for e in np.eye(cm.npar)])
        assert_allclose(J, num, rtol=1e-6, atol=1e-9)
        V = cm.implied(theta)[0]
        assert_allclose(np.diag(V), 1.0)  # a correlation structure, latent factor included


def test_result_api(stage2_fits):
    res = stage2_fits["individual_full"]
    tab = res.to_frame()
    assert {"table", "stage", "term", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high"} <= set(tab)
    assert set(tab["table"]) >= {"pooled", "heterogeneity", "path", "covariance", "residual_variance", "defined",
                                 "fit"}
    p = tab[tab["table"] == "path"]
    assert list(zip(p["outcome"], p["predictor"])) == [("conf", "acog"), ("conf", "asom"), ("perf", "conf")]
    text = res.summary()
    assert "chisq(2)" in text and "ind_acog" in text and "stage 2" in text
    d = res.to_dict()
    json.dumps(d)
    assert d["fit"]["df"] == 2 and len(d["estimates"]) == len(res.estimates)
    assert "chisq=1.345" in repr(res)
    s1 = tssem1(CRAFT)
    json.dumps(s1.to_dict())
    assert "Homogeneity" in s1.summary() and "Q_df=48" in repr(s1)


# ----------------------------------------------------------------------------- bad input
def _with(d, study, v1, v2, r):
    d = d.copy()
    m = (d["study"] == study) & (((d["var1"] == v1) & (d["var2"] == v2)) | ((d["var1"] == v2) & (d["var2"] == v1)))
    d.loc[m, "ri"] = r
    return d


def test_non_positive_definite_study_is_named():
    bad = _with(_with(_with(CRAFT, 22, "acog", "asom", 0.9), 22, "acog", "conf", 0.9), 22, "asom", "conf", -0.9)
    with pytest.raises(MetaError, match="study 22.*not positive definite"):
        tssem1(bad)


def test_study_sharing_no_pair_is_named():
    extra = pd.DataFrame({"study": [99, 99], "ni": [50, 50], "sport": ["I", "I"], "ri": [0.3, 0.2],
                          "var1": ["acog", "asom"], "var2": ["mood", "mood"]})
    d = pd.concat([CRAFT, extra], ignore_index=True)
    with pytest.raises(MetaError, match="study 99 shares no correlation pair"):
        tssem1(d)


def test_pair_reported_by_no_study():
    d = CRAFT[~((CRAFT["var1"] == "acog") & (CRAFT["var2"] == "perf"))]
    with pytest.raises(MetaError, match="no study reports"):
        tssem1(d)


@pytest.mark.parametrize("model, match", [("conf ~ acog + mood", "not among the pooled"),
                                          ("conf ~ 1 + acog", "intercepts"),
                                          ("conf ~ acog\nconf ~~ conf", "residual variance"),
                                          ("conf ~ a*acog\nx := a*zz", "unknown label"),
                                          ("conf ~ a*acog\nx := __import__('os')", "unsupported"),
                                          ("conf ~ a*acog\na == 0.2", "constraints")])
def test_bad_models(model, match):
    st = _given_stage1(FIX["stage1"]["individual_UN_REML"])
    with pytest.raises(MetaError, match=match):
        tssem2(st, model)


def test_bad_options():
    with pytest.raises(MetaError, match="acov"):
        tssem1(CRAFT, acov="unweighted")
    with pytest.raises(MetaError, match="struct"):
        tssem1(CRAFT, struct="CS")
    with pytest.raises(MetaError, match="column 'r' not found"):
        tssem1(CRAFT, ri="r")


# ----------------------------------------------------------------------------- workflow entry point
def test_run_analysis_tssem_source():
    model = FIX["stage2"]["weighted_full"]["model"]
    spec = {"name": "craft_tssem", "source": "tssem", "model": model, "acov": "weighted", "struct": "UN",
            "method": "REML", "level": 0.95}
    out = run_analysis(spec, {"input": CRAFT})
    assert {"summary", "studies", "diagnostics", "bias", "masem", "tssem", "subgroup"} <= set(out)
    t = out["tssem"]
    assert (t["analysis"] == "craft_tssem").all()
    ref = FIX["stage2"]["weighted_full"]
    p = t[t["table"] == "path"]
    assert_allclose(p["estimate"], [e for e, op in zip(ref["est"], ref["op"]) if op == "~"], rtol=1e-4)
    fit = t[t["table"] == "fit"].set_index("term")["estimate"]
    assert fit["df"] == 2
    assert_allclose(fit["chisq"], ref["fit"]["chisq"], rtol=1e-4)
    s = out["summary"]
    assert list(s["term"]) == FIX["stage1"]["weighted_UN_REML"]["pairs"]
    assert_allclose(s["estimate"], FIX["stage1"]["weighted_UN_REML"]["coef"], rtol=1e-4)
    # a model given as {outcome: [predictors]} (the masem form) works too
    spec2 = dict(spec, model={"conf": ["acog", "asom"], "perf": ["conf"]})
    t2 = run_analysis(spec2, {"input": CRAFT})["tssem"]
    assert_allclose(t2[t2["table"] == "path"]["estimate"], p["estimate"], rtol=1e-8)
    # bad input gives rows with the reason, naming the study
    bad = _with(_with(_with(CRAFT, 22, "acog", "asom", 0.9), 22, "acog", "conf", 0.9), 22, "asom", "conf", -0.9)
    out = run_analysis(spec, {"input": bad})
    assert "study 22" in out["tssem"]["reason"].iloc[0]


def test_tssem_path_figure(tmp_path):
    """The workflow's tssem_path figure: stage-2 paths, the exogenous correlation and the indirect
    effects (numbers, not labels) from tssem.csv."""
    from efficacy.plots import render_stage_figure
    from efficacy.plots.stage import _tssem_as_masem

    spec = {"name": "c", "source": "tssem", "model": "conf ~ a*acog + asom\nperf ~ conf", "ci": "wald"}
    t = run_analysis(spec, {"input": CRAFT})["tssem"]
    m = _tssem_as_masem(t)
    assert set(m["table"]) == {"path", "indirect", "pooled"} and list(m.loc[m["table"] == "pooled", "pair"]) == [
        "acog.asom"]
    assert "label" not in m
    t.to_csv(tmp_path / "tssem.csv", index=False)
    res = render_stage_figure("tssem_path", {"tssem": tmp_path / "tssem.csv"}, tmp_path / "tssem_path")
    assert res["placeholder"] is None and res["png"].stat().st_size > 10000
    # a failed analysis draws a placeholder with the reason
    bad = _with(_with(_with(CRAFT, 22, "acog", "asom", 0.9), 22, "acog", "conf", 0.9), 22, "asom", "conf", -0.9)
    run_analysis(spec, {"input": bad})["tssem"].to_csv(tmp_path / "bad.csv", index=False)
    res = render_stage_figure("tssem_path", {"tssem": tmp_path / "bad.csv"}, tmp_path / "bad")
    assert "study 22" in res["placeholder"]
