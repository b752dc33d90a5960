"""efficacy.measurement vs semTools::htmt (tests/reference/measurement_holzinger.json,
written by tests/reference/measurement.R)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.measurement import htmt

REF = json.loads((Path(__file__).parent / "reference" / "measurement_holzinger.json").read_text())


@pytest.fixture(scope="module")
def hs():
    return pd.DataFrame(REF["data"])


@pytest.mark.parametrize("method,key", [("geometric", "htmt2"), ("arithmetic", "htmt")])
def test_htmt_matches_semtools(hs, method, key):
    res = htmt(hs, REF["scales"], method=method)
    assert_allclose(res.estimate.to_numpy(), np.array(REF[key]), rtol=1e-6)


def test_htmt_bootstrap_deterministic_and_covers(hs):
    a = htmt(hs, REF["scales"], n_boot=300, seed=3).to_frame()
    b = htmt(hs, REF["scales"], n_boot=300, seed=3).to_frame()
    pd.testing.assert_frame_equal(a, b)
    assert (a.ci_low < a.estimate).all() and (a.estimate < a.ci_high).all()


def test_htmt_bad_input(hs):
    with pytest.raises(ValueError, match="nope"):
        htmt(hs, {"a": ["x1", "nope"], "b": ["x4", "x5"]})


# The simple-structure CFA of these tests once had its own fitter (``cfa_fit``: BFGS, numerical
# gradient, no SEs); it is gone (issue #23) and every CFA goes through the SEM engine via ``cfa``.
# On these data cfa_fit and cfa agreed to 2e-13 (chisq, cfi, aic) and 6e-7 (loadings, its BFGS
# stopping rule); cfa is the one checked against lavaan here, at a tighter tolerance than before.
def test_cfa_simple_structure_matches_lavaan(hs):
    from efficacy.measurement import cfa

    ref = json.loads((Path(__file__).parent / "reference" / "measurement_cfa_holzinger.json").read_text())["fit"]
    res = cfa(hs, REF["scales"])
    assert res.converged and res.proper
    for k in ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"]:
        assert_allclose(res.fit[k], ref[k], rtol=1e-6, err_msg=k)
    assert res.sem.fit["npar"] == ref["npar"]
    assert_allclose(res.fit["baseline_chisq"], ref["baseline.chisq"], rtol=1e-6)
    assert_allclose(res.fit["loglik"], -(ref["aic"] - 2 * ref["npar"]) / 2, rtol=1e-6)


def test_cfa_loadings_match_lavaan(hs):
    from efficacy.measurement import cfa

    ref = json.loads((Path(__file__).parent / "reference" / "measurement_cfa_holzinger.json").read_text())
    est = cfa(hs, REF["scales"]).estimates.set_index(["lhs", "op", "rhs"])["estimate"]
    for row in ref["loadings"]:
        assert_allclose(est[(row["lhs"], "=~", row["rhs"])], row["est"], rtol=1e-5, err_msg=row["rhs"])


def test_cfa_bad_column(hs):
    from efficacy.measurement import cfa

    with pytest.raises(ValueError, match="zz"):
        cfa(hs, {"a": ["x1", "x2", "zz"], "b": ["x4", "x5", "x6"]})


def test_ave_and_factor_correlations_match_semtools(hs):
    from efficacy.measurement import discriminant_validity

    ref = json.loads((Path(__file__).parent / "reference" / "measurement_ave_holzinger.json").read_text())
    res = discriminant_validity(hs, REF["scales"], n_boot=0)
    for k, v in ref["ave"].items():
        assert_allclose(res.ave[k], v, rtol=1e-5, err_msg=k)
    r = np.array(ref["factor_cor"])
    assert_allclose(res.factor_cor.loc[list(REF["scales"]), list(REF["scales"])].to_numpy(), r, rtol=1e-5)


# --------------------------------------------------------------------------- issue #4: cfa / invariance
# Fixtures written by tests/reference/measurement.R (lavaan 0.6-14, semTools 0.5-6); tolerance rel 1e-3.
REFDIR = Path(__file__).parent / "reference"
HS_SCALES = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}


def _ref(name):
    return json.loads((REFDIR / name).read_text())


@pytest.fixture(scope="module")
def hs_school():
    return pd.read_csv(REFDIR / "measurement_hs1939.csv")


def _check_fit(fit, ref, keys=None):
    from efficacy.measurement import FIT_KEYS

    assert list(fit) == list(FIT_KEYS)
    for k in keys or FIT_KEYS:
        assert_allclose(fit[k], ref[k], rtol=1e-3, atol=1e-6, err_msg=k)


def _check_estimates(est, ref_rows):
    ref = pd.DataFrame(ref_rows)
    ref = ref[ref.op.isin(["=~", "~", "~~", "~1"])].rename(columns={"est": "estimate"})  # lavaan's est
    m = ref.merge(est, on=["lhs", "op", "rhs", "group"], how="left", suffixes=("_r", ""))
    assert m["estimate"].notna().all()
    assert_allclose(m["estimate"], m["estimate_r"], rtol=1e-3, atol=1e-5)
    assert_allclose(m["se"], m["se_r"], rtol=2e-3, atol=1e-5)
    assert_allclose(m["std_all"], m["std_all_r"], rtol=1e-3, atol=1e-5)
    assert_allclose(m["ci_low"], m["ci.lower"], rtol=2e-3, atol=1e-4)


def test_cfa_full_matches_lavaan(hs_school):
    from efficacy.measurement import cfa

    ref = _ref("measurement_cfa_full_holzinger.json")
    res = cfa(hs_school, ref["source"]["model"])
    assert res.converged and res.proper and res.reason == ""
    _check_fit(res.fit, ref["fit"])
    _check_estimates(res.to_frame(), ref["estimates"])
    assert "chisq=85.306" in repr(res)
    assert res.fit_frame().shape[0] == 1
    # the scales-dict form is the same model
    assert_allclose(cfa(hs_school, HS_SCALES).fit["chisq"], ref["fit"]["chisq"], rtol=1e-6)


def test_modindices_match_lavaan(hs_school):
    from efficacy.measurement import cfa

    ref = _ref("measurement_cfa_full_holzinger.json")
    mi = cfa(hs_school, HS_SCALES).modindices()
    r = pd.DataFrame(ref["modindices"])
    assert len(mi) == len(r) == 54
    m = r.merge(mi, on=["lhs", "op", "rhs"], how="outer", suffixes=("_r", ""))
    assert m.notna().all().all()
    assert_allclose(m["mi"], m["mi_r"], rtol=1e-3, atol=1e-4)
    assert_allclose(m["epc"], m["epc_r"], rtol=1e-3, atol=1e-4)
    assert_allclose(m["sepc_all"], m["sepc.all"], rtol=1e-3, atol=1e-4)


def test_modindices_fiml_match_lavaan():
    """FIML modification indices use the observed information (lavaan missing = "ml"); before the analytic
    information they came from a finite-difference Hessian."""
    from efficacy.measurement import cfa

    ref = _ref("modindices_fiml_holzinger.json")
    d = pd.read_csv(REFDIR / "measurement_hs_missing.csv")
    mi = cfa(d, HS_SCALES, missing="fiml").modindices()
    r = pd.DataFrame(ref["modindices"])
    m = r.merge(mi, on=["lhs", "op", "rhs"], how="left", suffixes=("_r", ""))
    assert len(r) > 30 and m["mi"].notna().all()
    assert_allclose(m["mi"], m["mi_r"], rtol=1e-4, atol=1e-5)
    assert_allclose(m["epc"], m["epc_r"], rtol=1e-4, atol=1e-6)
    assert_allclose(m["sepc_all"], m["sepc.all"], rtol=1e-4, atol=1e-6)


def test_cfa_fiml_matches_lavaan():
    from efficacy.measurement import cfa

    ref = _ref("measurement_fiml_holzinger.json")
    d = pd.read_csv(REFDIR / "measurement_hs_missing.csv")
    assert d[[f"x{i}" for i in range(1, 10)]].isna().any().all()
    res = cfa(d, HS_SCALES, missing="fiml")
    assert res.converged and res.proper
    _check_fit(res.fit, ref["fit"])
    _check_estimates(res.to_frame(), ref["estimates"])


def test_political_democracy_matches_lavaan():
    from efficacy.measurement import cfa

    ref = _ref("measurement_poldem.json")
    res = cfa(pd.DataFrame(ref["data"]), ref["source"]["model"])
    assert_allclose([res.fit["chisq"], res.fit["df"]], [38.125, 35], rtol=1e-3)  # issue #4's numbers
    _check_fit(res.fit, ref["fit"])
    _check_estimates(res.to_frame(), ref["estimates"])


def test_invariance_matches_lavaan(hs_school):
    from efficacy.measurement import INVARIANCE_COLUMNS, invariance

    ref = _ref("measurement_invariance_holzinger.json")
    # Chen's (2007) "and" rule (the default before issue #18 made delta CFI alone the default)
    res = invariance(hs_school, HS_SCALES, "school", cutoffs={"combine": "and"})
    tab = res.to_frame()
    assert res.highest == "strict" and res.group == "school"
    assert list(tab.columns) == INVARIANCE_COLUMNS
    assert list(tab.step) == ["configural", "metric", "scalar", "strict"]
    assert_allclose(tab.chisq, [115.851, 124.044, 164.103, 181.511], rtol=1e-3)  # issue #4's numbers
    assert list(tab.df) == [48, 54, 60, 69]
    for i, step in enumerate(ref["steps"]):
        for k in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
            assert_allclose(tab[k].iloc[i], ref["fit"][step][k], rtol=1e-3, err_msg=f"{step} {k}")
    assert_allclose(tab.delta_chisq.iloc[1:], ref["lrt"]["chisq_diff"][1:], rtol=1e-3)
    assert_allclose(tab.delta_df.iloc[1:], ref["lrt"]["df_diff"][1:])
    assert_allclose(tab.lrt_pvalue.iloc[1:], ref["lrt"]["pvalue"][1:], rtol=1e-3)
    # Chen (2007), "and" rule: scalar delta CFI -.038 but delta RMSEA .0145 < .015 -> not flagged
    assert list(tab.decision) == ["reference", "invariant", "invariant", "invariant"]
    assert tab.converged.all() and tab.proper.all()


def test_invariance_partial_scalar_frees_x3_x7(hs_school):
    """CFI-only rule: scalar fails on HS1939; freeing intercepts one at a time finds x3 and x7
    (the classic result; matches the lavaan fit cfa(..., group.partial = c('x3 ~ 1', 'x7 ~ 1')))."""
    from efficacy.measurement import invariance

    ref = _ref("measurement_invariance_holzinger.json")["partial_scalar"]["fit"]
    res = invariance(hs_school, HS_SCALES, "school", cutoffs={"combine": "cfi"})
    tab = res.to_frame()
    assert res.highest == "strict" and res.decisions["scalar"] == "not invariant"
    assert list(tab.step) == ["configural", "metric", "scalar", "partial_scalar", "strict"]
    assert tab.decision.iloc[2] == "not invariant"
    part = tab.iloc[3]
    assert part.freed == "x3 ~ 1, x7 ~ 1" and part.decision == "invariant"
    for k in ("chisq", "df", "cfi", "rmsea", "srmr", "aic", "bic"):
        assert_allclose(part[k], ref[k], rtol=1e-3, err_msg=k)
    assert tab.freed.iloc[4] == "x3 ~ 1, x7 ~ 1"


def test_invariance_bad_input(hs_school):
    from efficacy.errors import DataError
    from efficacy.measurement import invariance

    with pytest.raises(DataError, match="column 'nogroup': no such column"):
        invariance(hs_school, HS_SCALES, "nogroup")
    with pytest.raises(ValueError, match="step"):
        invariance(hs_school, HS_SCALES, "school", levels=("configural", "weak"))


def test_discriminant_validity_matches_lavaan_semtools(hs_school):
    from efficacy.measurement import DISCRIMINANT_COLUMNS, discriminant_validity

    ref = _ref("measurement_discriminant_holzinger.json")["pairs"]
    ave_ref = _ref("measurement_ave_holzinger.json")
    res = discriminant_validity(hs_school, HS_SCALES, n_boot=200, seed=5)
    tab = res.to_frame()
    assert list(tab.columns) == DISCRIMINANT_COLUMNS
    r = pd.DataFrame(ref)
    assert list(tab.scale_1) == list(r.scale_1) and list(tab.scale_2) == list(r.scale_2)
    for k in ("chisq_free", "chisq_fixed", "delta_chisq", "delta_df"):
        assert_allclose(tab[k], r[k], rtol=1e-3, err_msg=k)
    assert_allclose(np.log(tab.pvalue), np.log(r.pvalue), rtol=1e-3)
    for k, v in ave_ref["ave"].items():  # semTools::AVE
        assert_allclose(res.ave[k], v, rtol=1e-3, err_msg=k)
    fc = np.array(ave_ref["factor_cor"])
    assert_allclose(tab.factor_cor, [fc[0, 1], fc[0, 2], fc[1, 2]], rtol=1e-3)
    h2 = np.array(REF["htmt2"])  # semTools::htmt(htmt2 = TRUE)
    assert_allclose(tab.htmt, [h2[0, 1], h2[0, 2], h2[1, 2]], rtol=1e-6)
    assert (tab.htmt_ci_low < tab.htmt).all() and (tab.htmt < tab.htmt_ci_high).all()
    assert tab.fornell_larcker.all() and tab.converged.all()
    pd.testing.assert_frame_equal(tab, discriminant_validity(hs_school, HS_SCALES, n_boot=200, seed=5).to_frame())


def test_discriminant_validity_flags_indistinct_scales():
    """Two halves of one factor: HTMT near 1, correlation-1 model not rejected."""
    rng = np.random.default_rng(11)
    n = 400
    f = rng.normal(size=n)
    d = pd.DataFrame({f"y{i}": 0.8 * f + 0.6 * rng.normal(size=n) for i in range(6)})
    from efficacy.measurement import discriminant_validity

    tab = discriminant_validity(d, {"a": ["y0", "y1", "y2"], "b": ["y3", "y4", "y5"]}, n_boot=100, seed=1).to_frame()
    assert tab.htmt.iloc[0] > 0.9 and tab.htmt_ci_high.iloc[0] > 0.95
    assert tab.pvalue.iloc[0] > 0.01 and not tab.fornell_larcker.iloc[0]


def test_run_stage_two_cultures_finds_planted_item():
    """data/raw/two_cultures README: se4's intercept is shifted in culture B (uniform DIF)."""
    from efficacy.codebook import load_codebook
    from efficacy.measurement import run_stage

    root = Path(__file__).parents[1]
    cb = load_codebook(root / "data" / "raw" / "two_cultures")
    clean = _two_cultures_clean(root)
    out = run_stage(clean, cb, n_boot=50, seed=1, missing="listwise")
    assert set(out) == {"cfa_fit", "cfa_estimates", "discriminant", "invariance_culture"}
    inv = out["invariance_culture"]
    # the 5- and 4-category items are ordinal by the codebook's default (issue #18): the stage runs the ordinal
    # sequence (WLSMV, Wu & Estabrook 2016 thresholds step; strict fitted under the theta parameterisation)
    assert (inv.estimator == "WLSMV").all()
    assert list(inv.step) == ["configural", "thresholds", "metric", "scalar", "partial_scalar", "strict"]
    step = inv.set_index("step")
    assert step.loc["scalar", "decision"] == "not invariant"
    assert step.loc["partial_scalar", "freed"] == "se4 ~ 1" and step.loc["partial_scalar", "decision"] == "invariant"
    assert out["cfa_fit"].converged.all()
    assert list(out["discriminant"][["scale_1", "scale_2"]].iloc[0]) == ["efficacy", "self_esteem"]


def _two_cultures_clean(root):
    from efficacy.cleaning import clean_study

    return clean_study(root / "data" / "raw" / "two_cultures").clean


# ----------------------------------------------------------------- optimiser and the bundled studies (issue #4)


def test_poorly_scaled_items_give_lavaan_fit_and_rescaled_estimates(hs_school):
    """0-100-like items (x1-x3 times 100, x4 times 0.01): same chi-square as lavaan; loadings rescale exactly."""
    from efficacy.measurement import cfa

    ref = _ref("measurement_cfa_full_holzinger.json")
    d = hs_school.copy()
    d[["x1", "x2", "x3"]] *= 100.0
    d["x4"] *= 0.01
    res = cfa(d, ref["source"]["model"])
    assert res.converged and res.proper
    _check_fit(res.fit, ref["fit"], keys=["chisq", "df", "cfi", "tli", "rmsea", "srmr"])
    base = cfa(hs_school, ref["source"]["model"]).estimates.set_index(["lhs", "op", "rhs"])
    est = res.estimates.set_index(["lhs", "op", "rhs"])
    assert_allclose(est.loc[("visual", "~~", "visual"), "estimate"],
                    1e4 * base.loc[("visual", "~~", "visual"), "estimate"],
                    rtol=1e-6)
    assert_allclose(est.loc[("textual", "=~", "x5"), "estimate"], 100 * base.loc[("textual", "=~", "x5"), "estimate"],
                    rtol=1e-6)
    assert_allclose(est["std_all"], base.loc[est.index, "std_all"], rtol=1e-6, atol=1e-9)


def test_se_false_gives_the_same_fit_without_standard_errors(hs_school):
    from efficacy.measurement import cfa

    full = cfa(hs_school, HS_SCALES, missing="fiml")
    quick = cfa(hs_school, HS_SCALES, missing="fiml", se=False)
    assert quick.converged and quick.proper
    assert_allclose([quick.fit[k] for k in ("chisq", "cfi", "rmsea", "loglik")],
                    [full.fit[k] for k in ("chisq", "cfi", "rmsea", "loglik")], rtol=1e-10)
    assert_allclose(quick.estimates["estimate"], full.estimates["estimate"], rtol=1e-10, atol=1e-12)
    free = quick.estimates["free"] > 0
    assert quick.estimates.loc[free, "se"].isna().all() and full.estimates.loc[free, "se"].gt(0).all()


def _bundled_clean(study):
    from efficacy.cleaning import clean_study

    return clean_study(Path(__file__).parents[1] / "data" / "raw" / study).clean


@pytest.mark.parametrize("study", [pytest.param("mastery_trial", marks=pytest.mark.slow), "confounded_survey",
                                   "weekly_panel", "two_cultures", "jobs_ii"])
def test_run_stage_default_settings_on_every_bundled_study(study):
    """Default stage settings (FIML, joint CFA up to 60 items) on each study: every table, no exception,
    every fitted model converged; the 44-item 9-factor joint CFA of mastery_trial is fitted, not skipped."""
    from efficacy.codebook import load_codebook
    from efficacy.measurement import CFA_FIT_COLUMNS, DISCRIMINANT_COLUMNS, INVARIANCE_COLUMNS, run_stage

    root = Path(__file__).parents[1]
    cb = load_codebook(root / "data" / "raw" / study)
    out = run_stage(_bundled_clean(study), cb, n_boot=20, seed=1)
    assert set(out) == {"cfa_fit", "cfa_estimates", "discriminant"} | {f"invariance_{g}" for g in cb.groups}
    fit = out["cfa_fit"]
    assert list(fit.columns) == CFA_FIT_COLUMNS
    assert list(out["discriminant"].columns[:2]) == ["scale_1", "scale_2"]
    assert set(DISCRIMINANT_COLUMNS) <= set(out["discriminant"].columns)
    multi = [s for s, sc in cb.scales.items() if len(sc.items) >= 3]
    if not multi:  # jobs_ii: single-item measures only -> one row saying why
        assert fit.shape[0] == 1 and not fit.converged[0] and "at least 3 items" in fit.reason[0]
        return
    assert list(fit.model) == ["joint", *multi]
    assert fit.converged.all(), fit.reason.tolist()
    joint = out["cfa_estimates"]
    assert (joint.model == "joint").all() and joint.shape[0] > 0
    for g in cb.groups:
        inv = out[f"invariance_{g}"]
        # the stage adds which estimator the invariance fits used, and why (issue #18)
        assert list(inv.columns) == ["group", *INVARIANCE_COLUMNS, "estimator", "estimator_reason"]
        assert inv.converged.all()


def test_run_stage_fiml_finds_planted_item_and_cap_row():
    """With the stage defaults (FIML) the two_cultures scalar step fails and freeing se4 ~ 1 restores fit;
    a joint model above max_joint_items is a row with the reason, the one-factor CFAs still run."""
    from efficacy.codebook import load_codebook
    from efficacy.measurement import run_stage

    root = Path(__file__).parents[1]
    cb = load_codebook(root / "data" / "raw" / "two_cultures")
    clean = _bundled_clean("two_cultures")
    inv = run_stage(clean, cb, parts=["invariance"], seed=1)["invariance_culture"]
    # ordinal items (issue #18): WLSMV on pairwise polychoric correlations instead of FIML; same planted item
    assert (inv.estimator == "WLSMV").all()
    step = inv.set_index("step")
    assert step.loc["scalar", "decision"] == "not invariant"
    assert step.loc["partial_scalar", "freed"] == "se4 ~ 1" and step.loc["partial_scalar", "decision"] == "invariant"
    capped = run_stage(clean, cb, parts=["cfa"], max_joint_items=5)
    fit = capped["cfa_fit"]
    assert fit.model[0] == "joint" and not fit.converged[0] and "max_joint_items (5)" in fit.reason[0]
    assert fit.converged[1:].all() and capped["cfa_estimates"].empty
