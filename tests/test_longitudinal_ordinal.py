"""Longitudinal invariance of ordered-categorical items by WLSMV (issue #18) against lavaan 0.6 + semTools.

Fixture: tests/reference/longitudinal_ordinal.R -> longitudinal_ordinal_panel.json. Data: the simulated 3-wave
panel of longitudinal_panel.csv cut into 4 categories (longitudinal_ordinal_panel.csv; MAR attrition, the intercept
of item 3 drifting at wave 3). The R side fits the longitudinal Wu & Estabrook (2016) sequence written by
semTools::measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", longFacNames, longIndNames, long.equal)
with lavaan WLSMV (delta parameterisation; the strict step under theta), missing = "pairwise" and "listwise". efficacy identifies the factors
by marker items instead of std.lv: the same fit, thresholds, scaling factors, latent-response intercepts,
residual covariances and standardised loadings. Tolerance 1e-4 (iterative estimates, both sides converge to
~1e-8 in the gradient), standard errors 1e-3 relative.
"""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from efficacy.errors import MeasurementError, SEMError
from efficacy.measurement import longitudinal_invariance, longitudinal_syntax
from efficacy.measurement.longitudinal import LONGITUDINAL_COLUMNS, ORDINAL_STEPS

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "longitudinal_ordinal_panel.json").read_text())
DATA = pd.read_csv(REF / "longitudinal_ordinal_panel.csv")
ITEMS = FIX["items"]
ALL = [v for w in ITEMS.values() for v in w]
FIT_KEYS = ["npar", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor",
            "cfi", "tli", "rmsea", "cfi.scaled", "tli.scaled", "rmsea.scaled", "cfi.robust",
            "tli.robust", "rmsea.robust", "srmr"]


def _num(x):
    return np.nan if x == "NA" or x is None else float(x)


@pytest.fixture(scope="module", params=["pairwise", "listwise"])
def fitted(request):
    return request.param, longitudinal_invariance(DATA, ITEMS, ordered=True, missing=request.param)


def test_fit_measures_match_lavaan(fitted):
    miss, res = fitted
    assert res.estimator == "WLSMV" and res.missing == miss and res.indices == "scaled"
    for step, ref in FIX[miss]["steps"].items():
        ours = res.fits[step].fit
        assert res.fits[step].n == ref["fit"]["ntotal"]
        for k in FIT_KEYS:
            # lavaan gives no robust CFI/TLI/RMSEA once thresholds are equal (NA): NaN here too
            np.testing.assert_allclose(ours[k], _num(ref["fit"][k]), rtol=1e-4, atol=1e-6, err_msg=f"{miss} {step} {k}")


def test_difference_tests_match_lavTestLRT(fitted):
    miss, res = fitted
    t = res.to_frame().set_index("step")
    for step, ref in FIX[miss]["lrt"].items():
        np.testing.assert_allclose(t.loc[step, ["delta_chisq", "delta_df", "lrt_pvalue"]].astype(float),
                                   [ref["statistic"], ref["df"], ref["pvalue"]], rtol=1e-4, err_msg=step)


def test_estimates_match_lavaan(fitted):
    """Thresholds, scaling factors, latent-response intercepts and residual (co)variances of the items (the same
    under marker and std.lv identification) with their SEs; standardised loadings."""
    miss, res = fitted
    for step, ref in FIX[miss]["steps"].items():
        r = pd.DataFrame(ref["estimates"])
        r["rhs"] = r["rhs"].fillna("")
        ours = res.fits[step].estimates.copy()
        ours["rhs"] = ours["rhs"].fillna("")
        m = r.merge(ours, on=["lhs", "op", "rhs"], how="left")
        items = m["lhs"].isin(ALL)
        same = items & m["op"].isin(["|", "~*~", "~1", "~~"])
        assert m.loc[same, "estimate"].notna().all()
        np.testing.assert_allclose(m.loc[same, "estimate"], m.loc[same, "est"], atol=1e-4, err_msg=step)
        free = same & (m["se_x"] > 0)
        np.testing.assert_allclose(m.loc[free, "se_y"], m.loc[free, "se_x"], rtol=1e-3, err_msg=step)
        load = m["op"] == "=~"
        np.testing.assert_allclose(m.loc[load, "std_all"], m.loc[load, "std.all"], atol=1e-4, err_msg=step)


def test_table_and_decisions(fitted):
    miss, res = fitted
    t = res.to_frame()
    assert list(t.columns) == LONGITUDINAL_COLUMNS and tuple(t["step"]) == ORDINAL_STEPS
    ref = FIX[miss]["steps"]
    np.testing.assert_allclose(t["cfi"], [ref[s]["fit"]["cfi.scaled"] for s in ORDINAL_STEPS], rtol=1e-4)
    np.testing.assert_allclose(t["rmsea"], [ref[s]["fit"]["rmsea.scaled"] for s in ORDINAL_STEPS], atol=1e-6)
    np.testing.assert_allclose(t["chisq_scaled"], [ref[s]["fit"]["chisq.scaled"] for s in ORDINAL_STEPS], rtol=1e-4)
    d_cfi = np.diff([ref[s]["fit"]["cfi.scaled"] for s in ORDINAL_STEPS])
    np.testing.assert_allclose(t["delta_cfi"].iloc[1:], d_cfi, atol=1e-6)
    assert t["decision"].iloc[0] == "reference"
    assert list(t["decision"].iloc[1:]) == ["invariant" if d > -0.01 else "not invariant" for d in d_cfi]
    assert res.highest == "strict" and res.comparable   # strict (theta) holds too: delta CFI -0.004 / -0.002
    assert "WLSMV" in res.sentence() and "strict-invariant" in res.sentence()
    assert t["converged"].all() and t["proper"].all()
    assert json.dumps(res.to_dict())   # serialisable


def test_stricter_cutoff_flags_the_scalar_step():
    res = longitudinal_invariance(DATA, ITEMS, ordered=ALL, cutoffs={"delta_cfi": -0.002})
    assert res.decisions["scalar"] == "not invariant" and res.highest == "metric" and not res.comparable
    assert "Only metric invariance" in res.sentence() and "scalar step fails" in res.sentence()


def test_syntax_is_the_R_syntax_and_the_measEq_model(fitted):
    """longitudinal_syntax(ordered=True) is the syntax the R script fits; lavaan gives it measEq.syntax's chi-square."""
    miss, res = fitted
    for step in ORDINAL_STEPS:
        assert longitudinal_syntax(ITEMS, step, ordered=True, n_categories=4) == FIX["syntax"][step]
        if miss == "pairwise":
            assert res.syntax[step] == FIX["syntax"][step]
            np.testing.assert_allclose(FIX["syntax_chisq"][step], FIX["pairwise"]["steps"][step]["fit"]["chisq"],
                                       rtol=1e-6)


def test_lavaan_syntax_of_the_steps():
    s = longitudinal_syntax(ITEMS, "thresholds", ordered=True, n_categories=4).splitlines()
    assert "se2_w1 | th2_1*t1 + th2_2*t2 + th2_3*t3" in s and "se2_w3 | th2_1*t1 + th2_2*t2 + th2_3*t3" in s
    assert "se1_w1 ~ 0*1" in s and "se1_w2 ~ NA*1" in s and "se1_w1 ~*~ 1*se1_w1" in s and "se4_w3 ~*~ NA*se4_w3" in s
    c = longitudinal_syntax(ITEMS, "configural", ordered=True, n_categories=4).splitlines()
    assert "se2_w1 | t1 + t2 + t3" in c and "se1_w2 ~ 0*1" in c and "se1_w2 ~*~ 1*se1_w2" in c
    sc = longitudinal_syntax(ITEMS, "scalar", ordered=True, n_categories=4).splitlines()
    assert "f_w2 =~ 1*se1_w2 + l2*se2_w2 + l3*se3_w2 + l4*se4_w2" in sc
    assert "se1_w2 ~ 0*1" in sc and "f_w1 ~ 0*1" in sc and "f_w3 ~ 1" in sc and "se1_w1 ~~ se1_w3" in sc
    st = longitudinal_syntax(ITEMS, "strict", ordered=True, n_categories=4).splitlines()   # theta: no ~*~ lines
    assert "se1_w2 ~~ 1*se1_w2" in st and "se1_w2 ~ 0*1" in st and not any("~*~" in x for x in st)
    th = longitudinal_syntax(ITEMS, "thresholds", ordered=True, n_categories=4, parameterization="theta").splitlines()
    assert "se1_w1 ~~ 1*se1_w1" in th and "se1_w2 ~~ NA*se1_w2" in th and "se1_w2 ~ NA*1" in th
    with pytest.raises(MeasurementError, match="theta parameterisation"):
        longitudinal_syntax(ITEMS, "strict", ordered=True, parameterization="delta")
    with pytest.raises(MeasurementError, match="step"):
        longitudinal_syntax(ITEMS, "residuals", ordered=True)


# --------------------------------------------------------------------------- bad input

def test_empty_category_at_one_wave_is_named():
    bad = DATA.copy()
    bad.loc[bad["se3_w3"] == 1, "se3_w3"] = 2
    with pytest.raises(MeasurementError, match="se3_w3.*empty category at wave 'w3'") as e:
        longitudinal_invariance(bad, ITEMS, ordered=True)
    assert "categor" in str(e.value) and "1" in str(e.value) and "se3_w1" in str(e.value)


def test_bad_options_raise():
    with pytest.raises(MeasurementError, match="ordered=True"):
        longitudinal_invariance(DATA, ITEMS, estimator="WLSMV")
    with pytest.raises(MeasurementError, match="WLSMV"):
        longitudinal_invariance(DATA, ITEMS, ordered=True, estimator="MLR")
    with pytest.raises(MeasurementError, match="every item of every wave"):
        longitudinal_invariance(DATA, ITEMS, ordered=ALL[:-1])
    with pytest.raises(MeasurementError, match="missing"):
        longitudinal_invariance(DATA, ITEMS, ordered=True, missing="imputation")


def test_engine_checks_threshold_sets():
    from efficacy.sem.engine import parse_model
    from efficacy.sem.wls import fit_wlsmv

    rows = parse_model("f =~ se1_w1 + se2_w1 + se3_w1 + se4_w1")
    with pytest.raises(SEMError, match="not ordered indicators"):
        fit_wlsmv(DATA, rows, auto="cfa", equal_thresholds=[["se1_w1", "se1_w2"]])
    three = DATA.assign(se2_w1=DATA["se2_w1"].clip(upper=3))
    with pytest.raises(SEMError, match="same number of observed categories"):
        fit_wlsmv(three, rows, auto="cfa", equal_thresholds=[["se1_w1", "se2_w1"]])


# --------------------------------------------------------------------------- the panel stage

def _codebook(items, estimator="WLSMV"):
    scales = {f"eff_{w}": SimpleNamespace(items=list(v), wave=int(w[1:])) for w, v in items.items()}
    return SimpleNamespace(
        study="sim_long_ord", id="id", path=None, scales=scales,
        waves={"efficacy": list(scales), "behavior": [f"beh_{w}" for w in items]},
        design=SimpleNamespace(panel_x="efficacy", panel_y="behavior", covariates=[]),
        construct_of=lambda name: "self_efficacy" if name.startswith("eff") else None,
        estimator_for=lambda scale: estimator,
    )


def test_panel_stage_uses_wlsmv_for_ordinal_scales():
    from efficacy import panel

    t = panel._longitudinal_invariance_table(DATA, _codebook(ITEMS))
    eff = t[t["measure"] == "efficacy"]
    assert (eff["estimator"] == "WLSMV").all() and (eff["missing"] == "pairwise").all()
    assert tuple(eff["step"]) == ORDINAL_STEPS
    ref = FIX["pairwise"]["steps"]
    np.testing.assert_allclose(eff["chisq"], [ref[s]["fit"]["chisq"] for s in ORDINAL_STEPS], rtol=1e-4)
    assert (eff["reason"].fillna("") == "").all() and (eff["highest"] == "strict").all()


def test_panel_stage_falls_back_to_mlr_with_the_reason():
    from efficacy import panel

    bad = DATA.copy()
    bad.loc[bad["se3_w3"] == 1, "se3_w3"] = 2
    t = panel._longitudinal_invariance_table(bad, _codebook(ITEMS))
    eff = t[t["measure"] == "efficacy"]
    assert (eff["estimator"] == "MLR").all() and (eff["missing"] == "fiml").all()
    assert eff["reason"].str.contains("WLSMV failed .*se3_w3.*empty category at wave '3'").all()
    assert tuple(eff["step"]) == ("configural", "metric", "scalar", "strict")
    assert "MLR used" in eff["reason"].iloc[0].split(";")[0]   # the clause the summary quotes
