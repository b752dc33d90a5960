"""Scale reliability: alpha, omega, item analysis, ICC and disattenuation.

The coefficients are computed as R's **psych** and **lavaan + semTools** compute them
(each function names the R function it matches), with honest intervals and item diagnostics.

* :func:`cronbach_alpha` - Cronbach's (1951) alpha and standardized alpha with a Feldt (1965)
  or a BCa bootstrap interval; matches ``psych::alpha``.
* :func:`mcdonald_omega` - McDonald's (1999) omega total from a one-factor ML CFA (matches
  ``semTools::compRelSEM`` on ``lavaan::cfa``) and, when subscales are declared, omega
  hierarchical from a Schmid & Leiman (1957) solution (matches ``psych::omega``); with
  ``ordinal=True`` categorical omega of ordered items (:func:`categorical_omega`, Green & Yang 2009,
  matches ``semTools::compRelSEM`` on a WLSMV fit).
* :func:`item_analysis` - item means, SDs, floor and ceiling, corrected item-total correlation
  (``r.drop``) and alpha if the item is deleted (matches ``psych::alpha``'s item statistics).
* :func:`icc` / :func:`test_retest` - the six Shrout & Fleiss (1979) intraclass correlations with
  F tests and intervals (matches ``psych::ICC(lmer = FALSE)``; computed by
  ``pingouin.intraclass_corr``).
* :func:`disattenuated_correlation` / :func:`attenuation_table` - Spearman's (1904) correction.
* :func:`run_stage` - the workflow's ``reliability`` stage.

Every bootstrap is one batched computation: resamples are multinomial weight vectors, and all
resampled covariance matrices come from a single matrix product; the one-factor ML fit is a
batched Fisher scoring over all resamples at once, and the Schmid-Leiman chain behind omega_h
(principal axes, varimax, oblimin, second-order factor) is batched the same way. Jackknife
(leave-one-out) covariances for the BCa acceleration come from the same per-row moments.

Oblimin is our own implementation of Jennrich's (2002) gradient projection algorithm (the
algorithm of R's GPArotation); no Python dependency beyond numpy, scipy, pandas and pingouin.

Statistical failure never raises: a coefficient that cannot be computed (fewer than two items,
a zero-variance or empty item, fewer complete cases than items, a non-converged factor model)
is NaN and ``reason`` says why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from efficacy._api import as_rng, check_columns, renamed
from efficacy.errors import DataError
from efficacy.resampling import bca_interval, draw_counts
from efficacy.results import ResultMixin, TableResult
from efficacy.sem.batch import PSI_LB as _PSI_LB
from efficacy.sem.batch import one_factor_ml as _one_factor_ml

__all__ = [
    "AlphaResult",
    "OmegaResult",
    "ICCResult",
    "ItemAnalysisResult",
    "AttenuationResult",
    "cronbach_alpha",
    "feldt_interval",
    "mcdonald_omega",
    "CategoricalOmegaResult",
    "categorical_omega",
    "item_analysis",
    "icc",
    "test_retest",
    "disattenuated_correlation",
    "attenuation_table",
    "run_stage",
]

_MISSING = ("listwise", "pairwise")


# ----------------------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------------------
def _as_frame(items, data=None) -> pd.DataFrame:
    """Items as a numeric DataFrame (columns = items)."""
    if data is not None:
        if not isinstance(data, pd.DataFrame):
            raise DataError("`data` must be a pandas DataFrame", found=type(data).__name__)
        cols = [items] if isinstance(items, str) else list(items)
        check_columns(data, [("an item", cols)])
        frame = data[cols]
    elif isinstance(items, pd.DataFrame):
        frame = items
    else:
        arr = np.asarray(items)
        if arr.ndim != 2:
            raise DataError("items must be a 2-D table (rows = persons, columns = items)",
                            found=f"{arr.ndim}-D array")
        frame = pd.DataFrame(arr, columns=[f"item{j + 1}" for j in range(arr.shape[1])])
    out = {}
    for c in frame.columns:
        col = frame[c]
        if col.dtype == bool:
            col = col.astype(float)
        if not pd.api.types.is_numeric_dtype(col):
            raise DataError("item is not numeric", where=f"column '{c}'", found=str(col.dtype),
                            expected="numbers")
        out[str(c)] = col.to_numpy(dtype=float)
    return pd.DataFrame(out, index=frame.index)


def _items_frame(data, items=None) -> pd.DataFrame:
    """The item table of a reliability function: ``data`` itself, or its columns ``items``."""
    if items is None:
        if isinstance(data, (list, tuple)) and data and all(isinstance(c, str) for c in data):
            raise TypeError("the first argument is the data (a DataFrame or 2-D array); name the item columns "
                            "with items=, e.g. cronbach_alpha(df, items=[...])")
        return _as_frame(data)
    return _as_frame(items, data)


def _check_items(frame: pd.DataFrame, missing: str) -> tuple[np.ndarray | None, str]:
    """Return (mask-ready data, reason). Data is None when the coefficient is undefined."""
    if missing not in _MISSING:
        raise DataError(f"missing must be one of {_MISSING}, got {missing!r}")
    k = frame.shape[1]
    if k < 2:
        return None, f"fewer than 2 items (k = {k})"
    x = frame.to_numpy(dtype=float)
    nobs = np.isfinite(x).sum(axis=0)
    empty = [c for c, m in zip(frame.columns, nobs) if m == 0]
    if empty:
        return None, "item(s) with no observed values: " + ", ".join(empty)
    if missing == "listwise":
        x = x[np.isfinite(x).all(axis=1)]
        if x.shape[0] < k + 1:
            return None, f"only {x.shape[0]} complete cases for {k} items (need more than k)"
    else:
        m = np.isfinite(x).astype(float)
        pair_n = m.T @ m
        if pair_n.min() < k + 1:
            return None, (f"only {int(pair_n.min())} pairwise-complete cases for {k} items "
                          "(need more than k)")
    sd = np.nanstd(x, axis=0)
    flat = [c for c, s in zip(frame.columns, sd) if not s > 1e-12 * max(1.0, np.nanmax(np.abs(x)))]
    if flat:
        return None, "zero-variance item(s): " + ", ".join(flat)
    return x, ""


# ----------------------------------------------------------------------------------------------
# batched (weighted) covariance matrices
# ----------------------------------------------------------------------------------------------
class _Moments:
    """Per-row contributions to covariance sums, so that any reweighting of the rows
    (bootstrap counts, jackknife leave-one-out) gives all covariance matrices in one product.

    For pairwise deletion the sums are taken over rows where both items are observed, with
    pair-specific means, as R's ``cov(use = "pairwise")``.
    """

    def __init__(self, x: np.ndarray):
        n, k = x.shape
        self.k = k
        self.center = np.nanmean(x, axis=0)
        xc = x - self.center
        m = np.isfinite(xc)
        self.complete = bool(m.all())
        xz = np.where(m, xc, 0.0)
        if self.complete:
            self.P = np.concatenate(
                [(xz[:, :, None] * xz[:, None, :]).reshape(n, k * k), xz, np.ones((n, 1))], axis=1
            )
        else:
            mf = m.astype(float)
            pxx = (xz[:, :, None] * xz[:, None, :]).reshape(n, k * k)
            px = (xz[:, :, None] * mf[:, None, :]).reshape(n, k * k)  # x_j where j and l observed
            pn = (mf[:, :, None] * mf[:, None, :]).reshape(n, k * k)
            self.P = np.concatenate([pxx, px, pn], axis=1)
        self.total = self.P.sum(axis=0)

    def _cov(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.k
        kk = k * k
        if self.complete:
            sxx = sums[:, :kk].reshape(-1, k, k)
            sx = sums[:, kk:kk + k]
            nn = sums[:, -1][:, None, None]
            cov = (sxx - sx[:, :, None] * sx[:, None, :] / nn) / (nn - 1)
            return cov, np.broadcast_to(nn, cov.shape)
        sxx = sums[:, :kk].reshape(-1, k, k)
        sx = sums[:, kk:2 * kk].reshape(-1, k, k)
        nn = sums[:, 2 * kk:].reshape(-1, k, k)
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = (sxx - sx * np.swapaxes(sx, 1, 2) / nn) / (nn - 1)
        return cov, nn

    def full(self) -> tuple[np.ndarray, np.ndarray]:
        c, nn = self._cov(self.total[None, :])
        return c[0], nn[0]

    def weighted(self, w: np.ndarray) -> np.ndarray:
        """Covariance matrices for row weights ``w`` (B, n)."""
        return self._cov(w @ self.P)[0]

    def jackknife(self) -> np.ndarray:
        """Leave-one-out covariance matrices (n, k, k)."""
        return self._cov(self.total[None, :] - self.P)[0]


def _boot_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial resampling counts (n_boot, n): row b says how often each row is drawn."""
    return draw_counts(rng, n, np.empty((n_boot, n)))  # = case_counts(rng.integers(0, n, size=(n_boot, n)), n)


def _bca(theta_hat: float, boot: np.ndarray, jack: np.ndarray, level: float) -> tuple[float, float]:
    """BCa interval (Efron, 1987) of one statistic from its bootstrap replicates and jackknife values."""
    lo, hi = bca_interval(boot, theta_hat, jack, level)
    return float(lo[0]), float(hi[0])


def _alpha_from_cov(c: np.ndarray) -> np.ndarray:
    k = c.shape[-1]
    tr = np.trace(c, axis1=-2, axis2=-1)
    tot = c.sum(axis=(-2, -1))
    return k / (k - 1) * (1 - tr / tot)


def _std_alpha_from_cov(c: np.ndarray) -> np.ndarray:
    k = c.shape[-1]
    d = np.sqrt(np.diagonal(c, axis1=-2, axis2=-1))
    r = c / (d[..., :, None] * d[..., None, :])
    return k / (k - 1) * (1 - k / r.sum(axis=(-2, -1)))


# ----------------------------------------------------------------------------------------------
# alpha
# ----------------------------------------------------------------------------------------------
@dataclass
class AlphaResult(ResultMixin):
    """Cronbach's alpha with its interval.

    Attributes
    ----------
    alpha, std_alpha : float
        Raw alpha (from covariances) and standardized alpha (from correlations).
    ci_low, ci_high : float
        Interval bounds at ``ci_level`` (method ``ci_method``).
    n : int
        Cases used (complete cases for listwise; smallest pairwise count for pairwise).
    k : int
        Number of items.
    mean_r : float
        Mean inter-item correlation.
    reason : str
        Empty when all is well; otherwise why the coefficient is NaN.
    ci : tuple
        ``(ci_low, ci_high)``.
    """

    alpha: float
    std_alpha: float
    ci_low: float
    ci_high: float
    n: int
    k: int
    mean_r: float = np.nan
    ci_level: float = 0.95
    ci_method: str = "feldt"
    missing: str = "listwise"
    n_boot: int = 0
    reason: str = ""

    _headline = ("alpha", "ci", "std_alpha", "mean_r", "n", "k")
    _title = "Cronbach's alpha"

    @property
    def ci(self) -> tuple:
        """Interval of alpha (``ci_method`` at ``ci_level``)."""
        return self.ci_low, self.ci_high

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per quantity (columns ``quantity``, ``value``)."""
        rows = [("alpha", self.alpha), ("std_alpha", self.std_alpha), ("ci_low", self.ci_low),
                ("ci_high", self.ci_high), ("mean_r", self.mean_r), ("n", self.n), ("k", self.k)]
        return pd.DataFrame({"quantity": [r[0] for r in rows], "value": [float(r[1]) for r in rows]})

    def __repr__(self) -> str:
        if self.reason and not np.isfinite(self.alpha):
            return f"AlphaResult(alpha=NA, n={self.n}, k={self.k}, reason={self.reason!r})"
        return (f"AlphaResult(alpha={self.alpha:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}] "
                f"{self.ci_method} {self.ci_level:.0%}, std_alpha={self.std_alpha:.4f}, "
                f"n={self.n}, k={self.k})")


def feldt_interval(alpha: float, n: int, k: int, ci_level: float = 0.95) -> tuple[float, float]:
    """Feldt (1965) F-based confidence interval for Cronbach's alpha.

    ``1 - (1 - alpha) * F`` with F quantiles on ``n - 1`` and ``(n - 1)(k - 1)`` degrees of
    freedom; the formula of ``psych::alpha.ci`` (used by ``psych::alpha``) and of
    ``pingouin.cronbach_alpha``.

    Parameters
    ----------
    alpha : float
        Raw alpha.
    n : int
        Number of cases. :func:`cronbach_alpha` passes the cases actually used.
    k : int
        Number of items.
    ci_level : float
        Confidence level.

    Returns
    -------
    (float, float)
        Lower and upper bound.

    Examples
    --------
    >>> lo, hi = feldt_interval(0.8, 100, 5)
    >>> round(lo, 3), round(hi, 3)
    (0.731, 0.856)
    """
    p = 1 - ci_level
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lo = 1 - (1 - alpha) * stats.f.ppf(1 - p / 2, df1, df2)
    hi = 1 - (1 - alpha) * stats.f.ppf(p / 2, df1, df2)
    return float(lo), float(hi)


@renamed(level="ci_level")
def cronbach_alpha(data, items=None, *, ci_level=0.95, ci_method="feldt", n_boot=2000, seed=None,
                   missing="listwise") -> AlphaResult:
    """Cronbach's alpha with a Feldt or BCa bootstrap interval.

    Raw alpha is ``k/(k-1) * (1 - tr(C)/sum(C))`` for the item covariance matrix ``C``
    (Cronbach, 1951); standardized alpha uses the correlation matrix. Matches
    ``psych::alpha(x)$total$raw_alpha`` and ``std.alpha`` (for ``missing="pairwise"``,
    psych's default ``use = "pairwise"``; for ``missing="listwise"``, ``psych::alpha(na.omit(x))``).

    **Interval.** ``ci_method="feldt"`` gives Feldt's (1965) F interval
    (:func:`feldt_interval`) with ``n`` = the number of cases actually used: the complete cases
    (listwise) or the smallest pairwise count (pairwise). *Difference from R/pingouin:*
    ``psych::alpha`` passes ``nrow(x)`` - every row, including rows with missing answers - to
    ``alpha.ci``, and ``pingouin.cronbach_alpha`` likewise uses the row count before its
    pairwise/listwise handling; with missing data their Feldt bounds are therefore too narrow.
    Without missing data the intervals are identical. ``ci_method="bootstrap"`` gives the BCa
    interval (Efron, 1987) from ``n_boot`` case resamples, all computed in one batched
    product, with a vectorised jackknife for the acceleration.

    Parameters
    ----------
    data : DataFrame or 2-D array
        Item responses, one row per person (reverse-keyed items already reversed); all columns
        are items unless ``items`` names them.
    items : list of str, optional
        The item columns of ``data``.
    ci_level : float
        Confidence level.
    ci_method : {"feldt", "bootstrap"}
    n_boot : int
        Bootstrap resamples (bootstrap only).
    seed : int or numpy Generator, optional
        Seed for the bootstrap.
    missing : {"listwise", "pairwise"}
        Listwise deletion (default) or pairwise covariances.

    Returns
    -------
    AlphaResult
        ``alpha``, ``ci`` (``ci_low``, ``ci_high``), ``std_alpha``, ``mean_r``, ``n``, ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> f = rng.normal(size=(200, 1))
    >>> x = f + rng.normal(size=(200, 4))
    >>> res = cronbach_alpha(x)
    >>> 0.7 < res.alpha < 0.9
    True
    """
    if ci_method not in ("feldt", "bootstrap"):
        raise DataError(f"ci_method must be 'feldt' or 'bootstrap', got {ci_method!r}")
    frame = _items_frame(data, items)
    k = frame.shape[1]
    x, reason = _check_items(frame, missing)
    base = dict(ci_level=ci_level, ci_method=ci_method, missing=missing,
                n_boot=n_boot if ci_method == "bootstrap" else 0)
    if x is None:
        n0 = int(np.isfinite(frame.to_numpy(float)).all(axis=1).sum())
        return AlphaResult(np.nan, np.nan, np.nan, np.nan, n0, k, reason=reason, **base)
    mom = _Moments(x)
    c, nn = mom.full()
    n = int(round(nn.min()))
    a = float(_alpha_from_cov(c))
    sa = float(_std_alpha_from_cov(c))
    d = np.sqrt(np.diag(c))
    r = c / np.outer(d, d)
    mean_r = float((r.sum() - k) / (k * (k - 1)))
    if ci_method == "feldt":
        lo, hi = feldt_interval(a, n, k, ci_level)
    else:
        rng = as_rng(seed)
        w = _boot_weights(x.shape[0], n_boot, rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = _alpha_from_cov(mom.weighted(w))
            jack = _alpha_from_cov(mom.jackknife())
        lo, hi = _bca(a, boot, jack, ci_level)
    return AlphaResult(a, sa, lo, hi, n, k, mean_r=mean_r, **base)


def _omega_from_fit(lam, psi, s):
    """compRelSEM's omega: (sum lam)^2 / sum(S) (obs.var = TRUE)."""
    return lam.sum(axis=1) ** 2 / s.sum(axis=(1, 2))


# ----------------------------------------------------------------------------------------------
# minres EFA, rotations and Schmid-Leiman (psych::omega)
# ----------------------------------------------------------------------------------------------
def _minres(r: np.ndarray, nf: int) -> np.ndarray:
    """Minimum-residual (ULS) factor loadings as ``psych::fa(fm = "minres")`` computes them:
    uniquenesses bounded to [0.005, 1], L-BFGS-B from ``1 - smc`` (Harman & Jones, 1966)."""
    k = r.shape[0]
    low = np.tril_indices(k, -1)

    def loads(psi):
        s = r.copy()
        s[np.diag_indices(k)] = 1 - psi
        ev, evec = np.linalg.eigh(s)
        ev, evec = ev[::-1][:nf], evec[:, ::-1][:, :nf]
        ev = np.where(ev < np.finfo(float).eps, 100 * np.finfo(float).eps, ev)
        return evec * np.sqrt(ev)

    def fun(psi):
        lo = loads(psi)
        res = (r - lo @ lo.T)[low]
        return float(np.sum(res**2))

    def grad(psi):
        s = r - np.diag(psi)
        ev, evec = np.linalg.eigh(s)
        ev, evec = ev[::-1][:nf], evec[:, ::-1][:, :nf]
        lo = evec * np.sqrt(np.maximum(ev, 0))
        return np.diag(lo @ lo.T + np.diag(psi) - r).copy()

    smc = 1 - 1 / np.diag(np.linalg.inv(r))
    start = 1 - smc
    res = optimize.minimize(fun, start, jac=grad, method="L-BFGS-B", bounds=[(0.005, 1.0)] * k,
                            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000})
    s = r.copy()
    s[np.diag_indices(k)] -= res.x
    ev, evec = np.linalg.eigh(s)
    ev, evec = ev[::-1][:nf], evec[:, ::-1][:, :nf]
    lo = evec * np.sqrt(np.maximum(ev, 0))
    sgn = np.sign(lo.sum(axis=0))
    sgn[sgn == 0] = 1
    return lo * sgn


def _varimax(x: np.ndarray, eps=1e-10, max_iter=1000) -> np.ndarray:
    """Kaiser-normalized varimax (as ``stats::varimax``)."""
    p, nc = x.shape
    if nc < 2:
        return x
    sc = np.sqrt((x**2).sum(axis=1))
    z0 = x / sc[:, None]
    tt = np.eye(nc)
    d = 0.0
    for _ in range(max_iter):
        z = z0 @ tt
        b = z0.T @ (z**3 - z @ np.diag((z**2).sum(axis=0)) / p)
        u, s, vt = np.linalg.svd(b)
        tt = u @ vt
        dpast, d = d, s.sum()
        if d < dpast * (1 + eps):
            break
    return (z0 @ tt) * sc[:, None]


def _oblimin(a: np.ndarray, eps=1e-9, max_iter=5000) -> tuple[np.ndarray, np.ndarray]:
    """Quartimin (oblimin, gamma = 0) by Jennrich's (2002) gradient projection algorithm, the
    algorithm of ``GPArotation::oblimin`` (``GPFoblq``, ``normalize = FALSE``). Returns the
    pattern loadings and the factor correlation matrix Phi."""
    nf = a.shape[1]
    off = 1 - np.eye(nf)

    def vgq(lo):
        x = (lo**2) @ off
        return lo * x, float(np.sum(lo**2 * x) / 4)

    tmat = np.eye(nf)
    al = 1.0
    lo = a @ np.linalg.inv(tmat).T
    gq, f = vgq(lo)
    g = -(lo.T @ gq @ np.linalg.inv(tmat)).T
    for _ in range(max_iter):
        gp = g - tmat @ np.diag((tmat * g).sum(axis=0))
        s = np.sqrt(np.sum(gp**2))
        if s < eps:
            break
        al *= 2
        for _i in range(11):
            xm = tmat - al * gp
            tnew = xm / np.sqrt((xm**2).sum(axis=0))
            lo = a @ np.linalg.inv(tnew).T
            gq_new, f_new = vgq(lo)
            if f - f_new > 0.5 * s**2 * al:
                break
            al /= 2
        tmat, f, gq = tnew, f_new, gq_new
        g = -(lo.T @ gq @ np.linalg.inv(tmat)).T
    return lo, tmat.T @ tmat


def _schmid_leiman(r: np.ndarray, nf: int) -> dict:
    """psych::omega's omega_h and omega_tot from a correlation matrix (minres, varimax, oblimin,
    second-order minres factor of Phi, Schmid-Leiman transformation)."""
    orth = _varimax(_minres(r, nf))
    fload, phi = _oblimin(orth)
    sgn = np.sign(fload.sum(axis=0))
    sgn[sgn == 0] = 1
    fload = fload * sgn
    phi = phi * np.outer(sgn, sgn)
    warn = ""
    if nf > 2:
        gload = _minres(phi, 1)[:, 0]
    else:
        p12 = phi[0, 1]
        gload = np.array([np.sqrt(abs(p12)), np.sign(p12) * np.sqrt(abs(p12))])
        warn = "two group factors: general loadings set equal (psych option = 'equal')"
    g = fload @ gload
    h2 = (orth**2).sum(axis=1)
    u2 = np.diag(r) - h2
    key = np.sign(g)
    key[key == 0] = 1
    rr = r * np.outer(key, key)
    vt = rr.sum()
    return {"omega_h": float(np.sum(np.abs(g)) ** 2 / vt), "omega_tot": float((vt - u2.sum()) / vt),
            "g": np.abs(g), "h2": h2, "u2": u2, "phi": phi, "oblique": fload, "warning": warn}


# batched versions (bootstrap of omega_h): the same algorithms over a stack of matrices
def _minres_batched(r: np.ndarray, nf: int, psi0=None, tol=1e-8, max_iter=500):
    """Iterated principal axes (the fixed point of minres/ULS; Harman & Jones, 1966) for a stack
    of correlation matrices (B, k, k), uniquenesses kept in [0.005, 1] as psych::fa does, with
    SQUAREM extrapolation (Varadhan & Roland, 2008) to speed up the linear convergence.
    Returns loadings (B, k, nf) and a convergence mask."""
    bsz, k, _ = r.shape
    di = np.arange(k)

    def step(rr, psi):
        s = rr.copy()
        s[:, di, di] = 1 - psi
        ev, evec = np.linalg.eigh(s)
        ev, evec = ev[:, ::-1][:, :nf], evec[:, :, ::-1][:, :, :nf]
        lo = evec * np.sqrt(np.maximum(ev, 0))[:, None, :]
        return np.clip(1 - (lo**2).sum(axis=2), 0.005, 1.0), lo

    if psi0 is None:
        psi = np.clip(1 / np.diagonal(np.linalg.inv(r), axis1=1, axis2=2), 0.005, 1.0)
    else:
        psi = np.broadcast_to(np.asarray(psi0, float), (bsz, k)).copy()
    active = np.ones(bsz, dtype=bool)
    load = np.zeros((bsz, k, nf))
    for _ in range(max_iter):
        ia = np.flatnonzero(active)
        if ia.size == 0:
            break
        rr, p0 = r[ia], psi[ia]
        p1, _ = step(rr, p0)
        p2, _ = step(rr, p1)
        d1 = p1 - p0
        v = p2 - p1 - d1
        nv = np.sqrt((v**2).sum(axis=1))
        alpha = np.where(nv > 0, -np.sqrt((d1**2).sum(axis=1)) / np.where(nv > 0, nv, 1), -1.0)
        alpha = np.minimum(alpha, -1.0)[:, None]
        pe = np.clip(p0 - 2 * alpha * d1 + alpha**2 * v, 0.005, 1.0)
        pn, lo = step(rr, pe)
        load[ia] = lo
        done = np.max(np.abs(pn - p0), axis=1) < tol
        psi[ia] = pn
        active[ia[done]] = False
    sgn = np.sign(load.sum(axis=1, keepdims=True))
    sgn[sgn == 0] = 1
    return load * sgn, ~active


def _varimax_batched(x: np.ndarray, eps=1e-6, max_iter=200) -> np.ndarray:
    """Kaiser-normalized varimax for a stack of loading matrices (B, p, nf); only a starting
    point for oblimin, so a loose tolerance suffices."""
    bsz, p, nc = x.shape
    sc = np.sqrt((x**2).sum(axis=2, keepdims=True))
    z0 = x / sc
    tt = np.broadcast_to(np.eye(nc), (bsz, nc, nc)).copy()
    d = np.zeros(bsz)
    for _ in range(max_iter):
        z = z0 @ tt
        b = np.swapaxes(z0, 1, 2) @ (z**3 - z * (z**2).sum(axis=1, keepdims=True) / p)
        u, s, vt = np.linalg.svd(b)
        tt = u @ vt
        dpast, d = d, s.sum(axis=1)
        if np.all(d < dpast * (1 + eps)):
            break
    return (z0 @ tt) * sc


def _oblimin_batched(a: np.ndarray, eps=1e-7, max_iter=2000) -> tuple[np.ndarray, np.ndarray]:
    """GPFoblq quartimin (as :func:`_oblimin`) for a stack of loading matrices (B, p, nf), each
    with its own step size; returns pattern loadings and Phi."""
    bsz, p, nf = a.shape
    off = 1 - np.eye(nf)

    def vgq(lo):
        x = (lo**2) @ off
        return lo * x, np.sum(lo**2 * x, axis=(1, 2)) / 4

    def grad(lo, gq, tm):
        return -np.swapaxes(np.swapaxes(lo, 1, 2) @ gq @ np.linalg.inv(tm), 1, 2)

    tm = np.broadcast_to(np.eye(nf), (bsz, nf, nf)).copy()
    lo = a.copy()
    gq, f = vgq(lo)
    g = grad(lo, gq, tm)
    al = np.ones(bsz)
    for _ in range(max_iter):
        gp = g - tm * (tm * g).sum(axis=1, keepdims=True)
        s = np.sqrt(np.sum(gp**2, axis=(1, 2)))
        ia = np.flatnonzero(s >= eps)
        if ia.size == 0:
            break
        al[ia] *= 2
        acc = np.zeros(ia.size, dtype=bool)
        t_new, l_new, gq_new, f_new = tm[ia].copy(), lo[ia].copy(), gq[ia].copy(), f[ia].copy()
        for _i in range(11):
            xm = tm[ia] - al[ia, None, None] * gp[ia]
            tn = xm / np.sqrt((xm**2).sum(axis=1, keepdims=True))
            ln = a[ia] @ np.swapaxes(np.linalg.inv(tn), 1, 2)
            gqn, fn = vgq(ln)
            take = ~acc  # R keeps the last candidate even when no step improved enough
            t_new[take], l_new[take], gq_new[take], f_new[take] = tn[take], ln[take], gqn[take], fn[take]
            ok = (f[ia] - fn > 0.5 * s[ia] ** 2 * al[ia]) & ~acc
            acc |= ok
            if acc.all():
                break
            al[ia[~acc]] /= 2
        tm[ia], lo[ia], gq[ia], f[ia] = t_new, l_new, gq_new, f_new
        g[ia] = grad(lo[ia], gq[ia], tm[ia])
    return lo, np.swapaxes(tm, 1, 2) @ tm


def _omega_h_bca(mom, w, omega_h, nf, psi0, level):
    """BCa interval of omega_h from bootstrap weights ``w`` and the jackknife."""
    def corr(c):
        d = np.sqrt(np.diagonal(c, axis1=1, axis2=2))
        return c / (d[:, :, None] * d[:, None, :])

    with np.errstate(invalid="ignore", divide="ignore"):
        boot = _omega_h_batched(corr(mom.weighted(w)), nf, psi0)
        jack = _omega_h_batched(corr(mom.jackknife()), nf, psi0)
    return _bca(omega_h, boot, jack, level)


def _omega_h_batched(r: np.ndarray, nf: int, psi0=None) -> np.ndarray:
    """psych::omega's omega_h for a stack of correlation matrices (B, k, k)."""
    load, ok = _minres_batched(r, nf, psi0)
    fload, phi = _oblimin_batched(_varimax_batched(load))
    if nf > 2:
        gl, ok2 = _minres_batched(phi, 1)
        gload = gl[:, :, 0]
        ok = ok & ok2
    else:
        p12 = phi[:, 0, 1]
        gload = np.column_stack([np.sqrt(np.abs(p12)), np.sign(p12) * np.sqrt(np.abs(p12))])
    g = np.einsum("bkf,bf->bk", fload, gload)
    key = np.where(g < 0, -1.0, 1.0)
    vt = np.einsum("bi,bij,bj->b", key, r, key)
    out = np.abs(g).sum(axis=1) ** 2 / vt
    return np.where(ok, out, np.nan)


@dataclass
class OmegaResult(ResultMixin):
    """McDonald's omega.

    Attributes
    ----------
    omega_total : float
        Omega total from a one-factor ML CFA (``semTools::compRelSEM``).
    ci_low, ci_high : float
        BCa bootstrap interval of omega total (NaN when ``n_boot = 0``).
    omega_h : float
        Omega hierarchical from a Schmid-Leiman solution (``psych::omega``), NaN without
        subscales.
    omega_tot_sl : float
        psych's ``omega.tot`` from the Schmid-Leiman solution (NaN without subscales).
    omega_h_ci_low, omega_h_ci_high : float
        BCa bootstrap interval of omega_h (same resamples as omega total).
    loadings, residual_variances : numpy arrays
        One-factor ML estimates (covariance metric, divisor n - 1).
    proper : bool
        False when a residual variance is negative (Heywood case).
    converged : bool
    reason : str
    """

    omega_total: float
    ci_low: float
    ci_high: float
    omega_h: float
    n: int
    k: int
    omega_tot_sl: float = np.nan
    omega_h_ci_low: float = np.nan
    omega_h_ci_high: float = np.nan
    loadings: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    residual_variances: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    converged: bool = True
    proper: bool = True
    ci_level: float = 0.95
    n_boot: int = 0
    n_boot_failed: int = 0
    items: list = field(default_factory=list, repr=False)
    reason: str = ""
    warnings: list = field(default_factory=list)

    _headline = ("omega_total", "ci", "omega_h", "n", "k", "proper")
    _title = "McDonald's omega"

    @property
    def ci(self) -> tuple:
        """BCa interval of omega total."""
        return self.ci_low, self.ci_high

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per quantity (columns ``quantity``, ``value``)."""
        rows = [("omega_total", self.omega_total), ("ci_low", self.ci_low), ("ci_high", self.ci_high),
                ("omega_h", self.omega_h), ("omega_h_ci_low", self.omega_h_ci_low),
                ("omega_h_ci_high", self.omega_h_ci_high), ("omega_tot_sl", self.omega_tot_sl), ("n", self.n),
                ("k", self.k)]
        return pd.DataFrame({"quantity": [r[0] for r in rows], "value": [float(r[1]) for r in rows]})

    def __repr__(self) -> str:
        if not np.isfinite(self.omega_total):
            return f"OmegaResult(omega_total=NA, n={self.n}, k={self.k}, reason={self.reason!r})"
        return (f"OmegaResult(omega_total={self.omega_total:.4f} [{self.ci_low:.4f}, "
                f"{self.ci_high:.4f}], omega_h={self.omega_h:.4f}, n={self.n}, k={self.k}, "
                f"proper={self.proper})")


@renamed(level="ci_level")
def mcdonald_omega(data, items=None, *, subscales=None, ci_level=0.95, n_boot=2000, seed=None,
                   missing="listwise", ordinal=False) -> OmegaResult:
    """McDonald's omega total (one-factor CFA) and omega hierarchical (Schmid-Leiman).

    **Omega total** (McDonald, 1999) is ``(sum lambda)^2 / sum(S)`` where ``lambda`` are the ML
    loadings of a one-factor CFA and ``S`` the observed item covariance matrix; this is
    ``semTools::compRelSEM(lavaan::cfa("f =~ ...", data, std.lv = TRUE))`` with its default
    ``obs.var = TRUE`` and lavaan's default listwise deletion. The ML fit is our own batched
    Fisher scoring, so the BCa bootstrap interval (Efron, 1987; ``n_boot`` case resamples, jackknife
    acceleration) fits all resamples at once, warm-started at the full-sample estimates.
    Resamples whose fit does not converge are dropped and counted in ``n_boot_failed``.

    **Omega hierarchical** (Zinbarg et al., 2005), when ``subscales`` declares at least two
    groups, follows ``psych::omega(x, nfactors = len(subscales))``: a minres EFA with that many
    factors, varimax then oblimin (quartimin; Jennrich's 2002 gradient projection, as
    ``GPArotation::oblimin``, implemented here), a minres general factor of the factor
    correlations (for two factors psych's ``option = "equal"``), and the Schmid & Leiman (1957)
    transformation; ``omega_h = (sum g)^2 / sum(R)``. As in psych, only the *number* of subscales
    enters the exploratory solution. Its BCa interval uses the same resamples, with the whole
    chain (iterated principal axes - the minres fixed point -, varimax, gradient-projection
    oblimin, second-order factor) batched over resamples and warm-started at the full-sample
    uniquenesses; resamples whose factoring does not converge are dropped.

    Parameters
    ----------
    data : DataFrame or 2-D array
        Item responses, one row per person; all columns are items unless ``items`` names them.
    items : list of str, optional
        The item columns of ``data``.
    subscales : dict[str, list[str]], optional
        Declared subscales (item names); two or more turn on omega_h.
    ci_level : float
    n_boot : int
        Bootstrap resamples for omega total; 0 for no interval.
    seed : int or numpy Generator, optional
    missing : {"listwise", "pairwise"}
    ordinal : bool
        True: categorical omega of ordered items (Green & Yang, 2009) from a one-factor WLSMV fit,
        as ``semTools::compRelSEM`` on ``lavaan::cfa(..., ordered = TRUE, estimator = "WLSMV")``;
        see :func:`categorical_omega`. No bootstrap interval and no omega_h are computed then
        (``ci_low``/``ci_high`` are NaN; ``n_boot``, ``seed`` and ``subscales`` are not used).

    Returns
    -------
    OmegaResult

    References
    ----------
    Green, S. B., & Yang, Y. (2009). Reliability of summed item scores using structural equation
    modeling: An alternative to coefficient alpha. *Psychometrika, 74*, 155-167.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> x = rng.normal(size=(300, 1)) @ np.full((1, 5), 0.7) + rng.normal(size=(300, 5))
    >>> res = mcdonald_omega(x, n_boot=200, seed=1)
    >>> res.ci_low < res.omega_total < res.ci_high
    True
    """
    frame = _items_frame(data, items)
    k = frame.shape[1]
    x, reason = _check_items(frame, missing)
    if ordinal:
        return _ordinal_omega(frame, x, reason, missing, ci_level)
    if x is not None and k < 3:
        x, reason = None, "one-factor model not identified with 2 items (need at least 3)"
    if x is None:
        n0 = int(np.isfinite(frame.to_numpy(float)).all(axis=1).sum())
        return OmegaResult(np.nan, np.nan, np.nan, np.nan, n0, k, reason=reason,
                           ci_level=ci_level, items=list(frame.columns))
    mom = _Moments(x)
    c, nn = mom.full()
    n = int(round(nn.min()))
    warnings = []
    d = np.sqrt(np.diag(c))
    eig = np.linalg.eigvalsh(c / np.outer(d, d))
    if eig[0] <= 1e-10 * eig[-1]:
        # ML factor analysis needs a positive-definite covariance matrix (log|S| in the fit function).
        return OmegaResult(np.nan, np.nan, np.nan, np.nan, n, k, ci_level=ci_level, items=list(frame.columns),
                           reason="item covariance matrix is singular (an item is a linear combination of "
                                  "others, e.g. duplicated or identical items): omega not estimable")
    lam, psi, conv = _one_factor_ml(c[None])
    at_bound = psi[0] / np.diag(c) <= _PSI_LB * (1 + 1e-6)
    proper = not bool(at_bound.any())
    if not conv[0]:
        return OmegaResult(np.nan, np.nan, np.nan, np.nan, n, k, converged=False, ci_level=ci_level,
                           items=list(frame.columns),
                           reason="one-factor ML fit did not converge")
    if not proper:
        bad_items = ", ".join(str(c_) for c_, b_ in zip(frame.columns, at_bound) if b_)
        warnings.append(f"Heywood case: residual variance of {bad_items} at its lower bound "
                        "(lavaan would report a negative variance; omega total may differ)")
    om = float(_omega_from_fit(lam, psi, c[None])[0])
    lo = hi = np.nan
    failed = 0
    if n_boot and n_boot > 0:
        rng = as_rng(seed)
        w = _boot_weights(x.shape[0], n_boot, rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            sb = mom.weighted(w)
            ok = np.isfinite(sb).all(axis=(1, 2))
            bl, bp, bc = _one_factor_ml(sb[ok], np.repeat(lam, ok.sum(), 0), np.repeat(psi, ok.sum(), 0))
            boot = np.full(n_boot, np.nan)
            boot[np.flatnonzero(ok)[bc]] = _omega_from_fit(bl[bc], bp[bc], sb[ok][bc])
            failed = int(n_boot - np.isfinite(boot).sum())
            sj = mom.jackknife()
            jl, jp, jc = _one_factor_ml(sj, np.repeat(lam, sj.shape[0], 0), np.repeat(psi, sj.shape[0], 0))
            jack = np.where(jc, _omega_from_fit(jl, jp, sj), np.nan)
        lo, hi = _bca(om, boot, jack, ci_level)
        if failed:
            warnings.append(f"{failed} of {n_boot} bootstrap fits failed and were dropped")
    omega_h = omega_tot_sl = h_lo = h_hi = np.nan
    if subscales:
        groups = [g for g, its in subscales.items() if len(its) > 0]
        if len(groups) >= 2:
            d = np.sqrt(np.diag(c))
            r = c / np.outer(d, d)
            try:
                sl = _schmid_leiman(r, len(groups))
                omega_h, omega_tot_sl = sl["omega_h"], sl["omega_tot"]
                if sl["warning"]:
                    warnings.append(sl["warning"])
                if n_boot and n_boot > 0:
                    h_lo, h_hi = _omega_h_bca(mom, w, omega_h, len(groups), sl["u2"], ci_level)
            except (np.linalg.LinAlgError, ValueError) as exc:  # pragma: no cover - defensive
                warnings.append(f"Schmid-Leiman solution failed: {exc}")
    return OmegaResult(om, lo, hi, omega_h, n, k, omega_tot_sl=omega_tot_sl, omega_h_ci_low=h_lo,
                       omega_h_ci_high=h_hi, loadings=lam[0],
                       residual_variances=psi[0], converged=True, proper=proper, ci_level=ci_level,
                       n_boot=int(n_boot or 0), n_boot_failed=failed, items=list(frame.columns),
                       warnings=warnings)


# ----------------------------------------------------------------------------------------------
# categorical omega (ordered items)
# ----------------------------------------------------------------------------------------------
def _omega_cat(thresholds, common, total) -> float:
    """Green & Yang (2009) omega from thresholds, the common part and the total latent-response correlations.

    ``thresholds``: list of arrays (one per item); ``common``: implied common covariance of the latent
    responses (``lambda Phi lambda'``); ``total``: their (sample) correlation matrix. The numerator and
    denominator are the covariance of the summed item scores implied by ``common`` and by ``total``:
    ``sum_{j, j'} [sum_{c, c'} Phi2(t_jc, t_j'c'; r_jj') - sum_c Phi(t_jc) sum_c' Phi(t_j'c')]``.
    """
    from efficacy.sem.categorical import bivariate_normal_cdf

    k = len(thresholds)
    lens = np.array([len(t) for t in thresholds])
    kmax = int(lens.max())
    T = np.full((k, kmax), np.inf)   # padded with +inf: Phi2(inf, b) - Phi(inf) Phi(b) = 0 for the pads
    for j, t in enumerate(thresholds):
        T[j, :len(t)] = t
    a = T[:, None, :, None]
    b = T[None, :, None, :]
    marg = np.where(np.isfinite(T), stats.norm.cdf(np.where(np.isfinite(T), T, 0.0)), 0.0).sum(axis=1)

    def part(r):
        p2 = bivariate_normal_cdf(a, b, np.asarray(r)[:, :, None, None])
        fin = np.isfinite(a) & np.isfinite(b)
        return float(np.sum(np.where(fin, p2, 0.0)) - np.sum(np.outer(marg, marg)))

    return part(common) / part(total)


@dataclass(repr=False)
class CategoricalOmegaResult(ResultMixin):
    """Result of :func:`categorical_omega`: ``omega`` per factor (a Series) and the WLSMV ``fit``."""

    omega: pd.Series
    fit: object = field(default=None, repr=False)

    _headline = ("omega",)
    _title = "Categorical omega (Green & Yang 2009)"
    _dict_skip = ("fit",)

    def to_frame(self) -> pd.DataFrame:
        """One row per factor: ``factor``, ``estimate`` (omega)."""
        return pd.DataFrame({"factor": list(self.omega.index), "estimate": self.omega.to_numpy(float)})


def categorical_omega(data, model, *, missing="listwise") -> CategoricalOmegaResult:
    """Categorical omega (Green & Yang, 2009) of each factor of a WLSMV CFA of ordered items.

    The reliability of the *summed item scores* (not of the latent responses): the model-implied
    covariance of the sum score due to the factor, divided by its total covariance, both computed
    on the observed (categorical) metric through the thresholds and the bivariate normal
    distribution of the latent responses. The factor's loadings, its variance and the thresholds
    come from ``sem(data, model, ordered=True, estimator="WLSMV", auto="cfa")``; the total part uses
    the sample polychoric correlations (``obs.var = TRUE``). Matches ``semTools::compRelSEM(fit)``
    on ``fit <- lavaan::cfa(model, data, ordered = TRUE, estimator = "WLSMV")`` (semTools 0.5.6,
    ``ord.scale = TRUE``; ``compRelSEM(fit, ordinal = TRUE)`` in later versions).

    Parameters
    ----------
    data : pandas.DataFrame
        The ordered items (numeric codes or ordered categoricals).
    model : str or dict
        lavaan syntax of the measurement model, or ``{factor: [items]}``.
    missing : {"listwise", "pairwise"}
        Missing-data handling of the WLSMV fit (lavaan's ``missing=``).

    Returns
    -------
    CategoricalOmegaResult
        ``omega``: omega per factor, a Series (factors with a single indicator are left out, as
        semTools' ``dropSingle = TRUE``); ``fit``: the :class:`efficacy.sem.SEMResult`.

    References
    ----------
    Green, S. B., & Yang, Y. (2009). Reliability of summed item scores using structural equation
    modeling: An alternative to coefficient alpha. *Psychometrika, 74*, 155-167.

    Examples
    --------
    >>> categorical_omega(df, {"agree": ["A2", "A3", "A4", "A5"]}).omega   # doctest: +SKIP
    agree    0.7287
    """
    from efficacy.sem import polychoric, sem

    if isinstance(model, dict):
        model = "\n".join(f"{f} =~ " + " + ".join(map(str, its)) for f, its in model.items())
    fit = sem(data, model, ordered=True, estimator="WLSMV", auto="cfa", missing=missing)
    est = fit.estimates
    items = list(dict.fromkeys(est.loc[est["op"] == "|", "lhs"]))
    R = polychoric(data, items, missing=missing, se=False).rho
    lam = est[est["op"] == "=~"]
    out = {}
    for f in dict.fromkeys(lam["lhs"]):
        rows = lam[(lam["lhs"] == f) & (lam["estimate"] != 0)]
        its = [v for v in rows["rhs"] if v in items]
        if len(its) < 2:
            continue
        lf = rows.set_index("rhs").loc[its, "estimate"].to_numpy(float)
        phi = float(est.loc[(est["op"] == "~~") & (est["lhs"] == f) & (est["rhs"] == f), "estimate"].iloc[0])
        th = [est.loc[(est["op"] == "|") & (est["lhs"] == v), "estimate"].to_numpy(float) for v in its]
        out[f] = _omega_cat(th, np.outer(lf, lf) * phi, R.loc[its, its].to_numpy())
    return CategoricalOmegaResult(omega=pd.Series(out, dtype=float, name="omega"), fit=fit)


def _ordinal_omega(frame, x, reason, missing, ci_level) -> OmegaResult:
    """mcdonald_omega(..., ordinal=True): categorical omega of a one-factor WLSMV CFA."""
    from efficacy.errors import EfficacyError

    k = frame.shape[1]
    cols = list(frame.columns)
    n0 = int(np.isfinite(frame.to_numpy(float)).all(axis=1).sum())
    if x is not None and k < 3:
        x, reason = None, "one-factor model not identified with 2 items (need at least 3)"
    if x is None:
        return OmegaResult(np.nan, np.nan, np.nan, np.nan, n0, k, reason=reason, ci_level=ci_level, items=cols)
    safe = frame.copy()
    safe.columns = [f"i{j + 1}" for j in range(k)]
    model = "f =~ " + " + ".join(safe.columns)
    try:
        om = categorical_omega(safe, model, missing=missing)
    except EfficacyError as exc:   # e.g. more than 20 categories: not an ordinal item
        return OmegaResult(np.nan, np.nan, np.nan, np.nan, n0, k, reason=f"ordinal omega not computed: {exc}",
                           ci_level=ci_level, items=cols)
    fit = om.fit
    est = fit.estimates
    lam = est.loc[est["op"] == "=~", "std_all"].to_numpy(float)
    th = est.loc[(est["op"] == "~~") & est["lhs"].isin(safe.columns) & (est["lhs"] == est["rhs"]), "estimate"]
    warn = list(fit.warnings) + ["ordinal omega (Green & Yang 2009): no bootstrap interval"]
    why = "" if fit.converged else "one-factor WLSMV fit did not converge"
    return OmegaResult(float(om.omega.get("f", np.nan)) if fit.converged else np.nan, np.nan, np.nan, np.nan, fit.n, k,
                       loadings=lam, residual_variances=th.to_numpy(float), converged=bool(fit.converged),
                       proper=bool(fit.proper), ci_level=ci_level, n_boot=0, items=cols, reason=why,
                       warnings=warn)


# ----------------------------------------------------------------------------------------------
# item analysis
# ----------------------------------------------------------------------------------------------
@dataclass(repr=False)
class ItemAnalysisResult(TableResult):
    """Result of :func:`item_analysis`: one row per item (``to_frame()``); ``mean_r`` is the scale's
    mean inter-item correlation and ``weakest`` the item with the lowest corrected item-total
    correlation."""

    _headline = ("k", "mean_r", "weakest")
    _title = "Item analysis"

    @property
    def k(self) -> int:
        return int(len(self.table))

    @property
    def mean_r(self) -> float:
        return float(self.table["mean_r"].iloc[0]) if len(self.table) else float("nan")

    @property
    def weakest(self) -> str:
        r = self.table["r_drop"]
        return "" if r.isna().all() else str(self.table.loc[r.idxmin(), "item"])


def item_analysis(data, items=None, *, response_range=None, missing="listwise") -> ItemAnalysisResult:
    """Item statistics as ``psych::alpha`` reports them, plus floor and ceiling.

    ``data`` holds the item responses (all its columns, or those named by ``items``).
    The result's ``to_frame()`` has the columns ``item``, ``n`` (answers to the item), ``mean``, ``sd`` (of all answers, as psych),
    ``floor_pct`` / ``ceiling_pct`` (percent of answers at the bottom / top of
    ``response_range``; NaN without a range), ``r_drop`` (corrected item-total correlation,
    psych's ``r.drop``), ``alpha_if_deleted`` (psych's ``alpha.drop$raw_alpha``) and
    ``mean_r`` (the scale's mean inter-item correlation, repeated on each row).
    ``r_drop``/``alpha_if_deleted`` use the same covariance matrix as :func:`cronbach_alpha`
    (listwise by default; ``missing="pairwise"`` matches psych's default).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(1, 6, size=(50, 3))
    >>> list(item_analysis(x, response_range=(1, 5)).to_frame().columns)[:4]
    ['item', 'n', 'mean', 'sd']
    """
    frame = _items_frame(data, items)
    k = frame.shape[1]
    xall = frame.to_numpy(float)
    out = pd.DataFrame({
        "item": list(frame.columns),
        "n": np.isfinite(xall).sum(axis=0).astype(int),
    })
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing item: mean is NaN
        out["mean"] = np.nanmean(xall, axis=0) if xall.size else np.nan
        cnt = np.isfinite(xall).sum(axis=0)
        out["sd"] = [np.nanstd(xall[:, j], ddof=1) if cnt[j] > 1 else np.nan for j in range(k)]
        if response_range is not None:
            lo, hi = response_range
            out["floor_pct"] = 100 * np.nansum(xall == lo, axis=0) / np.where(cnt > 0, cnt, np.nan)
            out["ceiling_pct"] = 100 * np.nansum(xall == hi, axis=0) / np.where(cnt > 0, cnt, np.nan)
        else:
            out["floor_pct"] = np.nan
            out["ceiling_pct"] = np.nan
    out["r_drop"] = np.nan
    out["alpha_if_deleted"] = np.nan
    out["mean_r"] = np.nan
    x, _ = _check_items(frame, missing)
    if x is not None:
        c, _ = _Moments(x).full()
        tot = c.sum()
        d = np.sqrt(np.diag(c))
        r = c / np.outer(d, d)
        out["mean_r"] = (r.sum() - k) / (k * (k - 1))
        rd, ad = [], []
        for j in range(k):
            keep = np.arange(k) != j
            cj = c[np.ix_(keep, keep)]
            cov_rest = c[j].sum() - c[j, j]
            rd.append(cov_rest / np.sqrt(c[j, j] * cj.sum()))
            if k > 2:
                ad.append(float(_alpha_from_cov(cj)))
            else:  # psych: C[1,2] / C[2,2] for two items
                ad.append(c[0, 1] / c[1 - j, 1 - j])
        out["r_drop"] = rd
        out["alpha_if_deleted"] = ad
        del tot
    return ItemAnalysisResult(out)


# ----------------------------------------------------------------------------------------------
# ICC
# ----------------------------------------------------------------------------------------------
_ICC_TYPES = ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
_ICC_DESC = ["single rater, absolute (one-way)", "single random rater, absolute agreement",
             "single fixed rater, consistency", "average of k raters, one-way",
             "average of k random raters, absolute agreement",
             "average of k fixed raters, consistency"]


@dataclass
class ICCResult(ResultMixin):
    """The six Shrout-Fleiss ICCs; ``table`` has one row per form (psych names in ``type``: ICC1 ...
    ICC3k; McGraw & Wong / pingouin names in ``pingouin_type``) with the ICC in ``estimate``, its F
    test (``F``, ``df1``, ``df2``, ``pvalue``) and interval (``ci_low``, ``ci_high``).
    ``res["ICC2"]`` is one coefficient; ``ICC2`` and ``ICC3`` are also attributes."""

    table: pd.DataFrame
    n: int
    k: int
    ci_level: float = 0.95
    reason: str = ""

    _headline = ("ICC2", "ICC3", "n", "k")
    _title = "Intraclass correlations (Shrout & Fleiss, 1979)"
    _summary_columns = ("type", "description", "estimate", "F", "df1", "df2", "pvalue", "ci_low", "ci_high")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per ICC form."""
        return self.table.copy()

    @property
    def ICC2(self) -> float:
        """Two-way random, absolute agreement, single rater (test-retest agreement)."""
        return self["ICC2"]

    @property
    def ICC3(self) -> float:
        """Two-way mixed, consistency, single rater."""
        return self["ICC3"]

    def __getitem__(self, key: str) -> float:
        row = self.table.loc[self.table["type"] == key, "estimate"]
        return float(row.iloc[0]) if len(row) else np.nan

    def __repr__(self) -> str:
        if self.reason:
            return f"ICCResult(NA, n={self.n}, k={self.k}, reason={self.reason!r})"
        vals = ", ".join(f"{t}={v:.3f}" for t, v in zip(self.table["type"], self.table["estimate"]))
        return f"ICCResult({vals}, n={self.n}, k={self.k})"


def _icc_na(n, k, reason, ci_level):
    t = pd.DataFrame({"type": _ICC_TYPES, "description": _ICC_DESC, "estimate": np.nan, "F": np.nan,
                      "df1": np.nan, "df2": np.nan, "pvalue": np.nan, "ci_low": np.nan,
                      "ci_high": np.nan})
    return ICCResult(t, n, k, ci_level, reason)


@renamed(level="ci_level", ratings="data")
def icc(data, columns=None, *, ci_level=0.95) -> ICCResult:
    """Shrout & Fleiss (1979) intraclass correlations ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k.

    ``data`` is wide: one row per target (person), one column per rater (or wave); ``columns``
    names the rater columns (default: all columns).
    Targets with any missing rating are dropped (listwise; ``n`` reports those used). The
    mean squares, ICCs, F tests and the 95% intervals come from ``pingouin.intraclass_corr``
    and match ``psych::ICC(x, lmer = FALSE)`` (the ANOVA estimates; psych's default
    ``lmer = TRUE`` gives the same values for complete data). *Difference from pingouin:*
    pingouin rounds its ``CI95`` column to two decimals by default (option
    ``round.column.CI95``), which is too coarse; we call it with that rounding switched off
    for the call. Pingouin's intervals are fixed at 95%; for other ``ci_level`` the same
    formulas (Shrout & Fleiss, 1979; McGraw & Wong, 1996, as psych) are evaluated here.

    Examples
    --------
    >>> import numpy as np
    >>> sf = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
    ...                [6, 2, 4, 7]])
    >>> round(icc(sf)["ICC3"], 4)
    0.7148
    """
    import pingouin as pg

    frame = _items_frame(data, columns)
    k = frame.shape[1]
    x = frame.to_numpy(float)
    x = x[np.isfinite(x).all(axis=1)]
    n = x.shape[0]
    if k < 2:
        return _icc_na(n, k, f"fewer than 2 raters/waves (k = {k})", ci_level)
    if n < 3:
        return _icc_na(n, k, f"only {n} complete targets (need at least 3)", ci_level)
    if np.all(np.ptp(x, axis=1) == 0) and np.ptp(x) == 0:
        return _icc_na(n, k, "all ratings identical (zero variance)", ci_level)
    long = pd.DataFrame({"target": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n),
                         "y": x.ravel()})
    old = dict(pg.options)
    try:
        pg.options["round"] = None
        for key in [kk for kk in pg.options if str(kk).startswith("round.")]:
            del pg.options[key]
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas deprecation notices from inside pingouin
            res = pg.intraclass_corr(long, targets="target", raters="rater", ratings="y")
    finally:
        pg.options.clear()
        pg.options.update(old)
    ci = np.vstack(res["CI95"].to_numpy())
    table = pd.DataFrame({
        "type": _ICC_TYPES, "pingouin_type": res["Type"].to_list(), "description": _ICC_DESC,
        "estimate": res["ICC"].to_numpy(float), "F": res["F"].to_numpy(float),
        "df1": res["df1"].to_numpy(float), "df2": res["df2"].to_numpy(float),
        "pvalue": res["pval"].to_numpy(float), "ci_low": ci[:, 0], "ci_high": ci[:, 1]})
    if not np.isclose(ci_level, 0.95):
        table["ci_low"], table["ci_high"] = _icc_ci(x, ci_level)
    return ICCResult(table, n, k, ci_level)


def _icc_ci(x, level):
    """ICC intervals at any level (the formulas of psych::ICC / pingouin)."""
    n, k = x.shape
    gm = x.mean()
    ssb = k * ((x.mean(axis=1) - gm) ** 2).sum()
    ssj = n * ((x.mean(axis=0) - gm) ** 2).sum()
    sst = ((x - gm) ** 2).sum()
    sse = sst - ssb - ssj
    msb, msj, mse = ssb / (n - 1), ssj / (k - 1), sse / ((n - 1) * (k - 1))
    msw = (ssj + sse) / (n * (k - 1))
    a = 1 - level
    df1, df1d, df2d = n - 1, n * (k - 1), (n - 1) * (k - 1)
    f1, f3 = msb / msw, msb / mse
    f1l, f1u = f1 / stats.f.ppf(1 - a / 2, df1, df1d), f1 * stats.f.ppf(1 - a / 2, df1d, df1)
    f3l, f3u = f3 / stats.f.ppf(1 - a / 2, df1, df2d), f3 * stats.f.ppf(1 - a / 2, df2d, df1)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    fj = msj / mse
    vn = df2d * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u, f2l = stats.f.ppf(1 - a / 2, n - 1, v), stats.f.ppf(1 - a / 2, v, n - 1)
    l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
    u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
    lo = [(f1l - 1) / (f1l + k - 1), l2, (f3l - 1) / (f3l + k - 1), 1 - 1 / f1l,
          l2 * k / (1 + l2 * (k - 1)), 1 - 1 / f3l]
    hi = [(f1u - 1) / (f1u + k - 1), u2, (f3u - 1) / (f3u + k - 1), 1 - 1 / f1u,
          u2 * k / (1 + u2 * (k - 1)), 1 - 1 / f3u]
    return np.array(lo), np.array(hi)


@renamed(level="ci_level")
def test_retest(data, columns, *, ci_level=0.95) -> ICCResult:
    """Test-retest reliability of a measure taken at several waves: :func:`icc` on the wave
    columns (wide: one row per person, one column per wave). ICC2 (absolute agreement) and
    ICC3 (consistency) are the usual test-retest coefficients.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"w1": [1, 2, 3, 4, 5.], "w2": [1.5, 2, 3.5, 4, 5.5]})
    >>> round(test_retest(d, ["w1", "w2"])["ICC3"], 3)
    0.985
    """
    return icc(data, columns, ci_level=ci_level)


test_retest.__test__ = False  # not a pytest test despite the name


# ----------------------------------------------------------------------------------------------
# attenuation
# ----------------------------------------------------------------------------------------------
def disattenuated_correlation(r_xy, rel_x, rel_y):
    """Spearman's (1904) correction for attenuation: ``r_xy / sqrt(rel_x * rel_y)``.

    NaN where a reliability is missing or not positive. Values above 1 in absolute value are
    returned as computed (they signal sampling error or poor reliability estimates), not clipped.

    Examples
    --------
    >>> round(disattenuated_correlation(0.3, 0.64, 0.81), 4)
    0.4167
    """
    r_xy, rel_x, rel_y = (np.asarray(v, dtype=float) for v in (r_xy, rel_x, rel_y))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((rel_x > 0) & (rel_y > 0), r_xy / np.sqrt(rel_x * rel_y), np.nan)
    return float(out) if out.ndim == 0 else out


@dataclass(repr=False)
class AttenuationResult(TableResult):
    """Result of :func:`attenuation_table`: one row per pair of scales (``to_frame()``);
    ``max_disattenuated`` is the largest absolute disattenuated correlation (above 1: the scales
    are not distinct, or a reliability is underestimated)."""

    _headline = ("max_disattenuated",)
    _title = "Observed and disattenuated correlations (Spearman, 1904)"

    @property
    def max_disattenuated(self) -> float:
        v = self.table["r_disattenuated"].abs()
        return float(v.max()) if v.notna().any() else float("nan")


@renamed(scores="data")
def attenuation_table(data: pd.DataFrame, reliabilities: dict) -> AttenuationResult:
    """Observed and disattenuated correlations for every pair of scales.

    Parameters
    ----------
    data : DataFrame
        One column per scale score.
    reliabilities : dict
        Scale name -> reliability (e.g. alpha or omega total).

    Returns
    -------
    AttenuationResult
        ``to_frame()``: ``scale_x, scale_y, n, r, rel_x, rel_y, r_disattenuated``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"a": [1, 2, 3, 4, 5.], "b": [2, 1, 4, 3, 5.]})
    >>> res = attenuation_table(d, {"a": 0.8, "b": 0.8})
    >>> round(float(res.to_frame()["r_disattenuated"].iloc[0]), 3), round(res.max_disattenuated, 3)
    (1.0, 1.0)
    """
    scores = data
    names = [c for c in scores.columns if c in reliabilities]
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pair = scores[[a, b]].dropna()
            n = len(pair)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = float(np.corrcoef(pair[a], pair[b])[0, 1]) if n > 2 else np.nan
            rx, ry = reliabilities[a], reliabilities[b]
            rows.append({"scale_x": a, "scale_y": b, "n": n, "r": r, "rel_x": rx, "rel_y": ry,
                         "r_disattenuated": disattenuated_correlation(r, rx, ry)})
    cols = ["scale_x", "scale_y", "n", "r", "rel_x", "rel_y", "r_disattenuated"]
    return AttenuationResult(pd.DataFrame(rows, columns=cols))


# ----------------------------------------------------------------------------------------------
# workflow stage
# ----------------------------------------------------------------------------------------------
RELIABILITY_COLUMNS = [
    "study", "scale", "subscale", "construct", "group", "wave", "n", "k", "alpha", "alpha_ci_low",
    "alpha_ci_high", "std_alpha", "omega_total", "omega_ci_low", "omega_ci_high", "omega_h",
    "omega_h_ci_low", "omega_h_ci_high", "mean_r", "ordinal", "ordinal_alpha", "omega_ordinal",
    "flag_coefficient", "estimator", "estimator_reason", "flag", "reason",
]
RETEST_COLUMNS = ["study", "measure", "group", "waves", "n", "type", "description", "estimate", "F", "df1",
                  "df2", "pvalue", "ci_low", "ci_high", "reason"]
ATTENUATION_COLUMNS = ["study", "scale_x", "scale_y", "n", "r", "coefficient", "rel_x", "rel_y",
                       "r_disattenuated", "flag"]


def _group_slices(clean: pd.DataFrame, groups) -> list[tuple[str, pd.DataFrame]]:
    out = [("all", clean)]
    for g in groups or []:
        if g not in clean.columns:
            continue
        levels = sorted(clean[g].dropna().unique(), key=lambda v: (str(type(v)), v))
        for lev in levels:
            lab = int(lev) if isinstance(lev, float) and float(lev).is_integer() else lev
            out.append((f"{g}={lab}", clean[clean[g] == lev]))
    return out


def _units(codebook):
    """(scale, subscale, construct, items, response_range, subscales) for every scale/subscale."""
    for name, sc in codebook.scales.items():
        subs = dict(sc.subscales or {})
        yield name, "", sc.construct, list(sc.items), sc.response_range, subs
        for sub, its in subs.items():
            yield name, sub, sc.construct, list(its), sc.response_range, {}


def _reliability_row(study, scale, subscale, construct, group, wave, items, frame, subs, *,
                     threshold, n_boot, seed, ci_method, ci_level, missing, flag_on, choice=None):
    row = dict.fromkeys(RELIABILITY_COLUMNS, np.nan)
    ordinal = choice is not None and choice.estimator == "WLSMV"
    row.update(study=study, scale=scale, subscale=subscale, construct=construct, group=group,
               wave=wave, k=len(items), reason="", ordinal=ordinal,
               estimator="WLSMV" if ordinal else "ML",
               estimator_reason=(choice.reason + ": ordinal alpha (polychoric) and categorical omega "
                                 "(WLSMV) beside the Pearson alpha and ML omega") if ordinal
               else (choice.reason if choice is not None else ""))
    absent = [c for c in items if c not in frame.columns]
    if absent:
        row.update(n=0, flag="not_estimable", reason="item column(s) not in clean data: " + ", ".join(absent))
        return row
    try:
        a = cronbach_alpha(frame[items], ci_level=ci_level, ci_method=ci_method, n_boot=n_boot,
                           seed=seed, missing=missing)
        o = mcdonald_omega(frame[items], subscales=subs or None, ci_level=ci_level, n_boot=n_boot,
                           seed=seed, missing=missing)
    except Exception as exc:  # a failing scale must not stop the stage
        row.update(n=0, flag="not_estimable", reason=f"error: {exc}")
        return row
    row.update(n=a.n, alpha=a.alpha, alpha_ci_low=a.ci_low, alpha_ci_high=a.ci_high,
               std_alpha=a.std_alpha, omega_total=o.omega_total, omega_ci_low=o.ci_low,
               omega_ci_high=o.ci_high, omega_h=o.omega_h, omega_h_ci_low=o.omega_h_ci_low,
               omega_h_ci_high=o.omega_h_ci_high, mean_r=a.mean_r)
    notes = [x for x in [a.reason or o.reason] if x] + list(o.warnings)
    key = flag_on
    if ordinal:
        from efficacy.errors import EfficacyError
        from efficacy.sem.categorical import ordinal_alpha

        try:
            oa = ordinal_alpha(frame[items], missing=missing)
            row["ordinal_alpha"] = oa.alpha
            if oa.reason:
                notes.append(f"ordinal alpha: {oa.reason}")
        except EfficacyError as exc:
            notes.append(f"ordinal alpha not computed: {exc}")
        oc = mcdonald_omega(frame[items], missing=missing, ordinal=True)
        row["omega_ordinal"] = oc.omega_total
        if oc.reason:
            notes.append(oc.reason)
        # categorical omega is the reliability of the observed sum score (Green & Yang 2009); ordinal alpha is
        # that of the latent responses, so it never replaces alpha in the flag or the disattenuation
        if flag_on == "omega_total" and np.isfinite(oc.omega_total):
            key = "omega_ordinal"
    row["flag_coefficient"] = key
    value = row[key]
    if not np.isfinite(value):
        flag = "not_estimable"
    elif value < threshold:
        flag = "below_threshold"
        notes.append(f"{key} {value:.3f} < {threshold:g}: correlations with this scale are "
                     "attenuated")
    else:
        flag = "ok"
    row.update(flag=flag, reason="; ".join(dict.fromkeys(notes)))
    return row


def _scale_choice(codebook, scale):
    """The codebook's estimator decision for a scale (None for a codebook-like object without one)."""
    if not hasattr(codebook, "estimator_for"):
        return None
    from efficacy.estimator_choice import scale_choice

    return scale_choice(codebook, scale)


def run_stage(clean, codebook, *, threshold=0.70, n_boot=1000, seed=20261128, ci_method="feldt",
              ci_level=0.95, missing="listwise", flag_on="alpha"):
    """The workflow's ``reliability`` stage for one study.

    For every scale and every declared subscale, in the whole sample (``group = "all"``) and in
    each level of each grouping variable (``"culture=A"``), computes alpha with its interval,
    omega total with its BCa bootstrap interval, omega hierarchical (scales with >= 2 subscales)
    and the mean inter-item correlation, and flags coefficients below ``threshold``. Scales
    measured at a wave carry it in ``wave``.

    **Ordinal scales.** When the codebook marks a scale's items as ordinal (WLSMV in
    :meth:`~efficacy.codebook.Codebook.estimator_for`: an ``ordinal`` key, or a Likert range of at
    most 7 categories), the row also holds ``ordinal_alpha`` (alpha on the polychoric matrix,
    Zumbo, Gadermann & Zeisser 2007; :func:`efficacy.sem.ordinal_alpha`) and ``omega_ordinal``
    (categorical omega of a one-factor WLSMV CFA, Green & Yang 2009; ``mcdonald_omega(...,
    ordinal=True)``), beside the Pearson alpha and ML omega, which are kept (with their intervals)
    for comparison; ``ordinal``, ``estimator`` and ``estimator_reason`` say which and why. With
    ``flag_on="omega_total"`` the flag and the disattenuation of an ordinal scale use
    ``omega_ordinal`` (the reliability of the observed sum score); ordinal alpha is the reliability
    of the latent responses, not of the score, so it never enters the flag; ``flag_coefficient``
    names the coefficient used. Item statistics come from :func:`item_analysis`;
    measures declared in ``codebook.waves`` with at least two wave columns get test-retest ICCs;
    every pair of scale scores gets its observed and disattenuated correlation.

    Parameters
    ----------
    clean : DataFrame
        ``results/<study>/clean.csv`` (items reverse-scored; one score column per scale).
    codebook : efficacy.codebook.Codebook
    threshold : float
        Reliability below which a scale is flagged (default 0.70).
    n_boot : int
        Bootstrap resamples for omega (and alpha when ``ci_method="bootstrap"``).
    seed : int
    ci_method : {"feldt", "bootstrap"}
        Interval for alpha.
    ci_level : float
    missing : {"listwise", "pairwise"}
    flag_on : {"alpha", "omega_total"}
        Coefficient compared with ``threshold`` (and used for disattenuation).

    Returns
    -------
    dict
        ``{"reliability": ..., "items": ..., "retest": ..., "attenuation": ...}`` DataFrames.
        A scale that cannot be analysed is a row with NaN coefficients and a ``reason``.
    """
    if flag_on not in ("alpha", "omega_total"):
        raise DataError(f"flag_on must be 'alpha' or 'omega_total', got {flag_on!r}")
    study = codebook.study
    rows, item_tabs = [], []
    slices = _group_slices(clean, getattr(codebook, "groups", []))
    for scale, sub, construct, items, rng_, subs in _units(codebook):
        wave = codebook.wave_of(scale) if hasattr(codebook, "wave_of") else codebook.scales[scale].wave
        wave = np.nan if wave is None else wave
        choice = _scale_choice(codebook, scale)
        for group, frame in slices:
            rows.append(_reliability_row(study, scale, sub, construct, group, wave, items, frame, subs,
                                         threshold=threshold, n_boot=n_boot, seed=seed,
                                         ci_method=ci_method, ci_level=ci_level, missing=missing,
                                         flag_on=flag_on, choice=choice))
        present = [c for c in items if c in clean.columns]
        if present:
            try:
                tab = item_analysis(clean[present], response_range=rng_, missing=missing).to_frame()
            except Exception:  # non-numeric column etc.: reported in the reliability row
                continue
            tab.insert(0, "subscale", sub)
            tab.insert(0, "scale", scale)
            tab.insert(0, "study", study)
            item_tabs.append(tab)
    reliability = pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
    item_cols = ["study", "scale", "subscale", "item", "n", "mean", "sd", "floor_pct", "ceiling_pct",
                 "r_drop", "alpha_if_deleted", "mean_r"]
    items_df = (pd.concat(item_tabs, ignore_index=True)[item_cols] if item_tabs
                else pd.DataFrame(columns=item_cols))

    retest_rows = []
    for measure, cols in (getattr(codebook, "waves", None) or {}).items():
        present = [c for c in cols if c in clean.columns]
        for group, frame in slices:
            base = dict(study=study, measure=measure, group=group, waves=len(present))
            if len(present) < 2:
                retest_rows.append({**base, "n": 0, "reason": "fewer than 2 wave columns in clean data"})
                continue
            try:
                res = icc(frame[present], ci_level=ci_level)
            except Exception as exc:
                retest_rows.append({**base, "n": 0, "reason": f"error: {exc}"})
                continue
            for rec in res.table.to_dict("records"):
                retest_rows.append({**base, "n": res.n, "reason": res.reason,
                                    **{c: rec[c] for c in RETEST_COLUMNS if c in rec}})
    retest = pd.DataFrame(retest_rows, columns=RETEST_COLUMNS)

    whole = reliability[(reliability["group"] == "all") & (reliability["subscale"] == "")]
    rel_map = {r.scale: getattr(r, r.flag_coefficient if isinstance(r.flag_coefficient, str) else flag_on)
               for r in whole.itertuples() if r.scale in clean.columns}
    coef = {r.scale: (r.flag_coefficient if isinstance(r.flag_coefficient, str) else flag_on)
            for r in whole.itertuples()}
    att = attenuation_table(clean[[c for c in rel_map]], rel_map).to_frame()
    att.insert(0, "study", study)
    pair = [(coef.get(x, flag_on), coef.get(y, flag_on)) for x, y in zip(att["scale_x"], att["scale_y"])]
    att.insert(5, "coefficient", [a if a == b else f"{a} / {b}" for a, b in pair] if len(att) else flag_on)
    low = {s for s, v in rel_map.items() if not (np.isfinite(v) and v >= threshold)}
    att["flag"] = np.where(att["scale_x"].isin(low) | att["scale_y"].isin(low), "unreliable_scale", "ok")
    attenuation = att[ATTENUATION_COLUMNS] if len(att) else pd.DataFrame(columns=ATTENUATION_COLUMNS)
    return {"reliability": reliability, "items": items_df, "retest": retest, "attenuation": attenuation}
