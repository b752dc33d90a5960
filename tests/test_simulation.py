"""Tests for efficacy.simulation (power analysis of the indirect effect)."""
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import EfficacyError
from efficacy.simulation import _paths, _sums, power_analysis, required_n, simulate_mediation

COLS = ["n", "a", "b", "reliability", "method", "power", "power_mcse", "n_reps"]


def test_paths_match_ols():
    x, m, y = simulate_mediation(60, 0.5, 0.3, 3, seed=0)
    a, se_a, b, se_b = _paths(60, *_sums(x, m, y))
    for r in range(3):
        X = np.column_stack([np.ones(60), x[r]])
        coef, rss, *_ = np.linalg.lstsq(X, m[r], rcond=None)
        cov = rss[0] / 58 * np.linalg.inv(X.T @ X)
        assert_allclose([a[r], se_a[r]], [coef[1], np.sqrt(cov[1, 1])], rtol=1e-10)
        X = np.column_stack([np.ones(60), x[r], m[r]])
        coef, rss, *_ = np.linalg.lstsq(X, y[r], rcond=None)
        cov = rss[0] / 57 * np.linalg.inv(X.T @ X)
        assert_allclose([b[r], se_b[r]], [coef[2], np.sqrt(cov[2, 2])], rtol=1e-10)


def test_columns_mcse_and_determinism():
    d1 = power_analysis([40, 80], 0.39, 0.39, n_reps=40, n_boot=100, seed=3).to_frame()
    d2 = power_analysis([40, 80], 0.39, 0.39, n_reps=40, n_boot=100, seed=3).to_frame()
    assert list(d1.columns) == COLS
    pd.testing.assert_frame_equal(d1, d2)
    assert d1.to_csv(index=False) == d2.to_csv(index=False)
    p = d1["power"].to_numpy()
    assert_allclose(d1["power_mcse"], np.sqrt(p * (1 - p) / 40))


def test_chunking_identical():
    kw = dict(n=50, a=0.3, b=0.3, n_reps=30, n_boot=80, seed=11)
    pd.testing.assert_frame_equal(power_analysis(chunk_size=7, **kw).to_frame(),
                                  power_analysis(chunk_size=30, **kw).to_frame())
    # a Generator seed: its stream decides the cells' streams, reproducibly
    g1, g2 = (power_analysis(seed=np.random.default_rng(4), **{k: v for k, v in kw.items() if k != "seed"})
              for _ in range(2))
    pd.testing.assert_frame_equal(g1.to_frame(), g2.to_frame())


def test_sobel_size_near_alpha_when_a_large():
    # b = 0, a huge: the Sobel test of a*b reduces to the Wald test of b, whose size is alpha
    d = power_analysis(200, 2.0, 0.0, n_reps=2000, n_boot=2, methods=["sobel"], seed=5).to_frame()
    p, se = d["power"].iloc[0], d["power_mcse"].iloc[0]
    assert abs(p - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 2000)


def test_power_increases_with_n_and_falls_with_unreliability():
    d = power_analysis([50, 150], 0.39, 0.39, reliability=[1.0, 0.5], n_reps=150, n_boot=150,
                       methods=["percentile", "montecarlo"], seed=2).to_frame()
    for (rel, mth), g in d.groupby(["reliability", "method"]):
        assert g.sort_values("n")["power"].is_monotonic_increasing
    full = d[d.reliability == 1.0].set_index(["n", "method"])["power"]
    half = d[d.reliability == 0.5].set_index(["n", "method"])["power"]
    assert (full.loc[50] > half.loc[50]).all()


def test_required_n_interpolates_and_na():
    df = pd.DataFrame({"n": [50, 100, 50, 100], "a": 0.3, "b": 0.3, "reliability": 1.0,
                       "method": ["sobel", "sobel", "bca", "bca"], "power": [0.6, 0.9, 0.1, 0.2],
                       "power_mcse": 0.0, "n_reps": 10})
    r = required_n(df).to_frame().set_index("method")["required_n"]
    assert_allclose(r["sobel"], 50 + 0.2 / 0.3 * 50)
    assert np.isnan(r["bca"])


@pytest.mark.parametrize("kw, msg", [(dict(reliability=[1.2]), "reliability=1.2"),
                                     (dict(reliability=[0.0]), "reliability=0.0"),
                                     (dict(n=[3]), "n=3")])
def test_impossible_cell_named(kw, msg):
    args = dict(n=[50], a=0.3, b=0.3, n_reps=5, n_boot=10)
    args.update(kw)
    with pytest.raises(EfficacyError, match=msg):
        power_analysis(**args)


def test_coverage_study_near_nominal():
    from efficacy.simulation import COVERAGE_COLUMNS, coverage_study
    d = coverage_study(n=[200], a=0.39, b=0.39, n_reps=300, n_boot=300, methods=["percentile", "montecarlo"],
                       seed=4).to_frame()
    assert list(d.columns) == COVERAGE_COLUMNS
    ind = d[d.target == "indirect"]
    # 4 MCSE (for 300 reps): a correct interval fails this with probability < 1e-4
    assert (abs(ind["coverage"] - 0.95) < 4 * np.sqrt(0.95 * 0.05 / 300)).all()
    assert (abs(ind["bias"]) < 4 * ind["bias_mcse"]).all()
    t1 = d[d.target == "type1"]
    assert (t1["true_value"] == 0).all()
    assert (t1["rejection_rate"] < 0.05 + 4 * np.sqrt(0.05 * 0.95 / 300)).all()
    assert_allclose(d["coverage_mcse"], np.sqrt(d.coverage * (1 - d.coverage) / 300))


# --- workflow target `snakemake simulation` on a tiny grid, in a copied project ---------------------
def _project(tmp_path, **grid):
    import yaml
    from test_workflow import copy_project
    proj = copy_project(tmp_path / "p")
    cfg = yaml.safe_load((proj / "config" / "config.yaml").read_text())
    cfg["simulation"].update(grid)
    (proj / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return proj


def test_workflow_rejects_impossible_cell(tmp_path):
    from test_workflow import SNAKEMAKE, run
    proj = _project(tmp_path, n=[4, 50])
    proc = run([SNAKEMAKE, "-n", "simulation", "--workflow-profile", "none", "--cores", "1"], proj)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    # the schema bound names the cell; efficacy.simulation.validate_grid (tested above) is the 2nd layer
    assert "['simulation']['n'][0]" in out and "4" in out
    assert not (proj / "results").exists()


def test_workflow_simulation_target(tmp_path):
    from test_workflow import SNAKEMAKE, run
    proj = _project(tmp_path, n=[30, 60], a=[0.5], b=[0.5], reliability=[1.0], n_reps=20, n_boot=50,
                    reps_per_job=10)
    proc = run([SNAKEMAKE, "simulation", "--workflow-profile", "none", "--cores", "1"], proj)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    df = pd.read_csv(proj / "results" / "simulation" / "power.csv")
    assert list(df.columns) == COLS
    assert (df["n_reps"] == 20).all() and len(df) == 2 * 4
    cov = pd.read_csv(proj / "results" / "simulation" / "coverage.csv")
    assert set(cov["target"]) == {"indirect", "type1", "meta_pooled"} and len(cov) == 2 * 2 * 4 + 2 * 2
    assert (proj / "results" / "simulation" / "power_curve.png").stat().st_size > 0
    assert (proj / "results" / "simulation" / "coverage.png").stat().st_size > 0


def test_meta_coverage_matches_random_effects_and_nominal():
    from efficacy.meta import random_effects
    from efficacy.simulation import _dl_pool, meta_coverage
    # the vectorised DL fit equals efficacy.meta.random_effects(method="DL") on one replication
    rng = np.random.default_rng(3)
    vi = 4.0 / np.linspace(20, 200, 8)
    yi = 0.3 + np.sqrt(0.05 + vi) * rng.standard_normal(8)
    est, iv = _dl_pool(yi[None, :], vi[None, :])
    for test, mth in (("z", "DL-z"), ("knha", "DL-knha")):
        ref = random_effects(yi=yi, vi=vi, method="DL", test=test)
        assert_allclose([est[0], iv[mth][0][0], iv[mth][1][0]], [ref.estimate, ref.ci_low, ref.ci_high],
                        rtol=1e-10)
    df = meta_coverage(k=[5, 20], mu=0.3, tau2=0.05, n_reps=4000, seed=11).to_frame()
    kh = df[df.method == "DL-knha"]
    # Knapp-Hartung stays near its level; the z interval undercovers with few studies (IntHout et al. 2014)
    assert (abs(kh["coverage"] - 0.95) < 4 * kh["coverage_mcse"] + 0.01).all()
    z5 = df[(df.method == "DL-z") & (df.n == 5)]["coverage"].iloc[0]
    assert z5 < kh[kh.n == 5]["coverage"].iloc[0]
    assert_allclose(df["coverage_mcse"], np.sqrt(df.coverage * (1 - df.coverage) / 4000))
    assert df.equals(meta_coverage(k=[5, 20], mu=0.3, tau2=0.05, n_reps=4000, seed=11).to_frame())
