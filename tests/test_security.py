"""Security: no code from data or config is ever run; YAML is read safely; paths stay inside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from efficacy.codebook import load_codebook
from efficacy.errors import CodebookError

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    [p for p in (ROOT / "src").rglob("*.py")]
    + [p for p in (ROOT / "workflow").rglob("*.py")]
    + [p for p in (ROOT / "workflow").rglob("*.smk")]
    + [ROOT / "Snakefile"]
)

FORBIDDEN = {
    "eval()": re.compile(r"(?<![\w.])eval\s*\("),
    "exec()": re.compile(r"(?<![\w.])exec\s*\("),
    "DataFrame.query / .eval": re.compile(r"\.(query|eval)\s*\("),
    "pandas.eval": re.compile(r"\bpd\.eval\b|\bpandas\.eval\b"),
    "yaml.load without the safe loader": re.compile(r"yaml\.(load|load_all|unsafe_load|full_load)\s*\("),
    "pickle": re.compile(r"\bpickle\.loads?\s*\("),
    "compile()": re.compile(r"(?<![\w.])compile\s*\((?!r?['\"])"),
}


_LITERAL_QUERY = re.compile(r"""\.query\(\s*("[^"{}@]*"|'[^'{}@]*')\s*\)""")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _notebook_code(path):
    """Code cells of a notebook as (cell number, line) pairs."""
    import json

    nb = json.loads(path.read_text(encoding="utf-8"))
    for n, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            for line in (src if isinstance(src, list) else src.splitlines(keepends=True)):
                yield n, line.rstrip("\n")


def test_sources_are_scanned():
    assert len(SOURCES) > 10
    assert any("scripts" in p.parts for p in SOURCES)  # workflow/scripts/*.py adapters are covered
    assert NOTEBOOKS, "notebooks/ should be scanned too"


@pytest.mark.parametrize("name,pattern", list(FORBIDDEN.items()))
def test_no_code_evaluation_in_notebooks(name, pattern):
    hits = []
    for path in NOTEBOOKS:
        for cell, line in _notebook_code(path):
            # a .query() on a constant string literal (no f-string, no variables) runs no outside text
            code = _LITERAL_QUERY.sub("", line.split("#", 1)[0])
            if pattern.search(code):
                hits.append(f"{path.relative_to(ROOT)} cell {cell}: {line.strip()}")
    assert hits == [], f"{name} found:\n" + "\n".join(hits)


@pytest.mark.parametrize("name", ["x =~ y", "a ~ b", "se1*2", "x + y", "x # c", "a;b", "a\nb", " "])
def test_variable_names_cannot_carry_model_syntax(tmp_path, name):
    """Names from the codebook reach model formulas (the panel stage builds lavaan syntax from wave
    columns and design.covariates); a name holding syntax operators is refused at load time."""
    from conftest import TINY_CSV, tiny_codebook, write_study

    cb = tiny_codebook()
    cb["variables"][name] = {"type": "numeric"}
    with pytest.raises(CodebookError, match="model-syntax characters") as info:
        load_codebook(write_study(tmp_path / "tiny", cb, TINY_CSV))
    assert "codebook.yaml" in str(info.value)


def test_design_roles_must_name_codebook_variables(tmp_path):
    """Covariate and moderator names are checked against the codebook before any model sees them."""
    from conftest import TINY_CSV, tiny_codebook, write_study

    for role, value in [("covariates", ["age", "__import__('os')"]), ("moderator", "nope")]:
        cb = tiny_codebook()
        cb["design"][role] = value
        with pytest.raises(CodebookError, match=rf"design\.{role}.*not a declared variable"):
            load_codebook(write_study(tmp_path / f"t{role}" / "tiny", cb, TINY_CSV))


@pytest.mark.parametrize("name,pattern", list(FORBIDDEN.items()))
def test_no_code_evaluation_in_sources(name, pattern):
    hits = []
    for path in SOURCES:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if pattern.search(code):
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert hits == [], f"{name} found:\n" + "\n".join(hits)


def test_yaml_tags_that_construct_objects_are_refused(tmp_path):
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "codebook.yaml").write_text(
        "study: evil\ndata: !!python/object/apply:os.system ['echo pwned']\nvariables: {}\n", encoding="utf-8")
    with pytest.raises(CodebookError, match="malformed YAML"):
        load_codebook(folder)


def test_exclusion_values_are_data_not_code(tmp_path):
    """An exclusion value that looks like code is compared as a value, never run."""
    from conftest import TINY_CSV, tiny_codebook, write_study
    from efficacy.cleaning import clean_study

    cb = tiny_codebook()
    cb["exclusions"] = [{"variable": "pid", "op": "==", "value": "__import__('os').system('false')",
                         "reason": "nothing matches"}]
    res = clean_study(write_study(tmp_path / "tiny", cb, TINY_CSV))
    assert res.flow["excluded"].tolist() == [0, 0]
