"""Numerical edge cases end in a valid estimate or an NA with a stated reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from efficacy.meta import random_effects
from efficacy.reliability import cronbach_alpha, mcdonald_omega


def test_scale_whose_items_are_all_identical():
    x = np.tile(np.arange(1, 6, dtype=float)[:, None], (20, 4))
    res = cronbach_alpha(pd.DataFrame(x, columns=list("abcd")))
    # identical items: alpha = k/(k-1) (1 - k s^2 / (k^2 s^2)) = 1 exactly (psych::alpha gives 1 too);
    # it is a defined number, so no NA and no reason
    assert res.alpha == pytest.approx(1.0, abs=1e-12) and not res.reason
    # omega is an ML one-factor fit, whose discrepancy log|Sigma| - log|S| is undefined for the singular
    # S of identical items: NA, and the reason says the covariance is singular
    om = mcdonald_omega(pd.DataFrame(x, columns=list("abcd")), n_boot=50, seed=1)
    assert np.isnan(om.omega_total) and "singular" in om.reason


def test_zero_variance_item_and_too_few_cases_give_na_with_reason():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.integers(1, 6, size=(30, 3)).astype(float), columns=list("abc"))
    df["c"] = 3.0
    res = cronbach_alpha(df)
    assert np.isnan(res.alpha) and "variance" in res.reason.lower()
    res = cronbach_alpha(df.iloc[:2, :2].assign(c=[1.0, 2.0]))
    assert np.isnan(res.alpha) and res.reason


def test_singular_item_covariance_in_omega():
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    df = pd.DataFrame({"a": a, "b": a + rng.normal(size=200), "c": 2 * a, "d": rng.normal(size=200) + a})
    om = mcdonald_omega(df, n_boot=50, seed=2)
    # c = 2a makes the item covariance singular: the ML fit is undefined (as above), so NA with that reason
    assert np.isnan(om.omega_total) and "singular" in om.reason and "omega not estimable" in om.reason


def test_meta_with_k2_and_tau2_at_zero():
    res = random_effects(yi=[0.3, 0.31], vi=[0.01, 0.012], method="REML")
    assert res.k == 2 and res.tau2 == pytest.approx(0.0, abs=1e-8)
    assert np.isfinite(res.estimate) and res.ci_low < res.estimate < res.ci_high


def test_meta_rejects_bad_variances_with_the_row():
    with pytest.raises(ValueError, match=r"(?i)row|study|vi"):
        random_effects(yi=[0.3, 0.2, 0.1], vi=[0.01, -0.02, 0.01])


# ---------------------------------------------------------------- through the public API of other modules


def test_heywood_case_in_a_cfa_is_improper_with_the_negative_variance_named():
    """Three indicators with r12 = r13 = .9, r23 = .7 (a positive definite matrix): the ML loading
    of x1 is sqrt(.81 / .7) > 1, so its residual variance is negative (a Heywood case)."""
    from efficacy.sem import sem

    rng = np.random.default_rng(1)
    cov = np.array([[1, .9, .9], [.9, 1, .7], [.9, .7, 1]])
    df = pd.DataFrame(rng.multivariate_normal(np.zeros(3), cov, size=300), columns=["x1", "x2", "x3"])
    res = sem(df, "f =~ x1 + x2 + x3", auto="cfa")
    assert res.proper is False
    text = " ".join(res.warnings)
    assert "negative variance" in text and "x1" in text


def _mediation_data(n=300, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n).astype(float)
    m = x + rng.normal(size=n)
    return rng, pd.DataFrame({"x": x, "m": m, "y": m + rng.normal(size=n)})


def test_near_singular_covariance_in_mediation_gives_na_with_a_reason():
    from efficacy.mediation import mediate

    rng, df = _mediation_data()
    df["z"] = df["x"] + 1e-9 * rng.normal(size=len(df))
    res = mediate(df, "x", "m", "y", covariates=["z"], n_boot=100, seed=1)
    # z equals x up to 1e-9: the paths are not identified, so every number is NA and the reason names z
    # (a finite estimate here would be noise amplified by a condition number ~1e16)
    table = res.table
    assert table[["estimate", "se", "ci_low", "ci_high", "pvalue"]].isna().all().all()
    assert "near-singular" in res.reason and "'z'" in res.reason


def test_bootstrap_resamples_that_fail_are_counted_not_silent():
    """A binary covariate with a single 1: every resample that misses that row has a constant
    covariate (a singular design); those resamples are dropped and counted."""
    from efficacy.mediation import mediate

    _, df = _mediation_data()
    df["c"] = np.r_[1.0, np.zeros(len(df) - 1)]
    res = mediate(df, "x", "m", "y", covariates=["c"], n_boot=200, seed=1)
    assert res.n_boot == 200
    assert 0 < res.n_boot_valid < res.n_boot  # about (1 - 1/n)^n = 37% of resamples fail
    assert abs(res.n_boot_valid / res.n_boot - (1 - np.exp(-1))) < 0.1
    ind = res.table.set_index("effect").loc["indirect"]
    assert np.isfinite(ind["estimate"]) and ind["ci_low"] < ind["estimate"] < ind["ci_high"]


def test_perfect_separation_in_a_logistic_outcome_is_na_with_reason():
    causal = pytest.importorskip("efficacy.mediation.causal")
    _, df = _mediation_data()
    df["y"] = (df["m"] > 0.5).astype(float)  # the mediator separates the outcome perfectly
    res = causal.causal_mediation(df, "x", "m", "y", outcome_model="logit", n_sims=100, seed=1)
    assert res.converged is False and "separation" in res.reason
    assert res.table["estimate"].isna().all()


# ---------------------------------------------------------------- the reasons reach the stage CSVs and the summary


def _edge_study(tmp_path, data: pd.DataFrame, codebook: dict):
    """Write a study folder, clean it, return (clean frame, codebook) as the stage scripts get them."""
    import yaml

    from efficacy.cleaning import clean_study
    from efficacy.codebook import load_codebook

    folder = tmp_path / "raw" / codebook["study"]
    folder.mkdir(parents=True)
    (folder / "codebook.yaml").write_text(yaml.safe_dump(codebook, sort_keys=False), encoding="utf-8")
    data.to_csv(folder / "data.csv", index=False, float_format="%.10g")
    return clean_study(folder).clean, load_codebook(folder)


def _write_stage(tables: dict, folder):
    """What the rule scripts do: every table through efficacy.io.write_table."""
    from efficacy.io import atomic_write_text, write_table

    folder.mkdir(parents=True, exist_ok=True)
    for stem, df in tables.items():
        if stem == "verdict":
            atomic_write_text(folder / "verdict.md", str(df["text"].iloc[0]))
        else:
            write_table(df, folder / f"{stem}.csv")


def test_heywood_case_reaches_cfa_fit_csv_and_the_summary(tmp_path):
    """measurement.run_stage on a 3-item scale whose first item has a negative ML residual variance:
    cfa_fit.csv says improper with the variance named, and the summary warns about it.

    The population correlations r12 = r13 = .9, r23 = .7 form a valid (positive definite) matrix,
    but the one-factor ML loading of x1 is sqrt(r12 * r13 / r23) = sqrt(1.157) > 1."""
    from efficacy.io import read_table
    from efficacy.measurement import run_stage
    from efficacy.summary import build_summary

    rng = np.random.default_rng(1)
    cov = np.array([[1, .9, .9], [.9, 1, .7], [.9, .7, 1]])
    assert np.linalg.eigvalsh(cov).min() > 0
    x = rng.multivariate_normal(np.zeros(3), cov, size=300)
    data = pd.DataFrame({"pid": [f"p{i}" for i in range(300)], "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})
    cb = {"study": "heywood", "data": {"file": "data.csv", "format": "csv"}, "id": "pid",
          "variables": {"pid": {"type": "id"}, **{f"x{i}": {"type": "numeric"} for i in (1, 2, 3)}},
          "scales": {"efficacy": {"construct": "self_efficacy", "items": ["x1", "x2", "x3"],
                                  "response_range": [-10, 10], "min_items": 3}}}
    clean, codebook = _edge_study(tmp_path, data, cb)
    tables = run_stage(clean, codebook, parts=["cfa"], missing="listwise")
    out = tmp_path / "results" / "heywood"
    _write_stage(tables, out)
    fit = read_table(out / "cfa_fit.csv")
    assert len(fit) >= 1
    for _, row in fit.iterrows():
        assert not bool(row["proper"]), row.to_dict()
        assert "negative variance" in str(row["reason"]) and "x1" in str(row["reason"]), row.to_dict()
    summary = build_summary(tmp_path / "results", ["heywood"])
    assert "improper" in summary and "negative variance" in summary and "x1" in summary


def test_perfect_separation_reaches_causal_mediation_csv_and_the_verdict(tmp_path):
    """mediation.run_stage with a binary outcome that the mediator separates perfectly: the causal
    mediation rows are NA with the reason in causal_mediation.csv, and verdict.md (quoted in the
    summary) says why the analysis was not estimated."""
    from efficacy.io import read_table
    from efficacy.mediation import run_stage
    from efficacy.summary import build_summary

    rng = np.random.default_rng(1)
    n = 300
    treat = rng.integers(0, 2, n)
    m = treat + rng.normal(size=n)
    data = pd.DataFrame({"pid": [f"p{i}" for i in range(n)], "treat": treat, "m": m,
                         "y": (m > 0.5).astype(int)})
    cb = {"study": "separated", "data": {"file": "data.csv", "format": "csv"}, "id": "pid",
          "variables": {"pid": {"type": "id"}, "treat": {"type": "binary", "levels": [0, 1]},
                        "m": {"type": "numeric"}, "y": {"type": "binary", "levels": [0, 1]}},
          "design": {"treatment": "treat", "mediators": ["m"], "outcomes": ["y"]}}
    clean, codebook = _edge_study(tmp_path, data, cb)
    tables = run_stage(clean, codebook, n_boot=50, n_sims=50, seed=1)
    out = tmp_path / "results" / "separated"
    _write_stage(tables, out)
    causal = read_table(out / "causal_mediation.csv")
    assert len(causal) > 0 and causal["estimate"].isna().all()
    assert causal["reason"].str.contains("separation").all(), causal[["effect", "reason"]]
    verdict = (out / "verdict.md").read_text(encoding="utf-8")
    assert "not estimated" in verdict and "separation" in verdict
    summary = build_summary(tmp_path / "results", ["separated"])
    assert "separation" in summary


def test_identical_and_constant_items_reach_reliability_and_cfa_csvs_and_the_summary(tmp_path):
    """A scale of three identical items (singular covariance) and one with a constant item: the
    reliability and measurement stages write rows with reasons (never an exception), and the
    summary's reliability table carries them."""
    import warnings

    from efficacy.io import read_table
    from efficacy.measurement import run_stage as measurement_stage
    from efficacy.reliability import run_stage as reliability_stage
    from efficacy.summary import build_summary

    rng = np.random.default_rng(2)
    n = 200
    a = rng.integers(1, 6, n)
    data = pd.DataFrame({"pid": [f"p{i}" for i in range(n)], "i1": a, "i2": a, "i3": a, "j1": 3,
                         "j2": rng.integers(1, 6, n), "j3": rng.integers(1, 6, n)})
    items = ["i1", "i2", "i3", "j1", "j2", "j3"]
    cb = {"study": "flat", "data": {"file": "data.csv", "format": "csv"}, "id": "pid",
          "variables": {"pid": {"type": "id"}, **{c: {"type": "integer", "range": [1, 5]} for c in items}},
          "scales": {"same": {"construct": "self_efficacy", "items": items[:3], "response_range": [1, 5],
                              "min_items": 2},
                     "flat": {"construct": "self_esteem", "items": items[3:], "response_range": [1, 5],
                              "min_items": 2}}}
    clean, codebook = _edge_study(tmp_path, data, cb)
    out = tmp_path / "results" / "flat"
    _write_stage(reliability_stage(clean, codebook, n_boot=50, seed=1), out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the optimiser's overflow on a singular matrix
        _write_stage(measurement_stage(clean, codebook, parts=["cfa"], missing="listwise"), out)
    rel = read_table(out / "reliability.csv").set_index("scale")
    assert np.isnan(rel.loc["same", "omega_total"]) and "singular" in rel.loc["same", "reason"]
    assert np.isnan(rel.loc["flat", "alpha"]) and "zero-variance item(s): j1" in rel.loc["flat", "reason"]
    fit = read_table(out / "cfa_fit.csv")
    assert len(fit) == 3 and (~fit["proper"].astype(bool)).all() and fit["reason"].notna().all()
    assert fit.set_index("model").loc["flat", "reason"].count("j1") >= 1
    summary = build_summary(tmp_path / "results", ["flat"])
    assert "zero-variance item(s): j1" in summary and "singular" in summary


def test_meta_analysis_of_one_study_is_a_reason_row_in_summary_csv(tmp_path):
    from efficacy.meta import run_analysis

    res = run_analysis({"name": "single", "source": "table", "measure": "GEN"},
                       {"input": pd.DataFrame({"yi": [0.3], "vi": [0.01]})})
    s = res["summary"]
    assert "estimate" not in s or s["estimate"].isna().all()
    assert s["reason"].str.contains("too few studies").all()
    two = run_analysis({"name": "two", "source": "table", "measure": "GEN"},
                       {"input": pd.DataFrame({"yi": [0.3, 0.31], "vi": [0.01, 0.012]})})["summary"]
    assert two["k"].iloc[0] == 2 and two["tau2"].iloc[0] == pytest.approx(0.0, abs=1e-10)
    assert np.isfinite(two["estimate"].iloc[0]) and not str(two["reason"].iloc[0]).strip("nan ")


def _near_singular_stage(tmp_path, z=None):
    from efficacy.mediation import run_stage

    rng = np.random.default_rng(1)
    n = 300
    treat = rng.integers(0, 2, n)
    m = treat + rng.normal(size=n)
    if z is None:
        z = treat + 1e-9 * rng.normal(size=n)  # a covariate that is the treatment again
    data = pd.DataFrame({"pid": [f"p{i}" for i in range(n)], "treat": treat, "m": m, "y": m + rng.normal(size=n),
                         "z": z})
    cb = {"study": "nearsing", "data": {"file": "data.csv", "format": "csv"}, "id": "pid",
          "variables": {"pid": {"type": "id"}, "treat": {"type": "binary", "levels": [0, 1]},
                        "m": {"type": "numeric"}, "y": {"type": "numeric"}, "z": {"type": "numeric"}},
          "design": {"treatment": "treat", "mediators": ["m"], "outcomes": ["y"], "covariates": ["z"]}}
    clean, codebook = _edge_study(tmp_path, data, cb)
    out = tmp_path / "results" / "nearsing"
    _write_stage(run_stage(clean, codebook, n_boot=50, n_sims=50, seed=1), out)
    return out


def test_near_singular_covariate_reaches_mediation_csv_and_the_verdict(tmp_path):
    from efficacy.io import read_table

    out = _near_singular_stage(tmp_path)
    med = read_table(out / "mediation.csv")
    assert med["estimate"].isna().all() and med["se"].isna().all()
    assert med["reason"].str.contains("near-singular").all() and med["reason"].str.contains("'z'").all()
    verdict = (out / "verdict.md").read_text(encoding="utf-8")
    assert "Not analysed: near-singular" in verdict
    # the tables that depend on the failed model say why they are empty (not "no continuous outcome")
    for stem in ("model_comparison", "sensitivity"):
        t = read_table(out / f"{stem}.csv")
        assert len(t) == 1 and t["reason"].str.contains("not fitted: near-singular design").all(), t


def test_near_singular_covariate_in_causal_mediation_csv_is_na_with_reason(tmp_path):
    from efficacy.io import read_table

    causal = read_table(_near_singular_stage(tmp_path) / "causal_mediation.csv")
    # with z a copy of the treatment the ACME (treatment moved, z held fixed) is not identified:
    # the only honest output is NA with a reason, as mediation.csv does
    assert causal["estimate"].isna().all(), causal[["effect", "estimate"]]
    assert causal["reason"].fillna("").str.contains("singular|collinear").all(), causal["reason"]


def test_failed_bootstrap_resamples_reach_mediation_csv_and_the_summary(tmp_path):
    """A binary covariate with a single 1: resamples without that row are singular and dropped;
    mediation.csv counts them (n_boot_failed) and says so, and the summary's table quotes it."""
    from efficacy.io import read_table
    from efficacy.summary import build_summary

    out = _near_singular_stage(tmp_path, z=np.r_[1.0, np.zeros(299)])
    med = read_table(out / "mediation.csv")
    assert np.isfinite(med["estimate"]).all()
    failed = int(med["n_boot_failed"].iloc[0])
    assert 0 < failed < 50 and (med["n_boot_failed"] == failed).all()
    assert med["reason"].str.contains(f"{failed} of 50 bootstrap resamples failed").all()
    assert f"{failed} of 50 bootstrap resamples failed" in build_summary(tmp_path / "results", ["nearsing"])


def test_positive_definite_check_is_unit_free():
    """The proper-solution check judges the implied covariance matrices on the correlation scale: a correct
    CFA of items in units 1e9 apart is proper (an absolute eigenvalue rule flagged it), a fixed latent
    correlation of 1.5 is not, and the fit says why it could not converge."""
    import efficacy as ef

    hs = pd.read_csv(Path(__file__).parent / "reference" / "sem_hs1939.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    d = hs.copy()
    d[["x1", "x2", "x3"]] *= 1e-4
    d[["x7", "x8", "x9"]] *= 1e5
    res = ef.sem(d, model)
    assert res.converged and res.proper and res.warnings == []
    lavaan = json.loads((Path(__file__).parent / "reference" / "measurement_cfa_holzinger.json").read_text())
    assert res.fit["chisq"] == pytest.approx(lavaan["fit"]["chisq"], rel=1e-6)   # 85.3055 (lavaan 0.6.14)
    bad = ef.sem(hs, "f1 =~ NA*x1 + x2 + x3\nf2 =~ NA*x4 + x5 + x6\nf1 ~~ 1*f1\nf2 ~~ 1*f2\nf1 ~~ 1.5*f2")
    assert not bad.proper and not bad.converged
    assert "model-implied latent covariance matrix is not positive definite" in bad.warnings
    assert any("no parameter values with a positive definite" in w for w in bad.warnings)
    # the same checks per group of a multi-group fit
    res_g = ef.sem(d, model, group="school")
    assert res_g.converged and res_g.proper and res_g.warnings == []
    bad_g = ef.sem(hs, "f1 =~ NA*x1 + x2 + x3\nf2 =~ NA*x4 + x5 + x6\nf1 ~~ 1*f1\nf2 ~~ 1*f2\nf1 ~~ 1.5*f2",
                   group="school")
    assert not bad_g.proper
    for level in ("Grant-White", "Pasteur"):
        assert f"group {level}: model-implied latent covariance matrix is not positive definite" in bad_g.warnings
