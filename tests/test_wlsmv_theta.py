"""WLSMV in lavaan's "theta" parameterisation (efficacy.sem.wls) and the strict steps of ordinal invariance.

Reference values: tests/reference/sem_wlsmv_theta_fits.json, made by tests/reference/sem_wlsmv_theta.R
(lavaan 0.6.14, semTools 0.5.6): ``cfa``/``sem(..., ordered =, estimator = "WLSMV", parameterization = "theta")``
on Holzinger & Swineford x1..x9 cut into 3-5 categories (categorical_hs_cut.csv, the data of
tests/test_sem_wlsmv.py), and the ordinal invariance sequence by school written by
``semTools::measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", parameterization = "theta",
group.equal = ...)`` up to strict (``"residuals"``), with ``lavTestLRT`` differences. The longitudinal strict
step: tests/reference/longitudinal_ordinal.R -> longitudinal_ordinal_panel.json (its strict step is fitted
in the theta parameterisation).

Tolerances (the issue's): estimates and standardised estimates 1e-4 absolute, SEs 1e-3 relative, fit
measures and difference tests 1e-4 relative. Everything is deterministic given the polychoric statistics
(which agree with lavaan to about 1e-8), so a wrong scaling-factor derivative (it enters the Jacobian and so
the SEs and the scaling factor of the test) or a wrong identification (df, npar) is far outside them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import SEMError
from efficacy.measurement import cfa
from efficacy.sem import sem
from efficacy.sem.lrt import lrt_difference

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "sem_wlsmv_theta_fits.json").read_text(encoding="utf-8"))
M = R["models"]

FIT_KEYS = {"chisq": "chisq", "pvalue": "pvalue", "chisq.scaled": "chisq.scaled", "pvalue.scaled": "pvalue.scaled",
            "chisq.scaling.factor": "chisq.scaling.factor",
            "baseline.chisq": "baseline_chisq", "baseline.chisq.scaled": "baseline.chisq.scaled",
            "cfi": "cfi", "tli": "tli", "cfi.scaled": "cfi.scaled", "tli.scaled": "tli.scaled",
            "cfi.robust": "cfi.robust", "tli.robust": "tli.robust", "rmsea": "rmsea", "rmsea.scaled": "rmsea.scaled",
            "rmsea.robust": "rmsea.robust", "srmr": "srmr"}
MG_STEPS = {"configural": (), "thresholds": ("thresholds",), "metric": ("thresholds", "loadings"),
            "scalar": ("thresholds", "loadings", "intercepts"),
            "strict": ("thresholds", "loadings", "intercepts", "residuals")}


@pytest.fixture(scope="module")
def data():
    hs = pd.read_csv(REF / "categorical_hs_cut.csv")[[f"x{i}" for i in range(1, 10)]]
    hs_g = hs.assign(school=pd.read_csv(REF / "sem_hs1939.csv")["school"])   # same row order as the R script
    return dict(hs=hs, hs_g=hs_g)


@pytest.fixture(scope="module")
def fits(data):
    return {"hs": sem(data["hs"], M["hs"], auto="cfa", ordered=True, parameterization="theta"),
            "hs_sem": sem(data["hs"], M["hs_sem"], ordered=True, parameterization="theta")}


@pytest.fixture(scope="module")
def mg(data):
    out = {k: sem(data["hs_g"], M["hs"], auto="cfa", ordered=True, group="school", equal=eq, parameterization="theta")
           for k, eq in MG_STEPS.items()}
    out["strict_partial"] = sem(data["hs_g"], M["hs"], auto="cfa", ordered=True, group="school",
                                equal=MG_STEPS["strict"], partial=("x3 ~~ x3",), parameterization="theta")
    return out


def _ref_table(key):
    e = pd.DataFrame(R[key]["estimates"]).merge(pd.DataFrame(R[key]["std"]), on=["lhs", "op", "rhs", "group"])
    e["rhs"] = e["rhs"].fillna("")
    return e


def _check_fit(res, ref, where):
    assert res.converged and res.proper and not res.warnings, res.warnings
    assert res.fit["df"] == ref["df"] and res.fit["npar"] == ref["npar"] and res.n == ref["ntotal"], where
    for k_ref, k in FIT_KEYS.items():
        if ref[k_ref] is None:   # lavaan 0.6.14: no robust indices once thresholds are constrained across groups
            assert np.isnan(res.fit[k]), f"{where}: {k_ref}"
        else:
            assert_allclose(res.fit[k], ref[k_ref], rtol=1e-4, atol=1e-6, err_msg=f"{where}: {k_ref}")


# ----------------------------------------------------------------------------------------------- one group


@pytest.mark.parametrize("key", ["hs", "hs_sem"])
def test_theta_fit_matches_lavaan(fits, key):
    _check_fit(fits[key], R[key]["fit"], key)
    assert R[key]["options"]["parameterization"] == "theta"


@pytest.mark.parametrize("key", ["hs", "hs_sem"])
def test_theta_estimates_ses_and_standardised_match_lavaan(fits, key):
    """Every row of parameterEstimates: loadings, paths, thresholds, residual variances (fixed at 1), factor
    (co)variances, the derived scaling factors (~*~, fixed rows) and the intercepts; SEs and std.all."""
    ref = _ref_table(key)
    ours = fits[key].estimates.assign(rhs=lambda d: d["rhs"].fillna("")).set_index(["lhs", "op", "rhs"])
    assert len(ours) == len(ref)
    for _, r in ref.iterrows():
        o = ours.loc[(r["lhs"], r["op"], r["rhs"])]
        where = f"{key}: {r['lhs']} {r['op']} {r['rhs']}"
        assert_allclose(o["estimate"], r["est"], atol=1e-4, err_msg=where)
        assert_allclose(o["std_all"], r["est_std"], atol=1e-4, err_msg=where)
        if r["se"] > 0:
            assert_allclose(o["se"], r["se"], rtol=1e-3, err_msg=where)
        else:
            assert o["se"] == 0 and o["free"] == 0, where


def test_theta_layout_residual_variances_fixed_scaling_factors_derived(fits):
    est = fits["hs"].estimates.set_index(["lhs", "op", "rhs"])
    items = [f"x{i}" for i in range(1, 10)]
    for v in items:
        assert est.loc[(v, "~~", v), "estimate"] == 1.0 and est.loc[(v, "~~", v), "free"] == 0
        assert est.loc[(v, "~*~", v), "free"] == 0 and est.loc[(v, "~*~", v), "std_all"] == 1.0
    # delta_i = 1 / sd(y*_i): y*_x2 = lambda visual + e, var = lambda^2 psi + 1
    lam, psi = est.loc[("visual", "=~", "x2"), "estimate"], est.loc[("visual", "~~", "visual"), "estimate"]
    assert_allclose(est.loc[("x2", "~*~", "x2"), "estimate"], 1 / np.sqrt(lam ** 2 * psi + 1), rtol=1e-10)
    assert fits["hs"].vcov.shape == (39, 39)


def test_theta_and_delta_are_the_same_fit(data, fits):
    delta = sem(data["hs"], M["hs"], auto="cfa", ordered=True)
    for k in ("chisq", "chisq.scaled", "chisq.scaling.factor", "chisq.shift.parameters", "cfi.robust", "rmsea.robust",
              "srmr", "df", "npar"):
        assert_allclose(fits["hs"].fit[k], delta.fit[k], rtol=1e-7, err_msg=k)
        if k != "chisq.shift.parameters":   # not a fitMeasures name in lavaan 0.6.14
            assert_allclose(fits["hs"].fit[k], R["hs_delta_fit"][k], rtol=1e-4, err_msg=k)
    # thresholds on the theta scale are the delta ones divided by the scaling factor
    et = fits["hs"].estimates.set_index(["lhs", "op", "rhs"])
    ed = delta.estimates.set_index(["lhs", "op", "rhs"])
    assert_allclose(et.loc[("x5", "|", "t2"), "estimate"] * et.loc[("x5", "~*~", "x5"), "estimate"],
                    ed.loc[("x5", "|", "t2"), "estimate"], rtol=1e-6)
    lam = ed.index[ed.index.get_level_values("op") == "=~"]
    assert_allclose(et.loc[lam, "std_all"], ed.loc[lam, "std_all"], atol=1e-7)   # the same standardised loadings


def test_theta_jacobian_is_the_derivative_of_the_implied_statistics(data):
    """The analytic Jacobian (the scaling factors depend on every parameter under theta) against central
    differences, at a point away from the estimates, with a free residual variance and a latent regression."""
    from efficacy.sem.engine import parse_model
    from efficacy.sem.wls import _ThetaGroup, _wls_rows_theta

    items = [f"x{i}" for i in range(1, 10)]
    rows = _wls_rows_theta(parse_model(M["hs_sem"]), items, free_nu=("x4",), free_theta=("x2", "x7"))
    G = _ThetaGroup(data["hs"], rows, items, "sem", "listwise", None)
    t = G.start() * (1 + 0.1 * np.sin(np.arange(G.nloc)))
    _, _, _, J = G.implied(t, jac=True)
    h = 1e-6
    num = np.column_stack([(G.implied(t + h * e)[0] - G.implied(t - h * e)[0]) / (2 * h) for e in np.eye(G.nloc)])
    assert_allclose(J, num, atol=1e-7)


# ----------------------------------------------------------------------------------------------- multi-group


@pytest.mark.parametrize("key", list(MG_STEPS) + ["strict_partial"])
def test_theta_multigroup_fit_matches_lavaan(mg, key):
    _check_fit(mg[key], R[f"mg_{key}"]["fit"], key)
    assert mg[key].fit["ngroups"] == 2


@pytest.mark.parametrize("key", list(MG_STEPS) + ["strict_partial"])
def test_theta_multigroup_estimates_match_lavaan(mg, key):
    """Thresholds, residual variances, scaling factors and latent-response intercepts (the same under marker or
    std.lv identification of the factors): estimates and SEs; every row's std.all.

    Estimates to 1e-4 absolute or relative: on the theta scale the thresholds of the weakly identified x9
    (loading about 6) reach |4.7|, and lavaan's own optimum is only that precise there (nlminb's rel.tol = 1e-10
    on the discrepancy: refitting the configural model with rel.tol = 1e-12 moves x9|t1 in group 2 from
    -4.67383 to -4.67365; ours is -4.67371, at a chi-square 3e-7 below lavaan's). In the metric model the
    residual variance of x1 in group 2 is as flat (1.60386 here, 1.60418 in lavaan, a 2e-4 relative difference;
    rel.tol = 1e-12 makes lavaan report non-convergence): there 3e-4. Each of our chi-squares is below lavaan's."""
    tol = 3e-4 if key == "metric" else 1e-4
    assert mg[key].fit["chisq"] <= R[f"mg_{key}"]["fit"]["chisq"] + 1e-9
    ref = _ref_table(f"mg_{key}")
    ours = mg[key].estimates.assign(rhs=lambda d: d["rhs"].fillna("")).set_index(["lhs", "op", "rhs", "group"])
    assert len(ours) == len(ref)
    for _, r in ref.iterrows():
        o = ours.loc[(r["lhs"], r["op"], r["rhs"], r["group"])]
        where = f"{key}: {r['lhs']} {r['op']} {r['rhs']} (group {r['group']})"
        assert_allclose(o["std_all"], r["est_std"], atol=1e-4, err_msg=where)
        if r["op"] in ("|", "~*~") or (r["op"] in ("~1", "~~") and r["lhs"].startswith("x")):
            assert_allclose(o["estimate"], r["est"], atol=tol, rtol=tol, err_msg=where)
            if r["se"] > 0:
                assert_allclose(o["se"], r["se"], rtol=1e-3, err_msg=where)
            else:
                assert o["free"] == 0, where


def test_theta_multigroup_wu_estabrook_layout(mg):
    th = mg["thresholds"].estimates.set_index(["lhs", "op", "rhs", "group"])
    # equal thresholds free the residual variances and intercepts of group 2, not the scaling factors
    assert th.loc[("x2", "~~", "x2", 1), "free"] == 0 and th.loc[("x2", "~~", "x2", 2), "free"] > 0
    assert th.loc[("x2", "~1", "", 2), "free"] > 0
    assert (mg["thresholds"].estimates.query("op == '~*~'")["free"] == 0).all()
    st = mg["strict"].estimates.set_index(["lhs", "op", "rhs", "group"])
    assert st.loc[("x2", "~~", "x2", 2), "free"] == 0 and st.loc[("x2", "~~", "x2", 2), "estimate"] == 1.0
    sp = mg["strict_partial"].estimates.set_index(["lhs", "op", "rhs", "group"])
    assert sp.loc[("x3", "~~", "x3", 2), "free"] > 0 and sp.loc[("x2", "~~", "x2", 2), "free"] == 0


def test_theta_multigroup_equals_delta_for_the_non_strict_steps(data, mg):
    for k in ("configural", "thresholds", "metric", "scalar"):
        d = sem(data["hs_g"], M["hs"], auto="cfa", ordered=True, group="school", equal=MG_STEPS[k])
        for f in ("chisq", "chisq.scaled", "chisq.scaling.factor", "df", "srmr"):
            assert_allclose(mg[k].fit[f], d.fit[f], rtol=1e-6, err_msg=f"{k}: {f}")
    assert_allclose(mg["scalar"].fit["chisq.scaled"], R["mg_scalar_delta_fit"]["chisq.scaled"], rtol=1e-4)


@pytest.mark.parametrize("step, prev", [("thresholds", "configural"), ("metric", "thresholds"),
                                        ("scalar", "metric"), ("strict", "scalar"), ("strict_partial", "scalar")])
def test_theta_difference_tests_match_lavtestlrt(mg, step, prev):
    ref = R["mg_lrt"][step]
    d = lrt_difference(mg[prev], mg[step])
    assert d["method"] == "satorra.2000" and d["delta_df"] == ref["df"]
    assert_allclose(d["delta_chisq"], ref["statistic"], rtol=1e-4)
    assert_allclose(d["pvalue"], ref["pvalue"], rtol=1e-4)


def test_strict_difference_test_against_the_delta_scalar_fit(data, mg):
    """The Satorra (2000) difference test does not depend on the parameterisation of the larger model: the
    delta scalar fit against the theta strict fit gives lavaan's theta-vs-theta statistic."""
    scalar_delta = sem(data["hs_g"], M["hs"], auto="cfa", ordered=True, group="school", equal=MG_STEPS["scalar"])
    d = lrt_difference(scalar_delta, mg["strict"])
    assert_allclose(d["delta_chisq"], R["mg_lrt"]["strict"]["statistic"], rtol=1e-4)


def test_cfa_passes_parameterization_through(data):
    res = cfa(data["hs_g"], M["hs"], group="school", equal=MG_STEPS["strict"], ordered=True, parameterization="theta")
    assert_allclose(res.fit["chisq.scaled"], R["mg_strict"]["fit"]["chisq.scaled"], rtol=1e-4)


# ----------------------------------------------------------------------------------------------- bad input


def test_bad_parameterization_raises(data):
    with pytest.raises(SEMError, match="unknown parameterization"):
        sem(data["hs"], M["hs"], auto="cfa", ordered=True, parameterization="gamma")
    with pytest.raises(SEMError, match="parameterization= applies to ordered"):
        sem(data["hs"], M["hs"], auto="cfa", parameterization="theta")
    with pytest.raises(SEMError, match="delta parameterisation"):   # strict needs theta
        sem(data["hs_g"], M["hs"], auto="cfa", ordered=True, group="school", equal=MG_STEPS["strict"])


def test_theta_free_scales_and_delta_free_residuals_raise(data):
    from efficacy.sem.engine import parse_model
    from efficacy.sem.wls import fit_wlsmv

    rows = parse_model(M["hs"])
    with pytest.raises(SEMError, match="not parameters in the theta"):
        fit_wlsmv(data["hs"], rows, auto="cfa", parameterization="theta", free_scales=["x2"])
    with pytest.raises(SEMError, match="only in the theta"):
        fit_wlsmv(data["hs"], rows, auto="cfa", free_residuals=["x2"])


def test_theta_user_residual_variance_row_is_kept(data):
    """Under theta a residual variance the user writes is a parameter like any other (lavaan keeps it)."""
    res = sem(data["hs"], M["hs"] + "\nx1 ~~ 1*x1", auto="cfa", ordered=True, parameterization="theta")
    assert_allclose(res.fit["chisq"], R["hs"]["fit"]["chisq"], rtol=1e-4)


# ----------------------------------------------------------------------------------------------- invariance()


@pytest.fixture(scope="module")
def inv(data):
    from efficacy.measurement import invariance

    return invariance(data["hs_g"], M["hs"], "school", ordered=True)


def test_ordinal_invariance_has_a_strict_step_matching_lavaan(inv):
    """Scalar fails, x3's intercept is freed (partial_scalar), and strict keeps it free: lavaan's
    measEq.syntax(..., group.equal = c(thresholds, loadings, intercepts, residuals), group.partial = "x3 ~ 1",
    parameterization = "theta") fit and lavTestLRT(partial scalar, strict) in the theta parameterisation."""
    tab = inv.to_frame().set_index("step")
    assert list(tab.index) == ["configural", "thresholds", "metric", "scalar", "partial_scalar", "strict"]
    st, ref = tab.loc["strict"], R["mg_strict_x3"]["fit"]
    assert st["freed"] == "x3 ~ 1" and st["df"] == ref["df"] and st["converged"] and st["proper"]
    for col, key in [("chisq", "chisq"), ("chisq_scaled", "chisq.scaled"), ("cfi", "cfi.scaled"),
                     ("tli", "tli.scaled"), ("rmsea", "rmsea.scaled"), ("srmr", "srmr")]:
        assert_allclose(st[col], ref[key], rtol=1e-4, err_msg=col)
    lrt = R["mg_lrt"]["strict_x3"]
    assert st["lrt_method"] == "satorra.2000" and st["delta_df"] == lrt["df"]
    assert_allclose([st["delta_chisq"], st["lrt_pvalue"]], [lrt["statistic"], lrt["pvalue"]], rtol=1e-4)
    assert_allclose(st["delta_cfi"], ref["cfi.scaled"] - R["mg_partial_scalar_x3"]["fit"]["cfi.scaled"], atol=1e-6)
    ps = R["mg_lrt"]["partial_scalar_x3"]   # the partial scalar step against metric (delta) as lavaan
    assert_allclose(tab.loc["partial_scalar", "delta_chisq"], ps["statistic"], rtol=1e-4)
    assert st["decision"] == "invariant" and inv.highest == "strict"


def test_ordinal_invariance_without_partial_search_strict_against_scalar(data):
    from efficacy.measurement import invariance

    res = invariance(data["hs_g"], M["hs"], "school", ordered=True, find_partial=False,
                     levels=("scalar", "strict"))
    st = res.to_frame().set_index("step").loc["strict"]
    assert_allclose(st["chisq_scaled"], R["mg_strict"]["fit"]["chisq.scaled"], rtol=1e-4)
    assert_allclose(st["delta_chisq"], R["mg_lrt"]["strict"]["statistic"], rtol=1e-4)
    assert_allclose(st["lrt_pvalue"], R["mg_lrt"]["strict"]["pvalue"], rtol=1e-4)


def test_ordinal_invariance_all_steps_under_theta_is_the_same_table(data, inv):
    from efficacy.measurement import invariance

    th = invariance(data["hs_g"], M["hs"], "school", ordered=True, parameterization="theta").to_frame()
    de = inv.to_frame()
    assert list(th["step"]) == list(de["step"]) and list(th["freed"]) == list(de["freed"])
    for col in ("chisq", "chisq_scaled", "cfi", "rmsea", "srmr", "delta_chisq", "delta_cfi"):
        assert_allclose(th[col], de[col], rtol=1e-5, atol=1e-8, err_msg=col)


def test_invariance_parameterization_checked(data):
    from efficacy.errors import MeasurementError
    from efficacy.measurement import invariance

    with pytest.raises(MeasurementError, match="unknown parameterization"):
        invariance(data["hs_g"], M["hs"], "school", ordered=True, parameterization="gamma")
    with pytest.raises(MeasurementError, match="applies to ordered items"):
        invariance(data["hs_g"], M["hs"], "school", parameterization="theta")


# ----------------------------------------------------------------------------------------------- longitudinal


LONG = json.loads((REF / "longitudinal_ordinal_panel.json").read_text(encoding="utf-8"))
LONG_DATA = REF / "longitudinal_ordinal_panel.csv"


@pytest.fixture(scope="module")
def panel_data():
    return pd.read_csv(LONG_DATA)


@pytest.mark.parametrize("miss", ["pairwise", "listwise"])
def test_longitudinal_ordinal_strict_step_matches_lavaan(panel_data, miss):
    """The strict step (residual variances of the latent responses equal over waves, theta parameterisation) as
    measEq.syntax(..., long.equal = c(thresholds, loadings, intercepts, residuals), parameterization = "theta"),
    and lavTestLRT(scalar, strict) with both in the theta parameterisation (tests/reference/longitudinal_ordinal.R)."""
    from efficacy.measurement import longitudinal_invariance

    res = longitudinal_invariance(panel_data, LONG["items"], ordered=True, missing=miss)
    t = res.to_frame().set_index("step")
    ref = LONG[miss]["steps"]["strict"]["fit"]
    st = t.loc["strict"]
    assert st["df"] == ref["df"] and st["converged"] and st["proper"]
    for col, key in [("chisq", "chisq"), ("chisq_scaled", "chisq.scaled"), ("scaling_factor", "chisq.scaling.factor"),
                     ("cfi", "cfi.scaled"), ("rmsea", "rmsea.scaled"), ("srmr", "srmr")]:
        assert_allclose(st[col], ref[key], rtol=1e-4, atol=1e-7, err_msg=col)
    lrt = LONG[miss]["lrt"]["strict"]
    assert st["delta_df"] == lrt["df"]
    assert_allclose([st["delta_chisq"], st["lrt_pvalue"]], [lrt["statistic"], lrt["pvalue"]], rtol=1e-4)
    # the scalar step is the same fit under delta (ours) and theta (lavaan's reference for the LRT)
    assert_allclose(t.loc["scalar", "chisq"], LONG[miss]["scalar_theta_chisq"], rtol=1e-6)
    fit = res.fits["strict"]
    est = fit.estimates.set_index(["lhs", "op", "rhs"])
    assert est.loc[("se2_w3", "~~", "se2_w3"), "estimate"] == 1.0 and est.loc[("se2_w3", "~~", "se2_w3"), "free"] == 0
    assert (fit.estimates.query("op == '~*~'")["free"] == 0).all()
    assert res.syntax["strict"] == LONG["syntax"]["strict"]


def test_longitudinal_ordinal_theta_everywhere(panel_data):
    """parameterization="theta": every step under theta (residual variances, not scaling factors, free at waves 2
    and 3 from the thresholds step to scalar); the same fits and tests as the default."""
    from efficacy.measurement import longitudinal_invariance

    th = longitudinal_invariance(panel_data, LONG["items"], ordered=True, parameterization="theta")
    de = longitudinal_invariance(panel_data, LONG["items"], ordered=True)
    a, b = th.to_frame(), de.to_frame()
    for col in ("chisq", "chisq_scaled", "cfi", "rmsea", "srmr", "delta_chisq", "delta_cfi"):
        assert_allclose(a[col], b[col], rtol=1e-5, atol=1e-8, err_msg=col)
    e = th.fits["metric"].estimates.set_index(["lhs", "op", "rhs"])
    assert e.loc[("se1_w1", "~~", "se1_w1"), "free"] == 0 and e.loc[("se1_w2", "~~", "se1_w2"), "free"] > 0
    assert "se1_w2 ~~ NA*se1_w2" in th.syntax["metric"].splitlines()
    # lavaan (pairwise) scalar chi-square under theta
    assert_allclose(th.fits["scalar"].fit["chisq"], LONG["pairwise"]["scalar_theta_chisq"], rtol=1e-6)


def test_longitudinal_parameterization_checked(panel_data):
    from efficacy.errors import MeasurementError
    from efficacy.measurement import longitudinal_invariance

    with pytest.raises(MeasurementError, match="unknown parameterization"):
        longitudinal_invariance(panel_data, LONG["items"], ordered=True, parameterization="gamma")
    with pytest.raises(MeasurementError, match="applies to ordered items"):
        longitudinal_invariance(panel_data, LONG["items"], parameterization="theta")


def test_result_records_the_parameterization(data, fits):
    assert fits["hs"].parameterization == "theta"
    assert sem(data["hs"], M["hs"], auto="cfa", ordered=True).parameterization == "delta"


def test_summaries_say_strict_was_fitted_under_theta(inv, panel_data):
    from efficacy.measurement import longitudinal_invariance

    assert "theta parameterisation" in inv.summary()
    assert "theta parameterisation" in longitudinal_invariance(panel_data, LONG["items"], ordered=True).summary()
