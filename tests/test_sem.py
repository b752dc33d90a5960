"""Tests for efficacy.sem against lavaan (tests/reference/sem.R, tests/reference/panel.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.sem import SEMError, SEMResult, parse_model, sem
from efficacy.errors import DataError

REF = Path(__file__).resolve().parent / "reference"
HS = json.loads((REF / "sem_hs1939.json").read_text(encoding="utf-8"))
MODEL = HS["model"]
FIT_KEYS = ("chisq", "loglik", "aic", "bic", "cfi", "tli", "srmr", "rmsea", "rmsea_ci_low", "rmsea_ci_high",
            "baseline_chisq")


@pytest.fixture(scope="module")
def hs():
    return pd.read_csv(REF / "sem_hs1939.csv")


def holes(d):
    # the same NA positions as tests/reference/sem.R (1-based seq -> 0-based rows)
    d = d.copy()
    d.loc[np.arange(0, len(d), 7), "x2"] = np.nan
    d.loc[np.arange(2, len(d), 5), "x6"] = np.nan
    d.loc[np.arange(1, len(d), 11), "x9"] = np.nan
    return d


CASES = {
    "cfa": dict(),
    "cfa_meanstructure": dict(meanstructure=True),
    "cfa_fiml": dict(missing="fiml"),
    "sem_latent_regression": dict(model=HS["model2"], auto="sem"),
    "sem_path": dict(model=HS["model3"], auto="sem"),
}


@pytest.fixture(scope="module")
def fits(hs):
    out = {}
    for key, kw in CASES.items():
        d = holes(hs) if key == "cfa_fiml" else hs
        kw = {"model": MODEL, "auto": "cfa", **kw}
        out[key] = sem(d, kw.pop("model"), **kw)
    return out


@pytest.mark.parametrize("key", sorted(CASES))
def test_fit_measures_match_lavaan(fits, key):
    ref = HS[key]["fit"]
    res = fits[key]
    assert isinstance(res, SEMResult) and res.converged and res.proper and not res.warnings
    for k in ("df", "npar", "n", "baseline_df"):
        assert res.fit[k] == ref[k], k
    for k in FIT_KEYS:
        assert_allclose(res.fit[k], ref[k], rtol=1e-3, atol=1e-6, err_msg=k)
    assert_allclose(res.fit["pvalue"], ref["pvalue"], rtol=1e-3)


@pytest.mark.parametrize("key", sorted(CASES))
def test_estimates_match_lavaan(fits, key):
    ref = pd.DataFrame(HS[key]["estimates"]).fillna({"rhs": ""}).set_index(["lhs", "op", "rhs"])
    ref = ref.rename(columns={"est": "estimate"})  # lavaan's est is our estimate
    est = fits[key].estimates.set_index(["lhs", "op", "rhs"])
    assert set(ref.index) <= set(est.index)
    ours = est.loc[ref.index]
    for c in ("estimate", "se", "std_all", "ci_low", "ci_high"):
        assert_allclose(ours[c], ref[c], rtol=1e-3, atol=1e-5, err_msg=c)


def test_textbook_values(fits):
    # lavaan tutorial (HolzingerSwineford1939 3-factor CFA)
    f = fits["cfa"].fit
    assert_allclose([f["chisq"], f["cfi"], f["tli"], f["rmsea"], f["srmr"], f["aic"], f["bic"], f["loglik"]],
                    [85.306, 0.931, 0.896, 0.092, 0.065, 7517.490, 7595.339, -3737.745], atol=1e-3)
    assert f["df"] == 24


def test_equality_labels_reduce_npar(hs):
    free = sem(hs, MODEL, auto="cfa")
    eq = sem(hs, "visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9", auto="cfa")
    assert eq.fit["npar"] == free.fit["npar"] - 1 and eq.fit["df"] == free.fit["df"] + 1
    e = eq.estimates.set_index(["lhs", "op", "rhs"])
    assert e.loc[("visual", "=~", "x2"), "estimate"] == e.loc[("visual", "=~", "x3"), "estimate"]
    assert eq.fit["chisq"] >= free.fit["chisq"]


def test_parse_model():
    rows = parse_model("f =~ 1*a + b\ny1 + y2 ~ lab*x\ny1 ~~ 0*y2\ny1 ~ 1\ny2 ~ 0*1  # comment")
    assert ("f", "=~", "a", 1.0) in rows and ("y2", "~", "x", "lab") in rows
    assert ("y1", "~~", "y2", 0.0) in rows and ("y1", "~1", "", None) in rows and ("y2", "~1", "", 0.0) in rows


def test_bad_input(hs):
    with pytest.raises(DataError, match="column 'nope': no such column in the data"):
        sem(hs, "f =~ x1 + x2 + nope")
    with pytest.raises(DataError, match="did you mean 'x3'"):
        sem(hs, "f =~ x1 + x2 + X3")
    with pytest.raises(SEMError, match="cannot parse"):
        sem(hs, "f := x1")
    with pytest.raises(SEMError, match="missing-data"):
        sem(hs, MODEL, missing="pairwise")
    with pytest.raises(SEMError, match="zero variance.*x3"):
        sem(hs.assign(x3=1.0), MODEL)


def test_unidentified_model_is_flagged(hs):
    # two free loadings, a free factor variance and two residual variances on two indicators
    res = sem(hs, "f =~ x1 + x2\nf ~~ f\nx1 ~~ x1\nx2 ~~ x2\nf =~ lam*x2", auto="none")
    assert res.fit["df"] < 0 and any("not identified" in w for w in res.warnings)


def test_to_frame_and_repr(fits):
    res = fits["cfa"]
    tab = res.to_frame()
    assert list(tab.columns) == ["lhs", "op", "rhs", "group", "label", "free", "estimate", "se", "statistic", "pvalue",
                                 "ci_low", "ci_high", "std_all"]
    assert "chisq=85.306" in repr(res)
    assert res.vcov.shape == (21, 21)


MG_CASES = {
    "mg_configural": dict(),
    "mg_metric": dict(equal=("loadings",)),
    "mg_scalar": dict(equal=("loadings", "intercepts")),
    "mg_partial": dict(equal=("loadings", "intercepts"), partial=("x3 ~ 1", "x7 ~ 1")),
    "mg_fiml_metric": dict(equal=("loadings",), missing="fiml"),
}


@pytest.mark.parametrize("key", sorted(MG_CASES))
def test_multigroup_matches_lavaan(hs, key):
    # R: cfa(model, data = hs, group = "school", group.equal = ..., group.partial = ...)
    ref = HS[key]
    d = holes(hs) if "fiml" in key else hs
    res = sem(d, MODEL, group="school", auto="cfa", **MG_CASES[key])
    assert res.converged and res.proper
    for k in ("df", "npar", "n", "baseline_df"):
        assert res.fit[k] == ref["fit"][k], k
    for k in FIT_KEYS + ("pvalue",):
        assert_allclose(res.fit[k], ref["fit"][k], rtol=1e-3, atol=1e-6, err_msg=k)
    r = pd.DataFrame(ref["estimates"]).fillna({"rhs": ""}).set_index(["lhs", "op", "rhs", "group"])
    r = r.rename(columns={"est": "estimate"})
    ours = res.estimates.set_index(["lhs", "op", "rhs", "group"]).loc[r.index]
    for c in ("estimate", "se", "std_all"):
        assert_allclose(ours[c], r[c], rtol=1e-3, atol=1e-5, err_msg=c)


def test_multigroup_bad_input(hs):
    with pytest.raises(SEMError, match="unknown equality type.*slopes"):
        sem(hs, MODEL, group="school", equal=("slopes",))
    with pytest.raises(SEMError, match="group column not in the data"):
        sem(hs, MODEL, group="nope")
    with pytest.raises(SEMError, match="need a multi-group model"):
        sem(hs, MODEL, equal=("loadings",))


def test_heywood_case_is_flagged():
    # cor(x1, x2) = cor(x1, x3) = .8, cor(x2, x3) = .4 implies a loading^2 of 1.6 for x1:
    # its residual variance must be negative (a Heywood case)
    rng = np.random.default_rng(3)
    R = np.array([[1, .8, .8], [.8, 1, .4], [.8, .4, 1]])
    Z = rng.normal(size=(400, 3))
    Z = (Z - Z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(Z.T, bias=True)).T)
    X = Z @ np.linalg.cholesky(R).T
    res = sem(pd.DataFrame(X, columns=["x1", "x2", "x3"]), "f =~ x1 + x2 + x3", auto="cfa")
    assert res.converged and not res.proper
    assert any("negative variance" in w and "x1" in w for w in res.warnings)
