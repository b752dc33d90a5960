"""Cost of the simulation study: the default `simulation:` grid, timed in one process (1 core).

Prints wall time, time per replication (all four methods, n_boot resamples) and the extrapolated cost of
100,000 replications. Usage: .venv/bin/python benchmarks/bench_scale.py
(The workflow-scaling part of issue #10 -- 10/50/200 simulated studies -- is not implemented yet.)
"""
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import yaml  # noqa: E402

from efficacy.simulation import power_analysis  # noqa: E402

g = yaml.safe_load(open("config/config.yaml"))["simulation"]
t0 = time.perf_counter()
df = power_analysis(g["n"], g["a"], g["b"], reliability=g["reliability"], n_reps=g["n_reps"], n_boot=g["n_boot"],
                    seed=1)
wall = time.perf_counter() - t0
cells = len(g["n"]) * len(g["a"]) * len(g["b"]) * len(g["reliability"])
reps = cells * g["n_reps"]
per = wall / reps
print(f"default grid: {cells} cells x {g['n_reps']} reps, n_boot={g['n_boot']}, n={g['n']}")
print(f"wall {wall:.1f} s; {1000 * per:.2f} ms per replication (mean over n)")
print(f"extrapolated 100,000 replications: {100_000 * per / 60:.1f} min on 1 core")
