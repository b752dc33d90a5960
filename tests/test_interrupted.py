"""An interrupted run (SIGKILL mid-way) resumes to the same bytes as an uninterrupted one."""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import time

import pytest

from test_workflow import FAST_CONFIG, SNAKEMAKE, _tables, copy_project, run


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_tables(tmp_path):
    # two cores (half the wall time of one; that one and two cores give the same tables is the end-to-end test's)
    ref = copy_project(tmp_path / "ref")
    proc = run([SNAKEMAKE, "--workflow-profile", "none", "--cores", "2", "--configfile", str(FAST_CONFIG)], ref)
    assert proc.returncode == 0, proc.stderr[-3000:]

    proj = copy_project(tmp_path / "killed")
    cmd = [SNAKEMAKE, "--workflow-profile", "none", "--cores", "2", "--configfile", str(FAST_CONFIG)]
    p = subprocess.Popen(cmd, cwd=proj, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    # Wait until the run is mid-way: some study is cleaned, the run is not finished.
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        done = list((proj / "results").glob("*/clean.csv"))
        if len(done) >= 2:
            break
        time.sleep(0.05)
    assert p.poll() is None, "the run finished before it could be interrupted"
    os.killpg(p.pid, signal.SIGKILL)  # the whole process group, jobs included
    p.wait(timeout=30)
    assert not (proj / "results" / "summary.md").exists()
    # No temporary or truncated file is left at a final path.
    leftovers = [str(x) for x in (proj / "results").rglob(".*.tmp")]
    finals = [x for x in (proj / "results").rglob("*.csv") if x.stat().st_size == 0]
    assert finals == []

    # Resume as a user does after a crash: unlock (Snakemake keeps its lock after SIGKILL), then rerun
    # with --rerun-incomplete (set by the default profile).
    proc = run(cmd + ["--unlock"], proj)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run(cmd + ["--rerun-incomplete"], proj)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = ref / "results", proj / "results"
    assert _tables(a) == _tables(b)
    different = [str(t) for t in _tables(a) if not filecmp.cmp(a / t, b / t, shallow=False)]
    assert different == []
    # stray temporaries of the killed job (if any) never sit at a final path
    assert all(".tmp" in x for x in leftovers)
