"""efficacy.mediation.sensitivity with a probit outcome or a probit mediator (issue #19) against R's
mediation::medsens 4.5.1, a base-R reimplementation, the JSS article's published numbers and planted truths.

Fixture ``tests/reference/sensitivity_binary.json`` (script ``tests/reference/sensitivity_binary.R``):
medsens run on JOBS II (probit outcome ``work`` with linear mediator ``job_seek``; probit mediator
``job_dich`` with linear outcome ``depress2``; the vignette's models) and on the framing data (the JSS
article's probit-outcome model), and medsens' probit-outcome algorithm written out in base R with the
corrected formula for rho* (``*_corrected``, see below).

medsens simulates: its curve is the mean of ``sims`` quasi-Bayesian draws, its band their 2.5% and 97.5%
percentiles; ours the same with our own draws. Tolerances come from that simulation error. With ``sd`` the
SD of the draws of an ACME at one rho (from our draws), two independent means of S and S_R draws differ by
a normal error with SD ``sd * sqrt(1/S + 1/S_R)``; a p-quantile of S draws has SE ``sqrt(p (1-p)) /
f(q_p) / sqrt(S)`` = 2.67 ``sd / sqrt(S)`` at p = 0.025 for a normal f. The bound is 5 such SEs (the
curves are checked at up to 39 correlated rhos; the two-sided probability of 5 SEs is 6e-7 each).

rho*: the probit outcome model of ``y`` on ``m, x, C`` identifies ``g = (gamma + rho/sigma2) / sqrt(1 - rho^2)``
(Imai, Keele & Yamamoto 2010, section 4), so the ACME is zero (gamma = 0) at ``rho* = sigma2 g / sqrt(1 +
sigma2^2 g^2)``; the rest of medsens' computation (gamma(rho), the reduced form) uses exactly this relation,
but medsens 4.5.1 computes ``rho* = sigma2 g / (1 + sqrt(sigma2^2 g^2))`` (a misplaced parenthesis). Our
default uses the model's formula (the planted-truth test shows it recovers the true ACME at the true rho,
where medsens' form is off by a factor of three); ``rho12="medsens"`` of the private function reproduces
medsens and is compared with it.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import special

from efficacy.errors import DataError
from efficacy.mediation import sensitivity

S_mod = importlib.import_module("efficacy.mediation.sensitivity")
REF = Path(__file__).parent / "reference"
ROOT = Path(__file__).parents[1]
FIX = json.loads((REF / "sensitivity_binary.json").read_text())
Z = 5.0
GLM_TOL = 1e-7   # R's glm(control = glm.control(epsilon = 1e-14)) against our IRLS, both run to convergence
Q = 2.67      # SE of a 2.5% / 97.5% quantile in units of sd / sqrt(S) (normal draws)


def _dummies(d, cols):
    X = pd.get_dummies(d[cols], drop_first=True).astype(float)
    X.columns = [f"d{i}" for i in range(X.shape[1])]
    return X


@pytest.fixture(scope="module")
def designs():
    jobs = pd.read_csv(ROOT / "data" / "raw" / "jobs_ii" / "data.csv")
    jobs["work"] = (jobs["work1"] == "psyemp").astype(float)
    jx = _dummies(jobs, ["occp", "marital", "nonwhite", "educ", "income"])
    jobs_d = pd.concat([jobs[["treat", "job_seek", "job_dich", "depress2", "work", "depress1", "econ_hard", "sex",
                              "age"]], jx], axis=1)
    jc = ["depress1", "econ_hard", "sex", "age", *jx.columns]
    fr = pd.read_csv(REF / "causal_framing.csv")
    fx = _dummies(fr, ["educ", "gender"])
    fr_d = pd.concat([fr[["treat", "emo", "cong_mesg", "age", "income"]], fx], axis=1)
    return {
        "jobs_bo": (jobs_d, "treat", "job_seek", "work", jc, {"outcome_model": "probit"}),
        "framing_bo": (fr_d, "treat", "emo", "cong_mesg", ["age", "income", *fx.columns], {"outcome_model": "probit"}),
        "jobs_bm": (jobs_d, "treat", "job_dich", "depress2", jc, {"mediator_model": "probit"}),
    }


def _run(designs, key, rhos, n_sims, seed=1, rho12="model"):
    d, x, m, y, covs, models = designs[key]
    return S_mod._sensitivity_probit(d, x, m, y, covariates=covs, rhos=np.asarray(rhos, float), ci_level=0.95,
                                     n_sims=n_sims, seed=seed, rho12=rho12,
                                     **{"mediator_model": "linear", "outcome_model": "linear", **models})


def _check_curve(res, ref, cols=("d0", "d1"), bands=True):
    S, S_R = res.n_sims, ref["sims"]
    tab = res.to_frame()
    for col, ours in (("d0", "acme_control"), ("d1", "acme_treated")):
        if col not in cols:
            continue
        sd = res.draws[ours].std(axis=0, ddof=1)
        se = sd * np.sqrt(1 / S + 1 / S_R)
        diff = np.abs(tab[ours].to_numpy() - np.array(ref[col]))
        assert np.all(diff <= Z * se), (col, np.max(diff / se))
        if bands and col == "d0":
            lo, hi = np.quantile(res.draws[ours], [0.025, 0.975], axis=0)
            for q, key in ((lo, "lower_d0"), (hi, "upper_d0")):
                dq = np.abs(q - np.array(ref[key]))
                assert np.all(dq <= Z * Q * se), (key, np.max(dq / se))


# ----------------------------------------------------------------------------- probit outcome, medsens
@pytest.mark.parametrize("key, n_sims", [("jobs_bo", 300), ("framing_bo", 1000)])
def test_probit_outcome_matches_medsens(designs, key, n_sims):
    """rho12 = "medsens": d0(rho), d1(rho) and the d0 band vs medsens(sims = 4000); the R-squared values
    (R2_M of the OLS mediator model, latent R2_Y = var(fitted) / (1 + var(fitted)) of the probit) and the
    R2-tilde products are deterministic: GLM_TOL (the R probit fits use glm.control(epsilon = 1e-14); with
    glm's default 1e-8 they differ from the converged fit by about 1e-5 relative)."""
    ref = FIX[key]
    res = _run(designs, key, ref["rho"], n_sims, rho12="medsens")
    _check_curve(res, ref)
    assert_allclose([res.r2_mediator, res.r2_outcome], [ref["r_square_m"], ref["r_square_y"]], rtol=GLM_TOL)
    assert_allclose(res.to_frame()["rsq_prod_total"], ref["rsq_prod_total"], rtol=GLM_TOL, atol=1e-14)
    assert res.n == len(designs[key][0])


@pytest.mark.parametrize("key, n_sims", [("jobs_bo", 300), ("framing_bo", 1000)])
def test_probit_outcome_default_matches_corrected_base_r(designs, key, n_sims):
    """Default (model) formula vs medsens' algorithm in base R with the corrected rho* (sims = 4000); the
    point rho* depends only on the two fits (sigma2 and the probit's mediator coefficient): GLM_TOL."""
    ref = FIX[f"{key}_corrected"]
    res = _run(designs, key, ref["rho"], n_sims)
    _check_curve(res, ref)
    assert_allclose(res.rho_at_zero, ref["rho12_point"], rtol=GLM_TOL)
    # the curve changes sign around rho*
    tab = res.to_frame()
    below, above = tab[tab.rho < res.rho_at_zero - 0.05], tab[tab.rho > res.rho_at_zero + 0.05]
    assert (np.sign(below.acme) == np.sign(below.acme.iloc[0])).all()
    assert (np.sign(above.acme) == -np.sign(below.acme.iloc[0])).all()


def test_probit_outcome_at_rho_zero_is_the_causal_mediation_acme(designs):
    """At rho = 0 sequential ignorability holds and the curve must give the ACME that causal mediation
    analysis estimates from the same two fits (``causal_mediation(outcome_model="probit")``, medsens' input
    ``mediate()``), for the control and the treated condition. Both are means of quasi-Bayesian draws:
    tolerance 5 SEs of the difference of two independent simulation means. medsens' rho* formula fails this
    (on framing its ACME_0(0) is about 0.047 against mediate's 0.08)."""
    from efficacy.mediation import causal_mediation

    d, x, m, y, covs, _ = designs["framing_bo"]
    res = sensitivity(d, x, m, y, covariates=covs, rhos=[0.0], outcome_model="probit", n_sims=2000, seed=4)
    cm = causal_mediation(d, x, m, y, covariates=covs, outcome_model="probit", n_sims=2000, seed=5)
    for ours, theirs in (("acme_control", "acme_control"), ("acme_treated", "acme_treated")):
        a, b = res.draws[ours][:, 0], cm.draws[theirs]
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) <= Z * se, (ours, a.mean(), b.mean(), se)
    old = S_mod._sensitivity_probit(d, x, m, y, covariates=covs, rhos=np.array([0.0]), ci_level=0.95, n_sims=2000,
                                    seed=4, mediator_model="linear", outcome_model="probit", rho12="medsens")
    a = old.draws["acme_control"][:, 0]
    assert abs(a.mean() - cm.draws["acme_control"].mean()) > 10 * np.sqrt(a.var(ddof=1) / a.size)


def test_published_framing_jss(designs):
    """Tingley et al. (2014, JSS 59(5), section 3.4), summary(medsens(rho.by = 0.1)): "Rho at which ACME = 0:
    0.3", R2*M R2*Y = 0.09 and R2~M R2~Y = 0.0493 (4 decimals). medsens' rho is the grid point of smallest
    |ACME(rho)|; on medsens' rho grid our medsens-mode curve has its smallest |ACME_0| at 0.3 too, and our
    R2~ product there rounds to the published value (it depends on R2_M and the latent R2_Y only). With the
    model's rho* the exact root is reported (its grid neighbour is checked in the corrected-curve test)."""
    pub = FIX["published_framing_probit"]
    rho = np.round(np.arange(-0.9, 0.91, 0.1), 10)
    res = _run(designs, "framing_bo", rho, 2000, rho12="medsens")
    tab = res.to_frame()
    i = int(np.argmin(np.abs(tab["acme_control"].to_numpy())))
    assert tab["rho"].iloc[i] == pytest.approx(pub["rho_at_zero"])
    assert abs(tab["rsq_prod_residual"].iloc[i] - pub["rsq_prod_residual_at_zero"]) <= 0.5e-4 + 1e-12
    assert abs(tab["rsq_prod_total"].iloc[i] - pub["rsq_prod_total_at_zero"]) <= 0.5e-4 + 1e-12
    assert np.atleast_1d(FIX["framing_bo"]["rho_at_zero_grid"])[0] == pytest.approx(pub["rho_at_zero"])


# ----------------------------------------------------------------------------- probit mediator, medsens
def test_probit_mediator_matches_medsens(designs):
    """medsens(rho.by = 0.1, sims = 400) for glm(job_dich ~ ..., probit) and lm(depress2 ~ ...): ACME(rho)
    (d0 = d1 without interaction) and its band; latent R2_M and OLS R2_Y to 1e-8; our exact root of
    beta_m(rho) lies within one grid step of medsens' grid answer (GLM_TOL as above for the R2 values)."""
    ref = FIX["jobs_bm"]
    res = _run(designs, "jobs_bm", ref["rho"], 300)
    _check_curve(res, ref)
    assert_allclose(res.to_frame()["acme_control"], res.to_frame()["acme_treated"])
    assert_allclose([res.r2_mediator, res.r2_outcome], [ref["r_square_m"], ref["r_square_y"]], rtol=GLM_TOL)
    assert abs(res.rho_at_zero - np.atleast_1d(ref["rho_at_zero_grid"])[0]) <= 0.1 + 1e-9


# ----------------------------------------------------------------------------- planted truths
def test_planted_truth_probit_outcome():
    """M = 0.2 + 0.8 T + e2 (sd 1.5), Y = 1{-0.3 + 0.3 T + 0.4 M + e3 > 0}, corr(e2, e3) = 0.4: the true
    ACME_0 = Phi((c0 + g (a0 + b2)) / s) - Phi((c0 + g a0) / s), s^2 = g^2 sigma2^2 + 2 g rho sigma2 + 1.
    ACME_0(rho = 0.4) must be within 4 SDs of the draws of the truth (n = 20,000); medsens' formula for rho*
    gives a curve far from it (its value is recorded, not asserted beyond being outside the band)."""
    rng = np.random.default_rng(5)
    n, rho, s2 = 20000, 0.4, 1.5
    a0, b2, c0, b3, g = 0.2, 0.8, -0.3, 0.3, 0.4
    T = rng.integers(0, 2, n).astype(float)
    z1, z2 = rng.normal(size=(2, n))
    M = a0 + b2 * T + s2 * z1
    Y = (c0 + b3 * T + g * M + rho * z1 + np.sqrt(1 - rho**2) * z2 > 0).astype(float)
    s = np.sqrt(g**2 * s2**2 + 2 * g * rho * s2 + 1)
    truth = special.ndtr((c0 + g * (a0 + b2)) / s) - special.ndtr((c0 + g * a0) / s)
    d = pd.DataFrame({"t": T, "m": M, "y": Y})
    res = sensitivity(d, "t", "m", "y", rhos=[rho], outcome_model="probit", n_sims=300, seed=1)
    sd = res.draws["acme_control"][:, 0].std(ddof=1)
    assert abs(res.to_frame()["acme_control"].iloc[0] - truth) < 4 * sd
    old = S_mod._sensitivity_probit(d, "t", "m", "y", covariates=(), rhos=np.array([rho]), ci_level=0.95, n_sims=300,
                                    seed=1, mediator_model="linear", outcome_model="probit", rho12="medsens")
    assert abs(old.to_frame()["acme_control"].iloc[0] - truth) > 10 * sd


def test_planted_truth_probit_mediator():
    """M = 1{-0.2 + 0.7 T + e2 > 0}, Y = 1 + 0.3 T + 0.5 M + e3 (sd 1.2), corr(e2, e3) = -0.3: the true ACME
    = 0.5 (Phi(0.5) - Phi(-0.2)); ACME(-0.3) within 4 SDs of the draws, and the naive ACME(0) is not."""
    rng = np.random.default_rng(6)
    n, rho, s3 = 20000, -0.3, 1.2
    a0, b2, c0, b3, g = -0.2, 0.7, 1.0, 0.3, 0.5
    T = rng.integers(0, 2, n).astype(float)
    z1, z2 = rng.normal(size=(2, n))
    M = (a0 + b2 * T + z1 > 0).astype(float)
    Y = c0 + b3 * T + g * M + s3 * (rho * z1 + np.sqrt(1 - rho**2) * z2)
    truth = g * (special.ndtr(a0 + b2) - special.ndtr(a0))
    d = pd.DataFrame({"t": T, "m": M, "y": Y})
    res = sensitivity(d, "t", "m", "y", rhos=[rho, 0.0], mediator_model="probit", n_sims=200, seed=2)
    tab = res.to_frame()
    sd = res.draws["acme_control"].std(axis=0, ddof=1)
    assert abs(tab["acme"].iloc[0] - truth) < 4 * sd[0]
    assert abs(tab["acme"].iloc[1] - truth) > 4 * sd[1]
    assert res.acme_at_zero_rho == pytest.approx(tab["acme"].iloc[1])


# ----------------------------------------------------------------------------- interface and bad input
def test_result_interface(designs):
    d, x, m, y, covs, _ = designs["framing_bo"]
    res = sensitivity(d, x, m, y, covariates=covs, rhos=[-0.5, 0.0, 0.5], outcome_model="probit", n_sims=50, seed=3)
    f = res.to_frame()
    assert list(f.columns) == ["rho", "acme", "ci_low", "ci_high", "acme_control", "acme_treated",
                               "rsq_prod_residual", "rsq_prod_total"]
    assert (f.ci_low <= f.acme).all() and (f.acme <= f.ci_high).all()
    assert isinstance(res.summary(), str)
    json.dumps(res.to_dict())
    assert res.outcome_model == "probit" and res.n_sims == 50
    again = sensitivity(d, x, m, y, covariates=covs, rhos=[-0.5, 0.0, 0.5], outcome_model="probit", n_sims=50, seed=3)
    pd.testing.assert_frame_equal(f, again.to_frame())


def _toy(n=120, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n).astype(float)
    m = 0.5 * t + rng.normal(size=n)
    return pd.DataFrame({"t": t, "m": m, "mb": (m > 0.3).astype(float), "y": m + rng.normal(size=n),
                         "yb": (m + rng.normal(size=n) > 0).astype(float)})


@pytest.mark.parametrize("args, kw, msg", [
    (("t", "m", "yb"), {"outcome_model": "logit"}, "'linear' or 'probit'"),
    (("t", "mb", "yb"), {"outcome_model": "probit", "mediator_model": "probit"}, "does not cover"),
    (("t", "m", "y"), {"outcome_model": "probit"}, "outcome column 'y' must be binary"),
    (("t", "m", "y"), {"mediator_model": "probit"}, "mediator column 'm' must be binary"),
    (("t", "m", "yb"), {"outcome_model": "probit", "rhos": [0.5, 1.0]}, "strictly between"),
])
def test_bad_input(args, kw, msg):
    with pytest.raises(DataError, match=msg):
        sensitivity(_toy(), *args, n_sims=20, **kw)


def test_binary_mediator_one_level_in_an_arm():
    d = _toy()
    d.loc[d.t == 0, "mb"] = 0.0
    with pytest.raises(DataError, match=r"binary mediator 'mb' takes only the value 0 in the arm t = 0"):
        sensitivity(d, "t", "mb", "y", mediator_model="probit", n_sims=20)
