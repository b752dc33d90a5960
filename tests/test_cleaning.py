"""The spine: codebook validation, cleaning, the participant flow and every bad-input case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TINY_CSV, tiny_codebook, write_study
from efficacy.cleaning import (
    bandura_scores,
    clean_study,
    find_identifier_columns,
    generality,
    intra_individual_variability,
    longstring,
)
from efficacy.codebook import load_codebook
from efficacy.errors import CodebookError, ConfigError, DataError, EfficacyError
from efficacy.workflow import check_studies


def test_tiny_study_cleans_with_flow_reverse_scoring_and_min_items(tiny_study):
    res = clean_study(tiny_study)
    # flow: 6 raw, 1 excluded for age < 18
    assert res.flow["remaining"].tolist() == [6, 5]
    assert res.flow["excluded"].tolist() == [0, 1]
    assert res.flow["reason"].tolist() == ["raw data", "under 18"]
    clean = res.clean.set_index("pid")
    assert "p4" not in clean.index
    # reverse scoring: se3 -> 1 + 5 - x
    assert clean.loc["p1", "se3"] == 5 and clean.loc["p3", "se3"] == 4
    # out-of-range 7 on se1 becomes missing and is counted
    assert np.isnan(clean.loc["p6", "se1"])
    assert res.report["out_of_range"]["se1"] == 1
    # missing codes recoded
    assert res.report["missing_codes"]["se2"] == 2
    # scores: mean of answered items when >= min_items (2) answered
    assert clean.loc["p1", "efficacy"] == pytest.approx((5 + 4 + 5) / 3)
    assert clean.loc["p2", "efficacy"] == pytest.approx((2 + 2) / 2)  # se3 = 4 reversed -> 2
    assert np.isnan(clean.loc["p5", "efficacy"])  # only 1 item answered
    assert clean.loc["p6", "efficacy"] == pytest.approx((2 + 1) / 2)
    md = res.to_markdown()
    assert "under 18" in md and "| 1 | under 18 | 1 | 5 |" in md


def test_raw_file_is_not_modified(tiny_study):
    before = (tiny_study / "data.csv").read_bytes()
    clean_study(tiny_study)
    assert (tiny_study / "data.csv").read_bytes() == before


def test_duplicated_ids_are_flagged_and_excluded(tmp_path):
    folder = write_study(tmp_path / "tiny", tiny_codebook(), TINY_CSV + "p1,1,30,5,5,1,7\n")
    res = clean_study(folder)
    assert res.report["duplicated_ids"] == ["p1"]
    assert res.flow["reason"].tolist()[1] == "duplicated id (later rows)"
    assert res.flow["excluded"].tolist()[1] == 1
    cb = tiny_codebook()
    cb["duplicates"] = "error"
    folder = write_study(tmp_path / "dup", {**cb, "study": "dup"}, TINY_CSV + "p1,1,30,5,5,1,7\n")
    with pytest.raises(DataError, match=r"row 7, column 'pid'.*duplicated"):
        clean_study(folder)


def test_strict_codebook_stops_on_out_of_range(tmp_path):
    cb = tiny_codebook()
    cb["strict"] = True
    folder = write_study(tmp_path / "tiny", cb, TINY_CSV)
    with pytest.raises(DataError, match=r"row 6, column 'se1'.*found '7'"):
        clean_study(folder)


def test_exclusion_operators(tmp_path):
    cb = tiny_codebook()
    cb["exclusions"] = [
        {"variable": "efficacy", "op": "missing", "reason": "no efficacy score"},
        {"variable": "treat", "op": "in", "value": [0], "reason": "control arm"},
    ]
    res = clean_study(write_study(tmp_path / "tiny", cb, TINY_CSV))
    assert res.flow["excluded"].tolist() == [0, 1, 3]
    assert set(res.clean["pid"]) == {"p1", "p3"}


# ---------------------------------------------------------------- bad input: one clear error each


def _expect(exc_type, folder, *fragments):
    with pytest.raises(exc_type) as info:
        clean_study(folder)
    msg = str(info.value)
    for f in fragments:
        assert f in msg, msg
    return msg


def test_malformed_yaml(tmp_path):
    folder = tmp_path / "tiny"
    write_study(folder, tiny_codebook(), TINY_CSV)
    (folder / "codebook.yaml").write_text("study: tiny\nvariables: [unclosed\n", encoding="utf-8")
    _expect(CodebookError, folder, "codebook.yaml", "malformed YAML", "line")


def test_schema_violation_names_the_key(tmp_path):
    cb = tiny_codebook()
    cb["scales"]["efficacy"]["min_items"] = "two"
    _expect(CodebookError, write_study(tmp_path / "tiny", cb, TINY_CSV), "scales.efficacy.min_items",
            "wrong type")
    cb = tiny_codebook()
    cb["colour"] = "blue"
    _expect(CodebookError, write_study(tmp_path / "tiny2", {**cb, "study": "tiny2"}, TINY_CSV),
            "unknown key 'colour'")


def test_unknown_construct(tmp_path):
    cb = tiny_codebook()
    cb["scales"]["efficacy"]["construct"] = "self_confidence"
    _expect(CodebookError, write_study(tmp_path / "tiny", cb, TINY_CSV), "scales.efficacy.construct",
            "'self_confidence'", "'self_efficacy'")


def test_item_missing_from_data(tmp_path):
    csv = TINY_CSV.replace(",se2", ",se2x")
    _expect(CodebookError, write_study(tmp_path / "tiny", tiny_codebook(), csv), "codebook.yaml",
            "variables.se2", "missing from the data file")


def test_item_not_declared_as_variable(tmp_path):
    cb = tiny_codebook()
    cb["scales"]["efficacy"]["items"].append("se9")
    _expect(CodebookError, write_study(tmp_path / "tiny", cb, TINY_CSV), "scales.efficacy.items[3]", "'se9'")


def test_non_numeric_value_in_numeric_item(tmp_path):
    csv = TINY_CSV.replace("p3,1,25,4,5,2,5", "p3,1,25,4,five,2,5")
    _expect(DataError, write_study(tmp_path / "tiny", tiny_codebook(), csv), "data.csv", "row 3, column 'se2'",
            "'five'", "non-numeric")


def test_unreadable_and_unsupported_data_files(tmp_path):
    cb = tiny_codebook()
    cb["data"] = {"file": "data.sav", "format": "sav"}
    folder = write_study(tmp_path / "tiny", cb, "this is not an SPSS file", name="data.sav")
    _expect(DataError, folder, "data.sav", "cannot be read as sav")
    cb = tiny_codebook()
    cb["data"] = {"file": "data.json", "format": "json"}
    _expect(CodebookError, write_study(tmp_path / "tiny2", {**cb, "study": "tiny2"}, "{}", name="data.json"),
            "data.format", "'json'", "'csv'")
    cb = tiny_codebook()
    cb["data"]["encoding"] = "utf-8"
    folder = tmp_path / "tiny3"
    write_study(folder, {**cb, "study": "tiny3"}, "")
    (folder / "data.csv").write_bytes(TINY_CSV.replace("p1", "p\xe9").encode("latin-1"))
    _expect(DataError, folder, "data.csv", "cannot be decoded as utf-8")


def test_empty_study(tmp_path):
    _expect(DataError, write_study(tmp_path / "tiny", tiny_codebook(), "pid,treat,age,se1,se2,se3,beh\n"),
            "data.csv", "no data rows")
    _expect(DataError, write_study(tmp_path / "tiny2", {**tiny_codebook(), "study": "tiny2"}, ""),
            "data.csv", "empty")


def test_reverse_keyed_item_not_in_scale(tmp_path):
    cb = tiny_codebook()
    cb["scales"]["efficacy"]["reverse"] = ["beh"]
    _expect(CodebookError, write_study(tmp_path / "tiny", cb, TINY_CSV), "scales.efficacy.reverse[0]",
            "not in its scale", "'beh'")


def test_two_studies_with_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw" / "a").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"studies\[1\].*same name"):
        check_studies(["a", "a"], raw_dir="raw")
    with pytest.raises(ConfigError, match=r"studies\[0\].*not found"):
        check_studies(["b"], raw_dir="raw")


def test_study_name_must_match_folder(tmp_path):
    _expect(CodebookError, write_study(tmp_path / "other", tiny_codebook(), TINY_CSV), "study",
            "differs from its folder")


def test_data_path_cannot_escape_the_study_folder(tmp_path):
    cb = tiny_codebook()
    cb["data"]["file"] = "../../etc/passwd"
    with pytest.raises(CodebookError, match="leaves the study folder"):
        load_codebook(write_study(tmp_path / "tiny", cb, TINY_CSV))
    cb["data"]["file"] = "/etc/passwd"
    with pytest.raises(CodebookError, match="absolute paths"):
        load_codebook(write_study(tmp_path / "tiny", cb, TINY_CSV))


def test_every_error_is_a_value_error_with_location(tmp_path):
    csv = TINY_CSV.replace("p3,1,25,4,5,2,5", "p3,1,25,4,x,2,5")
    with pytest.raises(ValueError) as info:
        clean_study(write_study(tmp_path / "tiny", tiny_codebook(), csv))
    assert isinstance(info.value, EfficacyError)
    assert info.value.where == "row 3, column 'se2'"


# ---------------------------------------------------------------- privacy guard


@pytest.mark.parametrize(
    "column,values",
    [
        ("participant_name", ["Ann Lee", "Bo Chen", "Cy Diaz", "Di Eno", "Ed Fox", "Flo Gu"]),
        ("contact", ["a@x.org", "b@y.com", "c@z.net", "d@x.org", "e@y.com", "f@z.net"]),
        ("reached_on", ["+44 20 7946 0958", "020 7946 0959", "(555) 123-4567", "555-123-4568",
                        "+1 555 123 4569", "555 123 4570"]),
        ("dob", ["1990-01-02", "1985-03-04", "1979-05-06", "1992-07-08", "2000-09-10", "1969-11-12"]),
        ("feedback", ["I found the sessions really helpful overall", "Too long and the room was cold today",
                      "My coach Maria called me every week to check", "Nothing to add here at all really",
                      "Would recommend it to my colleagues at work", "The videos helped me see I could do it"]),
    ],
)
def test_privacy_guard_stops_on_identifiers(tmp_path, column, values):
    lines = TINY_CSV.strip().split("\n")
    lines[0] += f",{column}"
    for i, v in enumerate(values, start=1):
        lines[i] += f',"{v}"'
    csv = "\n".join(lines) + "\n"
    _expect(DataError, write_study(tmp_path / "tiny", tiny_codebook(), csv), f"column '{column}'",
            "direct identifier", "drop")
    cb = tiny_codebook()
    cb["drop"] = [column]
    res = clean_study(write_study(tmp_path / "tiny2", {**cb, "study": "tiny2"}, csv))
    assert column not in res.clean.columns
    assert res.report["dropped_identifier_columns"] == [column]


def test_identifier_detector_leaves_ordinary_columns_alone():
    df = pd.DataFrame({"se1": ["1", "2", "3"], "group": ["A", "B", "A"], "age": ["20", "31", "44"]})
    assert find_identifier_columns(df) == {}


# ---------------------------------------------------------------- indices


def test_longstring_and_irv():
    x = np.array([[1, 1, 1, 2, 2], [3, np.nan, 3, 3, 3], [np.nan] * 5, [1, 2, 3, 4, 5]], dtype=float)
    assert longstring(x)[:2].tolist() == [3, 3] and np.isnan(longstring(x)[2]) and longstring(x)[3] == 1
    irv = intra_individual_variability(x)
    assert irv[0] == pytest.approx(np.std([1, 1, 1, 2, 2], ddof=1))
    assert irv[1] == 0 and np.isnan(irv[2])


def test_bandura_magnitude_strength_and_generality():
    items = pd.DataFrame({"t1": [90, 40, np.nan], "t2": [60, 50, 10], "t3": [20, 55, np.nan]})
    b = bandura_scores(items, threshold=50, min_items=2)
    assert b["magnitude"].tolist()[:2] == [2, 2] and np.isnan(b["magnitude"].iloc[2])
    assert b["strength"].iloc[0] == pytest.approx(170 / 3)
    # generality against its defining formulas evaluated in R (tests/reference/effect_sizes.R):
    # cor(use = "pairwise.complete.obs") and eigen(cor(complete cases))$values[1] / m
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parent / "reference" / "effect_sizes.json").read_text())["generality"]
    scores = pd.DataFrame([[np.nan if v is None else v for v in row] for row in ref["scores"]],
                          columns=ref["columns"])
    gen = generality(scores)
    np.testing.assert_allclose(gen.loc[gen.quantity == "r", "value"], ref["r"], rtol=1e-10)
    share = gen.loc[gen.quantity == "general_factor_share", "value"].item()
    assert share == pytest.approx(ref["general_factor_share"], rel=1e-10)
    # two domains: the first eigenvalue of a 2x2 correlation matrix is 1 + r exactly
    two = generality(scores[["a", "b"]].dropna())
    r_ab = two.loc[two.quantity == "r", "value"].item()
    assert two.loc[two.quantity == "general_factor_share", "value"].item() == pytest.approx((1 + r_ab) / 2, rel=1e-12)


def test_jobs_ii_bundled_study_cleans():
    res = clean_study("data/raw/jobs_ii")
    assert res.n_raw == 899 and res.n_analysed == 899
    assert set(res.clean["work1"].unique()) == {0.0, 1.0}
    raw = pd.read_csv("data/raw/jobs_ii/data.csv")
    assert (res.clean["work1"] == (raw["work1"] == "psyemp").astype(float)).all()
    np.testing.assert_array_equal(res.clean["job_seek"].to_numpy(), raw["job_seek"].to_numpy())


def test_codebook_decides_ordinal_and_estimator_per_scale(tmp_path):
    """Likert items with at most 7 categories are ordinal (WLSMV) unless the codebook says otherwise; a declared
    cluster makes continuous scales MLR; an explicit estimator wins; an unknown cluster variable is named."""
    import shutil
    from pathlib import Path

    import yaml

    from efficacy.codebook import load_codebook
    from efficacy.errors import CodebookError

    src = Path(__file__).resolve().parents[1] / "data" / "raw" / "mastery_trial"
    dst = tmp_path / "mastery_trial"
    shutil.copytree(src, dst)
    cb = load_codebook(dst / "codebook.yaml")
    assert cb.scales["efficacy"].n_categories == 5 and cb.scales["efficacy"].is_ordinal
    assert cb.estimator_for("efficacy") == "WLSMV"
    assert not cb.scales["exercise_tasks"].is_ordinal and cb.estimator_for("exercise_tasks") == "ML"
    doc = yaml.safe_load((dst / "codebook.yaml").read_text())
    doc["scales"]["efficacy"]["ordinal"] = False
    doc["scales"]["outcome_exp"]["estimator"] = "MLM"
    doc["cluster"] = next(v for v in doc["variables"] if v != doc.get("id"))
    (dst / "codebook.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    cb = load_codebook(dst / "codebook.yaml")
    assert cb.estimator_for("efficacy") == "MLR" and cb.estimator_for("outcome_exp") == "MLM"
    doc["cluster"] = "classroom"
    (dst / "codebook.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(CodebookError, match="cluster.*classroom"):
        load_codebook(dst / "codebook.yaml")
