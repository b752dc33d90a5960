"""efficacy.multiverse: the specification grid, one specification against lavaan, the curve test, the
variance decomposition, planted truths, the false-positive rate of the curve test, the workflow target."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_study

from efficacy.codebook import load_codebook
from efficacy.errors import ConfigError
from efficacy.multiverse import (
    Specification,
    _Engine,
    _exclusion_hits,
    _force_null,
    _model_data,
    curve_test,
    exclusion_names,
    multiverse_grids,
    prepare_data,
    run_multiverse,
    run_specification,
    specification_grid,
    variance_decomposition,
)

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"
BIN = Path(sys.executable).parent


# ----------------------------------------------------------------------------- a simulated study
def _codebook(extra_scales=None):
    variables = {"pid": {"type": "id"}, "treat": {"type": "binary", "levels": [0, 1]}, "age": {"type": "numeric"},
                 "attention": {"type": "integer", "range": [1, 5]}, "behavior": {"type": "numeric"}}
    for j in range(1, 5):
        variables[f"se{j}"] = {"type": "numeric"}
    scales = {"efficacy": {"construct": "self_efficacy", "items": ["se1", "se2", "se3", "se4"], "min_items": 3}}
    scales.update(extra_scales or {})
    return {"study": "sim", "data": {"file": "data.csv", "format": "csv"}, "id": "pid", "variables": variables,
            "scales": scales,
            "design": {"treatment": "treat", "mediators": ["efficacy"], "outcomes": ["behavior"],
                       "covariates": ["age"]},
            "exclusions": [{"variable": "attention", "op": "!=", "value": 4, "reason": "failed the attention check"},
                           {"variable": "age", "op": "<", "value": 18, "reason": "younger than 18"}]}


def simulate(rng, n, a, b, *, careless=0.0, noise=2.0):
    """treat -> efficacy (a factor of four items) -> behavior; a share ``careless`` of the rows fail the
    attention check and answer items and outcome at random (sd ``noise``)."""
    x = rng.integers(0, 2, n).astype(float)
    eta = a * x + rng.normal(size=n)
    items = eta[:, None] + rng.normal(scale=0.8, size=(n, 4))
    y = b * eta + rng.normal(size=n)
    att = np.full(n, 4)
    bad = rng.random(n) < careless
    att[bad] = rng.choice([1, 2, 3, 5], int(bad.sum()))
    items[bad] = rng.normal(scale=noise, size=(int(bad.sum()), 4))
    y[bad] = rng.normal(scale=noise, size=int(bad.sum()))
    d = pd.DataFrame({"pid": [f"p{i}" for i in range(n)], "treat": x, "age": rng.normal(35, 10, n).round(1),
                      "attention": att, "behavior": y})
    for j in range(4):
        d[f"se{j + 1}"] = items[:, j]
    d["efficacy"] = d[[f"se{j}" for j in range(1, 5)]].mean(axis=1)
    return d


@pytest.fixture(scope="module")
def sim_codebook(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mv") / "sim"
    data = simulate(np.random.default_rng(0), 30, 0.5, 0.5)
    write_study(folder, _codebook(), data.drop(columns="efficacy").to_csv(index=False))
    return load_codebook(folder)


@pytest.fixture(scope="module")
def mastery():
    cb = load_codebook(ROOT / "data" / "raw" / "mastery_trial")
    return cb, prepare_data(cb)


_OBSERVED = {"scoring": ["mean", "sum"], "estimator": ["ML"], "missing": ["listwise"], "ci": ["percentile"]}


# ----------------------------------------------------------------------------- the grid
def test_grid_defaults_come_from_the_codebook(mastery):
    cb, _ = mastery
    g = specification_grid(cb)
    # 2 rules on/off x scoring (mean, sum, latent) x covariates (none, age) x ML/MLR x listwise/FIML x percentile/BCa
    assert len(g) == 4 * 3 * 2 * 2 * 2 * 2 == 192
    assert list(exclusion_names(cb)) == ["attention", "age"]
    assert g.dimensions["scoring"] == ["mean", "sum", "latent"] and g.dimensions["covariates"] == ["none", "age"]
    assert (g.treatment, g.mediator, g.outcome) == ("treat", "efficacy", "behavior")  # adherent is binary
    assert len(set(g.ids)) == 192 and all(len(i) == 11 for i in g.ids)
    # ids depend on the choices only: a smaller grid's specifications keep their ids
    small = specification_grid(cb, {"dimensions": {"estimator": ["ML"], "ci": ["bca"]}})
    assert set(small.ids) < set(g.ids)
    s = g.specs[5]
    assert Specification.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    frame = g.to_frame()
    assert list(frame.columns[:3]) == ["spec_id", "exclude_attention", "exclude_age"] and len(frame) == 192
    # a plain-variable mediator and no exclusion rules (JOBS II): scoring collapses to the variable itself
    jobs = specification_grid(load_codebook(ROOT / "data" / "raw" / "jobs_ii"))
    assert len(jobs) == 16 and jobs.dimensions["scoring"] == ["mean"]
    assert jobs.dimensions["covariates"] == ["none", "econ_hard+sex+age"] and jobs.outcome == "depress2"
    # studies without a mediation design are left out of the workflow's multiverse
    cbs = {s: load_codebook(ROOT / "data" / "raw" / s) for s in ("mastery_trial", "weekly_panel", "two_cultures")}
    assert list(multiverse_grids(cbs)) == ["mastery_trial"]


@pytest.mark.parametrize("config, message", [
    ({"studies": {"mastery_trial": {"exclusions": ["speeders"]}}}, "has no exclusion rule 'speeders'"),
    ({"dimensions": {"estimator": ["ML", "ULS"]}}, "efficacy.sem has no ULS"),
    ({"dimensions": {"scoring": ["factor"]}}, "unknown scoring"),
    ({"dimensions": {"missing": ["pairwise"]}}, "unknown missing"),
    ({"dimensions": {"covariates": [["efficacy"]]}}, "cannot also be the treatment, mediator or outcome"),
    ({"dimensions": {"covariates": [["gender"]]}}, "covariate must be numeric"),
    ({"dimensions": {"bootstrap": ["bca"]}}, "unknown key 'bootstrap'"),
    ({"studies": {"mastery_trial": {"outcome": "adherent"}}}, "binary outcome"),
    ({"studies": {"weekly_panel": {}}}, "no treatment, mediator and outcome"),
    ({"studies": {"nosuchstudy": {}}}, "not listed under studies"),
])
def test_bad_config_is_a_named_config_error(config, message):
    cbs = {s: load_codebook(ROOT / "data" / "raw" / s) for s in ("mastery_trial", "weekly_panel")}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        multiverse_grids(cbs, config)


def test_exclusion_rules_by_reason_and_none(mastery):
    cb, _ = mastery
    g = specification_grid(cb, {"studies": {"mastery_trial": {"exclusions": ["younger than 18"]}}})
    assert g.dimensions["exclude_age"] == [False, True] and g.dimensions["exclude_attention"] == [False]
    assert len(g) == 96
    assert len(specification_grid(cb, {"dimensions": {"exclusions": []}})) == 48


# ----------------------------------------------------------------------------- one specification vs lavaan
def test_specifications_match_lavaan(mastery):
    """Paths, SEs, delta-method SE of a*b, direct effect and rho against lavaan 0.6.14 (multiverse.R):
    ML and MLR, listwise and FIML, mean, sum and latent scoring, with and without exclusions and age."""
    cb, d = mastery
    ref = json.loads((REF / "multiverse_mastery.json").read_text())
    R = pd.DataFrame(ref["specifications"])
    g = specification_grid(cb, {"dimensions": {"ci": ["percentile"]}})
    keys = ["exclude_attention", "exclude_age", "scoring", "covariates", "missing", "estimator"]
    hits = _exclusion_hits(d, cb)
    # every scoring x missing x estimator combination once (12 of the 96), exclusions and covariates rotating
    chosen = []
    for k, combo in enumerate(itertools.product(("mean", "sum", "latent"), ("listwise", "fiml"), ("ML", "MLR"))):
        cands = [s for s in g.specs if (s.scoring, s.missing, s.estimator) == combo]
        chosen.append(cands[(5 * k) % len(cands)])
    rows = pd.concat([run_specification(d, cb, s, n_boot=0, _hits=hits).to_frame() for s in chosen])
    assert rows[["exclude_attention", "exclude_age", "covariates"]].drop_duplicates().shape[0] == 8
    m = rows.merge(R, on=keys, suffixes=("", "_r"), validate="one_to_one")
    assert len(m) == len(chosen) and (m["n"] == m["n_r"]).all()
    for c in ("a", "a_se", "b", "b_se", "direct", "direct_se", "indirect", "indirect_se"):
        # iterative ML/FIML estimates and their (sandwich) SEs: 1e-4 relative
        np.testing.assert_allclose(m[c], m[f"{c}_r"], rtol=1e-4, err_msg=c)
    np.testing.assert_allclose(m["rho_at_zero"], m["rho_model"], rtol=1e-4)
    assert (m["verdict"] == "robust").all()


def test_rho_is_the_sensitivity_rho(mastery):
    """For an observed mediator with listwise deletion the row's rho is efficacy.mediation.sensitivity's."""
    from efficacy.mediation import sensitivity

    cb, d = mastery
    g = specification_grid(cb, {"dimensions": _OBSERVED})
    s = [s for s in g.specs if s.scoring == "mean" and s.covariates == ("age",) and dict(s.exclusions)["attention"]][0]
    row = run_specification(d, cb, s, n_boot=0).row
    md = _model_data(d, cb, s)
    rho = sensitivity(md.frame, "treat", "efficacy", "__y__", covariates=["age"], n_boot=0).rho_at_zero
    np.testing.assert_allclose(row["rho_at_zero"], rho, rtol=1e-10)


def test_bootstrap_paths_agree_with_the_sem(mastery):
    """The three bootstrap engines (mediate; the batched ML engine for an observed mediator under FIML;
    latent_mediation) refit the same model as the SEM: their full-sample estimates equal the row's."""
    cb, d = mastery
    g = specification_grid(cb, {"dimensions": {"exclusions": [], "covariates": [["age"]], "estimator": ["ML"],
                                               "ci": ["percentile"]}})
    for s in g.specs:
        md = _model_data(d, cb, s)
        eng = _Engine(md.X, md.W, len(md.indicators), md.latent)
        th, conv = eng.fit()
        row = run_specification(d, cb, s, n_boot=0).row
        assert conv
        np.testing.assert_allclose(eng.effects(th[None])[0, [0, 1, 2, 3]],
                                   [row["a"], row["b"], row["direct"], row["indirect"]], rtol=1e-5)
    s = [s for s in g.specs if s.scoring == "sum" and s.missing == "fiml"][0]
    r = run_specification(d, cb, s, n_boot=200, seed=3).row
    assert r["ci_low"] < r["indirect"] < r["ci_high"] and r["direct_ci_low"] < r["direct"] < r["direct_ci_high"]
    assert r["n_boot_failed"] == 0 and r["verdict"] == "robust"


def test_not_estimable_rows_say_why(tmp_path):
    cbd = _codebook({"single": {"construct": "other", "items": ["se4"]}})
    cbd["design"]["mediators"] = ["single"]
    d = simulate(np.random.default_rng(1), 60, 0.5, 0.5, careless=0.0)
    d["single"] = d["se4"]
    cb = load_codebook(write_study(tmp_path / "sim", cbd, d.drop(columns=["efficacy", "single"]).to_csv(index=False)))
    g = specification_grid(cb, {"dimensions": {"scoring": ["mean", "latent"], "estimator": ["ML", "MLM"],
                                               "missing": ["fiml"], "ci": ["percentile"], "covariates": [[]],
                                               "exclusions": []}})
    rows = {(s.scoring, s.estimator): run_specification(d, cb, s, n_boot=0) for s in g.specs}
    assert len(rows) == 4  # every specification has its row
    assert "one-item scale 'single'" in rows[("latent", "ML")].row["reason"]
    assert rows[("latent", "ML")].verdict == "not estimable" and not rows[("latent", "ML")].estimable
    assert "MLM" in rows[("mean", "MLM")].row["reason"] and rows[("mean", "MLM")].verdict == "not estimable"
    assert rows[("mean", "ML")].estimable
    # an exclusion that leaves too few cases
    d2 = d.copy()
    d2.loc[5:, "attention"] = 1
    s = specification_grid(cb, {"dimensions": {"exclusions": ["attention"], "scoring": ["mean"],
                                               "estimator": ["ML"], "missing": ["listwise"], "ci": ["percentile"],
                                               "covariates": [[]]}})
    on = [x for x in s.specs if dict(x.exclusions)["attention"]][0]
    r = run_specification(d2, cb, on, n_boot=0)
    assert r.verdict == "not estimable" and "too few cases: 5 analysed" in r.row["reason"]
    assert r.to_dict()["indirect"] is None and "not estimable" in r.summary()
    # the curve test and the decomposition skip such rows
    tab = pd.concat([run_specification(d2, cb, x, n_boot=0).to_frame() for x in s.specs])
    assert curve_test(d2, cb, tab, n_null=19, seed=1).n_specifications == 1
    bad = replace(on, exclusions=(("speed", True), ("age", False)))
    with pytest.raises(ConfigError, match="no exclusion rule 'speed'"):
        run_specification(d, cb, bad)


# ----------------------------------------------------------------------------- variance decomposition vs R
def test_variance_decomposition_matches_drop1():
    ref = json.loads((REF / "multiverse_mastery.json").read_text())
    tab = pd.DataFrame(ref["specifications"])
    tab = tab[tab["estimator"] == "ML"]
    dims = ["exclude_attention", "exclude_age", "scoring", "covariates", "missing"]
    v = variance_decomposition(tab, dims)
    t = v.to_frame().set_index("dimension")
    for dim, ss in ref["drop1"]["sum_of_sq"].items():  # drop1(lm(...)) "Sum of Sq": deterministic, 1e-8
        np.testing.assert_allclose(t.loc[dim, "ss"], ss, rtol=1e-8, err_msg=dim)
        assert t.loc[dim, "df"] == ref["drop1"]["df"][dim]
    np.testing.assert_allclose(t.loc["interactions", "ss"], ref["drop1"]["rss"], rtol=1e-8)
    np.testing.assert_allclose(t.loc["total", "ss"], ref["drop1"]["total_ss"], rtol=1e-8)
    assert v.leading == "scoring" and 0.6 < v.share("scoring") < 0.7
    assert json.dumps(v.to_dict()) and "scoring" in v.summary()


# ----------------------------------------------------------------------------- planted truths
def test_an_effect_under_every_choice_gives_a_one_sided_curve(sim_codebook, tmp_path):
    cb = sim_codebook
    d = simulate(np.random.default_rng(2), 300, 0.5, 0.5, careless=0.05)
    res = run_multiverse(d, cb, {"dimensions": _OBSERVED}, n_boot=300, n_null=99, seed=4)
    t = res.to_frame()
    assert len(t) == 16 and (t["indirect"] > 0).all() and (t["ci_low"] > 0).all()
    assert (t["verdict"] == "robust").all()
    c = res.curve.to_frame().set_index("quantity")
    assert c.loc["share_dominant_sign", "estimate"] == 1.0 and c.loc["share_significant", "estimate"] == 1.0
    # the smallest p-value 99 resamples can give: no null resample reaches the observed curve, under either null
    assert c.loc["median_estimate", "pvalue"] == pytest.approx(0.01)
    assert c.loc["share_significant", "pvalue"] <= 0.05
    assert "holds across the multiverse" in res.summary()
    assert json.dumps(res.to_dict())
    # the workflow's path: every row written by its own job, read back and aggregated, gives the same result
    from efficacy.io import read_table, write_table
    from efficacy.multiverse import aggregate

    files = []
    for i, row in t.iterrows():
        write_table(t.loc[[i]], tmp_path / f"{row['spec_id']}.csv")
        files.append(read_table(tmp_path / f"{row['spec_id']}.csv"))
    again = aggregate(files, d, cb, n_null=99, seed=4)
    pd.testing.assert_frame_equal(again.curve.to_frame(), res.curve.to_frame())
    assert again.to_frame()["exclude_attention"].dtype == bool and again.summary() == res.summary()


def test_an_effect_only_under_one_exclusion_rule_is_named_by_the_decomposition(sim_codebook):
    cb = sim_codebook
    # half the sample fails the attention check and answers at random (sd 5): with them the effect vanishes
    d = simulate(np.random.default_rng(5), 400, 0.6, 0.6, careless=0.5, noise=5.0)
    res = run_multiverse(d, cb, {"dimensions": _OBSERVED}, n_boot=300, n_null=49, seed=6)
    t = res.to_frame()
    on = t["exclude_attention"]
    assert (t.loc[on, "ci_low"] > 0).all()
    assert ((t.loc[~on, "ci_low"] <= 0) & (t.loc[~on, "ci_high"] >= 0)).all()
    assert set(t.loc[~on, "verdict"]) == {"no evidence"}
    assert res.variance.leading == "exclude_attention" and res.variance.share("exclude_attention") > 0.8
    assert "exclusion rule `attention`" in res.summary() and "depends on the choices" in res.summary()


def test_forcing_the_null_zeroes_the_path(mastery):
    """The null transformations leave the forced path at zero (to 1e-5 of its estimate): one step for an
    observed mediator with complete rows (and the other path untouched), iterated for a latent one with FIML."""
    cb, d = mastery
    g = specification_grid(cb, {"dimensions": {"exclusions": [], "covariates": [["age"]], "estimator": ["ML"],
                                               "ci": ["percentile"], "missing": ["listwise", "fiml"]}})
    for s in g.specs:
        md = _model_data(d, cb, s)
        eng = _Engine(md.X, md.W, len(md.indicators), md.latent)
        th, _ = eng.fit()
        for f, q, other in (("a", eng.spec.ia, eng.spec.ib), ("b", eng.spec.ib, eng.spec.ia)):
            ef, th0, conv, rel = _force_null(eng, th, f)
            assert conv and rel < 1e-5 and abs(th0[q]) < 1e-5 * abs(th[q]), (s.scoring, s.missing, f)
            if not md.latent and s.missing == "listwise":
                np.testing.assert_allclose(th0[other], th[other], rtol=1e-6)


def test_curve_test_false_positive_rate_is_alpha(sim_codebook):
    """Under a true null (the treatment does not move the mediator, a = 0; b = 0.5) the curve test rejects at
    rate alpha. R = 250 simulated studies (n = 150) with a 4-specification multiverse (attention rule on/off x
    covariates none/age), 59 resamples per forced null (p = (1 + #)/(60): exact size 3/60 = 0.05 under
    exchangeability). Monte Carlo tolerance: the rejection count is Binomial(250, 0.05), SE = sqrt(0.05 x 0.95 /
    250) = 0.0138; we accept |rate - 0.05| <= 2.58 SE = 0.0356 (a 99% band). The dominant-sign share of four
    strongly dependent specifications is almost always 100% under the null too, so it can only be conservative:
    its rate must not exceed alpha + 2.58 SE."""
    alpha, R = 0.05, 250
    cb = sim_codebook
    g = specification_grid(cb, {"dimensions": {"exclusions": ["attention"], "scoring": ["mean"], "estimator": ["ML"],
                                               "missing": ["listwise"], "ci": ["percentile"]}})
    rng = np.random.default_rng(20261207)
    rej = np.zeros((R, 3), bool)
    for r in range(R):
        d = simulate(rng, 150, 0.0, 0.5, careless=0.1)
        hits = _exclusion_hits(d, cb)
        rows = [run_specification(d, cb, s, n_boot=0, _hits=hits) for s in g.specs]
        rej[r] = curve_test(d, cb, rows, n_null=59, seed=r).to_frame()["pvalue"].to_numpy() <= alpha
    tol = 2.58 * np.sqrt(alpha * (1 - alpha) / R)
    rate = rej.mean(axis=0)  # median estimate, share significant, share dominant sign
    print("false-positive rates (median, share significant, dominant sign):", rate)
    assert abs(rate[0] - alpha) <= tol, rate
    assert abs(rate[1] - alpha) <= tol, rate
    assert rate[2] <= alpha + tol, rate


# ----------------------------------------------------------------------------- figure and workflow
def test_specification_curve_figure(mastery):
    import matplotlib.pyplot as plt

    from efficacy.errors import PlotError
    from efficacy.plots import specification_curve

    cb, d = mastery
    g = specification_grid(cb, {"dimensions": _OBSERVED})
    tab = pd.concat([run_specification(d, cb, s, n_boot=0).to_frame() for s in g.specs])
    fig = specification_curve(tab, title="mastery_trial")
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert "exclude attention: yes" in labels and "mediator scoring: sum" in labels
    assert not any(lab.startswith("estimator") for lab in labels)  # one level: not drawn
    plt.close(fig)
    with pytest.raises(PlotError, match="no estimable"):
        specification_curve(tab.assign(verdict="not estimable"))


def _run(cmd, cwd):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def test_snakemake_multiverse_dry_run_on_the_bundled_config():
    proc = _run([str(BIN / "snakemake"), "multiverse", "-n"], ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    stats = dict(line.split()[:2] for line in out.splitlines()
                 if line.split()[:1] and line.split()[0].startswith("multiverse") and len(line.split()) == 2)
    assert stats["multiverse_spec"] == "256"  # 192 mastery_trial + 48 confounded_survey + 16 jobs_ii
    assert stats["multiverse_aggregate"] == "3" and stats["multiverse_data"] == "3"
    for study in ("mastery_trial", "confounded_survey", "jobs_ii"):
        assert f"results/{study}/multiverse/specification_curve.png" in out
    assert "results/weekly_panel/multiverse" not in out and "results/two_cultures/multiverse" not in out


def test_bad_multiverse_config_stops_before_the_dag(tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(ROOT / name, proj / name)
    for name in ("workflow", "config", "data"):
        shutil.copytree(ROOT / name, proj / name)
    cfg = yaml.safe_load((proj / "config" / "config.yaml").read_text())
    cfg["multiverse"]["studies"] = {"mastery_trial": {"exclusions": ["attention", "speeders"]}}
    (proj / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _run([str(BIN / "snakemake"), "multiverse", "-n", "--workflow-profile", "none", "--cores", "1"], proj)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "multiverse.studies.mastery_trial.exclusions[1]" in out and "no exclusion rule 'speeders'" in out
    assert not (proj / "results").exists()
