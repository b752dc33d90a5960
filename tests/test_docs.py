"""The documentation site builds with warnings as errors (broken links and references fail), and its
generated pages carry what they are generated from (issue #23)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    results = tmp_path_factory.mktemp("results")  # no bundled run here: the gallery says how to make one
    env = {**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1", "EFFICACY_DOCS_RESULTS": str(results)}
    proc = subprocess.run([str(MKDOCS), "build", "--strict", "-d", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return out


def _page(site, name):
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_codebook_reference_lists_every_schema_key(site):
    schema = yaml.safe_load((ROOT / "workflow/schemas/codebook.schema.yaml").read_text(encoding="utf-8"))
    page = _page(site, "reference/codebook")
    for key in schema["properties"]:
        assert f"<code>{key}</code>" in page, key
    assert "<code>scales.&lt;name&gt;.items</code>" in page


def test_configuration_reference_lists_every_config_key(site):
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text(encoding="utf-8"))
    page = _page(site, "reference/configuration")
    for key in schema["properties"]:
        assert f"<code>{key}</code>" in page, key


def test_validation_page_is_the_reference_readme(site):
    page = _page(site, "validation")
    readme = (ROOT / "tests/reference/README.md").read_text(encoding="utf-8")
    fixtures = [line.split("|")[1].strip(" `") for line in readme.splitlines() if line.startswith("| `")]
    assert len(fixtures) > 20
    for fx in fixtures:
        assert fx.split("`")[0] in page, fx


def test_api_reference_documents_the_public_functions(site):
    import efficacy as ef

    pages = "".join((site / "api" / p / "index.html").read_text(encoding="utf-8")
                    for p in ("reliability", "measurement", "mediation", "meta", "panel", "sem"))
    for name in ("cronbach_alpha", "cfa", "invariance", "mediate", "causal_mediation", "random_effects",
                 "escalc", "riclpm", "polychoric"):
        assert name in ef.__all__
        assert f'id="efficacy.' in pages and f".{name}" in pages, name


def test_notebooks_and_stage_pages_are_rendered(site):
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "notebooks" / nb.stem / "index.html").is_file(), nb.name
    for stage in ("data", "reliability", "measurement", "mediation", "cause-or-correlate", "panel", "meta",
                  "simulation"):
        assert "References" in _page(site, f"stages/{stage}"), stage
    assert "make run" in _page(site, "gallery")
