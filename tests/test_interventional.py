"""efficacy.mediation.interventional_effects: interventional (in)direct effects by Monte Carlo g-computation
(Vansteelandt & Daniel 2017; issue #19).

Checks
------
(a) Linear mediator and outcome models without interaction: the interventional indirect effect through
    ``M_j`` is the path product ``a_j * b_j`` of the parallel-mediator regressions, the direct effect the
    outcome model's treatment coefficient, the dependence effect 0.
(b) Closed form with a treatment x mediator interaction (linear models), and R references
    (tests/reference/interventional.R -> interventional_jobs.json): the g-formula written in base R with
    the expectations over binary mediators enumerated and over a normal mediator integrated by Gauss-Hermite
    quadrature ("exact"), and a base-R Monte Carlo g-computation with 4,000 draws per unit ("mc").
(c) Planted truths on simulated data.

Monte Carlo tolerances. The draws are antithetic and shared between the treatment values (common random
numbers). In a linear mediator chain a draw under treatment differs from the same draw under control by
a constant (the treatment's total effect on that mediator), and the antithetic pair (z, -z) averages the
residual draws to exactly 0, so with a linear outcome model every effect is a deterministic function of the
fitted coefficients: the Monte Carlo error is 0 and (a) and (b-closed form) are checked to 1e-9 (floating
point). With binary mediators or a logit outcome the error is not 0; each point estimate is a mean of
``n_draws / 2`` independent antithetic-pair means, whose SD gives the reported ``mc_se``; a z-bound of 4.5
Monte Carlo SEs (two-sided probability 7e-6 per comparison) separates a correct estimate from an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import special

import efficacy as ef
from efficacy.errors import DataError
from efficacy.mediation import InterventionalResult, interventional_effects
from efficacy.mediation import interventional as iv_module

REF = Path(__file__).parent / "reference"
ROOT = Path(__file__).parents[1]
FIX = json.loads((REF / "interventional_jobs.json").read_text())
Z = 4.5


def _ols(X, v):
    return np.linalg.lstsq(X, v, rcond=None)[0]


def _linear_data(n=300, seed=7, dependent=True):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n).astype(float)
    c = rng.normal(size=n)
    m1 = 0.5 * t + 0.3 * c + rng.normal(size=n)
    m2 = 0.3 * t + (0.4 * m1 if dependent else 0.0) - 0.2 * c + rng.normal(size=n)
    y = 0.2 * t + 0.3 * m1 + 0.5 * m2 + 0.1 * c + 0.25 * t * m1 + rng.normal(size=n)
    return pd.DataFrame({"t": t, "m1": m1, "m2": m2, "y": y, "c": c})


@pytest.fixture(scope="module")
def jobs():
    d = pd.read_csv(ROOT / "data" / "raw" / "jobs_ii" / "data.csv")
    d["work"] = (d["work1"] == "psyemp").astype(float)
    d["dep_dich"] = (d["depress2"] > d["depress2"].median()).astype(float)
    return d


# ----------------------------------------------------------------------------- (a) path products
@pytest.mark.parametrize("dependent", [False, True])
def test_linear_without_interaction_equals_path_products(dependent):
    """IIE_j = a_j b_j, IDE = c', dependence = 0, total = c' + sum a_j b_j (Monte Carlo error exactly 0, see
    the module docstring), for independent mediators and for M1 -> M2 (then a_2 is the total effect of the
    treatment on M2, a_2 + d a_1, which the marginal regression M2 ~ t + c estimates exactly)."""
    d = _linear_data(dependent=dependent)
    res = interventional_effects(d, "t", ["m1", "m2"], "y", covariates=["c"], n_draws=20, n_boot=0, seed=1)
    n = len(d)
    X = np.column_stack([np.ones(n), d.t, d.c])
    a = [_ols(X, d[mj])[1] for mj in ("m1", "m2")]
    b = _ols(np.column_stack([np.ones(n), d.t, d.m1, d.m2, d.c]), d.y)
    assert_allclose([res.indirect["m1"], res.indirect["m2"]], [a[0] * b[2], a[1] * b[3]], rtol=1e-9, atol=1e-12)
    assert_allclose(res.direct, b[1], rtol=1e-9)
    assert res.dependence == 0.0
    assert_allclose(res.total, b[1] + a[0] * b[2] + a[1] * b[3], rtol=1e-9)
    assert_allclose(res.to_frame()["mc_se"], 0, atol=1e-12)
    # the same numbers as the product-of-coefficients parallel mediation
    f = ef.mediate(d, "t", ["m1", "m2"], "y", covariates=["c"], n_boot=0).to_frame()
    ind = f[f.effect == "indirect"].set_index("mediator")["estimate"]
    assert_allclose([res.indirect["m1"], res.indirect["m2"], res.indirect_total, res.direct, res.total],
                    [ind["m1"], ind["m2"], ind["total"], f.loc[f.effect == "direct", "estimate"].iloc[0],
                     f.loc[f.effect == "total", "estimate"].iloc[0]], rtol=1e-9)


# ----------------------------------------------------------------------------- (b) closed form with interaction
def test_linear_with_interaction_closed_form():
    """Linear chain, outcome y = c0 + c' t + sum b_j M_j + sum theta_j t M_j + g C: with a_j the treatment
    coefficient of the marginal regression M_j ~ t + C (= the chain's total effect on M_j) and Mbar_j(0) the
    mean over units of the fitted marginal mean at t = 0,
        IIE_j = a_j (b_j + theta_j),   IDE = c' + sum_j theta_j Mbar_j(0),   dependence = 0,
        total = IDE + sum_j IIE_j.
    (E[Y(1, M)] is linear in M, so only the mediators' means under each treatment matter; the antithetic draws
    make their Monte Carlo means exact.)"""
    d = _linear_data(dependent=True)
    res = interventional_effects(d, "t", ["m1", "m2"], "y", covariates=["c"], interaction=True, n_draws=10,
                                 n_boot=0, seed=2)
    n = len(d)
    X = np.column_stack([np.ones(n), d.t, d.c])
    X0 = np.column_stack([np.ones(n), np.zeros(n), d.c])
    coef_m = [_ols(X, d[mj]) for mj in ("m1", "m2")]
    a = [cm[1] for cm in coef_m]
    mbar0 = [np.mean(X0 @ cm) for cm in coef_m]
    by = _ols(np.column_stack([np.ones(n), d.t, d.m1, d.m2, d.t * d.m1, d.t * d.m2, d.c]), d.y)
    b, th = by[2:4], by[4:6]
    iie = [a[j] * (b[j] + th[j]) for j in range(2)]
    ide = by[1] + th[0] * mbar0[0] + th[1] * mbar0[1]
    assert_allclose([res.indirect["m1"], res.indirect["m2"]], iie, rtol=1e-9)
    assert_allclose(res.direct, ide, rtol=1e-9)
    assert_allclose(res.total, ide + sum(iie), rtol=1e-9)
    assert_allclose(res.indirect_total, sum(iie), rtol=1e-9)
    assert_allclose(res.outcome_coef.to_numpy(), by, rtol=1e-9)


KEYS = ["direct", "indirect_m1", "indirect_m2", "dependence", "indirect_total", "total"]


@pytest.mark.parametrize("case, kw", [
    ("mixed_logit_int", {"m": ["job_dich", "depress2"], "interaction": True}),
    ("binary_logit", {"m": ["job_dich", "dep_dich"]}),
])
def test_binary_mediators_logit_outcome_match_r_gformula(jobs, case, kw):
    """JOBS II, logit outcome (work), a logit mediator (job_dich) followed by a linear one (depress2, with
    treat x mediator interactions) or a second logit one (dep_dich). The fitted models equal R's glm/lm
    (1e-7); every effect is within 4.5 Monte Carlo SEs of R's exact g-formula (enumeration + quadrature, no
    simulation error) and of R's Monte Carlo g-computation (the SE of a difference of two independent
    simulations: sqrt(mc_se^2 + mc_se_R^2))."""
    ref = FIX[case]
    res = interventional_effects(jobs, "treat", y="work", covariates=["econ_hard", "sex", "age"],
                                 outcome_model="logit", n_draws=1000, n_boot=0, seed=11, **kw)
    assert res.n == ref["n"]
    assert res.mediator_models == (("logit", "linear") if case == "mixed_logit_int" else ("logit", "logit"))
    ry = pd.Series(ref["coef_y"])
    assert_allclose(res.outcome_coef[ry.index].to_numpy(), ry.to_numpy(), rtol=1e-7, atol=1e-9)
    rm1 = pd.Series(ref["coef_m1"])
    assert_allclose(res.mediator_coef[0][rm1.index].to_numpy(), rm1.to_numpy(), rtol=1e-7, atol=1e-9)
    tab = res.to_frame().set_index("effect")
    est, se = tab["estimate"].to_numpy(), tab["mc_se"].to_numpy()
    exact = np.array([ref["exact"][k] for k in KEYS])
    assert np.all(se > 0) and np.all(se < 5e-5)        # a real, small simulation error
    assert np.all(np.abs(est - exact) <= Z * se + 1e-9), np.c_[est, exact, (est - exact) / se]
    if "mc" in ref:
        mc, mc_se = np.array([ref["mc"][k] for k in KEYS]), np.array([ref["mc_se"][k] for k in KEYS])
        assert np.all(np.abs(est - mc) <= Z * np.sqrt(se**2 + mc_se**2))


# ----------------------------------------------------------------------------- (c) planted truth
def test_planted_truth_linear_chain_with_interaction():
    """Data generated with M1 = 0.5 t + 0.3 c + e1, M2 = 0.3 t + 0.4 M1 - 0.2 c + e2,
    Y = 0.2 t + 0.3 M1 + 0.5 M2 + 0.25 t M1 + 0.1 c + e3, c ~ N(0, 1): the true effects are
    IIE1 = 0.5 (0.3 + 0.25), IIE2 = (0.3 + 0.4 * 0.5) * 0.5, IDE = 0.2 + 0.25 E[M1 | t = 0] = 0.2.
    Each estimate must lie within 4 bootstrap SEs of the truth."""
    d = _linear_data(n=2000, seed=21, dependent=True)
    res = interventional_effects(d, "t", ["m1", "m2"], "y", covariates=["c"], interaction=True, n_draws=4,
                                 n_boot=300, seed=5)
    truth = {"direct": 0.2, "indirect[m1]": 0.5 * 0.55, "indirect[m2]": 0.5 * 0.5}
    truth["total"] = sum(truth.values())
    tab = res.to_frame().set_index("effect")
    for k, v in truth.items():
        r = tab.loc[k]
        assert abs(r.estimate - v) < 4 * r.se, (k, r.estimate, v, r.se)


def _truth_binary(C, g1, g2, gy, t1=1.0, t0=0.0):
    """Exact interventional effects for M1 ~ logit, M2 ~ logit(M1), Y ~ logit(t, M1, M2) at parameters g."""
    def q1(a):
        return special.expit(g1[0] + g1[1] * a + g1[2] * C)

    def q2(a, x1):
        return special.expit(g2[0] + g2[1] * a + g2[2] * x1 + g2[3] * C)

    def f(ay, x1, x2):
        return special.expit(gy[0] + gy[1] * ay + gy[2] * x1 + gy[3] * x2 + gy[4] * C)

    def pb(p, x):
        return p if x else 1 - p

    def E(ay, joint, s1, s2):
        tot = 0
        for x1 in (0, 1):
            for x2 in (0, 1):
                if joint:
                    pr = pb(q1(s1), x1) * pb(q2(s1, x1), x2)
                else:
                    pr = pb(q1(s1), x1) * (pb(q2(s2, 1), x2) * q1(s2) + pb(q2(s2, 0), x2) * (1 - q1(s2)))
                tot = tot + pr * f(ay, x1, x2)
        return tot.mean()
    y1j1, y1j0, y0j0 = E(1, True, 1, 1), E(1, True, 0, 0), E(0, True, 0, 0)
    y1i0, y1i1, y1i2 = E(1, False, 0, 0), E(1, False, 1, 0), E(1, False, 1, 1)
    return {"direct": y1j0 - y0j0, "indirect[m1]": y1i1 - y1i0, "indirect[m2]": y1i2 - y1i1,
            "dependence": (y1j1 - y1i2) - (y1j0 - y1i0), "total": y1j1 - y0j0}


def test_planted_truth_binary_mediators_logit_outcome():
    """Two binary mediators (M1 -> M2) and a binary outcome from logit models with known coefficients; the
    truth is the exact g-formula at the true coefficients over the sample's covariates. Estimates within 4
    bootstrap SEs; the dependence effect is nonzero here (a logit outcome and dependent mediators)."""
    rng = np.random.default_rng(3)
    n = 2000
    c = rng.normal(size=n)
    t = rng.integers(0, 2, n).astype(float)
    g1, g2, gy = (-0.3, 1.0, 0.4), (-0.5, 0.6, 1.2, -0.3), (-0.8, 0.5, 0.9, 1.1, 0.3)
    m1 = (rng.random(n) < special.expit(g1[0] + g1[1] * t + g1[2] * c)).astype(float)
    m2 = (rng.random(n) < special.expit(g2[0] + g2[1] * t + g2[2] * m1 + g2[3] * c)).astype(float)
    y = (rng.random(n) < special.expit(gy[0] + gy[1] * t + gy[2] * m1 + gy[3] * m2 + gy[4] * c)).astype(float)
    d = pd.DataFrame({"t": t, "m1": m1, "m2": m2, "y": y, "c": c})
    res = interventional_effects(d, "t", ["m1", "m2"], "y", covariates=["c"], outcome_model="logit",
                                 n_draws=10, n_boot=100, seed=9)
    assert res.mediator_models == ("logit", "logit")
    truth = _truth_binary(c, g1, g2, gy)
    assert abs(truth["dependence"]) > 1e-4
    tab = res.to_frame().set_index("effect")
    for k, v in truth.items():
        r = tab.loc[k]
        assert abs(r.estimate - v) < 4 * r.se, (k, r.estimate, v, r.se)
    # the point estimate at the fitted coefficients is the exact g-formula at them (within Monte Carlo error)
    fit = _truth_binary(c, res.mediator_coef[0].to_numpy(), res.mediator_coef[1].to_numpy(),
                        res.outcome_coef.to_numpy())
    for k, v in fit.items():
        assert abs(tab.loc[k, "estimate"] - v) <= Z * tab.loc[k, "mc_se"] + 1e-12, k


# ----------------------------------------------------------------------------- interface and vectorisation
def test_result_interface_and_reproducibility():
    d = _linear_data(n=200)
    res = interventional_effects(d, "t", ["m1", "m2"], "y", n_draws=10, n_boot=50, seed=4)
    assert isinstance(res, InterventionalResult)
    f = res.to_frame()
    assert list(f.columns) == ["effect", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "mc_se"]
    assert list(f["effect"]) == ["direct", "indirect[m1]", "indirect[m2]", "dependence", "indirect_total", "total"]
    assert isinstance(res.summary(), str) and "indirect[m2]" in res.summary()
    json.dumps(res.to_dict())
    main = f[f.effect != "dependence"]
    assert np.all((main.ci_low <= main.estimate) & (main.estimate <= main.ci_high))
    again = interventional_effects(d, "t", ["m1", "m2"], "y", n_draws=10, n_boot=50, seed=4)
    pd.testing.assert_frame_equal(f, again.to_frame())
    one = interventional_effects(d, "t", "m1", "y", n_draws=10, n_boot=0, seed=4)
    assert list(one.to_frame()["effect"]) == ["direct", "indirect[m1]", "indirect_total", "total"]
    assert ef.interventional_effects is interventional_effects


def test_bootstrap_blocks_do_not_change_the_result(monkeypatch):
    """The resamples are evaluated in blocks (memory); the block size must not change any number."""
    rng = np.random.default_rng(0)
    n = 150
    t = rng.integers(0, 2, n).astype(float)
    m = (rng.random(n) < special.expit(-0.2 + 0.8 * t)).astype(float)
    y = (rng.random(n) < special.expit(-0.3 + 0.4 * t + 0.7 * m)).astype(float)
    d = pd.DataFrame({"t": t, "m": m, "y": y})
    kw = {"outcome_model": "logit", "n_draws": 8, "n_boot": 40, "seed": 3}
    big = interventional_effects(d, "t", "m", "y", **kw)
    monkeypatch.setattr(iv_module, "_BLOCK_ELEMENTS", n * 8 * 3)      # 3 resamples per block
    small = interventional_effects(d, "t", "m", "y", **kw)
    assert_allclose(big.boot, small.boot, rtol=1e-12)


# ----------------------------------------------------------------------------- bad input
def test_binary_mediator_with_one_level_in_an_arm_is_named():
    d = _linear_data(n=100)
    d["mb"] = (d["m1"] > 0).astype(float)
    d.loc[d.t == 1, "mb"] = 1.0
    with pytest.raises(DataError, match=r"binary mediator 'mb' takes only the value 1 in the arm t = 1"):
        interventional_effects(d, "t", ["mb", "m2"], "y", n_draws=4, n_boot=0)


def test_collinear_mediators_are_named():
    d = _linear_data(n=100)
    d["m3"] = 2 * d["m1"] - d["t"] + 1
    with pytest.raises(DataError, match=r"collinear mediators: .*'m3'"):
        interventional_effects(d, "t", ["m1", "m3"], "y", n_draws=4, n_boot=0)


@pytest.mark.parametrize("kw, msg", [
    ({"mediator_models": "logit"}, "must be binary 0/1"),
    ({"outcome_model": "logit"}, "outcome column 'y' must be binary"),
    ({"n_draws": 5}, "even number"),
    ({"mediator_models": ["linear"]}, "1 entries for 2 mediators"),
    ({"mediator_models": {"zz": "logit"}}, "not mediators"),
    ({"outcome_model": "poisson"}, "unknown outcome model"),
])
def test_bad_arguments(kw, msg):
    d = _linear_data(n=60)
    with pytest.raises(DataError, match=msg):
        interventional_effects(d, "t", ["m1", "m2"], "y", n_boot=0, **{"n_draws": 4, **kw})


def test_bad_columns():
    d = _linear_data(n=60)
    with pytest.raises(DataError, match="no such column"):
        interventional_effects(d, "t", ["m1", "mm"], "y", n_draws=4, n_boot=0)
    with pytest.raises(DataError, match="must differ"):
        interventional_effects(d, "t", ["m1", "y"], "y", n_draws=4, n_boot=0)
    d["k"] = 1.0
    with pytest.raises(DataError, match="constant"):
        interventional_effects(d, "t", ["m1", "k"], "y", n_draws=4, n_boot=0)
