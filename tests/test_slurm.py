"""The workflow on a real (one-node, localhost) SLURM cluster gives the same tables as a local run.

The test installs SLURM and munge from Debian's packages when they are missing (root and apt-get
needed; otherwise it is skipped with the reason), starts ``munged``, ``slurmctld`` and ``slurmd``
directly (no systemd) with state, spool, pid files, logs and munge's socket in a temporary folder and
``/etc/slurm/slurm.conf`` written for the run (the jobstep plugin drops ``SLURM_CONF`` before its inner
``srun``, so the default path is the only one every client sees; the previous file, if any, is restored), runs the default target on the fast config through
``workflow/profiles/slurm`` with the site values filled in, runs the same config locally, compares
every result table byte for byte, and stops each daemon it started by its PID, even on failure.
Every step has a bounded timeout.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import re

import pytest
import yaml

from test_workflow import FAST_CONFIG, ROOT, SNAKEMAKE, _tables, copy_project

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}
TEMPLATE = ROOT / "tests" / "slurm" / "slurm.conf.in"
RUN_TIMEOUT = 900  # seconds for one workflow run (SIGKILL 30 s later)


def _sh(cmd, timeout=60, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _ensure_slurm_installed():
    if all(Path(p).exists() for p in DAEMONS.values()) and shutil.which("sbatch") and shutil.which("squeue"):
        return
    if os.geteuid() != 0:
        pytest.skip("SLURM is not installed and installing it needs root (apt-get)")
    if shutil.which("apt-get") is None:
        pytest.skip("SLURM is not installed and apt-get is unavailable")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
        proc = _sh(cmd, timeout=600, env=env)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 * 9 // 10
    return 4000


def _wait(predicate, timeout, what, logs=()):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    tails = "".join(f"\n--- {p}:\n" + Path(p).read_text(errors="replace")[-2000:] for p in logs if Path(p).exists())
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{tails}")


def _stop(procs):
    """SIGTERM each daemon we started (by PID), then SIGKILL what is left after 15 s."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def slurm_cluster():
    """A one-node SLURM cluster on localhost; yields the environment its clients need."""
    if os.geteuid() != 0:
        pytest.skip("starting slurmd and munged needs root")
    _ensure_slurm_installed()
    # Not under pytest's tmp_path: the munge user must be able to reach its socket folder.
    base = Path(tempfile.mkdtemp(prefix="efficacy-slurm-"))
    base.chmod(0o755)
    munge_dir = base / "munge"
    munge_dir.mkdir(mode=0o755)
    for sub in ("state", "spool"):
        (base / sub).mkdir()
    shutil.chown(munge_dir, "munge", "munge")
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        _sh(["mungekey", "--create", "--keyfile", str(key)], check=True)
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
    # The default path: the jobstep plugin strips SLURM_* (SLURM_CONF included) before the inner srun.
    # Rewritten on every run; any previous file is put back (or ours removed) at teardown.
    conf = Path("/etc/slurm/slurm.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    saved = conf.read_bytes() if conf.exists() else None
    conf.write_text(TEMPLATE.read_text().format(
        dir=base, munge_socket=munge_dir / "munge.socket", ctld_port=_free_port(), slurmd_port=_free_port(),
        cpus=os.cpu_count() or 1, mem_mb=_mem_mb()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs: list[subprocess.Popen] = []
    logs = [munge_dir / "munged.log", base / "slurmctld.log", base / "slurmd.log"]

    def start(cmd, **kw):
        # Foreground (-F / -D) so that the PID we hold is the daemon's own.
        out = open(base / f"{Path(cmd[0]).name}.out", "w")
        procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True, **kw))
        return procs[-1]

    try:
        start([DAEMONS["munged"], "-F", f"--socket={munge_dir / 'munge.socket'}",
               f"--pid-file={munge_dir / 'munged.pid'}", f"--log-file={munge_dir / 'munged.log'}",
               f"--seed-file={munge_dir / 'munged.seed'}"], user="munge", group="munge")
        _wait(lambda: (munge_dir / "munge.socket").exists(), 20, "munged's socket", logs)
        start([DAEMONS["slurmctld"], "-D", "-c", "-f", str(conf)])
        start([DAEMONS["slurmd"], "-D", "-N", "localhost", "-f", str(conf)])

        def node_idle():
            if any(p.poll() is not None for p in procs):
                raise AssertionError("a SLURM daemon exited:\n" + "".join(
                    f"--- {p}:\n{Path(p).read_text(errors='replace')[-2000:]}"
                    for p in [*logs, *base.glob('*.out')] if Path(p).exists()))
            proc = _sh(["sinfo", "-h", "-N", "-o", "%T"], timeout=10, env=env)
            return proc.returncode == 0 and proc.stdout.strip() == "idle"

        _wait(node_idle, 60, "the node to become idle", logs)
        yield {"env": env, "dir": base, "partition": "test"}
    finally:
        _stop(procs)
        if saved is None:
            conf.unlink(missing_ok=True)
        else:
            conf.write_bytes(saved)
        shutil.rmtree(base, ignore_errors=True)


def _site_profile(proj: Path, partition: str):
    """Fill in the profile's site values as a user would, for a cluster without accounting (slurmdbd).

    With no slurm_account the plugin tries to guess one, fails (no slurmdbd) and submits without -A.
    """
    path = proj / "workflow" / "profiles" / "slurm" / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["default-resources"].pop("slurm_account")
    profile["default-resources"]["slurm_partition"] = partition
    profile["slurm-status-command"] = "squeue"  # MinJobAge=300 in tests/slurm/slurm.conf.in
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


@pytest.mark.slow
def test_slurm_run_matches_local_run(slurm_cluster, tmp_path):
    env = slurm_cluster["env"]
    cluster = _copy(tmp_path / "slurm")
    _site_profile(cluster, slurm_cluster["partition"])
    out = _snakemake([SNAKEMAKE, "--workflow-profile", "workflow/profiles/slurm", "--jobs", "2",
                      "--configfile", str(FAST_CONFIG)], cluster, env)
    assert "run complete" in out
    # The jobs really went through SLURM: slurmctld still lists them (MinJobAge=300), all completed.
    queue = _sh(["squeue", "-h", "-t", "all", "-o", "%T"], timeout=20, env=env)
    states = queue.stdout.split()
    assert queue.returncode == 0 and states, queue.stdout + queue.stderr
    assert set(states) == {"COMPLETED"}, states
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", out)
    assert len(submitted) == len(states), (submitted, states)

    local = _copy(tmp_path / "local")
    out = _snakemake([SNAKEMAKE, "--workflow-profile", "none", "--cores", "2", "--configfile", str(FAST_CONFIG)],
                     local, os.environ)
    assert "run complete" in out

    a, b = cluster / "results", local / "results"
    tables_a, tables_b = _tables(a), _tables(b)
    assert tables_a == tables_b and len(tables_a) > 10
    different = [str(t) for t in tables_a if not filecmp.cmp(a / t, b / t, shallow=False)]
    assert different == []
