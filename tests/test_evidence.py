"""Tests for efficacy.mediation.evidence: the evidence profile and its graded verdict (issue #19).

The bundled simulated studies must get the verdicts their generating models imply (see each
study's data/raw/<study>/README.md); JOBS II gets whatever its numbers say, asserted. The rule logic
(:func:`grade`) is tested on hand-made evidence. Robustness values and E-values are the closed forms
of efficacy.mediation.robustness (tested there against sensemakr / EValue); here we check that the
profile feeds them the right regression and scales.
"""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from efficacy.errors import DataError
from efficacy.mediation.evidence import (
    DEFAULT_RULES,
    EVIDENCE_COLUMNS,
    VERDICTS,
    EvidenceProfile,
    evidence_profile,
    grade,
    panel_evidence,
)

ROOT = Path(__file__).parent.parent


def _study(name):
    from efficacy.cleaning import clean_study
    from efficacy.codebook import load_codebook

    cb = load_codebook(ROOT / "data/raw" / name)
    return clean_study(ROOT / "data/raw" / name).clean, cb


def _profile(name, **kw):
    clean, cb = _study(name)
    d = cb.design
    return evidence_profile(clean, d.treatment, d.mediators, d.outcomes, covariates=d.covariates,
                            binary=[o for o in d.outcomes if cb.is_binary(o)], study=name,
                            n_boot=kw.pop("n_boot", 200), n_sims=kw.pop("n_sims", 200), seed=1, **kw)


@pytest.fixture(scope="module")
def mastery():
    return _profile("mastery_trial")


@pytest.fixture(scope="module")
def confounded():
    return _profile("confounded_survey")


@pytest.fixture(scope="module")
def jobs():
    return _profile("jobs_ii")


def _pair(p, outcome, mediator):
    v = p.verdicts
    return v[(v.outcome == outcome) & (v.mediator == mediator)].iloc[0]


def _link(p, outcome, mediator, link):
    t = p.table
    return t[(t.outcome == outcome) & (t.mediator == mediator) & (t.link == link)].iloc[0]


# ----------------------------------------------------------------------------- bundled studies
def test_mastery_trial_true_mediation_is_supported_and_robust(mastery):
    """Generating model: randomised treat -> efficacy (0.5) -> behaviour (0.4 per latent SD), no
    confounder of efficacy and behaviour. The data say: the indirect effect's CI excludes 0, rho at
    zero is about 0.4 (above 0.2), and the b-path RV(alpha=.05) about 0.29 is far above the partial R2
    of the only covariate, age (about 0.01): robust, and the decided_by line says those three."""
    v = _pair(mastery, "behavior", "efficacy")
    assert v.verdict_class == "robust" and v.verdict == VERDICTS["robust"]
    assert "CI excludes 0" in v.decided_by and "|rho at zero|" in v.decided_by and "partial R2 of age" in v.decided_by
    ind = _link(mastery, "behavior", "efficacy", "X -> M -> Y")
    assert ind.ci_low > 0 and abs(ind.rho_at_zero) > 0.3
    b = _link(mastery, "behavior", "efficacy", "M -> Y")
    assert b.benchmark == "age" and b.rv_alpha > 0.2 and b.benchmark_r2 < 0.05
    assert b.identifies.startswith("association") and _link(mastery, "behavior", "efficacy",
                                                                "X -> M").identifies.startswith("causal")
    # binary outcome: causal mediation (logit) decides, robustness not assessed, said so
    a = _pair(mastery, "adherent", "efficacy")
    assert a.verdict_class == "unassessed" and "binary" in a.decided_by
    assert np.isfinite(_link(mastery, "adherent", "efficacy", "X -> M").estimate)


def test_confounded_survey_is_sensitive_not_robust(confounded):
    """Generating model: efficacy has NO effect on behaviour; an unmeasured U induces an error correlation
    of 0.168. The naive indirect effect's CI excludes 0, but rho at zero (about 0.17) is below 0.2, so the
    verdict is 'sensitive to confounding as weak as' that rho, decided by the rho rule. The b-path RV
    (about 0.09) still beats age (partial R2 about 0.01): age is a weak benchmark for U, which says why
    the observed-covariate benchmark alone would not catch this confounding."""
    v = _pair(confounded, "behavior", "efficacy")
    assert v.verdict_class == "sensitive"
    assert v.verdict.startswith(VERDICTS["sensitive"] + " as weak as an error correlation of |rho| = 0.1")
    assert "< 0.2" in v.decided_by
    ind = _link(confounded, "behavior", "efficacy", "X -> M -> Y")
    assert ind.ci_low > 0 and 0.1 < abs(ind.rho_at_zero) < 0.2
    b = _link(confounded, "behavior", "efficacy", "M -> Y")
    assert b.benchmark_r2 < b.rv_alpha < 0.2
    # with benchmark on and rho_robust lowered, the benchmark alone would call it robust: the rule is a convention
    assert _pair(_profile("confounded_survey", n_boot=100, rules={"rho_robust": 0.15}),
                 "behavior", "efficacy").verdict_class == "robust"


def test_weekly_panel_not_identified_and_temporal_order_noted():
    """No treatment: not identified by this design; the panel stage's within-person order is carried."""
    clean, cb = _study("weekly_panel")
    panel = pd.DataFrame({"row_type": ["fit", "verdict"], "x": "efficacy", "y": "behavior",
                          "temporal_order": [None, "efficacy -> behaviour"],
                          "x_to_y_estimate": [np.nan, 0.21], "y_to_x_estimate": [np.nan, 0.02],
                          "reason": [None, "riclpm: CI excludes 0"]})
    p = evidence_profile(clean, cb.design.treatment, cb.design.mediators, cb.design.outcomes, panel=panel,
                         study="weekly_panel")
    r = p.table.iloc[0]
    assert r.verdict_class == "not_identified" and r.verdict == VERDICTS["not_identified"]
    assert r.temporal_order == "efficacy -> behaviour" and r.panel_estimate == 0.21
    assert "temporal order supports efficacy -> behaviour" in r.decided_by
    assert "temporal order" in p.summary()
    # without a panel result the study is still 'not identified', with the reason
    q = evidence_profile(clean, None, [], [], study="weekly_panel").table.iloc[0]
    assert q.verdict_class == "not_identified" and "no treatment" in q.reason


def test_jobs_ii_honest_verdict(jobs):
    """JOBS II (Vinokur & Schul 1997): the workshop's effect on job-search efficacy has a CI including 0
    (a = 0.066 [-0.03, 0.17]) while efficacy goes with lower depression (b = -0.24, CI excluding 0):
    the indirect effect's CI includes 0, so 'association only', decided by the a-path. Re-employment
    (work1, binary): no evidence of mediation."""
    v = _pair(jobs, "depress2", "job_seek")
    assert v.verdict_class == "association" and "a-path CI includes 0" in v.decided_by
    a = _link(jobs, "depress2", "job_seek", "X -> M")
    assert_allclose(a.estimate, 0.0656, atol=5e-5)
    assert a.ci_low < 0 < a.ci_high
    b = _link(jobs, "depress2", "job_seek", "M -> Y")
    assert_allclose(b.estimate, -0.2400, atol=5e-5)
    assert b.benchmark == "econ_hard" and b.rv_alpha > b.benchmark_r2
    assert _pair(jobs, "work1", "job_seek").verdict_class == "none"


def test_rv_and_evalues_are_those_of_the_b_path_regression(jobs):
    """RV_{1,.05} is the closed form of the t of the mediator in y ~ m + x + covariates (Cinelli & Hazlett
    2020, eq. for RV_{q,alpha}); the b-path E-value is EValue::evalues.OLS with delta = SD(m), sd = SD(y):
    d = b SD(m) / SD(y), RR = exp(0.91 d), E = RR + sqrt(RR (RR - 1)) for RR >= 1 (1/RR otherwise)."""
    from efficacy.mediation.robustness import robustness_value

    clean, _ = _study("jobs_ii")
    covs = ["treat", "econ_hard", "sex", "age"]
    d = clean[["job_seek", "depress2", *covs]].dropna()
    X = np.column_stack([np.ones(len(d)), d["job_seek"], d[covs]])
    beta, rss = np.linalg.lstsq(X, d["depress2"].to_numpy(float), rcond=None)[:2]
    dof = len(d) - X.shape[1]
    se = math.sqrt(rss[0] / dof * np.linalg.inv(X.T @ X)[1, 1])
    b = _link(jobs, "depress2", "job_seek", "M -> Y")
    assert_allclose(b.rv_alpha, robustness_value(beta[1] / se, dof, alpha=0.05), rtol=1e-8)
    assert_allclose(b.partial_r2, (beta[1] / se) ** 2 / ((beta[1] / se) ** 2 + dof), rtol=1e-8)
    rr = math.exp(0.91 * abs(b.estimate) * d["job_seek"].std() / d["depress2"].std())
    assert_allclose(b.evalue, rr + math.sqrt(rr * (rr - 1)), rtol=1e-10)


# ----------------------------------------------------------------------------- rule logic
BASE = {"treatment": True, "randomized": True, "binary": False, "a_ci": (0.1, 0.5), "b_ci": (0.2, 0.6),
        "indirect_ci": (0.02, 0.2), "rho_at_zero": 0.35, "rv_alpha": 0.25, "benchmark": "age",
        "benchmark_r2": 0.05}


@pytest.mark.parametrize("change, cls, said", [
    ({}, "robust", "RV(alpha=0.05) 0.250 > partial R2 of age 0.050"),
    ({"rho_at_zero": -0.1}, "sensitive", "|rho at zero| 0.100 < 0.2"),
    ({"rv_alpha": 0.04}, "sensitive", "0.040 <= partial R2 of age"),
    ({"benchmark": None, "benchmark_r2": np.nan}, "robust", "no observed covariate to benchmark"),
    ({"indirect_ci": (-0.01, 0.2)}, "none", "indirect-effect CI includes 0"),
    ({"indirect_ci": (-0.01, 0.2), "a_ci": (-0.1, 0.3)}, "association", "a-path CI includes 0"),
    ({"indirect_ci": (-0.01, 0.2), "a_ci": (-0.1, 0.3), "b_ci": (-0.1, 0.3)}, "none", "CI includes 0"),
    ({"randomized": False}, "association", "not randomised"),
    ({"binary": True}, "unassessed", "binary outcome"),
    ({"treatment": False}, "not_identified", "no treatment"),
    ({"indirect_ci": (np.nan, np.nan)}, "none", "CI includes 0"),
])
def test_grade_rules(change, cls, said):
    verdict, vc, why = grade({**BASE, **change})
    assert vc == cls and said in why
    assert verdict.startswith(VERDICTS[cls])


def test_grade_sensitive_names_the_benchmark_and_rules_are_configurable():
    v = grade({**BASE, "rv_alpha": 0.04})[0]
    assert v == VERDICTS["sensitive"] + " as weak as a confounder as strong as age (partial R2 0.050 >= RV 0.040)"
    assert grade({**BASE, "rv_alpha": 0.04}, {"benchmark": False})[1] == "robust"
    assert grade(BASE, {"rho_robust": 0.4})[1] == "sensitive"
    assert grade({**BASE, "rho_at_zero": 0.2})[1] == "robust"     # the cut-off itself counts as robust (>=)
    assert set(DEFAULT_RULES) == {"rho_robust", "alpha", "benchmark", "weak_f"}
    with pytest.raises(DataError, match="rho_robst"):
        grade(BASE, {"rho_robst": 0.3})
    with pytest.raises(DataError, match="rho_robust"):
        grade(BASE, {"rho_robust": 1.5})


def test_panel_evidence_reads_the_verdict_row():
    assert panel_evidence(None) is None and panel_evidence(pd.DataFrame()) is None
    t = pd.DataFrame({"row_type": ["verdict"], "x": ["efficacy"], "y": ["behavior"],
                      "temporal_order": ["both"], "x_to_y_estimate": [0.2], "y_to_x_estimate": [0.1]})
    p = panel_evidence(t)
    assert p["order"] == "both" and p["y_to_x_estimate"] == 0.1 and p["detail"] == ""


# ----------------------------------------------------------------------------- result object
def test_result_object(confounded):
    assert isinstance(confounded, EvidenceProfile)
    f = confounded.to_frame()
    assert list(f.columns) == ["study", *EVIDENCE_COLUMNS] and (f.study == "confounded_survey").all()
    assert set(f.link) == {"X -> M", "M -> Y", "X -> M -> Y", "X -> Y"}
    d = json.loads(json.dumps(confounded.to_dict()))
    assert d["study"] == "confounded_survey" and len(d["rows"]) == 4 and d["rules"]["rho_robust"] == 0.2
    s = confounded.summary()
    assert "verdict: supported but sensitive" in s and "decided by" in s
    assert "EvidenceProfile" in repr(confounded)


def test_failed_pair_is_a_row_with_a_reason():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": rng.integers(0, 2, 50).astype(float), "m": rng.normal(size=50)})
    d["y"] = d["m"]           # a perfect fit: the sensitivity analysis cannot run
    d["m2"] = 1.0             # a constant mediator
    p = evidence_profile(d, "x", ["m2"], "y", n_boot=50)
    r = p.table.iloc[0]
    assert r.verdict == "not analysed" and r.reason and "analysis failed" in r.decided_by


# ----------------------------------------------------------------------------- stage
def test_stage_returns_evidence_and_the_graded_verdict():
    from efficacy.mediation import run_stage

    clean, cb = _study("confounded_survey")
    out = run_stage(clean, cb, n_boot=100, n_sims=100, seed=0, evidence={"alpha": 0.05})
    ev = out["evidence"]
    assert list(ev.columns) == ["study", *EVIDENCE_COLUMNS]
    text = out["verdict"].text[0]
    assert "supported but sensitive to confounding as weak as" in text and "decided by" in text


# ----------------------------------------------------------------------------- figure
def test_evidence_plot_across_studies(mastery, confounded, jobs, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from efficacy.errors import PlotError
    from efficacy.plots import evidence_plot
    from efficacy.plots.stage import render_stage_figure, stage_figure

    ev = pd.concat([p.to_frame() for p in (mastery, confounded, jobs)], ignore_index=True)
    fig = evidence_plot(ev)
    assert len(fig.axes[0].patches) == len(ev)            # one row per study x pair x link
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "supported and robust" in labels and "association only" in labels
    plt.close(fig)
    fig = stage_figure("evidence", {"evidence_a": mastery.to_frame(), "evidence_b": jobs.to_frame()})
    plt.close(fig)
    with pytest.raises(PlotError):
        stage_figure("evidence", {})
    p = tmp_path / "ev.csv"
    confounded.to_frame().to_csv(p, index=False)
    out = render_stage_figure("evidence", {"evidence_confounded_survey": p}, tmp_path / "evidence")
    assert out["placeholder"] is None and out["png"].exists()
