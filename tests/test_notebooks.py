"""The student notebooks: committed without outputs, and each runs top to bottom (issue #9)."""
from pathlib import Path

import nbformat
import pytest

from efficacy.notebooks import execute_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# notebooks whose run takes more than ~30 s (SEM fits); still run in CI, deselect with -m "not slow"
SLOW = {"04_panel_models.ipynb"}
RUNS = [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in NOTEBOOKS]


def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs or execution counts; clear them"


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.name)
def test_notebook_runs(path):
    nb = execute_notebook(path, timeout=300, cwd=ROOT)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
