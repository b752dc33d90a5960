"""The analytic observed information of efficacy.sem (issue #22) and the faster FIML likelihood.

The observed information (minus the Hessian of the normal / FIML log-likelihood in the free
parameters) behind the FIML and MLR standard errors is computed analytically
(``engine._observed_info``: the exact moment Hessian chained with the model Jacobian, plus the RAM
model's curvature). It is checked three ways:

* against a 4-point (Richardson) finite difference of the analytic gradient, to 1e-7 of the largest
  entry (the finite difference is accurate to about 1e-9 here);
* against the finite-difference Hessian it replaces (``engine._numhess``, central differences with
  step 1e-4 max(|theta|, 1)): the standard errors of ``sem()`` agree to 1e-6 relative, single- and
  multi-group, FIML, MLR, with equality constraints;
* against lavaan (the fixtures of tests/reference/sem.R, measurement.R and sem_robust.R, reused
  as they are): at lavaan's own estimates the standard errors equal lavaan's to 1e-8 relative (lavaan
  differentiates its analytic gradient numerically; the agreement is about 1e-10). Standard errors
  of the full fits agree with lavaan to 3e-5 relative only because lavaan's estimates themselves are
  converged to about 1e-6 (lavaan's default tolerances): the difference comes from the estimates, not
  the information, and is the same for the earlier numerical Hessian.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.sem import engine, parse_model, sem
from efficacy.sem import robust as sem_robust

REF = Path(__file__).resolve().parent / "reference"
HS = json.loads((REF / "sem_hs1939.json").read_text(encoding="utf-8"))
R = json.loads((REF / "sem_robust_hs1939.json").read_text(encoding="utf-8"))
FIML_REF = json.loads((REF / "measurement_fiml_holzinger.json").read_text(encoding="utf-8"))
LABELS = ("visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + b*x5 + b*x6\nspeed =~ x7 + x8 + x9\n"
          "x1 ~~ e*x1\nx4 ~~ e*x4")


@pytest.fixture(scope="module")
def data():
    hs = pd.read_csv(REF / "sem_hs1939.csv")
    hsm = pd.read_csv(REF / "measurement_hs_missing.csv")
    holes = hs.copy()   # the NA positions of tests/reference/sem.R (cfa_fiml, mg_fiml_metric)
    holes.loc[np.arange(0, len(hs), 7), "x2"] = np.nan
    holes.loc[np.arange(2, len(hs), 5), "x6"] = np.nan
    holes.loc[np.arange(1, len(hs), 11), "x9"] = np.nan
    return dict(hs=hs, hsm=hsm, holes=holes, hsx=hsm.assign(x1=hs["x1"], x2=hs["x2"]), big=_big())


def _big(n=300, seed=22):
    """Two factors x 9 items (p = 18 >= engine._SCHUR_MIN_P), 12% of the values missing at random."""
    rng = np.random.default_rng(seed)
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    lam = np.linspace(0.5, 0.9, 9)
    x = np.hstack([f[:, [0]] * lam, f[:, [1]] * lam]) + rng.normal(size=(n, 18)) * 0.6
    x[rng.random(x.shape) < 0.12] = np.nan
    return pd.DataFrame(3 + x, columns=[f"y{j + 1}" for j in range(18)])


BIG_MODEL = "f1 =~ " + " + ".join(f"y{j}" for j in range(1, 10)) + "\nf2 =~ " + " + ".join(
    f"y{j}" for j in range(10, 19))


def _setup(d, model, auto, missing, meanstructure, theta_from=None):
    """The engine's model, patterns and saturated moments; theta from a fit (or a lavaan table)."""
    mod = engine._Model(parse_model(model), list(d.columns), auto, meanstructure)
    X = d[mod.obs].to_numpy(dtype=float)
    X = X[~np.isnan(X).any(axis=1)] if missing == "listwise" else X[~np.isnan(X).all(axis=1)]
    pats = engine._Patterns(X)
    Mh1, Sh1, _ = engine._saturated(pats, X, missing)
    mod.set_fixed(Mh1, Sh1)
    theta = np.zeros(mod.npar)
    if theta_from is None:
        est = sem(d, model, auto=auto, missing=missing, meanstructure=meanstructure, se=False).estimates
        for _, r in est[est.free > 0].iterrows():
            theta[r.free - 1] = r.estimate
    else:   # lavaan's parameterEstimates (est column)
        ref = pd.DataFrame(theta_from).fillna({"rhs": ""})
        for r in mod.table:
            if r["free"]:
                m = ref[(ref.lhs == r["lhs"]) & (ref.op == r["op"]) & (ref.rhs == r["rhs"])]
                if not len(m):
                    m = ref[(ref.lhs == r["rhs"]) & (ref.op == r["op"]) & (ref.rhs == r["lhs"])]
                theta[r["free"] - 1] = m["est"].iloc[0]
    return mod, pats, theta, Mh1, Sh1, X


def _grad(mod, pats, meanstructure, Mh1):
    def g(t):
        Sig, mu = mod.implied(t)
        dS, dm = mod.derivatives(t)
        return engine._loglik_grad(pats, Sig, mu if meanstructure else Mh1, dS,
                                   dm if meanstructure else np.zeros_like(dm))
    return g


def _richardson(f, x, rel=1e-3):
    H = np.zeros((len(x), len(x)))
    h = rel * np.maximum(np.abs(x), 1.0)
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h[i]
        H[:, i] = (f(x - 2 * e) - 8 * f(x - e) + 8 * f(x + e) - f(x + 2 * e)) / (12 * h[i])
    return (H + H.T) / 2


HESS_CASES = {   # name -> (data, model, auto, missing, meanstructure)
    "cfa": ("hs", HS["model"], "cfa", "listwise", False),
    "cfa_meanstructure": ("hs", HS["model"], "cfa", "listwise", True),
    "latent_regression": ("hs", HS["model2"], "sem", "listwise", False),     # paths among latents
    "path_fixed_x": ("hs", HS["model3"], "sem", "listwise", False),          # observed paths, fixed.x
    "labels": ("hs", LABELS, "cfa", "listwise", False),                      # equal parameters in a group
    "cfa_fiml": ("holes", HS["model"], "cfa", "fiml", True),
    "latent_regression_fiml": ("hsm", HS["model2"], "sem", "fiml", True),
    "path_fiml": ("hsx", R["models"]["model4"], "sem", "fiml", True),
    "labels_fiml": ("hsm", LABELS, "cfa", "fiml", True),
    "big_fiml": ("big", BIG_MODEL, "cfa", "fiml", True),                     # the Schur-complement path
}


@pytest.mark.parametrize("key", sorted(HESS_CASES))
def test_observed_information_is_minus_the_hessian(data, key):
    d, model, auto, missing, ms = HESS_CASES[key]
    mod, pats, theta, Mh1, _, _ = _setup(data[d], model, auto, missing, ms)
    info = engine._observed_info(mod, pats, theta, ms, Mh1)
    H = _richardson(_grad(mod, pats, ms, Mh1), theta)
    assert_allclose(info, -H, rtol=0, atol=1e-7 * np.max(np.abs(H)), err_msg=key)
    # the finite-difference Hessian the engine used before (engine._numhess) agrees to 1e-6 in the SEs
    old = -engine._numhess(_grad(mod, pats, ms, Mh1), theta)
    assert_allclose(np.sqrt(np.diag(np.linalg.inv(info))), np.sqrt(np.diag(np.linalg.inv(old))), rtol=1e-6)


@pytest.mark.parametrize("d", ["hsm", "holes", "big"])
def test_moment_information_matches_the_raw_data_form(data, d):
    # engine._moment_information (pattern statistics) = robust.observed_information (raw rows)
    cols = [c for c in data[d].columns if c.startswith(("x", "y"))]
    X = data[d][cols].to_numpy(dtype=float)
    X = X[~np.isnan(X).all(axis=1)]
    pats = engine._Patterns(X)
    mu, Sigma, _ = engine._em_saturated(pats, X.shape[1])
    ref = sem_robust.observed_information(X, mu, Sigma)
    ours = engine._moment_information(pats, Sigma, mu)
    assert_allclose(ours, ref, rtol=0, atol=1e-12 * np.max(np.abs(ref)))
    # a block over some moments (means and variances, a few covariances) is that block of the whole
    p = X.shape[1]
    idx = np.concatenate([np.arange(p), p + np.flatnonzero(np.tril_indices(p)[0] == np.tril_indices(p)[1]), [p + 1]])
    assert_allclose(sem_robust.observed_information(X, mu, Sigma, moments=idx), ours[np.ix_(idx, idx)], rtol=0,
                    atol=1e-12 * np.max(np.abs(ref)))
    # the chunked route (large models) gives the same matrix
    old = engine._MOMENT_INFO_GEMM_MAX_P
    try:
        engine._MOMENT_INFO_GEMM_MAX_P = 0
        assert_allclose(engine._moment_information(pats, Sigma, mu, chunk_elems=5000), ours, rtol=0,
                        atol=1e-12 * np.max(np.abs(ref)))
    finally:
        engine._MOMENT_INFO_GEMM_MAX_P = old


def _numeric_observed_info(mod, pats, theta, meanstructure, mu_fixed=None):
    """The engine's earlier observed information: central differences of the analytic gradient."""
    return -engine._numhess(_grad(mod, pats, meanstructure, mu_fixed), theta)


SE_CASES = {   # lavaan fixture key -> (data, model, keyword arguments of sem)
    "cfa_fiml": ("holes", HS["model"], dict(auto="cfa", missing="fiml")),
    "mg_fiml_metric": ("holes", HS["model"], dict(auto="cfa", group="school", equal=("loadings",), missing="fiml")),
    "mlr_cfa": ("hs", HS["model"], dict(auto="cfa", estimator="MLR")),
    "mlr_sem": ("hs", HS["model2"], dict(estimator="MLR")),
    "mlr_fiml": ("hsm", HS["model"], dict(auto="cfa", estimator="MLR", missing="fiml")),
    "mlr_fiml_sem": ("hsm", HS["model2"], dict(estimator="MLR", missing="fiml")),
    "mlr_fiml_path": ("hsx", R["models"]["model4"], dict(estimator="MLR", missing="fiml")),
    "mlr_mg_metric": ("hs", HS["model"], dict(auto="cfa", group="school", equal="loadings", estimator="MLR")),
    "mlr_mg_fiml_metric": ("hsm", HS["model"], dict(auto="cfa", group="school", equal="loadings",
                                                    estimator="MLR", missing="fiml")),
}


@pytest.mark.parametrize("key", sorted(SE_CASES))
def test_se_equal_the_finite_difference_ones_and_lavaan(data, key, monkeypatch):
    d, model, kw = SE_CASES[key]
    new = sem(data[d], model, **kw)
    with monkeypatch.context() as m:
        m.setattr(engine, "_observed_info", _numeric_observed_info)
        old = sem(data[d], model, **kw)
    assert new.converged and old.converged
    assert_allclose(new.estimates["estimate"], old.estimates["estimate"], rtol=1e-7, atol=1e-9)
    assert_allclose(new.estimates["se"], old.estimates["se"], rtol=1e-6, atol=1e-12, err_msg=key)
    if "fiml" in kw.get("missing", "") or kw.get("estimator") == "MLR":
        assert new.information == "observed"
    # lavaan: 3e-5 relative (lavaan's estimates are converged to ~1e-6; see the module docstring)
    ref = (HS if key in HS else R)[key]
    r = pd.DataFrame(ref["estimates"]).fillna({"rhs": ""})
    r["group"] = r.get("group", 1)
    r = r.set_index(["lhs", "op", "rhs", "group"])
    ours = new.estimates.set_index(["lhs", "op", "rhs", "group"]).loc[r.index]
    assert_allclose(ours["se"], r["se"], rtol=3e-5, atol=1e-10, err_msg=key)


@pytest.mark.parametrize("src", ["cfa_fiml", "measurement_fiml"])
def test_fiml_se_at_lavaan_estimates_equal_lavaan(data, src):
    # lavaan::cfa(model, data, missing = "ml"): information "observed" (the Hessian)
    ref, d = (HS["cfa_fiml"], data["holes"]) if src == "cfa_fiml" else (FIML_REF, data["hsm"])
    mod, pats, theta, Mh1, _, _ = _setup(d, HS["model"], "cfa", "fiml", True, theta_from=ref["estimates"])
    se = np.sqrt(np.diag(np.linalg.inv(engine._observed_info(mod, pats, theta, True, Mh1))))
    r = pd.DataFrame(ref["estimates"]).fillna({"rhs": ""})
    se_ref = [r[(r.lhs == t["lhs"]) & (r.op == t["op"]) & (r.rhs == t["rhs"])]["se"].iloc[0]
              for k in range(1, mod.npar + 1) for t in [next(x for x in mod.table if x["free"] == k)]]
    assert_allclose(se, se_ref, rtol=1e-8)


@pytest.mark.parametrize("key", ["mlr_cfa", "mlr_fiml"])
def test_mlr_se_at_lavaan_estimates_equal_lavaan(data, key):
    # lavaan::cfa(model, data, estimator = "MLR"[, missing = "ml"]): A^-1 B A^-1, A = observed information
    ref = R[key]
    missing = "fiml" if key == "mlr_fiml" else "listwise"
    d = data["hsm"] if missing == "fiml" else data["hs"]
    ms = missing == "fiml"
    mod, pats, theta, Mh1, Sh1, X = _setup(d, R["models"]["model"], "cfa", missing, ms, theta_from=ref["estimates"])
    info = engine._observed_info(mod, pats, theta, ms, Mh1)
    Sig, mu = mod.implied(theta)
    dS, dm = mod.derivatives(theta)
    grp = sem_robust.RobustGroup(X=X, sigma=Sig, mu=mu if ms else Mh1, dsigma=np.asarray(dS),
                                 dmu=np.asarray(dm) if ms else np.zeros_like(dm), sigma1=Sh1, mu1=Mh1)
    fit = ref["fit"]
    rob = sem_robust.robust_ml([grp], info, "MLR", chisq=fit["chisq"], df=fit["df"],
                               baseline_chisq=fit["baseline.chisq"], baseline_df=fit["baseline.df"],
                               missing=missing, meanstructure=ms)
    se = np.sqrt(np.diag(rob.vcov))
    r = pd.DataFrame(ref["estimates"]).fillna({"rhs": ""})
    se_ref = [r[(r.lhs == t["lhs"]) & (r.op == t["op"]) & (r.rhs == t["rhs"])]["se"].iloc[0]
              for k in range(1, mod.npar + 1) for t in [next(x for x in mod.table if x["free"] == k)]]
    assert_allclose(se, se_ref, rtol=1e-8)


def test_schur_likelihood_equals_the_per_pattern_one(data):
    mod, pats, theta, _, _, _ = _setup(data["big"], BIG_MODEL, "cfa", "fiml", True)
    assert pats.p >= engine._SCHUR_MIN_P and len(pats.batches) > 1
    rng = np.random.default_rng(1)
    for _ in range(3):
        Sig, mu = mod.implied(theta * (1 + 0.01 * rng.standard_normal(len(theta))))
        a = engine._loglik_moment_grad_schur(pats, Sig, mu)
        b = engine._loglik_moment_grad_blocks(pats, Sig, mu)
        assert_allclose(a[0], b[0], rtol=1e-13)
        assert_allclose(a[1], b[1], rtol=0, atol=1e-11 * np.max(np.abs(b[1])))
        assert_allclose(a[2], b[2], rtol=0, atol=1e-11 * np.max(np.abs(b[2])))


def test_fiml_fit_is_the_same_on_either_likelihood_route(data, monkeypatch):
    new = sem(data["big"], BIG_MODEL, auto="cfa", missing="fiml")
    engine._SATURATED_CACHE.clear()
    with monkeypatch.context() as m:
        m.setattr(engine, "_SCHUR_MIN_P", 10 ** 6)    # per-pattern Cholesky, per-pattern EM
        old = sem(data["big"], BIG_MODEL, auto="cfa", missing="fiml")
    engine._SATURATED_CACHE.clear()
    for k in ("chisq", "loglik", "loglik_saturated", "cfi", "rmsea", "srmr"):
        assert_allclose(new.fit[k], old.fit[k], rtol=1e-10, err_msg=k)
    assert_allclose(new.estimates["estimate"], old.estimates["estimate"], rtol=1e-9, atol=1e-12)
    assert_allclose(new.estimates["se"], old.estimates["se"], rtol=1e-9)


def test_estimates_are_a_stationary_point_to_machine_precision(data):
    # Newton steps with the exact Hessian after scoring: the gradient at the estimates is ~0
    mod, pats, theta, Mh1, _, _ = _setup(data["big"], BIG_MODEL, "cfa", "fiml", True)
    g = _grad(mod, pats, True, Mh1)(theta)
    assert np.max(np.abs(g)) / pats.n < 1e-9


def test_unique_rows_is_numpys():
    rng = np.random.default_rng(0)
    for n, p in [(500, 44), (300, 9), (7, 1), (1, 5)]:
        M = rng.random((n, p)) > 0.15
        keys, inv = np.unique(M, axis=0, return_inverse=True)
        k2, i2 = engine._unique_rows(M)
        assert (keys == k2).all() and (np.asarray(inv).ravel() == i2).all()


@pytest.mark.parametrize("clustered", [False, True])
def test_fiml_corrected_scaling_equals_the_direct_formula(clustered):
    # robust._fiml_corrected's low-rank route = lavaan's k = tr(U Wm^-1 Wc Wm^-1 U Gamma) formed directly
    from scipy.linalg import block_diag
    rng = np.random.default_rng(3)
    groups = []
    for _ in range(2):
        X = rng.normal(size=(150, 5)) @ np.linalg.cholesky(np.eye(5) * 0.5 + 0.5).T + 2
        X[rng.random(X.shape) < 0.1] = np.nan
        X = X[~np.isnan(X).all(axis=1)]
        pats = engine._Patterns(X)
        mu1, S1, _ = engine._em_saturated(pats, 5)
        dsig = rng.normal(size=(7, 5, 5))
        groups.append(sem_robust.RobustGroup(X=X, sigma=S1 * 1.05, mu=mu1 + 0.01, dsigma=dsig + dsig.transpose(0, 2, 1),
                                             dmu=rng.normal(size=(7, 5)), sigma1=S1, mu1=mu1,
                                             cluster=np.arange(len(X)) // 5 if clustered else None))
    params = [(g.mu, g.sigma, sem_robust._delta(g, True)) for g in groups]
    _, k = sem_robust._fiml_corrected(groups, params)
    N = sum(g.n for g in groups)
    Wm, Wc, Gam = [], [], []
    for g in groups:
        fg = g.n / N
        A1 = sem_robust.observed_information(g.X, g.mu1, g.sigma1) / g.n
        J1 = sem_robust._score_crossprod(sem_robust.casewise_scores(g.X, g.mu1, g.sigma1), g.cluster) / g.n
        A1i = np.linalg.inv(A1)
        Wm.append(fg * A1)
        Wc.append(fg * sem_robust.expected_information(g.sigma1))
        Gam.append(A1i @ J1 @ A1i / fg)
    Wm, Wc, Gam = block_diag(*Wm), block_diag(*Wc), block_diag(*Gam)
    D = np.vstack([d for *_, d in params])
    U = Wm - Wm @ D @ np.linalg.solve(D.T @ Wm @ D, D.T @ Wm)
    Wmi = np.linalg.inv(Wm)
    assert_allclose(k, np.trace(U @ Wmi @ Wc @ Wmi @ U @ Gam), rtol=1e-10)
