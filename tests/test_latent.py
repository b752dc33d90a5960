"""Tests for efficacy.mediation.latent (latent mediation) against lavaan (tests/reference/latent.R).

Fixtures: tests/reference/latent_mastery.json (bundled mastery_trial, efficacy items se1..se6 as the
mediator factor, treat -> efficacy -> behavior, with/without age, listwise and FIML, plus lavaan's own
percentile bootstrap) and tests/reference/latent_holzinger.json (latent mediator and latent outcome).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import DataError
from efficacy.mediation.latent import LATENT_COLUMNS, LatentMediationResult, latent_mediation, run_stage

REF = Path(__file__).resolve().parent / "reference"
MASTERY = json.loads((REF / "latent_mastery.json").read_text(encoding="utf-8"))
HOLZ = json.loads((REF / "latent_holzinger.json").read_text(encoding="utf-8"))
ITEMS = [f"se{i}" for i in range(1, 7)]
EFFECTS = [("a", "a"), ("b", "b"), ("direct", "c"), ("indirect", "ind"), ("total", "tot")]
FIT_KEYS = ("chisq", "df", "cfi", "tli", "rmsea", "srmr", "loglik", "aic", "bic", "npar", "n")
RTOL = 1e-3  # the tolerance; observed agreement is about 1e-5 (lavaan's own convergence)


@pytest.fixture(scope="module")
def mastery():
    return pd.read_csv(REF / "latent_mastery.csv")


@pytest.fixture(scope="module")
def hs():
    d = pd.read_csv(REF / "sem_hs1939.csv")
    d["pasteur"] = (d["school"] == "Pasteur").astype(int)
    return d


def _lavaan_params(ref):
    """lavaan parameterEstimates rows keyed like our parameter names (free parameters only)."""
    out = {}
    for e in ref["estimates"]:
        if e["op"] == ":=" or e["se"] in (None, 0):
            continue
        key = f"{e['lhs']}~1" if e["op"] == "~1" else f"{e['lhs']}{e['op']}{e['rhs']}"
        out[key] = e
    return out


def _check_against(res, ref):
    lab = {e["label"]: e for e in ref["estimates"] if e["label"]}
    tab = res.to_frame().set_index(["model", "effect"])
    for ours, theirs in EFFECTS:
        row = tab.loc[("latent", ours)]
        assert_allclose(row.estimate, lab[theirs]["est"], rtol=RTOL, err_msg=ours)
        assert_allclose(row.se, lab[theirs]["se"], rtol=RTOL, err_msg=ours)       # delta method for ind, tot
        assert_allclose(row.std_all, lab[theirs]["std_all"], rtol=RTOL, err_msg=ours)
    assert_allclose(res.indirect_std, lab["ind"]["std_all"], rtol=RTOL)
    for k in FIT_KEYS:
        assert_allclose(res.fit[k], ref["fit"][k], rtol=RTOL, atol=1e-6, err_msg=k)
    # every free parameter (loadings, regressions, variances, intercepts with FIML)
    lav = _lavaan_params(ref)
    est = res.estimates.set_index("name")
    assert set(lav) == set(est.index)
    for name, e in lav.items():
        assert_allclose(est.loc[name, "estimate"], e["est"], rtol=RTOL, err_msg=name)
        assert_allclose(est.loc[name, "se"], e["se"], rtol=RTOL, err_msg=name)
        assert_allclose(est.loc[name, "std_all"], e["std_all"], rtol=RTOL, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("key,missing,covs", [
    ("listwise", "listwise", []),
    ("listwise_cov", "listwise", ["age"]),
    ("fiml", "fiml", []),
    ("fiml_cov", "fiml", ["age"]),
])
def test_matches_lavaan_mastery(mastery, key, missing, covs):
    # lavaan: sem("eff =~ se1 + ... + se6; eff ~ a*treat (+ age); behavior ~ b*eff + c*treat (+ age);
    #             ind := a*b; tot := c + a*b", data = d, missing = "listwise" | "ml")
    res = latent_mediation(mastery, "treat", ITEMS, "behavior", covariates=covs, missing=missing, n_boot=0)
    assert isinstance(res, LatentMediationResult)
    assert res.converged and res.proper and res.reason == ""
    assert res.ci_method == "delta"
    _check_against(res, MASTERY[key])
    assert res.n == MASTERY[key]["fit"]["n"]


@pytest.mark.parametrize("key,covs", [("latent_outcome", []), ("latent_outcome_cov", ["x7"])])
def test_matches_lavaan_latent_outcome(hs, key, covs):
    # lavaan: sem("vis =~ x1+x2+x3; tex =~ x4+x5+x6; vis ~ a*pasteur (+ x7); tex ~ b*vis + c*pasteur (+ x7)")
    res = latent_mediation(hs, "pasteur", ["x1", "x2", "x3"], "tex", outcome_items=["x4", "x5", "x6"],
                           covariates=covs, n_boot=0, mediator_name="vis")
    _check_against(res, HOLZ[key])


def test_bootstrap_within_monte_carlo_error_of_lavaan(mastery):
    # lavaan: set.seed(20261129); sem(model_cov, se = "bootstrap", bootstrap = 2000), boot.ci.type = "perc"
    ref = {e["label"]: e for e in MASTERY["listwise_cov_boot"]["estimates"]}
    B = 2000
    res = latent_mediation(mastery, "treat", ITEMS, "behavior", covariates=["age"], n_boot=B, seed=11,
                           sum_score=False)
    assert res.n_failed == 0
    tab = res.to_frame().set_index("effect")
    for ours, theirs in EFFECTS:
        sd = ref[theirs]["se"]                       # lavaan's bootstrap SD
        # MC SE of a 2.5% / 97.5% quantile (normal approximation), for both runs of B = 2000 resamples
        mcse = np.sqrt(0.025 * 0.975 / B) / (0.0584 / sd) * np.sqrt(2)
        assert abs(tab.loc[ours, "ci_low"] - ref[theirs]["ci.lower"]) < 4 * mcse, ours
        assert abs(tab.loc[ours, "ci_high"] - ref[theirs]["ci.upper"]) < 4 * mcse, ours


def test_bootstrap_deterministic_and_tidy(mastery):
    kw = dict(covariates=["age"], n_boot=200, missing="fiml")
    r1 = latent_mediation(mastery, "treat", ITEMS, "behavior", seed=5, **kw)
    r2 = latent_mediation(mastery, "treat", ITEMS, "behavior", seed=5, **kw)
    r3 = latent_mediation(mastery, "treat", ITEMS, "behavior", seed=6, **kw)
    pd.testing.assert_frame_equal(r1.to_frame(), r2.to_frame())
    assert r1.to_frame()["ci_low"].iloc[3] != r3.to_frame()["ci_low"].iloc[3]
    t = r1.to_frame()
    assert list(t["model"].unique()) == ["latent", "sum_score"]
    assert set(t["effect"]) >= {"a", "b", "direct", "indirect", "total", "indirect_std"}
    lo, hi = r1.indirect_ci
    assert lo < r1.indirect < hi and lo > 0                 # efficacy truly mediates in mastery_trial
    assert r1.n_failed == 0 and r1.n_boot == 200
    assert "LatentMediationResult" in repr(r1) and "sum-score" in repr(r1)


def test_bca_interval(mastery):
    res = latent_mediation(mastery, "treat", ITEMS, "behavior", n_boot=300, ci_method="bca", seed=2)
    pct = latent_mediation(mastery, "treat", ITEMS, "behavior", n_boot=300, ci_method="percentile", seed=2)
    assert res.ci_method == "bca"
    lo, hi = res.indirect_ci
    assert np.isfinite([lo, hi]).all() and lo < res.indirect < hi
    assert res.indirect_ci != pct.indirect_ci                # BCa adjusts the percentile levels


def _unreliable(n=3000, seed=0, a=0.5, b=0.4):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n).astype(float)
    eta = a * x + rng.normal(size=n)
    items = {f"i{j}": eta * lam + rng.normal(scale=1.3, size=n) for j, lam in enumerate([1.0, 0.9, 0.8, 1.1])}
    y = b * eta + 0.1 * x + rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": y, **items}), a * b


def test_latent_removes_attenuation_of_the_sum_score():
    d, true_ind = _unreliable()
    res = latent_mediation(d, "x", ["i0", "i1", "i2", "i3"], "y", n_boot=0)
    # the factor recovers the true indirect effect; the unreliable mean score underestimates it
    assert abs(res.indirect - true_ind) < 3 * res.indirect_se
    assert res.sum_score_indirect < res.indirect
    assert abs(res.sum_score_indirect - true_ind) > 3 * res.indirect_se


def test_heywood_case_is_flagged():
    rng = np.random.default_rng(3)
    R = np.array([[1, .8, .8], [.8, 1, .45], [.8, .45, 1]])    # lambda_1^2 = .8 * .8 / .45 > 1
    Z = rng.multivariate_normal(np.zeros(3), R, size=800)
    d = pd.DataFrame(Z, columns=["i1", "i2", "i3"])
    d["x"] = rng.integers(0, 2, 800)
    d["y"] = d["i1"] + rng.normal(size=800)
    res = latent_mediation(d, "x", ["i1", "i2", "i3"], "y", n_boot=0)
    assert not res.proper
    assert any("negative variance" in w for w in res.warnings)
    assert "negative variance" in res.to_frame()["reason"].iloc[0]


def test_fiml_drops_rows_with_missing_covariate(mastery):
    d = mastery.copy()
    d.loc[:4, "age"] = np.nan
    res = latent_mediation(d, "treat", ITEMS, "behavior", covariates=["age"], missing="fiml", n_boot=0)
    assert res.n == MASTERY["fiml_cov"]["fit"]["n"] - 5
    assert any("missing treatment or covariate" in w for w in res.warnings)


@pytest.mark.parametrize("kwargs,match", [
    (dict(m=["se1", "nope"]), "nope"),
    (dict(m=["se1"]), "at least two items"),
    (dict(y="se1"), "two roles"),
    (dict(ci_method="normal"), "bootstrap interval"),
    (dict(missing="pairwise"), "missing-data method"),
    (dict(outcome_items=["se1"]), "latent outcome"),
])
def test_bad_input(mastery, kwargs, match):
    args = dict(data=mastery, x="treat", m=ITEMS, y="behavior", n_boot=0)
    args.update(kwargs)
    with pytest.raises(DataError, match=match):
        latent_mediation(**args)


def test_constant_treatment_and_too_few_rows(mastery):
    d = mastery.assign(treat=1)
    with pytest.raises(DataError, match="treat"):
        latent_mediation(d, "treat", ITEMS, "behavior", n_boot=0)
    with pytest.raises(DataError, match="too few"):
        latent_mediation(mastery.head(8), "treat", ITEMS, "behavior", n_boot=0)
    with pytest.raises(DataError, match="gender"):
        latent_mediation(mastery.assign(gender="f"), "treat", ITEMS, "behavior", covariates=["gender"], n_boot=0)


# ----------------------------------------------------------------------------- workflow stage
@pytest.fixture(scope="module")
def mastery_study():
    from efficacy.cleaning import clean_study
    from efficacy.codebook import load_codebook

    root = Path(__file__).resolve().parents[1]
    cb = load_codebook(root / "data" / "raw" / "mastery_trial")
    return clean_study(cb).clean, cb


def test_run_stage_mastery(mastery_study):
    clean, cb = mastery_study
    out = run_stage(clean, cb, n_boot=50, seed=1)
    assert list(out) == ["latent_mediation"]
    t = out["latent_mediation"]
    assert list(t.columns) == LATENT_COLUMNS
    beh = t[(t["outcome"] == "behavior") & (t["model"] == "latent")].set_index("effect")
    # FIML on the cleaned study = the lavaan FIML fit with age (same rows: latent_export.py)
    lab = {e["label"]: e for e in MASTERY["fiml_cov"]["estimates"] if e["label"]}
    assert_allclose(beh.loc["indirect", "estimate"], lab["ind"]["est"], rtol=RTOL)
    assert_allclose(beh.loc["indirect", "chisq"], MASTERY["fiml_cov"]["fit"]["chisq"], rtol=RTOL)
    assert (t[t["outcome"] == "behavior"]["reason"].fillna("") == "").all()
    adh = t[t["outcome"] == "adherent"]
    assert len(adh) == 1 and "binary outcome" in adh["reason"].iloc[0]


def test_run_stage_reason_rows(mastery_study):
    import dataclasses

    clean, cb = mastery_study
    no_design = dataclasses.replace(cb, design=dataclasses.replace(cb.design, treatment=None))
    t = run_stage(clean, no_design, n_boot=0)["latent_mediation"]
    assert len(t) == 1 and "no treatment" in t["reason"].iloc[0]
    not_scale = dataclasses.replace(cb, design=dataclasses.replace(cb.design, mediators=["age"],
                                                                   outcomes=["behavior"], covariates=[]))
    t = run_stage(clean, not_scale, n_boot=0)["latent_mediation"]
    assert len(t) == 1 and "not a multi-item scale" in t["reason"].iloc[0]


def test_failed_fit_is_na_with_reason(mastery, monkeypatch):
    import efficacy.mediation.latent as lat

    orig = lat._fit_batch

    def never(spec, mom, th0, **kw):
        th, conv, it = orig(spec, mom, th0, **kw)
        return th, np.zeros_like(conv), it

    monkeypatch.setattr(lat, "_fit_batch", never)
    res = latent_mediation(mastery, "treat", ITEMS, "behavior", n_boot=20, seed=1)
    assert not res.converged and not res.proper
    assert "did not converge" in res.reason
    t = res.to_frame()
    lat_rows = t[t["model"] == "latent"]
    assert lat_rows["estimate"].isna().all() and lat_rows["ci_low"].isna().all()
    assert (lat_rows["reason"] == res.reason).all()
    assert np.isfinite(res.sum_score_indirect)              # the observed-score model is unaffected


def test_failed_resamples_are_dropped_and_counted(mastery, monkeypatch):
    import efficacy.mediation.latent as lat

    orig = lat._fit_batch

    def some_fail(spec, mom, th0, **kw):
        th, conv, it = orig(spec, mom, th0, **kw)
        if len(conv) > 1:                                    # bootstrap batches: every 10th refit fails
            conv = conv.copy()
            conv[::10] = False
        return th, conv, it

    monkeypatch.setattr(lat, "_fit_batch", some_fail)
    res = latent_mediation(mastery, "treat", ITEMS, "behavior", n_boot=100, seed=1, sum_score=False)
    assert res.converged and res.n_failed == 10
    assert any("10 of 100 bootstrap refits" in w for w in res.warnings)
    assert (res.to_frame()["n_failed"] == 10).all()
    assert np.isfinite(res.indirect_ci).all()


def test_progress_bar_is_optional(mastery, capsys):
    quiet = latent_mediation(mastery, "treat", ITEMS, "behavior", n_boot=30, seed=4, sum_score=False)
    assert capsys.readouterr().err == ""
    loud = latent_mediation(mastery, "treat", ITEMS, "behavior", n_boot=30, seed=4, sum_score=False,
                            progress=True, batch=10)
    assert "latent mediation bootstrap" in capsys.readouterr().err
    # batching does not change the result (up to rounding in differently shaped batched products)
    cols = ["estimate", "se", "ci_low", "ci_high"]
    assert_allclose(quiet.to_frame()[cols].to_numpy(float), loud.to_frame()[cols].to_numpy(float), rtol=1e-9)
