"""Minimal reproduction: Snakemake's own CPU per job grows with the size of the DAG under the ILP scheduler.

A SCRIPT, not a test. It writes a synthetic workflow of N independent chains of K trivial shell jobs (no
Python start-up inside the jobs, no inputs from efficacy), runs it with `--scheduler ilp` (Snakemake's
default) and `--scheduler greedy`, and prints the CPU time of Snakemake's own process (RUSAGE_SELF of a
wrapper that runs Snakemake in-process; the jobs are children and not counted) per job.

What it found (2026-12-07, 2-core machine shared with other work, Snakemake 9.x, N = 60 and 240 chains of
7 jobs): ILP 9.9 -> 14.4 ms of Snakemake CPU per job (x1.45 from 420 to 1,680 jobs), greedy 8.2 -> 7.8 ms
(flat). cProfile of the ILP run: the job selector builds and solves a PuLP problem over all ready jobs in
every scheduling round (1,116 rounds, 1.9 million PuLP expression objects at 1,680 jobs against 115,000 at
420: quadratic), and the input-size bookkeeping stats every ready job's inputs in every round
(`get_size`, 130,000 calls at 1,680 jobs). Both are inside Snakemake; the workaround is the greedy
scheduler, which the default profile sets (workflow/profiles/default/config.yaml), plus fewer, coarser jobs.

Second finding (2026-12-07, `--sleep`): with jobs that take time, Snakemake 9's own CPU grows with the square
of the run, whatever the scheduler. With a job rate limiter (``--max-jobs-per-timespan``, default
``100/1s``), every pass of the scheduler loop arms a ``threading.Timer`` that wakes the loop one timespan
later, and every finished job wakes the loop as well, so each finished job starts one more endless chain of
wake-ups: after k finished jobs the loop runs ~k times a second, each pass restating every ready job's input
files. cProfile of the main workflow on 20 studies (139 jobs, ~330 s): 23,604 scheduler passes, 23,606
timer threads started, 2.85 million ``stat`` calls. ``--sleep 0.5 --workaround`` runs the same DAG with the
project's workaround (the Snakefile's ``onstart`` drops the rate limiter of a local run:
``drop_local_rate_limiter`` in workflow/rules/common.smk) so the two are compared in one run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_scheduler.py                 # N = 60, 240
    .venv/bin/python benchmarks/bench_scheduler.py --sizes 30,120,480 --steps 7
    .venv/bin/python benchmarks/bench_scheduler.py --sizes 10,40 --steps 3 --sleep 0.5 --workaround
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SNAKEFILE = textwrap.dedent('''\
    N = int(config["chains"])
    K = int(config["steps"])


    rule all:
        input:
            expand("out/{i}/s{k}.txt", i=range(N), k=[K - 1]),


    rule first:
        output:
            "out/{i}/s0.txt",
        shell:
            "sleep {config[sleep]}; echo {wildcards.i} > {output}"


    rule step:
        input:
            lambda w: f"out/{w.i}/s{int(w.k) - 1}.txt",
        output:
            "out/{i}/s{k,[1-9][0-9]*}.txt",
        shell:
            "sleep {config[sleep]}; cat {input} > {output}"
''')

# the project's workaround, as in the Snakefile (onstart) and workflow/rules/common.smk
WORKAROUND = textwrap.dedent('''\


    onstart:
        if workflow.local_exec and getattr(workflow.scheduler, "job_rate_limiter", None):
            workflow.scheduler.job_rate_limiter = None
''')

WRAPPER = textwrap.dedent('''\
    import resource, runpy, sys
    sys.argv = ["snakemake"] + sys.argv[1:]
    try:
        runpy.run_path({snakemake!r}, run_name="__main__")
    except SystemExit:
        pass
    r = resource.getrusage(resource.RUSAGE_SELF)
    print(f"SELF_CPU {{r.ru_utime + r.ru_stime:.3f}}", file=sys.stderr)
''')


def run(workdir: Path, chains: int, steps: int, scheduler: str, cores: int, sleep: float = 0.0) -> float:
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    wrapper = workdir / "wrapper.py"
    wrapper.write_text(WRAPPER.format(snakemake=snakemake))
    subprocess.run(["rm", "-rf", "out", ".snakemake"], cwd=workdir, check=True)
    proc = subprocess.run([sys.executable, str(wrapper), "--cores", str(cores), "--scheduler", scheduler,
                           "--config", f"chains={chains}", f"steps={steps}", f"sleep={sleep}", "--quiet", "all"],
                          cwd=workdir, capture_output=True, text=True)
    line = [x for x in proc.stderr.splitlines() if x.startswith("SELF_CPU")]
    if not line or not (workdir / "out").is_dir():
        raise SystemExit(proc.stderr[-3000:])
    return float(line[0].split()[1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="60,240", help="numbers of chains (jobs = chains x steps)")
    p.add_argument("--steps", type=int, default=7, help="jobs per chain (7: about a study of the main workflow)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--sleep", type=float, default=0.0, help="seconds each job sleeps (0: instant jobs)")
    p.add_argument("--workaround", action="store_true",
                   help="greedy only, without and with the project's onstart workaround (rate limiter dropped)")
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench_scheduler_") as tmp:
        work = Path(tmp)
        if a.workaround:
            print(f"{'variant':10s} {'chains':>6s} {'jobs':>6s} {'smk CPU s':>10s} {'ms/job':>7s}")
            per_job = {}
            for variant, text in (("limiter", SNAKEFILE), ("workaround", SNAKEFILE + WORKAROUND)):
                (work / "Snakefile").write_text(text)
                for n in sizes:
                    cpu = run(work, n, a.steps, "greedy", a.cores, a.sleep)
                    jobs = n * a.steps + 1
                    per_job[variant, n] = 1000 * cpu / jobs
                    print(f"{variant:10s} {n:6d} {jobs:6d} {cpu:10.2f} {per_job[variant, n]:7.2f}", flush=True)
            lo, hi = sizes[0], sizes[-1]
            for variant in ("limiter", "workaround"):
                print(f"{variant}: CPU per job x{per_job[variant, hi] / per_job[variant, lo]:.2f} from "
                      f"{lo * a.steps + 1} to {hi * a.steps + 1} jobs (jobs sleep {a.sleep} s)")
            return
        (work / "Snakefile").write_text(SNAKEFILE)
        print(f"{'scheduler':9s} {'chains':>6s} {'jobs':>6s} {'smk CPU s':>10s} {'ms/job':>7s}")
        per_job = {}
        for scheduler in ("ilp", "greedy"):
            for n in sizes:
                cpu = run(work, n, a.steps, scheduler, a.cores, a.sleep)
                jobs = n * a.steps + 1
                per_job[scheduler, n] = 1000 * cpu / jobs
                print(f"{scheduler:9s} {n:6d} {jobs:6d} {cpu:10.2f} {per_job[scheduler, n]:7.2f}", flush=True)
        lo, hi = sizes[0], sizes[-1]
        for scheduler in ("ilp", "greedy"):
            print(f"{scheduler}: CPU per job x{per_job[scheduler, hi] / per_job[scheduler, lo]:.2f} from "
                  f"{lo * a.steps + 1} to {hi * a.steps + 1} jobs")


if __name__ == "__main__":
    main()
