"""Scale benchmarks of issue #10: the main workflow on N simulated studies, the per-job overhead, and the
default simulation grid.

A SCRIPT, not a test (nothing asserts wall-clock time). For every N in ``--sizes`` it

1. copies the project (Snakefile, workflow/, config/, data/ -- like tests/test_workflow.py) into a temporary
   folder and writes N simulated studies into ``data/raw/`` of the copy: the bundled generators
   (``efficacy.simulate``) cycled over ``--kinds`` with seeds 1, 2, ..., each folder renamed ``s<i>_<kind>``;
2. writes a bench config (tests/data/config_fast.yaml + ``studies:`` = the N folders; the meta stage keeps only
   the across-study ``efficacy_behavior_r`` analysis, which grows with N);
3. times ``snakemake -n`` (parse + DAG) and the real run ``snakemake -c<cores> --configfile <bench config>``,
   counts the jobs, and sums the per-rule ``benchmark:`` files into a per-stage cost per study.

Then it times a no-op job (a ``script:`` rule that only imports efficacy.io and writes a line: the fixed cost
every stage job pays for Python, pandas and Snakemake's job bookkeeping), fits wall = a + b*N with R^2, and
times ``snakemake simulation`` (default ``simulation:`` grid, or ``--sim-reps R`` for a reduced grid with the
extrapolation to the default ``n_reps`` stated).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_scale.py                    # N = 10, 50, 200 + simulation grid
    .venv/bin/python benchmarks/bench_scale.py --sizes 10,50 --sim-reps 100
    .venv/bin/python benchmarks/bench_scale.py --sizes 5 --no-simulation --keep /tmp/bench   # keep the copy

The machine is shared: the load average before and after each run is printed beside the numbers.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
FAST_CONFIG = ROOT / "tests" / "data" / "config_fast.yaml"
KINDS = ("mastery_trial", "confounded_survey", "two_cultures")

NOOP_SMK = '''\
rule all:
    input:
        expand("noop/{i}.txt", i=range(config["n_noop"])),


rule noop:
    output:
        "noop/{i}.txt",
    log:
        "logs/noop/{i}.log",
    benchmark:
        "benchmarks/out/noop/{i}.tsv"
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    script:
        "noop.py"
'''

NOOP_PY = '''\
import sys
sys.stderr = open(snakemake.log[0], "w")
from efficacy.io import write_table  # noqa: F401  (the import every stage script pays)
open(snakemake.output[0], "w").write("ok\\n")
'''


def _env():
    # one BLAS thread per job (as the rules declare threads: 1); a headless matplotlib
    return {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def load():
    return os.getloadavg()[0]


def copy_project(dest: Path) -> Path:
    """What a workflow run needs (no results, no .snakemake), as in tests/test_workflow.py."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("workflow", "config", "data"):
        shutil.copytree(ROOT / name, dest / name, symlinks=False)
    return dest


def write_studies(proj: Path, n: int, kinds) -> list[str]:
    """N simulated studies under proj/data/raw: the bundled generators cycled, seed i, renamed s<i>_<kind>."""
    from efficacy.simulate import write_study

    names = []
    for i in range(1, n + 1):
        kind = kinds[(i - 1) % len(kinds)]
        name = f"s{i:03d}_{kind}"
        out = write_study(kind, proj / "data" / "raw" / name, seed=i)
        cb = out / "codebook.yaml"
        text, k = re.subn(rf"^study: {kind}$", f"study: {name}", cb.read_text(), count=1, flags=re.M)
        if k != 1:
            raise RuntimeError(f"no 'study: {kind}' line in {cb}")
        cb.write_text(text)
        names.append(name)
    return names


def bench_config(proj: Path, studies) -> Path:
    cfg = yaml.safe_load(FAST_CONFIG.read_text())
    cfg["studies"] = list(studies)
    cfg["meta"] = {"analyses": [{"name": "efficacy_behavior", "source": "efficacy_behavior_r",
                                 "measure": "ZCOR", "method": "REML"}]}
    path = proj / "config" / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run(cmd, cwd, timeout):
    """Run ``cmd``; return its wall time, output and CPU seconds.

    CPU is split into Snakemake's own process (its scheduler and bookkeeping: the last sample of the main
    process's user + system time, polled every 0.2 s) and everything it ran (``RUSAGE_CHILDREN`` over the
    call, which collects every waited-for descendant, minus the main process).
    """
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True, env=_env())
        main_cpu = 0.0
        try:
            ps = psutil.Process(proc.pid)
            while proc.poll() is None:
                if time.perf_counter() - t0 > timeout:
                    proc.kill()
                    proc.wait()
                    raise SystemExit(f"timed out after {timeout} s: {' '.join(map(str, cmd))} in {cwd}")
                try:
                    c = ps.cpu_times()
                    main_cpu = c.user + c.system
                except psutil.Error:
                    pass
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    total_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(text[-8000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))} in {cwd}")
    return wall, text, {"snakemake": main_cpu, "total": total_cpu}


def count_jobs(out: str) -> int:
    m = re.search(r"^total\s+(\d+)\s*$", out, flags=re.M)
    return int(m.group(1)) if m else 0


def stage_seconds(proj: Path, studies) -> dict[str, float]:
    """Sum of the per-rule benchmark files (seconds inside each job), by rule, over all studies."""
    tot = defaultdict(float)
    for s in studies:
        for f in (proj / "benchmarks" / "out" / s).glob("*.tsv"):
            with open(f) as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            tot[f.stem] += sum(float(r["s"]) for r in rows)
        # the analyse job runs four stages; its log gives each stage's CPU seconds ("<stage>: x s CPU")
        log = proj / "logs" / s / "analyse.log"
        if log.is_file():
            for m in re.finditer(r"^([a-z ]+): ([0-9.]+) s CPU$", log.read_text(), flags=re.M):
                tot[f"  analyse: {m.group(1)} (CPU)"] += float(m.group(2))
    return dict(tot)


def bench_workflow(n, kinds, cores, timeout, keep, extra=()):
    base = Path(keep) / f"n{n}" if keep else Path(tempfile.mkdtemp(prefix=f"bench_scale_n{n}_"))
    if base.exists() and keep:
        shutil.rmtree(base)
    proj = copy_project(base)
    t0 = time.perf_counter()
    studies = write_studies(proj, n, kinds)
    gen = time.perf_counter() - t0
    cfg = bench_config(proj, studies)
    common = ["--configfile", str(cfg), "--cores", str(cores), *extra]
    dry, out, _ = run([SNAKEMAKE, "-n", *common], proj, timeout)
    jobs = count_jobs(out)
    l0 = load()
    wall, _, cpu = run([SNAKEMAKE, *common], proj, timeout)
    l1 = load()
    stages = stage_seconds(proj, studies)
    if not keep:
        shutil.rmtree(base, ignore_errors=True)
    return {"n": n, "jobs": jobs, "gen": gen, "dry": dry, "wall": wall, "load0": l0, "load1": l1,
            "stages": stages, "cpu": cpu}


def bench_noop(n_jobs, cores, timeout):
    base = Path(tempfile.mkdtemp(prefix="bench_scale_noop_"))
    (base / "noop.smk").write_text(NOOP_SMK)
    (base / "noop.py").write_text(NOOP_PY)
    args = ["-s", "noop.smk", "--cores", str(cores), "--config", f"n_noop={n_jobs}"]
    dry, _, _ = run([SNAKEMAKE, "-n", *args], base, timeout)
    wall, _, _ = run([SNAKEMAKE, *args], base, timeout)
    inside = []
    for f in (base / "benchmarks" / "out" / "noop").glob("*.tsv"):
        with open(f) as fh:
            inside += [float(r["s"]) for r in csv.DictReader(fh, delimiter="\t")]
    shutil.rmtree(base, ignore_errors=True)
    return {"jobs": n_jobs, "dry": dry, "wall": wall, "inside": float(np.mean(inside))}


def linear_fit(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return np.nan, np.nan, np.nan
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float((resid ** 2).sum()) / ss_tot if ss_tot > 0 else np.nan
    return a, b, r2


def bench_simulation(cores, timeout, sim_reps):
    """`snakemake simulation` in a copy; default grid, or n_reps = sim_reps (same reps_per_job)."""
    base = Path(tempfile.mkdtemp(prefix="bench_scale_sim_"))
    proj = copy_project(base)
    g = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["simulation"]
    args = ["simulation", "--cores", str(cores)]
    reps = g["n_reps"]
    if sim_reps:
        reps = sim_reps
        cfg = proj / "config" / "bench_sim.yaml"
        cfg.write_text(yaml.safe_dump({"simulation": {**g, "n_reps": int(sim_reps)}}, sort_keys=False))
        args += ["--configfile", str(cfg)]
    _, out, _ = run([SNAKEMAKE, "-n", *args], proj, timeout)
    jobs = count_jobs(out)
    l0 = load()
    wall, _, _ = run([SNAKEMAKE, *args], proj, timeout)
    l1 = load()
    inside = defaultdict(float)
    for f in (proj / "benchmarks" / "out" / "simulation").glob("*.tsv"):
        with open(f) as fh:
            key = "power jobs" if f.stem.startswith("power_") else f.stem
            inside[key] += sum(float(r["s"]) for r in csv.DictReader(fh, delimiter="\t"))
    shutil.rmtree(base, ignore_errors=True)
    cells = len(g["n"]) * len(g["a"]) * len(g["b"]) * len(g["reliability"])
    return {"grid": g, "cells": cells, "reps": reps, "default_reps": g["n_reps"], "jobs": jobs, "wall": wall,
            "inside": dict(inside), "load0": l0, "load1": l1}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10,50,200", help="numbers of studies, comma-separated (default 10,50,200)")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="bundled generators cycled over the studies (default %(default)s; weekly_panel adds "
                        "the panel stage)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--noop-jobs", type=int, default=40, help="no-op jobs timed for the per-job overhead")
    p.add_argument("--sim-reps", type=int, default=0,
                   help="time `snakemake simulation` with this n_reps instead of the default grid's (0 = default)")
    p.add_argument("--no-simulation", action="store_true", help="skip the simulation grid")
    p.add_argument("--no-workflow", action="store_true", help="only the no-op and simulation timings")
    p.add_argument("--snakemake-args", default="",
                   help="extra arguments for the main-workflow runs, e.g. '--scheduler greedy'")
    p.add_argument("--timeout", type=float, default=6 * 3600, help="seconds per snakemake call")
    p.add_argument("--keep", default=None, help="build the copies under this folder and keep them")
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",") if s.strip()]
    kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    os.chdir(ROOT)
    print(f"# bench_scale  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  cores={a.cores}  "
          f"cpus={os.cpu_count()}  load={load():.2f}  snakemake-args={a.snakemake_args!r}", flush=True)

    noop = bench_noop(a.noop_jobs, a.cores, a.timeout)
    per_job = max(noop["wall"] - noop["dry"], 0.0) / noop["jobs"]
    print(f"\nno-op job ({noop['jobs']} jobs, script: rule importing efficacy.io, -c{a.cores}): "
          f"run {noop['wall']:.1f} s - dry run {noop['dry']:.1f} s (Snakemake start-up) -> {per_job:.2f} s of "
          f"wall per job; {noop['inside']:.2f} s inside each job (its benchmark: file)", flush=True)

    rows = []
    if not a.no_workflow:
        print(f"\nmain workflow, tests/data/config_fast.yaml, studies cycled over {', '.join(kinds)}:", flush=True)
        hdr = (f"{'N':>5} {'jobs':>6} {'wall s':>9} {'s/study':>8} {'s/job':>7} {'overhead':>9} "
               f"{'dry-run s':>9} {'load':>11} {'smk CPU s':>9} {'job CPU s/study':>15}")
        print(hdr, flush=True)
        for n in sizes:
            r = bench_workflow(n, kinds, a.cores, a.timeout, a.keep, a.snakemake_args.split())
            rows.append(r)
            over = 100 * per_job * r["jobs"] / r["wall"]
            print(f"{n:>5} {r['jobs']:>6} {r['wall']:>9.1f} {r['wall'] / n:>8.2f} {r['wall'] / r['jobs']:>7.2f} "
                  f"{over:>8.0f}% {r['dry']:>9.1f} {r['load0']:>5.2f}-{r['load1']:.2f} {r['cpu']['snakemake']:>9.1f} "
                  f"{(r['cpu']['total'] - r['cpu']['snakemake']) / n:>15.2f}", flush=True)
        print("(overhead = jobs x no-op wall per job / wall: the share of the run that is per-job fixed cost;\n"
              " smk CPU = CPU seconds of Snakemake's own process (scheduler, bookkeeping), which shares the cores\n"
              " with the jobs; job CPU = CPU seconds of every process it started, per study)")
        if rows:
            print("\nseconds inside the jobs per study, by rule (sum of benchmark: files / N):")
            rules = sorted({k for r in rows for k in r["stages"]},
                           key=lambda k: (k.startswith(" "), -sum(r["stages"].get(k, 0) / r["n"] for r in rows)))
            print(f"{'rule':<32}" + "".join(f"{'N=' + str(r['n']):>9}" for r in rows))
            for k in rules:
                print(f"{k:<32}" + "".join(f"{r['stages'].get(k, 0) / r['n']:>9.2f}" for r in rows))
            print(f"{'total':<32}" + "".join(f"{sum(v for k, v in r['stages'].items() if not k.startswith(' '))
                                                   / r['n']:>9.2f}" for r in rows))
            print("(indented: the analyse job's statistics by stage, CPU seconds from its log; they are part of\n"
                  " `analyse` and not added to the total)")
        if len(rows) >= 2:
            ns = [r["n"] for r in rows]
            aw, bw, r2w = linear_fit(ns, [r["wall"] for r in rows])
            aj, bj, _ = linear_fit(ns, [r["jobs"] for r in rows])
            print(f"\nlinear fit: wall = {aw:.1f} s + {bw:.2f} s x N  (R^2 = {r2w:.4f}, {len(ns)} sizes); "
                  f"jobs = {aj:.0f} + {bj:.0f} x N")
            if len(ns) == 2:
                print("(two sizes: R^2 is 1 by construction; the per-study slopes above are the linearity check)")
            for big in (1000,):
                print(f"extrapolated N = {big}: {(aw + bw * big) / 3600:.1f} h wall on {a.cores} cores, "
                      f"{aj + bj * big:.0f} jobs")

    if not a.no_simulation:
        s = bench_simulation(a.cores, a.timeout, a.sim_reps)
        g = s["grid"]
        total_reps = s["cells"] * s["reps"]
        per_rep = s["wall"] / total_reps
        print(f"\n`snakemake simulation`: grid n={g['n']} a={g['a']} b={g['b']} reliability={g['reliability']} "
              f"({s['cells']} cells) x {s['reps']} reps (default {s['default_reps']}), n_boot={g['n_boot']}, "
              f"reps_per_job={g['reps_per_job']}: {s['jobs']} jobs, wall {s['wall']:.1f} s on -c{a.cores} "
              f"(load {s['load0']:.2f}-{s['load1']:.2f})")
        print("  seconds inside the jobs: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(s["inside"].items())))
        if s["reps"] != s["default_reps"]:
            print(f"  extrapolated default grid ({s['default_reps']} reps): "
                  f"{s['wall'] * s['default_reps'] / s['reps']:.0f} s (power and coverage both scale with n_reps)")
        pw = s["inside"].get("power jobs", 0.0) / total_reps
        print(f"  power: {1000 * pw:.1f} ms of job time per replication (4 methods, n_boot={g['n_boot']}, mean "
              f"over n); 100,000 replications = {100_000 * pw / 3600:.2f} core-hours, "
              f"{-(-100_000 // g['reps_per_job'])} jobs of {g['reps_per_job']} reps")


if __name__ == "__main__":
    main()
