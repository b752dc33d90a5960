"""Deterministic quantities held against outside references (issue #24).

Every expected number here comes from R, never from efficacy: ``tests/reference/effect_sizes.R`` ->
``effect_sizes.json`` (metafor::escalc, metafor transf.*, Borenstein et al. 2009 ch. 7 formulas and the
defining formulas of the response indices evaluated in R). Closed forms are compared at 1e-10 relative:
the only error left is floating point, so any wrong constant, divisor or correction fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.cleaning import bandura_scores, generality, intra_individual_variability, longstring
from efficacy.meta import d_to_logor, d_to_r, escalc, logor_to_d, r_to_d, transf

REF = Path(__file__).parent / "reference"
ES = json.loads((REF / "effect_sizes.json").read_text())
RTOL = 1e-10
ROOT = Path(__file__).parents[1]


def _arr(x):
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def _check(ours, ref, what):
    for col in ("yi", "vi"):
        assert_allclose(ours[col].to_numpy(float), _arr(ref[col]), rtol=RTOL, atol=1e-14,
                        err_msg=f"{what} {col}")


# ------------------------------------------------------------------------------------------- escalc
MEANS = ["m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"]


@pytest.mark.parametrize("measure", ["SMD", "MD"])
def test_escalc_means_match_metafor(measure):
    """metafor::escalc(measure, m1i, sd1i, n1i, m2i, sd2i, n2i, data = dat.normand1999)."""
    data = pd.DataFrame(ES["escalc"]["data"]["normand"])
    _check(escalc(data, measure, **{c: c for c in MEANS}), ES["escalc"][measure], measure)


def test_escalc_smd_from_t_matches_metafor():
    """metafor::escalc("SMD", ti, n1i, n2i); an F with one numerator df is t^2 (sign positive)."""
    data = pd.DataFrame(ES["escalc"]["data"]["ttab"])
    _check(escalc(data, "SMD", ti="ti", n1i="n1i", n2i="n2i"), ES["escalc"]["SMD_t"], "SMD from t")
    pos = data["ti"] > 0
    via_f = escalc(data[pos].assign(Fi=data["ti"] ** 2), "SMD", Fi="Fi", n1i="n1i", n2i="n2i")
    assert_allclose(via_f["yi"], _arr(ES["escalc"]["SMD_t"]["yi"])[pos.to_numpy()], rtol=RTOL)


@pytest.mark.parametrize("measure", ["COR", "ZCOR"])
def test_escalc_correlations_match_metafor(measure):
    """metafor::escalc(measure, ri, ni, data = dat.molloy2014)."""
    data = pd.DataFrame(ES["escalc"]["data"]["molloy"])
    _check(escalc(data, measure, ri="ri", ni="ni"), ES["escalc"][measure], measure)


@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_escalc_2x2_match_metafor_on_bcg(measure):
    """metafor::escalc(dat.bcg, measure, ai=tpos, bi=tneg, ci=cpos, di=cneg), and the
    same tables given as (ai, n1i, ci, n2i)."""
    bcg = pd.read_csv(ROOT / "data" / "literature" / "bcg.csv")
    _check(escalc(bcg, measure, ai="tpos", bi="tneg", ci="cpos", di="cneg"), ES["escalc"]["bcg"][measure], measure)
    _check(escalc(measure=measure, ai=bcg["tpos"], n1i=bcg["tpos"] + bcg["tneg"], ci=bcg["cpos"],
                  n2i=bcg["cpos"] + bcg["cneg"]), ES["escalc"]["bcg"][measure + "_n"], measure + " n-form")


@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
@pytest.mark.parametrize("to,add", [("only0", 0.5), ("all", 0.5), ("none", 0.5), ("only0", 1.0)])
def test_escalc_zero_cells_match_metafor(measure, to, add):
    """Zero cells (one zero, a zero row, double zero) under metafor's add/to rules. metafor applies
    the correction to RD as well as to OR and RR; with to = "none" a log ratio of a zero cell is
    +-Inf, which metafor recodes to NA (and so must we)."""
    data = pd.DataFrame(ES["escalc"]["data"]["zero"])
    key = f"{measure}_{to}" + ("_add1" if add == 1.0 else "")
    ours = escalc(data, measure, ai="ai", bi="bi", ci="ci", di="di", to=to, add=add)
    _check(ours, ES["escalc"]["zero"][key], key)


# -------------------------------------------------------------------------------------- conversions
C = ES["conversions"]


def test_d_to_r_matches_borenstein_and_metafor():
    d = np.array(C["d"])
    assert_allclose(d_to_r(d), C["d_to_r_equal"], rtol=RTOL, atol=1e-15)        # eq. 7.5, a = 4
    assert_allclose(d_to_r(d), C["d_to_r_metafor"], rtol=RTOL, atol=1e-15)      # metafor::transf.dtorpb(d)
    assert_allclose(d_to_r(d, C["n1"], C["n2"]), C["d_to_r_n"], rtol=RTOL, atol=1e-15)  # eq. 7.5, a from n


def test_r_to_d_and_log_odds_conversions_match_borenstein():
    assert_allclose(r_to_d(C["r"]), C["r_to_d"], rtol=RTOL, atol=1e-15)          # eq. 7.6
    assert_allclose(d_to_logor(C["d"]), C["d_to_logor"], rtol=RTOL, atol=1e-15)  # eq. 7.2
    assert_allclose(logor_to_d(C["logor"]), C["logor_to_d"], rtol=RTOL, atol=1e-15)  # eq. 7.1


def test_transf_matches_metafor():
    assert_allclose(transf(C["z"], "ZCOR"), C["transf_ZCOR"], rtol=RTOL, atol=1e-15)  # transf.ztor
    assert_allclose(transf(C["logor"], "OR"), C["transf_OR"], rtol=RTOL)              # exp
    assert_allclose(transf(C["logor"], "RR"), C["transf_RR"], rtol=RTOL)
    assert_allclose(transf(C["d"], "SMD"), C["d"], rtol=0)                           # identity


# --------------------------------------------------------------------------------- response indices
def test_longstring_and_irv_match_their_definitions_in_r():
    """longstring (Johnson 2005; Curran 2016) and IRV (Dunn et al. 2018) written out in R."""
    x = _arr(np.ravel(ES["indices"]["responses"])).reshape(len(ES["indices"]["responses"]), -1)
    assert_allclose(longstring(x), _arr(ES["indices"]["longstring"]), rtol=0)
    assert_allclose(intra_individual_variability(x), _arr(ES["indices"]["irv"]), rtol=RTOL, atol=1e-15)


def test_bandura_scores_match_hand_formula_in_r():
    b = ES["bandura"]
    tasks = pd.DataFrame([_arr(row) for row in b["tasks"]])
    res = bandura_scores(tasks, threshold=b["threshold"], min_items=b["min_items"])
    assert_allclose(res["magnitude"], _arr(b["magnitude"]), rtol=0)
    assert_allclose(res["strength"], _arr(b["strength"]), rtol=RTOL)


def test_generality_matches_r():
    """cor(use = "pairwise.complete.obs") and eigen(cor(complete cases))$values[1] / m in R."""
    g = ES["generality"]
    scores = pd.DataFrame([_arr(row) for row in g["scores"]], columns=g["columns"])
    res = generality(scores)
    r = res[res.quantity == "r"]
    assert list(zip(r.scale_1, r.scale_2)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert_allclose(r["value"], g["r"], rtol=RTOL)        # pairs in the order ab, ac, bc
    assert r["n"].tolist() == g["n"]
    share = res[res.quantity == "general_factor_share"].iloc[0]
    assert_allclose(share["value"], g["general_factor_share"], rtol=RTOL)
    assert share["n"] == g["n_complete"]


# ------------------------------------------------------------------- mediation: PROCESS on Tal-Or
TALOR = json.loads((REF / "mediation_talor.json").read_text())


def _lavaan(block, label):
    return next(r for r in TALOR[block].values() if r["label"] == label)


def test_mediate_reproduces_published_process_model4_on_tal_or():
    """Hayes (2018, ch. 3) PROCESS model 4 on Tal-Or et al. (2010), psych::Tal.Or (mediation.R, section 2):
    a = .4765, b = .5064, c = .4957, c' = .2544, ab = .2413 as printed (4 decimals: tolerance 1e-4, the
    rounding of the table is <= 5e-5). The lm() coefficients are matched to 1e-10; lavaan's
    sem(fixed.x = TRUE) is iterative (its estimates differ from lm's by up to 5e-8 relative), so its
    estimates, delta-method SEs and p values are matched to 1e-6 relative."""
    data = pd.read_csv(REF / "mediation_talor_data.csv")
    from efficacy.mediation import mediate

    t = mediate(data, "cond", "pmi", "reaction", n_boot=0).to_frame().set_index("effect")
    pub = TALOR["published_process_model4"]
    ours = {"a": t.loc["a", "estimate"], "b": t.loc["b", "estimate"], "c": t.loc["total", "estimate"],
            "c_prime": t.loc["direct", "estimate"], "ab": t.loc["indirect", "estimate"]}
    for k, v in pub.items():
        assert abs(ours[k] - v) < 1e-4, (k, ours[k], v)
    assert_allclose(ours["a"], TALOR["lm_mediator"]["est"][1], rtol=1e-10)
    assert_allclose([ours["b"], ours["c_prime"]], TALOR["lm_outcome"]["est"][1:], rtol=1e-10)
    assert_allclose(ours["c"], TALOR["lm_total"]["est"][1], rtol=1e-10)
    for eff, label in [("a", "a"), ("b", "b"), ("direct", "cp"), ("indirect", "ind"), ("total", "total")]:
        r = _lavaan("lavaan_model4", label)
        assert_allclose(t.loc[eff, "estimate"], r["est"], rtol=1e-6, err_msg=eff)
        assert_allclose(t.loc[eff, "se"], r["se"], rtol=1e-6, err_msg=eff)
        assert_allclose(t.loc[eff, "pvalue"], r["pvalue"], rtol=1e-6, err_msg=eff)


def test_mediate_montecarlo_ci_matches_semtools():
    """mediate(ci_method = "montecarlo") vs semTools::monteCarloCI (Preacher & Selig 2012) on the lavaan fit of
    the same model, 1e6 R draws (mediation_montecarlo.R -> mediation_montecarlo_talor.json).

    Both draw (a, b, c') from N(estimate, ML delta-method covariance) and take percentiles of a*b and
    c' + a*b. Tolerance for each CI limit = 4 Monte Carlo SEs of the difference of the two quantile
    estimates, sqrt(p (1 - p)) / f(q) * sqrt(1/n_ours + 1/n_R), with f the density of the R draws at the
    quantile (stored in the fixture): 0.0029 and 0.0043 for the indirect effect's limits with
    n_ours = 200,000. The SD of the draws: SE of an SD ~ sd sqrt((kurtosis - 1) / (4 n)) < 0.25% here,
    so 1% relative is > 4 SEs."""
    from efficacy.mediation import mediate

    ref = json.loads((REF / "mediation_montecarlo_talor.json").read_text())
    n_ours, n_ref = 200_000, ref["source"]["n_rep"]
    data = pd.read_csv(REF / "mediation_talor_data.csv")
    t = mediate(data, "cond", "pmi", "reaction", n_boot=n_ours, ci_method="montecarlo", seed=1).to_frame()
    t = t.set_index("effect")
    k = np.sqrt(1 / n_ours + 1 / n_ref)
    for ours, theirs in [("indirect", "ind"), ("total", "total")]:
        r, row = ref["effects"][theirs], t.loc[ours]
        assert_allclose(row["estimate"], r["estimate"], rtol=1e-6)
        for lim, f in zip(("ci_low", "ci_high"), r["density_at_ci"]):
            tol = 4 * np.sqrt(0.025 * 0.975) / f * k
            assert abs(row[lim] - r[lim]) < tol, (ours, lim, row[lim], r[lim], tol)
        assert_allclose(row["boot_se"], r["sd_draws"], rtol=0.01)
