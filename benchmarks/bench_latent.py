"""Benchmark: efficacy.mediation.latent.latent_mediation (batched Fisher-scoring refits) vs semopy and efficacy.sem.

Model: the mastery_trial efficacy factor (se1..se6) mediating treat -> behavior, covariate age,
listwise (tests/reference/latent_mastery.csv). Times, in the same process:

* one full-sample fit: ours, ``semopy.Model(...).fit`` and the general engine ``efficacy.sem.sem``;
* bootstrap: ours with ``n_boot`` resamples (all refits batched, warm-started), against a loop of
  ``semopy`` refits on ``n_semopy`` resamples, extrapolated to ``n_boot`` (semopy has no bootstrap of
  defined parameters; a user would write this loop).

Prints the estimates of a, b and c' from each engine (they must agree; lavaan's are in
tests/reference/latent_mastery.json, listwise_cov) and the time ratios.
BLAS runs single-threaded (as in the workflow's threads: 1 rules) unless already set.

Run: .venv/bin/python benchmarks/bench_latent.py [n_boot] [n_semopy]
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from efficacy.mediation.latent import latent_mediation  # noqa: E402
from efficacy.sem import sem  # noqa: E402

n_boot = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
n_semopy = int(sys.argv[2]) if len(sys.argv) > 2 else 20
ROOT = Path(__file__).resolve().parents[1]
items = [f"se{i}" for i in range(1, 7)]
d = pd.read_csv(ROOT / "tests" / "reference" / "latent_mastery.csv")
d = d[["treat", "age", "behavior", *items]].dropna().reset_index(drop=True)
desc = "eff =~ se1 + se2 + se3 + se4 + se5 + se6\neff ~ treat + age\nbehavior ~ eff + treat + age"


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


ours, t_ours = timed(lambda: latent_mediation(d, "treat", items, "behavior", covariates=["age"], n_boot=0,
                                              sum_score=False))
gen, t_gen = timed(lambda: sem(d, desc))
print(f"n = {len(d)} (listwise)")
print(f"one fit   ours {t_ours:8.3f} s   efficacy.sem {t_gen:8.3f} s   ratio {t_gen / t_ours:6.1f}x")
ge = gen.estimates.set_index(["lhs", "op", "rhs"])["estimate"]
rows = [("a", ("eff", "~", "treat")), ("b", ("behavior", "~", "eff")), ("direct", ("behavior", "~", "treat"))]
try:
    import semopy

    def semopy_fit(data):
        # semopy's default solver (SLSQP) stops early on this model (behavior's variance is ~2000 times the
        # items'): b = 28.77 instead of lavaan's 26.51. L-BFGS-B gets close (b = 26.42; ~3e-3 from lavaan).
        m = semopy.Model(desc)
        m.fit(data, solver="L-BFGS-B")
        return m.inspect()

    sp, t_sp = timed(lambda: semopy_fit(d))
    print(f"one fit   ours {t_ours:8.3f} s   semopy       {t_sp:8.3f} s   ratio {t_sp / t_ours:6.1f}x")
    spe = {(r.lval, r.op, r.rval): r.Estimate for r in sp.itertuples()}
except ImportError:  # pragma: no cover
    semopy = None
    spe = {}
for name, key in rows:
    # semopy writes a regression as (lhs, "~", rhs)
    print(f"  {name:7s} ours {getattr(ours, name):12.6f}   efficacy.sem {ge[key]:12.6f}   "
          f"semopy {spe.get(key, np.nan):12.6f}")

boot, t_boot = timed(lambda: latent_mediation(d, "treat", items, "behavior", covariates=["age"], n_boot=n_boot,
                                              seed=1, sum_score=False))
print(f"bootstrap ours: {n_boot} refits in {t_boot:.2f} s ({boot.n_failed} failed); "
      f"indirect {boot.indirect:.4f} CI [{boot.indirect_ci[0]:.4f}, {boot.indirect_ci[1]:.4f}]")
if semopy is not None:
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    for _ in range(n_semopy):
        semopy_fit(d.iloc[rng.integers(0, len(d), len(d))].reset_index(drop=True))
    per = (time.perf_counter() - t) / n_semopy
    print(f"bootstrap semopy loop: {per:.3f} s per refit -> {per * n_boot:.1f} s for {n_boot} (extrapolated "
          f"from {n_semopy}); ratio {per * n_boot / t_boot:.1f}x")
