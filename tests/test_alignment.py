"""Alignment (Asparouhov & Muthen, 2014) by planted truth and by the method's own invariances (issue #18).

No reference implementation is installable here (sirt is not in Debian, Mplus is commercial), so the
optimisation is written out independently in R (tests/reference/alignment.R: lavaan's std.lv configural
fit, the same loss minimised by optim) and held against it to 1e-4, and besides:
- exactly invariant simulated data: the aligned factor means and variances reproduce the scalar model's
  (both estimate the same quantities; they differ only by the sampling noise of the configural
  parameters that the scalar model pools, a few hundredths at n = 400 per group);
- one planted non-invariant intercept in one group out of 6 (and of 8 in the R fixture's data): that parameter, and only it, is flagged;
- alignment changes no fit: the chi-square of the aligned solution equals the configural chi-square;
- the analytic gradient of the total loss equals a numerical one.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from efficacy.errors import DataError, MeasurementError
from efficacy.measurement import alignment, cfa
from efficacy.measurement.alignment import _align_factor, simplicity_loss

ITEMS = [f"y{j}" for j in range(1, 6)]


def simulate(G, n, shift=None, seed=1):
    rng = np.random.default_rng(seed)
    lam = np.array([1.0, 0.8, 1.2, 0.9, 1.1])
    nu = np.array([3.0, 2.8, 3.2, 3.1, 2.9])
    th = np.array([0.5, 0.6, 0.4, 0.7, 0.5])
    alpha, psi = np.linspace(-0.5, 0.5, G), np.linspace(0.7, 1.4, G)
    parts = []
    for g in range(G):
        eta = alpha[g] + np.sqrt(psi[g]) * rng.standard_normal(n)
        nug = nu.copy()
        if shift is not None and g == shift[0]:
            nug[shift[1]] += shift[2]
        X = nug + np.outer(eta, lam) + rng.standard_normal((n, 5)) * np.sqrt(th)
        parts.append(pd.DataFrame(X, columns=ITEMS).assign(country=f"c{g + 1}"))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def invariant():
    d = simulate(6, 400, seed=11)
    return d, alignment(d, {"f": ITEMS}, "country")


def test_invariant_data_reproduce_the_scalar_model(invariant):
    d, res = invariant
    sc = cfa(d, {"f": ITEMS}, group="country", equal=("loadings", "intercepts"))
    E = sc.estimates
    v = E[(E["op"] == "~~") & (E["lhs"] == "f") & (E["rhs"] == "f")]["estimate"].to_numpy()
    m = E[(E["op"] == "~1") & (E["lhs"] == "f")]["estimate"].to_numpy()
    # scalar model in the alignment's metric: group 1 mean 0, variance 1
    np.testing.assert_allclose(res.factor_means["f"].to_numpy(), m / np.sqrt(v[0]), atol=0.05)
    np.testing.assert_allclose(res.factor_variances["f"].to_numpy(), v / v[0], rtol=0.06)
    assert res.factor_means["f"].iloc[0] == 0 and res.factor_variances["f"].iloc[0] == 1
    assert res.converged and res.n_noninvariant == 0
    assert all(v == [] for v in res.noninvariant.values())


def test_alignment_keeps_the_configural_fit(invariant):
    _, res = invariant
    np.testing.assert_allclose(res.aligned_chisq, res.chisq, rtol=1e-8)
    conf = res.configural
    assert conf.equal == () and res.df == conf.fit["df"]


def test_alignment_keeps_the_fit_with_correlated_factors():
    hs = pd.read_csv("tests/reference/measurement_hs1939.csv")
    model = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
    res = alignment(hs, model, "school")
    np.testing.assert_allclose(res.aligned_chisq, res.chisq, rtol=1e-7)
    assert list(res.factor_means.columns) == list(model)


def test_planted_noninvariant_intercept_is_flagged():
    d = simulate(6, 250, shift=(3, 2, 0.5), seed=2)
    res = alignment(d, {"f": ITEMS}, "country")
    flagged = {g: v for g, v in res.noninvariant.items() if v}
    assert flagged == {"c4": ["y3 ~1"]}
    t = res.to_frame()
    row = t[(t["group"] == "c4") & (t["rhs"] == "") & (t["lhs"] == "y3")].iloc[0]
    assert row["param"] == "intercept" and not row["invariant"]
    np.testing.assert_allclose(row["difference"], 0.5, atol=0.15)   # the planted shift, in the item's metric
    json.dumps(res.to_dict(), allow_nan=False)
    assert "y3" in res.summary()


def test_loss_gradient_and_optimum():
    rng = np.random.default_rng(3)
    lam0 = 1 + 0.2 * rng.standard_normal((5, 4))
    nu0 = 3 + 0.3 * rng.standard_normal((5, 4))
    w = np.sqrt(np.outer(np.arange(100, 600, 100), np.arange(100, 600, 100)))
    alpha, psi, loss, ok, _ = _align_factor(lam0, nu0, w)
    np.fill_diagonal(w, 0)   # pairs of different groups only
    assert ok

    def total(x):
        a = np.concatenate([[0], x[:4]])
        s = np.exp(-np.concatenate([[0], x[4:]]) / 2)[:, None]
        lam1, nu1 = lam0 * s, nu0 - a[:, None] * lam0 * s
        W = w[:, :, None]
        return 0.5 * np.sum(W * (simplicity_loss(lam1[:, None] - lam1[None]) + simplicity_loss(nu1[:, None] - nu1[None])))

    x = np.concatenate([alpha[1:], np.log(psi[1:])])
    np.testing.assert_allclose(total(x), loss, rtol=1e-10)
    assert np.max(np.abs(optimize.approx_fprime(x, total, 1e-7))) < 1e-2 * loss   # a stationary point
    assert loss <= total(np.zeros(8))
    np.testing.assert_allclose(simplicity_loss([0.0, 1.0]), [0.1 ** 0.5, 1.01 ** 0.25])


def test_bad_input():
    d = simulate(2, 50)
    with pytest.raises(MeasurementError, match="at least 2 groups"):
        alignment(d[d["country"] == "c1"], {"f": ITEMS}, "country")
    with pytest.raises(MeasurementError, match="simple structure"):
        alignment(d, "f =~ y1 + y2 + y3\ng =~ y3 + y4 + y5", "country")
    with pytest.raises(MeasurementError, match="estimator"):
        alignment(d, {"f": ITEMS}, "country", estimator="WLSMV")
    with pytest.raises((MeasurementError, DataError), match="nation"):
        alignment(d, {"f": ITEMS}, "nation")


def test_matches_the_alignment_written_out_in_R():
    """Fixture: tests/reference/alignment.R (lavaan configural fit with std.lv = TRUE, then the same loss
    minimised by R's optim/BFGS from 6 starts). Tolerances: the optimum is found to ~1e-6 by both."""
    fix = json.loads((Path(__file__).parent / "reference" / "alignment_groups.json").read_text())
    d = pd.read_csv(Path(__file__).parent / "reference" / "alignment_groups.csv")
    res = alignment(d, {"f": ITEMS}, "country")
    assert res.groups == fix["groups"]
    np.testing.assert_allclose(res.chisq, fix["chisq"], rtol=1e-6)
    t = res.to_frame()
    for kind, conf, aligned in (("loading", "lambda0", "lambda_aligned"), ("intercept", "nu0", "nu_aligned")):
        col = "rhs" if kind == "loading" else "lhs"
        sub = t[t["param"] == kind]
        np.testing.assert_allclose(sub.pivot(index="group", columns=col, values="configural").loc[fix["groups"], ITEMS],
                                   fix[conf], atol=1e-4)
        np.testing.assert_allclose(sub.pivot(index="group", columns=col, values="estimate").loc[fix["groups"], ITEMS],
                                   fix[aligned], atol=1e-4)
    np.testing.assert_allclose(res.factor_means["f"], fix["alpha"], atol=1e-4)
    np.testing.assert_allclose(res.factor_variances["f"], fix["psi"], atol=1e-4)
    np.testing.assert_allclose(res.loss["f"], fix["loss"], rtol=1e-6)   # configural estimates agree to ~1e-6
    assert {g: v for g, v in res.noninvariant.items() if v} == {"c4": ["y3 ~1"]}
