"""Benchmark of issue #20: a 48-specification multiverse on a bundled study, through Snakemake and in one process.

A SCRIPT, not a test (nothing asserts wall-clock time). It

1. copies the project (Snakefile, workflow/, config/, data/ -- like tests/test_workflow.py) into a temporary
   folder and writes a config with ``studies: [<study>]`` (default ``confounded_survey``, n = 600, whose default
   grid has 48 specifications: mediator scored as mean / sum / latent x covariates none / age x ML / MLR x
   listwise / FIML x percentile / BCa) and the ``multiverse:`` settings given on the command line;
2. times ``snakemake multiverse --cores <cores>`` in the copy (one job per specification, the data job and the
   aggregation: curve test, variance decomposition, figure) and sums the rules' ``benchmark:`` files;
3. times the same specifications and aggregation in this Python process (``efficacy.multiverse``, no
   Snakemake), which is the cost of the statistics alone;
4. prints seconds per specification, the per-job fixed cost (Python start, imports, reading the data) and the
   Snakemake overhead share: the part of the core-seconds the Snakemake run had (cores x wall) that did not go
   into the statistics measured in step 3.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_multiverse.py                       # defaults: n_boot 1000, n_null 500
    .venv/bin/python benchmarks/bench_multiverse.py --n-boot 500 --n-null 200 --cores 2
    .venv/bin/python benchmarks/bench_multiverse.py --study mastery_trial --keep /tmp/mv   # 192 specifications

The machine may be shared: the load average before and after each run is printed beside the numbers.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))


def load():
    return "%.1f %.1f %.1f" % os.getloadavg()


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("workflow", "config", "data"):
        shutil.copytree(ROOT / name, dest / name)
    return dest


def bench_seconds(folder: Path) -> dict:
    """benchmark file -> (wall seconds inside the job, CPU seconds): the ``s`` and ``cpu_time`` columns of
    Snakemake's benchmark files."""
    out = {}
    for f in folder.rglob("*.tsv"):
        with open(f) as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        out[str(f.relative_to(folder))] = (float(row["s"]), float(row["cpu_time"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", default="confounded_survey")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--n-null", type=int, default=500)
    ap.add_argument("--keep", type=Path, default=None, help="folder for the project copy (kept)")
    ap.add_argument("--skip-snakemake", action="store_true")
    ap.add_argument("--rows", type=int, default=500,
                    help="keep the first ROWS data rows of the study in the copy (issue #20: n = 500; 0 = all)")
    args = ap.parse_args()

    from efficacy.codebook import load_codebook
    from efficacy.multiverse import aggregate, prepare_data, run_multiverse, run_specification, specification_grid

    cfg_all = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    mv_cfg = {**cfg_all["multiverse"], "n_boot": args.n_boot, "n_null": args.n_null}
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_mv_"))
    proj = copy_project(work / "project")
    cb = load_codebook(proj / "data" / "raw" / args.study)
    if args.rows:
        lines = cb.data_file.read_text().splitlines(keepends=True)
        cb.data_file.write_text("".join(lines[:1 + args.rows]))
        cb = load_codebook(proj / "data" / "raw" / args.study)
    grid = specification_grid(cb, mv_cfg)
    n_spec = len(grid)
    print(f"study {args.study} (first {args.rows or 'all'} rows): {n_spec} specifications, n_boot {args.n_boot}, n_null {args.n_null}, "
          f"{args.cores} core(s)")

    res = {}
    if not args.skip_snakemake:
        cfg = dict(cfg_all)
        cfg["studies"] = [args.study]
        cfg["multiverse"] = mv_cfg
        cfg["meta"] = {"level": 0.95, "analyses": []}
        (proj / "config" / "bench.yaml").write_text(yaml.safe_dump(cfg))
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT / "src")}
        cmd = [str(BIN / "snakemake"), "multiverse", "--cores", str(args.cores), "--workflow-profile", "none",
               "--configfile", "config/bench.yaml", "--quiet"]
        l0 = load()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=proj, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        l1 = load()
        if proc.returncode != 0:
            sys.exit(proc.stdout[-3000:] + proc.stderr[-3000:])
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "snakemake"), "multiverse", "-n", "--forceall", "--cores", "1",
                        "--workflow-profile", "none", "--configfile", "config/bench.yaml", "--quiet"],
                       cwd=proj, capture_output=True, env=env)
        dag = time.perf_counter() - t0
        b = bench_seconds(proj / "benchmarks" / "out")
        spec_b = [v for k, v in b.items() if "/multiverse/specs/" in k]
        spec_s, spec_c = sum(v[0] for v in spec_b), sum(v[1] for v in spec_b)
        agg_s, agg_c = [sum(v[i] for k, v in b.items() if k.endswith("multiverse/aggregate.tsv")) for i in (0, 1)]
        data_s, data_c = [sum(v[i] for k, v in b.items() if k.endswith("multiverse/data.tsv")) for i in (0, 1)]
        res.update(wall=wall, dag=dag, spec_jobs=spec_s, spec_cpu=spec_c, agg=agg_s, data=data_s,
                   jobs_cpu=spec_c + agg_c + data_c)
        print(f"\nsnakemake multiverse (load {l0} -> {l1}):")
        print(f"  wall {wall:.1f} s for {len(spec_b)} specification jobs + data + aggregation "
              f"(start-up and DAG, from a dry run: {dag:.1f} s)")
        print(f"  inside the jobs, wall (CPU): specifications {spec_s:.1f} s ({spec_c:.1f} s), "
              f"{spec_s / len(spec_b):.2f} s ({spec_c / len(spec_b):.2f} s) per job; data {data_s:.1f} s "
              f"({data_c:.1f} s); aggregation (curve test, decomposition, figure) {agg_s:.1f} s ({agg_c:.1f} s)")
        print(f"  per specification: {wall / n_spec:.2f} s of wall")
        print(f"  results in {proj / 'results' / args.study / 'multiverse'}")

    # the statistics alone, in this process
    l0 = load()
    t0, c0 = time.perf_counter(), time.process_time()
    data = prepare_data(cb)
    t_data, c_data = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    rows = [run_specification(data, cb, s, n_boot=args.n_boot, ci_level=mv_cfg["ci_level"], seed=cfg_all["seed"])
            for s in grid.specs]
    t_specs, c_specs = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    out = aggregate(rows, data, cb, n_null=args.n_null, seed=cfg_all["seed"])
    t_agg, c_agg = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    whole = run_multiverse(data, cb, mv_cfg, n_boot=args.n_boot, n_null=args.n_null, seed=cfg_all["seed"])
    t_all, c_all = time.perf_counter() - t0, time.process_time() - c0
    assert whole.table.equals(out.table), "run_multiverse must give the same table"
    l1 = load()
    lib, lib_c = t_data + t_specs + t_agg, c_data + c_specs + c_agg
    print(f"\nin one process (load {l0} -> {l1}), wall (CPU): data {t_data:.1f} s ({c_data:.1f} s), {n_spec} "
          f"specifications {t_specs:.1f} s ({c_specs:.1f} s; {c_specs / n_spec:.2f} s CPU each), curve test + "
          f"decomposition {t_agg:.1f} s ({c_agg:.1f} s); total {lib:.1f} s ({lib_c:.1f} s)")
    by_kind = {}
    for r in rows:
        key = f"{r.spec.scoring}/{r.spec.missing}"
        by_kind.setdefault(key, 0)
        by_kind[key] += 1
    print(f"  run_multiverse (specifications that differ only in the estimator share their bootstrap), same "
          f"table: {t_all:.1f} s ({c_all:.1f} s CPU) for specifications + curve test + decomposition")
    print("  specifications by scoring/missing:", ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())))
    print("  " + out.curve.summary().replace("\n", "\n  "))
    if res:
        fixed = (res["spec_cpu"] - c_specs) / res["spec_cpu"]
        overhead = 1 - lib / (args.cores * res["wall"])
        print(f"\nper-job fixed cost (CPU): {(res['spec_cpu'] - c_specs) / n_spec:.2f} s per specification job "
              f"({fixed:.0%} of the CPU time of the specification jobs: Python start, imports, reading the data)")
        print(f"Snakemake overhead share: {overhead:.0%} of the {args.cores} x {res['wall']:.1f} core-seconds "
              "of the run did not go into the statistics (per-job start-up, scheduling, the aggregation "
              "running alone, other load on the machine)")
        print(f"CPU of all jobs {res['jobs_cpu']:.1f} s vs the statistics alone {lib_c:.1f} s: "
              f"{1 - lib_c / res['jobs_cpu']:.0%} of the jobs' CPU is per-job overhead")


if __name__ == "__main__":
    main()
