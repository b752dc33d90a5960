"""Benchmark: efficacy's CFAs (ML, MLR, FIML, multi-group, WLSMV) against lavaan's same fits, in one run.

Issue #22: the robust and ordinal estimators must keep a CFA no slower than lavaan's same fit. Each
row times one fit on both sides with everything a user waits for: efficacy's ``cfa()`` (estimates,
standard errors, test statistics and every fit measure) and lavaan's ``cfa()`` followed by
``fitMeasures()``. Models: the Holzinger & Swineford (1939) 3-factor CFA (301 cases; complete, and
with 8% of the values missing: tests/reference/measurement_hs_missing.csv, FIML; the items cut
into categories for WLSMV: tests/reference/categorical_hs_cut.csv), its two-group scalar model, and
the issue's 2 factors x 6 five-category items, n = 1,000 (simulated as benchmarks/bench_wlsmv.py).

CPU seconds (``time.process_time`` here; ``proc.time()`` user + system in R, R's start-up and
lavaan's loading excluded), best of ``--repeat`` runs after a warm-up, BLAS on one thread on both
sides; ratio = lavaan CPU / efficacy CPU (> 1: efficacy faster). The chi-squares of both sides are
printed (same fits). Without ``Rscript`` (or without lavaan) the lavaan columns are skipped with a
message. ``--semopy`` adds the earlier comparison with semopy's ``Model.fit`` (issue #4).

Last run (2026-12-07 11:35 UTC, this 2-core x86_64 machine shared with other jobs, load average
0.6-1.3; lavaan 0.6.14, R 4.2.2, semopy 2.3.11; ``--repeat 10 --semopy``), CPU seconds::

    fit                                               efficacy    lavaan   ratio   chisq efficacy / lavaan
    HS 3-factor CFA, ML                                 0.0152    0.0380     2.5   85.3055 / 85.3055
    HS 3-factor CFA, MLR                                0.0213    0.0540     2.5   85.3055 / 85.3055
    HS 3-factor CFA, ML FIML (8% missing)               0.0244    0.5840    24.0   67.6070 / 67.6069
    HS 3-factor CFA, MLR FIML                           0.0318    0.7150    22.5   67.6070 / 67.6069
    HS two-group scalar CFA, ML                         0.0237    0.0950     4.0   164.1028 / 164.1028
    HS 3-factor CFA, WLSMV (items cut, 3-5 cat.)        0.0183    0.1700     9.3   57.2288 / 57.2288
    2 x 6 five-category items, n = 1000, ML             0.0075    0.0430     5.7   67.7744 / 67.7743
    2 x 6 five-category items, n = 1000, MLR            0.0177    0.0730     4.1   67.7744 / 67.7743
    2 x 6 five-category items, n = 1000, WLSMV          0.0223    0.2370    10.6   37.7634 / 37.7634
    semopy 2.3.11: 10-item CFA, n = 500: efficacy 0.0066 s, semopy 0.0107 s (ratio 1.61)

Every efficacy fit is faster than lavaan's (2.5x to 24x); the fourth-decimal chi-square differences
are lavaan's convergence tolerance (its estimates are converged to ~1e-6). On a loaded machine CPU
times vary by about +-30% between runs. Run from the repository root::

    .venv/bin/python benchmarks/bench_measurement.py [--repeat 5] [--semopy]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one core on both sides; set before numpy loads
os.environ.setdefault("OMP_NUM_THREADS", "1")

import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from efficacy.measurement import cfa

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
ITEMS = [f"y{j + 1}" for j in range(12)]
ORD_MODEL = "f1 =~ " + " + ".join(ITEMS[:6]) + "\nf2 =~ " + " + ".join(ITEMS[6:])


def simulate_ordinal(n, rng):
    """Two correlated factors (r = .4), loadings .5-.8, latent responses cut into 5 skewed categories
    (the data of benchmarks/bench_wlsmv.py)."""
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    lam = np.linspace(0.5, 0.8, 6)
    y = np.hstack([f[:, [0]] * lam, f[:, [1]] * lam])
    y = y + rng.normal(size=y.shape) * np.sqrt(1 - np.tile(lam, 2) ** 2)
    cuts = np.array([-1.6, -0.8, 0.0, 0.9])
    return pd.DataFrame(np.digitize(y, cuts) + 1, columns=ITEMS)


def datasets(n, seed):
    hs = pd.read_csv(REF / "sem_hs1939.csv")
    return {
        "hs": hs,
        "hsm": pd.read_csv(REF / "measurement_hs_missing.csv"),
        "hscut": pd.read_csv(REF / "categorical_hs_cut.csv")[[f"x{j}" for j in range(1, 10)]],
        "ord": simulate_ordinal(n, np.random.default_rng(seed)),
    }


def jobs(n):
    """(label, data key, model key, efficacy keyword arguments, lavaan call)."""
    o = f"2 x 6 five-category items, n = {n}"
    return [
        ("HS 3-factor CFA, ML", "hs", "hs", {}, "cfa(m_hs, d_hs)"),
        ("HS 3-factor CFA, MLR", "hs", "hs", dict(estimator="MLR"), 'cfa(m_hs, d_hs, estimator = "MLR")'),
        ("HS 3-factor CFA, ML FIML (8% missing)", "hsm", "hs", dict(missing="fiml"),
         'cfa(m_hs, d_hsm, missing = "ml")'),
        ("HS 3-factor CFA, MLR FIML", "hsm", "hs", dict(missing="fiml", estimator="MLR"),
         'cfa(m_hs, d_hsm, missing = "ml", estimator = "MLR")'),
        ("HS two-group scalar CFA, ML", "hs", "hs", dict(group="school", equal=("loadings", "intercepts")),
         'cfa(m_hs, d_hs, group = "school", group.equal = c("loadings", "intercepts"))'),
        ("HS 3-factor CFA, WLSMV (items cut, 3-5 cat.)", "hscut", "hs", dict(ordered=True),
         'cfa(m_hs, d_hscut, ordered = TRUE, estimator = "WLSMV")'),
        (f"{o}, ML", "ord", "ord", {}, "cfa(m_ord, d_ord)"),
        (f"{o}, MLR", "ord", "ord", dict(estimator="MLR"), 'cfa(m_ord, d_ord, estimator = "MLR")'),
        (f"{o}, WLSMV", "ord", "ord", dict(ordered=True), 'cfa(m_ord, d_ord, ordered = TRUE, estimator = "WLSMV")'),
    ]


def best_cpu(fn, repeat):
    """Best CPU seconds of ``repeat`` runs after one warm-up run; returns (seconds, last result)."""
    out = fn()
    best = np.inf
    for _ in range(repeat):
        c0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - c0)
    return best, out


R_TEMPLATE = """
suppressPackageStartupMessages(library(lavaan))
d_hs <- read.csv("{dir}/hs.csv"); d_hsm <- read.csv("{dir}/hsm.csv")
d_hscut <- read.csv("{dir}/hscut.csv"); d_ord <- read.csv("{dir}/ord.csv")
m_hs <- "{m_hs}"; m_ord <- "{m_ord}"
cpu <- function() {{ p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }}
bench <- function(f) {{
  fit <- f(); fitMeasures(fit)
  best <- Inf
  for (i in seq_len({repeat})) {{
    t0 <- cpu(); fit <- f(); fm <- fitMeasures(fit); best <- min(best, cpu() - t0)
  }}
  cat(best, fitMeasures(fit, "chisq"), "\\n")
}}
cat("lavaan", as.character(packageVersion("lavaan")), R.version$major, R.version$minor, "\\n")
{calls}
"""


def lavaan_times(data, job_list, repeat):
    """lavaan CPU seconds and chi-square per job, or None (with a message) without R / lavaan."""
    if shutil.which("Rscript") is None:
        print("Rscript not found: lavaan side skipped")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for k, d in data.items():
            d.to_csv(Path(tmp) / f"{k}.csv", index=False)
        calls = "\n".join(f"bench(function() {call})" for *_, call in job_list)
        script = R_TEMPLATE.format(dir=tmp, m_hs=HS_MODEL.replace("\n", "\\n"),
                                   m_ord=ORD_MODEL.replace("\n", "\\n"), repeat=repeat, calls=calls)
        (Path(tmp) / "bench.R").write_text(script)
        out = subprocess.run(["Rscript", str(Path(tmp) / "bench.R")], capture_output=True, text=True,
                             timeout=1800, check=False)
    if out.returncode != 0:
        print("lavaan side skipped (R failed):", out.stderr.strip()[-300:])
        return None
    lines = out.stdout.strip().splitlines()
    version = lines[0].split()
    print(f"lavaan {version[1]}, R {version[2]}.{version[3]}")
    return [tuple(float(v) for v in line.split()) for line in lines[1:]]


def semopy_section(repeat):
    """The earlier comparison with semopy (issue #4): a 10-item CFA, n = 500, on both sides."""
    try:
        import semopy
    except ImportError:
        print("semopy not installed: semopy section skipped")
        return
    model = "f1 =~ y1 + y2 + y3 + y4 + y5\nf2 =~ y6 + y7 + y8 + y9 + y10"
    rng = np.random.default_rng(20261128)
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=500)
    lam = np.linspace(0.5, 0.9, 5)
    x = np.hstack([f[:, [0]] * lam, f[:, [1]] * lam]) + rng.normal(size=(500, 10)) * np.sqrt(1 - np.tile(lam, 2) ** 2)
    d = pd.DataFrame(3 + x, columns=[f"y{j + 1}" for j in range(10)])

    def sp():
        m = semopy.Model(model)
        m.fit(d)
        return m

    t_sp, _ = best_cpu(sp, repeat)
    t_ef, _ = best_cpu(lambda: cfa(d, model), repeat)
    print(f"semopy {semopy.__version__}: 10-item CFA, n = 500: efficacy {t_ef:.4f} s, semopy {t_sp:.4f} s "
          f"(ratio {t_sp / t_ef:.2f}; semopy's fit has no standard errors)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="cases of the five-category data")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--semopy", action="store_true", help="add the earlier semopy comparison")
    args = ap.parse_args(argv)
    data = datasets(args.n, args.seed)
    job_list = jobs(args.n)
    models = {"hs": HS_MODEL, "ord": ORD_MODEL}
    ours = []
    for label, dk, mk, kw, _ in job_list:
        secs, res = best_cpu(lambda dk=dk, mk=mk, kw=kw: cfa(data[dk], models[mk], **kw), args.repeat)
        ours.append((secs, res.fit["chisq"], res.converged))
    lav = lavaan_times(data, job_list, args.repeat)
    print(f"CPU seconds, best of {args.repeat} after a warm-up; BLAS threads "
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}; ratio = lavaan / efficacy (> 1: efficacy faster)")
    print(f"{'fit':<48}{'efficacy':>10}{'lavaan':>10}{'ratio':>8}   chisq efficacy / lavaan")
    for (label, *_), (secs, chisq, conv), row in zip(job_list, ours, lav or [None] * len(ours)):
        if row is None:
            print(f"{label:<48}{secs:>10.4f}{'-':>10}{'-':>8}   {chisq:.4f}{'' if conv else ' (not converged)'}")
        else:
            print(f"{label:<48}{secs:>10.4f}{row[0]:>10.4f}{row[0] / secs:>8.1f}   {chisq:.4f} / {row[1]:.4f}")
    print(f"machine {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    if args.semopy:
        semopy_section(args.repeat)


if __name__ == "__main__":
    main()
