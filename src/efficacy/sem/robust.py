"""Robust maximum-likelihood corrections for :func:`efficacy.sem.sem` (``estimator="MLR"`` / ``"MLM"``).

The estimates stay the normal-theory ML estimates; this module supplies what changes when the
data are not multivariate normal (skewed Likert items) or not independent (students in
classrooms):

* **Casewise scores** of the normal log-likelihood with respect to the moments
  ``(mu, vech Sigma)``, with or without missing values (one pattern at a time), summed within
  clusters for ``cluster=``.
* **Information matrices** in the same moment coordinates: the observed information of the
  (missing-data) normal likelihood and the expected (normal-theory) information.
* **Gamma**, the asymptotic covariance matrix of the sample moments (Browne, 1984), also in its
  ``fixed.x`` (residual) and cluster forms, as ``lavaan:::lav_samplestats_Gamma``.
* **Standard errors**: Huber-White sandwich ``A^-1 B A^-1`` with the observed information ``A``
  and the first-order (cross-product of scores) information ``B`` (MLR, ``se =
  "robust.huber.white"`` / ``"robust.cluster"``); or ``E^-1 D'W Gamma W D E^-1`` with the expected
  information (MLM, ``se = "robust.sem"``).
* **Scaled test statistics**: Satorra & Bentler (1994) ``tr(U Gamma) / df`` (MLM) and the
  Yuan & Bentler (2000) statistic in its Mplus form (``test = "yuan.bentler.mplus"``, MLR),
  whose trace is ``tr(A1^-1 B1) - tr(B0 A0^-1)`` (saturated minus structured model).
* **Fit indices**: ``chisq.scaled``, ``cfi.scaled`` / ``tli.scaled`` / ``rmsea.scaled`` (the
  naive versions from scaled chi-squares), and the robust ``cfi.robust`` / ``tli.robust``
  (Brosseau-Liard & Savalei, 2014) and ``rmsea.robust`` with its CI (Brosseau-Liard, Savalei &
  Li, 2012; Savalei, 2018). With FIML the robust indices use the FIML-corrected statistic
  (lavaan's ``lav_fit_fiml_corrected``, version V3; Zhang & Savalei, 2023).

Everything is computed group by group and combined over groups (multi-group models), with
equality constraints entering through the derivatives ``dSigma / dtheta`` with respect to the
global free parameters. The results equal ``lavaan::cfa(..., estimator = "MLR" | "MLM")``
(lavaan 0.6) and its ``fitMeasures()``.

References
----------
Browne, M. W. (1984). Asymptotically distribution-free methods for the analysis of covariance
structures. *British Journal of Mathematical and Statistical Psychology, 37*, 62-83.
Satorra, A., & Bentler, P. M. (1994). Corrections to test statistics and standard errors in
covariance structure analysis. In von Eye & Clogg (Eds.), *Latent variables analysis*
(pp. 399-419). Sage.
Yuan, K.-H., & Bentler, P. M. (2000). Three likelihood-based methods for mean and covariance
structure analysis with nonnormal missing data. *Sociological Methodology, 30*, 165-200.
Brosseau-Liard, P. E., Savalei, V., & Li, L. (2012). An investigation of the sample performance
of two nonnormality corrections for RMSEA. *Multivariate Behavioral Research, 47*, 904-930.
Brosseau-Liard, P. E., & Savalei, V. (2014). Adjusting incremental fit indices for nonnormality.
*Multivariate Behavioral Research, 49*, 460-470.
Savalei, V. (2018). On the computation of the RMSEA and CFI from the mean-and-variance corrected
test statistic with nonnormal data in SEM. *Multivariate Behavioral Research, 53*, 419-429.
Zhang, X., & Savalei, V. (2023). New computations for RMSEA and CFI following FIML and TS
estimation with missing data. *Psychological Methods, 28*, 263-283.
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. *Journal of
Statistical Software, 48*(2), 1-36.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, sparse, stats
from scipy.special import chndtr

from .._linalg import lstsq

__all__ = ["ESTIMATORS", "RobustFit", "RobustGroup", "apply_robust", "casewise_scores", "estimator_fields",
           "expected_information", "gamma_adf", "observed_information", "rmsea_ci", "robust_ml"]

#: estimator -> (lavaan ``test``, lavaan ``information``, lavaan ``se`` without / with clusters)
ESTIMATORS = {
    "ML": ("standard", None, ("standard", "standard")),
    "MLR": ("yuan.bentler.mplus", "observed", ("robust.huber.white", "robust.cluster")),
    "MLM": ("satorra.bentler", "expected", ("robust.sem", "robust.cluster.sem")),
}


# --------------------------------------------------------------------------- moment coordinates


def _vech(p):
    """Row and column indices of the lower triangle (a >= b): the ``vech`` coordinates of Sigma."""
    return np.tril_indices(p)


def _patterns(X):
    """(observed columns, row indices) for each missing-data pattern with at least one value."""
    M = ~np.isnan(X)
    keys, inv = np.unique(M, axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    for g, key in enumerate(keys):
        if key.any():
            yield np.flatnonzero(key), np.flatnonzero(inv == g)


def _embed(P, o, p):
    out = np.zeros((p, p))
    out[np.ix_(o, o)] = P
    return out


def _trace_pairs(A, B, r, c):
    """``T[k, l] = tr(A E_k B E_l)`` for the symmetric unit matrices ``E_k`` of the vech coordinates.

    ``E_k = e_a e_b' + e_b e_a'`` (a != b) or ``e_a e_a'``; ``A``, ``B`` symmetric. Computed
    elementwise (no p^2 x p^2 Kronecker product).
    """
    # A[a_k, d_l] etc. as separable row-then-column takes (the same products and sums, far fewer
    # index computations than gathers with two broadcast index arrays)
    Ar, Ac, Br, Bc = A[r], A[c], B[r], B[c]
    T = Ar[:, c] * Bc[:, r] + Ar[:, r] * Bc[:, c] + Ac[:, c] * Br[:, r] + Ac[:, r] * Br[:, c]
    h = np.where(r == c, 0.5, 1.0)
    return T * h[:, None] * h[None, :]


def casewise_scores(X, mu, sigma):
    """Casewise scores ``d l_i / d (mu, vech Sigma)`` of the normal log-likelihood, shape (n, p + p*).

    Missing values (NaN) are skipped: each case contributes the score of its observed part
    (as ``lavaan:::lav_mvnorm_missing_scores_mu_vech_sigma``). The patterns with the same number of
    observed values are handled together (one batched inverse, no loop over patterns).
    """
    from .engine import _unique_rows  # engine imports this module

    X = np.asarray(X, dtype=float)
    n, p = X.shape
    r, c = _vech(p)
    out = np.zeros((n, p + len(r)))
    diag = r == c
    keys, inv = _unique_rows(~np.isnan(X))
    nobs = keys.sum(axis=1)
    for q in np.unique(nobs):
        if q == 0:
            continue
        pq = np.flatnonzero(nobs == q)
        O = np.array([np.flatnonzero(keys[g]) for g in pq])              # (patterns, q)
        P = np.linalg.inv(sigma[O[:, :, None], O[:, None, :]])         # each pattern's inverse block
        where = np.full(len(keys), -1)
        where[pq] = np.arange(len(pq))
        rows = np.flatnonzero(where[inv] >= 0)
        b = where[inv[rows]]                                            # pattern of each row
        Ob = O[b]
        Pd_o = np.einsum("nij,nj->ni", P[b], X[rows[:, None], Ob] - mu[Ob])
        Pd = np.zeros((len(rows), p))
        np.put_along_axis(Pd, Ob, Pd_o, axis=1)
        Pf = np.zeros((len(pq), p, p))
        Pf[np.arange(len(pq))[:, None, None], O[:, :, None], O[:, None, :]] = P
        sc = Pd[:, r] * Pd[:, c] - Pf[:, r, c][b]
        sc[:, diag] *= 0.5
        out[rows, :p] = Pd
        out[rows, p:] = sc
    return out


def observed_information(X, mu, sigma, moments=None):
    """Observed information (minus the Hessian of the log-likelihood, summed over cases) in (mu, vech Sigma).

    Missing values are handled pattern by pattern (as
    ``lavaan:::lav_mvnorm_missing_information_observed_samplestats``, times n). With ``P`` the
    inverse of a pattern's observed covariance block, ``d`` its residuals and ``W`` their mean
    cross-product, a pattern of ``n_r`` cases adds ``n_r P`` (means), ``n_r P E_k P dbar`` (means
    x covariances) and ``n_r [tr(P E_k P W P E_l) - tr(P E_k P E_l) / 2]`` (covariances); the sums
    over patterns are formed as matrix products, not pattern by pattern
    (:func:`efficacy.sem.engine._moment_information`, from the patterns' counts, means and
    cross-products). ``moments`` (indices into the (mu, vech Sigma) coordinates): only that block.
    """
    from .engine import _moment_information, _Patterns  # engine imports this module

    X = np.asarray(X, dtype=float)
    X = X[~np.isnan(X).all(axis=1)]
    return _moment_information(_Patterns(X), np.asarray(sigma, dtype=float), np.asarray(mu, dtype=float),
                               moments=moments)


def expected_information(sigma):
    """Expected (normal-theory) information per case in (mu, vech Sigma): blockdiag(Sigma^-1, D'(Si x Si)D / 2)."""
    p = sigma.shape[0]
    r, c = _vech(p)
    Si = np.linalg.inv(sigma)
    m = p + len(r)
    info = np.zeros((m, m))
    info[:p, :p] = Si
    info[p:, p:] = 0.5 * _trace_pairs(Si, Si, r, c)
    return info


def _rowsum(S, cluster):
    """Sum the rows of S within clusters; returns (sums, number of clusters)."""
    _, inv = np.unique(cluster, return_inverse=True)
    inv = np.asarray(inv).ravel()
    out = np.zeros((inv.max() + 1, S.shape[1]))
    np.add.at(out, inv, S)
    return out, out.shape[0]


def gamma_adf(X, *, meanstructure=True, x_idx=(), cluster=None):
    """Asymptotic (ADF) covariance matrix of the sample moments (mu, vech S), per case (Browne, 1984).

    As ``lavaan:::lav_samplestats_Gamma``: divisor n, moments centred at the sample means; with
    ``x_idx`` (fixed.x) the moments of the residuals of the regression of the other variables on
    the covariates; with ``cluster`` the centred moments are summed within clusters and the
    result multiplied by ``C / (C - 1)``.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    r, c = _vech(p)
    Yc = X - X.mean(axis=0)
    if len(x_idx):
        y_idx = np.setdiff1d(np.arange(p), x_idx)
        Z1 = np.column_stack([np.ones(n), X[:, x_idx]])
        coef = lstsq(Z1, X[:, y_idx])
        Yhat = X.copy()
        Yhat[:, y_idx] = Z1 @ coef
        Hc = Yhat - Yhat.mean(axis=0)
        Z = Yc[:, r] * Yc[:, c] - Hc[:, r] * Hc[:, c]
        if meanstructure:
            Z = np.column_stack([X - Yhat, Z])
    else:
        Z = Yc[:, r] * Yc[:, c]
        if meanstructure:
            Z = np.column_stack([X, Z])
    Zc = Z - Z.mean(axis=0)
    if cluster is not None:
        Zc, nc = _rowsum(Zc, cluster)
        return Zc.T @ Zc / n * nc / (nc - 1)
    return Zc.T @ Zc / n


# --------------------------------------------------------------------------- groups


@dataclass
class RobustGroup:
    """One group of a fitted model, as :func:`robust_ml` needs it.

    Attributes
    ----------
    X : ndarray (n, p)
        The cases used in the fit (NaN = missing, FIML).
    sigma, mu : ndarray
        Model-implied covariance matrix and mean vector (for a model without mean structure
        the sample means).
    dsigma, dmu : ndarray (K, p, p), (K, p)
        Derivatives of ``sigma`` and ``mu`` with respect to the K global free parameters (zero
        ``dmu`` without mean structure).
    sigma1, mu1 : ndarray
        Saturated (h1) moments: sample moments (divisor n) or their EM estimates with FIML.
    x_idx : sequence of int
        Columns that are exogenous covariates (``fixed.x``).
    cluster : ndarray or None
        Cluster identifiers of the rows of ``X``.
    """

    X: np.ndarray
    sigma: np.ndarray
    mu: np.ndarray
    dsigma: np.ndarray
    dmu: np.ndarray
    sigma1: np.ndarray
    mu1: np.ndarray
    x_idx: tuple = ()
    cluster: np.ndarray | None = None

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def p(self):
        return self.X.shape[1]


@dataclass
class RobustFit:
    """Output of :func:`robust_ml`: covariance matrix of the estimates and the robust fit measures."""

    vcov: np.ndarray
    fit: dict
    test: str
    se: str
    information: str
    warnings: list = field(default_factory=list)


def _sel(g, meanstructure):
    """Moment indices kept: all moments, or vech only (no mean structure)."""
    m = g.p + g.p * (g.p + 1) // 2
    return np.arange(m) if meanstructure else np.arange(g.p, m)


def _free_moments(g, meanstructure):
    """Mask (over the kept moments) of the moments that are not fixed.x moments."""
    p = g.p
    r, c = _vech(p)
    x = np.zeros(p, bool)
    x[list(g.x_idx)] = True
    keep = np.concatenate([~x, ~(x[r] & x[c])])
    return keep[_sel(g, meanstructure)]


def _delta(g, meanstructure):
    """Jacobian d (mu, vech Sigma) / d theta over the kept moments, shape (m, K)."""
    r, c = _vech(g.p)
    D = np.vstack([g.dmu.T, g.dsigma[:, r, c].T])
    return D[_sel(g, meanstructure)]


def _score_crossprod(S, cluster):
    """Sum of outer products of the casewise scores (cluster sums times C / (C - 1) with clusters)."""
    if cluster is None:
        return S.T @ S
    Sc, nc = _rowsum(S, cluster)
    return Sc.T @ Sc * nc / (nc - 1)


def _h1_pieces(g, cache):
    """Observed information and casewise scores of the saturated (h1) moments of a group, computed once
    per :func:`robust_ml` call (``cache``, keyed by the data: the model and its baseline share them)."""
    key = (id(g.X), id(g.mu1), id(g.sigma1))
    if key not in cache:
        cache[key] = (observed_information(g.X, g.mu1, g.sigma1), casewise_scores(g.X, g.mu1, g.sigma1), {})
    return cache[key]


def _h1_solved(g, cache):
    """(A1, Sc, A1^-1 Sc') over the free moments (mean structure): the saturated observed information, the
    scores (cluster sums times sqrt(C / (C - 1)) with clusters) and the solve both FIML corrections use."""
    A1full, S1, memo = _h1_pieces(g, cache)
    if "Y" not in memo:
        free = _free_moments(g, True)
        A1 = A1full[np.ix_(free, free)]
        Sc = S1[:, free]
        if g.cluster is not None:
            Sc, nc = _rowsum(Sc, g.cluster)
            Sc = Sc * np.sqrt(nc / (nc - 1))
        try:   # A1 is positive definite at the saturated estimates: Cholesky (half the work of LU)
            from scipy.linalg import cho_factor, cho_solve
            Y = cho_solve(cho_factor(A1), Sc.T)
        except np.linalg.LinAlgError:
            Y = np.linalg.solve(A1, Sc.T)
        memo["A1"], memo["Sc"], memo["Y"] = A1, Sc, Y
    return memo["A1"], memo["Sc"], memo["Y"]


def _h1_trace(g, meanstructure, missing, cache=None):
    """``tr(A1^-1 B1)`` of the saturated model (lavaan h1 information 'unstructured'), over free moments."""
    sel = _sel(g, meanstructure)
    free = _free_moments(g, meanstructure)
    if missing == "fiml" and meanstructure:
        # B1 = Sc' Sc (scores, or their cluster sums): tr(A1^-1 B1) = sum(Sc * (A1^-1 Sc')'), a solve with
        # n (or C) right-hand sides instead of p*; the solution is shared with _fiml_corrected
        A1, Sc, Y = _h1_solved(g, {} if cache is None else cache)
        return float(np.sum(Sc * Y.T))
    if missing == "fiml":
        A1full, S1, _ = _h1_pieces(g, {} if cache is None else cache)
        A1 = A1full[np.ix_(sel, sel)]
        B1 = _score_crossprod(S1[:, sel], g.cluster)
    else:
        # complete data: B1 = A1 Gamma A1 (per case), Gamma in its fixed.x / cluster form as lavaan
        A1 = expected_information(g.sigma1)[np.ix_(sel, sel)]
        Gam = gamma_adf(g.X, meanstructure=meanstructure, x_idx=g.x_idx, cluster=g.cluster)
        B1 = A1 @ Gam @ A1
    A1, B1 = A1[np.ix_(free, free)], B1[np.ix_(free, free)]
    return float(np.trace(np.linalg.solve(A1, B1)))


def _mu_scores(g, mu, sigma, meanstructure):
    """Casewise scores at (mu, sigma) over the kept moments."""
    S = casewise_scores(g.X, mu, sigma)
    return S[:, _sel(g, meanstructure)]


def _baseline(g, meanstructure, missing):
    """Independence model of one group: implied moments and its Jacobian (means and variances free).

    The fixed.x block keeps its sample moments. With FIML each mean and variance comes from the
    observed values of its variable (the independence likelihood factors over variables).
    """
    p = g.p
    X = g.X
    x = np.zeros(p, bool)
    x[list(g.x_idx)] = True
    if missing == "fiml":
        mu = np.nanmean(X, axis=0)
        var = np.nanvar(X, axis=0)
    else:
        mu = g.mu1.copy()
        var = np.diag(g.sigma1).copy()
    sigma = np.diag(var)
    xi = np.flatnonzero(x)
    if len(xi):
        sigma[np.ix_(xi, xi)] = g.sigma1[np.ix_(xi, xi)]
        mu[xi] = g.mu1[xi]
    ys = np.flatnonzero(~x)
    K = len(ys) * (2 if meanstructure else 1)
    dsig = np.zeros((K, p, p))
    dmu = np.zeros((K, p))
    k = 0
    for j in ys:
        dsig[k, j, j] = 1.0
        k += 1
    if meanstructure:
        for j in ys:
            dmu[k, j] = 1.0
            k += 1
    return mu, sigma, dsig, dmu


# --------------------------------------------------------------------------- the corrections


def _chisq_fiml_corrected(G, mu, sigma):
    """Complete-data ML discrepancy of (mu, sigma) against the EM moments, times n (the FIML-C statistic)."""
    S1, m1 = G.sigma1, G.mu1
    Si = np.linalg.inv(sigma)
    p = G.p
    d = m1 - mu
    f = np.linalg.slogdet(sigma)[1] + np.trace(S1 @ Si) - np.linalg.slogdet(S1)[1] - p + d @ Si @ d
    return G.n * f


def rmsea_ci(X2, df, n, *, G=1, c_hat=1.0, level=0.90):
    """RMSEA confidence interval from a (noncentral) chi-square, as ``lavaan:::lav_fit_rmsea_ci``.

    With ``c_hat`` (a scaling factor) and ``X2`` the scaled statistic this is the robust interval
    of Brosseau-Liard, Savalei & Li (2012) / Savalei (2018): ``sqrt(c_hat * lambda / (n df))``.
    """
    if not (np.isfinite(X2) and np.isfinite(df) and np.isfinite(n)) or df <= 0:
        return np.nan, np.nan
    up, lo = 1 - (1 - level) / 2, (1 - level) / 2

    def cdf(lam):
        # the raw ufunc behind stats.ncx2.cdf (same bits, no distribution-object overhead)
        return float(chndtr(X2, df, lam)) if lam > 0 else float(stats.chi2.cdf(X2, df))

    if df < 1 or cdf(0.0) - up < 0:
        low = 0.0
    else:
        lam = optimize.brentq(lambda t: cdf(t) - up, 0.0, X2, xtol=1e-12)
        low = np.sqrt(c_hat * lam / (n * df)) * np.sqrt(G)
    n_rmsea = max(n, 4 * X2)
    if df < 1 or cdf(n_rmsea) - lo > 0 or cdf(0.0) - lo < 0:
        high = 0.0
    else:
        lam = optimize.brentq(lambda t: cdf(t) - lo, 0.0, n_rmsea, xtol=1e-12)
        high = np.sqrt(c_hat * lam / (n * df)) * np.sqrt(G)
    return float(low), float(high)


def _rmsea(X2, df, n, G=1, c_hat=1.0):
    if not np.isfinite(X2) or not np.isfinite(df):
        return np.nan
    if df <= 0:
        return 0.0
    return float(np.sqrt(max(X2 / n / df - c_hat / n, 0.0)) * np.sqrt(G))


def _cfi(X2, df, X2n, dfn, c=1.0, cn=1.0):
    if not np.all(np.isfinite([X2, df, X2n, dfn, c, cn])):
        return np.nan
    t1 = max(X2 - c * df, 0.0)
    t2 = max(X2 - c * df, X2n - cn * dfn, 0.0)
    if np.isclose(t1, 0.0, atol=1.5e-8) and np.isclose(t2, 0.0, atol=1.5e-8):
        return 1.0
    return float(1 - t1 / t2)


def _tli(X2, df, X2n, dfn, c=1.0, cn=1.0):
    if not np.all(np.isfinite([X2, df, X2n, dfn, c, cn])):
        return np.nan
    t1 = (X2 - c * df) * dfn
    t2 = (X2n - cn * dfn) * df
    if df > 0 and abs(t2) > 0:
        return float(1 - t1 / t2)
    return 1.0


def _yb_trace(groups, A, blocks, h1):
    """Yuan-Bentler (Mplus) trace: h1 - tr(B0 A^-1), h1 = sum_g tr(A1_g^-1 B1_g); blocks[g] = (Delta_g, scores_g)."""
    # D' (S' S) D = (S D)' (S D): the scores chained to the parameters first (n x K, not p* x p*)
    B0 = sum(_score_crossprod(S @ D, g.cluster) for g, (D, S) in zip(groups, blocks))
    return h1 - float(np.trace(np.linalg.solve(A, B0))), B0


def _sb_parts(groups, A, deltas, meanstructure):
    """Satorra-Bentler pieces: the meat sum_g n_g D'W Gamma W D and the trace of U Gamma."""
    K = A.shape[0]
    meat = np.zeros((K, K))
    trace = 0.0
    Ainv = np.linalg.inv(A)
    for g, D in zip(groups, deltas):
        sel = _sel(g, meanstructure)
        W = expected_information(g.sigma)[np.ix_(sel, sel)]
        Gam = gamma_adf(g.X, meanstructure=meanstructure, x_idx=g.x_idx, cluster=g.cluster)
        WD = W @ D
        M = WD.T @ Gam @ WD
        meat += g.n * M
        trace += float(np.sum(W * Gam.T)) - g.n * float(np.sum(Ainv * M.T))
    return meat, trace


def _fiml_corrected(groups, params, cache=None):
    """FIML-corrected statistic and its scaling (lavaan ``lav_fit_fiml_corrected``, version V3).

    ``params`` is a list of (mu, sigma, Delta) per group (model or baseline). Returns (XX3, k).

    With block-diagonal ``Wm`` (observed h1 information per case, times the group's share of the
    sample), ``Wc`` (expected h1 information) and ``Gamma = A1^-1 J1 A1^-1`` (its sandwich), lavaan's
    ``k = tr(U Wm^-1 Wc Wm^-1 U Gamma)`` with ``U = Wm - Wm D (D' Wm D)^-1 D' Wm``. Since
    ``Wm^-1 U = I - D F`` with ``F = (D' Wm D)^-1 D' Wm`` and ``Gamma = Q' Q`` with ``Q`` the scores
    times ``A1^-1`` (at most n rows), ``k = tr(Q Wc Q') - 2 tr(Q F' D' Wc Q') + tr(Q F' D' Wc D F Q')``:
    no inverse of ``Wm`` and no product of two moment-sized matrices (the same number, far fewer
    operations than the five products of the direct formula).
    """
    cache = {} if cache is None else cache
    N = sum(g.n for g in groups)
    XX3 = sum(_chisq_fiml_corrected(g, mu, sig) for g, (mu, sig, _) in zip(groups, params))
    Wm, Wc, Qs, Dl = [], [], [], []
    for g, (mu, sig, D) in zip(groups, params):
        fg = g.n / N
        free = _free_moments(g, True)
        A1, _, Y = _h1_solved(g, cache)
        memo = _h1_pieces(g, cache)[2]
        if "Q" not in memo:
            # per case A1 / n; Gamma_g = (A1 / n)^-1 (Sc' Sc / n) (A1 / n)^-1 / fg = Q' Q
            memo["Q"] = g.n * Y.T / np.sqrt(g.n * fg)
            memo["Wc"] = expected_information(g.sigma1)[np.ix_(free, free)]
            memo["QWc"] = memo["Q"] @ memo["Wc"]             # data-only: shared by the model and its baseline
        Wm.append(fg * A1 / g.n)
        Wc.append(fg * memo["Wc"])
        Qs.append((memo["Q"], fg * memo["QWc"]))
        Dl.append(D[free])
    from scipy.linalg import block_diag
    Wm_all, Wc_all = block_diag(*Wm), block_diag(*Wc)
    Q_all, QWc = block_diag(*[q for q, _ in Qs]), block_diag(*[w for _, w in Qs])
    D_all = np.vstack(Dl)
    Dt = sparse.csr_matrix(D_all.T)                           # a CFA's Jacobian is ~1% nonzero
    WmD = np.asarray((Dt @ Wm_all).T)
    F = np.linalg.solve(D_all.T @ WmD, WmD.T)              # (D' Wm D)^-1 D' Wm
    QF = Q_all @ F.T
    M = np.asarray(Dt @ np.asarray((Dt @ Wc_all).T))
    QWcD = np.asarray((Dt @ QWc.T).T)
    k = float(np.sum(QWc * Q_all) - 2 * np.sum(QF * QWcD) + np.sum((QF @ M) * QF))
    return XX3, k


def robust_ml(groups, information, estimator, *, chisq, df, baseline_chisq, baseline_df,
              missing="listwise", meanstructure=False, baseline_information=None):
    """Robust standard errors, scaled test and robust fit indices of an ML fit (lavaan MLR / MLM).

    Parameters
    ----------
    groups : list of RobustGroup
    information : ndarray (K, K)
        Information matrix of the whole sample (not per case) at the estimates: the observed
        information (minus the Hessian of the log-likelihood) for MLR, the expected information
        for MLM. Shared parameters (equality constraints) are single columns.
    estimator : {"MLR", "MLM"}
    chisq, df, baseline_chisq, baseline_df : float
        The normal-theory (ML) statistics of the model and of the independence model.
    missing : {"listwise", "fiml"}
    meanstructure : bool

    Returns
    -------
    RobustFit
        ``vcov`` (K x K), ``fit`` with lavaan's ``fitMeasures`` names (``chisq.scaled``,
        ``df.scaled``, ``pvalue.scaled``, ``chisq.scaling.factor``, ``baseline.chisq.scaled``,
        ``baseline.chisq.scaling.factor``, ``cfi.scaled``, ``tli.scaled``, ``cfi.robust``,
        ``tli.robust``, ``rmsea.scaled``, ``rmsea.ci.lower.scaled``, ``rmsea.ci.upper.scaled``,
        ``rmsea.robust``, ``rmsea.ci.lower.robust``, ``rmsea.ci.upper.robust``), and the names of
        the test, the standard errors and the information used.

    Notes
    -----
    Matches ``lavaan::lavaan(..., estimator = "MLR")`` (``se = "robust.huber.white"``, or
    ``"robust.cluster"`` with ``cluster=``; ``test = "yuan.bentler.mplus"``; observed
    information from the Hessian) and ``estimator = "MLM"`` (``se = "robust.sem"``;
    ``test = "satorra.bentler"``; expected information).
    """
    if estimator not in ("MLR", "MLM"):
        raise ValueError(f"robust_ml: estimator must be 'MLR' or 'MLM', got {estimator!r}")
    test, info_type, se_types = ESTIMATORS[estimator]
    clustered = any(g.cluster is not None for g in groups)
    se_type = se_types[1] if clustered else se_types[0]
    warn = []
    A = np.asarray(information, dtype=float)
    N = sum(g.n for g in groups)
    ng = len(groups)
    deltas = [_delta(g, meanstructure) for g in groups]
    h1_cache = {}   # saturated-model information and scores per group, shared by the model and its baseline
    # ---- the model
    if estimator == "MLR":
        h1 = sum(_h1_trace(g, meanstructure, missing, h1_cache) for g in groups)
        scores = [_mu_scores(g, g.mu, g.sigma, meanstructure) for g in groups]
        trace, B0 = _yb_trace(groups, A, list(zip(deltas, scores)), h1)
        Ainv = np.linalg.inv(A)
        vcov = Ainv @ B0 @ Ainv
    else:
        meat, trace = _sb_parts(groups, A, deltas, meanstructure)
        Ainv = np.linalg.inv(A)
        vcov = Ainv @ meat @ Ainv
    vcov = (vcov + vcov.T) / 2
    # ---- the independence (baseline) model, with its own scaling factor
    bl = [_baseline(g, meanstructure, missing) for g in groups]
    Kb = sum(len(b[2]) for b in bl)
    bgroups, off = [], 0
    for g, (mu_b, sig_b, ds, dm) in zip(groups, bl):
        k = len(ds)
        Ds = np.zeros((Kb, g.p, g.p))
        Dm = np.zeros((Kb, g.p))
        Ds[off:off + k], Dm[off:off + k] = ds, dm
        off += k
        bgroups.append(RobustGroup(X=g.X, sigma=sig_b, mu=mu_b, dsigma=Ds, dmu=Dm, sigma1=g.sigma1, mu1=g.mu1,
                                   x_idx=g.x_idx, cluster=g.cluster))
    bdeltas = [_delta(b, meanstructure) for b in bgroups]
    if estimator == "MLR":
        Ab = 0.0
        for b, D in zip(bgroups, bdeltas):   # only the moments the independence model moves (means, variances)
            used = np.flatnonzero(np.any(D != 0, axis=1))
            A_b = observed_information(b.X, b.mu, b.sigma, moments=_sel(b, meanstructure)[used])
            Ab = Ab + D[used].T @ A_b @ D[used]
        bscores = [_mu_scores(b, b.mu, b.sigma, meanstructure) for b in bgroups]
        trace_b, _ = _yb_trace(bgroups, Ab, list(zip(bdeltas, bscores)), h1)
    else:
        Ab = sum(b.n * D.T @ expected_information(b.sigma)[np.ix_(_sel(b, meanstructure), _sel(b, meanstructure))] @ D
                 for b, D in zip(bgroups, bdeltas))
        _, trace_b = _sb_parts(bgroups, Ab, bdeltas, meanstructure)
    # ---- scaled statistics (lavaan's conventions, including df = 0: the scaled statistic is the ML one)
    fit = {}
    c = trace / df if df > 0 else np.nan
    if df > 0 and not (c > 0):
        c = np.nan
        warn.append("scaling factor not positive: no scaled test statistic")
    cb = trace_b / baseline_df if baseline_df > 0 else np.nan
    if not (cb > 0):
        cb = np.nan
    X2s = chisq / c if df > 0 else (float(chisq) if df == 0 else np.nan)
    X2bs = baseline_chisq / cb
    fit["chisq.scaled"] = float(X2s)
    fit["df.scaled"] = int(df)
    fit["pvalue.scaled"] = float(stats.chi2.sf(X2s, df)) if df > 0 else np.nan
    fit["chisq.scaling.factor"] = float(c)
    fit["baseline.chisq.scaled"] = float(X2bs)
    fit["baseline.df.scaled"] = int(baseline_df)
    fit["baseline.chisq.scaling.factor"] = float(cb)
    fit["cfi.scaled"] = _cfi(X2s, df, X2bs, baseline_df) if df >= 0 else np.nan
    fit["tli.scaled"] = _tli(X2s, df, X2bs, baseline_df) if df >= 0 else np.nan
    # lavaan's rmsea.scaled: the ML statistic against df * c (= tr(U Gamma)), its CI likewise
    fit["rmsea.scaled"] = _rmsea(chisq, trace, N, ng) if df > 0 else np.nan
    lo, hi = rmsea_ci(chisq, trace, N, G=ng) if df > 0 else (np.nan, np.nan)
    fit["rmsea.ci.lower.scaled"], fit["rmsea.ci.upper.scaled"] = lo, hi
    # ---- robust indices (with FIML from the FIML-corrected statistic)
    XX3, XX3b, c3, c3b = chisq, baseline_chisq, c, cb
    if missing == "fiml" and df > 0:
        try:
            XX3, k3 = _fiml_corrected(groups, [(g.mu, g.sigma, D) for g, D in zip(groups, deltas)], h1_cache)
            XX3b, k3b = _fiml_corrected(bgroups, [(b.mu, b.sigma, D) for b, D in zip(bgroups, bdeltas)], h1_cache)
            c3, c3b = k3 / df, k3b / baseline_df
        except np.linalg.LinAlgError:
            warn.append("FIML-corrected statistic failed: robust CFI/TLI/RMSEA not available")
            XX3 = XX3b = c3 = c3b = np.nan
    if df > 0:
        fit["cfi.robust"] = _cfi(XX3, df, XX3b, baseline_df, c3, c3b)
        fit["tli.robust"] = _tli(XX3, df, XX3b, baseline_df, c3, c3b)
        fit["rmsea.robust"] = _rmsea(XX3, df, N, ng, c3)
        lo, hi = rmsea_ci(XX3 / c3, df, N, G=ng, c_hat=c3) if np.isfinite(c3) else (np.nan, np.nan)
    else:  # lavaan: no scaling factor, so no robust CFI/TLI; RMSEA 0 with a (0, 0) interval
        fit["cfi.robust"] = fit["tli.robust"] = np.nan
        fit["rmsea.robust"] = 0.0 if df == 0 else np.nan
        lo = hi = (0.0 if df == 0 else np.nan)
    fit["rmsea.ci.lower.robust"], fit["rmsea.ci.upper.robust"] = lo, hi
    return RobustFit(vcov=vcov, fit=fit, test=test, se=se_type, information=info_type, warnings=warn)


# --------------------------------------------------------------------------- glue for efficacy.sem


def estimator_fields(estimator, missing, cluster):
    """The ``estimator`` / ``test`` / ``information`` / ``se_type`` / ``cluster`` fields of an SEMResult."""
    test, info, ses = ESTIMATORS[estimator]
    if estimator == "ML":
        info = "observed" if missing == "fiml" else "expected"
    return {"estimator": estimator, "test": test, "information": info, "se_type": ses[cluster is not None],
            "cluster": cluster}


def apply_robust(groups, information, estimator, fit, warnings, missing, meanstructure, vcov):
    """Run :func:`robust_ml` for an ML fit; add its measures to ``fit`` (in place), return (vcov, se).

    ``fit`` must hold the ML ``chisq``, ``df``, ``baseline_chisq`` and ``baseline_df``. When a
    matrix of the correction is singular the ML ``vcov`` is kept and a warning appended.
    """
    try:
        rob = robust_ml(groups, information, estimator, chisq=fit["chisq"], df=fit["df"],
                        baseline_chisq=fit["baseline_chisq"], baseline_df=fit["baseline_df"],
                        missing=missing, meanstructure=meanstructure)
    except np.linalg.LinAlgError:
        warnings.append(f"{estimator}: a matrix of the robust correction is singular; "
                        "no robust standard errors or test")
        return vcov, np.sqrt(np.clip(np.diag(vcov), 0, None))
    fit.update(rob.fit)
    warnings.extend(rob.warnings)
    return rob.vcov, np.sqrt(np.clip(np.diag(rob.vcov), 0, None))
