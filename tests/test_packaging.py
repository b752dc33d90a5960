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
