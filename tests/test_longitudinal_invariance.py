"""Longitudinal measurement invariance (issue #18) against lavaan 0.6 on a simulated 3-wave panel.

Fixture: tests/reference/longitudinal_invariance.R -> longitudinal_invariance_panel.json (data in
longitudinal_panel.csv; FIML, ML and MLR; the intercept of item 3 drifts at wave 3).
Tolerance 1e-4 (iterative estimates; lavaan and efficacy both converge to ~1e-8 in the gradient).
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from efficacy.errors import DataError, MeasurementError
from efficacy.measurement import longitudinal_invariance, longitudinal_syntax

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "longitudinal_invariance_panel.json").read_text())
DATA = pd.read_csv(REF / "longitudinal_panel.csv")
ITEMS = FIX["items"]


@pytest.fixture(scope="module", params=["ML", "MLR"])
def fitted(request):
    return request.param, longitudinal_invariance(DATA, ITEMS, estimator=request.param)


def test_syntax_is_the_R_syntax():
    for step, syn in FIX["syntax"].items():
        assert longitudinal_syntax(ITEMS, step) == syn


def test_fit_measures_match_lavaan(fitted):
    est, res = fitted
    keys = ["chisq", "df", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "npar"]
    if est == "MLR":
        keys += ["chisq.scaled", "chisq.scaling.factor", "cfi.robust", "tli.robust", "rmsea.robust"]
    for step, ref in FIX[est]["steps"].items():
        ours = res.fits[step].fit
        for k in keys:
            np.testing.assert_allclose(ours[k], ref["fit"][k], rtol=1e-4, atol=1e-4, err_msg=f"{est} {step} {k}")


def test_table_uses_robust_indices_for_mlr(fitted):
    est, res = fitted
    t = res.to_frame().set_index("step")
    suffix = ".robust" if est == "MLR" else ""
    for step, ref in FIX[est]["steps"].items():
        np.testing.assert_allclose(t.loc[step, "cfi"], ref["fit"]["cfi" + suffix], atol=1e-4)
        np.testing.assert_allclose(t.loc[step, "rmsea"], ref["fit"]["rmsea" + suffix], atol=1e-4)
        np.testing.assert_allclose(t.loc[step, "srmr"], ref["fit"]["srmr"], atol=1e-4)
    assert res.indices == ("robust" if est == "MLR" else "standard")


def test_estimates_match_lavaan(fitted):
    est, res = fitted
    for step, ref in FIX[est]["steps"].items():
        r = pd.DataFrame(ref["estimates"])
        o = res.fits[step].estimates
        key = ["lhs", "op", "rhs"]
        m = r.merge(o, on=key, how="left", suffixes=("_r", ""))
        assert m["estimate"].notna().all(), f"{step}: parameters missing from ours"
        np.testing.assert_allclose(m["estimate"], m["est"], atol=1e-4, err_msg=f"{est} {step}")
        if est == "MLR":   # ML runs with se=False (only the fit is needed); MLR computes the sandwich
            np.testing.assert_allclose(m["se"], m["se_r"], rtol=1e-3, atol=1e-4, err_msg=f"{est} {step} se")


def test_lrt_matches_lavTestLRT(fitted):
    est, res = fitted
    t = res.to_frame().set_index("step")
    for step, ref in FIX[est]["lrt"].items():
        np.testing.assert_allclose(t.loc[step, "delta_chisq"], ref["statistic"], rtol=1e-4)
        assert t.loc[step, "delta_df"] == ref["df"]
        np.testing.assert_allclose(t.loc[step, "lrt_pvalue"], ref["pvalue"], rtol=1e-3, atol=1e-8)


def test_decisions_flag_the_planted_drift(fitted):
    _, res = fitted
    d = res.decisions
    assert d["configural"] == "reference" and d["metric"] == "invariant" and d["scalar"] == "not invariant"
    assert res.highest == "metric" and not res.comparable
    assert "not comparable" in res.sentence()
    t = res.to_frame().set_index("step")
    assert t.loc["scalar", "delta_cfi"] <= -0.010


def test_cutoffs_and_result_interface(fitted):
    _, res = fitted
    json.dumps(res.to_dict())
    assert "Longitudinal" in res.summary()
    lenient = longitudinal_invariance(DATA, ITEMS, cutoffs={"delta_cfi": -0.02})
    assert lenient.highest == "strict" and lenient.comparable
    assert "comparable over time" in lenient.sentence()


def test_invariant_panel_holds_scalar():
    """Without the drift (the planted item removed) the scalar step holds."""
    items = {w: [v for v in its if not v.startswith("se3")] for w, its in ITEMS.items()}
    res = longitudinal_invariance(DATA, items, missing="fiml")
    assert res.decisions["scalar"] == "invariant"


@pytest.mark.parametrize("bad, match", [
    ({"w1": ["se1_w1", "se2_w1", "se3_w1"]}, "at least 2 waves"),
    ({"w1": ["se1_w1", "se2_w1", "se3_w1"], "w2": ["se1_w2", "se2_w2"]}, "wave 'w2' does not have every item"),
    ({"w1": ["se1_w1", "se2_w1"], "w2": ["se1_w2", "nope"]}, "nope"),
    ({"w1": ["se1_w1", "se2_w1"], "w2": ["se1_w1", "se2_w2"]}, "more than one wave"),
])
def test_bad_waves_raise(bad, match):
    with pytest.raises((MeasurementError, DataError), match=match):   # a missing column is a DataError
        longitudinal_invariance(DATA, bad)


def test_bad_options_raise():
    with pytest.raises(MeasurementError, match="ordered=True"):   # WLSMV needs the ordered items
        longitudinal_invariance(DATA, ITEMS, estimator="WLSMV")
    with pytest.raises(MeasurementError, match="estimator"):
        longitudinal_invariance(DATA, ITEMS, estimator="GLS")
    with pytest.raises(MeasurementError, match="combine"):
        longitudinal_invariance(DATA, ITEMS, cutoffs={"combine": "xor"})


# --------------------------------------------------------------------------- the panel stage and the summary

def _codebook(items=ITEMS, estimator="ML"):
    from types import SimpleNamespace

    scales = {f"eff_{w}": SimpleNamespace(items=list(v), wave=int(w[1:])) for w, v in items.items()}
    return SimpleNamespace(
        study="sim_long", id="id", path=None, scales=scales,
        waves={"efficacy": list(scales), "behavior": [f"beh_{w}" for w in items]},
        design=SimpleNamespace(panel_x="efficacy", panel_y="behavior", covariates=[]),
        construct_of=lambda name: "self_efficacy" if name.startswith("eff") else None,
        estimator_for=lambda scale: estimator,
    )


def test_panel_stage_table():
    from efficacy import panel

    t = panel._longitudinal_invariance_table(DATA, _codebook())
    eff = t[t["measure"] == "efficacy"]
    assert list(eff["step"]) == ["configural", "metric", "scalar", "strict"]
    ref = FIX["ML"]["steps"]
    np.testing.assert_allclose(eff["chisq"], [ref[s]["fit"]["chisq"] for s in eff["step"]], rtol=1e-4)
    assert (eff["highest"] == "metric").all() and not eff["comparable"].any()
    assert eff["conclusion"].iloc[0].startswith("Only metric invariance holds for the efficacy scale across the 3")
    beh = t[t["measure"] == "behavior"]
    assert len(beh) == 1 and beh["decision"].iloc[0] == "not tested"
    assert "single variables" in beh["reason"].iloc[0]
    assert (t["study"] == "sim_long").all()


def test_panel_stage_ordinal_items_use_mlr_and_say_so():
    """Continuous values marked WLSMV: the WLSMV fit is refused (categories differ over waves), MLR is used and
    every row says why (the WLSMV route itself: tests/test_longitudinal_ordinal.py)."""
    from efficacy import panel

    items = {w: v[:3] for w, v in ITEMS.items()}
    t = panel._longitudinal_invariance_table(DATA, _codebook(items, estimator="WLSMV"))
    eff = t[t["measure"] == "efficacy"]
    assert (eff["estimator"] == "MLR").all()
    assert eff["reason"].str.contains("WLSMV failed").all()


def test_panel_stage_wave_without_the_items_is_a_row():
    from efficacy import panel

    items = {**ITEMS, "w3": ITEMS["w3"][:3]}
    t = panel._longitudinal_invariance_table(DATA, _codebook(items))
    row = t[t["measure"] == "efficacy"]
    assert len(row) == 1 and "do not share the same items" in row["reason"].iloc[0]


def test_summary_sentence(tmp_path):
    from efficacy import panel
    from efficacy.summary import build_summary

    study = tmp_path / "sim_long"
    study.mkdir()
    panel._longitudinal_invariance_table(DATA, _codebook()).to_csv(study / "longitudinal_invariance.csv", index=False)
    text = build_summary(tmp_path, ["sim_long"])
    line = [ln for ln in text.splitlines() if ln.startswith("**Comparable across waves?**")]
    assert len(line) == 1
    assert "Only metric invariance holds for the efficacy scale" in line[0] and "not comparable" in line[0]
    assert "behavior" not in line[0]   # the untested single-variable measure is left out of the sentence
