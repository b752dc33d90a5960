"""Paths stay inside the project; outputs go only under results/, logs/ and benchmarks/.

Every path read from a config file or a codebook must be relative and stay in
the project: an absolute path, a ``..`` escape or a symbolic link leading out
is refused at load time with an error naming the file and the key, unless the
user opts in with ``allow_external_paths: true``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY_CSV, tiny_codebook, write_study
from efficacy.cleaning import clean_study
from efficacy.codebook import ALLOW_EXTERNAL_ENV, load_codebook
from efficacy.errors import CodebookError, ConfigError
from efficacy.workflow import check_config_paths, check_studies, load_study_codebooks
from test_workflow import SNAKEMAKE, copy_project, run

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_PREFIXES = ("results/", "logs/", "benchmarks/")


@pytest.fixture(autouse=True)
def _no_opt_in_from_the_environment(monkeypatch):
    monkeypatch.delenv(ALLOW_EXTERNAL_ENV, raising=False)


# ---------------------------------------------------------------- codebook data.file


@pytest.mark.parametrize("path,message", [
    ("/etc/passwd", "absolute paths"),
    ("~/data.csv", "absolute paths"),
    ("C:\\data\\x.csv", "absolute paths"),
    ("../other/data.csv", "leaves the study folder"),
    ("sub/../../../x.csv", "leaves the study folder"),
    ("", "empty path"),
])
def test_codebook_data_file_must_be_relative_and_inside(tmp_path, path, message):
    cb = tiny_codebook()
    cb["data"]["file"] = path
    folder = write_study(tmp_path / "tiny", cb, TINY_CSV)
    with pytest.raises(CodebookError, match=message) as info:
        load_codebook(folder)
    text = str(info.value)
    assert "codebook.yaml" in text and "data.file" in text
    with pytest.raises(CodebookError, match=message):
        clean_study(folder)


def test_harmless_dots_inside_the_study_folder_are_fine(tmp_path):
    cb = tiny_codebook()
    cb["data"]["file"] = "sub/../data.csv"
    folder = write_study(tmp_path / "tiny", cb, TINY_CSV)
    (folder / "sub").mkdir()
    assert clean_study(folder).n_analysed == 5


def test_symlink_leading_out_of_the_project_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(TINY_CSV, encoding="utf-8")
    project = tmp_path / "project"
    folder = write_study(project / "data" / "raw" / "tiny", tiny_codebook(), "")
    (folder / "data.csv").unlink()
    (folder / "data.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(CodebookError, match="symbolic link leading outside") as info:
        load_codebook(folder, root=project)
    assert "data.file" in str(info.value) and "secret.csv" in str(info.value)
    with pytest.raises(CodebookError, match="symbolic link"):
        clean_study(folder)
    # explicit opt-in: argument or environment variable (what the workflow sets)
    assert load_codebook(folder, allow_outside=True).data_file == folder / "data.csv"
    os.environ[ALLOW_EXTERNAL_ENV] = "1"
    try:
        assert clean_study(folder).n_analysed == 5
    finally:
        del os.environ[ALLOW_EXTERNAL_ENV]


def test_symlink_inside_the_project_is_allowed(tmp_path):
    project = tmp_path / "project"
    shared = project / "data" / "shared"
    shared.mkdir(parents=True)
    (shared / "tiny.csv").write_text(TINY_CSV, encoding="utf-8")
    folder = write_study(project / "data" / "raw" / "tiny", tiny_codebook(), "")
    (folder / "data.csv").unlink()
    (folder / "data.csv").symlink_to(Path("../../shared/tiny.csv"))
    cb = load_codebook(folder, root=project)
    assert cb.data_file.resolve() == (shared / "tiny.csv").resolve()
    # without a project root, the study folder is the limit
    with pytest.raises(CodebookError, match="symbolic link"):
        load_codebook(folder)


def test_absolute_path_allowed_with_explicit_opt_in(tmp_path):
    data = tmp_path / "elsewhere.csv"
    data.write_text(TINY_CSV, encoding="utf-8")
    cb = tiny_codebook()
    cb["data"]["file"] = str(data)
    folder = write_study(tmp_path / "tiny", cb, "")
    with pytest.raises(CodebookError, match="absolute"):
        load_codebook(folder)
    assert load_codebook(folder, allow_outside=True).data_file == data


# ---------------------------------------------------------------- config


def _project(tmp_path) -> Path:
    project = tmp_path / "project"
    write_study(project / "data" / "raw" / "tiny", tiny_codebook(), TINY_CSV)
    (project / "data" / "literature").mkdir(parents=True)
    (project / "data" / "literature" / "t.csv").write_text("yi,vi\n0.1,0.01\n", encoding="utf-8")
    return project


@pytest.mark.parametrize("key,value,message", [
    ("raw_dir", "/etc", "absolute paths"),
    ("raw_dir", "../elsewhere", "leaves the project"),
    ("meta.analyses[0].input", "/etc/passwd", "absolute paths"),
    ("meta.analyses[0].input", "data/../../x.csv", "leaves the project"),
    ("meta.analyses[0].input", "~/x.csv", "absolute paths"),
    ("extra.model_file", "../../model.txt", "leaves the project"),
])
def test_config_paths_must_stay_inside_the_project(tmp_path, key, value, message):
    project = _project(tmp_path)
    config = {"raw_dir": "data/raw", "studies": ["tiny"],
              "meta": {"analyses": [{"name": "t", "input": "data/literature/t.csv"}]}}
    if key == "raw_dir":
        config["raw_dir"] = value
    elif key.startswith("meta"):
        config["meta"]["analyses"][0]["input"] = value
    else:
        config["extra"] = {"model_file": value}
    with pytest.raises(ConfigError, match=message) as info:
        check_config_paths(config, root=project, config_file="config/mine.yaml")
    assert f"config/mine.yaml: {key}:" in str(info.value)
    with pytest.raises(ConfigError, match=message):
        load_study_codebooks(["tiny"], raw_dir=project / config["raw_dir"] if key != "raw_dir" else value,
                             config=config, root=project, config_file="config/mine.yaml")
    config["allow_external_paths"] = True
    check_config_paths(config, root=project)  # explicit opt-in: accepted


def test_config_symlink_leading_out_is_refused(tmp_path):
    project = _project(tmp_path)
    outside = tmp_path / "outside.csv"
    outside.write_text("yi,vi\n0.1,0.01\n", encoding="utf-8")
    (project / "data" / "literature" / "link.csv").symlink_to(outside)
    config = {"studies": ["tiny"], "meta": {"analyses": [{"name": "t", "input": "data/literature/link.csv"}]}}
    with pytest.raises(ConfigError, match=r"meta\.analyses\[0\]\.input: path is a symbolic link"):
        check_config_paths(config, root=project)


@pytest.mark.parametrize("name", ["../tiny", "..", "a/b", ".hidden", "~root", "a\\b"])
def test_study_names_are_plain_folder_names(tmp_path, name):
    project = _project(tmp_path)
    with pytest.raises(ConfigError, match=r"studies\[1\]"):
        check_studies(["tiny", name], raw_dir=project / "data" / "raw", root=tmp_path, allow_external=True)


def test_symlinked_study_folder_leading_out_is_refused(tmp_path):
    project = _project(tmp_path)
    write_study(tmp_path / "outside" / "evil", tiny_codebook("evil"), TINY_CSV)
    (project / "data" / "raw" / "evil").symlink_to(tmp_path / "outside" / "evil")
    old = Path.cwd()
    os.chdir(project)
    try:
        with pytest.raises(ConfigError, match=r"studies\[1\]: path is a symbolic link"):
            load_study_codebooks(["tiny", "evil"], config={"raw_dir": "data/raw", "studies": ["tiny", "evil"]})
        cbs = load_study_codebooks(["tiny", "evil"], config={"raw_dir": "data/raw", "studies": ["tiny", "evil"],
                                                             "allow_external_paths": True})
        assert list(cbs) == ["tiny", "evil"]
    finally:
        os.chdir(old)
        os.environ.pop(ALLOW_EXTERNAL_ENV, None)


def test_allow_external_paths_is_documented():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text(encoding="utf-8"))
    prop = schema["properties"]["allow_external_paths"]
    assert prop["default"] is False and prop["type"] == "boolean" and prop["description"]
    assert "`allow_external_paths`" in (ROOT / "config" / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the workflow


def _set_config(proj: Path, **changes):
    path = proj / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.update(changes)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


@pytest.mark.slow
def test_workflow_refuses_external_paths_at_load_time_and_honours_the_opt_in(tmp_path):
    proj = copy_project(tmp_path / "p")
    _set_config(proj, raw_dir=str(proj / "data" / "raw"))
    proc = run([SNAKEMAKE, "-n", "--workflow-profile", "none", "--cores", "1"], proj)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config/config.yaml: raw_dir: absolute paths are not allowed" in out, out[-3000:]
    _set_config(proj, raw_dir="data/raw")

    # a codebook whose data file is a symlink to a file outside the project
    outside = tmp_path / "outside"
    outside.mkdir()
    data = proj / "data" / "raw" / "jobs_ii"
    cb = yaml.safe_load((data / "codebook.yaml").read_text(encoding="utf-8"))
    real = data / cb["data"]["file"]
    moved = outside / real.name
    real.rename(moved)
    real.symlink_to(moved)
    proc = run([SNAKEMAKE, "-n", "--workflow-profile", "none", "--cores", "1"], proj)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "data/raw/jobs_ii/codebook.yaml: data.file: path is a symbolic link leading outside the project" in out

    # opt-in: the parse-time check and the job's own codebook read both accept it
    _set_config(proj, allow_external_paths=True)
    proc = run([SNAKEMAKE, "--workflow-profile", "none", "--cores", "1", "results/jobs_ii/clean.csv"], proj)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (proj / "results" / "jobs_ii" / "clean.csv").stat().st_size > 0


# ---------------------------------------------------------------- outputs


RULES_PROBE = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings, StorageSettings
with SnakemakeApi() as api:
    wapi = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                        storage_settings=StorageSettings(), snakefile=Path("Snakefile"), workdir=Path("."))
    rules = {}
    for r in wapi._workflow.rules:
        rules[r.name] = {"output": [str(f) for f in r.output], "log": [str(f) for f in r.log],
                         "benchmark": [str(r.benchmark)] if r.benchmark else []}
print("RULES=" + json.dumps(rules))
"""


def _bad_output(path: str) -> bool:
    return (not path.startswith(OUTPUT_PREFIXES) or Path(path).is_absolute() or ".." in Path(path).parts)


def test_every_rule_writes_only_under_results_logs_benchmarks():
    """Reads every rule of the workflow (also rules outside the default DAG) through Snakemake itself."""
    proc = subprocess.run([sys.executable, "-c", RULES_PROBE], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RULES=")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    rules = json.loads(line[0][len("RULES="):])
    assert {"clean", "analyse", "measurement_invariance", "all"} <= set(rules)
    bad = [f"{name}.{kind}: {p}" for name, spec in rules.items() for kind, paths in spec.items() for p in paths
           if _bad_output(p)]
    assert bad == [], "outputs outside results/, logs/, benchmarks/:\n" + "\n".join(bad)


def test_every_job_of_the_full_dag_writes_only_under_results_logs_benchmarks():
    """The concrete paths of every job (wildcards filled in) of a forced dry run."""
    proc = run([SNAKEMAKE, "-n", "--forceall", "--workflow-profile", "none", "--cores", "1"], ROOT, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    paths = []
    for line in out.splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("output", "log", "benchmark"):
            paths += [p.strip() for p in value.split(",") if p.strip()]
    assert len(paths) > 20
    bad = [p for p in paths if _bad_output(p)]
    assert bad == [], bad


# ---------------------------------------------------------------- raw_dir


@pytest.mark.slow
def test_raw_dir_is_read_from_the_config_by_every_rule(tmp_path):
    """Studies under another folder of the project are found there, and data/raw is never read.

    The bundled studies are moved to ``data/elsewhere`` (``data/raw`` no longer
    exists); the forced dry run must list every study's jobs with codebooks
    and data files from the new folder, and a real run of the clean stage must
    work from it.
    """
    proj = copy_project(tmp_path / "p")
    (proj / "data" / "raw").rename(proj / "data" / "elsewhere")
    _set_config(proj, raw_dir="data/elsewhere")
    studies = yaml.safe_load((proj / "config" / "config.yaml").read_text(encoding="utf-8"))["studies"]
    proc = run([SNAKEMAKE, "-n", "--forceall", "--workflow-profile", "none", "--cores", "1"], proj, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    inputs = []
    for line in out.splitlines():
        key, _, value = line.strip().partition(": ")
        if key == "input":
            inputs += [p.strip() for p in value.split(",") if p.strip()]
    for study in studies:
        assert f"data/elsewhere/{study}/codebook.yaml" in inputs, study
        assert f"results/{study}/clean.csv" in out, study
    assert not [p for p in inputs if p.startswith("data/raw")], "a rule still reads data/raw"

    proc = run([SNAKEMAKE, "--workflow-profile", "none", "--cores", "1", "results/jobs_ii/clean.csv"], proj)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    clean = (proj / "results" / "jobs_ii" / "clean.csv").read_text(encoding="utf-8")
    assert clean.count("\n") > 800  # JOBS II has 899 participants
    assert not (proj / "data" / "raw").exists()  # nothing written under data/

    # a raw_dir outside the project: refused, unless allow_external_paths opts in
    outside = tmp_path / "outside_raw"
    (proj / "data" / "elsewhere").rename(outside)
    _set_config(proj, raw_dir=str(outside))
    dry = [SNAKEMAKE, "-n", "--forceall", "--workflow-profile", "none", "--cores", "1"]
    proc = run(dry, proj, timeout=300)
    assert proc.returncode != 0 and "raw_dir: absolute paths are not allowed" in proc.stdout + proc.stderr
    _set_config(proj, allow_external_paths=True)
    proc = run(dry, proj, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for study in studies:
        assert f"{outside}/{study}/codebook.yaml" in out, study


def test_no_rule_hard_codes_the_raw_folder():
    """Rule files name study inputs through common.smk's codebook_path/raw_data_file, never 'data/raw'."""
    offenders = []
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")) + [ROOT / "Snakefile"]:
        for i, line in enumerate(smk.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if "data/raw" in code and '"""' not in line:
                offenders.append(f"{smk.relative_to(ROOT)}:{i}: {line.strip()}")
    assert offenders == [], "use codebook_path / raw_data_file (config['raw_dir']):\n" + "\n".join(offenders)
