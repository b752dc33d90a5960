"""The student notebooks: committed without outputs, and each runs top to bottom (issue #9)."""
from pathlib import Path

import nbformat
import pytest

from efficacy.notebooks import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# the five notebooks issue #9 asks for
EXPECTED = {
    "01_tour_of_a_study.ipynb",
    "02_reliability.ipynb",
    "03_mediation_cause_or_correlate.ipynb",
    "04_panel_models.ipynb",
    "05_meta_analysis.ipynb",
}
# notebooks whose run takes more than ~30 s (SEM fits); still run in CI, deselect with -m "not slow"
SLOW = {"04_panel_models.ipynb"}
RUNS = [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in NOTEBOOKS]


def test_notebooks_exist():
    missing = EXPECTED - {p.name for p in NOTEBOOKS}
    assert not missing, f"notebooks missing under notebooks/: {sorted(missing)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs or execution counts; clear them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_ends_with_exercises(path):
    """Issue #9: each notebook ends with two or three exercises, each with a hint."""
    nb = nbformat.read(path, as_version=4)
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and "## Exercises" in last.source, \
        f"{path.name}: the last cell should be the '## Exercises' markdown cell"
    text = last.source.split("## Exercises", 1)[1]
    numbered = [ln for ln in text.splitlines() if ln[:3] in ("1. ", "2. ", "3. ", "4. ")]
    assert 2 <= len(numbered) <= 3, f"{path.name}: {len(numbered)} exercises, expected 2 or 3"
    assert text.count("*Hint:*") == len(numbered), f"{path.name}: every exercise needs a '*Hint:*'"


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.name)
def test_notebook_runs(path):
    nb = execute_notebook(path, timeout=300, cwd=ROOT)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


def _tiny_notebook(path, source):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nbformat.write(nb, path)


def test_execute_notebook_writes_output_copy_and_keeps_source_clean(tmp_path):
    src = tmp_path / "tiny.ipynb"
    _tiny_notebook(src, "print(6 * 7)")
    out = tmp_path / "executed" / "tiny.ipynb"
    execute_notebook(src, cwd=tmp_path, output=out, timeout=60)
    executed = nbformat.read(out, as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "42"
    assert not nbformat.read(src, as_version=4).cells[0].outputs, "the source notebook must stay clean"
    with pytest.raises(ValueError, match="not both"):
        execute_notebook(src, cwd=tmp_path, output=out, in_place=True)


def test_execute_notebook_names_the_failing_cell(tmp_path):
    from nbclient.exceptions import CellExecutionError

    src = tmp_path / "broken.ipynb"
    _tiny_notebook(src, "raise RuntimeError('cell is broken')")
    with pytest.raises(CellExecutionError, match="cell is broken"):
        execute_notebook(src, cwd=tmp_path, timeout=60)
