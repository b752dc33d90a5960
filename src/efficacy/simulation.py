"""Monte Carlo power analysis for the simple mediation model X -> M -> Y.

Data per replication: ``X ~ N(0, 1)``, ``M = a X + e_M``, ``Y = b M + e_Y`` (no direct effect,
unit error variances). A mediator reliability ``rho < 1`` adds measurement error to M so that
``var(M_true) / var(M_observed) = rho``. Every replication's a and b paths are OLS fits computed
from sufficient statistics, so the whole study (replications x bootstrap resamples) is one batched
numpy computation, chunked over replications to bound memory.

Interval methods: percentile bootstrap, bias-corrected and accelerated bootstrap (Efron 1987;
jackknife acceleration), Monte Carlo CI (Preacher & Selig 2012, as ``semTools::monteCarloCI``)
and the Sobel (1982) test. Power is the share of replications whose interval excludes 0; its Monte
Carlo standard error is ``sqrt(p (1 - p) / n_reps)`` (Morris, White & Crowther 2019).

Example
-------
>>> from efficacy.simulation import power_analysis, required_n
>>> res = power_analysis([50, 100], a=0.39, b=0.39, n_reps=50, n_boot=100, seed=1)
>>> list(res.to_frame().columns)
['n', 'a', 'b', 'reliability', 'method', 'power', 'power_mcse', 'n_reps']
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ._api import as_rng, as_seed_sequence, renamed
from .errors import EfficacyError
from .results import TableResult

__all__ = ["power_analysis", "PowerAnalysisResult", "coverage_study", "meta_coverage", "CoverageResult", "required_n",
           "RequiredNResult", "simulate_mediation", "validate_grid", "METHODS", "grid_jobs", "run_power_job",
           "run_coverage", "aggregate_power"]


@dataclass(repr=False)
class PowerAnalysisResult(TableResult):
    """Result of :func:`power_analysis`: one row per design cell and method (``to_frame()``, columns
    ``n, a, b, reliability, method, power, power_mcse, n_reps``); :meth:`required_n` interpolates
    the sample size reaching a target power."""

    _headline = ("cells", "methods", "n_reps")
    _title = "Monte Carlo power of the indirect effect"

    @property
    def cells(self) -> int:
        return int(len(self.table.drop_duplicates(["n", "a", "b", "reliability"])))

    @property
    def methods(self) -> list:
        return [str(m) for m in pd.unique(self.table["method"])]

    @property
    def n_reps(self) -> int:
        return int(self.table["n_reps"].max()) if len(self.table) else 0

    def required_n(self, target=0.8) -> "RequiredNResult":
        """:func:`required_n` of this power table."""
        return required_n(self.table, target=target)


@dataclass(repr=False)
class CoverageResult(TableResult):
    """Result of :func:`coverage_study` and :func:`meta_coverage` (``to_frame()``, columns
    :data:`COVERAGE_COLUMNS`); ``all_pass`` is True when every interval's coverage is within two
    Monte Carlo standard errors of nominal."""

    _headline = ("all_pass", "n_reps")
    _title = "Coverage, bias and rejection rate of interval methods"

    @property
    def all_pass(self) -> bool:
        return bool(self.table["pass"].all())

    @property
    def n_reps(self) -> int:
        return int(self.table["n_reps"].max()) if len(self.table) else 0


@dataclass(repr=False)
class RequiredNResult(TableResult):
    """Result of :func:`required_n`: the sample size reaching ``target`` power per design and method
    (``to_frame()``)."""

    _headline = ("target",)
    _title = "Required sample size"

    @property
    def target(self) -> float:
        return float(self.table["target"].iloc[0]) if len(self.table) else float("nan")

METHODS = ("percentile", "bca", "montecarlo", "sobel")
_N_PARAMS = 3  # intercept, X and M in the outcome model


def validate_grid(n, a, b, reliability):
    """Raise :class:`efficacy.errors.EfficacyError` naming the first impossible cell."""
    for rel in reliability:
        if not (0.0 < float(rel) <= 1.0):
            raise EfficacyError(f"simulation grid: reliability={rel} is outside (0, 1]")
    for nn in n:
        if int(nn) != nn or int(nn) <= _N_PARAMS + 1:
            raise EfficacyError(f"simulation grid: n={nn} is too small; need an integer > {_N_PARAMS + 1} "
                                f"(the outcome model has {_N_PARAMS} parameters)")
    for v in list(a) + list(b):
        if not np.isfinite(float(v)):
            raise EfficacyError(f"simulation grid: path value {v} is not finite")


@renamed(rng="seed")
def simulate_mediation(n, a, b, n_reps, reliability=1.0, seed=None):
    """Simulate ``n_reps`` data sets of size ``n``; returns arrays x, m, y of shape (n_reps, n).

    ``seed`` is an int or a :class:`numpy.random.Generator` (whose stream is used)."""
    rng = as_rng(seed)
    x = rng.standard_normal((n_reps, n))
    m = a * x + rng.standard_normal((n_reps, n))
    y = b * m + rng.standard_normal((n_reps, n))
    if reliability < 1.0:
        err_var = (a * a + 1.0) * (1.0 - reliability) / reliability
        m = m + np.sqrt(err_var) * rng.standard_normal((n_reps, n))
    return x, m, y


def _paths(n, sx, sm, sy, sxx, sxm, sxy, smm, smy, syy):
    """OLS a (M~X) and b (Y~X+M) with standard errors from raw sums (any broadcast shape)."""
    cxx = sxx - sx * sx / n
    cxm = sxm - sx * sm / n
    cxy = sxy - sx * sy / n
    cmm = smm - sm * sm / n
    cmy = smy - sm * sy / n
    cyy = syy - sy * sy / n
    with np.errstate(divide="ignore", invalid="ignore"):
        a = cxm / cxx
        rss_a = cmm - a * cxm
        se_a = np.sqrt(rss_a / (n - 2) / cxx)
        det = cxx * cmm - cxm * cxm
        b = (cxx * cmy - cxm * cxy) / det
        cp = (cmm * cxy - cxm * cmy) / det
        rss_b = cyy - cp * cxy - b * cmy
        se_b = np.sqrt(rss_b / (n - 3) * cxx / det)
    return a, se_a, b, se_b


def _sums(x, m, y, axis=-1):
    return (x.sum(axis), m.sum(axis), y.sum(axis), (x * x).sum(axis), (x * m).sum(axis),
            (x * y).sum(axis), (m * m).sum(axis), (m * y).sum(axis), (y * y).sum(axis))


def _excludes_zero(lo, hi):
    return (lo > 0) | (hi < 0)


def _analyse_chunk(x, m, y, n_boot, methods, alpha, rng):
    """Intervals (dict method -> (lo, hi) arrays over replications) and estimates for one chunk."""
    r, n = x.shape
    a, se_a, b, se_b = _paths(n, *_sums(x, m, y))
    ab = a * b
    out = {}
    if "sobel" in methods:
        z = ab / np.sqrt(b * b * se_a * se_a + a * a * se_b * se_b)
        half = stats.norm.ppf(1 - alpha / 2) * np.abs(ab / z)
        out["sobel"] = (ab - half, ab + half)
    if "montecarlo" in methods:
        da = a[:, None] + se_a[:, None] * rng.standard_normal((r, n_boot))
        db = b[:, None] + se_b[:, None] * rng.standard_normal((r, n_boot))
        lo, hi = np.quantile(da * db, [alpha / 2, 1 - alpha / 2], axis=1)
        out["montecarlo"] = (lo, hi)
    if "percentile" in methods or "bca" in methods:
        idx = rng.integers(0, n, size=(r, n_boot, n))
        rows = np.arange(r)[:, None, None]
        bx, bm, by = x[rows, idx], m[rows, idx], y[rows, idx]
        ba, _, bb, _ = _paths(n, *_sums(bx, bm, by))
        boot = ba * bb  # (r, n_boot)
        del bx, bm, by, idx
        if "percentile" in methods:
            lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=1)
            out["percentile"] = (lo, hi)
        if "bca" in methods:
            # bias correction
            prop = (boot < ab[:, None]).mean(axis=1) + 0.5 * (boot == ab[:, None]).mean(axis=1)
            prop = np.clip(prop, 1.0 / (n_boot + 1), 1 - 1.0 / (n_boot + 1))
            z0 = stats.norm.ppf(prop)
            # jackknife acceleration via leave-one-out sums
            s = _sums(x, m, y)
            contrib = (x, m, y, x * x, x * m, x * y, m * m, m * y, y * y)
            loo = [si[:, None] - ci for si, ci in zip(s, contrib)]
            ja, _, jb, _ = _paths(n - 1, *loo)
            jab = ja * jb
            d = jab.mean(axis=1, keepdims=True) - jab
            with np.errstate(divide="ignore", invalid="ignore"):
                acc = (d ** 3).sum(axis=1) / (6.0 * ((d ** 2).sum(axis=1)) ** 1.5)
            acc = np.nan_to_num(acc)
            zl, zu = stats.norm.ppf(alpha / 2), stats.norm.ppf(1 - alpha / 2)
            p_lo = stats.norm.cdf(z0 + (z0 + zl) / (1 - acc * (z0 + zl)))
            p_hi = stats.norm.cdf(z0 + (z0 + zu) / (1 - acc * (z0 + zu)))
            srt = np.sort(boot, axis=1)
            k_lo = np.clip(np.floor(p_lo * n_boot).astype(int), 0, n_boot - 1)
            k_hi = np.clip(np.ceil(p_hi * n_boot).astype(int) - 1, 0, n_boot - 1)
            lo = srt[np.arange(r), k_lo]
            hi = srt[np.arange(r), k_hi]
            out["bca"] = (lo, hi)
    out["_estimate"] = ab
    return out


def _run_cell(nn, aa, bb, rel, n_reps, n_boot, methods, alpha, ss, chunk_size, max_chunk_elements):
    """Intervals (method -> (lo, hi)) and estimates for all replications of one cell."""
    data_ss, boot_ss = ss.spawn(2)
    x, m, y = simulate_mediation(nn, aa, bb, n_reps, rel, np.random.default_rng(data_ss))
    step = chunk_size or max(1, int(max_chunk_elements // (n_boot * nn)))
    # one resampling stream per replication: results are identical whatever the chunk size
    rep_seeds = boot_ss.spawn(n_reps)
    lo = {mth: np.empty(n_reps) for mth in methods}
    hi = {mth: np.empty(n_reps) for mth in methods}
    est = np.empty(n_reps)
    for start in range(0, n_reps, step):
        stop = min(n_reps, start + step)
        res = _analyse_rep_block(x[start:stop], m[start:stop], y[start:stop], n_boot, methods, alpha,
                                 rep_seeds[start:stop])
        est[start:stop] = res["_estimate"]
        for mth in methods:
            lo[mth][start:stop], hi[mth][start:stop] = res[mth]
    return lo, hi, est


def power_analysis(n, a, b, reliability=(1.0,), n_reps=1000, n_boot=1000, methods=METHODS, seed=None,
                   progress=False, alpha=0.05, chunk_size=None, max_chunk_elements=20_000_000):
    """Monte Carlo power of tests of the indirect effect a*b in X -> M -> Y.

    Parameters
    ----------
    n, a, b, reliability : scalar or sequence
        Grid of sample sizes, a paths, b paths (standardised error variances) and mediator
        reliabilities in (0, 1]; every combination is one cell.
    n_reps : int
        Replications per cell.
    n_boot : int
        Bootstrap resamples (percentile, BCa) and Monte Carlo draws (montecarlo) per replication.
    methods : sequence of {"percentile", "bca", "montecarlo", "sobel"}
    seed : int, numpy.random.Generator or None
        Seed of the study; each cell gets its own stream spawned from it (a Generator supplies the
        entropy), and each replication its own resampling stream, so results do not depend on
        ``chunk_size``.
    progress : bool
        Show a tqdm bar over cells.
    chunk_size : int or None
        Replications analysed together; default chosen so that ``chunk * n_boot * n`` stays below
        ``max_chunk_elements``.

    Returns
    -------
    PowerAnalysisResult
        ``to_frame()``: columns ``n, a, b, reliability, method, power, power_mcse, n_reps``.

    Notes
    -----
    Data for a cell are drawn once (all replications) from the cell's stream; resampling draws come
    from a second stream per replication chunk, spawned deterministically. Matches the design of
    Fritz & MacKinnon (2007, Psychological Science) "Required sample size to detect the mediated
    effect"; the Monte Carlo CI follows ``semTools::monteCarloCI`` (Preacher & Selig 2012).
    """
    n_list = list(np.atleast_1d(n))
    a_list = [float(v) for v in np.atleast_1d(a)]
    b_list = [float(v) for v in np.atleast_1d(b)]
    r_list = [float(v) for v in np.atleast_1d(reliability)]
    validate_grid(n_list, a_list, b_list, r_list)
    methods = tuple(methods)
    bad = [mth for mth in methods if mth not in METHODS]
    if bad:
        raise EfficacyError(f"unknown method(s) {bad}; expected a subset of {METHODS}")
    if int(n_reps) < 1 or int(n_boot) < 2:
        raise EfficacyError("n_reps must be >= 1 and n_boot >= 2")
    n_reps, n_boot = int(n_reps), int(n_boot)
    cells = list(itertools.product([int(v) for v in n_list], a_list, b_list, r_list))
    children = as_seed_sequence(seed).spawn(len(cells))
    it = cells
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(cells, desc="power cells")
    rows = []
    for (nn, aa, bb, rel), ss in zip(it, children):
        lo, hi, _ = _run_cell(nn, aa, bb, rel, n_reps, n_boot, methods, alpha, ss, chunk_size,
                              max_chunk_elements)
        hits = {mth: _excludes_zero(lo[mth], hi[mth]) for mth in methods}
        for mth in methods:
            p = float(hits[mth].mean())
            rows.append({"n": nn, "a": aa, "b": bb, "reliability": rel, "method": mth, "power": p,
                         "power_mcse": float(np.sqrt(p * (1 - p) / n_reps)), "n_reps": n_reps})
    return PowerAnalysisResult(pd.DataFrame(rows, columns=["n", "a", "b", "reliability", "method", "power", "power_mcse",
                                                   "n_reps"]))


class _StackedRng:
    """Draws each replication's random numbers from its own generator and stacks them (row = rep)."""

    def __init__(self, seeds):
        self.gens = [np.random.default_rng(s) for s in seeds]

    def standard_normal(self, shape):
        return np.stack([g.standard_normal(shape[1:]) for g in self.gens])

    def integers(self, lo, hi, size):
        return np.stack([g.integers(lo, hi, size=size[1:]) for g in self.gens])


def _analyse_rep_block(x, m, y, n_boot, methods, alpha, seeds):
    return _analyse_chunk(x, m, y, n_boot, methods, alpha, _StackedRng(seeds))


@renamed(power_df="data")
def required_n(data, target=0.8):
    """Smallest n reaching ``target`` power per (a, b, reliability, method), linearly interpolated.

    ``data`` is a :class:`PowerAnalysisResult` or its table. NA when the largest simulated n does not
    reach the target. Returns a :class:`RequiredNResult`.
    """
    power_df = data.to_frame() if hasattr(data, "to_frame") else data
    out = []
    for key, g in power_df.groupby(["a", "b", "reliability", "method"], sort=True):
        g = g.sort_values("n")
        ns, ps = g["n"].to_numpy(float), g["power"].to_numpy(float)
        val = np.nan
        above = np.nonzero(ps >= target)[0]
        if above.size:
            k = above[0]
            if k == 0:
                val = ns[0]
            else:
                n0, n1, p0, p1 = ns[k - 1], ns[k], ps[k - 1], ps[k]
                val = n0 + (target - p0) * (n1 - n0) / (p1 - p0)
        out.append(dict(zip(["a", "b", "reliability", "method"], key), target=target, required_n=val))
    return RequiredNResult(pd.DataFrame(out, columns=["a", "b", "reliability", "method", "target", "required_n"]))


COVERAGE_COLUMNS = ["target", "method", "n", "true_value", "coverage", "coverage_mcse", "bias", "bias_mcse",
                    "rejection_rate", "n_reps", "pass"]


def coverage_study(n=(50, 200), a=0.39, b=0.39, n_reps=500, n_boot=500, methods=METHODS, seed=None,
                   alpha=0.05, chunk_size=None, max_chunk_elements=20_000_000, progress=False):
    """Coverage, bias and type-I error of the indirect-effect intervals.

    Targets: ``indirect`` (a*b with the given paths; in the linear no-interaction model this is also
    the ACME of Imai, Keele & Tingley 2010) and ``type1`` (a = given a, b = 0, so a*b = 0: the
    rejection rate is the type-I error). ``coverage_mcse = sqrt(c (1 - c) / n_reps)``,
    ``bias_mcse = sd(estimates) / sqrt(n_reps)`` (Morris, White & Crowther 2019, Table 6);
    ``pass`` is ``|coverage - (1 - alpha)| <= 2 * sqrt((1 - alpha) alpha / n_reps)``.

    Returns
    -------
    CoverageResult
        ``to_frame()``: columns ``target, method, n, true_value, coverage, coverage_mcse, bias,
        bias_mcse, rejection_rate, n_reps, pass``.
    """
    n_list = [int(v) for v in np.atleast_1d(n)]
    validate_grid(n_list, [a], [b], [1.0])
    methods = tuple(methods)
    targets = [("indirect", float(a), float(b)), ("type1", float(a), 0.0)]
    cells = list(itertools.product(targets, n_list))
    children = as_seed_sequence(seed).spawn(len(cells))
    it = cells
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(cells, desc="coverage cells")
    rows = []
    nominal = 1 - alpha
    tol = 2 * np.sqrt(nominal * alpha / n_reps)
    for ((target, aa, bb), nn), ss in zip(it, children):
        lo, hi, est = _run_cell(nn, aa, bb, 1.0, int(n_reps), int(n_boot), methods, alpha, ss, chunk_size,
                                max_chunk_elements)
        true = aa * bb
        for mth in methods:
            c = float(np.mean((lo[mth] <= true) & (true <= hi[mth])))
            rows.append({"target": target, "method": mth, "n": nn, "true_value": true, "coverage": c,
                         "coverage_mcse": float(np.sqrt(c * (1 - c) / n_reps)),
                         "bias": float(est.mean() - true),
                         "bias_mcse": float(est.std(ddof=1) / np.sqrt(n_reps)) if n_reps > 1 else np.nan,
                         "rejection_rate": float(_excludes_zero(lo[mth], hi[mth]).mean()),
                         "n_reps": int(n_reps), "pass": bool(abs(c - nominal) <= tol)})
    return CoverageResult(pd.DataFrame(rows, columns=COVERAGE_COLUMNS))


def grid_jobs(sim_config):
    """List of job ids ``"<cell>_<batch>"`` for a ``simulation:`` config section; validates the grid."""
    g = sim_config
    validate_grid(g["n"], g["a"], g["b"], g["reliability"])
    n_cells = len(g["n"]) * len(g["a"]) * len(g["b"]) * len(g["reliability"])
    n_batches = -(-int(g["n_reps"]) // int(g["reps_per_job"]))
    return [f"{c}_{k}" for c in range(n_cells) for k in range(n_batches)]


def run_power_job(sim_config, job, seed):
    """Power table of one cell-batch (``job`` from :func:`grid_jobs`), seeded by (seed, cell, batch)."""
    g = sim_config
    cell, batch = (int(v) for v in job.split("_"))
    nn, aa, bb, rel = list(itertools.product(g["n"], g["a"], g["b"], g["reliability"]))[cell]
    reps = min(int(g["reps_per_job"]), int(g["n_reps"]) - batch * int(g["reps_per_job"]))
    return power_analysis(nn, aa, bb, reliability=rel, n_reps=reps, n_boot=int(g["n_boot"]),
                          methods=tuple(g.get("methods", METHODS)), seed=[int(seed), cell, batch]).to_frame()


def aggregate_power(frames):
    """Pool cell-batch power tables: power weighted by replications, MCSE recomputed."""
    df = pd.concat(frames, ignore_index=True)
    df["hits"] = df["power"] * df["n_reps"]
    keys = ["n", "a", "b", "reliability", "method"]
    out = df.groupby(keys, sort=False, as_index=False).agg(hits=("hits", "sum"), n_reps=("n_reps", "sum"))
    out["power"] = np.round(out["hits"]) / out["n_reps"]
    out["power_mcse"] = np.sqrt(out["power"] * (1 - out["power"]) / out["n_reps"])
    return out[["n", "a", "b", "reliability", "method", "power", "power_mcse", "n_reps"]]


def run_coverage(sim_config, seed):
    """Coverage table for a ``simulation:`` config: the grid's n values, its largest a and b paths,
    plus the pooled random-effects estimate (:func:`meta_coverage`, k = 5 and 20 studies)."""
    g = sim_config
    med = coverage_study(n=g["n"], a=max(g["a"]), b=max(g["b"]), n_reps=int(g["n_reps"]),
                         n_boot=int(g["n_boot"]), seed=[int(seed), 999])
    meta = meta_coverage(k=(5, 20), n_reps=int(g["n_reps"]), seed=[int(seed), 998])
    return pd.concat([med.to_frame(), meta.to_frame()], ignore_index=True)


def _dl_pool(yi, vi, alpha=0.05):
    """DerSimonian-Laird pooled estimate per row of ``yi`` (reps, k) with z and Knapp-Hartung intervals."""
    kk = yi.shape[1]
    w = 1.0 / vi
    sw = w.sum(1)
    y_fe = (w * yi).sum(1) / sw
    q = (w * (yi - y_fe[:, None]) ** 2).sum(1)
    c = sw - (w * w).sum(1) / sw
    t2 = np.maximum(0.0, (q - (kk - 1)) / c)
    ws = 1.0 / (vi + t2[:, None])
    sws = ws.sum(1)
    est = (ws * yi).sum(1) / sws
    se_z = np.sqrt(1.0 / sws)
    se_kh = np.sqrt((ws * (yi - est[:, None]) ** 2).sum(1) / (kk - 1) / sws)
    zc, tc = stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, kk - 1)
    return est, {"DL-z": (est - zc * se_z, est + zc * se_z), "DL-knha": (est - tc * se_kh, est + tc * se_kh)}


def meta_coverage(k=(5, 20), mu=0.3, tau2=0.05, n_per_study=(20, 200), n_reps=1000, seed=None, alpha=0.05):
    """Coverage of the pooled random-effects estimate (DerSimonian-Laird tau^2), vectorised over replications.

    Each replication draws ``k`` studies with sample sizes spread evenly over ``n_per_study``,
    sampling variances ``vi = 4 / n_i`` (a standardised mean difference's large-sample variance) and
    ``yi ~ N(mu, tau2 + vi)``. The pooled effect is estimated as :func:`efficacy.meta.random_effects`
    with ``method="DL"`` (DerSimonian & Laird 1986; metafor ``rma(method="DL")``), with normal
    (``method="DL-z"``) or Knapp-Hartung (``"DL-knha"``; Knapp & Hartung 2003, ``test="knha"``)
    intervals. Coverage MCSE as in :func:`coverage_study` (Morris, White & Crowther 2019).

    Returns
    -------
    CoverageResult
        ``to_frame()`` has the :func:`coverage_study` columns; ``target`` is ``"meta_pooled"`` and
        ``n`` the number of studies ``k``.

    Examples
    --------
    >>> df = meta_coverage(k=[10], n_reps=200, seed=1).to_frame()
    >>> sorted(df["method"])
    ['DL-knha', 'DL-z']
    """
    if not (np.isfinite(tau2) and tau2 >= 0):
        raise EfficacyError(f"meta_coverage: tau2={tau2} must be a finite number >= 0")
    rows = []
    nominal = 1 - alpha
    tol = 2 * np.sqrt(nominal * alpha / n_reps)
    k_list = [int(v) for v in np.atleast_1d(k)]
    for kk, ss in zip(k_list, as_seed_sequence(seed).spawn(len(k_list))):
        if kk < 2:
            raise EfficacyError(f"meta_coverage: k={kk} studies; need at least 2")
        rng = np.random.default_rng(ss)
        ni = np.linspace(n_per_study[0], n_per_study[1], kk)
        vi = np.broadcast_to(4.0 / ni, (n_reps, kk))
        yi = mu + np.sqrt(tau2 + vi) * rng.standard_normal((n_reps, kk))
        est, ivals = _dl_pool(yi, vi, alpha)
        for mth, (lo, hi) in ivals.items():
            cv = float(np.mean((lo <= mu) & (mu <= hi)))
            rows.append({"target": "meta_pooled", "method": mth, "n": kk, "true_value": float(mu),
                         "coverage": cv, "coverage_mcse": float(np.sqrt(cv * (1 - cv) / n_reps)),
                         "bias": float(est.mean() - mu),
                         "bias_mcse": float(est.std(ddof=1) / np.sqrt(n_reps)) if n_reps > 1 else np.nan,
                         "rejection_rate": float(_excludes_zero(lo, hi).mean()),
                         "n_reps": int(n_reps), "pass": bool(abs(cv - nominal) <= tol)})
    return CoverageResult(pd.DataFrame(rows, columns=COVERAGE_COLUMNS))
