"""tests/reference/README.md is the validation index (docs/gen_pages.py turns it into the docs site's
validation page): every fixture must have a row there, and every script and test file a row names must exist.

A fixture committed without a row is invisible on the validation page (its R source and package versions are
then documented nowhere but inside the JSON), and a row that names a renamed or deleted script or test sends a
reader to nothing. Pure file reads, no R.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"
README = (REF / "README.md").read_text(encoding="utf-8")

# Table rows as docs/gen_pages.py reads them: lines starting with "| `", cells split on "|".
ROWS = [line.strip().strip("|").split("|") for line in README.splitlines() if line.startswith("| `")]
TICKED = re.compile(r"`([^`\s]+)`")


def _names(cell, suffixes):
    return [n for n in TICKED.findall(cell) if n.endswith(suffixes)]


def test_rows_have_the_five_columns():
    assert len(ROWS) > 20
    bad = [row[0] for row in ROWS if len(row) != 5]
    assert not bad, f"rows without exactly 5 cells (a '|' inside a cell?): {bad}"


def test_every_fixture_has_a_row():
    listed = {n for row in ROWS for n in _names(row[0], (".json", ".csv"))}
    on_disk = {p.name for p in REF.iterdir() if p.suffix in (".json", ".csv")}
    missing = sorted(on_disk - listed)
    assert not missing, f"fixtures in tests/reference/ without a row in its README.md: {missing}"


def test_every_listed_file_exists():
    """The opposite direction: rows naming fixtures, scripts or data that are no longer there. Only the fixture
    and "Made by" columns: the tool column may name outside files (statsmodels' own ``test_mediation.py``)."""
    gone = []
    for row in ROWS:
        for n in _names(row[0] + " " + row[3], (".json", ".csv", ".R", ".py")):
            if not (REF / n).is_file():
                gone.append(n)
    assert not gone, f"README rows name files missing from tests/reference/: {sorted(set(gone))}"


def test_every_script_has_a_row_and_every_named_script_exists():
    named = set(_names(README, (".R",)))
    assert all((REF / n).is_file() for n in named), sorted(n for n in named if not (REF / n).is_file())
    made_by = {n for row in ROWS for n in _names(row[3], (".R", ".py"))}
    scripts = {p.name for p in REF.iterdir() if p.suffix in (".R", ".py")}
    assert not scripts - made_by, f"scripts in tests/reference/ no row names as its maker: {sorted(scripts - made_by)}"


def test_read_by_is_a_plain_list_of_test_files():
    """docs/gen_pages.py splits the last cell on commas and strips spaces and backticks: anything else in the cell
    (a remark in parentheses) would turn up on the validation page as a test file that does not exist."""
    bad = [(row[0].strip(), item.strip()) for row in ROWS for item in row[4].split(",")
           if not re.fullmatch(r"`test_\w+\.py`", item.strip())]
    assert not bad, f"'Read by' cells that are not a comma-separated list of `test_*.py`: {bad}"


def test_every_named_test_file_exists():
    tests = {n for row in ROWS for n in _names(row[4], (".py",))}
    assert tests
    missing = sorted(n for n in tests if not (ROOT / "tests" / n).is_file())
    assert not missing, f"README rows name test files that do not exist: {missing}"


@pytest.mark.parametrize("row", ROWS, ids=[r[0].strip(" `").split("`")[0] for r in ROWS])
def test_a_listed_test_reads_the_fixture(row):
    """A row's fixture is named in a test it lists, or built there from its prefix (f"selection_{name}.json")."""
    fixtures = _names(row[0], (".json", ".csv"))
    texts = "".join((ROOT / "tests" / t).read_text(encoding="utf-8")
                    for t in _names(row[4], (".py",)) if (ROOT / "tests" / t).is_file())
    for fx in fixtures:
        stem = fx.rsplit(".", 1)[0]
        prefix = stem.rsplit("_", 1)[0] + "_"
        assert fx in texts or stem in texts or prefix + "{" in texts, f"{fx}: none of {row[4].strip()} reads it"
