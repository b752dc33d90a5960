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

__all__ = ["bca_interval", "boot_products", "case_counts", "draw_counts"]

# Cells (resample rows x cases) per block of drawn indices. Each block's draws (int32) and counts
# are small temporaries that malloc serves again and again from the same heap memory; the former
# multi-megabyte temporaries per chunk (int64 draws -> flat index -> bincount -> float copy) were
# fresh pages every time, and the page faults cost more than the arithmetic (35 of the 56 ms of a
# 5,000-resample bootstrap of n = 500 on the reference machine).
_BLOCK_CELLS = 2**16


def draw_counts(rng: np.random.Generator, n: int, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (B, n) with the case counts of ``rng.integers(0, n, size=(B, n))``.

    The same draws as that call (and so as :func:`case_counts` of its result), consuming the
    generator identically: numpy draws bounded integers below 2**32 from 32-bit words whatever
    the output dtype (int32 or int64), so drawing the indices as int32 in blocks of rows leaves
    the stream unchanged (checked in tests/test_resampling_stream.py). The counts of each block of
    rows are written into ``out`` directly, so no index, count or conversion array of the size of
    ``out`` is ever allocated.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of cases (rows of the original data), at most 2**31 - 1.
    out : numpy.ndarray of float64, shape (B, n), C-contiguous
        Overwritten with the counts; row b sums to n.

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    B = out.shape[0]
    flat = out.reshape(-1)  # a view (out is C-contiguous)
    rows = max(1, _BLOCK_CELLS // n)
    off = (np.arange(min(rows, B), dtype=np.int32) * np.int32(n))[:, None]
    for r0 in range(0, B, rows):
        e = min(rows, B - r0)
        idx = rng.integers(0, n, size=(e, n), dtype=np.int32)
        idx += off[:e]  # row r of the block counts into cells r*n .. r*n + n - 1
        flat[r0 * n:(r0 + e) * n] = np.bincount(idx.reshape(-1), minlength=e * n)
    return out


def boot_products(F: np.ndarray, rng: np.random.Generator, n_boot: int, chunk: int | None = None) -> np.ndarray:
    """Case-count-weighted column sums of ``F`` for ``n_boot`` resamples: (n_boot, q).

    Equals ``case_counts(rng.integers(0, n, size=(n_boot, n)), n) @ F`` to the last bit: the
    counts of ``chunk`` resamples at a time (default ``2**19 // n``) fill one reused buffer
    (:func:`draw_counts`) and are multiplied into ``F`` by one matrix product per chunk, the same
    products (shapes and operands) as before the buffer was reused, so results do not depend on
    the BLAS's choice of kernel for small products. Memory O(chunk * n) whatever ``n_boot``.

    Parameters
    ----------
    F : numpy.ndarray, shape (n, q)
        Per-case features (for example cross-products of the design columns).
    rng : numpy.random.Generator
    n_boot : int
    chunk : int, optional
        Resamples per matrix product.

    Returns
    -------
    numpy.ndarray of float, shape (n_boot, q)
    """
    F = np.asarray(F, dtype=float)  # layout kept: it selects the BLAS kernel, hence the last bits
    n, q = F.shape
    chunk = chunk or max(1, 2**19 // n)
    G = np.empty((n_boot, q))
    W = np.empty((min(chunk, n_boot), n))
    for i0 in range(0, n_boot, chunk):
        b = min(chunk, n_boot - i0)
        np.matmul(draw_counts(rng, n, W[:b]), F, out=G[i0:i0 + b])
    return G


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
    out = np.empty((B, n))
    flat = out.reshape(-1)
    rows = max(1, _BLOCK_CELLS // max(n, idx.shape[-1]))
    off = (np.arange(min(rows, B), dtype=np.intp) * n)[:, None]
    for r0 in range(0, B, rows):  # in blocks: no temporary of the size of idx (see _BLOCK_CELLS)
        e = min(rows, B - r0)
        flat[r0 * n:(r0 + e) * n] = np.bincount((idx[r0:r0 + e] + off[:e]).reshape(-1), minlength=e * n)
    return out


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
