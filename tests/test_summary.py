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
