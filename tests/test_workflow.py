"""The workflow as a whole: lint, format, dry run, an end-to-end run and determinism."""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
FAST_CONFIG = ROOT / "tests" / "data" / "config_fast.yaml"


def run(cmd, cwd, timeout=1500):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    return proc


def copy_project(dest: Path) -> Path:
    """Copy what a workflow run needs (no results, no .snakemake) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("workflow", "config", "data"):
        shutil.copytree(ROOT / name, dest / name, symlinks=False)
    return dest


def test_lint_is_clean():
    proc = run([SNAKEMAKE, "--lint"], ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_snakefiles_are_snakefmt_formatted():
    proc = run([str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules/"], ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deployed_as_a_module_with_snakedeploy(tmp_path):
    """A researcher uses the workflow without copying the repository: `snakedeploy deploy-workflow` writes
    config/, profiles/ and a workflow/Snakefile that declares this workflow as a module; with their data in
    data/raw/ the dry run plans every study. snakedeploy's local provider (what a test can use offline)
    writes the module's snakefile as a path relative to the deployment, which points nowhere; from GitHub it
    writes github("owner/repo", path="Snakefile", tag=...). The test points the module at this checkout."""
    source = copy_project(tmp_path / "source")
    (source / "profiles").symlink_to("workflow/profiles")  # as in the repository
    dest = tmp_path / "deployed"
    proc = run([str(BIN / "snakedeploy"), "deploy-workflow", str(source), str(dest), "--branch", "main"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (dest / "config" / "config.yaml").is_file() and (dest / "config" / "README.md").is_file()
    assert (dest / "profiles" / "default" / "config.yaml").is_file()
    snakefile = dest / "workflow" / "Snakefile"
    text = snakefile.read_text()
    assert "use rule * from" in text and 'snakefile: \n        "Snakefile"' in text, text
    snakefile.write_text(text.replace('        "Snakefile"', f'        "{source / "Snakefile"}"'))
    shutil.copytree(ROOT / "data", dest / "data")  # the researcher's studies
    proc = run([SNAKEMAKE, "-n", "--cores", "1"], dest)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for study in yaml.safe_load((dest / "config" / "config.yaml").read_text())["studies"]:
        assert f"results/{study}/clean.csv" in out, study


def test_dry_run_lists_per_study_jobs():
    proc = run([SNAKEMAKE, "-n", "--quiet", "rules"], ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run([SNAKEMAKE, "-n", "--forceall"], ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    studies = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["studies"]
    for study in studies:
        assert f"results/{study}/clean.csv" in out, study


def test_bad_config_fails_before_any_job(tmp_path):
    proj = copy_project(tmp_path / "p")
    cfg = yaml.safe_load((proj / "config" / "config.yaml").read_text())
    cfg["studies"] = cfg["studies"] + [cfg["studies"][0]]
    (proj / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = run([SNAKEMAKE, "-n", "--workflow-profile", "none", "--cores", "1"], proj)
    assert proc.returncode != 0
    assert "same name" in proc.stdout + proc.stderr
    assert not (proj / "results").exists()


def _tables(folder: Path):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.suffix in (".csv", ".md", ".tsv")
                  and "benchmarks" not in p.parts)


@pytest.mark.slow
def test_end_to_end_run_is_complete_and_byte_identical(tmp_path):
    """Two runs (2 cores, then 1 core) of the fast config give identical tables."""
    outs = []
    for cores in ("2", "1"):
        proj = copy_project(tmp_path / f"run{cores}")
        raw_before = {p: p.read_bytes() for p in (proj / "data").rglob("*") if p.is_file()}
        cmd = [SNAKEMAKE, "--workflow-profile", "none", "--cores", cores, "--configfile", str(FAST_CONFIG)]
        proc = run(cmd, proj)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        assert "run complete" in proc.stdout + proc.stderr
        # raw data untouched, nothing written under data/
        after = {p: p.read_bytes() for p in (proj / "data").rglob("*") if p.is_file()}
        assert after == raw_before
        assert (proj / "results" / "provenance.json").exists()
        outs.append(proj / "results")
    a, b = outs
    tables_a, tables_b = _tables(a), _tables(b)
    assert tables_a == tables_b and len(tables_a) > 10
    different = [str(t) for t in tables_a if not filecmp.cmp(a / t, b / t, shallow=False)]
    assert different == []

    # Manuscript tables (snakemake tables): the Word table's cells are the CSV's numbers, APA-formatted.
    proj = a.parent
    proc = run([SNAKEMAKE, "tables", "--workflow-profile", "none", "--cores", "2", "--configfile", str(FAST_CONFIG)],
               proj)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    import docx

    med = pd.read_csv(a / "jobs_ii" / "mediation.csv")
    doc = docx.Document(a / "jobs_ii" / "tables" / "tables.docx")
    (table,) = [t for t in doc.tables if t.rows[0].cells[2].text == "Effect"]
    cells = {r.cells[2].text: r for r in table.rows[1:]}
    b = med[(med["effect"] == "b") & med["reason"].isna()].iloc[0]
    assert cells["b (M → Y)"].cells[3].text == f"{b['estimate']:.3f}"
    assert cells["b (M → Y)"].cells[5].text == f"[{b['ci_low']:.3f}, {b['ci_high']:.3f}]"
    rel = pd.read_csv(a / "two_cultures" / "reliability.csv")
    alpha = rel[(rel["scale"] == "efficacy") & (rel["group"] == "all")]["alpha"].iloc[0]
    doc = docx.Document(a / "two_cultures" / "tables" / "tables.docx")
    row = [r for r in doc.tables[0].rows if r.cells[0].text == "efficacy"][0]
    assert row.cells[3].text == f"{alpha:.2f}".lstrip("0")
    assert "\\toprule" in (a / "two_cultures" / "tables" / "tables.tex").read_text()

    # A change to one study reruns that study's jobs and the across-study ones, nothing else (issue #22).
    cmd = [SNAKEMAKE, "-n", "--workflow-profile", "none", "--cores", "1", "--configfile", str(FAST_CONFIG)]
    proc = run(cmd, proj)
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    with open(proj / "data" / "raw" / "jobs_ii" / "codebook.yaml", "a", encoding="utf-8") as f:
        f.write("# edited\n")
    proc = run(cmd, proj)
    out = proc.stdout + proc.stderr
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    wildcards: (.*)$", out, flags=re.M)
    wild = {w for _, w in jobs}
    assert {w.split("=")[1] for w in wild if w.startswith("study=")} == {"jobs_ii"}, wild
    # the across-study analysis that pools every study (efficacy_behavior), and its figures
    assert {w for w in wild if w.startswith("name=")} == {"name=efficacy_behavior"}, wild
    ran = set(re.findall(r"^rule (\w+):", out, flags=re.M))
    assert {"clean", "analyse", "figures", "summary", "provenance"} <= ran, ran
    assert not ran & {"panel", "figures_panel", "measurement_invariance"}, ran
