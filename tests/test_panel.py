"""Tests for efficacy.panel against lavaan and lme4 fixtures (tests/reference/panel.R)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from numpy.testing import assert_allclose

from efficacy import panel
from efficacy.errors import EfficacyError
from efficacy.panel import PanelError, within_person

REF = Path(__file__).resolve().parent / "reference"
X4 = [f"x{t}" for t in range(1, 5)]
Y4 = [f"y{t}" for t in range(1, 5)]


def load(name):
    return json.loads((REF / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def log_data():
    return pd.read_csv(REF / "panel_log.csv")


# --------------------------------------------------------------------------- within-person MLM

LME4_CASES = {
    "beh_reml": dict(),
    "beh_ml": dict(reml=False),
    "beh_reml_slope": dict(random_slopes=True),
    "beh_reml_age": dict(covariates=["age"]),
}


@pytest.mark.parametrize("key", sorted(LME4_CASES))
def test_within_person_matches_lme4(log_data, key):
    # R: lme4::lmer(beh ~ eff_lag_within + eff_lag_between + beh_lag_within [+ age]
    #               + (1 [+ eff_lag_within] | person), REML = ...)  (tests/reference/panel.R)
    ref = load("panel_log.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = within_person(log_data, "person", "day", "eff", "beh", **LME4_CASES[key])
    eff = res.effects[res.effects["outcome"] == "beh"].set_index("term")
    fixed = pd.DataFrame(ref[key]["fixed"])
    fixed["term"] = fixed["term"].replace("(Intercept)", "Intercept")
    fixed = fixed.set_index("term")
    assert list(eff.index) == list(fixed.index)
    assert_allclose(eff["estimate"], fixed["est"], rtol=1e-4)
    assert_allclose(eff["se"], fixed["se"], rtol=1e-4)
    vc_ours = res.variance_components[res.variance_components["outcome"] == "beh"]["estimate"].to_numpy()
    vc_ref = pd.DataFrame(ref[key]["varcomp"])
    # lme4 order: intercept var, [slope var, cov], residual; ours: var(int), [cov, var(slope)], residual
    ref_vals = vc_ref["vcov"].to_numpy()
    if key == "beh_reml_slope":
        ref_vals = ref_vals[[0, 2, 1, 3]]
    assert_allclose(vc_ours, ref_vals, rtol=1e-4)
    assert res.n_obs["beh"] == ref["n_rows"] and res.n_persons["beh"] == ref["n_persons"]


def test_within_person_reverse_direction_matches_lme4(log_data):
    ref = load("panel_log.json")["eff_reml"]
    res = within_person(log_data, "person", "day", "eff", "beh")
    eff = res.effects[res.effects["outcome"] == "eff"].set_index("term")
    fixed = pd.DataFrame(ref["fixed"]).replace({"term": {"(Intercept)": "Intercept"}}).set_index("term")
    assert_allclose(eff.loc[fixed.index, "estimate"], fixed["est"], rtol=1e-4)
    assert_allclose(eff.loc[fixed.index, "se"], fixed["se"], rtol=1e-4)
    assert res.y_to_x_within == eff.loc["beh_lag_within", "estimate"]
    assert res.y_to_x_between == eff.loc["beh_lag_between", "estimate"]


def _direct_design(d):
    """Lag and centre independently of the library (shift within person, check consecutive days)."""
    d = d.sort_values(["person", "day"]).copy()
    g = d.groupby("person")
    consecutive = g["day"].diff() == 1
    d["xl"] = g["eff"].shift(1).where(consecutive)
    d["yl"] = g["beh"].shift(1).where(consecutive)
    d = d.dropna(subset=["xl", "yl", "beh"])
    d["xb"] = d.groupby("person")["xl"].transform("mean")
    d["xw"] = d["xl"] - d["xb"]
    d["yw"] = d["yl"] - d.groupby("person")["yl"].transform("mean")
    return d


@pytest.mark.parametrize("reml", [True, False])
def test_within_person_matches_mixedlm_directly(log_data, reml):
    # Drop some rows so that lags have gaps and occasions are unequal.
    d = log_data.drop(index=log_data.index[::7]).reset_index(drop=True)
    dd = _direct_design(d)
    direct = smf.mixedlm("beh ~ xw + xb + yw", dd, groups=dd["person"]).fit(reml=reml, method=["lbfgs"])
    res = within_person(d, "person", "day", "eff", "beh", reml=reml)
    eff = res.effects[res.effects["outcome"] == "beh"]
    assert_allclose(eff["estimate"].to_numpy(), direct.fe_params.to_numpy(), rtol=1e-4)
    assert_allclose(eff["se"].to_numpy(), direct.bse_fe.to_numpy(), rtol=1e-4)
    assert_allclose(res.variance_components.query("outcome == 'beh'")["estimate"].to_numpy(),
                    [float(direct.cov_re.iloc[0, 0]), direct.scale], rtol=1e-4)
    assert res.n_obs["beh"] == len(dd)


def test_within_and_between_can_differ_in_sign(log_data):
    # True model (panel.R): within-person eff_{t-1} -> beh_t is negative (-0.20 per SD of the
    # within part = -0.04 per eff unit), between persons positive (0.5 per 10 eff units = 0.05).
    res = within_person(log_data, "person", "day", "eff", "beh")
    e = res.effects.set_index(["outcome", "component"])
    w, b = e.loc[("beh", "within")], e.loc[("beh", "between")]
    assert w["ci_high"] < 0 < b["ci_low"]
    assert w["ci_low"] <= -0.04 <= w["ci_high"]
    assert b["ci_low"] <= 0.05 <= b["ci_high"]
    assert res.x_to_y_within < 0 < res.x_to_y_between


def test_single_occasion_person_is_reported(log_data):
    extra = pd.DataFrame({"person": ["solo1", "solo2"], "day": [1, 4], "eff": [50.0, 40.0],
                          "beh": [3.0, 2.0], "age": [30, 40]})
    d = pd.concat([log_data, extra], ignore_index=True)
    with pytest.warns(UserWarning, match="2 person.*single occasion.*solo1"):
        res = within_person(d, "person", "day", "eff", "beh")
    assert res.n_single_occasion == 2
    assert any("single occasion" in w for w in res.warnings)
    base = within_person(log_data, "person", "day", "eff", "beh")
    assert_allclose(res.effects["estimate"], base.effects["estimate"], rtol=1e-8)
    with pytest.raises(PanelError, match="single occasion.*solo1"):
        within_person(d, "person", "day", "eff", "beh", single="raise")


def test_lag_time_versus_previous(log_data):
    # Remove day 3 of one person: lag='time' gives day 4 no lag, lag='previous' uses day 2.
    d = log_data[~((log_data["person"] == "p001") & (log_data["day"] == 3))]
    rt = within_person(d, "person", "day", "eff", "beh", lag="time")
    rp = within_person(d, "person", "day", "eff", "beh", lag="previous")
    assert rp.n_obs["beh"] == rt.n_obs["beh"] + 1


def test_within_person_bad_input(log_data):
    dup = pd.concat([log_data, log_data.iloc[[0]]])
    with pytest.raises(PanelError, match="two rows at the same time"):
        within_person(dup, "person", "day", "eff", "beh")
    frac = log_data.assign(day=log_data["day"] + 0.5 * (log_data.index % 2))
    with pytest.raises(PanelError, match="integer occasion"):
        within_person(frac, "person", "day", "eff", "beh")
    with pytest.raises(PanelError, match="not in the data.*nope"):
        within_person(log_data, "person", "day", "nope", "beh")
    with pytest.raises(EfficacyError, match="same column"):
        within_person(log_data, "person", "day", "eff", "eff")
    one_each = log_data.groupby("person").head(1)
    with pytest.raises(PanelError, match="too few lagged pairs"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            within_person(one_each, "person", "day", "eff", "beh")
