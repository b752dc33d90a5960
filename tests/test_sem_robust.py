"""Robust ML estimators of efficacy.sem (MLR, MLM, cluster=) against lavaan 0.6 (tests/reference/sem_robust.R).

Every block of tests/reference/sem_robust_hs1939.json holds the lavaan call that produced it ("call"),
its options (se, test, information), ``fitMeasures()`` and ``parameterEstimates()``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.sem import robust as sem_robust
from efficacy.sem import SEMError, sem

REF = Path(__file__).resolve().parent / "reference"
R = json.loads((REF / "sem_robust_hs1939.json").read_text(encoding="utf-8"))
M = R["models"]


@pytest.fixture(scope="module")
def data():
    hs, hsm = pd.read_csv(REF / "sem_hs1939.csv"), pd.read_csv(REF / "measurement_hs_missing.csv")
    hsx = hsm.assign(x1=hs["x1"], x2=hs["x2"])   # holes of hsm, complete covariates x1, x2 (as sem_robust.R)
    cls = pd.read_csv(REF / "sem_robust_classroom.csv")
    cls["grade"] = np.where(cls["classroom"] % 2 == 0, "g8", "g7")   # as sem_robust.R
    return dict(hs=hs, hsm=hsm, hsx=hsx, cls=cls, clm=pd.read_csv(REF / "sem_robust_classroom_missing.csv"))


# key -> (data set, model, keyword arguments of efficacy.sem.sem); the lavaan call is R[key]["call"]
CASES = {
    "mlr_cfa": ("hs", "model", dict(estimator="MLR", auto="cfa")),
    "mlm_cfa": ("hs", "model", dict(estimator="MLM", auto="cfa")),
    "mlr_cfa_meanstructure": ("hs", "model", dict(estimator="MLR", auto="cfa", meanstructure=True)),
    "mlr_sem": ("hs", "model2", dict(estimator="MLR")),
    "mlm_sem": ("hs", "model2", dict(estimator="MLM")),
    "mlr_path": ("hs", "model3", dict(estimator="MLR")),            # exogenous covariates (fixed.x)
    "mlm_path": ("hs", "model3", dict(estimator="MLM")),
    "mlr_fiml": ("hsm", "model", dict(estimator="MLR", auto="cfa", missing="fiml")),
    "mlr_fiml_sem": ("hsm", "model2", dict(estimator="MLR", missing="fiml")),
    "mlr_fiml_path": ("hsx", "model4", dict(estimator="MLR", missing="fiml")),   # FIML with fixed.x
    "mlr_mg_configural": ("hs", "model", dict(estimator="MLR", auto="cfa", group="school")),
    "mlr_mg_metric": ("hs", "model", dict(estimator="MLR", auto="cfa", group="school", equal="loadings")),
    "mlm_mg_scalar": ("hs", "model", dict(estimator="MLM", auto="cfa", group="school",
                                          equal=("loadings", "intercepts"))),
    "mlr_mg_fiml_metric": ("hsm", "model", dict(estimator="MLR", auto="cfa", group="school", equal="loadings",
                                                missing="fiml")),
    "mlr_cluster": ("cls", "model_cls", dict(estimator="MLR", auto="cfa", cluster="classroom")),
    "mlm_cluster": ("cls", "model_cls", dict(estimator="MLM", auto="cfa", cluster="classroom")),
    "mlr_cluster_mg_metric": ("cls", "model_cls", dict(estimator="MLR", auto="cfa", cluster="classroom",
                                                       group="grade", equal="loadings")),
    "mlr_cluster_fiml": ("clm", "model_cls", dict(estimator="MLR", auto="cfa", cluster="classroom",
                                                  missing="fiml")),
}

# lavaan fitMeasures names compared at 1e-4 (relative; absolute 1e-6 for values near zero)
ROBUST_KEYS = ("chisq.scaled", "chisq.scaling.factor", "pvalue.scaled", "baseline.chisq.scaled",
               "baseline.chisq.scaling.factor", "cfi.scaled", "tli.scaled", "cfi.robust", "tli.robust",
               "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
               "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "srmr", "chisq")


@pytest.fixture(scope="module")
def fits(data):
    return {key: sem(data[d], M[m], **kw) for key, (d, m, kw) in CASES.items()}


@pytest.mark.parametrize("key", sorted(CASES))
def test_robust_fit_measures_match_lavaan(fits, key):
    ref, res = R[key]["fit"], fits[key]
    assert res.converged and res.proper and not res.warnings, res.warnings
    assert res.fit["df"] == ref["df"] and res.fit["df.scaled"] == ref["df.scaled"]
    assert res.fit["npar"] == ref["npar"] and res.n == ref["ntotal"]
    for k in ROBUST_KEYS:
        assert_allclose(res.fit[k], ref[k], rtol=1e-4, atol=1e-6, err_msg=f"{key}: {k}")


@pytest.mark.parametrize("key", sorted(CASES))
def test_robust_estimates_and_se_match_lavaan(fits, key):
    ref = pd.DataFrame(R[key]["estimates"]).fillna({"rhs": ""}).set_index(["lhs", "op", "rhs", "group"])
    ref = ref.rename(columns={"est": "estimate", "z": "statistic"})  # lavaan's names
    est = fits[key].estimates.set_index(["lhs", "op", "rhs", "group"])
    assert set(ref.index) == set(est.index)
    ours = est.loc[ref.index]
    # estimates: iterative, 1e-4; robust SEs: 1e-3 relative (fixed parameters have SE 0 in both)
    assert_allclose(ours["estimate"], ref["estimate"], atol=1e-4, err_msg=key)
    assert_allclose(ours["se"], ref["se"], rtol=1e-3, atol=1e-8, err_msg=key)
    free = ref["se"] > 0
    assert_allclose(ours.loc[free, "statistic"], ref.loc[free, "statistic"], rtol=2e-3, err_msg=key)
    assert_allclose(ours["ci_low"], ref["ci_low"], atol=1e-3, err_msg=key)


@pytest.mark.parametrize("key", sorted(CASES))
def test_result_says_estimator_test_information(fits, key):
    res, opt = fits[key], R[key]["options"]
    assert res.estimator == opt["estimator"]
    assert res.test == opt["test"]
    assert res.information == opt["information"]
    assert res.se_type == opt["se"]
    assert res.cluster == CASES[key][2].get("cluster")
    assert res.missing == ("fiml" if opt["missing"] == "ml" else "listwise")
    assert f"estimator={opt['estimator']!r}" in repr(res)


def test_ml_result_unchanged(data):
    res = sem(data["hs"], M["model"], auto="cfa")
    assert (res.estimator, res.test, res.information, res.se_type) == ("ML", "standard", "expected", "standard")
    assert not any("." in k for k in res.fit)          # no scaled/robust measures for plain ML
    fiml = sem(data["hsm"], M["model"], auto="cfa", missing="fiml", se=False)
    assert fiml.information == "observed"
    # MLR keeps the ML estimates and chi-square; only SEs and the added measures differ
    mlr = sem(data["hs"], M["model"], auto="cfa", estimator="mlr")  # estimator is case-insensitive
    assert_allclose(mlr.estimates["estimate"], res.estimates["estimate"], atol=1e-10)
    assert_allclose(mlr.fit["chisq"], res.fit["chisq"], rtol=1e-12)
    assert not np.allclose(mlr.estimates["se"], res.estimates["se"])


def test_mlr_se_false_still_reports_the_scaled_test(data):
    res = sem(data["hs"], M["model"], auto="cfa", estimator="MLR", se=False)
    assert_allclose(res.fit["chisq.scaled"], R["mlr_cfa"]["fit"]["chisq.scaled"], rtol=1e-4)


def test_saturated_model_follows_lavaan(data):
    # df = 0 (lavaan 0.6.14, cfa("f =~ x1 + x2 + x3", estimator = "MLR")): chisq.scaled = chisq = 0,
    # no scaling factor, cfi.robust / tli.robust NA, rmsea.robust 0; SEs as lavaan's (0.154, 0.229 for loadings)
    res = sem(data["hs"], "f =~ x1 + x2 + x3", auto="cfa", estimator="MLR")
    f = res.fit
    assert f["df"] == 0 and f["chisq.scaled"] == pytest.approx(0, abs=1e-8)
    assert np.isnan(f["chisq.scaling.factor"]) and np.isnan(f["cfi.robust"]) and np.isnan(f["tli.robust"])
    assert f["rmsea.robust"] == 0.0 and f["cfi.scaled"] == 1.0
    assert_allclose(f["baseline.chisq.scaled"], 103.469, atol=1e-3)
    se = res.estimates.set_index(["lhs", "op", "rhs"])["se"]
    assert_allclose([se[("f", "=~", "x2")], se[("f", "=~", "x3")]], [0.154, 0.229], atol=6e-4)


@pytest.mark.parametrize("kw, match", [
    (dict(estimator="WLS"), "unknown estimator"),
    (dict(estimator="MLM", missing="fiml"), "needs complete data"),
    (dict(estimator="ML", cluster="classroom"), "need a robust estimator"),
    (dict(estimator="MLR", cluster="school_id"), "cluster column not in the data"),
])
def test_bad_input(data, kw, match):
    with pytest.raises(SEMError, match=match):
        sem(data["cls"], M["model_cls"], auto="cfa", **kw)


def test_cluster_column_problems(data):
    d = data["cls"].copy()
    d["one"] = 1
    with pytest.raises(SEMError, match="at least two clusters"):
        sem(d, M["model_cls"], auto="cfa", estimator="MLR", cluster="one")
    d.loc[3, "classroom"] = np.nan
    with pytest.raises(SEMError, match="missing values in the cluster column"):
        sem(d, M["model_cls"], auto="cfa", estimator="MLR", cluster="classroom")


def test_cluster_of_singletons_is_the_unclustered_fit_times_n_over_n_minus_1(data):
    # each case its own cluster: scores and Gamma are those of the unclustered fit times C/(C-1), C = n
    d = data["cls"].assign(case=np.arange(len(data["cls"])))
    a = sem(d, M["model_cls"], auto="cfa", estimator="MLR", meanstructure=True)
    b = sem(d, M["model_cls"], auto="cfa", estimator="MLR", cluster="case")
    n = len(d)
    assert_allclose(b.vcov.to_numpy(), a.vcov.to_numpy() * n / (n - 1), rtol=1e-8)
    assert b.se_type == "robust.cluster" and a.se_type == "robust.huber.white"


# --------------------------------------------------------------------------- the moment-space primitives


def _loglik(X, mu, sigma):
    ll = 0.0
    for x in X:
        o = ~np.isnan(x)
        S = sigma[np.ix_(o, o)]
        d = x[o] - mu[o]
        ll += -0.5 * (o.sum() * np.log(2 * np.pi) + np.linalg.slogdet(S)[1] + d @ np.linalg.solve(S, d))
    return ll


def _unpack(v, p):
    r, c = np.tril_indices(p)
    S = np.zeros((p, p))
    S[r, c] = v[p:]
    S[c, r] = v[p:]
    return v[:p], S


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(7)
    p = 3
    X = rng.standard_normal((40, p)) @ np.array([[1, .4, .2], [0, 1, .3], [0, 0, 1]])
    X[rng.random(X.shape) < 0.15] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    mu = np.array([0.1, -0.2, 0.05])
    sigma = np.array([[1.2, 0.3, 0.1], [0.3, 1.1, 0.25], [0.1, 0.25, 0.9]])
    r, c = np.tril_indices(p)
    return X, mu, sigma, np.concatenate([mu, sigma[r, c]])


def test_scores_are_the_gradient_of_the_casewise_loglik(small):
    X, mu, sigma, v = small
    p, h = 3, 1e-6
    S = sem_robust.casewise_scores(X, mu, sigma)
    num = np.array([(_loglik(X, *_unpack(v + h * e, p)) - _loglik(X, *_unpack(v - h * e, p))) / (2 * h)
                    for e in np.eye(len(v))])
    assert_allclose(S.sum(axis=0), num, rtol=1e-6, atol=1e-6)


def test_observed_information_is_minus_the_hessian(small):
    X, mu, sigma, v = small
    p, h = 3, 1e-5
    info = sem_robust.observed_information(X, mu, sigma)

    def grad(w):
        return sem_robust.casewise_scores(X, *_unpack(w, p)).sum(axis=0)

    H = np.array([(grad(v + h * e) - grad(v - h * e)) / (2 * h) for e in np.eye(len(v))])
    assert_allclose(info, -(H + H.T) / 2, rtol=1e-6, atol=1e-6)


def test_gamma_is_the_covariance_of_the_moment_contributions():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 3)) ** 2
    G = sem_robust.gamma_adf(X, meanstructure=True)
    Yc = X - X.mean(axis=0)
    r, c = np.tril_indices(3)
    Z = np.column_stack([X, Yc[:, r] * Yc[:, c]])
    assert_allclose(G, np.cov(Z.T, bias=True), rtol=1e-12)
    # without mean structure: the covariance block only
    assert_allclose(sem_robust.gamma_adf(X, meanstructure=False), G[3:, 3:], rtol=1e-12)


def test_rmsea_ci_reduces_to_the_ml_interval():
    # c_hat = 1 and the unscaled statistic: lavaan's ML RMSEA interval (tests/reference/sem_hs1939.json, cfa)
    lo, hi = sem_robust.rmsea_ci(85.3055217699727, 24, 301)
    assert_allclose([lo, hi], [0.0714184904399382, 0.113678016811963], rtol=1e-5)
