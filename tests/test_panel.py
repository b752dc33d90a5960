"""Tests for efficacy.panel against lavaan and lme4 fixtures (tests/reference/panel.R)."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from numpy.testing import assert_allclose

from efficacy import panel
from efficacy.errors import EfficacyError
from efficacy.errors import DataError
from efficacy.panel import PanelError, within_person

REF = Path(__file__).resolve().parent / "reference"
X4 = [f"x{t}" for t in range(1, 5)]
Y4 = [f"y{t}" for t in range(1, 5)]


def load(name):
    return json.loads((REF / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def log_data():
    return pd.read_csv(REF / "panel_log.csv")


# --------------------------------------------------------------------------- within-person MLM

LME4_CASES = {
    "beh_reml": dict(),
    "beh_ml": dict(reml=False),
    "beh_reml_slope": dict(random_slopes=True),
    "beh_reml_age": dict(covariates=["age"]),
}


@pytest.mark.parametrize("key", sorted(LME4_CASES))
def test_within_person_matches_lme4(log_data, key):
    # R: lme4::lmer(beh ~ eff_lag_within + eff_lag_between + beh_lag_within [+ age]
    #               + (1 [+ eff_lag_within] | person), REML = ...)  (tests/reference/panel.R)
    ref = load("panel_log.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = within_person(log_data, "eff", "beh", cluster="person", time="day", **LME4_CASES[key])
    eff = res.effects[res.effects["outcome"] == "beh"].set_index("term")
    fixed = pd.DataFrame(ref[key]["fixed"])
    fixed["term"] = fixed["term"].replace("(Intercept)", "Intercept")
    fixed = fixed.set_index("term")
    assert list(eff.index) == list(fixed.index)
    assert_allclose(eff["estimate"], fixed["est"], rtol=1e-4)
    assert_allclose(eff["se"], fixed["se"], rtol=1e-4)
    vc_ours = res.variance_components[res.variance_components["outcome"] == "beh"]["estimate"].to_numpy()
    vc_ref = pd.DataFrame(ref[key]["varcomp"])
    # lme4 order: intercept var, [slope var, cov], residual; ours: var(int), [cov, var(slope)], residual
    ref_vals = vc_ref["vcov"].to_numpy()
    if key == "beh_reml_slope":
        ref_vals = ref_vals[[0, 2, 1, 3]]
    assert_allclose(vc_ours, ref_vals, rtol=1e-4)
    assert res.n_obs["beh"] == ref["n_rows"] and res.n_persons["beh"] == ref["n_persons"]


def test_within_person_reverse_direction_matches_lme4(log_data):
    ref = load("panel_log.json")["eff_reml"]
    res = within_person(log_data, "eff", "beh", cluster="person", time="day")
    eff = res.effects[res.effects["outcome"] == "eff"].set_index("term")
    fixed = pd.DataFrame(ref["fixed"]).replace({"term": {"(Intercept)": "Intercept"}}).set_index("term")
    assert_allclose(eff.loc[fixed.index, "estimate"], fixed["est"], rtol=1e-4)
    assert_allclose(eff.loc[fixed.index, "se"], fixed["se"], rtol=1e-4)
    assert res.y_to_x_within == eff.loc["beh_lag_within", "estimate"]
    assert res.y_to_x_between == eff.loc["beh_lag_between", "estimate"]


def _direct_design(d):
    """Lag and centre independently of the library (shift within person, check consecutive days)."""
    d = d.sort_values(["person", "day"]).copy()
    g = d.groupby("person")
    consecutive = g["day"].diff() == 1
    d["xl"] = g["eff"].shift(1).where(consecutive)
    d["yl"] = g["beh"].shift(1).where(consecutive)
    d = d.dropna(subset=["xl", "yl", "beh"])
    d["xb"] = d.groupby("person")["xl"].transform("mean")
    d["xw"] = d["xl"] - d["xb"]
    d["yw"] = d["yl"] - d.groupby("person")["yl"].transform("mean")
    return d


@pytest.mark.parametrize("reml", [True, False])
def test_within_person_matches_mixedlm_directly(log_data, reml):
    # Drop some rows so that lags have gaps and occasions are unequal.
    d = log_data.drop(index=log_data.index[::7]).reset_index(drop=True)
    dd = _direct_design(d)
    direct = smf.mixedlm("beh ~ xw + xb + yw", dd, groups=dd["person"]).fit(reml=reml, method=["lbfgs"])
    res = within_person(d, "eff", "beh", cluster="person", time="day", reml=reml)
    eff = res.effects[res.effects["outcome"] == "beh"]
    assert_allclose(eff["estimate"].to_numpy(), direct.fe_params.to_numpy(), rtol=1e-4)
    assert_allclose(eff["se"].to_numpy(), direct.bse_fe.to_numpy(), rtol=1e-4)
    assert_allclose(res.variance_components.query("outcome == 'beh'")["estimate"].to_numpy(),
                    [float(direct.cov_re.iloc[0, 0]), direct.scale], rtol=1e-4)
    assert res.n_obs["beh"] == len(dd)


def test_within_and_between_can_differ_in_sign(log_data):
    # True model (panel.R): within-person eff_{t-1} -> beh_t is negative (-0.20 per SD of the
    # within part = -0.04 per eff unit), between persons positive (0.5 per 10 eff units = 0.05).
    res = within_person(log_data, "eff", "beh", cluster="person", time="day")
    e = res.effects.set_index(["outcome", "component"])
    w, b = e.loc[("beh", "within")], e.loc[("beh", "between")]
    assert w["ci_high"] < 0 < b["ci_low"]
    assert w["ci_low"] <= -0.04 <= w["ci_high"]
    assert b["ci_low"] <= 0.05 <= b["ci_high"]
    assert res.x_to_y_within < 0 < res.x_to_y_between


def test_single_occasion_person_is_reported(log_data):
    extra = pd.DataFrame({"person": ["solo1", "solo2"], "day": [1, 4], "eff": [50.0, 40.0],
                          "beh": [3.0, 2.0], "age": [30, 40]})
    d = pd.concat([log_data, extra], ignore_index=True)
    with pytest.warns(UserWarning, match="2 person.*single occasion.*solo1"):
        res = within_person(d, "eff", "beh", cluster="person", time="day")
    assert res.n_single_occasion == 2
    assert any("single occasion" in w for w in res.warnings)
    base = within_person(log_data, "eff", "beh", cluster="person", time="day")
    assert_allclose(res.effects["estimate"], base.effects["estimate"], rtol=1e-8)
    with pytest.raises(PanelError, match="single occasion.*solo1"):
        within_person(d, "eff", "beh", cluster="person", time="day", single="raise")


def test_lag_time_versus_previous(log_data):
    # Remove day 3 of one person: lag='time' gives day 4 no lag, lag='previous' uses day 2.
    d = log_data[~((log_data["person"] == "p001") & (log_data["day"] == 3))]
    rt = within_person(d, "eff", "beh", cluster="person", time="day", lag="time")
    rp = within_person(d, "eff", "beh", cluster="person", time="day", lag="previous")
    assert rp.n_obs["beh"] == rt.n_obs["beh"] + 1


def test_within_person_bad_input(log_data):
    dup = pd.concat([log_data, log_data.iloc[[0]]])
    with pytest.raises(PanelError, match="two rows at the same time"):
        within_person(dup, "eff", "beh", cluster="person", time="day")
    frac = log_data.assign(day=log_data["day"] + 0.5 * (log_data.index % 2))
    with pytest.raises(PanelError, match="integer occasion"):
        within_person(frac, "eff", "beh", cluster="person", time="day")
    with pytest.raises(DataError, match="column 'nope': no such column in the data"):
        within_person(log_data, "nope", "beh", cluster="person", time="day")
    with pytest.raises(TypeError, match="use cluster, not person"):
        within_person(log_data, "eff", "beh", person="person", time="day")
    with pytest.raises(EfficacyError, match="same column"):
        within_person(log_data, "eff", "eff", cluster="person", time="day")
    one_each = log_data.groupby("person").head(1)
    with pytest.raises(PanelError, match="too few lagged pairs"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            within_person(one_each, "eff", "beh", cluster="person", time="day")


# --------------------------------------------------------------------------- CLPM / RI-CLPM bad input (no engine needed)


def test_riclpm_needs_three_waves():
    d = pd.DataFrame(np.random.default_rng(1).normal(size=(50, 4)), columns=["x1", "x2", "y1", "y2"])
    with pytest.raises(PanelError, match="riclpm needs at least 3 waves.*found 2 wave"):
        panel.riclpm(d, ["x1", "x2"], ["y1", "y2"])


def test_unequal_wave_counts():
    d = pd.DataFrame(np.random.default_rng(1).normal(size=(50, 7)),
                     columns=["x1", "x2", "x3", "x4", "y1", "y2", "y3"])
    for fn in (panel.clpm, panel.riclpm):
        with pytest.raises(PanelError, match="same waves.*4 x waves.*3 y waves"):
            fn(d, ["x1", "x2", "x3", "x4"], ["y1", "y2", "y3"])


def test_wave_columns_checked():
    d = pd.DataFrame(np.random.default_rng(1).normal(size=(50, 6)), columns=["x1", "x2", "x3", "y1", "y2", "y3"])
    with pytest.raises(PanelError, match="more than once.*x3"):
        panel.riclpm(d, ["x1", "x2", "x3"], ["y1", "y2", "x3"])
    with pytest.raises(DataError, match="column 'y9': no such column in the data"):
        panel.riclpm(d, ["x1", "x2", "x3"], ["y1", "y2", "y9"])
    with pytest.raises(PanelError, match="clash.*RIx"):
        panel.riclpm(d.rename(columns={"x1": "RIx"}), ["RIx", "x2", "x3"], ["y1", "y2", "y3"])
    with pytest.raises(PanelError, match="not numeric.*x2"):
        panel.riclpm(d.assign(x2="a"), ["x1", "x2", "x3"], ["y1", "y2", "y3"])


def test_syntax_is_mulder_hamaker():
    syn = panel.panel_syntax(["x1", "x2", "x3"], ["y1", "y2", "y3"], stationary=True).splitlines()
    assert syn[0] == "RIx =~ 1*x1 + 1*x2 + 1*x3"
    assert "wx2 =~ 1*x2" in syn and "wy3 ~ clxy*wx2 + ary*wy2" in syn
    assert "RIx ~~ RIy" in syn and "wx3 ~~ wy3" in syn
    clpm_syn = panel.panel_syntax(["x1", "x2", "x3"], ["y1", "y2", "y3"], random_intercepts=False)
    assert "RIx ~~ 0*RIx" in clpm_syn and "RIx ~~ 0*RIy" in clpm_syn


# --------------------------------------------------------------------------- CLPM / RI-CLPM vs lavaan

needs_sem = pytest.mark.skipif(importlib.util.find_spec("efficacy.sem") is None,
                               reason="SEM engine (efficacy.sem) not available yet")

FIXTURES = ["panel_sim", "panel_sim_missing"]
MODELS = ["clpm", "clpm_stationary", "riclpm", "riclpm_stationary", "clpm_z", "riclpm_z"]


def fit_model(name, data, missing):
    fn = panel.riclpm if name.startswith("riclpm") else panel.clpm
    return fn(data, X4, Y4, stationary="stationary" in name, covariates=["z"] if name.endswith("_z") else (),
              missing=missing)


@pytest.fixture(scope="module")
def fitted():
    out = {}
    for fx in FIXTURES:
        data = pd.read_csv(REF / f"{fx}.csv")
        missing = "fiml" if fx.endswith("missing") else "listwise"
        for m in MODELS:
            out[fx, m] = fit_model(m, data, missing)
    return out


def ref_estimates(ref_model):
    e = pd.DataFrame(ref_model["estimates"])
    return e.set_index(["lhs", "op", "rhs"])


@needs_sem
@pytest.mark.parametrize("fx", FIXTURES)
@pytest.mark.parametrize("model", MODELS)
def test_fit_matches_lavaan(fitted, fx, model):
    # R: lavaan(syntax, data, meanstructure = TRUE, int.ov.free = TRUE, missing = "listwise"/"ml")
    ref = load(f"{fx}.json")["models"][model]
    res = fitted[fx, model]
    assert res.converged and res.proper
    assert res.fit["df"] == ref["fit"]["df"]
    assert res.n == ref["fit"]["n"]
    for k in ("chisq", "loglik", "aic", "bic", "cfi", "tli", "srmr"):
        assert_allclose(res.fit[k], ref["fit"][k], rtol=1e-3, err_msg=k)
    for k in ("pvalue", "rmsea"):
        assert_allclose(res.fit[k], ref["fit"][k], rtol=1e-3, atol=1e-5, err_msg=k)


@needs_sem
@pytest.mark.parametrize("fx", FIXTURES)
@pytest.mark.parametrize("model", MODELS)
def test_lagged_paths_match_lavaan(fitted, fx, model):
    ref = ref_estimates(load(f"{fx}.json")["models"][model])
    res = fitted[fx, model]
    lag = res.lagged
    assert len(lag) == 4 * 3 and set(lag["direction"]) == {"x->y", "y->x", "x->x", "y->y"}
    keys = [(f"w{r.direction[-1]}{r.to_wave}", "~", f"w{r.direction[0]}{r.from_wave}") for r in lag.itertuples()]
    r = ref.loc[keys]
    assert_allclose(lag["estimate"], r["est"], rtol=1e-3, atol=1e-6)
    assert_allclose(lag["se"], r["se"], rtol=1e-3)
    assert_allclose(lag["std_all"], r["std_all"], rtol=1e-3, atol=1e-6)
    assert_allclose(lag["ci_low"], r["ci_low"], rtol=1e-3, atol=1e-5)
    assert_allclose(lag["ci_high"], r["ci_high"], rtol=1e-3, atol=1e-5)
    # the cross_lagged table has the columns the issue asks for
    cl = res.cross_lagged
    assert {"direction", "from_wave", "to_wave", "estimate", "se", "std_all", "ci_low",
            "ci_high"} <= set(cl.columns)
    assert set(cl["direction"]) == {"x->y", "y->x"} and (cl["to_wave"] == cl["from_wave"] + 1).all()


@needs_sem
@pytest.mark.parametrize("fx", FIXTURES)
@pytest.mark.parametrize("model", ["riclpm", "riclpm_stationary", "riclpm_z", "clpm"])
def test_variance_parts_match_lavaan(fitted, fx, model):
    ref = ref_estimates(load(f"{fx}.json")["models"][model])
    res = fitted[fx, model]
    if model.startswith("riclpm"):
        b = res.between
        keys = [("RIx", "~~", "RIx"), ("RIy", "~~", "RIy"), ("RIx", "~~", "RIy")]
        assert_allclose(b["estimate"], ref.loc[keys, "est"], rtol=1e-3)
        assert_allclose(b["se"], ref.loc[keys, "se"], rtol=1e-3)
        assert_allclose(b["std_all"], ref.loc[keys, "std_all"], rtol=1e-3)
    else:
        assert res.between.empty
    w = res.within_covariances
    keys = [(f"wx{t}", "~~", f"wy{t}") for t in range(1, 5)]
    assert_allclose(w["estimate"], ref.loc[keys, "est"], rtol=1e-3)
    assert_allclose(w["se"], ref.loc[keys, "se"], rtol=1e-3)
    assert_allclose(w["std_all"], ref.loc[keys, "std_all"], rtol=1e-3)


@needs_sem
@pytest.mark.parametrize("fx", FIXTURES)
def test_lrts_match_lavaan(fitted, fx):
    # R: lavTestLRT(riclpm, clpm); lavTestLRT(riclpm, riclpm_stationary)
    lrt = load(f"{fx}.json")["lrt"]
    c = panel.compare_panel_models(fitted[fx, "clpm"], fitted[fx, "riclpm"])
    assert c.df_diff == lrt["riclpm_vs_clpm"]["df_diff"] == 3 and c.boundary
    assert_allclose(c.chisq_diff, lrt["riclpm_vs_clpm"]["chisq_diff"], rtol=1e-3)
    assert_allclose(c.pvalue, lrt["riclpm_vs_clpm"]["pvalue"], rtol=1e-2)
    assert "boundary" in c.note and "conservative" in c.note
    s = panel.stationarity_lrt(fitted[fx, "riclpm"], fitted[fx, "riclpm_stationary"])
    assert s.df_diff == lrt["riclpm_stationary_vs_free"]["df_diff"] == 8 and not s.boundary
    assert_allclose(s.chisq_diff, lrt["riclpm_stationary_vs_free"]["chisq_diff"], rtol=1e-3)
    assert_allclose(s.pvalue, lrt["riclpm_stationary_vs_free"]["pvalue"], rtol=1e-3)
    with pytest.raises(PanelError, match="wrong models"):
        panel.compare_panel_models(fitted[fx, "riclpm"], fitted[fx, "clpm"])
    with pytest.raises(PanelError, match="free and the stationary"):
        panel.stationarity_lrt(fitted[fx, "riclpm_stationary"], fitted[fx, "riclpm"])


@needs_sem
def test_missing_auto_uses_fiml(fitted):
    data = pd.read_csv(REF / "panel_sim_missing.csv")
    res = panel.riclpm(data, X4, Y4)  # missing="auto"
    assert res.missing == "fiml"
    assert_allclose(res.fit["chisq"], fitted["panel_sim_missing", "riclpm"].fit["chisq"], rtol=1e-10)
    lw = panel.riclpm(data, X4, Y4, missing="listwise")
    assert lw.n < res.n and any("listwise deletion dropped" in w for w in lw.warnings)


# --------------------------------------------------------------------------- recovery


def simulate_riclpm(n, waves, *, seed, ar=(0.4, 0.3), cl_xy=0.25, cl_yx=0.0, ri_cov=((1.0, 0.7), (0.7, 1.0))):
    """RI-CLPM data: random intercepts (correlated), stationary within-person VAR(1)."""
    rng = np.random.default_rng(seed)
    ri = rng.multivariate_normal([0, 0], ri_cov, size=n)
    B = np.array([[ar[0], cl_yx], [cl_xy, ar[1]]])
    w = np.empty((waves, n, 2))
    w[0] = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]], size=n)
    for t in range(1, waves):
        w[t] = w[t - 1] @ B.T + rng.multivariate_normal([0, 0], [[0.7, 0.15], [0.15, 0.7]], size=n)
    cols = {}
    for t in range(waves):
        cols[f"x{t + 1}"] = 3 + 0.1 * t + ri[:, 0] + w[t, :, 0]
    for t in range(waves):
        cols[f"y{t + 1}"] = 2 + ri[:, 1] + w[t, :, 1]
    return pd.DataFrame(cols)


@needs_sem
def test_riclpm_recovers_truth_and_clpm_is_biased():
    # Truth: efficacy_t -> behaviour_t+1 = 0.25, behaviour_t -> efficacy_t+1 = 0, AR 0.4 / 0.3,
    # random intercepts correlated 0.7: stable differences that mislead the CLPM.
    d = simulate_riclpm(1500, 5, seed=20261128)
    xs, ys = [f"x{t}" for t in range(1, 6)], [f"y{t}" for t in range(1, 6)]
    ri = panel.riclpm(d, xs, ys, stationary=True)
    cl = panel.clpm(d, xs, ys, stationary=True)
    assert ri.converged and ri.proper and cl.converged
    r = ri.lagged.groupby("direction").first()
    for direc, truth in (("x->y", 0.25), ("y->x", 0.0), ("x->x", 0.4), ("y->y", 0.3)):
        assert r.loc[direc, "ci_low"] <= truth <= r.loc[direc, "ci_high"], direc
    c = cl.lagged.groupby("direction").first()
    # CLPM bias: autoregression inflated by the stable differences, spurious reverse path
    assert c.loc["x->x", "estimate"] > 0.4 + 0.15 and c.loc["y->y", "estimate"] > 0.3 + 0.15
    assert c.loc["y->x", "ci_low"] > 0
    assert r.loc["y->x", "ci_low"] <= 0 <= r.loc["y->x", "ci_high"]
    # random intercepts: variance 1, correlation 0.7 recovered
    b = ri.between.iloc[0]  # RIx ~~ RIx
    assert b["ci_low"] <= 1.0 <= b["ci_high"]
    cov = ri.between.iloc[2]
    assert cov["ci_low"] <= 0.7 <= cov["ci_high"]
    comp = panel.compare_panel_models(cl, ri)
    assert comp.pvalue < 1e-6
    v = panel.temporal_order(ri)
    assert v.temporal_order == "efficacy -> behaviour" and v.x_to_y_sign == "+"
    assert panel.temporal_order(cl).temporal_order == "both"  # the CLPM's misleading verdict


# --------------------------------------------------------------------------- stage


def fake_codebook(waves=5, covariates=()):
    from types import SimpleNamespace

    return SimpleNamespace(
        study="sim_panel", id="pid", path=None,
        waves={"efficacy": [f"x{t}" for t in range(1, waves + 1)],
               "behavior": [f"y{t}" for t in range(1, waves + 1)]},
        design=SimpleNamespace(panel_x="efficacy", panel_y="behavior", covariates=list(covariates)),
        construct_of=lambda name: "self_efficacy" if name.startswith("x") else "behavior",
    )


def to_long(wide, waves):
    parts = [pd.DataFrame({"pid": wide["pid"], "wave": t, "efficacy": wide[f"x{t}"],
                           "behavior": wide[f"y{t}"]}) for t in range(1, waves + 1)]
    return pd.concat(parts, ignore_index=True).sort_values(["pid", "wave"]).reset_index(drop=True)


@needs_sem
def test_run_stage_tables_and_verdict():
    wide = simulate_riclpm(600, 5, seed=7)
    wide.insert(0, "pid", [f"p{i:04d}" for i in range(len(wide))])
    wide.loc[wide.index[::9], "y3"] = np.nan  # some missing values -> FIML
    long = to_long(wide, 5)
    out = panel.run_stage(wide, fake_codebook(), long)
    assert set(out) == {"clpm", "riclpm", "panel_comparison", "within_person", "longitudinal_invariance"}
    comp = out["panel_comparison"]
    assert list(comp["row_type"]) == ["fit"] * 4 + ["test"] * 4 + ["verdict"]
    assert comp["temporal_order"].nunique() == 1
    assert comp["temporal_order"].iloc[0] in panel.TEMPORAL_ORDERS
    assert comp["temporal_order"].iloc[0] == "efficacy -> behaviour"
    assert (out["riclpm"]["missing"] == "fiml").all()
    ri = out["riclpm"]
    assert {"random-intercept variance", "random-intercept covariance", "cross-lagged",
            "autoregressive", "within residual covariance"} <= set(ri["type"])
    wp = out["within_person"]
    assert set(wp["component"]) >= {"within", "between", "autoregressive"}
    # deterministic: same input, same tables
    again = panel.run_stage(wide, fake_codebook(), long)
    for k in out:
        pd.testing.assert_frame_equal(out[k], again[k])


@needs_sem
def test_run_stage_failure_is_a_row():
    wide = simulate_riclpm(200, 2, seed=3)  # two waves: the RI-CLPM cannot be fitted
    wide.insert(0, "pid", range(len(wide)))
    out = panel.run_stage(wide, fake_codebook(waves=2), None)
    ri = out["riclpm"]
    assert ri["reason"].str.contains("at least 3 waves").all()
    comp = out["panel_comparison"]
    assert comp["temporal_order"].isna().all()
    assert "RI-CLPM not available" in comp.iloc[-1]["reason"]
    assert out["within_person"]["reason"].iloc[0].startswith("not run")


# --------------------------------------------------------------------------- the bundled study itself

@pytest.fixture(scope="module")
def bundled_panel():
    from efficacy.cleaning import clean_study

    root = Path(__file__).resolve().parents[1]
    return clean_study(root / "data" / "raw" / "weekly_panel")


def test_within_person_fits_bundled_weekly_panel(bundled_panel):
    """Regression: statsmodels' multi-optimiser fit raised LinAlgError on this study; each
    optimiser is now tried on its own and the one used is reported."""
    long = bundled_panel.long
    r = within_person(long, "efficacy", "behavior", cluster="pid", time="wave")
    assert all(r.converged.values())
    eff = r.effects.set_index(["outcome", "component"])
    lo, hi = eff.loc[("behavior", "within"), ["ci_low", "ci_high"]]
    assert lo > 0  # efficacy_t -> behaviour_t+1 is present in the generating model
    # between-person slope differs from the within-person one (stable differences, r = .5)
    assert eff.loc[("behavior", "between"), "estimate"] > eff.loc[("behavior", "within"), "estimate"]


@pytest.mark.slow
def test_riclpm_recovers_bundled_weekly_panel_and_clpm_is_biased(bundled_panel):
    """data/raw/weekly_panel/README.md: within persons efficacy -> next behaviour (0.25 in latent SD
    units), no behaviour -> efficacy path, random intercepts correlated .5. The RI-CLPM's
    behaviour -> efficacy intervals all cover 0; the CLPM, which mixes the stable differences into
    the lagged paths, finds a spurious behaviour -> efficacy effect."""
    clean = bundled_panel.clean
    xw = [f"eff_w{t}" for t in range(1, 6)]
    yw = [f"beh_w{t}" for t in range(1, 6)]
    ri = panel.riclpm(clean, xw, yw).cross_lagged
    cl = panel.clpm(clean, xw, yw).cross_lagged
    ri_yx = ri[ri["direction"] == "y->x"]
    assert ((ri_yx["ci_low"] < 0) & (ri_yx["ci_high"] > 0)).all()
    cl_yx = cl[cl["direction"] == "y->x"]
    assert ((cl_yx["ci_low"] > 0) | (cl_yx["ci_high"] < 0)).any()
    ri_xy = ri[ri["direction"] == "x->y"]
    assert (ri_xy["estimate"] > 0).all()
    # standardised within-person path near the true 0.25 (attenuated a little by item error)
    assert 0.1 < ri_xy["std_all"].mean() < 0.4
