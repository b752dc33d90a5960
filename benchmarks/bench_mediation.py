"""Benchmark: efficacy.mediation.mediate (batched BCa bootstrap) vs pingouin.mediation_analysis.

Same data (n = 500, one mediator), same number of resamples (default 5000, BCa in ours,
pingouin's bias-corrected bootstrap); each timed as the best of ``repeats`` runs in this
process. Prints both tables, checks that the point estimates agree, and prints the ratio.
Also times moderated_mediation (PROCESS model 7, percentile CI) on the same data.

BLAS runs single-threaded (OPENBLAS_NUM_THREADS=1, as in the workflow's threads: 1 rules) unless the
variable is already set: on this shared 2-core machine a multi-threaded OpenBLAS slows our batched
products 5-20x whenever the other core is busy, which measures the load, not the method.

Run: .venv/bin/python benchmarks/bench_mediation.py [n_boot] [repeats]
"""
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the thread settings)
import pandas as pd  # noqa: E402

from efficacy.mediation import mediate, moderated_mediation  # noqa: E402

n_boot = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
rng = np.random.default_rng(1)
n = 500
x = rng.integers(0, 2, n).astype(float)
w = rng.normal(size=n)
m = 0.5 * x + 0.2 * w + 0.2 * x * w + rng.normal(size=n)
y = 0.4 * m + 0.1 * x + rng.normal(size=n)
d = pd.DataFrame({"x": x, "m": m, "y": y, "w": w})


def best_of(f, r):
    ts = []
    for _ in range(r):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


mediate(d, "x", "m", "y", n_boot=50, seed=1)  # warm-up (imports, BLAS threads)
t_ours, ours = best_of(lambda: mediate(d, "x", "m", "y", n_boot=n_boot, ci_method="bca", seed=1), repeats)
print(ours)
t_mod, mod = best_of(lambda: moderated_mediation(d, "x", "m", "y", "w", model=7, n_boot=n_boot, seed=1), repeats)
print(mod)

try:
    import pingouin as pg
except ImportError:
    print(f"ours {t_ours:.4f} s; pingouin not installed")
    sys.exit(0)
t_ref, ref = best_of(lambda: pg.mediation_analysis(data=d, x="x", m="m", y="y", n_boot=n_boot, seed=1),
                     max(1, repeats // 2))
print(ref)
est = ours.to_frame().set_index("effect")["estimate"]
pgc = ref.set_index("path")["coef"]
# pingouin's "Y ~ m" row is the simple regression of Y on M (not adjusted for X), so b is not compared
pairs = {"a": "m ~ X", "total": "Total", "direct": "Direct", "indirect": "Indirect"}
diff = max(abs(est[k] - pgc[v]) for k, v in pairs.items())
print(f"max |ours - pingouin| over the a, total, direct, indirect point estimates: {diff:.2e}")
print(f"mediate: ours {t_ours:.4f} s, pingouin {t_ref:.4f} s, speed-up x{t_ref / t_ours:.1f} "
      f"({n_boot} resamples, n={n}, best of {repeats})")
print(f"moderated_mediation (model 7, {n_boot} percentile resamples): {t_mod:.4f} s")
print(f"BLAS threads: OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
