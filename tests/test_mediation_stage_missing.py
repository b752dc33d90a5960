"""The mediation stage on incomplete data (issue #19, "Mediation on the data researchers have"): the
stage's default is FIML whenever a role variable has missing values, mediation.csv says which method and
how many cases each model used, an all-missing role variable and MI that does not converge are rows with
the reason, and the stage hands its own fits to the evidence profile (no second bootstrap).

FIML itself is checked against lavaan in tests/test_mediation_missing.py; here the stage must give the
numbers of ``mediate(..., missing=...)`` exactly (same seed, same resamples).
"""
import numpy as np
import pandas as pd
import pytest
from conftest import write_study
from numpy.testing import assert_allclose

from efficacy.codebook import load_codebook
from efficacy.errors import ConfigError
from efficacy.mediation import mediate, run_stage
from efficacy.mediation.stage import MEDIATION_STAGE_COLUMNS

KW = dict(n_boot=100, n_sims=100, seed=3)


def _study(tmp_path, n=200, seed=0, name="gaps"):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"pid": [f"p{i}" for i in range(n)], "x": rng.integers(0, 2, n).astype(float),
                      "age": rng.normal(40, 10, n)})
    d["m"] = 0.6 * d.x + 0.02 * d.age + rng.normal(size=n)
    d["y"] = 0.5 * d.m + 0.2 * d.x + rng.normal(size=n)
    cb = {"study": name, "data": {"file": "data.csv", "format": "csv"}, "id": "pid",
          "variables": {"pid": {"type": "id"}, "x": {"type": "binary", "levels": [0, 1]},
                        "age": {"type": "numeric"}, "m": {"type": "numeric"}, "y": {"type": "numeric"}},
          "design": {"treatment": "x", "mediators": ["m"], "outcomes": ["y"], "covariates": ["age"]}}
    folder = write_study(tmp_path / name, cb, d.to_csv(index=False))
    return d, load_codebook(folder)


def _holes(d, seed=1):
    """10% of m and y missing at random, 3 ages missing (those cases FIML drops: fixed.x)."""
    rng = np.random.default_rng(seed)
    d = d.copy()
    d.loc[rng.random(len(d)) < 0.1, "m"] = np.nan
    d.loc[rng.random(len(d)) < 0.1, "y"] = np.nan
    d.loc[[5, 6, 7], "age"] = np.nan
    return d


def test_auto_is_fiml_when_a_role_variable_has_missing_values(tmp_path):
    d, cb = _study(tmp_path)
    clean = _holes(d)
    out = run_stage(clean, cb, **KW)
    med = out["mediation"]
    assert list(med.columns) == MEDIATION_STAGE_COLUMNS
    rows = med[med["effect"].notna()]
    assert set(rows["missing"]) == {"fiml"}
    ref = mediate(clean, "x", ["m"], "y", covariates=["age"], n_boot=100, ci_method="bca", seed=3, missing="fiml")
    t = ref.to_frame()
    assert_allclose(rows[["estimate", "se", "ci_low", "ci_high"]].to_numpy(float),
                    t[["estimate", "se", "ci_low", "ci_high"]].to_numpy(float), rtol=0, atol=0)
    complete = int(clean[["x", "m", "y", "age"]].notna().all(axis=1).sum())
    assert (rows["n"] == ref.n).all() and ref.n == len(clean) - 3      # every case with x and age observed
    assert (rows["n_complete"] == complete).all() and (rows["n_rows"] == len(clean)).all()
    assert ref.n > complete
    # the verdict says how many cases and how
    assert f"n = {ref.n}, FIML" in out["verdict"].text[0]
    # the evidence profile uses the stage's FIML fit (same estimates), the other analyses complete cases
    ev = out["evidence"]
    b = ev[ev["link"] == "M -> Y"].iloc[0]
    assert b.estimate == t.set_index("effect").loc["b", "estimate"] and b.n == ref.n
    assert (out["sensitivity"]["n"] == complete).all()


def test_auto_is_listwise_on_complete_data_and_listwise_can_be_forced(tmp_path):
    d, cb = _study(tmp_path)
    out = run_stage(d, cb, **KW)
    rows = out["mediation"].dropna(subset=["effect"])
    assert set(rows["missing"]) == {"listwise"} and (rows["n"] == len(d)).all()
    assert (rows["n_complete"] == len(d)).all()
    clean = _holes(d)
    forced = run_stage(clean, cb, missing="listwise", **KW)["mediation"].dropna(subset=["effect"])
    complete = int(clean[["x", "m", "y", "age"]].notna().all(axis=1).sum())
    assert set(forced["missing"]) == {"listwise"} and (forced["n"] == complete).all()


def test_all_missing_role_variable_is_a_row_with_the_reason(tmp_path):
    d, cb = _study(tmp_path)
    out = run_stage(d.assign(y=np.nan), cb, **KW)
    med = out["mediation"]
    assert len(med) == 1 and "role variable 'y' is missing in every row (200 rows)" in med["reason"].iloc[0]
    assert med["n"].iloc[0] == 0
    for key in ("sensitivity", "causal_mediation", "model_comparison"):
        assert out[key]["reason"].str.contains("missing in every row").all(), key
    ev = out["evidence"]
    assert (ev["verdict"] == "not analysed").all() and ev["reason"].str.len().gt(0).all()
    assert "missing in every row" in out["verdict"].text[0]


def test_mi_that_does_not_converge_is_a_row_with_the_reason(tmp_path, monkeypatch):
    import efficacy.mediation.missing as mm

    d, cb = _study(tmp_path, n=120)
    monkeypatch.setattr(mm, "RHAT_MAX", 0.0)   # no chain can pass: R-hat >= 0 always
    out = run_stage(_holes(d), cb, missing="mi", **KW)
    rows = out["mediation"]
    assert set(rows["missing"].dropna()) == {"mi"}
    assert rows["estimate"].isna().all()
    assert rows["reason"].str.contains("multiple imputation did not converge").all()
    assert out["sensitivity"]["reason"].str.contains("the mediation model was not fitted").all()
    assert "multiple imputation did not converge" in out["verdict"].text[0]


def test_unknown_missing_method_is_a_config_error(tmp_path):
    d, cb = _study(tmp_path, n=50)
    with pytest.raises(ConfigError, match="mediation.missing"):
        run_stage(d, cb, missing="pairwise", **KW)


def test_stage_bootstraps_each_pair_once(tmp_path, monkeypatch):
    """The evidence profile reuses the stage's mediate and sensitivity fits (it used to refit them)."""
    import importlib

    # the package exports functions of the same names as these modules: import the modules themselves
    ob, se, st = (importlib.import_module(f"efficacy.mediation.{m}") for m in ("observed", "sensitivity", "stage"))

    calls = {"mediate": 0, "sensitivity": 0}

    def counted(name, f):
        def g(*a, **k):
            calls[name] += 1
            return f(*a, **k)
        return g

    monkeypatch.setattr(ob, "mediate", counted("mediate", ob.mediate))
    monkeypatch.setattr(st, "mediate", ob.mediate)
    monkeypatch.setattr(se, "sensitivity", counted("sensitivity", se.sensitivity))
    monkeypatch.setattr(st, "sensitivity", se.sensitivity)
    d, cb = _study(tmp_path)
    run_stage(d, cb, **KW)
    assert calls == {"mediate": 1, "sensitivity": 1}


def test_several_mediators_evidence_refits_with_the_stage_method(tmp_path):
    """With parallel mediators the evidence profile fits one mediator at a time (the stage's model has
    both): it must use the stage's missing-data method for that outcome (FIML here)."""
    rng = np.random.default_rng(4)
    n = 150
    d = pd.DataFrame({"pid": [f"p{i}" for i in range(n)], "x": rng.integers(0, 2, n).astype(float)})
    d["m"] = 0.6 * d.x + rng.normal(size=n)
    d["m2"] = 0.4 * d.x + rng.normal(size=n)
    d["y"] = 0.5 * d.m + 0.3 * d.m2 + rng.normal(size=n)
    d.loc[rng.random(n) < 0.15, "m2"] = np.nan
    cb = {"study": "two", "data": {"file": "data.csv", "format": "csv"}, "id": "pid",
          "variables": {"pid": {"type": "id"}, "x": {"type": "binary", "levels": [0, 1]}, "m": {"type": "numeric"},
                        "m2": {"type": "numeric"}, "y": {"type": "numeric"}},
          "design": {"treatment": "x", "mediators": ["m", "m2"], "outcomes": ["y"]}}
    codebook = load_codebook(write_study(tmp_path / "two", cb, d.to_csv(index=False)))
    out = run_stage(d, codebook, **KW)
    assert set(out["mediation"]["missing"].dropna()) == {"fiml"}
    ev = out["evidence"].set_index(["mediator", "link"])
    ref = mediate(d, "x", "m2", "y", n_boot=100, ci_method="bca", seed=3, missing="fiml").to_frame()
    assert ev.loc[("m2", "M -> Y"), "estimate"] == ref.set_index("effect").loc["b", "estimate"]
    assert ev.loc[("m2", "M -> Y"), "n"] == n
