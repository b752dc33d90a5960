"""Fit measures and standardised estimates shared by the SEM fitters (ML and FIML, multi-group, WLSMV).

One implementation of each number that more than one fitter reports, with lavaan's definitions:

std_all        the completely standardised estimate of one parameter (lavaan ``standardizedSolution``,
               ``std.all``)
srmr_terms     the squared standardised residuals behind Bentler's SRMR (lavaan ``srmr_bentler``;
               with a mean structure the standardised mean residuals are included)
ml_indices     CFI, TLI, RMSEA and its 90% interval from the model and baseline chi-squares (df > 0)

References
----------
Bentler, P. M. (1990). Comparative fit indexes in structural models. *Psychological Bulletin*, 107(2),
238-246.
Steiger, J. H. (1990). Structural model evaluation and modification: an interval estimation approach.
*Multivariate Behavioral Research*, 25(2), 173-180.
Tucker, L. R., & Lewis, C. (1973). A reliability coefficient for maximum likelihood factor analysis.
*Psychometrika*, 38(1), 1-10.
"""
from __future__ import annotations

import numpy as np

__all__ = ["std_all", "srmr_terms", "ml_indices"]


def std_all(op, est, i, j, sdv, V, S):
    """Completely standardised value of the estimate ``est`` of a parameter ``op`` between the model
    variables ``i`` (lhs) and ``j`` (rhs), lavaan's ``std.all``.

    ``sdv`` are the model-implied SDs of all variables, ``V`` their implied covariance matrix and ``S``
    the RAM matrix of (residual) variances and covariances. Loadings and regressions are scaled by
    ``sd_j / sd_i``, variances by the total variance, residual covariances by the residual SDs, and
    intercepts and thresholds by ``sd_i``. A fixed zero whose scale is zero stays 0.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if op in ("=~", "~"):
            std = est * sdv[j] / sdv[i]
        elif op == "~~":
            std = est / V[i, i] if i == j else est / np.sqrt(S[i, i] * S[j, j])
        else:
            std = est / sdv[i]
    if not np.isfinite(std) and est == 0:
        std = 0.0
    return std


def srmr_terms(S1, Sigma, M1=None, mu=None, meanstructure=False):
    """Sum of squared standardised residuals and their count for Bentler's SRMR of one group:
    ``(num, ne)``, SRMR = ``sqrt(num / ne)``.

    The residuals are ``(S1 - Sigma) / (sd sd')`` over the lower triangle with the diagonal, ``sd`` the
    observed (saturated) SDs; with ``meanstructure`` also ``(M1 - mu) / sd``.
    """
    p = S1.shape[0]
    sd = np.sqrt(np.diag(S1))
    Rres = (S1 - Sigma) / np.outer(sd, sd)
    tri = np.tril_indices(p)
    num, ne = np.sum(Rres[tri] ** 2), len(tri[0])
    if meanstructure:
        num += np.sum(((M1 - mu) / sd) ** 2)
        ne += p
    return num, ne


def ml_indices(chisq, df, b_chisq, b_df, n, ngroups=1):
    """CFI, TLI, RMSEA and the RMSEA's 90% interval ``(cfi, tli, rmsea, lower, upper)`` of a model with
    ``df > 0``, lavaan's ``fitMeasures``: ``chisq``/``df`` of the model, ``b_chisq``/``b_df`` of the
    baseline (independence) model, ``n`` cases; with several groups the RMSEA is multiplied by
    ``sqrt(ngroups)`` (lavaan's multi-group convention)."""
    from .engine import _rmsea_ci  # the engine imports this module

    den = max(chisq - df, b_chisq - b_df, 0)
    cfi = 1 - max(chisq - df, 0) / den if den > 0 else 1.0
    tli = ((b_chisq / b_df) - (chisq / df)) / ((b_chisq / b_df) - 1)
    g = np.sqrt(ngroups)
    rmsea = np.sqrt(max((chisq - df) / (df * n), 0.0)) * g
    r_lo = _rmsea_ci(chisq, df, n, 0.95) * g
    r_hi = _rmsea_ci(chisq, df, n, 0.05) * g
    return cfi, tli, rmsea, r_lo, r_hi
