"""Serial mediators, PROCESS model 6 (efficacy.mediation.serial; issue #19).

References (tests/reference/mediation_serial.R): lavaan ':=' effects on psych::Tal.Or (cond -> import -> pmi
-> reaction; Hayes 2018, ch. 5) with and without covariates -> mediation_serial_talor.json, a three-mediator
chain on JOBS II -> mediation_serial_jobs.json; lavaan's bootstrap (5000) and boot::boot.ci BCa (20000,
jackknife acceleration) for the interval checks. lavaan fits the saturated path model iteratively (its
estimates differ from OLS by ~1e-8 relative), hence 1e-6 relative for the deterministic numbers.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import DataError
from efficacy.mediation.serial import serial_mediation

REF = Path(__file__).parent / "reference"
TALOR = pd.read_csv(REF / "mediation_talor_data.csv")
FIX = json.loads((REF / "mediation_serial_talor.json").read_text())
FIX3 = json.loads((REF / "mediation_serial_jobs.json").read_text())
#: our (effect, mediator) -> lavaan label, two mediators import -> pmi
ROWS2 = {("a", "import"): "a1", ("a", "pmi"): "a2", ("d", "import -> pmi"): "d21", ("b", "import"): "b1",
         ("b", "pmi"): "b2", ("direct", ""): "cp", ("indirect", "import"): "ind1",
         ("indirect", "import -> pmi"): "ind2", ("indirect", "pmi"): "ind3", ("indirect", "total"): "ind",
         ("total", ""): "total", ("contrast", "(import) - (import -> pmi)"): "con12",
         ("contrast", "(import) - (pmi)"): "con13", ("contrast", "(import -> pmi) - (pmi)"): "con23",
         ("prop_mediated", ""): "pm"}


def _jobs():
    p = Path("/work/shared/datasets/jobs_ii.csv")
    return pd.read_csv(p if p.exists() else Path(__file__).parents[1] / "data/raw/jobs_ii/data.csv")


def _rows(res):
    return {(r.effect, r.mediator): r for r in res.to_frame().itertuples()}


@pytest.mark.parametrize("block,covs", [("lavaan", []), ("lavaan_covariates", ["gender", "age"])])
def test_talor_serial_matches_lavaan(block, covs):
    """Every path and ':=' effect (three specific indirect effects, total indirect, total, three contrasts,
    proportion mediated): estimate, delta-method SE and p value equal lavaan's to 1e-6 relative."""
    res = serial_mediation(TALOR, "cond", ["import", "pmi"], "reaction", covariates=covs, n_boot=0)
    ours = _rows(res)
    assert set(ours) == set(ROWS2)
    for key, lab in ROWS2.items():
        r = FIX[block][lab]
        row = ours[key]
        assert_allclose(row.estimate, r["est"], rtol=1e-6, atol=1e-10, err_msg=lab)
        assert_allclose(row.se, r["se"], rtol=1e-6, atol=1e-10, err_msg=lab)
        assert_allclose(row.pvalue, r["pvalue"], rtol=1e-5, atol=1e-10, err_msg=lab)
    assert res.ci_method == "delta" and res.n == res.n_rows == 123 and res.converged


def test_talor_serial_decomposition():
    """c = c' + sum of the specific indirect effects, and c equals the lm() coefficient of cond (lm_total
    in the fixture, 0.4957 as Hayes prints for this study, ch. 3 and 5) to 1e-10."""
    res = serial_mediation(TALOR, "cond", "import -> pmi", "reaction", n_boot=0)
    assert_allclose(res.total, FIX["lm_total"], rtol=1e-10)
    assert_allclose(res.total, res.direct + res.specific.sum(), rtol=1e-12)
    assert_allclose(res.indirect, res.specific.sum(), rtol=1e-12)
    assert list(res.specific.index) == ["import", "import -> pmi", "pmi"]
    assert list(res.to_frame().loc[lambda t: t.effect == "indirect", "label"])[:3] == ["a1*b1", "a1*d21*b2", "a2*b2"]


def test_three_mediator_chain_matches_lavaan():
    """Seven specific indirect effects of a three-mediator chain (numeric check of the algebra: JOBS II,
    treat -> econ_hard -> job_seek -> depress1 -> depress2, covariates sex, age) vs lavaan ':=' at 1e-6."""
    ms = ["econ_hard", "job_seek", "depress1"]
    res = serial_mediation(_jobs(), "treat", ms, "depress2", covariates=["sex", "age"], n_boot=0)
    t = res.to_frame()
    spec = t[(t.effect == "indirect") & (t.mediator != "total")]
    lab = ["i1", "i12", "i13", "i123", "i2", "i23", "i3"]
    assert list(spec["label"]) == ["a1*b1", "a1*d21*b2", "a1*d31*b3", "a1*d21*d32*b3", "a2*b2", "a2*d32*b3",
                                   "a3*b3"]
    L = FIX3["lavaan"]
    # atol 1e-9: lavaan's iterative estimates differ from OLS by ~1e-10 absolute, which is 1e-6 relative
    # for the smallest products (4e-5); still 1e-5 of the smallest SE
    assert_allclose(spec["estimate"], [L[k]["est"] for k in lab], rtol=1e-6, atol=1e-9)
    assert_allclose(spec["se"], [L[k]["se"] for k in lab], rtol=1e-6, atol=1e-9)
    rows = _rows(res)
    for key, k in [(("indirect", "total"), "ind"), (("total", ""), "total"), (("d", "econ_hard -> depress1"), "d31"),
                   (("contrast", "(econ_hard) - (econ_hard -> job_seek -> depress1)"), "c_i1_i123"),
                   (("contrast", "(job_seek) - (depress1)"), "c_i2_i3")]:
        assert_allclose([rows[key].estimate, rows[key].se], [L[k]["est"], L[k]["se"]], rtol=1e-6, atol=1e-9,
                        err_msg=k)
    assert (t.effect == "contrast").sum() == 21


def test_bootstrap_matches_lavaan_and_boot_within_mc_error():
    """Bootstrap SEs, percentile and BCa limits of the indirect effects and contrasts, two-sided.

    Ours: 4000 resamples; R: lavaan se = "bootstrap" (5000) and boot::boot (20000; BCa with jackknife
    influence values, which is our acceleration). Tolerances are 4 Monte Carlo SEs of the difference:
    a quantile q_p of B draws has SE sqrt(p (1 - p)) / (f(q_p) sqrt(B)), f = density of the bootstrap
    distribution at the limit (from R's 20000 draws, in the fixture), p = 0.025 / 0.975 for percentile
    limits and R's BCa-adjusted level for BCa limits (its z0 is estimated from the draws too; that adds
    less than the quantile error at these B). An SD of B draws has relative SE sqrt((kurtosis - 1) / (4B)) <
    0.025 at B = 4000 and kurtosis <= 10 (ind2 is a three-way product, kurtosis ~ 8): 10% relative to
    lavaan's SE is 4 SEs of the difference."""
    n_ours = 4000
    res = {ci: serial_mediation(TALOR, "cond", ["import", "pmi"], "reaction", n_boot=n_ours, seed=11, ci_method=ci)
           for ci in ("percentile", "bca")}
    boot = FIX["boot"]
    R_boot = boot["R"]
    lav = FIX["lavaan_boot"]["effects"]
    k = np.sqrt(1 / n_ours + 1 / R_boot)
    for key, lab in ROWS2.items():
        if lab not in boot["effects"]:
            continue
        b = boot["effects"][lab]
        rp = _rows(res["percentile"])[key]
        rb = _rows(res["bca"])[key]
        assert_allclose(rp.estimate, b["estimate"], rtol=1e-10)
        assert_allclose(rp.boot_se, lav[lab]["se"], rtol=0.10, err_msg=lab)
        assert_allclose(rp.boot_se, b["sd_boot"], rtol=0.08, err_msg=lab)
        for i, (lim_p, lim_b) in enumerate([(rp.ci_low, rb.ci_low), (rp.ci_high, rb.ci_high)]):
            p = (0.025, 0.975)[i]
            tol_p = 4 * np.sqrt(p * (1 - p)) / b["density_at_perc"][i] * k
            assert abs(lim_p - b["perc"][i]) < tol_p, (lab, "perc", i, lim_p, b["perc"][i], tol_p)
            pa = b["bca_levels"][i] / R_boot
            tol_b = 4 * np.sqrt(pa * (1 - pa)) / b["density_at_bca"][i] * k
            assert abs(lim_b - b["bca"][i]) < tol_b, (lab, "bca", i, lim_b, b["bca"][i], tol_b)
    assert res["bca"].n_boot_failed == 0


def test_batched_bootstrap_equals_refits_and_seed_determinism():
    """The batched weighted least squares of every resample equals refitting lm on that resample (the first
    25 resamples of the same index stream, refitted one by one here), and a seed fixes the table."""
    n_boot = 25
    res = serial_mediation(TALOR, "cond", ["import", "pmi"], "reaction", covariates=["age"], n_boot=n_boot,
                           seed=5, ci_method="percentile")
    idx = np.random.default_rng(5).integers(0, len(TALOR), size=(n_boot, len(TALOR)))
    ind = []
    def fit(d, y, xs):
        return np.linalg.lstsq(np.column_stack([np.ones(len(d)), d[xs]]), d[y], rcond=None)[0]

    for i in idx:
        d = TALOR.iloc[i]
        a1 = fit(d, "import", ["cond", "age"])[1]
        a2, d21 = fit(d, "pmi", ["cond", "import", "age"])[1:3]
        b1, b2 = fit(d, "reaction", ["cond", "import", "pmi", "age"])[2:4]
        ind.append([a1 * b1, a1 * d21 * b2, a2 * b2])
    ind = np.array(ind)
    spec = res.to_frame().query("effect == 'indirect' and mediator != 'total'")
    assert_allclose(spec["boot_se"], ind.std(axis=0, ddof=1), rtol=1e-9)
    assert_allclose(spec["ci_low"], np.quantile(ind, 0.025, axis=0), rtol=1e-9)
    again = serial_mediation(TALOR, "cond", ["import", "pmi"], "reaction", covariates=["age"], n_boot=n_boot,
                             seed=5, ci_method="percentile")
    pd.testing.assert_frame_equal(res.to_frame(), again.to_frame())


def test_montecarlo_and_result_api():
    res = serial_mediation(TALOR, "cond", ["import", "pmi"], "reaction", n_boot=20000, ci_method="montecarlo", seed=2)
    t = res.to_frame()
    assert (t.ci_method == "montecarlo").all() and res.n_boot_valid == 20000
    # linear paths: Monte Carlo limits = normal limits up to MC error (0.03 SE is > 4 MC SEs at 20000 draws)
    a = t[t.effect == "a"]
    z = 1.959964
    assert_allclose(a["ci_low"], a["estimate"] - z * a["se"], atol=0.03 * a["se"].max())
    d = json.loads(json.dumps(res.to_dict()))
    assert d["n"] == 123 and len(d["table"]) == len(t) and d["missing"] == "listwise"
    s = res.summary()
    assert "PROCESS model 6" in s and "import -> pmi" in s and "Monte Carlo" in s
    assert list(t.columns) == ["effect", "mediator", "label", "estimate", "se", "statistic", "pvalue", "ci_low",
                               "ci_high", "boot_se", "ci_method", "n_boot_failed", "reason"]


# ------------------------------------------------------------------------------------------- bad input
def _chain_data(n=200, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n).astype(float)
    m1 = 0.5 * x + rng.normal(size=n)
    m2 = 0.5 * m1 + rng.normal(size=n)
    return rng, pd.DataFrame({"x": x, "m1": m1, "m2": m2, "y": 0.4 * m2 + rng.normal(size=n)})


def test_collinear_chain():
    rng, d = _chain_data()
    # exact: m2 is a linear function of m1 -> DataError naming m2
    with pytest.raises(DataError, match="perfect collinearity: column 'm2'"):
        serial_mediation(d.assign(m2=2 * d.m1 + 1), "x", ["m1", "m2"], "y", n_boot=0)
    # near exact (1e-9 noise): NA rows with the reason naming the column
    res = serial_mediation(d.assign(m2=d.m1 + 1e-9 * rng.normal(size=len(d))), "x", ["m1", "m2"], "y", n_boot=50)
    t = res.to_frame()
    assert t[["estimate", "se", "ci_low"]].isna().all().all() and not res.converged
    assert "near-singular" in res.reason and "'m2'" in res.reason and (t.reason == res.reason).all()
    # strongly collinear but estimable: numbers plus a warning naming the mediator and its R^2
    res = serial_mediation(d.assign(m2=d.m1 + 0.05 * rng.normal(size=len(d))), "x", ["m1", "m2"], "y", n_boot=0)
    assert np.isfinite(res.to_frame()["estimate"]).all()
    assert any("mediator 'm2' is almost collinear" in w for w in res.warnings)
    assert "almost collinear" in res.to_frame()["reason"].iloc[0]


def test_bad_roles():
    _, d = _chain_data()
    with pytest.raises(DataError, match="2 to 4 mediators"):
        serial_mediation(d, "x", ["m1"], "y")
    with pytest.raises(DataError, match="two roles"):
        serial_mediation(d, "x", ["m1", "m1"], "y")
    with pytest.raises(DataError, match="column 'nope': no such column in the data"):
        serial_mediation(d, "x", ["m1", "nope"], "y")
    with pytest.raises(DataError, match="missing in every row"):
        serial_mediation(d.assign(m2=np.nan), "x", ["m1", "m2"], "y")
    with pytest.raises(DataError, match="constant"):
        serial_mediation(d.assign(x=1.0), "x", ["m1", "m2"], "y")
    with pytest.raises(DataError, match="empty mediator name"):
        serial_mediation(d, "x", "m1 -> ", "y")
    with pytest.raises(DataError, match="ci must be"):
        serial_mediation(d, "x", ["m1", "m2"], "y", ci_method="bc")


def test_failed_resamples_are_counted():
    _, d = _chain_data()
    d["c"] = np.r_[1.0, np.zeros(len(d) - 1)]  # resamples without row 0: constant covariate -> singular
    res = serial_mediation(d, "x", ["m1", "m2"], "y", covariates=["c"], n_boot=200, seed=1, ci_method="percentile")
    assert 0 < res.n_boot_failed < 200
    assert f"{res.n_boot_failed} of 200 bootstrap resamples failed" in res.to_frame()["reason"].iloc[0]
    assert np.isfinite(res.to_frame()[["ci_low", "ci_high"]]).all().all()
