"""Subgroup analyses: efficacy.meta.univariate.subgroup, the workflow's ``subgroup:`` key and the
subgrouped forest plot, against metafor 3.8 on the BCG trials by allocation (random, alternate,
systematic).

Fixture: ``tests/reference/meta_subgroup_methods_bcg.json`` from ``tests/reference/meta_subgroup_methods.R``:
``rma(yi, vi, subset = alloc == g, method, test)`` per level and
``rma(yi, vi, mods = ~ factor(alloc), method, test)$QM`` for the test of subgroup differences, with
convergence thresholds of 1e-13, so REML agrees to 1e-6 relative and DL (closed form) to 1e-9.
"""

import json
from pathlib import Path

import matplotlib.pyplot as plt  # the backend is Agg (conftest sets MPLBACKEND)
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.meta import escalc, random_effects, run_analysis, subgroup
from efficacy.plots import render_stage_figure, stage_figure, subgroup_forest_plot

REF = Path(__file__).parent / "reference"
ROOT = Path(__file__).parents[1]
FIX = json.loads((REF / "meta_subgroup_methods_bcg.json").read_text())
BCG = pd.read_csv(ROOT / "data" / "literature" / "bcg.csv")
SPEC = {"name": "bcg", "measure": "RR", "columns": {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"},
        "label": "author", "order": "year", "subgroup": "alloc"}


@pytest.fixture(scope="module")
def es():
    d = escalc(BCG, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    assert_allclose(d["yi"], FIX["data"]["yi"], rtol=1e-12)  # the same effect sizes as R
    return d


@pytest.mark.parametrize("key", list(FIX["fits"]))
def test_subgroup_matches_metafor(es, key):
    ref = FIX["fits"][key]
    rtol = 1e-6 if ref["method"] == "REML" else 1e-9
    sg = subgroup(es, "yi", "vi", "alloc", method=ref["method"], test=ref["test"]).to_frame().set_index("group")
    for lev in ref["levels"]:
        row = sg.loc[lev["group"]]
        assert row["k"] == lev["k"]
        for col in ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "pi_low", "pi_high", "I2", "Q",
                    "Q_pval"):  # the fixture's Q_pval is our Q_pvalue
            ours = "Q_pvalue" if col == "Q_pval" else col
            assert_allclose(row[ours], lev[col], rtol=rtol, err_msg=f"{lev['group']} {col}")
        assert_allclose(row["tau2"], lev["tau2"], rtol=rtol, atol=1e-12)
        assert row["Q_df"] == lev["Q_df"]
    b, rb = sg.loc["between"], ref["between"]
    assert_allclose([b["Q"], b["Q_pvalue"], b["tau2"]], [rb["QM"], rb["QMp"], rb["tau2"]], rtol=rtol)
    assert b["Q_df"] == rb["QMdf"][0] and b["k"] == rb["k"]
    if ref["test"] == "knha":
        assert b["Q_df2"] == rb["QMdf"][1]
    else:
        assert np.isnan(b["Q_df2"])


def test_single_study_level_is_its_own_estimate(es):
    d = es.copy()
    d.loc[d.index[0], "alloc"] = "lonely"
    sg = subgroup(d, "yi", "vi", "alloc").to_frame().set_index("group")
    row = sg.loc["lonely"]
    assert row["k"] == 1 and row["tau2"] == 0.0 and "k = 1" in row["reason"]
    assert_allclose([row["estimate"], row["se"]], [d["yi"].iloc[0], np.sqrt(d["vi"].iloc[0])])
    m = random_effects(d, "yi", "vi", mods=["alloc"])
    assert_allclose(sg.loc["between", "Q"], m.QM)


def test_run_analysis_writes_the_subgroup_table(es):
    ref = FIX["fits"]["REML_z"]
    out = run_analysis(SPEC, {"input": BCG})
    sg = out["subgroup"]
    assert list(sg["group"]) == ["alternate", "random", "systematic", "between"]
    assert (sg["analysis"] == "bcg").all() and (sg["subgroup"] == "alloc").all()
    per = sg.set_index("group")
    for lev in ref["levels"]:
        assert_allclose(per.loc[lev["group"], ["estimate", "ci_low", "ci_high"]].astype(float),
                        [lev["estimate"], lev["ci_low"], lev["ci_high"]], rtol=1e-6)
        assert_allclose(per.loc[lev["group"], "estimate_transf"], np.exp(lev["estimate"]), rtol=1e-6)
    assert_allclose(per.loc["between", "Q"], ref["between"]["QM"], rtol=1e-6)
    assert per.loc["between", "test"] == "QM chi2" and np.isnan(per.loc["between", "estimate_transf"])
    assert list(out["studies"]["alloc"].iloc[:13]) == list(BCG["alloc"])
    # Knapp-Hartung: F test for the subgroup differences
    kh = run_analysis(dict(SPEC, test="knha"), {"input": BCG})["subgroup"].set_index("group")
    assert_allclose(kh.loc["between", "Q"], FIX["fits"]["REML_knha"]["between"]["QM"], rtol=1e-6)
    assert kh.loc["between", "test"] == "QM F" and kh.loc["between", "Q_df2"] == 10


def test_run_analysis_subgroup_reasons():
    out = run_analysis({k: v for k, v in SPEC.items() if k != "subgroup"}, {"input": BCG})
    assert "no subgroup configured" in out["subgroup"]["reason"].iloc[0]
    out = run_analysis(dict(SPEC, subgroup="region"), {"input": BCG})
    assert "'region' not in the table" in out["subgroup"]["reason"].iloc[0]
    one = BCG.assign(alloc="random")
    out = run_analysis(SPEC, {"input": one})
    assert "fewer than two levels" in out["subgroup"]["reason"].iloc[0]
    # the other tables are unchanged by the subgroup key
    plain = run_analysis({k: v for k, v in SPEC.items() if k != "subgroup"}, {"input": BCG})
    withsg = run_analysis(SPEC, {"input": BCG})
    pd.testing.assert_frame_equal(plain["summary"], withsg["summary"])


def _not_blank(path):
    img = plt.imread(path)
    assert img.shape[0] > 100 and (img[..., :3] < 0.95).any(axis=-1).mean() > 0.005


def test_subgroup_forest_plot(tmp_path):
    out = run_analysis(SPEC, {"input": BCG})
    fig = subgroup_forest_plot(out["studies"], out["subgroup"], out["summary"], group="alloc")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"alternate (k = 2)", "random (k = 7)", "systematic (k = 4)"} <= set(texts)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels.count("RE model, subgroup") == 3 and labels.count("RE model, all studies") == 1
    assert set(BCG["author"]) <= set(labels)
    notes = " ".join(a.get_text() for a in fig.axes[0].texts if "subgroup differences" in a.get_text())
    assert f"Q_M(2) = {FIX['fits']['REML_z']['between']['QM']:.2f}" in notes
    plt.close(fig)
    # the workflow's figure kind, from the CSV files
    paths = {}
    for key in ("studies", "summary", "subgroup"):
        paths[key] = tmp_path / f"{key}.csv"
        out[key].to_csv(paths[key], index=False)
    res = render_stage_figure("subgroup_forest", paths, tmp_path / "subgroup_forest")
    assert res["placeholder"] is None
    _not_blank(res["png"])
    # no subgroup configured: a placeholder saying why
    none = run_analysis({k: v for k, v in SPEC.items() if k != "subgroup"}, {"input": BCG})
    none["subgroup"].to_csv(paths["subgroup"], index=False)
    res = render_stage_figure("subgroup_forest", paths, tmp_path / "none")
    assert "no subgroup configured" in res["placeholder"]


def test_subgroup_forest_with_a_meta_regression_summary_has_no_overall_diamond():
    out = run_analysis(dict(SPEC, moderators=["ablat"]), {"input": BCG})
    fig = stage_figure("subgroup_forest", {k: out[k] for k in ("studies", "summary", "subgroup")})
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "RE model, all studies" not in labels and labels.count("RE model, subgroup") == 3
    plt.close(fig)
