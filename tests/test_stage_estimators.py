"""The stages pass the codebook's estimator on (issue #18, "Workflow").

Through each ``run_stage`` on small simulated data: the estimator the codebook asks for reaches the
fit (the stage's numbers equal a direct ``cfa(..., estimator=)`` / ``mcdonald_omega(ordinal=True)`` /
``ordinal_alpha`` / ``latent_mediation(estimator=)`` / ``riclpm(estimator=)`` call, which are checked
against lavaan, semTools and psych in their own test files), a declared cluster gives cluster-robust
standard errors, and the summary says in words which estimator was used and why. The robust latent
mediation and panel fits are also compared with lavaan here (tests/reference/stage_estimators.R).
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.codebook import load_codebook
from efficacy.estimator_choice import model_choice, scale_choice, score_choice

REF = Path(__file__).parent / "reference"
LAV = json.loads((REF / "stage_estimators_lavaan.json").read_text(encoding="utf-8"))
RTOL_EST = 1e-4   # iterative estimates and test statistics (the bar of issue #18)
RTOL_SE = 1e-3    # standard errors (the bar of issue #18)


# ----------------------------------------------------------------------------------------------- data
def _simulate(n=300, seed=7, clusters=30):
    """Two 5-category Likert scales (ordinal by default), one 0-100 scale (continuous), a treatment,
    an outcome, a group and a classroom column."""
    rng = np.random.default_rng(seed)
    cls = np.arange(n) % clusters + 1
    u = rng.normal(scale=0.5, size=clusters)[cls - 1]
    treat = rng.integers(0, 2, n)
    eff = 0.5 * treat + u + rng.normal(size=n)
    est = 0.4 * eff + rng.normal(size=n)
    cuts = [-1.5, -0.5, 0.5, 1.5]
    d = {"pid": [f"P{i:04d}" for i in range(n)], "school": cls, "treat": treat,
         "culture": np.where(rng.random(n) < 0.5, "A", "B"), "age": rng.integers(18, 60, n)}
    for j in range(1, 5):
        d[f"se{j}"] = np.digitize(0.8 * eff + rng.normal(scale=0.7, size=n), cuts) + 1
        d[f"rs{j}"] = np.digitize(0.8 * est + rng.normal(scale=0.7, size=n), cuts) + 1
        d[f"ex{j}"] = np.clip(np.round(50 + 15 * eff + rng.normal(scale=10, size=n)), 0, 100)
    d["behavior"] = np.round(0.6 * eff + 0.3 * treat + rng.normal(size=n), 4)
    return pd.DataFrame(d)


def _study(tmp_path, *, cluster=False, se_keys="", name="sim18"):
    """A codebook folder for :func:`_simulate`'s data; returns (clean data with scale scores, codebook)."""
    folder = tmp_path / name
    folder.mkdir(parents=True)
    d = _simulate()
    d.to_csv(folder / "data.csv", index=False)
    items = "\n".join(f"  {p}{j}: {{type: integer, range: [1, 5]}}" for p in ("se", "rs") for j in range(1, 5))
    tasks = "\n".join(f"  ex{j}: {{type: integer, range: [0, 100]}}" for j in range(1, 5))
    yaml = textwrap.dedent(f"""\
        study: {name}
        data: {{file: data.csv, format: csv}}
        id: pid
        variables:
          pid: {{type: id}}
          school: {{type: integer}}
          treat: {{type: binary, levels: [0, 1]}}
          culture: {{type: categorical, levels: [A, B]}}
          age: {{type: numeric}}
          behavior: {{type: numeric}}
        """) + items + "\n" + tasks + "\n" + textwrap.dedent("""\
        scales:
          efficacy:
            construct: self_efficacy
            items: [se1, se2, se3, se4]
            response_range: [1, 5]
        """) + (textwrap.indent(se_keys, "    ") if se_keys else "") + textwrap.dedent("""\
          self_esteem:
            construct: self_esteem
            items: [rs1, rs2, rs3, rs4]
            response_range: [1, 5]
          tasks:
            construct: self_efficacy
            format: bandura
            threshold: 20
            items: [ex1, ex2, ex3, ex4]
        groups: [culture]
        design:
          treatment: treat
          mediators: [efficacy]
          outcomes: [behavior]
          covariates: [age]
        """) + ("cluster: school\n" if cluster else "")
    (folder / "codebook.yaml").write_text(yaml, encoding="utf-8")
    cb = load_codebook(folder)
    for s, sc in cb.scales.items():
        d[s] = d[sc.items].mean(axis=1)
    return d, cb


# ----------------------------------------------------------------------------------------------- choice
def test_choice_from_the_codebook(tmp_path):
    _d, cb = _study(tmp_path)
    ch = scale_choice(cb, "efficacy")
    assert (ch.estimator, ch.ordered, ch.cluster) == ("WLSMV", True, None)
    assert ch.reason == "ordinal: 5 response categories -> WLSMV"
    assert scale_choice(cb, "tasks").estimator == "ML"
    # ordinal and continuous scales in one model: WLSMV, the ordinal scales' items ordered (wls_mixed)
    mixed = model_choice(cb, ["efficacy", "self_esteem", "tasks"])
    assert mixed.estimator == "WLSMV" and "the ordinal scales' items ordered" in mixed.reason
    assert mixed.ordered == ("se1", "se2", "se3", "se4", "rs1", "rs2", "rs3", "rs4")
    assert mixed.kwargs == {"estimator": "WLSMV", "ordered": list(mixed.ordered)}
    # a config model with some of the items: only those ordered
    assert model_choice(cb, ["efficacy", "tasks"], items=["se1", "se2", "se3", "ex1", "ex2"]).ordered == \
        ("se1", "se2", "se3")
    assert model_choice(cb, ["efficacy", "self_esteem"]).estimator == "WLSMV"
    sc = score_choice(cb, ["efficacy", "behavior"])
    assert sc.estimator == "MLR" and "not ordered items" in sc.reason
    assert score_choice(cb, ["tasks", "behavior"]).estimator == "ML"


def test_choice_with_cluster_and_explicit_keys(tmp_path):
    _d, cb = _study(tmp_path, cluster=True, se_keys="ordinal: false\n")
    ch = scale_choice(cb, "efficacy")
    assert (ch.estimator, ch.cluster) == ("MLR", "school")
    assert "cluster `school` declared -> cluster-robust SEs" in ch.reason
    assert "ordinal: false" in ch.reason
    # a model mixing it (continuous here) with the ordinal self_esteem: cluster-robust WLSMV
    mx = model_choice(cb, ["efficacy", "self_esteem"])
    assert (mx.estimator, mx.ordered, mx.cluster) == ("WLSMV", ("rs1", "rs2", "rs3", "rs4"), "school")
    assert "cluster `school` declared -> cluster-robust SEs (WLSMV)" in mx.reason
    assert mx.kwargs == {"estimator": "WLSMV", "ordered": ["rs1", "rs2", "rs3", "rs4"], "cluster": "school"}
    # an ordinal scale in a clustered study stays WLSMV, with cluster-robust SEs (tests/test_wlsmv_cluster.py)
    wl = scale_choice(cb, "self_esteem")
    assert (wl.estimator, wl.ordered, wl.cluster) == ("WLSMV", True, "school")
    assert "cluster-robust SEs (WLSMV)" in wl.reason
    assert score_choice(cb, ["tasks"]).cluster == "school"


# ----------------------------------------------------------------------------------------------- measurement
def test_measurement_stage_uses_the_codebook_estimator(tmp_path):
    from efficacy.measurement import cfa, run_stage

    d, cb = _study(tmp_path)
    out = run_stage(d, cb, parts=["cfa"])
    fit = out["cfa_fit"].set_index("model")
    assert fit.loc["efficacy", "estimator"] == "WLSMV" and fit.loc["efficacy", "test"] == "scaled.shifted"
    assert fit.loc["efficacy", "missing"] == "pairwise"   # the stage's FIML has no WLSMV analogue
    assert fit.loc["tasks", "estimator"] == "ML" and fit.loc["tasks", "test"] == "standard"
    # the joint model mixes the ordinal efficacy / self_esteem items with the continuous tasks items: WLSMV
    assert fit.loc["joint", "estimator"] == "WLSMV" and fit.loc["joint", "test"] == "scaled.shifted"
    assert "the ordinal scales' items ordered" in fit.loc["joint", "estimator_reason"]
    assert fit.loc["joint", "missing"] == "pairwise"
    direct = cfa(d, {"efficacy": cb.scales["efficacy"].items}, estimator="WLSMV", ordered=True, missing="pairwise")
    for k in ("chisq", "chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust", "srmr"):
        assert_allclose(fit.loc["efficacy", k], direct.fit[k], rtol=1e-10)
    ml = cfa(d, {"tasks": cb.scales["tasks"].items}, missing="fiml")
    assert_allclose(fit.loc["tasks", "chisq"], ml.fit["chisq"], rtol=1e-10)
    assert np.isnan(fit.loc["tasks", "chisq.scaled"])
    syntax = "\n".join(f"{s} =~ " + " + ".join(cb.scales[s].items) for s in ("efficacy", "self_esteem", "tasks"))
    mixed = cfa(d, syntax, missing="pairwise", estimator="WLSMV",
                ordered=cb.scales["efficacy"].items + cb.scales["self_esteem"].items)
    for k in ("chisq.scaled", "chisq.scaling.factor", "cfi.scaled", "rmsea.scaled", "srmr"):
        assert_allclose(fit.loc["joint", k], mixed.fit[k], rtol=1e-8)
    est = out["cfa_estimates"]
    assert_allclose(est["se"].to_numpy(float), mixed.estimates["se"].to_numpy(float), rtol=1e-8)
    # invariance of an ordinal scale: the stage passes WLSMV on (the ordinal sequence with a thresholds step)
    inv = run_stage(d, cb, parts=["invariance"], find_partial=False,
                    model="efficacy =~ se1 + se2 + se3 + se4")["invariance_culture"]
    assert (inv["estimator"] == "WLSMV").all() and "thresholds" in set(inv["step"])
    assert inv["estimator_reason"].iloc[0] == "ordinal: 5 response categories -> WLSMV"


def test_measurement_stage_invariance_of_a_mixed_joint_model(tmp_path):
    """The joint model of ordinal and continuous scales: its invariance by WLSMV on mixed moments (pairwise, as
    the stage's FIML becomes), the Wu & Estabrook sequence with a thresholds step; strict constrains the
    continuous indicators' residual variances only, and the row says so."""
    from efficacy.measurement import cfa, run_stage

    d, cb = _study(tmp_path)
    inv = run_stage(d, cb, parts=["invariance"], find_partial=False)["invariance_culture"]
    assert (inv["estimator"] == "WLSMV").all() and list(inv["step"]) == ["configural", "thresholds", "metric",
                                                                          "scalar", "strict"]
    assert "the ordinal scales' items ordered" in inv["estimator_reason"].iloc[0]
    assert "residual variances of the continuous indicators (ex1, ex2, ex3, ex4)" in inv["reason"].iloc[-1]
    syntax = "\n".join(f"{s} =~ " + " + ".join(cb.scales[s].items) for s in ("efficacy", "self_esteem", "tasks"))
    scalar = cfa(d, syntax, group="culture", equal=("thresholds", "loadings", "intercepts"), missing="pairwise",
                 estimator="WLSMV", ordered=cb.scales["efficacy"].items + cb.scales["self_esteem"].items, se=False)
    assert_allclose(inv["chisq_scaled"].iloc[3], scalar.fit["chisq.scaled"], rtol=1e-10)


def test_measurement_stage_cluster_robust(tmp_path):
    from efficacy.measurement import cfa, run_stage
    from efficacy.sem import sem

    d, cb = _study(tmp_path, cluster=True, se_keys="ordinal: false\n")
    out = run_stage(d, cb, parts=["cfa"], model="efficacy =~ se1 + se2 + se3 + se4")
    row = out["cfa_fit"].iloc[0]
    assert row["estimator"] == "MLR" and row["test"] == "yuan.bentler.mplus, cluster = school"
    ref = sem(d, "efficacy =~ se1 + se2 + se3 + se4", auto="cfa", missing="fiml", estimator="MLR",
              cluster="school")
    assert ref.se_type.startswith("robust.cluster")
    est = out["cfa_estimates"]
    assert_allclose(est["se"].to_numpy(float), ref.estimates["se"].to_numpy(float), rtol=1e-10)
    assert_allclose(row["chisq.scaled"], ref.fit["chisq.scaled"], rtol=1e-10)
    # the clustering changes the standard errors (30 classrooms with a random effect)
    plain = cfa(d, "efficacy =~ se1 + se2 + se3 + se4", missing="fiml", estimator="MLR")
    free = plain.estimates["free"] > 0
    assert not np.allclose(est.loc[free.to_numpy(), "se"], plain.estimates.loc[free, "se"], rtol=1e-3)


# ----------------------------------------------------------------------------------------------- reliability
def test_reliability_stage_ordinal_coefficients(tmp_path):
    from efficacy.reliability import mcdonald_omega, run_stage
    from efficacy.sem import ordinal_alpha

    d, cb = _study(tmp_path)
    out = run_stage(d, cb, n_boot=0, flag_on="omega_total")
    rel = out["reliability"]
    eff = rel[(rel["scale"] == "efficacy") & (rel["group"] == "all")].iloc[0]
    items = cb.scales["efficacy"].items
    assert bool(eff["ordinal"]) and eff["estimator"] == "WLSMV"
    assert "ordinal: 5 response categories" in eff["estimator_reason"]
    assert_allclose(eff["omega_ordinal"], mcdonald_omega(d[items], ordinal=True).omega_total, rtol=1e-12)
    assert_allclose(eff["ordinal_alpha"], ordinal_alpha(d[items], missing="listwise").alpha, rtol=1e-12)
    assert_allclose(eff["omega_total"], mcdonald_omega(d[items], n_boot=0).omega_total, rtol=1e-12)
    assert eff["flag_coefficient"] == "omega_ordinal"
    tasks = rel[(rel["scale"] == "tasks") & (rel["group"] == "all")].iloc[0]
    assert not bool(tasks["ordinal"]) and np.isnan(tasks["omega_ordinal"]) and tasks["flag_coefficient"] == "omega_total"
    att = out["attenuation"].set_index(["scale_x", "scale_y"])
    assert_allclose(att.loc[("efficacy", "self_esteem"), "rel_x"], eff["omega_ordinal"], rtol=1e-12)
    assert att.loc[("efficacy", "tasks"), "coefficient"] == "omega_ordinal / omega_total"
    # per group too; with flag_on="alpha" the Pearson alpha flags (ordinal alpha is not a sum-score reliability)
    a = run_stage(d, cb, n_boot=0)["reliability"]
    assert set(a.loc[a["ordinal"].astype(bool), "flag_coefficient"]) == {"alpha"}
    assert a.loc[a["group"] == "culture=A", "omega_ordinal"].notna().sum() == 2


# ----------------------------------------------------------------------------------------------- latent mediation
def _lav(block, label):
    return next(e for e in LAV[block]["estimates"] if e["label"] == label)


@pytest.mark.parametrize("missing, block", [("listwise", "latent_listwise"), ("fiml", "latent_fiml")])
def test_latent_mediation_mlr_matches_lavaan(missing, block):
    from efficacy.mediation.latent import latent_mediation

    d = pd.read_csv(REF / "latent_mastery.csv")
    res = latent_mediation(d, "treat", [f"se{j}" for j in range(1, 7)], "behavior", covariates=["age"],
                           n_boot=0, missing=missing, estimator="MLR")
    assert res.estimator == "MLR" and res.test == "yuan.bentler.mplus"
    t = res.to_frame().query("model == 'latent'").set_index("effect")
    for effect, label in (("a", "a"), ("b", "b"), ("direct", "c"), ("indirect", "ind"), ("total", "tot")):
        ref = _lav(block, label)
        assert_allclose(t.loc[effect, "estimate"], ref["est"], rtol=RTOL_EST)
        assert_allclose(t.loc[effect, "se"], ref["se"], rtol=RTOL_SE)
    for k in ("chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust"):
        assert_allclose(res.fit[k], LAV[block]["fit"][k], rtol=RTOL_EST, atol=1e-8)


def test_latent_mediation_cluster_matches_lavaan():
    from efficacy.mediation.latent import latent_mediation

    d = pd.read_csv(REF / "stage_estimators_classes.csv")
    res = latent_mediation(d, "treat", [f"i{j}" for j in range(1, 6)], "y", n_boot=0, estimator="MLR",
                           cluster="class")
    t = res.to_frame().query("model == 'latent'").set_index("effect")
    assert t["test"].iloc[0] == "yuan.bentler.mplus, cluster = class"
    for effect, label in (("a", "a"), ("b", "b"), ("direct", "c"), ("indirect", "ind"), ("total", "tot")):
        ref = _lav("latent_cluster", label)
        assert_allclose(t.loc[effect, "estimate"], ref["est"], rtol=RTOL_EST)
        assert_allclose(t.loc[effect, "se"], ref["se"], rtol=RTOL_SE)
    assert_allclose(res.fit["chisq.scaled"], LAV["latent_cluster"]["fit"]["chisq.scaled"], rtol=RTOL_EST)


def test_latent_stage_estimator_and_wlsmv_fallback(tmp_path):
    from efficacy.errors import DataError
    from efficacy.mediation.latent import latent_mediation, run_stage

    d, cb = _study(tmp_path)
    # incomplete items: the stage keeps the rows by FIML, which WLSMV cannot, so MLR
    dm = d.copy()
    dm.loc[::17, cb.scales["efficacy"].items[0]] = np.nan
    t = run_stage(dm, cb, n_boot=30, seed=3)["latent_mediation"]
    lat = t[t["model"] == "latent"]
    assert (lat["estimator"] == "MLR").all()
    assert lat["estimator_reason"].str.contains("ordinal: 5 response categories -> WLSMV").all()
    assert lat["estimator_reason"].str.contains("WLSMV has no FIML").all()
    assert lat["estimator_reason"].str.contains("fitted by MLR instead").all()
    direct = latent_mediation(dm, "treat", cb.scales["efficacy"].items, "behavior", covariates=["age"], n_boot=30,
                              seed=3, missing="fiml", mediator_name="efficacy", estimator="MLR")
    ref = direct.to_frame().query("model == 'latent'")
    assert_allclose(lat["se"].to_numpy(float), ref["se"].to_numpy(float), rtol=1e-12)
    # the bootstrap CIs do not depend on the estimator
    ml = latent_mediation(dm, "treat", cb.scales["efficacy"].items, "behavior", covariates=["age"], n_boot=30,
                          seed=3, missing="fiml", mediator_name="efficacy")
    mlf = ml.to_frame().query("model == 'latent'")
    assert_allclose(lat[["estimate", "ci_low", "ci_high"]].to_numpy(float),
                    mlf[["estimate", "ci_low", "ci_high"]].to_numpy(float), rtol=1e-12)
    assert not np.allclose(lat["se"].to_numpy(float)[:5], mlf["se"].to_numpy(float)[:5], rtol=1e-6)
    with pytest.raises(DataError, match="robust estimator"):
        latent_mediation(d, "treat", cb.scales["efficacy"].items, "behavior", cluster="school")
    # with listwise deletion the stage fits WLSMV (tests/test_wlsmv_mixed.py checks it against lavaan)
    tl = run_stage(d, cb, n_boot=30, seed=3, missing="listwise")["latent_mediation"]
    tl = tl[tl["model"] == "latent"]
    assert (tl["estimator"] == "WLSMV").all() and (tl["test"] == "scaled.shifted").all()
    assert tl["estimator_reason"].str.contains("no bootstrap of a WLSMV fit").all()
    wl = latent_mediation(d, "treat", cb.scales["efficacy"].items, "behavior", covariates=["age"], n_boot=30,
                          seed=3, mediator_name="efficacy", estimator="WLSMV").to_frame().query("model == 'latent'")
    assert_allclose(tl[["estimate", "se", "ci_low", "ci_high"]].to_numpy(float),
                    wl[["estimate", "se", "ci_low", "ci_high"]].to_numpy(float), rtol=1e-12)
    # complete data: the stage's FIML is listwise deletion, so it fits WLSMV too (same numbers as listwise)
    assert not d[["treat", *cb.scales["efficacy"].items, "behavior", "age"]].isna().any().any()
    tc = run_stage(d, cb, n_boot=30, seed=3)["latent_mediation"]
    tc = tc[tc["model"] == "latent"]
    assert (tc["estimator"] == "WLSMV").all() and tc["estimator_reason"].str.contains("no missing values").all()
    assert_allclose(tc[["estimate", "se"]].to_numpy(float), tl[["estimate", "se"]].to_numpy(float), rtol=1e-10)
    with pytest.raises(DataError, match="WLSMV has no FIML"):
        latent_mediation(d, "treat", cb.scales["efficacy"].items, "behavior", missing="fiml", estimator="WLSMV")
    # WLSMV with a cluster: the estimates of the WLSMV fit, cluster-robust SEs (the engine's cluster-robust WLSMV
    # with conditional.x is checked against lavaan in tests/test_wlsmv_cluster.py)
    wc = latent_mediation(d, "treat", cb.scales["efficacy"].items, "behavior", covariates=["age"], n_boot=0,
                          mediator_name="efficacy", estimator="WLSMV", cluster="school")
    wcf = wc.to_frame().query("model == 'latent'")
    assert wc.estimator == "WLSMV" and wc.cluster == "school"
    assert (wcf["test"] == "scaled.shifted, cluster = school").all()
    assert_allclose(wcf["estimate"].to_numpy(float), wl["estimate"].to_numpy(float), rtol=1e-10)
    assert not np.allclose(wcf["se"].to_numpy(float)[:5], wl["se"].to_numpy(float)[:5], rtol=1e-3)
    # a declared cluster reaches the fit: complete data, so WLSMV with cluster-robust SEs
    d2, cb2 = _study(tmp_path / "c", cluster=True)
    t2 = run_stage(d2, cb2, n_boot=0)["latent_mediation"]
    lat2 = t2[t2["model"] == "latent"]
    assert lat2["test"].str.endswith("cluster = school").all()
    assert (lat2["estimator"] == "WLSMV").all()


# ----------------------------------------------------------------------------------------------- panel
def _panel_fit(name, res):
    ref = LAV["panel"][name]
    est = {(e["lhs"], e["op"], e["rhs"]): e for e in ref["estimates"]}
    for r in res.cross_lagged.itertuples():
        e = est[(f"w{'x' if r.direction == 'y->x' else 'y'}{r.to_wave}", "~",
                 f"w{'y' if r.direction == 'y->x' else 'x'}{r.from_wave}")]
        assert_allclose(r.estimate, e["est"], rtol=RTOL_EST, atol=1e-6)
        assert_allclose(r.se, e["se"], rtol=RTOL_SE)
    for k in ("chisq", "chisq.scaled", "chisq.scaling.factor"):
        assert_allclose(res.fit[k], ref["fit"][k], rtol=RTOL_EST)


def test_panel_mlr_and_scaled_difference_tests_match_lavaan():
    from efficacy import panel

    p = pd.read_csv(REF / "stage_estimators_panel.csv")
    x, y = [f"eff_w{t}" for t in range(1, 6)], [f"beh_w{t}" for t in range(1, 6)]
    free = panel.riclpm(p, x, y, missing="fiml", estimator="MLR")
    stat = panel.riclpm(p, x, y, missing="fiml", estimator="MLR", stationary=True)
    cl = panel.clpm(p, x, y, missing="fiml", estimator="MLR")
    _panel_fit("riclpm", free)
    _panel_fit("riclpm_stationary", stat)
    t = panel.stationarity_lrt(free, stat)
    ref = LAV["lrt_stationarity"]
    assert_allclose([t.chisq_diff, t.pvalue], [ref["chisq_diff"], ref["pvalue"]], rtol=RTOL_EST)
    assert t.df_diff == ref["df_diff"] and "Satorra-Bentler (2001)" in t.note
    c = panel.compare_panel_models(cl, free)
    ref = LAV["lrt_clpm"]
    assert_allclose(c.chisq_diff, ref["chisq_diff"], rtol=RTOL_EST)
    assert "estimator" in free.to_frame() and (free.to_frame()["estimator"] == "MLR").all()


def test_panel_stage_estimator_from_the_codebook():
    import dataclasses

    from efficacy import panel

    cb = load_codebook(Path(__file__).parents[1] / "data" / "raw" / "weekly_panel")
    p = pd.read_csv(REF / "stage_estimators_panel.csv")
    out = panel.run_stage(p, cb, None, within=False)
    comp = out["panel_comparison"]
    assert (comp["estimator"] == "MLR").all()
    assert "mean scores of ordinal items" in comp["estimator_reason"].iloc[0]
    direct = panel.riclpm(p, cb.waves["efficacy"], cb.waves["behavior"], estimator="MLR")
    ri = out["riclpm"]
    ri = ri[(ri["model"] == "riclpm") & ~ri["stationary"] & (ri["type"] == "cross-lagged")]
    assert_allclose(ri["se"].to_numpy(float), direct.cross_lagged["se"].to_numpy(float), rtol=1e-12)
    # a declared cluster: cluster-robust SEs (a made-up grouping of the persons into 25 clusters)
    p2 = p.assign(site=np.arange(len(p)) % 25)
    cb2 = dataclasses.replace(cb, cluster="site")
    comp2 = panel.run_stage(p2, cb2, None, within=False)["panel_comparison"]
    assert "cluster `site` declared -> cluster-robust SEs" in comp2["estimator_reason"].iloc[0]
    ri2 = panel.run_stage(p2, cb2, None, within=False)["riclpm"]
    assert ri2["estimator"].str.contains("cluster = site").all()
    clus = panel.riclpm(p2, cb.waves["efficacy"], cb.waves["behavior"], estimator="MLR", cluster="site")
    assert clus.engine_result.se_type.startswith("robust.cluster")


# ----------------------------------------------------------------------------------------------- summary
def test_summary_says_which_estimator_and_why(tmp_path):
    from efficacy import reliability
    from efficacy.measurement import run_stage
    from efficacy.mediation import latent
    from efficacy.summary import build_summary

    d, cb = _study(tmp_path / "data")
    res = tmp_path / "results" / "sim18"
    res.mkdir(parents=True)
    tables = {**run_stage(d, cb, parts=["cfa"]), **reliability.run_stage(d, cb, n_boot=0),
              **latent.run_stage(d, cb, n_boot=0)}
    for k, t in tables.items():
        t.to_csv(res / f"{k}.csv", index=False)
    text = build_summary(tmp_path / "results", ["sim18"])
    assert "**Estimators (sim18).**" in text
    assert "- the one-factor CFAs of efficacy, self_esteem: WLSMV (ordinal: 5 response categories -> WLSMV)." in text
    assert "- the joint CFA: WLSMV (ordinal (efficacy, self_esteem) and continuous (tasks) scales in one model -> " \
           "WLSMV, the ordinal scales' items ordered, the others continuous)." in text
    assert "- the one-factor CFA of tasks: ML (bandura-format scale" in text
    assert "- reliability of efficacy, self_esteem: ordinal alpha" in text
    assert "- latent mediation with efficacy as a factor: WLSMV (ordinal: 5 response categories -> WLSMV; no " \
           "missing values, so WLSMV needs no FIML" in text
    assert "| joint | efficacy, self_esteem, tasks | WLSMV |" in text
    # a clustered study: the cluster sentence
    d2, cb2 = _study(tmp_path / "data2", cluster=True, se_keys="ordinal: false\n")
    res2 = tmp_path / "results" / "sim18b"
    res2.mkdir()
    run_stage(d2, cb2, parts=["cfa"])["cfa_fit"].to_csv(res2 / "cfa_fit.csv", index=False)
    text2 = build_summary(tmp_path / "results", ["sim18b"])
    assert "cluster `school` declared -> cluster-robust SEs (MLR)" in text2


def test_stage_tables_are_reproducible(tmp_path):
    """Same data and seed: byte-identical tables (the workflow's reproducibility promise)."""
    from efficacy import reliability
    from efficacy.measurement import run_stage

    d, cb = _study(tmp_path)
    one = run_stage(d, cb, parts=["cfa"])["cfa_fit"].to_csv(index=False)
    two = run_stage(d, cb, parts=["cfa"])["cfa_fit"].to_csv(index=False)
    assert one == two
    r1 = reliability.run_stage(d, cb, n_boot=20, seed=5)["reliability"].to_csv(index=False)
    r2 = reliability.run_stage(d, cb, n_boot=20, seed=5)["reliability"].to_csv(index=False)
    assert r1 == r2
