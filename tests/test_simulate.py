"""Tests of efficacy.simulate: determinism, well-formed codebooks, planted problems,
population truths recovered on a large n, and the bundled study folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
import yaml
from numpy.testing import assert_allclose

from efficacy import simulate as sim
from efficacy.codebook import load_codebook

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted(sim.STUDIES)
SMALL = {"mastery_trial": {"n": 120}, "confounded_survey": {"n": 120}, "weekly_panel": {"n": 100},
         "two_cultures": {"n_per_group": 60}}


def _scores(data, codebook):
    """Reverse-scored scale means (missing code -> NaN, out-of-range -> NaN)."""
    d = data.replace(sim.MISSING_CODE, np.nan)
    out = {}
    for name, sp in codebook["scales"].items():
        lo, hi = sp["response_range"]
        x = d[sp["items"]].astype(float)
        x = x.where((x >= lo) & (x <= hi))
        for r in sp["reverse"]:
            x[r] = lo + hi - x[r]
        out[name] = x.mean(axis=1)
    return pd.DataFrame(out)


def _items(data, sp):
    lo, hi = sp["response_range"]
    x = data[sp["items"]].replace(sim.MISSING_CODE, np.nan).astype(float)
    x = x.where((x >= lo) & (x <= hi))
    for r in sp["reverse"]:
        x[r] = lo + hi - x[r]
    return x


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("study", STUDIES)
def test_same_seed_identical_frames_and_csv(study):
    d1, c1, t1 = sim.simulate_study(study, seed=11, **SMALL[study])
    d2, c2, t2 = sim.simulate_study(study, seed=11, **SMALL[study])
    pd.testing.assert_frame_equal(d1, d2)
    assert c1 == c2 and t1 == t2
    assert sim._csv_text(d1) == sim._csv_text(d2)
    d3, _, _ = sim.simulate_study(study, seed=12, **SMALL[study])
    assert not d1.equals(d3)


@pytest.mark.parametrize("study", STUDIES)
def test_bundled_folder_reproduces_from_its_seed(study, tmp_path):
    """The committed data/raw/<study> files are exactly what the generator writes."""
    folder = ROOT / "data" / "raw" / study
    out = sim.write_study(study, tmp_path / study)
    assert (out / "data.csv").read_bytes() == (folder / "data.csv").read_bytes()
    assert yaml.safe_load((out / "codebook.yaml").read_text()) == yaml.safe_load(
        (folder / "codebook.yaml").read_text())
    assert (folder / "data.csv").stat().st_size < 1_000_000
    readme = (folder / "README.md").read_text()
    assert f"python -m efficacy.simulate {study} --seed {sim.DEFAULT_SEEDS[study]}" in readme
    assert "True parameters" in readme


def test_cli_refuses_to_overwrite_unless_forced(tmp_path, capsys):
    out = tmp_path / "two_cultures"
    assert sim.main(["two_cultures", "--seed", "3", "--n", "30", "--out", str(out)]) == 0
    first = (out / "data.csv").read_bytes()
    assert sim.main(["two_cultures", "--seed", "4", "--n", "30", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert (out / "data.csv").read_bytes() == first
    assert sim.main(["two_cultures", "--seed", "4", "--n", "30", "--out", str(out), "--force"]) == 0
    assert (out / "data.csv").read_bytes() != first
    assert "--seed 4 --n 30" in (out / "codebook.yaml").read_text()


# --------------------------------------------------------------------------- codebooks


@pytest.mark.parametrize("study", STUDIES)
def test_codebook_well_formed(study, tmp_path):
    data, cb, truth = sim.simulate_study(study, seed=5, **SMALL[study])
    assert cb["study"] == study
    assert list(cb["variables"]) == list(data.columns), "every column declared, in file order"
    assert cb["variables"][cb["id"]] == {"type": "id"}
    for name, sp in cb["scales"].items():
        assert set(sp["items"]) <= set(data.columns), name
        assert set(sp["reverse"]) <= set(sp["items"]), name
        for it in sp["items"]:
            assert cb["variables"][it]["range"] == sp["response_range"], it
    names = set(cb["scales"]) | set(cb["variables"])
    design = cb.get("design", {})
    for key in ("treatment", "moderator"):
        assert design.get(key) is None or design[key] in names
    for key in ("mediators", "outcomes", "covariates"):
        assert set(design.get(key, [])) <= names
    for measure, cols in cb.get("waves", {}).items():
        assert set(cols) <= names, measure
    for g in cb.get("groups", []):
        assert cb["variables"][g]["type"] == "categorical"
    # the YAML round-trips and passes the project's loader (schema + consistency checks)
    assert yaml.safe_load(sim.codebook_to_yaml(cb)) == cb
    sim.write_study(study, tmp_path / study, seed=5, **SMALL[study])
    loaded = load_codebook(tmp_path / study, allow_outside=True)
    assert loaded.study == study and set(loaded.scales) == set(cb["scales"])


@pytest.mark.parametrize("study", STUDIES)
def test_ranges_respected_apart_from_planted_errors(study):
    data, cb, truth = sim.simulate_study(study, seed=8, **SMALL[study])
    bad = []
    for name, spec in cb["variables"].items():
        col = data[name]
        if "range" in spec:
            v = col[col != sim.MISSING_CODE]
            lo, hi = spec["range"]
            bad += [(name, x) for x in v[(v < lo) | (v > hi)]]
        if "levels" in spec:
            assert set(col[col != sim.MISSING_CODE]) <= set(spec["levels"]), name
    planted = truth["planted"].get("out_of_range", [])
    assert sorted(bad) == sorted((p["variable"], p["value"]) for p in planted)


def test_mastery_trial_planted_problems():
    data, cb, truth = sim.mastery_trial(n=400, seed=3)
    p = truth["planted"]
    assert len(data) == 401
    assert data["pid"].duplicated().sum() == 1
    assert data.loc[data["pid"].duplicated(), "pid"].iloc[0] == p["duplicated_id"]
    assert sorted(data.loc[data["age"] < 18, "pid"].unique()) == p["under_18_ids"]
    assert set(data.loc[data["attention"] != 4, "pid"]) == set(p["attention_failed_ids"])
    items = [it for sp in cb["scales"].values() for it in sp["items"]]
    rate = (data[items] == sim.MISSING_CODE).to_numpy().mean()
    assert 0.01 < rate < 0.03


@pytest.mark.parametrize("study", STUDIES)
def test_no_row_level_identifiers(study):
    from efficacy.cleaning import find_identifier_columns

    data, cb, _ = sim.simulate_study(study, seed=2, **SMALL[study])
    assert find_identifier_columns(data, ignore=[cb["id"]]) == {}
    assert data[cb["id"]].str.fullmatch(r"P\d{4}").all()   # pseudonymous codes only
    assert cb["drop"] == []


# --------------------------------------------------------------------------- building blocks


def test_likert_items_match_expected_means_and_reverse_keying():
    rng = np.random.default_rng(0)
    eta = rng.standard_normal(200_000)
    lam, nu, sig = np.array([0.8, 0.5]), np.array([3.0, 3.6]), 0.6
    x = sim.likert_items(eta, lam, nu, sig, rng, reverse=[False, True])
    assert x.min() >= 1 and x.max() <= 5
    expected = sim.expected_likert_mean(nu, np.sqrt(lam ** 2 + sig ** 2))
    got = np.array([x[:, 0].mean(), 6 - x[:, 1].mean()])
    assert_allclose(got, expected, atol=0.01)
    assert np.corrcoef(eta, x[:, 1])[0, 1] < -0.4          # reversed item reported reversed
    with pytest.raises(ValueError, match="thresholds"):
        sim.likert_items(eta[:5], lam, nu, sig, rng, thresholds=[1.5, 2.5])


def test_bandura_ratings_graded_and_bounded():
    rng = np.random.default_rng(1)
    eta = rng.standard_normal(5000)
    x = sim.bandura_ratings(eta, np.linspace(-1.5, 1.5, 7), rng)
    assert x.min() >= 0 and x.max() <= 100 and np.all(x % 10 == 0)
    assert np.all(np.diff(x.mean(axis=0)) < 0)                # harder tasks, less confidence


def test_ri_clpm_within_person_dynamics_recovered():
    # without random intercepts the within-person VAR(1) is observed directly
    x, y = sim.ri_clpm_waves(100_000, 4, np.random.default_rng(2), ri_sd=(0.0, 0.0))
    assert_allclose(x.var(axis=0), 1.0, atol=0.02)             # stationary unit variances
    assert_allclose(y.var(axis=0), 1.0, atol=0.02)
    X = np.column_stack([x[:, :-1].ravel(), y[:, :-1].ravel(), np.ones(x[:, 1:].size)])
    by = np.linalg.lstsq(X, y[:, 1:].ravel(), rcond=None)[0]
    bx = np.linalg.lstsq(X, x[:, 1:].ravel(), rcond=None)[0]
    assert_allclose(by[:2], [0.25, 0.3], atol=0.01)
    assert_allclose(bx[:2], [0.3, 0.0], atol=0.01)
    # with random intercepts (variance 1, correlation .5): Cov(x_1, y_5) = RI covariance + (A^4 Sigma)[y, x]
    x, y = sim.ri_clpm_waves(100_000, 5, np.random.default_rng(3))
    sigma, _ = sim.stationary_within_covariance(0.3, 0.3, 0.25, 0.0)
    a = np.array([[0.3, 0.0], [0.25, 0.3]])
    expected = 0.5 + (np.linalg.matrix_power(a, 4) @ sigma)[1, 0]
    assert_allclose(np.cov(x[:, 0], y[:, 4])[0, 1], expected, atol=0.02)
    assert_allclose(x.var(axis=0), 2.0, atol=0.05)


def test_missingness_mechanisms():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"age": rng.normal(40, 12, 50_000), "a": 1, "b": 2})
    mcar = sim.add_missing(df, ["a", "b"], 0.05, rng)
    assert_allclose((mcar[["a", "b"]] == sim.MISSING_CODE).to_numpy().mean(), 0.05, atol=0.003)
    mar = sim.add_missing(df, ["a"], 0.1, rng, mechanism="MAR", driver="age", slope=1.0)
    miss = mar["a"] == sim.MISSING_CODE
    assert_allclose(miss.mean(), 0.1, atol=0.005)
    assert df.loc[miss, "age"].mean() > df.loc[~miss, "age"].mean() + 5
    with pytest.raises(ValueError, match="driver"):
        sim.add_missing(df, ["a"], 0.1, rng, mechanism="MAR")
    occ, mask = sim.missing_occasions(df, [["a"], ["b"]], 0.2, rng)
    assert ((occ["a"] == sim.MISSING_CODE) == mask[:, 0]).all()


# --------------------------------------------------------------------------- population truths


def test_mastery_trial_truths_large_n():
    data, cb, truth = sim.mastery_trial(n=6000, seed=21)
    alphas = {name: pg.cronbach_alpha(_items(data, sp))[0] for name, sp in cb["scales"].items()}
    assert 0.50 <= alphas["vicarious"] <= 0.62
    for name in ("efficacy", "outcome_exp", "self_esteem", "mastery", "persuasion", "arousal"):
        assert alphas[name] > 0.75, name
    sc = _scores(data, cb)
    r = sc.corr().loc["efficacy"]
    assert 0.25 < r["outcome_exp"] < 0.45 and 0.15 < r["self_esteem"] < 0.35
    assert r["arousal"] < 0 and r["exercise_tasks"] > 0.8
    # behaviour: total effect 15 minutes, direct effect smaller once efficacy is adjusted
    y, t = data["behavior"], data["treat"]
    total = y[t == 1].mean() - y[t == 0].mean()
    assert abs(total - truth["parameters"]["total_effect_minutes"]) < 4
    X = np.column_stack([np.ones(len(data)), t, sc["exercise_tasks"].fillna(sc["exercise_tasks"].mean())])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert beta[1] < total and beta[2] > 0
    assert (data["adherent"] == (data["behavior"] >= 150)).all()


def test_confounded_survey_truths_large_n():
    data, cb, truth = sim.confounded_survey(n=20_000, seed=22)
    assert "U" not in data.columns and "u" not in data.columns
    y, t = data["behavior"], data["treat"]
    assert abs((y[t == 1].mean() - y[t == 0].mean()) - truth["parameters"]["total_effect_minutes"]) < 2.5
    eff = _scores(data, cb)["efficacy"]
    X = np.column_stack([np.ones(len(data)), t, eff])
    ok = eff.notna()
    beta = np.linalg.lstsq(X[ok], y[ok], rcond=None)[0]
    assert beta[2] > 5            # spurious 'effect' of efficacy through U (causal value is 0)


def test_two_cultures_intercept_shift_recovered_large_n():
    data, cb, truth = sim.two_cultures(n_per_group=20_000, seed=23)
    exp = truth["parameters"]["expected_item_means_raw"]
    items = [f"se{j}" for j in range(1, 7)]
    for g in ("A", "B"):
        x = data.loc[data["culture"] == g, items].replace(sim.MISSING_CODE, np.nan)
        assert_allclose(x.mean().to_numpy(), exp[g], atol=0.03)
    # DIF: item 4 moves up in B while the invariant items move down with the latent mean
    m = data[items + ["culture"]].replace(sim.MISSING_CODE, np.nan).groupby("culture").mean()
    diff = m.loc["B"] - m.loc["A"]
    assert diff["se4"] > 0.4
    assert (diff[["se1", "se2", "se5", "se6"]] < 0).all()
    assert truth["parameters"]["noninvariant_item"] == "se4"


def test_weekly_panel_structure():
    data, cb, truth = sim.weekly_panel(n=300, seed=24)
    assert cb["waves"]["efficacy"] == [f"eff_w{t}" for t in range(1, 6)]
    assert [cb["scales"][f"eff_w{t}"]["wave"] for t in range(1, 6)] == [1, 2, 3, 4, 5]
    beh = data[[f"beh_w{t}" for t in range(1, 6)]]
    miss = beh == sim.MISSING_CODE
    assert 0.02 < miss.to_numpy().mean() < 0.08
    se_w2 = data[[f"se{j}_w2" for j in range(1, 5)]] == sim.MISSING_CODE
    assert (se_w2.all(axis=1) == miss["beh_w2"]).all()        # whole occasions missing
    p = truth["parameters"]
    assert p["within_efficacy_to_behavior"] == 0.25 and p["within_behavior_to_efficacy"] == 0.0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown study 'nope'"):
        sim.simulate_study("nope")
    with pytest.raises(ValueError, match="n >= 40"):
        sim.mastery_trial(n=10)
    with pytest.raises(ValueError, match="dif_item"):
        sim.two_cultures(n_per_group=50, dif_item=9)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        sim.correlated_factor(np.zeros(5) + 1.0, 1.5, 0)
    with pytest.raises(ValueError, match="stationary"):
        sim.stationary_within_covariance(0.9, 0.9, 0.9, 0.9)
