"""Tests for efficacy.mediation.encouragement (issue #19, "Designs that identify more"): the mediator's
effect on the outcome by 2SLS with the encouragement arm as instrument, against R, and its use by the
mediation stage and the evidence profile.

Reference: tests/reference/encouragement.R (AER::ivreg + sandwich::vcovHC HC1, checked there against
2SLS and the sandwich by hand in base R) on the simulated tests/reference/encouragement_sim.csv.
Everything is a deterministic closed form: tolerance 1e-8 relative (1e-10 absolute for p-values).
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import DataError
from efficacy.mediation.encouragement import ENCOURAGEMENT_COLUMNS, WEAK_F, encouragement_iv

REF = Path(__file__).parent / "reference"
DATA = pd.read_csv(REF / "encouragement_sim.csv")
R = json.loads((REF / "encouragement_sim.json").read_text())
CASES = {"with_x_and_covariate": {"x": "x", "covariates": ["c1"]}, "instrument_only": {}}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_aer_ivreg_with_hc1(case):
    ref = R[case]
    r = encouragement_iv(DATA, "z", "m", "y", **CASES[case])
    t = r.to_frame().set_index("effect")
    assert r.n == ref["n"] == 400
    for eff in ("b_iv", "b_ols", "first_stage", "reduced_form"):
        for col in ("estimate", "se", "statistic", "ci_low", "ci_high"):
            assert_allclose(t.loc[eff, col], ref[eff][col], rtol=1e-8, err_msg=f"{case} {eff} {col}")
        assert_allclose(t.loc[eff, "pvalue"], ref[eff]["pvalue"], rtol=1e-8, atol=1e-12)
    assert t.loc["b_iv", "df"] == ref["df_resid"]
    assert_allclose(r.first_stage_f, ref["first_stage_f"], rtol=1e-8)
    assert_allclose(r.first_stage_f_robust, ref["first_stage_f_robust"], rtol=1e-8)
    assert_allclose(r.first_stage_f_pvalue, ref["first_stage_f_pvalue"], rtol=1e-8)
    assert_allclose(r.endogeneity_statistic, ref["endogeneity_statistic"], rtol=1e-8)
    assert_allclose(r.endogeneity_pvalue, ref["endogeneity_pvalue"], rtol=1e-8)
    assert_allclose(r.estimate, ref["b_iv"]["estimate"], rtol=1e-8)
    assert_allclose(r.b_ols, ref["b_ols"]["estimate"], rtol=1e-8)
    assert not r.weak and not r.warnings


def test_result_object():
    r = encouragement_iv(DATA, "z", "m", "y", x="x", covariates=["c1"], ci_level=0.9)
    assert list(r.table.columns) == ENCOURAGEMENT_COLUMNS
    assert r.ci_low < r.estimate < r.ci_high
    wide = encouragement_iv(DATA, "z", "m", "y", x="x", covariates=["c1"])
    assert wide.ci_high - wide.ci_low > r.ci_high - r.ci_low
    d = r.to_dict()
    json.dumps(d)
    assert d["weak"] is False and d["n"] == 400
    assert "2SLS" in r.summary() and "endogeneity" in r.summary()


def _sim(strength, n=300, seed=2):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"x": rng.integers(0, 2, n).astype(float), "z": rng.integers(0, 2, n).astype(float)})
    u = rng.normal(size=n)
    d["m"] = 0.5 * d.x + strength * d.z + u + rng.normal(size=n)
    d["y"] = 0.4 * d.m + u + rng.normal(size=n)
    return d


def test_weak_instrument_is_flagged_and_said():
    r = encouragement_iv(_sim(0.02), "z", "m", "y", x="x")
    assert r.weak and min(r.first_stage_f, r.first_stage_f_robust) < WEAK_F
    assert r.warnings[0].startswith("weak instrument: first-stage F")
    assert "Stock-Yogo" in r.warnings[0]
    strong = encouragement_iv(_sim(1.0), "z", "m", "y", x="x")
    assert not strong.weak and strong.first_stage_f > WEAK_F


def test_incomplete_rows_dropped_and_counted():
    d = _sim(1.0)
    d.loc[:9, "m"] = np.nan
    r = encouragement_iv(d, "z", "m", "y", x="x")
    assert r.n == 290 and "10 of 300 rows" in r.warnings[0]


@pytest.mark.parametrize("change, match", [
    (lambda d: d.assign(z=1.0), "'z' is constant"),
    (lambda d: d.assign(z=d.x), "linear combination of the treatment"),
    (lambda d: d.assign(z="a"), "not numeric"),
    (lambda d: d.assign(z=np.nan), "too few complete cases"),
    (lambda d: d.drop(columns="z"), "'z'"),
])
def test_bad_input_is_a_named_error(change, match):
    with pytest.raises(DataError, match=match):
        encouragement_iv(change(_sim(1.0)), "z", "m", "y", x="x")


def test_instrument_cannot_be_a_role():
    with pytest.raises(DataError, match="instrument"):
        encouragement_iv(_sim(1.0), "x", "m", "y", x="x")
