"""Packaging: pyproject and environment.yml agree; the CLI works."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from efficacy.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    py_deps = {_name(d) for d in project["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert py_deps == conda, f"only in pyproject: {py_deps - conda}; only in environment.yml: {conda - py_deps}"
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    assert "-e ." in pip


def test_cli_new_study_and_validate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-study", "pilot"]) == 0
    assert (tmp_path / "data/raw/pilot/codebook.yaml").exists()
    assert main(["new-study", "pilot"]) == 1  # refuses to overwrite
    (tmp_path / "data/raw/pilot/data.csv").write_text(
        "pid,treat,age,se1,se2,se3,behavior\na,1,30,4,5,1,3\nb,0,16,2,3,4,1\nc,1,44,5,5,2,6\n")
    capsys.readouterr()
    assert main(["validate", "data/raw/pilot"]) == 0
    out = capsys.readouterr().out
    assert "pilot: OK - 3 rows, 2 analysed" in out
    (tmp_path / "data/raw/pilot/data.csv").write_text("pid,treat\na,1\n")
    assert main(["validate", "data/raw/pilot"]) == 1
    err = capsys.readouterr().err
    assert "missing from the data file" in err and "Traceback" not in err


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "efficacy"
    proc = subprocess.run([str(exe), "validate", str(ROOT / "data/raw/jobs_ii")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "jobs_ii: OK" in proc.stdout


def test_wheel_installs_the_library_with_its_schemas_and_templates(tmp_path):
    """The wheel (pip wheel, what `python -m build` makes) holds every subpackage, the codebook schema and
    the template, and `efficacy new-study` / `validate` work from it outside the repository."""
    import zipfile

    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                           str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("efficacy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for sub in ("sem", "mediation", "meta", "plots"):
        assert f"efficacy/{sub}/__init__.py" in names, sub
    assert {"efficacy/schemas/codebook.schema.yaml", "efficacy/templates/codebook.yaml"} <= names
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "HOME": str(tmp_path)}
    code = ("import efficacy, sys; from efficacy.cli import main; "
            "assert efficacy.__file__.startswith(sys.argv[1]), efficacy.__file__; "
            "sys.exit(main(['new-study', 'pilot']))")
    proc = subprocess.run([sys.executable, "-c", code, str(site)], cwd=work, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "data/raw/pilot/codebook.yaml").read_text().strip()
