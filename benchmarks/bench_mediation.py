"""Benchmark: efficacy.mediation.mediate (batched BCa bootstrap) vs pingouin.mediation_analysis.

Same data (n = 500, one mediator), same number of resamples; prints times and the ratio.
Run: .venv/bin/python benchmarks/bench_mediation.py [n_boot]
"""
import sys
import time

import numpy as np
import pandas as pd

from efficacy.mediation import mediate

n_boot = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
rng = np.random.default_rng(1)
n = 500
x = rng.integers(0, 2, n).astype(float)
m = 0.5 * x + rng.normal(size=n)
y = 0.4 * m + 0.1 * x + rng.normal(size=n)
d = pd.DataFrame({"x": x, "m": m, "y": y})

t0 = time.perf_counter()
ours = mediate(d, "x", "m", "y", n_boot=n_boot, ci="bca", seed=1)
t_ours = time.perf_counter() - t0
print(ours)

try:
    import pingouin as pg

    t0 = time.perf_counter()
    ref = pg.mediation_analysis(data=d, x="x", m="m", y="y", n_boot=n_boot, seed=1)
    t_ref = time.perf_counter() - t0
    print(ref)
    print(f"ours {t_ours:.3f} s, pingouin {t_ref:.3f} s, speed-up x{t_ref / t_ours:.1f} ({n_boot} resamples, n={n})")
except ImportError:
    print(f"ours {t_ours:.3f} s; pingouin not installed")
