"""Cluster-robust WLSMV (``sem(..., estimator="WLSMV", ordered=True, cluster=)``) against lavaan.

Reference: ``tests/reference/wlsmv_cluster_hs.json`` written by ``tests/reference/wlsmv_cluster.R``:
lavaan's ``cfa(model, hs, ordered = paste0("x", 1:9), estimator = "WLSMV", cluster = "cl")`` on the
HolzingerSwineford1939 items cut into 3-5 categories (``categorical_hs_cut.csv``), with 61 clusters of
5 consecutive rows (``cl = (row - 1) %/% 5 + 1``, the last cluster a single row). lavaan 0.6.14 ignores
``cluster=`` for ordered data (its numbers equal the fit without clusters), so the fixture comes from
lavaan's development version 0.7-2 (GitHub commit 26740e47, "cluster-robust SEs/test for categorical
data"): casewise scores of thresholds and polychorics summed within clusters before the meat, Gamma
times G / (G - 1), the DWLS weight and the estimates unchanged.

Tolerances: estimates 1e-5 absolute (iterative, both converge to 1e-8 gradients); SEs, Gamma and the
scaled test 1e-4 relative. Forgetting the G / (G - 1) factor moves Gamma by 1.7 %, dividing vcov by N
instead of N - 1 moves the SEs by 0.17 %, and the row-level Gamma (lavaan 0.6.14) moves the scaled
chi-square from 206 to 237: each fails these tolerances.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import DataError, SEMError
from efficacy.sem import sem
from efficacy.sem.categorical import polychoric

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "wlsmv_cluster_hs.json").read_text())
ITEMS = [f"x{i}" for i in range(1, 10)]


def _hs():
    hs = pd.read_csv(REF / "categorical_hs_cut.csv")[ITEMS]
    hs["cl"] = np.arange(len(hs)) // 5 + 1   # the R script's rule: 61 clusters of 5 consecutive rows
    return hs


@pytest.fixture(scope="module")
def hs():
    return _hs()


@pytest.fixture(scope="module")
def fits(hs):
    return {"cluster": sem(hs, R["model"], ordered=True, estimator="WLSMV", cluster="cl"),
            "theta": sem(hs, R["model"], ordered=True, estimator="WLSMV", cluster="cl", parameterization="theta"),
            "nocluster": sem(hs, R["model"], ordered=True, estimator="WLSMV")}


def _merged(res, ref):
    e = pd.DataFrame(ref["estimates"])
    m = e.merge(res.estimates[["lhs", "op", "rhs", "estimate", "se"]], on=["lhs", "op", "rhs"], how="left")
    assert m["estimate"].notna().all(), m[m["estimate"].isna()]
    return m


@pytest.mark.parametrize("key", ["cluster", "theta", "nocluster"])
def test_estimates_and_ses_match_lavaan(fits, key):
    ref, res = R["ordered"][key], fits[key]
    assert np.atleast_1d(ref["nclusters"]).tolist() == [61] or key == "nocluster"
    m = _merged(res, ref)
    assert_allclose(m["estimate"], m["est"], atol=1e-5, err_msg=key)
    free = m["se_x"] > 0
    assert_allclose(m.loc[free, "se_y"], m.loc[free, "se_x"], rtol=1e-4, err_msg=key)
    assert res.n == ref["nobs"] and res.converged


@pytest.mark.parametrize("key", ["cluster", "theta", "nocluster"])
def test_scaled_shifted_test_and_fit_measures_match_lavaan(fits, key):
    ref, res = R["ordered"][key], fits[key]
    t = ref["test"]
    assert res.fit["df"] == t["df"] == ref["fit"]["df"]
    assert_allclose(res.fit["chisq.scaled"], t["stat"], rtol=1e-4)
    assert_allclose(res.fit["chisq.scaling.factor"], t["scaling_factor"], rtol=1e-4)
    assert_allclose(res.fit["chisq.shift.parameters"], t["shift_parameter"], rtol=1e-4)
    for k in ["chisq", "baseline.chisq.scaled", "cfi.scaled", "tli.scaled", "rmsea.scaled", "srmr"]:
        assert_allclose(res.fit[k], ref["fit"][k], rtol=1e-4, err_msg=f"{key}: {k}")


def test_cluster_changes_inference_not_estimates(fits):
    a, b = fits["cluster"], fits["nocluster"]
    assert_allclose(a.estimates["estimate"], b.estimates["estimate"], rtol=0, atol=1e-12)
    assert_allclose(a.fit["chisq"], b.fit["chisq"], rtol=1e-12)   # same DWLS weight
    assert abs(a.fit["chisq.scaled"] / b.fit["chisq.scaled"] - 1) > 0.1   # Gamma differs
    assert (a.se_type, a.cluster) == ("robust.cluster.sem", "cl")
    assert (b.se_type, b.cluster) == ("robust.sem", None)
    d = a.to_dict()
    json.dumps(d)


def test_cluster_gamma_diagonal_matches_lavaan(hs):
    ref = R["ordered"]["cluster"]
    pc = polychoric(hs, ITEMS, cluster="cl", missing="listwise")
    assert list(pc.gamma.index) == ref["gamma_names"]
    assert_allclose(np.diag(pc.gamma.to_numpy()), ref["gamma_diag"][0], rtol=1e-6)
    iid = polychoric(hs, ITEMS, missing="listwise")
    assert_allclose(np.diag(iid.gamma.to_numpy()), R["ordered"]["nocluster"]["gamma_diag"][0], rtol=1e-6)
    # estimates and the DWLS weight do not depend on the clusters; the SEs follow Gamma / (N - 1)
    assert_allclose(pc.rho.to_numpy(), iid.rho.to_numpy(), rtol=0, atol=0)
    assert_allclose(pc.wls_v.to_numpy(), iid.wls_v.to_numpy(), rtol=1e-12)
    assert_allclose(pc.gamma_iid.to_numpy(), iid.gamma.to_numpy(), rtol=1e-12)
    n = pc.nobs
    se = pc.pairs["se"].to_numpy()
    assert_allclose(se, np.sqrt(np.diag(pc.gamma.to_numpy())[-len(se):] / (n - 1)), rtol=1e-12)
    assert pc.to_dict()["cluster"] == "cl"


def test_one_cluster_per_row_is_the_row_level_gamma_times_n_over_n_minus_1(hs):
    # clusters of one row: the cluster sums are the rows, so Gamma_cl = Gamma * N / (N - 1)
    d = hs.assign(one=np.arange(len(hs)))
    pc = polychoric(d, ITEMS, cluster="one", missing="listwise")
    iid = polychoric(d, ITEMS, missing="listwise")
    n = len(d)
    assert_allclose(pc.gamma.to_numpy(), iid.gamma.to_numpy() * n / (n - 1), rtol=1e-10, atol=1e-14)


@pytest.fixture(scope="module")
def mixed():
    mx = pd.read_csv(REF / "wlsmv_mixed_hs.csv")
    mx["cl"] = np.arange(len(mx)) // 5 + 1
    return mx, sem(mx, R["model"], ordered=ITEMS[:6], estimator="WLSMV", cluster="cl")


def test_mixed_ordered_and_continuous_matches_lavaan(mixed):
    # x1..x6 ordered, x7..x9 continuous: the influence functions of thresholds, means, variances, polychoric,
    # polyserial and Pearson correlations summed within clusters
    _, res = mixed
    ref = R["mixed"]["cluster"]
    m = _merged(res, ref)
    assert_allclose(m["estimate"], m["est"], atol=1e-5)
    free = m["se_x"] > 0
    assert_allclose(m.loc[free, "se_y"], m.loc[free, "se_x"], rtol=1e-4)
    t = ref["test"]
    assert res.fit["df"] == t["df"]
    assert_allclose(res.fit["chisq.scaled"], t["stat"], rtol=1e-4)
    assert_allclose(res.fit["chisq.scaling.factor"], t["scaling_factor"], rtol=1e-4)
    assert_allclose(res.fit["chisq.shift.parameters"], t["shift_parameter"], rtol=1e-4)
    for k in ["chisq", "baseline.chisq.scaled", "cfi.scaled", "tli.scaled", "rmsea.scaled", "srmr"]:
        assert_allclose(res.fit[k], ref["fit"][k], rtol=1e-4, err_msg=k)
    assert list(res.gamma.index) == ref["gamma_names"]
    assert_allclose(np.diag(res.gamma.to_numpy()), ref["gamma_diag"][0], rtol=1e-6)
    assert (res.se_type, res.cluster) == ("robust.cluster.sem", "cl")


@pytest.mark.parametrize("key", ["mimic", "med"])
def test_exogenous_covariates_conditional_x_match_lavaan(mixed, key):
    # conditional.x = TRUE: the influence functions of thresholds, probit / linear slopes, residual variances and
    # correlations summed within clusters (the latent mediation model of latent_mediation(estimator="WLSMV"))
    mx, _ = mixed
    ref = R["mixed"][key]
    ordered = ITEMS[:6] if key == "mimic" else ITEMS[:3]
    syntax = "\n".join(line for line in R["models"][key].split("\n") if ":=" not in line)   # (:= latent_mediation's)
    res = sem(mx, syntax, ordered=ordered, estimator="WLSMV", cluster="cl")
    e = pd.DataFrame(ref["estimates"])
    m = _merged(res, {"estimates": e[e["op"] != ":="].to_dict("list")})
    assert_allclose(m["estimate"], m["est"], atol=1e-5)
    free = m["se_x"] > 0
    assert_allclose(m.loc[free, "se_y"], m.loc[free, "se_x"], rtol=1e-4)
    t = ref["test"]
    assert res.fit["df"] == t["df"]
    assert_allclose(res.fit["chisq.scaled"], t["stat"], rtol=1e-4)
    assert_allclose(res.fit["chisq.scaling.factor"], t["scaling_factor"], rtol=1e-4)
    assert_allclose(res.fit["chisq.shift.parameters"], t["shift_parameter"], rtol=1e-4)
    assert list(res.gamma.index) == ref["gamma_names"]
    assert_allclose(np.diag(res.gamma.to_numpy()), ref["gamma_diag"][0], rtol=1e-6)


def test_mixed_cluster_keeps_the_estimates_and_weight(mixed):
    mx, res = mixed
    plain = sem(mx, R["model"], ordered=ITEMS[:6], estimator="WLSMV")
    assert_allclose(res.estimates["estimate"], plain.estimates["estimate"], rtol=0, atol=1e-12)
    assert_allclose(res.fit["chisq"], plain.fit["chisq"], rtol=1e-12)
    assert_allclose(res.wls_obs, plain.wls_obs, rtol=0, atol=0)


@pytest.mark.parametrize("missing", ["listwise", "pairwise"])
def test_incomplete_data_clusters_follow_the_rows_kept(missing):
    # psych's bfi A1-A5, C1-C5 with their NA, 100 clusters of 10 consecutive rows: listwise deletion drops 74
    # rows, pairwise keeps all; each row keeps its own cluster. Pairwise: a missing score counts 0 in the cluster
    # sums, as in the row-level Gamma; lavaan 0.7's rowsum() turns such a cluster sum into NA and its crossprod
    # drops it (a cluster with one missing answer leaves Gamma), so the reference is lavaan's own muthen1984()
    # scores and bread with NA scores set to 0, given to cfa(NACOV =) (see tests/reference/wlsmv_cluster.R)
    bfi = pd.read_csv(REF / "categorical_bfi.csv")
    bfi["cl"] = np.arange(len(bfi)) // 10 + 1
    ref = R["bfi"]["pairwise_na_zero" if missing == "pairwise" else missing]
    res = sem(bfi, R["bfi"]["model"], ordered=True, estimator="WLSMV", cluster="cl", missing=missing)
    assert res.n == ref["nobs"] and np.atleast_1d(ref["nclusters"]).tolist() == [100]
    m = _merged(res, ref)
    assert_allclose(m["estimate"], m["est"], atol=1e-5)
    free = m["se_x"] > 0
    assert_allclose(m.loc[free, "se_y"], m.loc[free, "se_x"], rtol=1e-4)
    t = ref["test"]
    assert_allclose(res.fit["chisq.scaled"], t["stat"], rtol=1e-4)
    assert_allclose(res.fit["chisq.scaling.factor"], t["scaling_factor"], rtol=1e-4)
    assert_allclose(res.fit["chisq.shift.parameters"], t["shift_parameter"], rtol=1e-4)
    for k in ["chisq", "cfi.scaled", "tli.scaled", "rmsea.scaled"]:
        assert_allclose(res.fit[k], ref["fit"][k], rtol=1e-4, err_msg=f"{missing}: {k}")
    if missing == "pairwise":   # lavaan's own (NA-dropping) cluster sums: same estimates, other SEs
        raw = _merged(res, R["bfi"]["pairwise"])
        assert_allclose(raw["estimate"], raw["est"], atol=1e-5)
        assert np.all(raw.loc[free, "se_y"] > raw.loc[free, "se_x"])


MG_CASES = {"configural": ((), ()), "scalar": (("thresholds", "loadings", "intercepts"), ())}


@pytest.fixture(scope="module")
def mg_fits(hs):
    d = hs.assign(school=pd.read_csv(REF / "sem_hs1939.csv")["school"])
    return {k: sem(d, R["model"], auto="cfa", ordered=True, estimator="WLSMV", group="school", equal=eq,
                   partial=pa, cluster="cl") for k, (eq, pa) in MG_CASES.items()}


@pytest.mark.parametrize("key", sorted(MG_CASES))
def test_multigroup_matches_lavaan(mg_fits, key):
    # each school's Gamma from its own clusters (32 and 30: the cluster of rows 156-160 is split by school),
    # times G_g / (G_g - 1); the scalar model is measEq.syntax's Wu & Estabrook (2016) one (std.lv there, markers
    # here: the same fit, so compare the fit, the test and the thresholds)
    ref, res = R["groups"][key], mg_fits[key]
    assert ref["nclusters"] == [32, 30]
    t = ref["test"]
    assert res.fit["df"] == t["df"] == ref["fit"]["df"] and res.fit["npar"] == ref["fit"]["npar"]
    assert_allclose(res.fit["chisq.scaled"], t["stat"], rtol=1e-4)
    assert_allclose(res.fit["chisq.scaling.factor"], t["scaling_factor"], rtol=1e-4)
    assert_allclose(res.fit["chisq.shift.parameters"], t["shift_parameter"], rtol=1e-4)
    for k in ["chisq", "baseline.chisq.scaled", "cfi.scaled", "tli.scaled", "rmsea.scaled", "srmr"]:
        assert_allclose(res.fit[k], ref["fit"][k], rtol=1e-4, err_msg=f"{key}: {k}")
    e = pd.DataFrame(ref["estimates"])
    e = e[(e["op"] == "|") | (key == "configural")]   # scalar: the thresholds only (identification differs)
    m = e.merge(res.estimates[["lhs", "op", "rhs", "group", "estimate", "se"]], on=["lhs", "op", "rhs", "group"],
                how="left")
    assert len(m) and m["estimate"].notna().all()
    # lavaan's optimiser stops the constrained scalar fit about 1e-5 from the optimum (the same estimates as
    # without clusters; tests/test_sem_wlsmv.py uses 1e-4 there too): 1e-4 absolute, SEs 1e-3 relative
    assert_allclose(m["estimate"], m["est"], atol=1e-4)
    free = m["se_x"] > 0
    assert_allclose(m.loc[free, "se_y"], m.loc[free, "se_x"], rtol=1e-4 if key == "configural" else 1e-3)
    assert (res.se_type, res.cluster) == ("robust.cluster.sem", "cl")


def test_multigroup_difference_test_matches_lavaan(mg_fits):
    # lavTestLRT's default for WLSMV (satorra.2000) between the clustered configural and scalar fits: the
    # cluster-robust Gamma enters through U Gamma
    from efficacy.sem.lrt import lrt_difference

    ref = R["groups"]["lrt"]
    out = lrt_difference(mg_fits["configural"], mg_fits["scalar"])
    assert out["delta_df"] == ref["df_diff"]
    assert_allclose(out["delta_chisq"], ref["chisq_diff"], rtol=1e-4)
    assert_allclose(out["pvalue"], ref["pvalue"], rtol=1e-3)


def test_bad_cluster_input_is_a_named_error(hs):
    with pytest.raises(SEMError, match="at least two clusters"):
        sem(hs.assign(cl=1), R["model"], ordered=True, estimator="WLSMV", cluster="cl")
    with pytest.raises(SEMError, match="cluster column not in the data"):
        sem(hs, R["model"], ordered=True, estimator="WLSMV", cluster="classroom")
    bad = hs.astype({"cl": float})
    bad.loc[3, "cl"] = np.nan
    with pytest.raises(SEMError, match="missing values in the cluster column"):
        sem(bad, R["model"], ordered=True, estimator="WLSMV", cluster="cl")
    with pytest.raises(DataError, match="at least two clusters"):   # a group with one cluster
        sem(hs.assign(g=np.where(np.arange(len(hs)) < 150, "a", "b"), cl=np.where(np.arange(len(hs)) < 150, 1,
            hs["cl"])), R["model"], ordered=True, estimator="WLSMV", cluster="cl", group="g")
    with pytest.raises(DataError, match="at least two clusters"):
        polychoric(hs.assign(cl=7), ITEMS, cluster="cl")
    with pytest.raises(DataError, match="cluster column not in the data"):
        polychoric(hs, ITEMS, cluster="nope")
