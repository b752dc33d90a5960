"""Mediation with missing data: FIML and multiple imputation (efficacy.mediation.missing; issue #19).

Reference (tests/reference/mediation_missing.R -> mediation_missing_jobs.json, data mediation_missing_jobs.csv):
JOBS II with values deleted at random (MAR) and not at random (MNAR) by a seeded R script, fitted by
lavaan 0.6.14 ``sem(missing = "ml", fixed.x = TRUE)`` with ':=' effects, and lavaan's FIML bootstrap.

Two lavaan numbers per estimate: its FIML optimum and the regressions implied by its EM saturated moments
at a tight tolerance (``em_estimates``). The models are saturated, so both are the ML estimate; lavaan's
optimiser stops on nlminb's absolute function tolerance once the saturated discrepancy is ~0, which leaves
its estimates ~1e-5 off (up to 2e-5 here; its log-likelihood is lower than ours, checked below), while its
EM moments give them to ~1e-9. Hence: estimates vs ``em_estimates`` at 1e-7 absolute, vs the optimum at
1/1000 of a standard error; SEs of the paths (observed information, insensitive to that error) at 1e-5
relative; SEs of the defined effects (delta method: they move with the point, e.g. the proportion mediated
by 2e-4 here) at 1e-5 relative when our formula and covariance are evaluated at lavaan's point, and our
reported ones at 1e-3.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import DataError
from efficacy.mediation import mediate
from efficacy.mediation.missing import (
    MissingMediationResult,
    em_paths,
    missing_mediation,
)
from efficacy.mediation.serial import effect_defs, gradients, serial_mediation

REF = Path(__file__).parent / "reference"
DATA = pd.read_csv(REF / "mediation_missing_jobs.csv")
FIX = json.loads((REF / "mediation_missing_jobs.json").read_text())
COVS = ["econ_hard", "sex", "age"]
MODELS = {  # fixture key -> (mediators, outcome, covariates, structure)
    "single_mar": ("job_seek_mar", "depress2_mar", COVS, "parallel"),
    "single_mnar": ("job_seek_mnar", "depress2_mnar", COVS, "parallel"),
    "parallel_mar": (["job_seek_mar", "econ_hard2_mar"], "depress2_mar", ["sex", "age"], "parallel"),
    "serial_mar": (["job_seek_mar", "depress1_mar"], "depress2_mar", ["sex", "age"], "serial"),
}


def _fit(key, **kw):
    m, y, covs, structure = MODELS[key]
    if structure == "serial":
        return serial_mediation(DATA, "treat", m, y, covariates=covs, missing="fiml", **kw)
    return mediate(DATA, "treat", m, y, covariates=covs, missing="fiml", **kw)


SERIAL_ALIAS = {"a1*b1": "ind1", "a1*d21*b2": "ind2", "a2*b2": "ind3", "a1*b1+a1*d21*b2+a2*b2": "ind",
                "cp+a1*b1+a1*d21*b2+a2*b2": "total", "a1*b1-a1*d21*b2": "con12", "a1*b1-a2*b2": "con13",
                "a1*d21*b2-a2*b2": "con23"}


def _lavaan_label(row, key):
    """lavaan label of one of our rows (a table row or an effect definition)."""
    m, _, _, structure = MODELS[key]
    ms = [m] if isinstance(m, str) else m
    if structure == "serial":
        return SERIAL_ALIAS.get(row.label, row.label)
    j = ms.index(row.mediator) + 1 if row.mediator in ms else None
    return {"a": f"a{j}", "b": f"b{j}", "direct": "cp", "total": "total", "prop_mediated": "pm",
            "indirect": (f"ind{j}" if len(ms) > 1 else "ind") if j else "ind"}[row.effect]


@pytest.mark.parametrize("key", list(MODELS))
def test_fiml_matches_lavaan(key):
    """Paths and every ':=' effect (indirect, total, contrasts, proportion mediated): estimates and SEs as
    lavaan missing = "ml" (tolerances in the module docstring); cases used as lavaan's nobs."""
    ref = FIX["fits"][key]
    res = _fit(key, n_boot=0)
    rows = {_lavaan_label(r, key): r for r in res.to_frame().itertuples()}
    # our delta-method SEs evaluated at lavaan's point estimates (the SE of a product or ratio moves with the
    # point, and lavaan's point is off by up to 2e-5, see the module docstring)
    m, _, _, structure = MODELS[key]
    labels, _, defs = effect_defs([m] if isinstance(m, str) else m, structure)
    t_lav = np.array([ref["effects"][lab]["est"] for lab in labels])
    G = gradients(defs, t_lav)
    V = res.vcov.loc[labels, labels].to_numpy()
    se_at_lavaan = {_lavaan_label(r, key): np.sqrt(g @ V @ g) for r, g in zip(defs, G)}
    paths = res.paths
    for lab, r in ref["effects"].items():
        ours = rows[lab]
        em = ref["em_estimates"][lab]
        assert abs(ours.estimate - em) < 1e-7 + 1e-6 * abs(em), (key, lab, ours.estimate, em)
        assert abs(ours.estimate - r["est"]) < 1e-3 * r["se"], (key, lab, ours.estimate, r["est"])
        assert_allclose(se_at_lavaan[lab], r["se"], rtol=1e-5, err_msg=f"{key} {lab}")
        assert_allclose(ours.se, r["se"], rtol=1e-3, err_msg=f"{key} {lab}")
        assert_allclose(ours.pvalue, r["pvalue"], rtol=1e-3, atol=1e-9, err_msg=f"{key} {lab}")
        if lab in paths.index:
            assert_allclose(ours.se, r["se"], rtol=1e-5, err_msg=f"{key} {lab}")
            assert_allclose(paths[lab], ours.estimate, rtol=1e-12)
    assert res.n == ref["nobs"] == FIX["n_rows"] - FIX["n_age_missing"]
    assert res.missing == "fiml" and res.converged and res.n_rows == FIX["n_rows"]
    if isinstance(res, MissingMediationResult):
        assert res.n_dropped == FIX["n_age_missing"]
        assert res.n_complete == int(DATA[["treat", *([MODELS[key][0]] if isinstance(MODELS[key][0], str)
                                                       else MODELS[key][0]), MODELS[key][1], *MODELS[key][2]]]
                                     .notna().all(axis=1).sum())
        # our optimum is at least as good as lavaan's (its stopping rule, see the docstring)
        assert res.sem.fit["loglik"] >= ref["loglik"] - 1e-9
        assert res.sem.fit["loglik"] - ref["loglik"] < 1e-6
    assert any("were dropped (fixed.x" in w for w in res.warnings)


def test_fiml_with_complete_data_is_the_listwise_fit():
    """Without missing values FIML is ML on complete data: the estimates are the OLS paths, and the SEs
    (observed information) equal the listwise delta-method SEs (expected information; the two coincide for
    the regression coefficients of a normal linear model at the MLE); the engine's numerical Hessian is
    good to ~1e-7 relative."""
    d = DATA.dropna()
    full = mediate(d, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=0).to_frame()
    fiml = mediate(d, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=0, missing="fiml")
    t = fiml.to_frame()
    assert fiml.n == fiml.n_complete == len(d) and fiml.n_dropped == 0
    assert_allclose(t["estimate"], full["estimate"], rtol=1e-7, atol=1e-10)
    assert_allclose(t["se"], full["se"], rtol=1e-6)


def test_batched_em_bootstrap_equals_fiml_refits():
    """The bootstrap's estimator (batched EM of the saturated model, then regressions) equals the engine's
    FIML fit on the original data and on resampled data (three resamples refitted one by one here), to 1e-6."""
    m, y, covs, _ = MODELS["parallel_mar"]
    fit = mediate(DATA, "treat", m, y, covariates=covs, n_boot=0, missing="fiml")
    em = em_paths(DATA, "treat", m, y, covariates=covs)
    assert_allclose(em[fit.paths.index], fit.paths, rtol=1e-6, atol=1e-8)
    rng = np.random.default_rng(3)
    for _ in range(3):
        d = DATA.iloc[rng.integers(0, len(DATA), len(DATA))].reset_index(drop=True)
        f = mediate(d, "treat", m, y, covariates=covs, n_boot=0, missing="fiml")
        assert_allclose(em_paths(d, "treat", m, y, covariates=covs)[f.paths.index], f.paths, rtol=1e-6, atol=1e-8)


def test_fiml_bootstrap_matches_lavaan_within_mc_error():
    """SE and percentile limits of the indirect and total effects vs lavaan se = "bootstrap" (1000 FIML refits).

    Ours: 2000 resamples (batched EM). Limits: 4 Monte Carlo SEs of the difference of two quantile estimates,
    sqrt(p (1 - p)) / f(q) * sqrt(1/2000 + 1/1000), f = density of lavaan's draws at the limit (fixture).
    SD: relative SE of an SD of B draws ~ sqrt((kurtosis - 1) / (4 B)); with kurtosis <= 4 the difference has
    relative SE <= sqrt(3/4 * (1/2000 + 1/1000)) = 0.034, so 0.13 is ~4 SEs. The same call with BCa is
    deterministic by seed and has finite limits around the estimate."""
    n_ours = 2000
    res = _fit("single_mar", n_boot=n_ours, ci_method="percentile", seed=21)
    lav = FIX["lavaan_boot"]
    k = np.sqrt(1 / n_ours + 1 / lav["R"])
    t = res.to_frame().set_index("effect")
    assert res.n_boot_valid == n_ours and (t["ci_method"] == "percentile").all()
    for eff, lab in [("indirect", "ind"), ("total", "total")]:
        r, row = lav["effects"][lab], t.loc[eff]
        assert_allclose(row["boot_se"], r["se"], rtol=0.13, err_msg=eff)
        for lim, f, p in zip(("ci_low", "ci_high"), r["density_at_ci"], (0.025, 0.975)):
            tol = 4 * np.sqrt(p * (1 - p)) / f * k
            assert abs(row[lim] - r[lim]) < tol, (eff, lim, row[lim], r[lim], tol)
    bca = _fit("single_mar", n_boot=300, ci_method="bca", seed=2)
    again = _fit("single_mar", n_boot=300, ci_method="bca", seed=2)
    pd.testing.assert_frame_equal(bca.to_frame(), again.to_frame())
    ind = bca.to_frame().set_index("effect").loc["indirect"]
    assert ind["ci_low"] < ind["estimate"] < ind["ci_high"]


def test_fiml_serial_and_montecarlo_through_mediate():
    """mediate(m="a -> b", missing="fiml") is serial_mediation(missing="fiml"); Monte Carlo draws of the FIML
    paths: for a single path the interval is the normal one up to MC error (0.03 SE > 4 MC SEs at 20000)."""
    m, y, covs, _ = MODELS["serial_mar"]
    a = mediate(DATA, "treat", " -> ".join(m), y, covariates=covs, n_boot=0, missing="fiml")
    b = serial_mediation(DATA, "treat", m, y, covariates=covs, n_boot=0, missing="fiml")
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    mc = _fit("single_mar", n_boot=20000, ci_method="montecarlo", seed=4).to_frame().set_index("effect")
    assert (mc["ci_method"] == "montecarlo").all()
    r = mc.loc["a"]
    assert_allclose(r["ci_low"], r["estimate"] - 1.959964 * r["se"], atol=0.03 * r["se"])
    assert_allclose(r["boot_se"], r["se"], rtol=0.03)


# ------------------------------------------------------------------------------------------ imputation
def test_mi_with_complete_data_is_the_complete_data_fit():
    """No missing values: every imputation is the data, the between-imputation variance is 0, Rubin's pooled
    estimate and SE are the complete-data ones, df the Barnard-Rubin observed-data df and fmi its
    r = 0 value."""
    d = DATA.dropna()
    full = mediate(d, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=0).to_frame()
    mi = mediate(d, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=0, missing="mi", seed=1)
    t = mi.to_frame()
    assert_allclose(t["estimate"], full["estimate"], rtol=1e-10)
    assert_allclose(t["se"], full["se"], rtol=1e-10)
    # Barnard & Rubin (1999) with B = 0: the observed-data df (nu + 1) / (nu + 3) nu, nu = n - 6 (outcome
    # equation: intercept, m, x, 3 covariates); mice floors lambda at 1e-4, hence rtol 2e-4
    nu = len(d) - 6
    assert_allclose(t["df"], (nu + 1) / (nu + 3) * nu, rtol=2e-4)
    assert_allclose(t["fmi"], 2 / (t["df"] + 3), rtol=1e-10)  # fmi = (r + 2 / (df + 3)) / (r + 1), r = 0
    assert mi.n == len(d) and mi.ci_method == "rubin"


def test_mi_agrees_with_fiml_on_mar_data():
    """Under MAR both are consistent for the same estimand; on the same cases (rows with an observed
    covariate) the pooled estimate of 100 imputations lies within 4 Monte Carlo SEs (sqrt(B / m), B = the
    between-imputation variance) plus 0.1 SE (the normal-model FIML vs PMM-imputation difference, O(1/n))
    of the FIML estimate, and their SEs agree to 10%. Also: chained equations converge (R-hat < 1.1),
    every row is used, and p values come from t with the Barnard-Rubin df."""
    d = DATA.dropna(subset=["age"])
    fiml = mediate(d, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=0, missing="fiml")
    mi = missing_mediation(d, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=0, missing="mi",
                           seed=7, n_imputations=100)
    tf, tm = fiml.to_frame().set_index("effect"), mi.to_frame().set_index("effect")
    assert mi.converged and all(v < 1.1 for v in mi.rhat.values()) and mi.n == len(d)
    for eff in ["a", "b", "direct", "total", "indirect"]:
        r = tm.loc[eff]
        bvar = r["fmi"] * r["se"] ** 2  # fmi ~ (1 + 1/m) B / T, so this is >= B up to the 2 / (df + 3) term
        tol = 4 * np.sqrt(bvar / 100) + 0.1 * tf.loc[eff, "se"]
        assert abs(r["estimate"] - tf.loc[eff, "estimate"]) < tol, (eff, r["estimate"], tf.loc[eff, "estimate"], tol)
        assert_allclose(r["se"], tf.loc[eff, "se"], rtol=0.10, err_msg=eff)
    from scipy import stats
    r = tm.loc["b"]
    assert_allclose(r["pvalue"], 2 * stats.t.sf(abs(r["estimate"] / r["se"]), r["df"]), rtol=1e-12)
    assert 0 < r["fmi"] < 1 and r["df"] < len(d)


def test_mi_rubin_rules_and_determinism():
    """Rubin's rules from the per-imputation fits: T = W + (1 + 1/m) B; seed-determined; with Monte Carlo
    intervals the draws come from the pooled paths; serial chains work with MI."""
    res = missing_mediation(DATA, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=0,
                            missing="mi", seed=3, n_imputations=10, imputation="norm")
    again = missing_mediation(DATA, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=0,
                              missing="mi", seed=3, n_imputations=10, imputation="norm")
    pd.testing.assert_frame_equal(res.to_frame(), again.to_frame())
    t = res.to_frame().set_index("effect")
    # the path SEs in the table are the square roots of the diagonal of the total covariance
    assert_allclose(t.loc["a", "se"] ** 2, res.vcov.loc["a1", "a1"], rtol=1e-10)
    assert_allclose(t.loc["b", "se"] ** 2, res.vcov.loc["b1", "b1"], rtol=1e-10)
    mc = missing_mediation(DATA, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=5000,
                           missing="mi", seed=3, n_imputations=10, imputation="norm", ci_method="montecarlo")
    assert mc.ci_method == "montecarlo" and mc.n_boot_valid == 5000
    assert_allclose(mc.to_frame()["estimate"], t["estimate"].to_numpy(), rtol=1e-12)
    ser = serial_mediation(DATA, "treat", ["job_seek_mar", "depress1_mar"], "depress2_mar", covariates=["sex", "age"],
                           missing="mi", seed=1, n_boot=0, n_imputations=10)
    assert ser.converged and ser.ci_method == "rubin" and {"df", "fmi"} <= set(ser.to_frame().columns)
    assert ser.n == len(DATA) and ser.n_imputations == 10
    boot = mediate(DATA, "treat", "job_seek_mar", "depress2_mar", covariates=COVS, n_boot=100, missing="mi", seed=1)
    assert boot.ci_method == "rubin" and any("not combined with multiple imputation" in w for w in boot.warnings)


def test_mi_that_does_not_converge_gives_na_rows_with_the_reason():
    """Mediator and outcome missing together and almost collinear: the chains of the imputed values move as
    a slow random walk from their random starts and do not mix in 20 iterations (R-hat >> 1.1). The result
    is NA with the variables named; FIML on the same data is fine."""
    rng = np.random.default_rng(4)
    n = 300
    x = rng.integers(0, 2, n).astype(float)
    m = 0.5 * x + rng.normal(size=n)
    y = m + 0.05 * rng.normal(size=n)
    gone = rng.random(n) < 0.6
    d = pd.DataFrame({"x": x, "m": np.where(gone, np.nan, m), "y": np.where(gone, np.nan, y)})
    res = mediate(d, "x", "m", "y", n_boot=0, missing="mi", seed=1)
    t = res.to_frame()
    assert not res.converged and t[["estimate", "se", "ci_low"]].isna().all().all()
    assert "multiple imputation did not converge" in res.reason and "'m'" in res.reason and "'y'" in res.reason
    assert (t["reason"].str.contains("R-hat")).all() and res.rhat["m"] > 1.1
    ok = mediate(d, "x", "m", "y", n_boot=0, missing="fiml")
    assert ok.converged and np.isfinite(ok.to_frame()["estimate"]).all()


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("missing", ["fiml", "mi"])
def test_bad_input(missing):
    d = DATA[["treat", "job_seek_mar", "depress2_mar", "sex"]].copy()
    with pytest.raises(DataError, match="'job_seek_mar' is missing in every row"):
        mediate(d.assign(job_seek_mar=np.nan), "treat", "job_seek_mar", "depress2_mar", missing=missing)
    with pytest.raises(DataError, match="'sex' is missing in every row"):
        mediate(d.assign(sex=np.nan), "treat", "job_seek_mar", "depress2_mar", covariates=["sex"], missing=missing)
    few = d.copy()
    few.loc[few.index[5:], "depress2_mar"] = np.nan
    with pytest.raises(DataError, match="'depress2_mar' has only 5 observed values"):
        mediate(few, "treat", "job_seek_mar", "depress2_mar", missing=missing)
    with pytest.raises(DataError, match="constant"):
        mediate(d.assign(treat=1.0), "treat", "job_seek_mar", "depress2_mar", missing=missing)
    with pytest.raises(DataError, match="not numeric"):
        mediate(d.assign(sex="f"), "treat", "job_seek_mar", "depress2_mar", covariates=["sex"], missing=missing)


def test_bad_missing_argument_and_result_api():
    with pytest.raises(DataError, match="missing must be"):
        mediate(DATA, "treat", "job_seek_mar", "depress2_mar", missing="pairwise")
    res = _fit("single_mar", n_boot=0)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["n"] == 888 and d["n_dropped"] == 11 and d["missing"] == "fiml" and len(d["table"]) == 6
    s = res.summary()
    assert "cases used 888 of 899 rows" in s and "11 dropped" in s and "FIML" in s
    assert "missing='fiml'" in repr(res)
    assert abs(res.indirect - FIX["fits"]["single_mar"]["em_estimates"]["ind"]) < 1e-7


def _rare_covariate_data(n=200):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, n).astype(float)
    m = x + rng.normal(size=n)
    y = m + rng.normal(size=n)
    m[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame({"x": x, "m": m, "y": y, "c": np.r_[1.0, np.zeros(n - 1)]})


def test_fiml_failed_resamples_are_counted_and_dropped():
    """A covariate with one non-zero value is constant in the resamples that miss that row (~e^-1 of them):
    their regressions are singular, they are dropped, counted and stated; the rest give the interval."""
    d = _rare_covariate_data()
    res = mediate(d, "x", "m", "y", covariates=["c"], n_boot=200, seed=1, missing="fiml", ci_method="percentile")
    t = res.to_frame()
    assert 40 < res.n_boot_failed < 110 and (t["n_boot_failed"] == res.n_boot_failed).all()
    assert f"{res.n_boot_failed} of 200 bootstrap resamples failed" in t["reason"].iloc[0]
    assert np.isfinite(t[["estimate", "ci_low", "ci_high"]]).all().all()


def test_fiml_that_does_not_converge_gives_na_rows(monkeypatch):
    """The engine's non-convergence is never a silent number: NA rows, converged=False, the engine's reason."""
    import efficacy.sem as sem_pkg

    real = sem_pkg.sem

    def stuck(*args, **kw):
        fit = real(*args, **kw)
        fit.converged = False
        fit.warnings = ["optimiser did not converge (max |gradient| = 0.1)"]
        return fit

    monkeypatch.setattr(sem_pkg, "sem", stuck)
    res = mediate(_rare_covariate_data().drop(columns="c"), "x", "m", "y", n_boot=50, missing="fiml", seed=1)
    t = res.to_frame()
    assert not res.converged and t[["estimate", "se", "ci_low"]].isna().all().all()
    assert "the FIML fit did not converge: optimiser did not converge" in res.reason
    assert (t["reason"].str.contains("did not converge")).all()
