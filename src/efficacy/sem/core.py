"""The SEM engine's internal interface: the pieces other modules of efficacy build on.

:mod:`efficacy.sem.engine` fits models; measurement (modification indices), latent mediation, the
meta-analytic TSSEM, power analysis and the batched fitters (:mod:`efficacy.sem.batch`) need some of
its building blocks as well. They import them from here, under public names, and never reach into
the engine's private functions, so the engine can change its internals (the information matrices,
the optimiser) behind this small surface.

Names
-----
Model              a lavaan-syntax model in RAM form (``Model(rows, data_cols, auto, meanstructure)``):
                   parameter table, implied moments, derivatives
Patterns           the missing-data patterns of a data matrix with their sufficient statistics
loglik_grad        gradient of the (FIML) normal log-likelihood with respect to the parameters
numerical_hessian  central-difference Hessian of a gradient function
saturated_fit      the saturated (h1) mean, covariance and log-likelihood (sample moments, or EM with FIML)
em_saturated       the EM algorithm behind :func:`saturated_fit`
rmsea_ci           the bound of the RMSEA confidence interval (noncentral chi-square inversion)
parse_model, sem, SEMResult
                   the engine's public entry points, re-exported

This module is internal (not part of ``import efficacy as ef``); its names are stable within the package.
"""
from __future__ import annotations

from . import engine as _engine
from .engine import SEMResult, parse_model, sem

__all__ = ["Model", "Patterns", "loglik_grad", "numerical_hessian", "saturated_fit", "em_saturated", "rmsea_ci",
           "parse_model", "sem", "SEMResult"]

#: A lavaan-syntax model in RAM form: ``Model(rows, data_cols, auto, meanstructure, free_lv_means=False)``
#: with ``rows`` from :func:`parse_model`; ``.table`` (the parameter table), ``.npar``, ``.obs``,
#: ``.implied(theta)``, ``.derivatives(theta)``, ``.set_fixed(mean, cov)``.
Model = _engine._Model

#: Missing-data patterns of an (n, p) data matrix (NaN = missing) with each pattern's observed columns,
#: count, mean and covariance: ``Patterns(X)``; ``.pats``, ``.n``.
Patterns = _engine._Patterns


def loglik_grad(pats, Sigma, mu, dSig, dmu):
    """Gradient of the normal (FIML) log-likelihood with respect to the parameters, by the chain rule
    through the implied moments: ``pats`` a :class:`Patterns`, ``Sigma`` (p, p) and ``mu`` (p,) the
    implied moments, ``dSig`` (K, p, p) and ``dmu`` (K, p) their derivatives. Returns (K,)."""
    return _engine._loglik_grad(pats, Sigma, mu, dSig, dmu)


def numerical_hessian(f, x, h=None):
    """Central-difference Jacobian of the gradient function ``f`` at ``x`` (symmetrised): the observed
    Hessian. Step ``h`` (per coordinate) defaults to ``1e-4 * max(|x|, 1)``."""
    return _engine._numhess(f, x, h)


def saturated_fit(pats, X, missing):
    """Saturated (h1) mean (p,), covariance (p, p; divided by n) and log-likelihood of the data ``X``
    with patterns ``pats``: the sample moments for ``missing="listwise"``, EM (cached) for FIML."""
    return _engine._saturated(pats, X, missing)


def em_saturated(pats, p, maxit=5000, tol=1e-10):
    """EM for the unrestricted mean and covariance of ``p`` variables from the patterns ``pats``
    (lavaan's h1 for ``missing = "ml"``): (mu, Sigma, loglik)."""
    return _engine._em_saturated(pats, p, maxit=maxit, tol=tol)


def rmsea_ci(chisq, df, n, level):
    """The RMSEA at which the noncentral chi-square cdf of ``chisq`` equals ``level`` (``level`` 0.95 gives
    the lower bound of the 90% interval, 0.05 the upper), as lavaan; NaN when ``df <= 0``."""
    return _engine._rmsea_ci(chisq, df, n, level)
