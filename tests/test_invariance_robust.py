"""Invariance with robust (MLR, MLM) and ordinal (WLSMV) estimators, scaled difference tests, the
delta-CFI decision rule and partial invariance by score tests (issue #18).

Reference numbers: tests/reference/invariance_robust.R (lavaan 0.6.14, semTools 0.5-6) ->
invariance_robust_holzinger.json. Holzinger & Swineford (1939), school groups; the ordinal data are
x1..x9 cut into 3-5 categories (invariance_robust_hs_cut.csv). Tolerances: statistics and fit indices
1e-4 relative (iterative estimates), p-values 1e-4 absolute.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

REFDIR = Path(__file__).parent / "reference"
MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
EQ = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
      "strict": ("loadings", "intercepts", "residuals")}


@pytest.fixture(scope="module")
def ref():
    return json.loads((REFDIR / "invariance_robust_holzinger.json").read_text())


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(REFDIR / "measurement_hs1939.csv")


@pytest.fixture(scope="module")
def hs_cut():
    return pd.read_csv(REFDIR / "invariance_robust_hs_cut.csv")


def _steps(tab, steps):
    return tab.set_index("step").loc[steps]


# ----------------------------------------------------------------------------- MLR / MLM


def test_mlr_sequence_matches_lavaan(hs, ref):
    """invariance(estimator="MLR"): per-step ML and scaled chi-square, robust CFI/RMSEA, SRMR as
    lavaan::cfa(estimator = "MLR", group.equal = ...); delta_chisq = lavTestLRT(method = "satorra.bentler.2010")."""
    from efficacy.measurement import invariance

    res = invariance(hs, MODEL, "school", estimator="MLR", find_partial=False)
    assert res.estimator == "MLR" and res.indices == "cfi.robust, tli.robust, rmsea.robust"
    tab = _steps(res.to_frame(), ref["steps"])
    fit = ref["MLR"]["fit"]
    for col, key in [("chisq", "chisq"), ("chisq_scaled", "chisq.scaled"), ("cfi", "cfi.robust"),
                     ("tli", "tli.robust"), ("rmsea", "rmsea.robust"), ("srmr", "srmr")]:
        assert_allclose(tab[col], [fit[s][key] for s in ref["steps"]], rtol=1e-4, err_msg=col)
    assert_allclose(tab["pvalue_scaled"], [fit[s]["pvalue.scaled"] for s in ref["steps"]], atol=1e-4)
    lrt = ref["MLR"]["lrt_satorra.bentler.2010"]
    assert_allclose(tab["delta_chisq"].iloc[1:], lrt["chisq_diff"], rtol=1e-4)
    assert_allclose(tab["delta_df"].iloc[1:], lrt["df_diff"])
    assert_allclose(tab["lrt_pvalue"].iloc[1:], lrt["pvalue"], atol=1e-4)
    assert (tab["lrt_method"].iloc[1:] == "satorra.bentler.2010").all()
    # deltas are differences of the robust indices
    assert_allclose(tab["delta_cfi"].iloc[1:], np.diff([fit[s]["cfi.robust"] for s in ref["steps"]]), atol=1e-6)
    assert_allclose(tab["delta_srmr"].iloc[1:], np.diff([fit[s]["srmr"] for s in ref["steps"]]), atol=1e-6)
    # scalar flagged by delta CFI alone (-0.039), the other steps hold
    assert list(tab["decision"]) == ["reference", "invariant", "not invariant", "invariant"]


@pytest.mark.parametrize("estimator", ["MLR", "MLM"])
def test_scaled_difference_tests_match_lavtestlrt(hs, ref, estimator):
    """sem.lrt.lrt_difference: Satorra-Bentler 2001 and 2010 as lavTestLRT(m1, m0, method = ...)."""
    from efficacy.sem import sem
    from efficacy.sem.lrt import lrt_difference

    fits = {s: sem(hs, MODEL, group="school", equal=e, auto="cfa", estimator=estimator) for s, e in EQ.items()}
    steps = list(EQ)
    for i in range(3):
        m1, m0 = fits[steps[i]], fits[steps[i + 1]]
        m10 = sem(hs, MODEL, group="school", equal=EQ[steps[i]], auto="cfa", estimator=estimator, at=m0.estimates)
        for meth, kw in [("satorra.bentler.2001", {}), ("satorra.bentler.2010", {"m10": m10})]:
            out = lrt_difference(m1, m0, method=meth, **kw)
            r = ref[estimator][f"lrt_{meth}"]
            assert out["method"] == meth
            assert_allclose(out["delta_chisq"], r["chisq_diff"][i], rtol=1e-4, err_msg=f"{meth} {steps[i + 1]}")
            assert out["delta_df"] == r["df_diff"][i]
            assert_allclose(out["pvalue"], r["pvalue"][i], atol=1e-4)
    # the default for robust fits is lavaan's (2001); ML fits get the plain LRT
    assert lrt_difference(fits["configural"], fits["metric"])["method"] == "satorra.bentler.2001"


def test_cluster_robust_mlr_sequence_matches_lavaan(ref):
    """cluster=: students in 45 classrooms (sem_robust_classroom.csv), groups = even / odd classroom id;
    lavaan::cfa(cluster = "classroom", estimator = "MLR") and lavTestLRT(method = "satorra.bentler.2010")."""
    from efficacy.measurement import invariance

    cls = pd.read_csv(REFDIR / "sem_robust_classroom.csv")
    cls["grp"] = np.where(cls["classroom"] % 2 == 0, "even", "odd")
    c = ref["cluster"]
    tab = invariance(cls, c["model"], "grp", estimator="MLR", cluster="classroom").to_frame()
    assert list(tab.step) == ref["steps"]
    for col, key in [("chisq", "chisq"), ("chisq_scaled", "chisq.scaled"), ("cfi", "cfi.robust"),
                     ("rmsea", "rmsea.robust"), ("srmr", "srmr")]:
        assert_allclose(tab[col], [c["fit"][s][key] for s in ref["steps"]], rtol=1e-4, atol=1e-7, err_msg=col)
    assert_allclose(tab["delta_chisq"].iloc[1:], c["lrt"]["chisq_diff"], rtol=1e-4)
    assert_allclose(tab["lrt_pvalue"].iloc[1:], c["lrt"]["pvalue"], atol=1e-4)
    assert (tab.decision.iloc[1:] == "invariant").all()


# ----------------------------------------------------------------------------- decision rule and score tests


def test_default_rule_flags_scalar_and_score_search_frees_x3_x7(hs, ref):
    """Delta CFI <= -0.010 alone (Cheung & Rensvold 2002) flags the HS scalar step (delta CFI -0.038); the
    partial search frees the intercepts semTools users free: measEq.syntax(ID.fac = "std.lv") +
    lavTestScore(fit)$uni on the intercept constraints, largest first (x3, then x7)."""
    from efficacy.measurement import PARTIAL_SEARCH_COLUMNS, invariance

    res = invariance(hs, MODEL, "school")
    tab = res.to_frame()
    assert list(tab.step) == ["configural", "metric", "scalar", "partial_scalar", "strict"]
    scalar = tab.iloc[2]
    assert scalar.decision == "not invariant" and scalar.delta_rmsea < 0.015   # Chen's "and" rule would pass it
    assert_allclose(scalar.delta_cfi, ref["score"]["scalar_fit"]["cfi"] - ref["score"]["metric_fit"]["cfi"],
                    atol=1e-6)
    assert -0.045 < scalar.delta_cfi < -0.035
    search = res.partial_search
    assert list(search.columns) == PARTIAL_SEARCH_COLUMNS
    rs = ref["score"]["search"]
    assert list(search.parameter) == ref["score"]["freed"] == ["x3 ~ 1", "x7 ~ 1"]
    assert (search.test == "score").all()
    assert_allclose(search.statistic, [r["X2"] for r in rs], rtol=1e-4)
    assert_allclose(search.pvalue, [r["p"] for r in rs], atol=1e-4)
    assert_allclose(search.delta_cfi, [r["delta_cfi"] for r in rs], atol=1e-6)
    assert list(search.decision) == ["not invariant", "invariant"]
    part = tab.iloc[3]
    assert part.freed == "x3 ~ 1, x7 ~ 1" and part.decision == "invariant"
    assert part.freed_by.startswith("x3 ~ 1: score 19.19") and "x7 ~ 1: score 15.02" in part.freed_by
    for k in ("chisq", "cfi", "rmsea", "srmr"):
        assert_allclose(part[k], rs[-1]["fit"][k], rtol=1e-4, err_msg=k)
    assert res.highest == "strict"
    assert "x7 ~ 1" in res.summary()
    d = json.loads(json.dumps(res.to_dict()))
    assert d["estimator"] == "ML" and len(d["partial_search"]) == 2 and d["table"][2]["decision"] == "not invariant"
    # Chen (2007) "and": the scalar step is not flagged on these data; "or" flags it
    assert invariance(hs, MODEL, "school", cutoffs={"combine": "and"}).decisions["scalar"] == "invariant"
    assert invariance(hs, MODEL, "school", cutoffs={"combine": "or"}, find_partial=False).decisions["scalar"] == \
        "not invariant"


def test_score_tests_of_every_intercept_match_lavtestscore(hs, ref):
    """First search step: lavTestScore(scalar fit)$uni X2 and p for each of the nine intercept constraints."""
    from efficacy.sem import sem
    from efficacy.sem.lrt import score_test

    scalar = sem(hs, MODEL, group="school", equal=EQ["scalar"], auto="cfa", se=False)
    first = ref["score"]["first_step"]
    stats, ps = [], []
    for par in first["parameter"]:
        rel = sem(hs, MODEL, group="school", equal=EQ["scalar"], partial=(par,), auto="cfa", se=False,
                  at=scalar.estimates)
        st = score_test(scalar, rel)
        assert st["df"] == 1
        stats.append(st["statistic"])
        ps.append(st["pvalue"])
    assert_allclose(stats, first["X2"], rtol=1e-4)
    assert_allclose(ps, first["p"], atol=1e-4)


# ----------------------------------------------------------------------------- ordinal (WLSMV)


@pytest.fixture(scope="module")
def wlsmv_result(hs_cut):
    from efficacy.measurement import invariance

    return invariance(hs_cut, MODEL, "school", ordered=True)


def test_wlsmv_wu_estabrook_sequence_matches_semtools(wlsmv_result, ref):
    """ordered=True: configural, thresholds, metric, scalar as measEq.syntax(ID.cat = "Wu.Estabrook.2016",
    ID.fac = "std.lv", parameterization = "delta") fitted by WLSMV; differences = lavTestLRT's DWLS test
    (satorra.2000, scaled.shifted)."""
    res = wlsmv_result
    w = ref["wlsmv"]
    assert res.estimator == "WLSMV" and res.indices == "cfi.scaled, tli.scaled, rmsea.scaled"
    tab = res.to_frame().iloc[:4]
    assert list(tab.step) == w["steps"] == ["configural", "thresholds", "metric", "scalar"]
    for col, key in [("chisq", "chisq"), ("chisq_scaled", "chisq.scaled"), ("cfi", "cfi.scaled"),
                     ("rmsea", "rmsea.scaled"), ("srmr", "srmr")]:
        assert_allclose(tab[col], [w["fit"][s][key] for s in w["steps"]], rtol=1e-4, err_msg=col)
    assert list(tab.df) == [w["fit"][s]["df"] for s in w["steps"]]
    assert_allclose(tab["pvalue_scaled"], [w["fit"][s]["pvalue.scaled"] for s in w["steps"]], atol=1e-4)
    assert_allclose(tab["delta_chisq"].iloc[1:], w["lrt"]["chisq_diff"], rtol=1e-4)
    assert list(tab["delta_df"].iloc[1:]) == w["lrt"]["df_diff"]
    assert_allclose(tab["lrt_pvalue"].iloc[1:], w["lrt"]["pvalue"], atol=1e-4)
    assert (tab["lrt_method"].iloc[1:] == "satorra.2000").all()
    assert tab["aic"].isna().all()
    # intercepts of the latent responses: delta CFI (scaled) -0.031 -> not invariant
    assert list(tab.decision) == ["reference", "invariant", "invariant", "not invariant"]
    assert res.decisions["metric"] == "invariant"


def test_dwls_difference_scale_and_shift_match_lavaan(hs_cut, ref):
    """The scale (a, lavaan's attr 'scale') and shift (b) of lavTestLRT's scaled-shifted DWLS difference."""
    from efficacy.sem import sem
    from efficacy.sem.lrt import lrt_difference

    eq = {"configural": (), "thresholds": ("thresholds",), "metric": ("thresholds", "loadings"),
          "scalar": ("thresholds", "loadings", "intercepts")}
    fits = [sem(hs_cut, MODEL, group="school", equal=e, auto="cfa", ordered=True) for e in eq.values()]
    w = ref["wlsmv"]["lrt"]
    for i in range(3):
        out = lrt_difference(fits[i], fits[i + 1])
        assert out["method"] == "satorra.2000"
        assert_allclose(1 / out["scaling_factor"], w["scale"][i], rtol=1e-4)
        assert_allclose(out["shift"], w["shift"][i], rtol=1e-4, atol=1e-6)


def test_dwls_score_tests_match_lavtestscore(hs_cut, ref):
    """DWLS score tests on the WLSMV scalar fit: lavTestScore(fit)$uni X2 for the loading and threshold
    constraints (the marker loadings x1, x4, x7 are fixed, not constrained, in the marker identification)."""
    from efficacy.sem import sem
    from efficacy.sem.lrt import score_test

    eq = ("thresholds", "loadings", "intercepts")
    scalar = sem(hs_cut, MODEL, group="school", equal=eq, auto="cfa", ordered=True)
    w = ref["wlsmv"]["score"]
    pick = [i for i, par in enumerate(w["parameter"]) if par not in ("visual =~ x1", "textual =~ x4", "speed =~ x7")]
    pick = pick[::3]   # every third constraint: 2 loadings and 8 thresholds (each evaluation recomputes polychorics)
    stats, ps = [], []
    for i in pick:
        rel = sem(hs_cut, MODEL, group="school", equal=eq, partial=(w["parameter"][i],), auto="cfa", ordered=True,
                  at=scalar.estimates)
        st = score_test(scalar, rel)
        stats.append(st["statistic"])
        ps.append(st["pvalue"])
    assert_allclose(stats, [w["X2"][i] for i in pick], rtol=1e-4, atol=1e-5)
    assert_allclose(ps, [w["p"][i] for i in pick], atol=1e-4)


def test_wlsmv_partial_search_frees_an_intercept_by_score_test(wlsmv_result):
    """The ordinal scalar step fails; the DWLS score test of freeing each latent-response intercept in the second
    group picks x3 (the item whose intercept the ML search also frees first), and the model then holds."""
    res = wlsmv_result
    tab = res.to_frame()
    assert list(tab.step) == ["configural", "thresholds", "metric", "scalar", "partial_scalar", "strict"]
    ps = tab.iloc[4]
    assert ps.freed == "x3 ~ 1" and ps.decision == "invariant"
    assert res.partial_search.test.tolist() == ["score"] and res.partial_search.statistic.iloc[0] > 20
    assert ps.freed_by.startswith("x3 ~ 1: score")
    # the strict step (theta parameterisation, x3's intercept still free) holds as well: tests/test_wlsmv_theta.py
    assert tab.freed.iloc[-1] == "x3 ~ 1" and res.highest == "strict"


# ----------------------------------------------------------------------------- bad input


def test_empty_category_in_one_group_is_a_named_error(hs_cut):
    from efficacy.errors import MeasurementError
    from efficacy.measurement import invariance

    d = hs_cut.copy()
    d.loc[(d.school == "Pasteur") & (d.x3 == 5), "x3"] = 4   # no Pasteur child in x3's top category
    with pytest.raises(MeasurementError, match=r"'x3' has an empty category.*Pasteur.*found no answer in category 5"):
        invariance(d, MODEL, "school", ordered=True)


def test_bad_estimator_and_step_combinations(hs, hs_cut):
    from efficacy.errors import MeasurementError
    from efficacy.measurement import invariance

    with pytest.raises(MeasurementError, match="unknown invariance step"):
        invariance(hs_cut, MODEL, "school", ordered=True, levels=("configural", "residuals"))
    with pytest.raises(MeasurementError, match="WLSMV' needs the ordered items"):
        invariance(hs, MODEL, "school", estimator="WLSMV")
    with pytest.raises(MeasurementError, match="ordered items are fitted by WLSMV"):
        invariance(hs_cut, MODEL, "school", ordered=True, estimator="MLR")
    with pytest.raises(MeasurementError, match="unknown invariance step"):
        invariance(hs, MODEL, "school", levels=("configural", "thresholds"))
    with pytest.raises(MeasurementError, match="unknown lrt_method"):
        invariance(hs, MODEL, "school", lrt_method="wald")
    with pytest.raises(MeasurementError, match="unknown partial_method"):
        invariance(hs, MODEL, "school", partial_method="mi")


def test_lrt_and_score_test_input_errors(hs):
    from efficacy.errors import SEMError
    from efficacy.sem import sem
    from efficacy.sem.lrt import lrt_difference, score_test

    m1 = sem(hs, MODEL, group="school", auto="cfa", estimator="MLR")
    m0 = sem(hs, MODEL, group="school", equal=("loadings",), auto="cfa", estimator="MLR")
    with pytest.raises(SEMError, match="needs m10"):
        lrt_difference(m1, m0, method="satorra.bentler.2010")
    with pytest.raises(SEMError, match="unknown difference-test method"):
        lrt_difference(m1, m0, method="wald")
    with pytest.raises(SEMError, match="evaluated at the restricted estimates"):
        score_test(m0, m1)
    with pytest.raises(SEMError, match="at= is implemented for multi-group"):
        sem(hs, MODEL, auto="cfa", at=m0.estimates)


def test_chisq_partial_route_is_kept(hs):
    """partial_method="chisq" (the search before issue #18: refit each candidate, keep the largest chi-square
    drop) frees the same intercepts on HS1939; the drop is the LRT of the freed intercept."""
    from efficacy.measurement import invariance

    res = invariance(hs, MODEL, "school", partial_method="chisq", levels=("configural", "metric", "scalar"))
    search = res.partial_search
    assert list(search.parameter) == ["x3 ~ 1", "x7 ~ 1"] and (search.test == "chisq").all()
    assert_allclose(search.statistic.iloc[0], 164.102830926608 - 144.578998784199, rtol=1e-4)  # lavaan chisq
    assert res.to_frame().freed_by.iloc[-1].startswith("x3 ~ 1: chi-square drop 19.52")
