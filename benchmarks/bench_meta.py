"""Benchmark efficacy.meta against statsmodels' combine_effects (Paule-Mandel) in the same run.

1. Random-effects pooling of k = 10,000 effect sizes: ours REML + Knapp-Hartung (with the Q-profile
   tau2 interval, I2/H2 intervals and the prediction interval) vs statsmodels ``combine_effects``
   (method_re="pm"), which computes only the pooled estimate, tau2 and Q.
2. Leave-one-out on k = 1,000: ours ``leave_one_out`` (REML, all k deletions as one batched
   Fisher-scoring computation) vs k calls of ``combine_effects`` (statsmodels has no leave-one-out).

Run: ``.venv/bin/python benchmarks/bench_meta.py`` (prints times and ratios; no assertion on time).
"""

import time

import numpy as np
from statsmodels.stats.meta_analysis import combine_effects

from efficacy.meta import leave_one_out, random_effects


def _data(k, seed):
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, k)
    yi = rng.normal(0.3, np.sqrt(vi + 0.05))
    return yi, vi


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    yi, vi = _data(10_000, 1)
    t_ours, ours = _best(lambda: random_effects(yi=yi, vi=vi, method="REML", test="knha"), 3)
    t_sm, sm = _best(lambda: combine_effects(yi, vi, method_re="pm"), 3)
    print(f"k = 10,000  ours REML+knha: {t_ours * 1e3:8.1f} ms  (estimate {ours.estimate:.5f}, tau2 {ours.tau2:.5f})")
    print(f"            statsmodels PM: {t_sm * 1e3:8.1f} ms  (estimate {sm.mean_effect_re:.5f}, tau2 {sm.tau2:.5f})")
    print(f"            ratio ours / statsmodels: {t_ours / t_sm:.2f}")
    t_pm, pm = _best(lambda: random_effects(yi=yi, vi=vi, method="PM"), 3)
    print(f"            ours PM (same estimator, plus CIs for tau2/I2/H2 and PI): {t_pm * 1e3:8.1f} ms, "
          f"ratio {t_pm / t_sm:.2f}; |tau2 difference| {abs(pm.tau2 - sm.tau2):.1e}")

    yi, vi = _data(1_000, 2)
    r = random_effects(yi=yi, vi=vi, method="REML")
    t_ours, loo = _best(lambda: leave_one_out(r), 3)

    def sm_loo():
        keep = np.ones(len(yi), bool)
        est = np.empty(len(yi))
        for i in range(len(yi)):
            keep[i] = False
            est[i] = combine_effects(yi[keep], vi[keep], method_re="pm").mean_effect_re
            keep[i] = True
        return est

    t_sm, est = _best(sm_loo, 1)
    print(f"leave-one-out k = 1,000  ours (REML, batched): {t_ours * 1e3:8.1f} ms")
    print(f"                         statsmodels PM loop:  {t_sm * 1e3:8.1f} ms")
    print(f"                         ratio ours / statsmodels: {t_ours / t_sm:.3f}")
    print(f"  max |difference| of leave-one-out estimates (REML vs PM, different estimators): "
          f"{np.max(np.abs(loo.to_frame()['estimate'].to_numpy() - est)):.2e}")


if __name__ == "__main__":
    main()
