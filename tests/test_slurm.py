"""The workflow on a real (one-node, localhost) SLURM cluster gives the same tables as a local run.

``tests/slurm/cluster.py`` installs SLURM and munge from Debian's packages when they are missing
(root and apt-get needed; otherwise the test is skipped with the reason) and starts ``munged``,
``slurmctld`` and ``slurmd`` directly (no systemd). The test runs the default target on the fast
config through ``workflow/profiles/slurm`` with the site values filled in, runs the same config
locally, compares every result table byte for byte, and checks that each daemon started was stopped
by its PID, even on failure. Every step has a bounded timeout.
"""

from __future__ import annotations

import filecmp
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from test_workflow import FAST_CONFIG, ROOT, SNAKEMAKE, _tables, copy_project

RUN_TIMEOUT = 1500  # seconds for one workflow run (SIGKILL 30 s later)

_spec = importlib.util.spec_from_file_location("efficacy_slurm_cluster", ROOT / "tests" / "slurm" / "cluster.py")
cluster_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cluster_mod)


def _sh(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture
def slurm_cluster():
    """A one-node SLURM cluster on localhost (tests/slurm/cluster.py), stopped by PID at teardown."""
    try:
        ctx = cluster_mod.local_cluster()
        cluster = ctx.__enter__()
    except cluster_mod.ClusterUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield cluster
    finally:
        ctx.__exit__(None, None, None)
        alive = [pid for pid in cluster["pids"] if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
        assert alive == [], f"daemons still running: {alive}"


def _site_profile(proj: Path, partition: str):
    """Fill in the profile's site values as a user would, for a cluster without accounting (slurmdbd).

    With no slurm_account the plugin tries to guess one, fails (no slurmdbd) and submits without -A.
    """
    path = proj / "workflow" / "profiles" / "slurm" / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["default-resources"].pop("slurm_account")
    profile["default-resources"]["slurm_partition"] = partition
    profile["slurm-status-command"] = "squeue"  # MinJobAge=3600 in tests/slurm/slurm.conf.in
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["latency-wait"] = 5
    profile["retries"] = 0
    profile["keep-going"] = False
    path.write_text(yaml.safe_dump(profile))


def _snakemake(cmd, cwd, env):
    """Run snakemake under `timeout -k` so that nothing can hang the suite."""
    full = ["timeout", "-k", "30", str(RUN_TIMEOUT), *cmd]
    proc = subprocess.run(full, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT + 60,
                          env={**env, "MPLBACKEND": "Agg"})
    out = proc.stdout[-6000:] + proc.stderr[-6000:]
    assert proc.returncode != 124, f"timed out after {RUN_TIMEOUT} s:\n{out}"
    if proc.returncode != 0:
        for log in sorted(Path(cwd, "logs", "slurm").rglob("*.log")):
            out += f"\n--- {log}:\n" + log.read_text(errors="replace")[-3000:]
    assert proc.returncode == 0, out
    return proc.stdout + proc.stderr


def _copy(dest: Path) -> Path:
    proj = copy_project(dest)
    shutil.copy2(ROOT / "environment.yml", proj / "environment.yml")  # rules' `conda:` directive points at it
    return proj


def _rule_blocks():
    """(file, rule name, body) of every rule in workflow/rules/*.smk."""
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^rule (\w+):", text, flags=re.M)]
        for (start, name), (end, _) in zip(starts, starts[1:] + [(len(text), None)]):
            yield path.name, name, text[start:end]


def test_every_rule_declares_threads_and_resources():
    """What the SLURM executor turns into --cpus-per-task, --mem and --time comes from the rules."""
    blocks = list(_rule_blocks())
    assert blocks
    missing = [f"{file}:{name}" for file, name, body in blocks
               if not re.search(r"^    threads:", body, flags=re.M)
               or not re.search(r"^        mem_mb=", body, flags=re.M)
               or not re.search(r"^        runtime=", body, flags=re.M)]
    assert missing == [], f"rules without threads / mem_mb / runtime: {missing}"


def test_site_values_live_only_in_the_slurm_profile():
    profile = yaml.safe_load((ROOT / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert {"slurm_account", "slurm_partition"} <= set(profile["default-resources"])
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text()
        assert "slurm_account" not in text and "slurm_partition" not in text, path


def test_cluster_environment_matches_pyproject():
    """environment-cluster.yml = environment.yml + the `cluster` extra (conda has no optional groups)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        pytest.skip("tomllib needs Python 3.11")

    def name(req):
        return re.split(r"[<>=!~ \[]", req, maxsplit=1)[0].strip().lower()

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {name(r) for r in project["dependencies"] + project["optional-dependencies"]["cluster"]}
    env = yaml.safe_load((ROOT / "environment-cluster.yml").read_text())
    conda = {name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert conda == wanted, f"only in pyproject: {wanted - conda}; only in environment-cluster.yml: {conda - wanted}"


#: Two studies that between them reach every per-study rule kind except the panel stage (two_cultures:
#: invariance by group, latent mediation; jobs_ii: a binary outcome, a moderator, no multi-item scale) and
#: one meta-analysis: each SLURM job pays submission and status-polling latency, and the full fast config
#: (about 75 jobs) took 11 minutes of the CI budget for no extra coverage of the cluster path.
SLURM_OVERLAY = {"studies": ["two_cultures", "jobs_ii"],
                 "meta": {"analyses": [{"name": "bcg", "source": "table", "input": "data/literature/bcg.csv",
                                        "measure": "RR", "method": "REML", "test": "z", "label": "author", "order": "year",
                                        "columns": {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}}]}}


@pytest.mark.slow
def test_slurm_run_matches_local_run(slurm_cluster, tmp_path):
    env = slurm_cluster["env"]
    overlay = tmp_path / "slurm_overlay.yaml"
    overlay.write_text(yaml.safe_dump(SLURM_OVERLAY))
    configs = ["--configfile", str(FAST_CONFIG), str(overlay)]
    cluster = _copy(tmp_path / "slurm")
    _site_profile(cluster, slurm_cluster["partition"])
    out = _snakemake([SNAKEMAKE, "--workflow-profile", "workflow/profiles/slurm", "--jobs", "2", *configs],
                     cluster, env)
    assert "run complete" in out
    # The jobs really went through SLURM: slurmctld still lists them (MinJobAge=3600), all completed.
    queue = _sh(["squeue", "-h", "-t", "all", "-o", "%T"], timeout=20, env=env)
    states = queue.stdout.split()
    assert queue.returncode == 0 and states, queue.stdout + queue.stderr
    assert set(states) == {"COMPLETED"}, states
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", out)
    assert len(submitted) == len(states), (submitted, states)

    local = _copy(tmp_path / "local")
    out = _snakemake([SNAKEMAKE, "--workflow-profile", "none", "--cores", "2", *configs], local, os.environ)
    assert "run complete" in out

    a, b = cluster / "results", local / "results"
    tables_a, tables_b = _tables(a), _tables(b)
    assert tables_a == tables_b and len(tables_a) > 10
    assert {t.parts[0] for t in tables_a} >= {"two_cultures", "jobs_ii", "meta"}, sorted(tables_a)
    different = [str(t) for t in tables_a if not filecmp.cmp(a / t, b / t, shallow=False)]
    assert different == []


#: Every per-study rule, for the job-grouping run (README "Costs and scaling").
PER_STUDY_RULES = ["clean", "analyse", "measurement_invariance", "figures", "panel", "figures_panel"]


@pytest.mark.slow
def test_slurm_grouped_run_submits_one_job_for_all_per_study_rules(slurm_cluster, tmp_path):
    """The batching the README advises for large reanalyses: per-study rules in one group, studies
    merged by --group-components, each group job capped by --cores / --resources mem_mb (without the
    cap Snakemake sums the parallel layer, asks for more CPUs than the node has, and the job stays
    PENDING forever). The grouped run gives the same tables as a local run."""
    env = slurm_cluster["env"]
    overlay = tmp_path / "slurm_overlay.yaml"
    overlay.write_text(yaml.safe_dump(SLURM_OVERLAY))
    configs = ["--configfile", str(FAST_CONFIG), str(overlay)]
    cluster = _copy(tmp_path / "slurm")
    _site_profile(cluster, slurm_cluster["partition"])
    out = _snakemake([SNAKEMAKE, "--workflow-profile", "workflow/profiles/slurm", "--jobs", "2", *configs,
                      "--groups", *[f"{r}=study" for r in PER_STUDY_RULES], "--group-components", "study=2",
                      "--cores", "2", "--resources", "mem_mb=4000"], cluster, env)
    assert "run complete" in out
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", out)
    # one group job for both studies' 7 per-study jobs (11 SLURM jobs ungrouped) + the meta-analysis and its two
    # figures + the cross-study evidence figure
    assert len(submitted) == 5, out[-3000:]
    queue = _sh(["squeue", "-h", "-t", "all", "-o", "%T %C"], timeout=20, env=env)
    rows = [line.split() for line in queue.stdout.splitlines()]
    assert rows and {state for state, _ in rows} == {"COMPLETED"}, queue.stdout
    assert max(int(cpus) for _, cpus in rows) <= 2, queue.stdout

    local = _copy(tmp_path / "local")
    out = _snakemake([SNAKEMAKE, "--workflow-profile", "none", "--cores", "2", *configs], local, os.environ)
    a, b = cluster / "results", local / "results"
    tables_a = _tables(a)
    assert tables_a == _tables(b) and len(tables_a) > 10
    assert [str(t) for t in tables_a if not filecmp.cmp(a / t, b / t, shallow=False)] == []
