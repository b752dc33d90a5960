"""Bootstrap intervals held against R run with many resamples (issue #24).

Fixtures from ``tests/reference/resampling.R`` (R's draws: lavaan's bootstrap, boot::boot):

* ``resampling_latent_mastery.json``: latent mediation BCa, lavaan ``bootstrapLavaan`` (10,000 refits) +
  ``boot::boot.ci(type = "bca")`` with the jackknife (lavaan refits without row i) as ``L``.
* ``resampling_moderated_jobs.json``: PROCESS model 7 on JOBS II, lavaan ``se = "bootstrap"`` (20,000):
  ``boot.ci.type = "bca.simple"`` and ``"perc"`` from lavaan, BCa from ``boot.ci`` on the same draws with the
  jackknife of the two OLS equations; ``semTools::monteCarloCI`` (1e6 draws) for ``ci = "montecarlo"``.
* ``resampling_htmt_holzinger.json``: HTMT2 percentile interval, ``boot::boot`` around ``semTools::htmt``
  (10,000).
* ``resampling_omega_holzinger.json``: omega-hierarchical BCa, ``boot::boot`` around ``psych::omega``
  (10,000) with its jackknife.
* ``resampling_bca_aircondit.json``: the BCa routine itself, ``boot::boot.ci(type = "bca")`` on 2000 stored
  replicates of a skewed statistic (acceleration ~0.1), handed unchanged to ``bca_interval``: no Monte Carlo
  error, only the quantile convention differs.

Monte Carlo tolerance. Both sides estimate the same interval endpoint, each with Monte Carlo error only. A
percentile endpoint q = F^-1(alpha) from B resamples has SE sqrt(alpha (1 - alpha) / B) / f(q), f the density
of the bootstrap distribution at q (a kernel estimate from the R draws, stored in the fixture). A BCa endpoint
is F^-1(alpha~(p)) with alpha~ = Phi(z0 + (z0 + z) / (1 - a (z0 + z))), z0 = Phi^-1(p) and p = F(t0) also
estimated from the same B draws, so (delta method, empirical-CDF covariance (min(p, alpha~) - p alpha~) / B)

    Var = [alpha~ (1 - alpha~) + c^2 p (1 - p) - 2 c (min(p, alpha~) - p alpha~)] / (B f(q)^2),
    c = d alpha~ / d p = phi(w) (1 + 1 / (1 - a (z0 + z))^2) / phi(z0),  w = z0 + (z0 + z) / (1 - a (z0 + z)).

The two runs are independent: |ours - R| <= 4 sqrt(SE(B_ours)^2 + SE(B_R)^2), with p, z0, a, alpha~ and f
from the R run. The jackknife acceleration a has no Monte Carlo error: it is compared on its own, from the
leave-one-out values our code passes to the BCa routine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import efficacy.mediation.latent as latent_mod
import efficacy.mediation.moderated as moderated_mod
import efficacy.reliability as rel
from efficacy.measurement import htmt
from efficacy.mediation import moderated_mediation
from efficacy.mediation.latent import latent_mediation
from efficacy.resampling import bca_interval

REF = Path(__file__).parent / "reference"
ROOT = Path(__file__).parents[1]
Z = 4.0
LEVEL = 0.95
ITEMS = [f"se{j}" for j in range(1, 7)]
HS_SCALES = {"vis": ["x1", "x2", "x3"], "tex": ["x4", "x5", "x6"], "spe": ["x7", "x8", "x9"]}


def _load(name):
    return json.loads((REF / f"resampling_{name}.json").read_text())


def percentile_mcse(B, alpha, f):
    """Monte Carlo SE of the alpha-quantile of B draws with density f there."""
    return np.sqrt(alpha * (1 - alpha) / B) / f


def bca_mcse(B, ref, end):
    """Monte Carlo SE of BCa endpoint ``end`` (0 lower, 1 upper) from B draws (see module docstring)."""
    z = stats.norm.ppf([(1 - LEVEL) / 2, (1 + LEVEL) / 2])[end]
    z0, acc, p = ref["z0"], ref["acc"], ref["p"]
    alpha = ref["alpha_adj"][end]
    u = z0 + z
    w = z0 + u / (1 - acc * u)
    c = stats.norm.pdf(w) * (1 + 1 / (1 - acc * u) ** 2) / stats.norm.pdf(z0)
    var = alpha * (1 - alpha) + c**2 * p * (1 - p) - 2 * c * (min(p, alpha) - p * alpha)
    return np.sqrt(var / B) / ref["density_bca"][end]


def _check_bca(lo_hi, ref, B_ours, what):
    for end in (0, 1):
        tol = Z * np.hypot(bca_mcse(B_ours, ref, end), bca_mcse(ref["B"], ref, end))
        diff = lo_hi[end] - ref["bca"][end]
        assert abs(diff) <= tol, f"{what} BCa {'lower' if end == 0 else 'upper'}: ours {lo_hi[end]:.6g} vs R " \
                                 f"{ref['bca'][end]:.6g} (|diff| {abs(diff):.3g} > tol {tol:.3g})"


def _check_percentile(lo_hi, ref_lim, dens, B_ours, B_r, what):
    a = (1 - LEVEL) / 2
    for end, alpha in ((0, a), (1, 1 - a)):
        tol = Z * np.hypot(percentile_mcse(B_ours, alpha, dens[end]), percentile_mcse(B_r, alpha, dens[end]))
        diff = lo_hi[end] - ref_lim[end]
        assert abs(diff) <= tol, f"{what} percentile {end}: ours {lo_hi[end]:.6g} vs R {ref_lim[end]:.6g} " \
                                 f"(|diff| {abs(diff):.3g} > tol {tol:.3g})"


def _acceleration(jack):
    d = np.nanmean(jack, axis=0) - jack
    return (d**3).sum(axis=0) / (6 * ((d**2).sum(axis=0)) ** 1.5)


class _Capture:
    """Wraps a module's bca_interval to record the (boot, est, jack) it is called with."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, boot, est, jack, level=0.95):
        self.calls.append((np.array(boot, float), np.array(est, float), np.array(jack, float)))
        return self.fn(boot, est, jack, level)


# ------------------------------------------------------------------------------------ latent mediation
@pytest.fixture(scope="module")
def latent_bca():
    mp = pytest.MonkeyPatch()
    cap = _Capture(latent_mod.bca_interval)
    mp.setattr(latent_mod, "bca_interval", cap)
    try:
        d = pd.read_csv(REF / "latent_mastery.csv")
        res = latent_mediation(d, "treat", ITEMS, "behavior", covariates=["age"], n_boot=3000, ci_method="bca",
                               seed=20261207, sum_score=False)
    finally:
        mp.undo()
    return res, cap.calls[0]


LATENT_EFFECTS = ["a", "b", "direct", "indirect", "total"]


@pytest.mark.parametrize("effect", LATENT_EFFECTS)
def test_latent_bca_matches_lavaan_boot_ci(latent_bca, effect):
    """Ours (3000 resamples) vs bootstrapLavaan (10,000) + boot.ci(type = "bca"), within 4 MC SEs."""
    res, _ = latent_bca
    ref = _load("latent_mastery")
    r = ref["effects"][effect]
    row = res.to_frame().set_index("effect").loc[effect]
    assert res.n == ref["n"] and res.n_failed == 0
    assert_allclose(row["estimate"], r["estimate"], rtol=1e-5)
    _check_bca((row["ci_low"], row["ci_high"]), r, res.n_boot - res.n_failed, f"latent {effect}")


def test_latent_jackknife_and_acceleration_match_lavaan(latent_bca):
    """The leave-one-out refits behind the acceleration equal lavaan's sem(model, data[-i, ]) (polished to a
    tight tolerance in R), hence the same acceleration a. Our Fisher scoring stops when the Newton decrement
    is below 1e-9, i.e. within ~3e-5 standard errors of the maximum; the influence values (n - 1)(mean -
    jack_i) multiply that n-fold, so they agree to ~1e-4 of their largest value (observed 1e-4 for c'):
    compared at 3e-4. The acceleration (magnitudes 7e-5 to 2e-3 here) at 1e-6 absolute."""
    _, (_, _, jack) = latent_bca
    ref = _load("latent_mastery")["effects"]
    for q, effect in enumerate(LATENT_EFFECTS):
        rj = np.array(ref[effect]["jackknife"])
        assert jack.shape[0] == len(rj)
        L_ours = (len(rj) - 1) * (jack[:, q].mean() - jack[:, q])
        L_r = (len(rj) - 1) * (rj.mean() - rj)
        assert_allclose(L_ours, L_r, atol=3e-4 * np.abs(L_r).max(), err_msg=effect)
        assert_allclose(_acceleration(jack[:, q]), ref[effect]["acc"], atol=1e-6, err_msg=effect)


# --------------------------------------------------------------------------------- moderated mediation
MOD_EFFECTS = ["a1", "a2", "a3", "b", "direct", "ind1", "ind2", "ind3", "index"]


@pytest.fixture(scope="module")
def jobs():
    return pd.read_csv(ROOT / "data" / "raw" / "jobs_ii" / "data.csv")


@pytest.fixture(scope="module")
def moderated_bca(jobs):
    mp = pytest.MonkeyPatch()
    cap = _Capture(moderated_mod.bca_interval)
    mp.setattr(moderated_mod, "bca_interval", cap)
    try:
        res = moderated_mediation(jobs, "treat", "job_seek", "depress2", "econ_hard", model=7,
                                  covariates=["sex", "age"], n_boot=20000, ci_method="bca", seed=20261208)
    finally:
        mp.undo()
    return res, cap.calls[0]


def test_moderated_bca_matches_boot_ci_on_lavaan_draws(moderated_bca):
    """Ours (20,000) vs boot.ci(type = "bca") on lavaan's 20,000 bootstrap draws, within 4 MC SEs."""
    res, _ = moderated_bca
    ref = _load("moderated_jobs")
    tab = res.to_frame()
    assert_allclose(res.values, ref["w_values"], rtol=1e-12)
    for (_, row), key in zip(tab.iterrows(), MOD_EFFECTS):
        r = ref["effects"][key]
        # lavaan's ML estimates equal OLS to its convergence tolerance (~3e-7 here)
        assert_allclose(row["estimate"], r["estimate"], rtol=1e-5, atol=1e-6)
        _check_bca((row["ci_low"], row["ci_high"]), r, res.n_boot_valid, f"moderated {key}")


def test_moderated_bca_vs_lavaan_bca_simple(moderated_bca):
    """lavaan's boot.ci.type = "bca.simple" is the bias-corrected interval without acceleration (BC). Ours is
    BCa, so the endpoints differ by the acceleration's shift, which R measures on the same draws as
    (BCa - BC); |ours - lavaan BC| <= 4 MC SEs + |R BCa - lavaan BC| (the shift is at most 0.31 of the
    tolerance here, for b: the jackknife accelerations of these effects are at most 0.0075 in absolute value)."""
    res, _ = moderated_bca
    ref = _load("moderated_jobs")
    for (_, row), key in zip(res.to_frame().iterrows(), MOD_EFFECTS):
        r = ref["effects"][key]
        for end in (0, 1):
            tol = Z * np.hypot(bca_mcse(res.n_boot_valid, r, end), bca_mcse(r["B"], r, end))
            shift = abs(r["bca"][end] - r["lavaan_bca_simple"][end])
            ours = (row["ci_low"], row["ci_high"])[end]
            assert abs(ours - r["lavaan_bca_simple"][end]) <= tol + shift, f"{key} end {end}"


def test_moderated_acceleration_matches_r_jackknife(moderated_bca):
    """Closed-form leave-one-out coefficients (ours) vs 899 lm() refits (R): the same acceleration."""
    _, (_, _, jack) = moderated_bca
    ref = _load("moderated_jobs")["effects"]
    assert_allclose(_acceleration(jack), [ref[k]["acc"] for k in MOD_EFFECTS], rtol=1e-6, atol=1e-12)


def test_moderated_percentile_matches_lavaan(jobs):
    """ci = "percentile" vs lavaan's boot.ci.type = "perc" (20,000 draws), within 4 MC SEs."""
    res = moderated_mediation(jobs, "treat", "job_seek", "depress2", "econ_hard", model=7,
                              covariates=["sex", "age"], n_boot=20000, ci_method="percentile", seed=7)
    ref = _load("moderated_jobs")
    for (_, row), key in zip(res.to_frame().iterrows(), MOD_EFFECTS):
        r = ref["effects"][key]
        _check_percentile((row["ci_low"], row["ci_high"]), r["lavaan_perc"], r["density_perc"],
                          res.n_boot_valid, r["B"], f"moderated {key}")


def test_moderated_montecarlo_matches_semtools(jobs):
    """ci = "montecarlo" (400,000 draws) vs semTools::monteCarloCI (1e6 draws) on the lavaan fit: the same
    normal sampling distribution of the coefficients (ML covariance), so the same quantiles within MC error."""
    B = 400_000
    res = moderated_mediation(jobs, "treat", "job_seek", "depress2", "econ_hard", model=7,
                              covariates=["sex", "age"], n_boot=B, ci_method="montecarlo", seed=11)
    ref = _load("moderated_jobs")["montecarlo"]
    tab = res.to_frame()
    rows = tab[tab["effect"].isin(["conditional_indirect", "index"])]
    for (_, row), key in zip(rows.iterrows(), ["ind1", "ind2", "ind3", "index"]):
        r = ref[key]
        assert_allclose(row["estimate"], r["estimate"], rtol=1e-5, atol=1e-6)
        _check_percentile((row["ci_low"], row["ci_high"]), r["ci"], r["density"], B, 1_000_000, f"MC {key}")


# ---------------------------------------------------------------------------------------------- HTMT
def test_htmt_percentile_matches_semtools_boot():
    """htmt(n_boot = 10000) vs boot(semTools::htmt, R = 10000) + boot.ci(type = "perc"), within 4 MC SEs."""
    hs = pd.read_csv(REF / "sem_hs1939.csv")
    res = htmt(hs, HS_SCALES, n_boot=10000, seed=20261210)
    ref = _load("htmt_holzinger")
    for key, r in ref["pairs"].items():
        s1, s2 = key.split("_")
        assert_allclose(res.estimate.loc[s1, s2], r["estimate"], rtol=1e-10)
        _check_percentile((res.ci_low.loc[s1, s2], res.ci_high.loc[s1, s2]), r["perc"], r["density_perc"],
                          res.n_boot, r["B"], f"HTMT2 {key}")


# ------------------------------------------------------------------------------------ omega hierarchical
@pytest.fixture(scope="module")
def omega_bca():
    mp = pytest.MonkeyPatch()
    cap = _Capture(rel.bca_interval)
    mp.setattr(rel, "bca_interval", cap)
    try:
        hs = pd.read_csv(REF / "sem_hs1939.csv")[[f"x{i}" for i in range(1, 10)]]
        res = rel.mcdonald_omega(hs, subscales=HS_SCALES, n_boot=1500, seed=20261211)
    finally:
        mp.undo()
    calls = [c for c in cap.calls if np.isclose(np.atleast_1d(c[1])[0], res.omega_h)]
    return res, calls[0]


def test_omega_h_bca_matches_psych_boot(omega_bca):
    """omega_h BCa (1500 resamples) vs boot(psych::omega(nfactors = 3)$omega_h, R = 10000) + boot.ci(bca)."""
    res, (boot, _, _) = omega_bca
    r = _load("omega_holzinger")["omega_h"]
    assert_allclose(res.omega_h, r["estimate"], rtol=1e-5)
    B_ours = int(np.isfinite(boot).sum())
    assert B_ours >= 0.99 * res.n_boot
    _check_bca((res.omega_h_ci_low, res.omega_h_ci_high), r, B_ours, "omega_h")


def test_omega_h_jackknife_matches_psych(omega_bca):
    """Our batched Schmid-Leiman chain on the 301 leave-one-out correlation matrices vs psych::omega on
    HS[-i, ]: the same values to psych's minres/oblimin convergence (largest relative difference 1.2e-5),
    hence the same influence values and acceleration. The influence values (n - 1)(mean - jack_i) amplify
    an error e in a leave-one-out value n-fold, so they are compared at 300 x 2e-5 x 0.45 absolute."""
    _, (_, _, jack) = omega_bca
    r = _load("omega_holzinger")["omega_h"]
    rj = np.array(r["jackknife"])
    jack = jack.ravel()
    n = len(rj)
    assert_allclose(jack, rj, rtol=2e-5)
    assert_allclose((n - 1) * (jack.mean() - jack), (n - 1) * (rj.mean() - rj), atol=(n - 1) * 2e-5 * 0.45)
    assert_allclose(_acceleration(jack), r["acc"], rtol=1e-3)


# ------------------------------------------------------------------------------- the BCa routine itself
def test_bca_interval_equals_boot_ci_on_the_same_draws():
    """bca_interval on boot's own 2000 replicates and jackknife of mean(aircondit$hours) vs boot.ci(type =
    "bca", L = jackknife): both read the bootstrap distribution at the same adjusted levels alpha~ (from z0 and
    the acceleration a ~ 0.1), boot.ci at order statistic (B + 1) alpha~ (interpolated), numpy at position
    1 + (B - 1) alpha~; the two positions are less than one apart, so the endpoints must lie within the
    order statistics around (B + 1) alpha~. A wrong acceleration (sign, factor 6, exponent) moves alpha~ by
    tens of order statistics here."""
    ref = _load("bca_aircondit")["mean"]
    draws, jack = np.array(ref["draws"]), np.array(ref["jackknife"])
    lo, hi = bca_interval(draws, ref["estimate"], jack, LEVEL)
    srt = np.sort(draws)
    B = len(draws)
    assert_allclose(_acceleration(jack), ref["acc"], rtol=1e-12)
    for ours, r_end, alpha in ((lo[0], ref["bca"][0], ref["alpha_adj"][0]), (hi[0], ref["bca"][1], ref["alpha_adj"][1])):
        k = int(np.floor((B + 1) * alpha))                  # 1-based order statistic below boot.ci's position
        bracket = srt[max(k - 2, 0)], srt[min(k + 1, B - 1)]
        assert bracket[0] <= r_end <= bracket[1]
        assert bracket[0] <= ours <= bracket[1], f"ours {ours} outside {bracket} (boot.ci {r_end})"
        assert abs(ours - r_end) <= bracket[1] - bracket[0]
