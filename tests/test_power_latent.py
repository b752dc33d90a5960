"""power_from_fit for latent mediation (issue #20): the simulated data are the fitted model's, each
replication is refitted exactly as efficacy.latent_mediation fits it, and with near-perfect indicators the
latent power is the observed-mediation power of the same structural model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import efficacy as ef
from efficacy.errors import DataError, SimulationError
from efficacy.mediation.latent import latent_mediation
from efficacy.power import _LatentMediationModel

ITEMS = ["i0", "i1", "i2", "i3"]


def _study(n=300, seed=3, noise=0.6, missing=True):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n).astype(float)
    eta = 0.5 * x + rng.normal(size=n)
    d = pd.DataFrame({f"i{j}": (0.8 + 0.1 * j) * eta + noise * rng.normal(size=n) for j in range(4)})
    d["c"] = rng.normal(size=n)
    d["x"] = x
    d["y"] = 0.4 * eta + 0.2 * x + 0.1 * d["c"] + rng.normal(size=n)
    if missing:
        d.loc[rng.random(n) < 0.1, "i1"] = np.nan
        d.loc[rng.random(n) < 0.08, "y"] = np.nan
    return d


@pytest.fixture(scope="module")
def study():
    return _study()


@pytest.mark.parametrize("missing", ["listwise", "fiml"])
def test_batched_refit_is_latent_mediation_on_each_replication(study, missing):
    """Every replication's estimates and (expected / observed information) SEs are those of
    latent_mediation on that data set, up to the convergence tolerance of the two Fisher-scoring runs (they
    stop when the Newton decrement g' I^-1 g < 1e-9, i.e. a parameter error of order sqrt(1e-9 / n) ~ 3e-6,
    from different starts: truth vs latent_mediation's starting values)."""
    res = latent_mediation(study, "x", ITEMS, "y", covariates=["c"], n_boot=0, missing=missing, sum_score=False)
    model = _LatentMediationModel(res, study, "resample")
    U, W, pat = model.simulate(np.random.default_rng(11), 3, 150)
    theta, V, ok, _ = model.fit(U, W, pat)
    assert ok.all()
    if missing == "fiml":
        assert np.isnan(W).any()
    for r in range(3):
        d = pd.DataFrame(np.column_stack([U[r, :, 1:], W[r]]), columns=["x", "c", *ITEMS, "y"])
        ref = latent_mediation(d, "x", ITEMS, "y", covariates=["c"], n_boot=0, missing=missing, sum_score=False)
        t = ref.to_frame().set_index("effect")
        np.testing.assert_allclose(theta[r], [ref.a, ref.b, ref.direct], rtol=0, atol=5e-6)
        np.testing.assert_allclose(np.sqrt(np.diag(V[r])), t.loc[["a", "b", "direct"], "se"].to_numpy(float),
                                   rtol=1e-4)


def test_simulated_moments_reproduce_the_implied_moments(study):
    """Pooled over 8 x 10,000 simulated rows, the sample mean and covariance of (items, outcome, x, c) are the
    fitted model's implied moments (exogenous moments of the analysed rows, ML divisor).

    Tolerance: a sample covariance of N (near-)normal rows has SE sqrt((s_ii s_jj + s_ij^2) / N), a mean
    sqrt(s_ii / N). 5 SE per element: with 28 covariances and 7 means the chance of a false alarm is below
    35 * 6e-7. The binary treatment has a smaller fourth moment than a normal, so its SEs are over-stated
    (conservative). The exogenous rows are resampled from the data, so their moments carry no model error."""
    res = latent_mediation(study, "x", ITEMS, "y", covariates=["c"], n_boot=0, sum_score=False)
    model = _LatentMediationModel(res, study, "resample")
    U, W, _ = model.simulate(np.random.default_rng(5), 8, 10_000)
    D = np.concatenate([W, U[:, :, 1:]], axis=2).reshape(-1, W.shape[2] + U.shape[2] - 1)
    N = D.shape[0]
    mu, S = model.implied_joint()
    m_hat = D.mean(axis=0)
    S_hat = np.cov(D, rowvar=False, bias=True)
    se_m = np.sqrt(np.diag(S) / N)
    se_S = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S ** 2) / N)
    assert np.all(np.abs(m_hat - mu) < 5 * se_m), (m_hat - mu) / se_m
    assert np.all(np.abs(S_hat - S) < 5 * se_S), np.round((S_hat - S) / se_S, 1)


def test_fiml_missingness_pattern_is_resampled(study):
    """With FIML each simulated row carries the missingness pattern of a resampled analysed row: the share
    missing per column is the study's (binomial MC error, 5 SE), and no row is entirely missing."""
    res = latent_mediation(study, "x", ITEMS, "y", covariates=["c"], n_boot=0, missing="fiml", sum_score=False)
    model = _LatentMediationModel(res, study, "resample")
    _, W, _ = model.simulate(np.random.default_rng(2), 4, 5_000)
    share = np.isnan(W).reshape(-1, W.shape[2]).mean(axis=0)
    rows = study[["x", "c"]].notna().all(axis=1) & study[ITEMS + ["y"]].notna().any(axis=1)
    want = study.loc[rows, ITEMS + ["y"]].isna().mean().to_numpy()
    N = W.shape[0] * W.shape[1]
    assert np.all(np.abs(share - want) <= 5 * np.sqrt(want * (1 - want) / N) + 1e-12), (share, want)
    assert share[1] > 0.05 and share[4] > 0.05
    assert not np.isnan(W).all(axis=2).any()


def test_near_perfect_indicators_give_the_observed_mediation_power():
    """Items that measure the factor almost without error (residual SD 0.05 vs factor SD ~1: reliability of
    the mean score > 0.998): the latent model's power for every path and the indirect effect is the power of
    observed mediation on the mean score (the same structural model), within Monte Carlo error.

    The two runs are independent binomial estimates from R = 300 replications, so their difference has
    SE sqrt(p1 (1 - p1) / R + p2 (1 - p2) / R) <= 0.041; the truths differ only by the attenuation of the
    mean score (< 0.3% of b), far below that. Tolerance 4 SE (each of 5 comparisons; false alarm < 5 * 6e-5)."""
    rng = np.random.default_rng(7)
    n = 400
    x = rng.integers(0, 2, n).astype(float)
    eta = 0.35 * x + rng.normal(size=n)
    d = pd.DataFrame({f"i{j}": eta + 0.05 * rng.normal(size=n) for j in range(4)})
    d["x"] = x
    d["y"] = 0.25 * eta + 0.1 * x + rng.normal(size=n)
    d["score"] = d[ITEMS].mean(axis=1)
    lat = latent_mediation(d, "x", ITEMS, "y", n_boot=0, sum_score=False)
    obs = ef.mediate(d, "x", "score", "y", n_boot=0)
    assert abs(lat.b / obs.b - 1) < 0.01 and abs(lat.a / obs.a - 1) < 0.01
    R = 300
    pl = ef.power_from_fit(lat, d, n=[120], n_reps=R, seed=1, n_draws=500).power
    po = ef.power_from_fit(obs, d, n=[120], n_reps=R, seed=2, n_draws=500).power
    assert (pl["n_failed"] == 0).all()
    key = {"eff": "score"}
    for eff, test in (("a", "z"), ("b", "z"), ("direct", "z"), ("indirect", "montecarlo"), ("indirect", "joint")):
        p1 = pl[(pl["effect"] == eff) & (pl["test"] == test)]
        p2 = po[(po["effect"] == eff) & (po["test"] == test) & po["term"].isin([key.get(t, t) for t in p1["term"]])]
        a1, a2 = float(p1["power"].iloc[0]), float(p2["power"].iloc[0])
        se = np.sqrt(a1 * (1 - a1) / R + a2 * (1 - a2) / R)
        assert abs(a1 - a2) <= 4 * max(se, 1 / R), (eff, test, a1, a2)


def test_latent_power_rises_with_n_and_reports_the_factor(study):
    res = latent_mediation(study, "x", ITEMS, "y", n_boot=0, sum_score=False, mediator_name="eff")
    pw = ef.power_from_fit(res, study, n=[40, 160], n_reps=100, seed=3, n_draws=300)
    p = pw.power
    ind = p[(p["effect"] == "indirect") & (p["test"] == "montecarlo")].set_index("n")["power"]
    assert ind.loc[160] > ind.loc[40]
    assert pw.primary_effect == ("indirect", "eff")
    assert set(p["term"]) == {"eff", ""}
    np.testing.assert_allclose(p.loc[p["effect"] == "indirect", "true_value"].iloc[0], res.indirect, rtol=1e-6)
    assert "eff=~i1" in pw.truth and "latent_mediation" in pw.model
    assert (p["n_failed"] == 0).all()
    # the z test of a path at the truth: power at n=160 within MC error of the asymptotic Wald power
    se_a = res.to_frame().set_index("effect").loc["a", "se"] * np.sqrt(res.n / 160)
    zc = stats.norm.ppf(0.975)
    asym = stats.norm.sf(zc - abs(res.a) / se_a) + stats.norm.cdf(-zc - abs(res.a) / se_a)
    pa = float(p[(p["effect"] == "a") & (p["n"] == 160)]["power"].iloc[0])
    assert abs(pa - asym) <= 4 * np.sqrt(asym * (1 - asym) / 100) + 0.02


def test_latent_bad_input(study):
    res = latent_mediation(study, "x", ITEMS, "y", n_boot=0, sum_score=False)
    with pytest.raises(DataError, match="pass the study's data"):
        ef.power_from_fit(res, None, n=[50], n_reps=10)
    with pytest.raises(DataError, match="usable rows|reproduce"):
        ef.power_from_fit(res, study.iloc[:-20], n=[50], n_reps=10)
    with pytest.raises(SimulationError, match="path_test='t'"):
        ef.power_from_fit(res, study, n=[50], n_reps=10, path_test="t")
    with pytest.raises(SimulationError, match="usable sample size"):
        ef.power_from_fit(res, study, n=[5], n_reps=10)


def test_latent_outcome_refit_is_latent_mediation():
    """A latent outcome (outcome_items) too: the simulated replication refitted in the batch equals
    latent_mediation on it (same tolerance as above)."""
    rng = np.random.default_rng(2)
    n = 300
    x = rng.integers(0, 2, n).astype(float)
    eta = 0.5 * x + rng.normal(size=n)
    zeta = 0.4 * eta + 0.1 * x + rng.normal(size=n)
    d = pd.DataFrame({f"i{j}": eta + 0.6 * rng.normal(size=n) for j in range(3)})
    for j in range(3):
        d[f"o{j}"] = zeta + 0.6 * rng.normal(size=n)
    d["x"] = x
    kw = dict(outcome_items=["o0", "o1", "o2"], n_boot=0, sum_score=False)
    res = latent_mediation(d, "x", ["i0", "i1", "i2"], "out", **kw)
    model = _LatentMediationModel(res, d, "resample")
    U, W, pat = model.simulate(np.random.default_rng(4), 2, 200)
    theta, V, ok, _ = model.fit(U, W, pat)
    assert ok.all()
    sim = pd.DataFrame(np.column_stack([U[1, :, 1:], W[1]]), columns=["x", "i0", "i1", "i2", "o0", "o1", "o2"])
    ref = latent_mediation(sim, "x", ["i0", "i1", "i2"], "out", **kw)
    np.testing.assert_allclose(theta[1], [ref.a, ref.b, ref.direct], rtol=0, atol=5e-6)
    se = ref.to_frame().set_index("effect").loc[["a", "b", "direct"], "se"].to_numpy(float)
    np.testing.assert_allclose(np.sqrt(np.diag(V[1])), se, rtol=1e-4)
