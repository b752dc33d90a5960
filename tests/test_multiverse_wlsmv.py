"""WLSMV as a multiverse estimator (issue #20): allowed for a mediator scale the codebook marks ordinal, a
named config error otherwise, and every WLSMV specification gets its row: estimated when the engine fits it
(latent scoring, listwise deletion: mediator items ordered beside the continuous treatment and outcome, issue
#18), else `not estimable` with the reason (never a missing row)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from efficacy import multiverse as mv
from efficacy.codebook import load_codebook
from efficacy.errors import ConfigError
from efficacy.multiverse import (
    Specification,
    multiverse_grids,
    prepare_data,
    run_multiverse,
    run_specification,
    specification_grid,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"dimensions": {"estimator": ["ML", "WLSMV"], "covariates": [[]], "ci": ["percentile"]}}


@pytest.fixture(scope="module")
def survey():
    cb = load_codebook(ROOT / "data" / "raw" / "confounded_survey")
    return cb, prepare_data(cb)


def test_wlsmv_is_a_dimension_for_an_ordinal_mediator_scale(survey):
    cb, _ = survey
    assert cb.scales["efficacy"].is_ordinal  # Likert items, 5 categories
    g = specification_grid(cb, CONFIG)
    assert g.dimensions["estimator"] == ["ML", "WLSMV"] and len(g) == 3 * 2 * 2
    s = next(s for s in g.specs if s.estimator == "WLSMV")
    assert Specification.from_dict(s.to_dict()) == s  # what the workflow's job receives
    # not a default: it would only add rows that cannot be estimated (module docstring)
    assert "WLSMV" not in specification_grid(cb).dimensions["estimator"]


def test_wlsmv_for_a_mediator_that_is_not_an_ordinal_scale_is_a_config_error(survey):
    cb, _ = survey
    cont = replace(cb, scales={**cb.scales, "efficacy": replace(cb.scales["efficacy"], ordinal=False)})
    with pytest.raises(ConfigError, match="not a scale the codebook marks ordinal") as err:
        specification_grid(cont, CONFIG)
    assert "multiverse.dimensions.estimator[1]" in str(err.value)
    jobs = {"jobs_ii": load_codebook(ROOT / "data" / "raw" / "jobs_ii")}  # a plain-variable mediator
    with pytest.raises(ConfigError, match="'job_seek' is not a scale"):
        multiverse_grids(jobs, {"studies": {"jobs_ii": {"estimator": ["WLSMV"]}}})


def test_every_wlsmv_specification_has_its_row(survey):
    """Sum and mean scores are continuous and WLSMV has no FIML: those rows are `not estimable` with that
    reason. The latent, listwise WLSMV row is estimated (the engine's mixed WLSMV), and the curve test and the
    decomposition use it beside the ML rows."""
    cb, data = survey
    res = run_multiverse(data, cb, CONFIG, n_boot=50, n_null=20, seed=1)
    t = res.table
    assert len(t) == 12 and t["spec_id"].is_unique
    w = t[t["estimator"] == "WLSMV"].set_index(["scoring", "missing"])
    for sc in ("sum", "mean"):
        for mi in ("listwise", "fiml"):
            assert "continuous score" in w.loc[(sc, mi), "reason"]
            assert w.loc[(sc, mi), "verdict"] == "not estimable"
    assert "WLSMV has no FIML" in w.loc[("latent", "fiml"), "reason"]
    lat = w.loc[("latent", "listwise")]
    assert lat["verdict"] != "not estimable" and np.isfinite(lat["indirect"])
    assert "delta-method interval" in lat["reason"]
    ml = t[t["estimator"] == "ML"]
    assert (ml["verdict"] != "not estimable").all() and np.isfinite(ml["indirect"]).all()
    # a*b does not depend on the mediator's scale: the WLSMV estimate is near the ML latent one
    ml_lat = ml.set_index(["scoring", "missing"]).loc[("latent", "listwise"), "indirect"]
    assert abs(lat["indirect"] - ml_lat) < 0.1 * abs(ml_lat)
    assert res.curve.n_specifications == 7
    assert "estimator" in set(res.variance.table["dimension"])  # two levels among the estimable rows now
    assert "not estimable" in res.summary().lower()


def test_a_wlsmv_fit_gets_a_delta_method_interval(survey):
    """The WLSMV row takes the engine's estimates and a delta-method interval (there is no bootstrap of a
    WLSMV fit), the same as efficacy.sem.sem's WLSMV fit of the model."""
    cb, data = survey
    g = specification_grid(cb, CONFIG)
    s = next(s for s in g.specs if s.estimator == "WLSMV" and s.scoring == "latent" and s.missing == "listwise")
    r = run_specification(data, cb, s, n_boot=50, seed=1).row
    assert r["verdict"] != "not estimable" and "delta-method interval" in r["reason"]
    z = 1.959963984540054
    np.testing.assert_allclose([r["ci_low"], r["ci_high"]],
                               [r["indirect"] - z * r["indirect_se"], r["indirect"] + z * r["indirect_se"]],
                               rtol=1e-9)
    fit = mv._sem_fit(mv._model_data(data, cb, s), s)
    np.testing.assert_allclose([r["a"], r["b"], r["indirect"]], [fit["a"], fit["b"], fit["a"] * fit["b"]],
                               rtol=1e-12)
