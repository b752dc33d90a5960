"""Shared pieces of the vectorised bootstraps: case-count weights and BCa intervals.

Every bootstrap in the library (reliability, mediation, latent mediation) draws
all resamples at once as a matrix of row indices and turns it into case counts,
so that a resample's statistics are weighted sums over the original rows; and
every BCa interval uses the same bias correction and jackknife acceleration.

References
----------
Efron, B. (1987). Better bootstrap confidence intervals. *Journal of the
American Statistical Association, 82*(397), 171-185.
Efron, B., & Tibshirani, R. J. (1993). *An introduction to the bootstrap*,
ch. 14. Chapman & Hall.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["case_counts", "bca_interval"]


def case_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """Resampled row indices (B, n) -> case counts (B, n): how often resample b drew row i.

    Parameters
    ----------
    idx : numpy.ndarray of int, shape (B, n)
        Row indices of each resample, for example ``rng.integers(0, n, size=(B, n))``.
    n : int
        Number of rows in the original data.

    Returns
    -------
    numpy.ndarray of float, shape (B, n)
        Each row sums to the resample size; a weighted statistic with these
        weights equals the statistic of the resampled data.

    Examples
    --------
    >>> case_counts(np.array([[0, 0, 2], [1, 2, 2]]), 3)
    array([[2., 0., 1.],
           [0., 1., 2.]])
    """
    idx = np.asarray(idx)
    B = idx.shape[0]
    flat = (idx + (np.arange(B) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=B * n).reshape(B, n).astype(float)


def bca_interval(boot, est, jack, level: float = 0.95):
    """Bias-corrected and accelerated (BCa) bootstrap interval per statistic (Efron, 1987).

    Parameters
    ----------
    boot : array_like, shape (B, q) or (B,)
        Bootstrap replicates of q statistics; non-finite replicates (failed
        resamples) are dropped column by column.
    est : array_like, shape (q,) or scalar
        Full-sample estimates.
    jack : array_like, shape (n, q) or (n,)
        Leave-one-out (jackknife) values, for the acceleration.
    level : float
        Confidence level.

    Returns
    -------
    lo, hi : numpy.ndarray, shape (q,)
        Interval limits; NaN for a statistic with fewer than 10 finite
        replicates, a non-finite estimate, or all replicates on one side of the
        estimate (the bias correction is then infinite).

    Notes
    -----
    Bias correction ``z0 = Phi^-1(#{b < est} + #{b = est}/2) / B)``; acceleration
    ``a = sum(d^3) / (6 (sum d^2)^1.5)`` with ``d`` the jackknife values'
    deviations from their mean (Efron & Tibshirani, 1993, eq. 14.15); the
    limits are the bootstrap quantiles at ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))``.
    Matches ``boot::boot.ci(type = "bca")`` up to its interpolation of quantiles.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.exponential(size=40)
    >>> boot = x[rng.integers(0, 40, size=(2000, 40))].mean(axis=1)
    >>> jack = (x.sum() - x) / 39
    >>> lo, hi = bca_interval(boot, x.mean(), jack)
    >>> bool(lo[0] < x.mean() < hi[0])
    True
    """
    boot = np.asarray(boot, dtype=float)
    jack = np.asarray(jack, dtype=float)
    if boot.ndim == 1:
        boot = boot[:, None]
    if jack.ndim == 1:
        jack = jack[:, None]
    est = np.atleast_1d(np.asarray(est, dtype=float))
    alpha = (1 - level) / 2
    fin = np.isfinite(boot)
    nb = fin.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prop = ((boot < est).sum(axis=0) + 0.5 * (boot == est).sum(axis=0)) / nb
        jfin = np.isfinite(jack)
        jm = np.where(jfin, jack, 0.0).sum(axis=0) / jfin.sum(axis=0)
        dd = np.where(jfin, jm - jack, 0.0)
        den = 6 * np.sum(dd**2, axis=0) ** 1.5
        acc = np.where(den > 0, np.sum(dd**3, axis=0) / np.where(den > 0, den, 1.0), 0.0)
        z0 = stats.norm.ppf(prop)
        zs = stats.norm.ppf([alpha, 1 - alpha])[:, None]
        adj = stats.norm.cdf(z0 + (z0 + zs) / (1 - acc * (z0 + zs)))  # (2, q)
    lo = np.full(est.shape, np.nan)
    hi = np.full(est.shape, np.nan)
    usable = (nb >= 10) & np.isfinite(est) & (prop > 0) & (prop < 1)
    for q in np.flatnonzero(usable):  # the quantiles per statistic (few columns), not a loop over resamples
        lo[q], hi[q] = np.quantile(boot[fin[:, q], q], adj[:, q])
    return lo, hi
