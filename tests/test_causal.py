"""efficacy.causal.causal_mediation against R's model fits and statsmodels' Mediation.

R's ``mediation`` package is not installable here. The references are:

- ``tests/reference/causal_framing_fits.json`` (``tests/reference/causal.R``): the R ``lm``/``glm``
  fits that ``mediation::mediate`` starts from on the framing data (coefficients, ``vcov``,
  ``sigma``). Our point fits must equal them; the quasi-Bayesian draws come from exactly these.
- ``tests/reference/causal_statsmodels_framing.json`` (``tests/reference/causal_statsmodels.py``):
  statsmodels' ``Mediation`` (which its own test suite checks against R ``mediation``) run with
  thousands of simulations; our estimates must agree within Monte Carlo error (both sides'
  simulation SDs are recorded).
- The closed form: with a linear mediator and outcome and no interaction, ACME = a * b and
  ADE = c' (Imai, Keele & Tingley 2010), so the simulated estimates converge to the OLS products.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.causal import EFFECTS, causal_mediation
from efficacy.errors import EfficacyError

REF = Path(__file__).parent / "reference"
COVS = ["age", "educ", "gender", "income"]


@pytest.fixture(scope="module")
def framing():
    return pd.read_csv(REF / "causal_framing.csv")


@pytest.fixture(scope="module")
def fits():
    return json.loads((REF / "causal_framing_fits.json").read_text())


@pytest.fixture(scope="module")
def sm_ref():
    return json.loads((REF / "causal_statsmodels_framing.json").read_text())["configs"]


def _r_name(name):
    return {"(Intercept)": "const", "emo:treat": "treat:emo", "treat:emo": "treat:emo"}.get(name, name)


SETUPS = {
    "probit": dict(outcome="cong_mesg", outcome_model="probit"),
    "logit": dict(outcome="cong_mesg", outcome_model="logit"),
    "probit_interaction": dict(outcome="cong_mesg", outcome_model="probit", interaction=True),
    "linear": dict(outcome="immigr", outcome_model="linear"),
}


def _norm(term):
    """R and efficacy spell factor dummies and interactions differently: educ[x] vs educx."""
    term = term.replace("[", "").replace("]", "")
    return ":".join(sorted(term.split(":"))) if ":" in term else term


@pytest.mark.parametrize("name", list(SETUPS))
def test_point_fits_equal_r(framing, fits, name):
    """The mediator and outcome fits (coefficients, vcov, sigma) are R's lm()/glm()."""
    s = SETUPS[name]
    r = causal_mediation(framing, "treat", "emo", s["outcome"], covariates=COVS,
                         outcome_model=s["outcome_model"], interaction=s.get("interaction", False),
                         n_sims=50, seed=1)
    for ours_coef, ours_vcov, ref, tol in (
            (r.mediator_coef, r.mediator_vcov, fits["mediator"], dict(rtol=1e-6)),
            # R's glm stops at a relative deviance change of 1e-8, so its GLM estimates carry
            # ~1e-6 absolute error; we iterate to 1e-10
            (r.outcome_coef, r.outcome_vcov, fits["outcome"][name],
             dict(rtol=1e-6) if name == "linear" else dict(rtol=1e-5, atol=2e-6))):
        ours_names = [_norm(t) for t in ours_coef.index]
        ref_names = [_norm(t) for t in ref["names"]]
        assert sorted(ours_names) == sorted(ref_names)
        perm = [ref_names.index(t) for t in ours_names]
        ref_coef = np.array([ref["coef"][ref["names"][i]] for i in perm])
        assert_allclose(ours_coef.to_numpy(), ref_coef, **tol)
        ref_v = np.array(ref["vcov"])[np.ix_(perm, perm)]
        # the information matrix is evaluated at each side's final estimate (see above)
        assert_allclose(ours_vcov.to_numpy(), ref_v, **(dict(rtol=1e-6) if name == "linear" or ref is
                                                         fits["mediator"] else dict(rtol=2e-3, atol=1e-8)))
    assert_allclose(r.sigma, fits["mediator"]["sigma"], rtol=1e-8)


@pytest.mark.parametrize("name", ["probit", "logit", "probit_interaction", "linear"])
def test_quasi_bayesian_matches_statsmodels_within_mc_error(framing, sm_ref, name):
    s = SETUPS[name]
    ref = sm_ref[name]
    n_sims = 4000
    r = causal_mediation(framing, "treat", "emo", s["outcome"], covariates=COVS,
                         outcome_model=s["outcome_model"], interaction=s.get("interaction", False),
                         n_sims=n_sims, seed=20261128)
    t = r.to_frame().set_index("effect")
    for eff in ("acme_control", "acme_treated", "acme_average", "ade_control", "ade_treated", "ade_average",
                "total"):
        e = ref["effects"][eff]
        mcse = e["sd_draws"] * np.sqrt(1 / n_sims + 1 / ref["n_rep"])
        assert abs(t.loc[eff, "estimate"] - e["estimate"]) < 4 * mcse, (eff, t.loc[eff, "estimate"], e)
    # Intervals are not compared with statsmodels: it draws independent mediator errors for M(1)
    # and M(0) (R's mediate and we share them), which widens its intervals; see the next test.


def test_linear_quasi_bayesian_interval_is_r_algorithm(framing, fits):
    """R's mediate for lm/lm without interaction: ACME draws are a* x b* with (a*, b*) drawn from
    the two fits' normal approximations, so the interval is the quantiles of that product; computed
    here from R's own coef() and vcov() with many draws."""
    med, out = fits["mediator"], fits["outcome"]["linear"]
    ia, ib = med["names"].index("treat"), out["names"].index("emo")
    rng = np.random.default_rng(5)
    a = rng.normal(med["coef"]["treat"], np.sqrt(np.array(med["vcov"])[ia, ia]), 400_000)
    b = rng.normal(out["coef"]["emo"], np.sqrt(np.array(out["vcov"])[ib, ib]), 400_000)
    lo, hi = np.quantile(a * b, [0.025, 0.975])
    r = causal_mediation(framing, "treat", "emo", "immigr", covariates=COVS, n_sims=20000, seed=9)
    t = r.to_frame().set_index("effect")
    sd = (a * b).std()
    assert abs(t.loc["acme_average", "ci_low"] - lo) < 0.05 * sd
    assert abs(t.loc["acme_average", "ci_high"] - hi) < 0.05 * sd


def test_bootstrap_matches_statsmodels_within_mc_error(framing, sm_ref):
    ref = sm_ref["probit_bootstrap"]
    r = causal_mediation(framing, "treat", "emo", "cong_mesg", covariates=COVS, outcome_model="probit",
                         inference="bootstrap", n_sims=1000, seed=7)
    t = r.to_frame().set_index("effect")
    assert r.n_failed == 0
    for eff in ("acme_average", "ade_average", "total"):
        e = ref["effects"][eff]
        mcse = e["sd_draws"] * np.sqrt(2 / ref["n_rep"])
        # statsmodels reports the mean of resampled effects, R (and we) the original-data estimate:
        # they differ by the bootstrap bias, small against the draws' SD
        assert abs(t.loc[eff, "estimate"] - e["estimate"]) < 4 * mcse + 0.1 * e["sd_draws"], eff
        assert abs(t.loc[eff, "ci_low"] - e["ci_low"]) < 10 * mcse, eff
        assert abs(t.loc[eff, "ci_high"] - e["ci_high"]) < 10 * mcse, eff


def test_linear_no_interaction_converges_to_product_of_paths(framing, fits):
    """ACME = a * b and ADE = c' for linear models without interaction (closed form)."""
    lp = fits["linear_product"]
    r = causal_mediation(framing, "treat", "emo", "immigr", covariates=COVS, n_sims=20000, seed=3)
    t = r.to_frame().set_index("effect")
    d = r.draws["acme_average"]
    assert abs(t.loc["acme_average", "estimate"] - lp["a"] * lp["b"]) < 4 * d.std() / np.sqrt(d.size)
    d = r.draws["ade_average"]
    assert abs(t.loc["ade_average", "estimate"] - lp["c_prime"]) < 4 * d.std() / np.sqrt(d.size)
    # without interaction the control and treated effects coincide draw by draw
    assert_allclose(r.draws["acme_control"], r.draws["acme_treated"], rtol=1e-12)


def test_interaction_separates_control_and_treated(framing):
    r = causal_mediation(framing, "treat", "emo", "immigr", covariates=COVS, interaction=True, n_sims=500,
                         seed=3)
    t = r.to_frame().set_index("effect")
    assert t.loc["acme_control", "estimate"] != t.loc["acme_treated", "estimate"]
    # the average is the mean of the two, draw by draw
    assert_allclose(r.draws["acme_average"], (r.draws["acme_control"] + r.draws["acme_treated"]) / 2)


def test_same_seed_same_table(framing):
    kw = dict(covariates=COVS, outcome_model="logit", n_sims=300, seed=11)
    a = causal_mediation(framing, "treat", "emo", "cong_mesg", **kw).to_frame()
    b = causal_mediation(framing, "treat", "emo", "cong_mesg", **kw).to_frame()
    pd.testing.assert_frame_equal(a, b)
    assert list(a["effect"]) == list(EFFECTS)


# --------------------------------------------------------------------------- bad input


def _toy(n=60, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n).astype(float)
    m = 0.5 * t + rng.normal(size=n)
    y = 0.4 * m + rng.normal(size=n)
    return pd.DataFrame({"t": t, "m": m, "y": y, "yb": (y > 0).astype(float), "c": rng.normal(size=n)})


@pytest.mark.parametrize("mutate, kwargs, text", [
    (lambda d: d.assign(t=1.0), {}, "constant"),
    (lambda d: d.assign(y=d["m"]), {}, "identical"),
    (lambda d: d.assign(c2=2 * d["c"]), {"covariates": ["c", "c2"]}, "collinear"),
    (lambda d: d.iloc[[0, 1, 2, 3]].assign(t=[0.0, 1.0, 0.0, 1.0]), {}, "too few complete cases"),
    (lambda d: d, {"outcome_model": "logit"}, "binary"),
    (lambda d: d, {"covariates": ["nope"]}, "not found"),
])
def test_bad_input_is_a_clear_error(mutate, kwargs, text):
    d = mutate(_toy())
    with pytest.raises(EfficacyError, match=text):
        causal_mediation(d, "t", "m", "y", n_sims=50, seed=1, **kwargs)


def test_perfect_separation_gives_na_with_reason():
    d = _toy(seed=2)
    d["yb"] = (d["m"] > d["m"].median()).astype(float)  # the mediator separates the outcome perfectly
    r = causal_mediation(d, "t", "m", "yb", outcome_model="logit", n_sims=50, seed=1)
    assert not r.converged
    assert "separation" in r.reason
    assert r.to_frame()["estimate"].isna().all()
