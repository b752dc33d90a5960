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
    assert (a.ci_low < a.htmt).all() and (a.htmt < a.ci_high).all()


def test_htmt_bad_input(hs):
    with pytest.raises(ValueError, match="nope"):
        htmt(hs, {"a": ["x1", "nope"], "b": ["x4", "x5"]})


def test_cfa_fit_matches_lavaan(hs):
    from efficacy.measurement import cfa_fit

    ref = json.loads((Path(__file__).parent / "reference" / "measurement_cfa_holzinger.json").read_text())["fit"]
    res = cfa_fit(hs, REF["scales"])
    assert res.converged and res.proper
    for k in ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "npar"]:
        assert_allclose(res.fit[k], ref[k], rtol=1e-3, err_msg=k)
    assert_allclose(res.fit["baseline_chisq"], ref["baseline.chisq"], rtol=1e-3)
    assert_allclose(res.fit["loglik"], -(ref["aic"] - 2 * ref["npar"]) / 2, rtol=1e-3)


def test_cfa_loadings_match_lavaan(hs):
    from efficacy.measurement import cfa_fit

    ref = json.loads((Path(__file__).parent / "reference" / "measurement_cfa_holzinger.json").read_text())
    L = cfa_fit(hs, REF["scales"]).loadings
    for row in ref["loadings"]:
        assert_allclose(L.loc[row["rhs"], row["lhs"]], row["est"], rtol=1e-3, err_msg=row["rhs"])


def test_cfa_fit_bad_column(hs):
    from efficacy.measurement import cfa_fit

    with pytest.raises(ValueError, match="zz"):
        cfa_fit(hs, {"a": ["x1", "x2", "zz"], "b": ["x4", "x5", "x6"]})


def test_ave_fornell_larcker_match_semtools(hs):
    from efficacy.measurement import cfa_fit

    ref = json.loads((Path(__file__).parent / "reference" / "measurement_ave_holzinger.json").read_text())
    res = cfa_fit(hs, REF["scales"])
    ave = res.ave()
    for k, v in ref["ave"].items():
        assert_allclose(ave[k], v, rtol=1e-3, err_msg=k)
    fl = res.fornell_larcker()
    r = np.array(ref["factor_cor"])
    assert_allclose(fl.factor_cor.to_numpy(), [r[0, 1], r[0, 2], r[1, 2]], rtol=1e-3)
