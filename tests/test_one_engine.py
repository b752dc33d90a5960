"""One of each thing (issue #23): one least-squares module with one near-singularity rule
(efficacy._linalg), one internal interface of the SEM engine (efficacy.sem.core), one home for the
batched ML fitters (efficacy.sem.batch)."""
import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy import _linalg as la

SRC = Path(__file__).parents[1] / "src" / "efficacy"
REF = Path(__file__).parent / "reference"


# --------------------------------------------------------------------------- the one rule
def _scaled_det(A):
    s = np.sqrt(np.einsum("...ii->...i", A))
    return np.linalg.det(A / s[..., :, None] / s[..., None, :])


def test_rule_fast_and_exact_paths_decide_alike():
    """The cofactor pre-check (p <= 4) and the LU evaluation of the rule give the same decisions on
    designs from exactly collinear to independent, so every caller decides as every other."""
    rng = np.random.default_rng(3)
    for p in (2, 3, 4, 6):
        Z = rng.normal(size=(3000, 25, p))
        eps = 10.0 ** rng.uniform(-10, 0, size=(3000, 1))
        Z[:, :, -1] = Z[:, :, 0] + eps * Z[:, :, -1]
        Z[:40, :, -1] = 0.0
        A = np.einsum("bnp,bnq->bpq", Z, Z)
        fast, exact = la.well_conditioned(A), la.well_conditioned(A, exact=True)
        np.testing.assert_array_equal(fast, exact)
        assert fast.any() and not fast.all()


def test_rule_is_invariant_to_column_units():
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(50), rng.normal(size=(50, 2))])
    X[:, 2] = X[:, 1] + 1e-7 * X[:, 2]   # scaled det ~ 1e-14: near-singular in any units
    A = (X.T @ X)[None]
    for scale in (1e-6, 1.0, 1e6):
        Xs = X * np.array([1.0, 1.0, scale])
        assert not la.well_conditioned((Xs.T @ Xs)[None])[0]
    assert not la.well_conditioned(A)[0]


def test_causal_refits_and_observed_bootstrap_now_agree_on_a_borderline_resample():
    """A design whose scaled determinant is below 1e-12 while its condition number is below 1e12 (the
    former rule of the causal-mediation refits): it used to pass there and fail in observed.py; now it
    fails in both, with NaN coefficients."""
    p = 8
    D = np.full((p, p), 0.99) + 0.01 * np.eye(p)   # eigenvalues 0.01 (x7) and 7.93: det 8e-14, cond 793
    det = np.linalg.det(D)
    assert det < la.SINGULAR_TOL and np.linalg.cond(D) < 1e12    # the two former rules disagree
    A = (D * 4.0)[None]
    b = np.ones((1, p))
    x, ok = la.solve_batched(A, b)                  # causal (IRLS / weighted OLS refits)
    beta, ok2 = la.solve_normal(A, b[:, :, None])   # observed / moderated / serial bootstrap
    assert not ok[0] and not ok2[0]
    assert np.isnan(x).all() and np.isnan(beta).all()
    from efficacy.mediation import causal, observed
    assert causal._solve_batched is la.solve_batched and observed._solve is la.solve_normal


def test_near_singular_column_names_the_culprit():
    rng = np.random.default_rng(5)
    n = 80
    x, c = rng.normal(size=n), rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, c, 2 * x - c + 1e-9 * rng.normal(size=n)])
    j, msg = la.near_singular_column(X, ["(intercept)", "x", "c", "c2"])
    assert j == 3 and "'c2'" in msg and "'x', 'c'" in msg
    assert la.near_singular_column(X[:, :3], ["(intercept)", "x", "c"]) == (None, "")


def test_least_squares_helpers_match_numpy():
    rng = np.random.default_rng(6)
    X = np.column_stack([np.ones(40), rng.normal(size=(40, 2))])
    y = X @ [1.0, 0.5, -0.2] + rng.normal(size=40)
    beta, V, sigma = la.ols(X, y)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    assert_allclose(beta, ref, rtol=1e-12)
    assert_allclose(la.ols_resid(y, X), y - X @ ref, rtol=1e-12, atol=1e-14)
    assert_allclose(sigma, np.sqrt(np.sum((y - X @ ref) ** 2) / 37), rtol=1e-12)
    W = rng.integers(0, 3, size=(5, 40)).astype(float)
    bw, ok = la.wls(X, W, y[:, None])
    bc, okc, _ = la.wls_counts(X, y, W)
    assert ok.all() and okc.all()
    assert_allclose(bw[:, :, 0], bc, rtol=1e-10)
    for b in range(5):
        Xw = X * np.sqrt(W[b])[:, None]
        assert_allclose(bc[b], np.linalg.lstsq(Xw, y * np.sqrt(W[b]), rcond=None)[0], rtol=1e-9)


# --------------------------------------------------------------------------- the engine's interface
def test_no_module_outside_sem_imports_engine_privates():
    """measurement, mediation, meta, reliability, panel, power, ... use efficacy.sem.core, never the
    engine's private names (so the engine's internals can change behind that interface)."""
    bad = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "sem":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("sem.engine"):
                bad += [f"{path.relative_to(SRC)}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert not bad, bad


def test_core_names_are_the_engine_pieces():
    from efficacy.sem import core, engine

    assert core.Model is engine._Model and core.Patterns is engine._Patterns
    X = np.random.default_rng(7).normal(size=(30, 3))
    X[:4, 1] = np.nan
    pats = core.Patterns(X)
    mu, S, ll = core.saturated_fit(pats, X, "fiml")
    mu2, S2, ll2 = core.em_saturated(pats, 3)
    assert_allclose(mu, mu2) and assert_allclose(S, S2)
    assert_allclose(core.numerical_hessian(lambda t: 2 * t, np.ones(2)), 2 * np.eye(2), rtol=1e-8)
    assert np.isnan(core.rmsea_ci(10.0, 0, 100, 0.95))


# --------------------------------------------------------------------------- batched fitters
def test_batched_one_factor_ml_equals_the_engine():
    """sem.batch.one_factor_ml (omega's bootstrap fitter) and the engine (sem) reach the same ML
    one-factor solution on a proper case (Holzinger-Swineford visual items x1-x3 plus x4: all
    residual variances well above the bound)."""
    from efficacy.sem import sem
    from efficacy.sem.batch import one_factor_ml

    hs = pd.DataFrame(json.loads((REF / "measurement_holzinger.json").read_text())["data"])
    items = ["x4", "x5", "x6", "x9"]
    X = hs[items].to_numpy(float)
    S = np.cov(X, rowvar=False, bias=True)
    lam, psi, ok = one_factor_ml(S[None])
    assert ok[0]
    res = sem(hs, "f =~ x4 + x5 + x6 + x9", auto="cfa")      # marker identification
    est = res.estimates.set_index(["lhs", "op", "rhs"])["estimate"]
    L = np.array([est[("f", "=~", v)] for v in items])
    common = est[("f", "~~", "f")] * np.outer(L, L)         # parametrisation-free: Lambda Phi Lambda'
    assert_allclose(np.outer(lam[0], lam[0]), common, rtol=1e-6)   # agree to 2.5e-8
    assert_allclose(psi[0], [est[(v, "~~", v)] for v in items], rtol=1e-6)


def test_reliability_and_latent_use_the_sem_batch_fitters():
    from efficacy import reliability
    from efficacy.mediation import latent
    from efficacy.sem import batch

    assert reliability._one_factor_ml is batch.one_factor_ml
    assert latent.fisher_scoring is batch.fisher_scoring


def test_cfa_fit_is_gone():
    import efficacy.measurement as meas

    assert not hasattr(meas, "cfa_fit") and not hasattr(meas, "CFAFit")
    with pytest.raises(ImportError):
        from efficacy.measurement import cfa_fit  # noqa: F401
