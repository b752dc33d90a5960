"""The privacy guard (spine issue #2, robustness issue #11) with realistic identifier columns.

A raw data column that looks like a direct identifier (a person's name, an
e-mail address, a phone number, a date of birth, a postal or IP address,
geolocation, free text) stops the cleaning stage with an error naming the data
file and the column, unless the codebook lists it under ``drop`` (then it is
removed before anything else and reported). Ordinary research columns (items
such as ``se1``, scores, ``age``, condition labels, session dates) are never
flagged. The participant id column may not hold direct identifiers either.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TINY_CSV, tiny_codebook, write_study
from efficacy.cleaning import clean_study, find_identifier_columns
from efficacy.codebook import load_codebook
from efficacy.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
N = 6  # rows of TINY_CSV

HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _with_column(column: str, values) -> str:
    """TINY_CSV with one extra (quoted) column."""
    lines = TINY_CSV.strip().split("\n")
    lines[0] += "," + (f'"{column}"' if "," in column else column)
    for i, v in enumerate(values, start=1):
        lines[i] += ',"' + str(v).replace('"', '""') + '"'
    return "\n".join(lines) + "\n"


def _refused(tmp_path: Path, column: str, values) -> DataError:
    """Clean a study with the extra column: refused naming file and column; with drop: removed."""
    folder = write_study(tmp_path / "tiny", tiny_codebook(), _with_column(column, values))
    with pytest.raises(DataError) as info:
        clean_study(folder)
    text = str(info.value)
    assert str(folder / "data.csv") in text, text
    assert f"column '{column}'" in text and "direct identifier" in text and "drop" in text, text
    cb = tiny_codebook("tiny2")
    cb["drop"] = [column]
    res = clean_study(write_study(tmp_path / "tiny2", cb, _with_column(column, values)))
    assert column not in res.clean.columns
    assert res.report["dropped_identifier_columns"] == [column]
    return info.value


# ---------------------------------------------------------------- realistic exports: column names


FIRST = ["Ann", "Bo", "Carmen", "Dmitri", "Eilidh", "Farah"]
LAST = ["Lee", "Chen", "Álvarez", "O'Neil", "MacLeod", "Haddad"]
NAMES = [f"{f} {s}" for f, s in zip(FIRST, LAST)]
EMAILS = ["ann.lee@example.org", "bo_chen@uni.edu", "c.alvarez@mail.es", "dmitri+survey@example.ru",
          "e.macleod@ed.ac.uk", "farah.h@example.com"]
PHONES = ["+44 20 7946 0958", "(555) 123-4567", "555.123.4567", "+1-202-555-0173", "0049 30 1234567",
          "07700 900123"]
DOBS = ["1990-01-02", "1985-03-04", "1979-05-06", "1992-07-08", "2000-09-10", "1969-11-12"]
ADDRESSES = ["221B Baker Street, London NW1 6XE", "1600 Pennsylvania Avenue NW, Washington DC",
             "12 Rue de Rivoli, Paris", "42 Wallaby Way, Sydney", "7 Elm Road, Leeds LS6 2AB",
             "350 Fifth Avenue, New York NY 10118"]
IPS = ["192.168.0.12", "10.0.0.254", "172.16.4.1", "81.2.69.160", "2001:db8::ff00:42:8329", "203.0.113.7"]


@pytest.mark.parametrize("column,values", [
    # Qualtrics exports
    ("RecipientFirstName", FIRST), ("RecipientLastName", LAST), ("RecipientEmail", EMAILS),
    ("IPAddress", IPS), ("LocationLatitude", ["51.5072", "48.8566", "40.7128", "-33.8688", "55.9533", "53.8008"]),
    ("LocationLongitude", ["-0.1276", "2.3522", "-74.0060", "151.2093", "-3.1883", "-1.5491"]),
    # SurveyMonkey exports
    ("Email Address", EMAILS), ("First Name", FIRST), ("Last Name", LAST), ("IP Address", IPS),
    # REDCap-style and hand-made spreadsheets
    ("first_name", FIRST), ("surname", LAST), ("dob", DOBS), ("telephone", PHONES), ("address", ADDRESSES),
    ("E-mail", EMAILS), ("phoneNumber", PHONES), ("DateOfBirth", DOBS), ("Date of birth", DOBS),
    ("date_of_birth", ["02/01/1990", "04/03/1985", "06/05/1979", "08/07/1992", "10/09/2000", "12/11/1969"]),
    ("Birthday", DOBS), ("Mobile Phone", PHONES), ("Postcode", ["NW1 6XE", "LS6 2AB", "EH8 9YL", "M1 1AE",
                                                               "B33 8TH", "CR2 6XH"]),
    ("ZIP code", ["10118", "20500", "94103", "60601", "02139", "73301"]),
    ("SSN", ["078-05-1120", "219-09-9999", "457-55-5462", "123-45-6789", "987-65-4321", "111-22-3333"]),
    ("participant_name", NAMES), ("Full Name", NAMES), ("comments", ["fine", "too long", "ok", "", "n/a", "good"]),
])
def test_identifier_columns_of_real_survey_exports_are_refused_or_dropped(tmp_path, column, values):
    err = _refused(tmp_path, column, values)
    assert err.where == f"column '{column}'"


# ---------------------------------------------------------------- values, whatever the column is called


@pytest.mark.parametrize("what,values", [
    ("e-mail", EMAILS),
    ("phone", PHONES),
    ("phone", ["+12025550173", "+447700900123", "+33142685300", "+4930901820", "+61293744000", "+81335812111"]),
    ("phone", ["555-123-4567 ext. 89", "555-123-4568 x12", "(020) 7946 0958", "020-7946-0959", "+44 (0)20 7946 0960",
               "+353 1 234 5678"]),
    ("IP", IPS),
    ("name", NAMES),
    ("name", ["Lee, Ann", "Chen, Bo", "Álvarez, Carmen", "O'Neil, Dmitri", "MacLeod, Eilidh", "Haddad, Farah"]),
    ("address", ADDRESSES),
    ("birth", DOBS),
    ("free text", ["I found the sessions really helpful overall", "Too long and the room was cold today",
                   "My coach Maria called me every week to check", "Nothing to add here at all really",
                   "Would recommend it to my colleagues at work", "The videos helped me see I could do it"]),
])
@pytest.mark.parametrize("column", ["q17", "contact", "V9"])
def test_identifier_values_are_recognised_under_a_neutral_column_name(tmp_path, what, values, column):
    err = _refused(tmp_path, column, values)
    assert what.lower() in str(err).lower(), str(err)


def test_every_flagged_column_is_named_in_one_error(tmp_path):
    csv = _with_column("mail", EMAILS)
    lines = csv.strip().split("\n")
    lines[0] += ",Last Name"
    for i, v in enumerate(LAST, start=1):
        lines[i] += f',"{v}"'
    folder = write_study(tmp_path / "tiny", tiny_codebook(), "\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        clean_study(folder)
    assert "'mail'" in str(info.value) and "'Last Name'" in str(info.value)


def test_an_id_column_holding_e_mail_addresses_is_refused(tmp_path):
    cb = tiny_codebook()
    csv = TINY_CSV
    for i, email in enumerate(EMAILS, start=1):
        csv = csv.replace(f"\np{i},", f"\n{email},", 1)
    folder = write_study(tmp_path / "tiny", cb, csv)
    with pytest.raises(DataError) as info:
        clean_study(folder)
    text = str(info.value)
    assert "column 'pid'" in text and "e-mail" in text and "pseudonymous" in text
    assert str(folder / "data.csv") in text


def test_guard_runs_before_anything_else_and_writes_nothing(tmp_path):
    """The refusal comes before the codebook-vs-data checks (a declared but absent variable)."""
    cb = tiny_codebook()
    cb["variables"]["not_in_data"] = {"type": "numeric"}
    folder = write_study(tmp_path / "tiny", cb, _with_column("Email", EMAILS))
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(DataError, match="column 'Email'"):
        clean_study(folder)
    assert sorted(p.name for p in folder.iterdir()) == before


# ---------------------------------------------------------------- no false positives


def _ordinary_frame(n=200, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"se{i}": rng.integers(1, 6, n).astype(str) for i in range(1, 13)})
    df["age"] = rng.integers(18, 80, n).astype(str)
    df["efficacy"] = np.round(rng.normal(3, 1, n), 6).astype(str)
    df["group"] = rng.choice(["A", "B"], n)
    df["condition_name"] = rng.choice(["control", "mastery workshop"], n)
    df["cell"] = rng.integers(1, 5, n).astype(str)
    df["mobile_use"] = np.round(rng.gamma(2, 1.5, n), 1).astype(str)
    df["born_abroad"] = rng.choice(["yes", "no"], n)
    df["birth_year"] = rng.integers(1950, 2005, n).astype(str)
    df["country"] = rng.choice(["United Kingdom", "New Zealand", "South Africa", "Costa Rica"], n)
    df["agreement"] = rng.choice(["Strongly Agree", "Agree", "Neither Agree Nor Disagree", "Disagree"], n)
    df["session_date"] = (pd.Timestamp("2024-02-01") + pd.to_timedelta(rng.integers(0, 500, n), "D")
                          ).strftime("%Y-%m-%d")
    df["StartDate"] = (pd.Timestamp("2024-02-01 08:00") + pd.to_timedelta(rng.integers(0, 10**7, n), "s")
                       ).strftime("%Y-%m-%d %H:%M:%S")
    df["visit_de"] = (pd.Timestamp("2025-01-10") + pd.to_timedelta(rng.integers(0, 300, n), "D")
                      ).strftime("%d.%m.%Y")
    df["Duration (in seconds)"] = rng.integers(60, 4000, n).astype(str)
    df["big_count"] = rng.integers(10**7, 10**9, n).astype(str)
    df["rt_ms"] = np.round(rng.lognormal(6, 0.5, n), 3).astype(str)
    df["attention"] = rng.integers(0, 2, n).astype(str)
    df["site"] = rng.choice(["Leeds", "Edinburgh", "São Paulo"], n)
    return df


def test_ordinary_research_columns_are_not_flagged():
    assert find_identifier_columns(_ordinary_frame()) == {}


def test_ordinary_columns_of_a_small_sample_are_not_flagged():
    assert find_identifier_columns(_ordinary_frame(n=6, seed=3).drop(columns=["country", "agreement", "site"])) == {}


def test_ordinary_columns_typed_by_a_reader_are_not_flagged():
    """As read from SPSS/Excel: numbers are floats, dates are datetimes."""
    df = _ordinary_frame(50)
    for col in df.columns:
        try:
            df[col] = pd.to_numeric(df[col])
        except ValueError:
            pass
    df["session_date"] = pd.to_datetime(df["session_date"])
    assert find_identifier_columns(df) == {}


def test_datetime_typed_birth_dates_are_flagged():
    df = pd.DataFrame({"v1": pd.to_datetime(DOBS * 5), "score": np.arange(30.0)})
    assert "v1" in find_identifier_columns(df)


@pytest.mark.parametrize("study", sorted(p.name for p in (ROOT / "data" / "raw").iterdir() if p.is_dir()))
def test_bundled_studies_pass_the_guard(study):
    from efficacy.cleaning import read_raw

    cb = load_codebook(ROOT / "data" / "raw" / study)
    raw = read_raw(cb)
    assert find_identifier_columns(raw.drop(columns=[c for c in cb.drop if c in raw.columns]),
                                   ignore=[cb.id]) == {}


# ---------------------------------------------------------------- property-based


IDENTIFIER_WORDS = [
    ["first", "name"], ["last", "name"], ["surname"], ["given", "name"], ["family", "name"], ["full", "name"],
    ["email"], ["e", "mail"], ["email", "address"], ["phone"], ["phone", "number"], ["telephone"],
    ["mobile", "phone"], ["cell", "phone"], ["date", "of", "birth"], ["dob"], ["birth", "date"], ["birthday"],
    ["street", "address"], ["postcode"], ["postal", "code"], ["zip", "code"], ["ip", "address"], ["ssn"],
    ["passport", "number"], ["latitude"], ["longitude"], ["comments"], ["free", "text"],
]


def _styled(words, style, prefix, suffix):
    words = ([prefix] if prefix else []) + list(words) + ([suffix] if suffix else [])
    if style == "snake":
        return "_".join(words)
    if style == "upper":
        return "_".join(words).upper()
    if style == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if style == "pascal":
        return "".join(w.capitalize() for w in words)
    if style == "spaces":
        return " ".join(w.capitalize() for w in words)
    if style == "hyphen":
        return "-".join(words)
    return ".".join(words)


@HYP
@given(words=st.sampled_from(IDENTIFIER_WORDS),
       style=st.sampled_from(["snake", "upper", "camel", "pascal", "spaces", "hyphen", "dots"]),
       prefix=st.sampled_from([None, "participant", "recipient", "respondent", "parent", "contact"]),
       suffix=st.sampled_from([None, "1", "w1", "raw"]))
def test_identifier_column_names_in_any_spelling_are_flagged(words, style, prefix, suffix):
    name = _styled(words, style, prefix, suffix)
    df = pd.DataFrame({name: ["x1", "x2", "x3", "x4", "x5", "x6"], "se1": ["1", "2", "3", "4", "5", "1"]})
    assert list(find_identifier_columns(df)) == [name]


@HYP
@given(emails=st.lists(st.emails(), min_size=5, max_size=30))
def test_any_column_of_e_mail_addresses_is_flagged(emails):
    df = pd.DataFrame({"v": emails, "se1": ["3"] * len(emails)})
    assert "e-mail" in find_identifier_columns(df).get("v", "")


PHONE_FORMATS = ["+44 ## #### ####", "(###) ###-####", "###.###.####", "+1-###-###-####", "00## ## #######",
                 "0#### ######", "+###########", "###-###-#### ext. ##", "+## (0)## #### ####", "0## ### ## ##"]


@HYP
@given(fmt=st.sampled_from(PHONE_FORMATS), seed=st.integers(0, 2**32 - 1), n=st.integers(5, 40))
def test_any_column_of_phone_numbers_is_flagged(fmt, seed, n):
    rnd = random.Random(seed)
    phones = ["".join(rnd.choice(string.digits) if ch == "#" else ch for ch in fmt) for _ in range(n)]
    df = pd.DataFrame({"v": phones})
    assert "phone" in find_identifier_columns(df).get("v", "")


@HYP
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 60))
def test_any_column_of_person_names_is_flagged(seed, n):
    rnd = random.Random(seed)
    given_names = ["Ann", "Bo", "Carmen", "Dmitri", "Eilidh", "Farah", "Gustav", "Hana", "Ion", "Jae-won", "Kwame",
                   "Lúcia", "Mei", "Nikolai", "Olu", "Priya", "Quentin", "Rosa", "Siobhán", "Tariq"]
    family = ["Lee", "Chen", "Álvarez", "O'Neil", "MacLeod", "Haddad", "Nowak", "Okafor", "Silva", "Tanaka",
              "Müller", "Kowalski", "Ivanova", "Nguyen", "Smith-Jones", "Dubois", "Rossi", "Yilmaz"]
    names = list(dict.fromkeys(f"{rnd.choice(given_names)} {rnd.choice(family)}" for _ in range(3 * n)))[:n]
    df = pd.DataFrame({"v": names})
    if len(names) >= 5:
        assert "name" in find_identifier_columns(df).get("v", "")


# Item-like names; the few whose letters spell an identifier word ("dob1", "tel2") are left out on purpose.
item_names = st.from_regex(r"\A[a-z]{1,4}[0-9]{1,2}(_w[1-5])?\Z").filter(
    lambda v: v.rstrip("0123456789_w").rstrip("0123456789") not in
    {"tel", "zip", "dob", "fax", "ssn", "note", "name", "cell"})


@HYP
@given(names=st.lists(item_names, min_size=1, max_size=8, unique=True), seed=st.integers(0, 2**32 - 1),
       n=st.integers(5, 80), kind=st.sampled_from(["likert", "float", "int", "levels", "missing"]))
def test_ordinary_item_columns_are_never_flagged(names, seed, n, kind):
    rng = np.random.default_rng(seed)
    cols = {}
    for name in names:
        if kind == "likert":
            v = rng.integers(1, 8, n).astype(str)
        elif kind == "float":
            v = np.round(rng.normal(0, 100, n), 4).astype(str)
        elif kind == "int":
            v = rng.integers(-10**9, 10**9, n).astype(str)
        elif kind == "levels":
            v = rng.choice(["low", "medium", "high", "Strongly agree", "n/a"], n)
        else:
            v = np.where(rng.random(n) < 0.3, "", rng.integers(0, 101, n).astype(str))
        cols[name] = v
    assert find_identifier_columns(pd.DataFrame(cols)) == {}


# ---------------------------------------------------------------- no row-level data in the report


ROW_LEVEL_OUTPUTS = ("clean.csv", "clean_long.csv", "careless.csv", "columns.csv", "cleaning.json")


def test_no_row_level_table_is_wrapped_in_the_report():
    """Files declared with report(...) in the rule files are summaries, never per-participant tables."""
    import re

    reported = []
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        reported += re.findall(r"report\(\s*\"([^\"]+)\"", text)
    assert len(reported) > 10
    bad = [p for p in reported if p.rsplit("/", 1)[-1] in ROW_LEVEL_OUTPUTS]
    assert bad == [], bad


def test_participant_ids_never_reach_the_cleaning_report_or_the_summary(tmp_path):
    """Distinctive ids (one duplicated) go through cleaning, reliability and mediation; the report
    files (cleaning.md, the stage CSVs the report shows, summary.md) never contain one."""
    from efficacy.io import atomic_write_text, write_table
    from efficacy.mediation import run_stage as mediation_stage
    from efficacy.reliability import run_stage as reliability_stage
    from efficacy.summary import build_summary

    rng = np.random.default_rng(7)
    n = 80
    ids = [f"QX{7000 + i}Z" for i in range(n)]
    ids[-1] = ids[0]  # a duplicated id: excluded and counted
    treat = rng.integers(0, 2, n)
    items = np.clip(np.round(3 + 0.8 * treat[:, None] + rng.normal(size=(n, 3))), 1, 5).astype(int)
    beh = np.clip(items.mean(axis=1) + rng.normal(size=n), 0, 7).round(3)
    csv = "pid,treat,age,se1,se2,se3,beh\n" + "".join(
        f"{ids[i]},{treat[i]},{30 + i % 40},{items[i, 0]},{items[i, 1]},{6 - items[i, 2]},{beh[i]}\n"
        for i in range(n))
    cb = tiny_codebook("ids")
    folder = write_study(tmp_path / "raw" / "ids", cb, csv)
    res = clean_study(folder)
    assert res.report["duplicated_ids"] == [ids[0]]
    out = tmp_path / "results" / "ids"
    out.mkdir(parents=True)
    atomic_write_text(out / "cleaning.md", res.to_markdown())
    write_table(res.flow, out / "flow.csv")
    codebook = load_codebook(folder)
    tables = {**reliability_stage(res.clean, codebook, n_boot=50, seed=1),
              **mediation_stage(res.clean, codebook, n_boot=50, n_sims=50, seed=1)}
    for stem, df in tables.items():
        if stem == "verdict":
            atomic_write_text(out / "verdict.md", str(df["text"].iloc[0]))
        else:
            write_table(df, out / f"{stem}.csv")
    texts = {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()}
    texts["summary.md"] = build_summary(tmp_path / "results", ["ids"])
    assert "Duplicated ids: 1" in texts["cleaning.md"]
    leaked = {name: [i for i in set(ids) if i in text] for name, text in texts.items()}
    assert all(not v for v in leaked.values()), leaked


# ---------------------------------------------------------------- in the workflow


@pytest.mark.slow
def test_workflow_clean_job_stops_on_an_identifier_column_and_leaves_no_output(tmp_path):
    """An e-mail column added to the bundled JOBS II file: the clean job fails naming the file and
    the column (in its log), and no clean output is left behind; with drop: the job runs."""
    import yaml as _yaml

    from test_workflow import SNAKEMAKE, copy_project, run

    proj = copy_project(tmp_path / "p")
    data = proj / "data" / "raw" / "jobs_ii" / "data.csv"
    lines = data.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",RecipientEmail"] + [f"{x},person{i}@example.org" for i, x in enumerate(lines[1:])]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [SNAKEMAKE, "--workflow-profile", "none", "--cores", "1", "results/jobs_ii/clean.csv"]
    proc = run(cmd, proj, timeout=600)
    assert proc.returncode != 0
    log = (proj / "logs" / "jobs_ii" / "clean.log").read_text(encoding="utf-8")
    assert "data/raw/jobs_ii/data.csv" in log and "column 'RecipientEmail'" in log and "drop" in log, log[-2000:]
    assert not list((proj / "results").glob("jobs_ii/*.csv"))

    cb_path = proj / "data" / "raw" / "jobs_ii" / "codebook.yaml"
    cb = _yaml.safe_load(cb_path.read_text(encoding="utf-8"))
    cb["drop"] = list(cb.get("drop") or []) + ["RecipientEmail"]
    cb_path.write_text(_yaml.safe_dump(cb, sort_keys=False), encoding="utf-8")
    proc = run(cmd, proj, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    clean = (proj / "results" / "jobs_ii" / "clean.csv").read_text(encoding="utf-8")
    assert "RecipientEmail" not in clean and "@example.org" not in clean
