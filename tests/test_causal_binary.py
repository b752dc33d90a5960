"""Causal mediation with a binary mediator: causal_mediation(mediator_model="logit" | "probit") (issue #19).

Reference: tests/reference/causal_mediate_binary.R -> causal_mediate_binary_jobs.json, the algorithm of R
``mediation::mediate`` for a ``glm`` mediator written out in R (the package is not installable here; see
causal_mediate_sim.R for the linear-mediator counterpart held against published tables), JOBS II with the
binary mediator job_dich: a probit mediator with a linear outcome (quasi-Bayesian, 200,000 draws; bootstrap,
10,000 resamples) and a logit mediator with a probit outcome and a treatment x mediator interaction
(quasi-Bayesian, 100,000 draws). Monte Carlo tolerances: 4 standard errors of the difference of two
simulation estimates (derivation in each test).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import DataError
from efficacy.mediation.causal import causal_mediation

REF = Path(__file__).parent / "reference"
FIX = json.loads((REF / "causal_mediate_binary_jobs.json").read_text())
COVS = ["econ_hard", "sex", "age"]
DENS = np.exp(-0.5 * 1.959964 ** 2) / np.sqrt(2 * np.pi)  # normal density at the 2.5% / 97.5% quantile


@pytest.fixture(scope="module")
def jobs():
    p = Path("/work/shared/datasets/jobs_ii.csv")
    d = pd.read_csv(p if p.exists() else Path(__file__).parents[1] / "data/raw/jobs_ii/data.csv")
    return d.assign(work=(d["work1"] == "psyemp").astype(float))


CONFIGS = {"probit_linear": dict(outcome="depress2", mediator_model="probit"),
           "logit_probit_int": dict(outcome="work", mediator_model="logit", outcome_model="probit", interaction=True)}


def _fit(jobs, config, **kw):
    c = dict(CONFIGS[config])
    return causal_mediation(jobs, "treat", "job_dich", c.pop("outcome"), covariates=COVS, **c, **kw)


def _r_name(name, names):
    """Our coefficient name -> R's (R orders an interaction by the variables' order in the formula)."""
    return name if name in names or ":" not in name else ":".join(reversed(name.split(":")))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_fits_match_r_glm(jobs, config):
    """Mediator glm(binomial(link)) and outcome coefficients to 1e-7, vcov to 1e-6 (R's vcov uses the IRLS
    weights of the last-but-one iterate); sigma is NaN for a binary mediator."""
    res = _fit(jobs, config, n_sims=10, seed=1)
    for ours_c, ours_v, ref in [(res.mediator_coef, res.mediator_vcov, FIX["configs"][config]["fits"]["mediator"]),
                                (res.outcome_coef, res.outcome_vcov, FIX["configs"][config]["fits"]["outcome"])]:
        order = [ref["names"].index(_r_name(c, ref["names"])) for c in ours_c.index]
        assert_allclose(ours_c.to_numpy(), np.asarray(ref["coef"])[order], rtol=1e-7, atol=1e-10)
        assert_allclose(ours_v.to_numpy(), np.asarray(ref["vcov"])[np.ix_(order, order)], rtol=1e-6, atol=1e-10)
    assert np.isnan(res.sigma) and res.mediator_model == CONFIGS[config]["mediator_model"]


def _check(res, ref, n_ours, n_ref, kind):
    """Two-sided Monte Carlo comparison (4 SEs of the difference): estimate = a mean of draws
    (sd * sqrt(1/n_ours + 1/n_R)) or, bootstrap, the original-data value with one Bernoulli draw of the
    potential mediators (4 * point_sd, its SD over that draw, from R); 2.5%/97.5% quantiles
    sd * sqrt(p (1 - p)) / phi(z_p) * sqrt(1/n_ours + 1/n_R) (normal approximation of the draws); p values
    2 * min(share) with SE 2 sqrt(q (1 - q) / n) per simulation, q = p / 2."""
    k = np.sqrt(1 / n_ours + 1 / n_ref)
    for e, r in ref.items():
        ours = res.table.loc[e]
        tol_est = 4 * (r["point_sd"] if kind == "bootstrap" else r["sd_draws"] * k)
        assert abs(ours.estimate - r["estimate"]) <= tol_est + 1e-12, (e, ours.estimate, r["estimate"], tol_est)
        tol_q = 4 * r["sd_draws"] * np.sqrt(0.025 * 0.975) / DENS * k
        assert abs(ours.ci_low - r["ci_low"]) < tol_q, (e, "low", ours.ci_low, r["ci_low"], tol_q)
        assert abs(ours.ci_high - r["ci_high"]) < tol_q, (e, "high", ours.ci_high, r["ci_high"], tol_q)
        q = max(r["p_value"] / 2, 1 / n_ref)
        tol_p = 4 * 2 * np.sqrt(q * (1 - q)) * k
        assert abs(ours.pvalue - r["p_value"]) < tol_p, (e, "p", ours.pvalue, r["p_value"], tol_p)


def test_probit_mediator_quasi_bayesian_matches_r(jobs):
    """ACME (-0.025 here) tolerance 4 * 0.014 * sqrt(1/20000 + 1/200000) = 4.1e-4; a 10% error in the
    mediator effect or an ACME from M(1) - M(0) probabilities drawn once per unit would fail."""
    ref = FIX["configs"]["probit_linear"]
    res = _fit(jobs, "probit_linear", n_sims=20000, seed=5)
    _check(res, ref["quasi_bayesian"], 20000, ref["sims_quasi_bayesian"], "quasi_bayesian")
    # a linear outcome without interaction: ACME(treated) = ACME(control) draw by draw, as in R
    assert_allclose(res.draws["acme_treated"], res.draws["acme_control"], rtol=1e-12, atol=1e-15)


def test_probit_mediator_bootstrap_matches_r(jobs):
    ref = FIX["configs"]["probit_linear"]
    res = _fit(jobs, "probit_linear", n_sims=1500, seed=6, inference="bootstrap")
    assert res.n_failed == 0
    _check(res, ref["bootstrap"], 1500, ref["sims_bootstrap"], "bootstrap")


def test_logit_mediator_probit_outcome_interaction_matches_r(jobs):
    ref = FIX["configs"]["logit_probit_int"]
    res = _fit(jobs, "logit_probit_int", n_sims=12000, seed=7)
    _check(res, ref["quasi_bayesian"], 12000, ref["sims_quasi_bayesian"], "quasi_bayesian")
    # with the interaction the two ACMEs differ (R: 0.0072 vs 0.0027)
    assert res.table.loc["acme_control", "estimate"] > res.table.loc["acme_treated", "estimate"]


def test_deterministic_and_reported(jobs):
    a = _fit(jobs, "probit_linear", n_sims=300, seed=9).to_frame()
    b = _fit(jobs, "probit_linear", n_sims=300, seed=9)
    pd.testing.assert_frame_equal(a, b.to_frame())
    assert b.to_frame().attrs["mediator_model"] == "probit"
    assert "probit mediator model" in repr(b)


# ------------------------------------------------------------------------------------------- bad input
def test_binary_mediator_with_one_level_in_an_arm(jobs):
    d = jobs.copy()
    d.loc[d["treat"] == 1, "job_dich"] = 1
    with pytest.raises(DataError, match="takes only the value 1 in the arm treat = 1") as e:
        causal_mediation(d, "treat", "job_dich", "depress2", covariates=COVS, mediator_model="logit", n_sims=10)
    assert "column 'job_dich'" in str(e.value)


def test_bad_binary_mediator_input(jobs):
    with pytest.raises(DataError, match="must be binary 0/1 for a probit mediator model"):
        causal_mediation(jobs, "treat", "job_seek", "depress2", mediator_model="probit", n_sims=10)
    with pytest.raises(DataError, match="mediator_model must be one of"):
        causal_mediation(jobs, "treat", "job_dich", "depress2", mediator_model="poisson", n_sims=10)


def test_separated_mediator_with_continuous_treatment_is_na_with_reason():
    """A continuous treatment that separates the binary mediator (m = 1 exactly when t > 0): no arms to check,
    the IRLS fit runs off to fitted probabilities 0/1 and the result is NA with the reason."""
    rng = np.random.default_rng(2)
    t = rng.normal(size=200)
    d = pd.DataFrame({"t": t, "m": (t > 0).astype(float), "y": t + rng.normal(size=200)})
    res = causal_mediation(d, "t", "m", "y", mediator_model="logit", n_sims=50, seed=1)
    assert not res.converged and "separation in the mediator model" in res.reason
    assert res.table["estimate"].isna().all()
