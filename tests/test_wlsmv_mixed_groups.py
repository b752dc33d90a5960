"""Multi-group WLSMV with continuous indicators beside ordered ones (efficacy.sem.wls._fit_multigroup with
efficacy.sem.wls_mixed groups) against lavaan 0.6.14 / semTools 0.5.6.

Reference: tests/reference/wlsmv_mixed_groups.R -> wlsmv_mixed_groups_hs.json, on HolzingerSwineford1939 with
x1..x6 cut into 3-5 ordered categories and x7..x9 continuous (wlsmv_mixed_hs.csv), grouped by school
(sem_hs1939.csv, same row order). The invariance steps are semTools::measEq.syntax(ID.fac = "std.lv",
ID.cat = "Wu.Estabrook.2016", parameterization = "delta") fitted by lavaan's cfa(group = "school",
estimator = "WLSMV", conditional.x = FALSE); the strict step is the scalar syntax with the residual variances of
x7..x9 equal across groups (measEq.syntax refuses residuals under delta; the ordered items' residual variances are
not parameters). efficacy identifies the factors by marker variables (auto="cfa"), an equivalent identification:
the fit, the thresholds, scaling factors and intercepts (ordered and continuous), the residual variances of the
continuous indicators and every fully standardised estimate are the same, so those are compared; the loadings and
factor (co)variances differ by the factor scale. The configural and scalar steps also with pairwise deletion on
data with missing values. A structural model (a continuous outcome on a factor and a
covariate; conditional.x FALSE and TRUE; configural, equal thresholds, and scalar with the Wu & Estabrook frees
written out) has the same identification as ours: every row is compared.

Tolerances (the issue's): estimates and standardised estimates 1e-4 absolute, SEs 1e-3 relative; fit measures
1e-5 relative (they follow from estimates that agree to ~1e-6), DWLS difference tests 1e-5 relative.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import SEMError
from efficacy.sem import sem
from efficacy.sem.lrt import lrt_difference

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "wlsmv_mixed_groups_hs.json").read_text())
ORD6 = [f"x{i}" for i in range(1, 7)]
CONT = ("x7", "x8", "x9")
SCALAR = ("thresholds", "loadings", "intercepts")
# key -> (equal, partial): the measEq.syntax steps (lavaan_default: plain cfa(group = "school"), lavaan's configural)
STEPS = {"configural": ((), ()), "loadings": (("loadings",), ()), "thresholds": (("thresholds",), ()),
         "metric": (("thresholds", "loadings"), ()), "scalar": (SCALAR, ()),
         "scalar_partial": (SCALAR, ("x3 ~ 1", "x7 ~ 1")), "strict": (SCALAR + ("residuals",), ()),
         "strict_partial": (SCALAR + ("residuals",), ("x3 ~ 1", "x7 ~ 1")),
         "lavaan_default": ((), ())}
# structural model by school: key -> (conditional_x, equal); the constrained ones are the Wu & Estabrook syntax
# written out in the R script (marker identification, as ours)
OUTCOME = {"outcome_cx_false": (False, ()), "outcome_cx_true": (None, ()),
           "outcome_th_cx_false": (False, ("thresholds",)), "outcome_th_cx_true": (None, ("thresholds",)),
           "outcome_scalar_cx_false": (False, SCALAR), "outcome_scalar_cx_true": (None, SCALAR)}
# pairwise deletion on data with missing values (the measurement stage's WLSMV when it would use FIML)
PAIRWISE = {"configural_pw": (), "scalar_pw": SCALAR}
FIT_KEYS = ["chisq", "pvalue", "chisq.scaled", "pvalue.scaled", "chisq.scaling.factor", "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi", "tli", "cfi.scaled",
            "tli.scaled", "rmsea", "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled", "srmr"]


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "wlsmv_mixed_hs.csv").assign(school=pd.read_csv(REF / "sem_hs1939.csv")["school"])


@pytest.fixture(scope="module")
def fits(data):
    out = {k: sem(data, FIX["models"]["cfa"], auto="cfa", estimator="WLSMV", ordered=ORD6, group="school", equal=eq,
                  partial=pa) for k, (eq, pa) in STEPS.items()}
    for k, eq in PAIRWISE.items():
        out[k] = sem(_with_na(data), FIX["models"]["cfa"], auto="cfa", estimator="WLSMV", ordered=ORD6, group="school",
                     equal=eq, missing="pairwise")
    for k, (cx, eq) in OUTCOME.items():
        out[k] = sem(data, FIX["models"]["outcome"], estimator="WLSMV", ordered=["x1", "x2", "x3"], group="school",
                     conditional_x=cx, equal=eq)
    return out


def _with_na(data):
    """As wlsmv_mixed_groups.R: every 7th row (from the first) misses x9, every 11th (from the third) x2, every 13th
    (from the fifth) x8."""
    d = data.copy()
    d.loc[d.index[::7], "x9"] = np.nan
    d.loc[d.index[2::11], "x2"] = np.nan
    d.loc[d.index[4::13], "x8"] = np.nan
    return d


def _ref(key):
    e = pd.DataFrame(FIX[key]["estimates"]).merge(pd.DataFrame(FIX[key]["std"]), on=["lhs", "op", "rhs", "group"])
    e["rhs"] = e["rhs"].fillna("")
    # measEq.syntax writes a scaling factor for continuous indicators too (fixed 1); they have none here
    return e[~((e["op"] == "~*~") & e["lhs"].isin(CONT))].reset_index(drop=True)


@pytest.mark.parametrize("key", sorted(STEPS) + sorted(OUTCOME) + sorted(PAIRWISE))
def test_fit_matches_lavaan(fits, key):
    ref, res = FIX[key]["fit"], fits[key]
    if key == "configural_pw":   # x9's residual variance is negative at Grant-White, as lavaan warns too
        assert res.converged and not res.proper and res.warnings == ["group Grant-White: negative variance(s): x9"]
    else:
        assert res.converged and res.proper and not res.warnings, res.warnings
    assert res.fit["npar"] == ref["npar"] and res.fit["df"] == ref["df"] and res.fit["ngroups"] == 2
    assert res.n == ref["ntotal"] == sum(FIX[key]["nobs"])
    for k in FIT_KEYS:
        assert_allclose(res.fit[k], ref[k], rtol=1e-5, atol=1e-8, err_msg=f"{key}: {k}")
    assert_allclose(res.fit["baseline_chisq"], ref["baseline.chisq"], rtol=1e-5)
    assert res.fit["baseline_df"] == ref["baseline.df"]
    # lavaan's scaled-shifted test: statistic a T + b with 1 / a the scaling factor
    t = FIX[key]["test"]
    assert_allclose(res.fit["chisq.scaled"], t["stat"], rtol=1e-5)
    assert_allclose(res.wls_inference["tr1"], t["trace_ugamma"], rtol=1e-5)
    # lavaan reports no robust CFI/TLI/RMSEA with continuous variables (no catML model): NaN here too
    assert ref["cfi.robust"] is None and np.isnan(res.fit["cfi.robust"]) and np.isnan(res.fit["rmsea.robust"])


@pytest.mark.parametrize("key", sorted(STEPS) + sorted(OUTCOME) + sorted(PAIRWISE))
def test_estimates_match_lavaan(fits, key):
    """Every row's standardised estimate; estimates and SEs of the rows that do not depend on the factor
    identification (all rows for the plain lavaan fits, whose identification is ours)."""
    ref = _ref(key)
    ours = fits[key].estimates.assign(rhs=lambda d: d["rhs"].fillna("")).set_index(["lhs", "op", "rhs", "group"])
    assert len(ours) == len(ref)
    same_id = key == "lavaan_default" or key in OUTCOME
    for _, r in ref.iterrows():
        o = ours.loc[(r["lhs"], r["op"], r["rhs"], r["group"])]
        where = f"{key}: {r['lhs']} {r['op']} {r['rhs']} (group {r['group']})"
        assert_allclose(o["std_all"], r["est_std"], atol=1e-4, err_msg=where)
        invariant = r["op"] in ("|", "~*~") or (r["op"] == "~1" and r["lhs"].startswith("x")) or \
            (r["op"] == "~~" and r["lhs"] == r["rhs"] and r["lhs"] in CONT)
        if same_id or invariant:
            assert_allclose(o["estimate"], r["est"], atol=1e-4, err_msg=where)
            if r["se"] > 0:
                assert_allclose(o["se"], r["se"], rtol=1e-3, err_msg=where)
            else:
                assert o["free"] == 0, where


@pytest.mark.parametrize("i", range(len(FIX["lrt"])))
def test_difference_tests_match_lavtestlrt(fits, i):
    """lavTestLRT(m1, m0) between the steps: lavaan's default for WLSMV, Satorra (2000) scaled and shifted."""
    ref = FIX["lrt"][i]
    out = lrt_difference(fits[ref["m1"]], fits[ref["m0"]])
    assert out["method"] == "satorra.2000" and out["delta_df"] == ref["delta_df"]
    assert_allclose(out["delta_chisq"], ref["delta_chisq"], rtol=1e-5, err_msg=f"{ref['m1']} vs {ref['m0']}")
    assert_allclose(out["pvalue"], ref["pvalue"], rtol=1e-4)


def test_wu_estabrook_layout_with_continuous_indicators(fits):
    est = fits["scalar_partial"].estimates.set_index(["lhs", "op", "rhs", "group"])
    # ordered: thresholds shared, scaling factors free in group 2 only; continuous: no scaling factor
    assert est.loc[("x2", "|", "t1", 1), "free"] == est.loc[("x2", "|", "t1", 2), "free"] > 0
    assert est.loc[("x2", "~*~", "x2", 1), "free"] == 0 and est.loc[("x2", "~*~", "x2", 2), "free"] > 0
    assert not any((lhs == "x7" and op == "~*~") for lhs, op, _, _ in est.index)
    # intercepts: ordered 0 except the partial x3 (free in group 2); continuous equal except the partial x7
    assert est.loc[("x2", "~1", "", 2), "free"] == 0 and est.loc[("x3", "~1", "", 2), "free"] > 0
    assert est.loc[("x8", "~1", "", 1), "free"] == est.loc[("x8", "~1", "", 2), "free"] > 0
    assert 0 < est.loc[("x7", "~1", "", 1), "free"] != est.loc[("x7", "~1", "", 2), "free"] > 0
    assert est.loc[("speed", "~1", "", 1), "free"] == 0 and est.loc[("speed", "~1", "", 2), "free"] > 0
    # strict: the continuous indicators' residual variances are shared across groups
    st = fits["strict"].estimates.set_index(["lhs", "op", "rhs", "group"])
    assert st.loc[("x9", "~~", "x9", 1), "free"] == st.loc[("x9", "~~", "x9", 2), "free"] > 0
    sc = fits["scalar"].estimates.set_index(["lhs", "op", "rhs", "group"])
    assert sc.loc[("x9", "~~", "x9", 1), "free"] != sc.loc[("x9", "~~", "x9", 2), "free"]


def test_unsupported_combinations_raise(data):
    with pytest.raises(SEMError, match="theta"):
        sem(data, FIX["models"]["cfa"], auto="cfa", estimator="WLSMV", ordered=ORD6, group="school",
            parameterization="theta")
    with pytest.raises(SEMError, match="delta parameterisation"):   # all ordered: residuals need theta
        sem(data, "visual =~ x1 + x2 + x3", auto="cfa", estimator="WLSMV", ordered=["x1", "x2", "x3"],
            group="school", equal=("thresholds", "residuals"))
    with pytest.raises(SEMError, match="multi-group"):
        sem(data, FIX["models"]["cfa"], auto="cfa", estimator="WLSMV", ordered=ORD6, equal=("loadings",))


@pytest.mark.parametrize("key", ["configural", "outcome_cx_true", "configural_pw"])
def test_sample_statistics_per_group_match_lavaan(fits, key):
    """Each group's WLS statistics and the diagonal of its NACOV (lavInspect "wls.obs", "gamma"), 1e-6: closed
    forms and one-dimensional ML fits."""
    res = fits[key]
    for level in FIX[key]["group_labels"]:
        ref_s, ref_g = FIX[key]["wls_obs"][level], FIX[key]["gamma_diag"][level]
        ours = res.wls_obs[level]
        assert list(ours.index) == ref_s["names"]
        assert_allclose(ours.to_numpy(), ref_s["value"], rtol=1e-6, atol=1e-8, err_msg=f"{key} {level}")
        assert_allclose(np.diag(res.gamma[level].to_numpy()), ref_g["value"], rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------------------------- invariance()

# invariance() row -> (fixture fit, (m1, m0) of its lavTestLRT); strict follows partial_scalar, so it keeps x3's
# and x7's intercepts free (the fixture's strict_partial)
INV_ROWS = {"configural": ("configural", None), "thresholds": ("thresholds", ("configural", "thresholds")),
            "metric": ("metric", ("thresholds", "metric")), "scalar": ("scalar", ("metric", "scalar")),
            "partial_scalar": ("scalar_partial", ("metric", "scalar_partial")),
            "strict": ("strict_partial", ("scalar_partial", "strict_partial"))}


@pytest.fixture(scope="module")
def inv(data):
    from efficacy.measurement import invariance
    return invariance(data, FIX["models"]["cfa"], "school", estimator="WLSMV", ordered=ORD6)


def test_invariance_sequence_matches_lavaan(inv):
    """The mixed Wu & Estabrook sequence: each row's fit (scaled CFI / RMSEA: lavaan gives no robust ones with
    continuous variables) and its DWLS difference test against the previous row; scalar fails (delta CFI
    -0.046), the search frees x3's latent-response intercept then x7's intercept, as the score tests say."""
    t = inv.to_frame().set_index("step")
    assert list(t.index) == list(INV_ROWS) and inv.mixed and inv.indices == "cfi.scaled, tli.scaled, rmsea.scaled"
    lrt = {(r["m1"], r["m0"]): r for r in FIX["lrt"]}
    for step, (key, pair) in INV_ROWS.items():
        f = FIX[key]["fit"]
        row = t.loc[step]
        assert row["df"] == f["df"], step
        for ours, ref in (("chisq", "chisq"), ("chisq_scaled", "chisq.scaled"), ("cfi", "cfi.scaled"),
                          ("tli", "tli.scaled"), ("rmsea", "rmsea.scaled"), ("srmr", "srmr")):
            assert_allclose(row[ours], f[ref], rtol=1e-5, err_msg=f"{step}: {ours}")
        if pair is not None:
            assert row["delta_df"] == lrt[pair]["delta_df"] and row["lrt_method"] == "satorra.2000"
            assert_allclose(row["delta_chisq"], lrt[pair]["delta_chisq"], rtol=1e-5, err_msg=step)
    assert inv.decisions == {"configural": "reference", "thresholds": "invariant", "metric": "invariant",
                             "scalar": "not invariant", "partial_scalar": "invariant", "strict": "invariant"}
    assert inv.highest == "strict" and t.loc["partial_scalar", "freed"] == "x3 ~ 1, x7 ~ 1"
    assert "continuous indicators (x7, x8, x9)" in t.loc["strict", "reason"]


def test_partial_search_score_tests_match_lavtestscore(inv):
    """Round 1: x3's latent-response intercept (largest of the nine univariate score tests); round 2, with x3
    free: x7's intercept. lavTestScore(fit)$uni on the measEq.syntax fits (the ordered items' intercepts written
    free in group 2 with a == 0 constraint, which is the same model)."""
    ps = inv.partial_search
    assert list(ps["parameter"]) == ["x3 ~ 1", "x7 ~ 1"] and list(ps["test"]) == ["score", "score"]
    for k, rnd in enumerate(FIX["score_rounds"]):
        ref = dict(zip(rnd["parameter"], rnd["X2"]))
        assert max(ref, key=ref.get) == ps["parameter"].iloc[k]
        assert_allclose(ps["statistic"].iloc[k], ref[ps["parameter"].iloc[k]], rtol=1e-5)
        assert ps["df"].iloc[k] == 1


def test_score_tests_of_every_intercept_match_lavtestscore(data, fits):
    """All nine round-1 score tests: the five other ordered items' intercepts and x8's, x9's too."""
    from efficacy.sem.lrt import score_test

    cur = fits["scalar"]
    rnd = FIX["score_rounds"][0]
    for par, x2 in zip(rnd["parameter"], rnd["X2"]):
        rel = sem(data, FIX["models"]["cfa"], auto="cfa", estimator="WLSMV", ordered=ORD6, group="school",
                  equal=SCALAR, partial=(par,), at=cur.estimates)
        assert_allclose(score_test(cur, rel)["statistic"], x2, rtol=1e-5, atol=1e-7, err_msg=par)


def test_invariance_theta_with_continuous_indicators_raises(data):
    from efficacy.errors import MeasurementError
    from efficacy.measurement import invariance

    with pytest.raises(MeasurementError, match="theta"):
        invariance(data, FIX["models"]["cfa"], "school", ordered=ORD6, parameterization="theta")
