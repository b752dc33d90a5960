"""Benchmark: CPU seconds of the measurement stage per bundled study, and identity of its tables.

Runs ``efficacy.measurement.run_stage`` on each of the five bundled studies the way the workflow's two
measurement rules do (``measurement``: parts cfa + discriminant; ``measurement_invariance``: one job
per codebook group), with the settings of ``config/config.yaml`` overridden by
``tests/data/config_fast.yaml`` (the test and benchmark configuration: n_boot 200, seed 20261128).
The clean data go through the CSV round trip of the workflow (``clean.csv`` written with %.17g, read
with ``read_clean``). Prints the CPU seconds (``time.process_time``, this process only) of each study
split into the two rules, and their sum and mean. Issue #22's goal: at most 1 s of CPU per study.

``--retain-memory`` first calls ``efficacy.workflow.retain_freed_memory()`` (keep freed memory in the
process: fewer page faults), to measure what a job script that calls it would cost.

``--save DIR`` writes every output table as the workflow writes it (``write_table``, %.10g) and as a
pickle of the frames; ``--compare DIR`` compares this run's tables with those saved (from another
checkout: run the script with ``PYTHONPATH=<other>/src``) and reports whether each CSV is byte
identical and whether each frame is identical to the last bit.

BLAS runs single-threaded, as in the workflow's ``threads: 1`` rules.

Run: PYTHONPATH=src .venv/bin/python benchmarks/bench_measurement_stage.py [--save DIR | --compare DIR]
     [--studies a,b] [--repeats R]
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

import efficacy  # noqa: E402
from efficacy.cleaning import clean_study  # noqa: E402
from efficacy.codebook import load_codebook  # noqa: E402
from efficacy.io import read_clean, write_table  # noqa: E402
from efficacy.measurement import run_stage, stage_groups  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ["mastery_trial", "confounded_survey", "weekly_panel", "two_cultures", "jobs_ii"]


def settings():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    fast = yaml.safe_load((ROOT / "tests" / "data" / "config_fast.yaml").read_text())
    meas = {**cfg["measurement"], **fast.get("measurement", {})}
    seed = fast.get("seed", cfg["seed"])
    common = dict(missing=meas["missing"], min_items=meas["min_items"])
    rule_main = dict(parts=["cfa", "discriminant"], n_boot=meas["n_boot"], ci_level=meas["ci_level"],
                     htmt_method=meas["htmt_method"], max_joint_items=meas["max_joint_items"], seed=seed, **common)
    rule_inv = dict(parts=["invariance"], delta_cfi=meas["delta_cfi"], delta_rmsea=meas["delta_rmsea"],
                    combine=meas["combine"], find_partial=meas["find_partial"], **common)
    return rule_main, rule_inv, meas.get("models") or {}


def clean_via_csv(study, tmp):
    path = Path(tmp) / f"{study}_clean.csv"
    write_table(clean_study(ROOT / "data" / "raw" / study).clean, path, float_format="%.17g")
    return read_clean(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--save")
    ap.add_argument("--compare")
    ap.add_argument("--studies", default=",".join(STUDIES))
    ap.add_argument("--repeats", type=int, default=1, help="best CPU time of this many runs per rule")
    ap.add_argument("--retain-memory", action="store_true",
                    help="call efficacy.workflow.retain_freed_memory() first (glibc malloc settings for job processes)")
    a = ap.parse_args()
    if a.retain_memory:
        from efficacy.workflow import retain_freed_memory

        print(f"retain_freed_memory(): {retain_freed_memory()}")
    rule_main, rule_inv, models = settings()
    tables, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for study in a.studies.split(","):
            cb = load_codebook(ROOT / "data" / "raw" / study)
            clean = clean_via_csv(study, tmp)
            model = models.get(study)
            jobs = [("measurement", dict(rule_main, model=model))]
            jobs += [(f"invariance_{g}", dict(rule_inv, model=model, groups=[g])) for g in stage_groups(cb)]
            cpu = {}
            for job, kw in jobs:
                best = np.inf
                for _ in range(a.repeats):
                    c0 = time.process_time()
                    out = run_stage(clean, cb, **kw)
                    best = min(best, time.process_time() - c0)
                cpu[job] = best
                for key, tab in out.items():
                    tables[(study, key)] = tab
            rows.append((study, cpu))
            inv = sum(v for k, v in cpu.items() if k != "measurement")
            print(f"{study:18s} CPU {sum(cpu.values()):6.2f} s  (measurement {cpu['measurement']:.2f} s, "
                  f"invariance {inv:.2f} s in {len(cpu) - 1} job(s))", flush=True)
    tot = sum(sum(c.values()) for _, c in rows)
    print(f"total CPU {tot:.2f} s over {len(rows)} studies, mean {tot / len(rows):.2f} s per study")
    print(f"efficacy from {Path(efficacy.__file__).parent}; machine {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
    csv = {}
    for k, tab in tables.items():
        buf = io.StringIO()
        tab.to_csv(buf, index=False, float_format="%.10g", lineterminator="\n")  # as write_table
        csv[k] = buf.getvalue()
    if a.save:
        d = Path(a.save)
        d.mkdir(parents=True, exist_ok=True)
        for (study, key), text in csv.items():
            (d / f"{study}__{key}.csv").write_text(text)
        with open(d / "tables.pkl", "wb") as f:
            pickle.dump(tables, f)
        print(f"saved {len(tables)} tables to {d}")
    if a.compare:
        d = Path(a.compare)
        with open(d / "tables.pkl", "rb") as f:
            ref = pickle.load(f)
        n_csv = n_bits = 0
        for k in sorted(ref):
            if k not in tables:
                print(f"  missing {k}")
                continue
            same_csv = (d / f"{k[0]}__{k[1]}.csv").read_text() == csv[k]
            x, y = ref[k], tables[k]
            same_bits = x.equals(y) and list(x.columns) == list(y.columns) and all(
                x[c].to_numpy().tobytes() == y[c].to_numpy().tobytes() for c in x if x[c].dtype.kind == "f")
            n_csv += same_csv
            n_bits += same_bits
            if not (same_csv and same_bits):
                print(f"  DIFFERENT {k}: csv identical {same_csv}, frame identical to the last bit {same_bits}")
        print(f"compared with {d}: {n_csv}/{len(ref)} CSV tables byte-identical, "
              f"{n_bits}/{len(ref)} frames identical to the last bit")


if __name__ == "__main__":
    main()
