"""The run summary: APA formatting and tables quoted from the CSVs under results/."""

from __future__ import annotations

import pandas as pd

from efficacy.summary import apa_number, build_summary, markdown_to_html


def test_apa_number():
    assert apa_number(0.8832, bounded=True) == ".88"
    assert apa_number(-0.4412, 3, bounded=True) == "-.441"
    assert apa_number(12.3456) == "12.35"
    assert apa_number(float("nan")) == "NA"


def test_summary_quotes_the_tables_and_flags_low_reliability(tmp_path):
    study = tmp_path / "s1"
    study.mkdir()
    pd.DataFrame({"step": [0, 1], "reason": ["raw data", "failed the attention check"], "excluded": [0, 3],
                  "remaining": [100, 97]}).to_csv(study / "flow.csv", index=False)
    pd.DataFrame({
        "scale": ["efficacy", "vicarious"], "subscale": [None, None], "construct": ["self_efficacy", "vicarious"],
        "group": ["all", "all"], "wave": [None, None], "n": [97, 96], "k": [6, 4], "alpha": [0.881, 0.52],
        "alpha_ci_low": [0.85, 0.40], "alpha_ci_high": [0.90, 0.61], "omega_total": [0.89, 0.55],
        "omega_ci_low": [0.86, 0.41], "omega_ci_high": [0.91, 0.63], "flag": ["ok", "below_threshold"],
        "reason": [None, None],
    }).to_csv(study / "reliability.csv", index=False)
    text = build_summary(tmp_path, ["s1", "missing_study"])
    assert "| 1 | failed the attention check | 3 | 97 |" in text
    assert "| efficacy | self_efficacy | 97 | 6 | .88 [.85, .90] | .89 [.86, .91] |" in text
    assert "s1/vicarious" in text and "Reliability caution" in text
    assert "Cleaning produced no result" in text  # a missing stage is stated, not a crash
    page = markdown_to_html(text)
    assert page.count("<table>") == 2 and "<h2>Study: s1</h2>" in page


def test_summary_sections_notes_and_figures(tmp_path):
    import numpy as np

    study = tmp_path / "s2"
    (study / "figures").mkdir(parents=True)
    rho = np.round(np.linspace(-0.5, 0.5, 11), 2)
    acme = 0.1 - rho  # vanishes at rho = .10 -> fragile at the default .20
    pd.DataFrame({"outcome": "beh", "mediator": "eff", "rho": rho, "acme": acme, "ci_low": acme - 0.05,
                  "ci_high": acme + 0.05, "rsq_prod_residual": rho ** 2, "rho_at_zero": 0.1, "n": 100,
                  "reason": None}).to_csv(study / "sensitivity.csv", index=False)
    pd.DataFrame({"outcome": ["beh"], "effect": ["indirect"], "mediator": ["eff"], "estimate": [0.1],
                  "se": [0.02], "ci_low": [0.06], "ci_high": [0.14], "pvalue": [0.001], "reason": [None]}
                 ).to_csv(study / "mediation.csv", index=False)
    pd.DataFrame({"study": "s2", "x": "eff", "y": "beh", "model": "riclpm", "stationary": [False, False],
                  "type": ["cross-lagged", "random-intercept variance"], "direction": ["x->y", "x"],
                  "from_wave": [1, None], "to_wave": [2, None], "from_var": ["e1", "RIx"], "to_var": ["b2", "RIx"],
                  "estimate": [0.31, -0.2], "se": [0.1, 0.1], "pvalue": [0.002, 0.05], "std_all": [0.3, 1.0],
                  "ci_low": [0.11, -0.4], "ci_high": [0.51, 0.0], "converged": True, "proper": False,
                  "reason": "negative variance"}).to_csv(study / "riclpm.csv", index=False)
    pd.DataFrame({"step": ["configural", "metric", "scalar"], "chisq": [15.6, 21.9, 169.6], "df": [18, 23, 28],
                  "cfi": [1.0, 1.0, 0.91], "rmsea": [0.0, 0.0, 0.132], "srmr": [0.014, 0.031, 0.075],
                  "delta_cfi": [None, 0.0, -0.09], "delta_rmsea": [None, 0.0, 0.132], "lrt_pvalue": [None, 0.28, 1e-30],
                  "decision": ["reference", "invariant", "not invariant"], "freed": ["", "", ""],
                  "proper": True}).to_csv(study / "invariance_culture.csv", index=False)
    for stem in ("flow", "sensitivity", "riclpm_within"):
        (study / "figures" / f"{stem}.png").write_bytes(b"\x89PNG")
    text = build_summary(tmp_path, ["s2"])
    assert "| beh | eff | 0.100 [0.050, 0.150] | 0.100 [0.060, 0.140] | .10 |" in text
    assert "fragile" in text and "Results that need care" in text and "rho = 0.10" in text
    assert "| e1 -> b2 | cross-lagged | 0.310 [0.110, 0.510] | .30 | .002 |" in text
    assert "RI-CLPM solution is improper" in text
    assert "| scalar | 169.60 (28) | .910 | .132 | .075 | -.090 | .132 | < .001 | not invariant |" in text
    assert "scalar invariance across culture does not hold" in text
    page = markdown_to_html(text)
    assert "<strong>Results that need care.</strong>" in page and "<code>s2/sensitivity.csv</code>" in page
    for stem in ("flow", "sensitivity", "riclpm_within"):  # the HTML references every figure present
        assert f"src='s2/figures/{stem}.png'" in page


def test_summary_descriptives_and_correlations(tmp_path):
    study = tmp_path / "s3"
    study.mkdir()
    pd.DataFrame({"id": [1, 2, 3, 4], "a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 2.0, 4.0, None]}
                 ).to_csv(study / "clean.csv", index=False)
    pd.DataFrame({"study": ["s3"], "scale_x": ["a"], "scale_y": ["b"], "n": [3], "r": [0.866], "coefficient": ["alpha"],
                  "rel_x": [0.7], "rel_y": [0.6], "r_disattenuated": [1.34], "flag": ["ok"]}
                 ).to_csv(study / "attenuation.csv", index=False)
    text = build_summary(tmp_path, ["s3"])
    assert "| 1. a | 4 | 2.50 | 1.29 | \u2014 | 1.34 |" in text
    assert "| 2. b | 3 | 2.67 | 1.15 | .87 | \u2014 |" in text
    assert "disattenuated correlations above 1 (a-b)" in text


def test_summary_latent_moderated_within_and_heterogeneity_notes(tmp_path):
    """Latent vs sum-score mediation, moderated mediation, the within-person model with its Nickell
    (1981) caution, and large heterogeneity all reach the tables and the 'need care' notes."""
    import numpy as np

    study = tmp_path / "s4"
    study.mkdir()
    lat = pd.DataFrame({
        "outcome": ["beh"] * 6 + ["adh"], "mediator": ["eff"] * 7,
        "model": ["latent"] * 3 + ["sum_score"] * 3 + [None], "effect": ["a", "b", "indirect"] * 2 + [None],
        "estimate": [0.31, 29.6, 9.28, 0.30, 27.7, 8.29, np.nan], "ci_low": [0.16, 22.8, 5.09, 0.16, 21.7, 4.56, np.nan],
        "ci_high": [0.45, 35.1, 14.24, 0.41, 33.5, 12.56, np.nan], "chisq": [27.17] * 3 + [np.nan] * 4,
        "df": [24] * 3 + [np.nan] * 4, "cfi": [0.997] * 3 + [np.nan] * 4, "rmsea": [0.018] * 3 + [np.nan] * 4,
        "converged": [True] * 3 + [None] * 4, "proper": [False] * 3 + [None] * 4,
        "reason": [None] * 6 + ["binary outcome: see causal_mediation.csv"]})
    lat.to_csv(study / "latent_mediation.csv", index=False)
    pd.DataFrame({"outcome": "beh", "mediator": "eff", "moderator": "age", "model": 7,
                  "effect": ["a3", "conditional_indirect", "index"], "term": ["treat:age", None, None],
                  "w_value": [np.nan, 30.0, np.nan], "estimate": [0.02, 0.15, 0.004], "ci_low": [0.001, 0.05, 0.0005],
                  "ci_high": [0.04, 0.26, 0.009], "pvalue": [0.04, 0.003, 0.03], "reason": None}
                 ).to_csv(study / "moderated_mediation.csv", index=False)
    pd.DataFrame({"outcome": ["efficacy", "efficacy"], "component": ["intercept", "within"],
                  "term": ["Intercept", "behavior_lag_within"], "estimate": [1.72, -0.0093],
                  "ci_low": [1.42, -0.0141], "ci_high": [2.02, -0.0045], "pvalue": [1e-30, 0.00015],
                  "reason": [None, None]}).to_csv(study / "within_person.csv", index=False)
    pd.DataFrame({"pid": np.repeat([1, 2], 5), "wave": np.tile(np.arange(1, 6), 2)}).to_csv(study / "clean_long.csv",
                                                                                         index=False)
    meta = tmp_path / "meta" / "m1"
    meta.mkdir(parents=True)
    pd.DataFrame({"term": ["overall"], "k": [13], "estimate": [-0.71], "ci_low": [-1.07], "ci_high": [-0.36],
                  "pi_low": [-1.86], "pi_high": [0.43], "tau2": [0.313], "I2": [92.2], "Q": [152.2], "Q_df": [12],
                  "Q_pvalue": [1e-20], "method": ["REML"], "measure": ["RR"], "reason": [None]}
                 ).to_csv(meta / "summary.csv", index=False)
    text = build_summary(tmp_path, ["s4"])
    assert "| beh | eff | latent | 0.310 | 29.600 | 9.280 [5.090, 14.240] | chi2(24) = 27.17, CFI = .997, " \
           "RMSEA = .018 |  |" in text
    assert "| beh | eff | sum score | 0.300 | 27.700 | 8.290 [4.560, 12.560] |" in text
    assert "binary outcome: see causal_mediation.csv" in text
    assert "latent mediation model for eff -> beh has an improper solution" in text
    assert "| beh | eff | age | PROCESS 7 | indirect at W = 30.00 | 0.150 [0.050, 0.260] | .003 |" in text
    assert "| beh | eff | age | PROCESS 7 | index of moderated mediation | 0.004 [0.001, 0.009] | .030 |" in text
    assert "| efficacy | behavior_lag_within | within | -0.009 [-0.014, -0.004] | < .001 |" in text
    assert "Intercept" not in text
    assert "With T = 5 occasions per person" in text and "Nickell, 1981" in text
    assert "Nickell (1981) bias with T = 5 occasions" in text  # also among the notes at the top
    assert "meta-analysis m1: heterogeneity is large (I2 = 92%)" in text
    page = markdown_to_html(text)
    assert "<li>meta-analysis m1: heterogeneity is large" in page
    assert "<em>n</em>" in markdown_to_html("Scale scores: *n*, *M*") and "2*3*4" in markdown_to_html("2*3*4")


def test_summary_html_shows_figures_at_one_scale(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from efficacy import plots

    (tmp_path / "s5" / "figures").mkdir(parents=True)
    fig = plt.figure(figsize=(plots.SINGLE_COLUMN, 2))
    fig.text(0.5, 0.5, "x")
    plots.save_figure(fig, tmp_path / "s5" / "figures" / "flow")
    page = markdown_to_html(build_summary(tmp_path, ["s5"]), base=tmp_path)
    assert f"src='s5/figures/flow.png' width='{round(plots.SINGLE_COLUMN * plots.DPI) // 2}'" in page


def test_summary_cfa_and_discriminant_tables(tmp_path):
    study = tmp_path / "s6"
    study.mkdir()
    pd.DataFrame({"model": ["joint", "efficacy"], "scales": ["efficacy, self_esteem", "efficacy"],
                  "chisq": [49.148, 8.564], "df": [43.0, 9.0], "pvalue": [0.2404, 0.4785], "cfi": [0.99752, 1.0],
                  "tli": [0.99682, 1.0005], "rmsea": [0.01544, 0.0], "srmr": [0.02924, 0.01074], "n": [600.0, 600.0],
                  "converged": [True, True], "proper": [True, False], "reason": [None, "negative residual variance"]}
                 ).to_csv(study / "cfa_fit.csv", index=False)
    pd.DataFrame({"scale_1": ["efficacy", "efficacy"], "scale_2": ["self_esteem", "outcome_exp"], "htmt": [0.3277, 0.91],
                  "htmt_ci_low": [0.2245, 0.84], "htmt_ci_high": [0.4213, 0.97], "factor_cor": [0.3417, 0.93],
                  "ave_1": [0.5389, 0.5389], "ave_2": [0.4776, 0.50], "fornell_larcker": [True, False],
                  "delta_chisq": [748.12, 3.1], "delta_df": [1, 1], "pvalue": [1e-164, 0.078], "reason": [None, None]}
                 ).to_csv(study / "discriminant.csv", index=False)
    d = pd.read_csv(study / "discriminant.csv")
    extra = d.iloc[[1]].assign(scale_2="exercise_tasks")
    d = pd.concat([d, extra], ignore_index=True)
    d["construct_1"] = "self_efficacy"
    d["construct_2"] = ["self_esteem", "outcome_expectation", "self_efficacy"]
    d.to_csv(study / "discriminant.csv", index=False)
    text = build_summary(tmp_path, ["s6"])
    assert "exercise_tasks may not be distinct" not in text
    assert "same construct (self_efficacy): high HTMT expected" in text
    assert "| joint | efficacy, self_esteem | 49.15 | 43 | .240 | .998 | .997 | .015 | .029 | 600 |  |" in text
    assert "the one-factor CFA of efficacy has an improper solution (negative residual variance)" in text
    assert "| efficacy / self_esteem | .33 [.22, .42] | .34 | .54, .48 | met | 748.12 (1), < .001 |  |" in text
    assert "| efficacy / outcome_exp | .91 [.84, .97] | .93 | .54, .50 | not met | 3.10 (1), .078 |  |" in text
    assert "efficacy and outcome_exp may not be distinct constructs" in text
    assert "efficacy and self_esteem may not be distinct" not in text


def test_summary_latent_reason_rows(tmp_path):
    """A study without a design writes one reason row (no table: the mediation table says why); a
    mediator that is not a scale gives rows with the reason per outcome."""
    import numpy as np

    for name, frame in (("s7", pd.DataFrame({"outcome": [np.nan], "mediator": [np.nan], "effect": [np.nan],
                                             "estimate": [np.nan], "reason": ["study declares no treatment"]})),
                        ("s8", pd.DataFrame({"outcome": ["depress2", "work1"], "mediator": ["job_seek"] * 2,
                                             "model": [np.nan] * 2, "effect": [np.nan] * 2, "estimate": [np.nan] * 2,
                                             "reason": ["mediator 'job_seek' is not a multi-item scale"] * 2}))):
        (tmp_path / name).mkdir()
        frame.to_csv(tmp_path / name / "latent_mediation.csv", index=False)
    text = build_summary(tmp_path, ["s7", "s8"])
    assert "Table s7.latent" not in text
    assert "| work1 | job_seek |  |  |  | NA |  | mediator 'job_seek' is not a multi-item scale |" in text


def test_summary_flags_poor_cfa_fit_of_proper_models_only(tmp_path):
    """A proper model with RMSEA > .10 or CFI < .90 gets a poor-fit note; an improper one gets only
    the improper-solution note (its fit is not interpretable at all)."""
    study = tmp_path / "s7"
    study.mkdir()
    pd.DataFrame({"model": ["joint", "tasks", "efficacy"], "scales": ["tasks, efficacy", "tasks", "efficacy"],
                  "chisq": [900.0, 955.33, 8.5], "df": [40.0, 14.0, 9.0], "pvalue": [0.0, 0.0, 0.48],
                  "cfi": [0.70, 0.725, 1.0], "tli": [0.6, 0.587, 1.0], "rmsea": [0.2, 0.415, 0.0],
                  "srmr": [0.1, 0.105, 0.01], "n": [391.0] * 3, "converged": [True] * 3,
                  "proper": [False, True, True], "reason": ["correlation beyond 1", None, None]}
                 ).to_csv(study / "cfa_fit.csv", index=False)
    text = build_summary(tmp_path, ["s7"])
    assert "| tasks | tasks | 955.33 | 14 | < .001 | .725 | .587 | .415 | .105 | 391 | poor fit (CFI < .90 or " \
           "RMSEA > .10) |" in text
    assert "the one-factor CFA of tasks fits poorly (CFI .725, RMSEA .415)" in text
    assert "joint CFA of all scales fits poorly" not in text and "CFA of efficacy fits poorly" not in text
    assert "the joint CFA of all scales has an improper solution (correlation beyond 1)" in text
    # all models proper, so the reason column is empty and read back as float: still a note, no TypeError
    cfa = pd.read_csv(study / "cfa_fit.csv").iloc[1:].assign(reason=None)
    cfa.to_csv(study / "cfa_fit.csv", index=False)
    assert pd.read_csv(study / "cfa_fit.csv")["reason"].dtype == float
    assert "poor fit (CFI < .90 or RMSEA > .10) |" in build_summary(tmp_path, ["s7"])
