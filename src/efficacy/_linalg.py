"""Least squares and the one near-singularity rule shared by every regression in efficacy.

Every least-squares fit of the library -- the observed, moderated, serial and missing-data
mediation paths, the causal-mediation refits (OLS and the IRLS steps of a binomial GLM), the
multiverse and power refits, the meta-analytic residuals -- goes through the functions here, so a
design (or a bootstrap resample of it) is declared near-singular by the same rule wherever it is
fitted.

The rule
--------
A cross-product matrix ``A = X'WX`` (p x p) is *well conditioned* when the determinant of its
unit-diagonal scaling ``D = S^-1/2 A S^-1/2`` (``S = diag(A)``; for centred columns this is their
correlation matrix) is positive and above :data:`SINGULAR_TOL` (1e-12).

Why this rule (and not a condition number or ``matrix_rank``):

* ``det(D)`` is the product of the sequential tolerances ``1 - R^2_j`` of each column regressed on
  the columns before it (the squared pivots of the Cholesky factor of ``D``; Belsley, Kuh & Welsch
  1980, ch. 3). So the leading minors of ``D`` say *which* column is the (near) linear combination
  of the earlier ones (:func:`near_singular_column` names it in the error message), which a
  condition number cannot.
* The scaling makes the decision invariant to the units of the columns (a covariate in cents or in
  dollars is decided the same way), and ``0 < det(D) <= 1``, so one absolute threshold fits every
  design. 1e-12 flags near-exact collinearity that ``matrix_rank`` misses (a covariate equal to the
  treatment up to 1e-9 gives ``1 - R^2 ~ 1e-18``) while leaving ordinary collinear survey
  covariates (``1 - R^2`` of 1e-3 and more) alone.
* It is cheap over a batch of resamples: closed-form cofactor determinants for p <= 4 (the usual
  mediation design), one batched LU otherwise; a condition number needs an SVD per resample.

Before this module the causal-mediation refits used ``cond(D) < 1e12`` while the other modules used
the determinant, so a bootstrap resample could fail in one module and pass in another; now the
determinant rule is the only one.

References
----------
Belsley, D. A., Kuh, E., & Welsch, R. E. (1980). *Regression diagnostics: Identifying influential
data and sources of collinearity*. Wiley.
Cook, R. D., & Weisberg, S. (1982). *Residuals and influence in regression*. Chapman and Hall.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SINGULAR_TOL", "LOG_SINGULAR_TOL", "unit_scaled", "well_conditioned", "near_singular_column",
           "lstsq", "ols", "ols_resid", "solve_normal", "solve_batched", "cross_products", "solve_many",
           "wls_many", "wls", "wls_counts", "loo_coefs"]

#: threshold of the rule: ``det`` of the unit-diagonal scaled cross-product matrix must exceed it
SINGULAR_TOL = 1e-12
LOG_SINGULAR_TOL = float(np.log(SINGULAR_TOL))


# ----------------------------------------------------------------------------- the rule
def unit_scaled(A):
    """``A`` (..., p, p) scaled to unit diagonal: ``A_ij / sqrt(A_ii A_jj)`` (an all-zero column
    gives a zero row and column, so the determinant is 0 and the rule fails it)."""
    with np.errstate(invalid="ignore"):  # a negative diagonal (not a cross-product) gives NaN: fails
        scale = np.sqrt(np.einsum("...ii->...i", A)).clip(1e-300)
        return A / scale[..., :, None] / scale[..., None, :]


def _det3(D, r, c):
    """Determinants of the 3 x 3 blocks of ``D`` (B, p, p) on rows ``r`` and columns ``c``."""
    a = [[D[:, i, j] for j in c] for i in r]
    return (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))


def _det_above_tol(D):
    """``slogdet(D)`` says positive and above ``SINGULAR_TOL``, for each unit-diagonal scaled ``X'WX``
    in ``D`` (B, p, p) -- the same decisions as the LU-based ``np.linalg.slogdet`` rule, cheaper.

    For p <= 4 the determinant is first written out by cofactors (elementwise over the batch). The
    entries of ``D`` are at most 1 in absolute value (it is a weighted correlation-type matrix), so
    this determinant and LAPACK's LU one are both within 1e-12 / 2 of the exact value (rounding
    bounds: about 300 eps for the cofactors, growth <= 2**(p-1) for partial pivoting); a system far
    from the threshold (above 100 x or below 1 / 100 of it) is therefore decided the same way by
    both, and only the few in between go to ``slogdet`` itself (as do non-finite cofactor values: a
    matrix that is not positive semi-definite, e.g. an EM iterate, can have scaled entries above 1).
    """
    p = D.shape[1]
    if p > 4:
        s2, ld = np.linalg.slogdet(D)
        return (s2 > 0) & (ld > LOG_SINGULAR_TOL)
    with np.errstate(over="ignore", invalid="ignore"):  # a non-PSD input (an EM step) can overflow
        if p == 1:
            det = D[:, 0, 0].copy()
        elif p == 2:
            det = D[:, 0, 0] * D[:, 1, 1] - D[:, 0, 1] * D[:, 1, 0]
        elif p == 3:
            det = _det3(D, (0, 1, 2), (0, 1, 2))
        else:
            det = (D[:, 0, 0] * _det3(D, (1, 2, 3), (1, 2, 3)) - D[:, 0, 1] * _det3(D, (1, 2, 3), (0, 2, 3))
                   + D[:, 0, 2] * _det3(D, (1, 2, 3), (0, 1, 3)) - D[:, 0, 3] * _det3(D, (1, 2, 3), (0, 1, 2)))
        ok = np.isfinite(det) & (det > 100 * SINGULAR_TOL)
        unsure = ~ok & ~(det < SINGULAR_TOL / 100)  # NaN and +inf (overflow) land here too
    if unsure.any():
        s2, ld = np.linalg.slogdet(D[unsure])
        ok[unsure] = (s2 > 0) & (ld > LOG_SINGULAR_TOL)
    return ok


def well_conditioned(A, *, exact=False):
    """The near-singularity rule for a batch of cross-product matrices ``A`` (B, p, p): True where
    ``det`` of the unit-diagonal scaled ``A`` is positive and above :data:`SINGULAR_TOL`.

    ``exact=True`` evaluates the determinant by LU (``np.linalg.slogdet``) for every system; the
    default decides the clear cases of p <= 4 from the cofactor determinant and sends only those
    near the threshold to LU (the same decisions, see :func:`_det_above_tol`).
    """
    A = np.asarray(A, dtype=float)
    if exact:
        s2, ld = np.linalg.slogdet(unit_scaled(A))
        return (s2 > 0) & (ld > LOG_SINGULAR_TOL)
    return _det_above_tol(unit_scaled(A))


def near_singular_column(X, names):
    """Index and message of the first column of ``X`` (n, p) that is (almost) a linear combination of
    the columns before it, or ``(None, "")`` when the design passes the rule.

    The leading principal minors of the scaled ``X'X`` are the products of the sequential
    tolerances ``1 - R^2_j``, so the first minor below the threshold names the culprit column.
    """
    D = unit_scaled(X.T @ X)
    sign, ld = np.linalg.slogdet(D)
    if sign > 0 and ld > LOG_SINGULAR_TOL:
        return None, ""
    for j in range(1, len(names) + 1):
        s_j, l_j = np.linalg.slogdet(D[:j, :j])
        if not (s_j > 0 and l_j > LOG_SINGULAR_TOL):
            col = X[:, j - 1]
            what = ("is constant" if j > 1 and np.ptp(col) == 0 else "is all zero" if j == 1 else
                    "is almost a linear combination of " + ", ".join(repr(v) for v in names[:j - 1]))
            det = np.exp(l_j) if s_j > 0 else 0.0
            return j - 1, (f"near-singular design: column {names[j - 1]!r} {what} (determinant of the "
                           f"scaled cross-product matrix {det:.1e} < {SINGULAR_TOL:g})")
    return len(names) - 1, "near-singular design"


# ----------------------------------------------------------------------------- one fit
def lstsq(X, y):
    """Least-squares coefficients of ``y`` (n,) or (n, k) on ``X`` (n, p) (LAPACK ``gelsd``, minimum
    norm when ``X`` is rank deficient; callers check the design with :func:`near_singular_column`)."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


def ols_resid(y, X):
    """Residuals of the least-squares fit of ``y`` on ``X``."""
    return y - X @ lstsq(X, y)


def ols(X, y):
    """OLS as R ``lm``: coefficients, their covariance ``s^2 (X'X)^-1`` with ``s^2 = RSS / (n - p)``,
    and the residual standard error ``s``."""
    beta = lstsq(X, y)
    resid = y - X @ beta
    df = X.shape[0] - X.shape[1]
    sigma2 = resid @ resid / df
    xtx_inv = np.linalg.inv(X.T @ X)
    return beta, sigma2 * xtx_inv, float(np.sqrt(sigma2))


# ----------------------------------------------------------------------------- batched fits
def solve_normal(XtX, XtT):
    """Batched normal equations ``XtX`` (B, p, p), ``XtT`` (B, p, k) -> beta (B, p, k) with NaN where the
    system fails the rule (:func:`well_conditioned`), ok (B,)."""
    p = XtX.shape[1]
    cond_ok = well_conditioned(XtX)
    if cond_ok.all():  # the common case: no placeholder systems to swap in
        return np.linalg.solve(XtX, XtT), cond_ok
    A = np.where(cond_ok[:, None, None], XtX, np.eye(p))
    beta = np.linalg.solve(A, XtT)
    beta[~cond_ok] = np.nan
    return beta, cond_ok


def solve_batched(A, b):
    """Solve ``A[i] x = b[i]`` for A (B, k, k), b (B, k): (x (B, k), ok (B,)) with NaN rows where
    ``A[i]`` fails the rule or is not finite."""
    nb, k, _ = A.shape
    with np.errstate(all="ignore"):
        ok = np.isfinite(unit_scaled(A)).all(axis=(1, 2))
        if ok.any():
            ok[ok] = well_conditioned(A[ok])
    x = np.full((nb, k), np.nan)
    if ok.any():
        x[ok] = np.linalg.solve(A[ok], b[ok][:, :, None])[:, :, 0]
    return x, ok


def cross_products(designs):
    """Per-case cross-product features of several equations: F (n, q) and, per equation, the
    F-column index of each entry of ``X'X`` (p, p) and ``X'T`` (p, k).

    ``designs`` is a list of ``(X (n,p), T (n,k))``. Row i of F holds the products
    ``z_ij z_il`` of the distinct columns z of all designs (the intercept, the treatment and
    the mediators are shared by the equations), each unordered pair once, so ``W @ F`` gives
    every weighted cross-product of every equation from one matrix product.
    """
    base = []

    def cid(v):
        for i, b in enumerate(base):
            if np.array_equal(b, v):
                return i
        base.append(v)
        return len(base) - 1

    pairs, maps = {}, []

    def pid(i, j):
        return pairs.setdefault((min(i, j), max(i, j)), len(pairs))

    for X, T in designs:
        ix = [cid(X[:, j]) for j in range(X.shape[1])]
        it = [cid(T[:, j]) for j in range(T.shape[1])]
        maps.append((np.array([[pid(a, c) for c in ix] for a in ix], dtype=np.intp),
                     np.array([[pid(a, c) for c in it] for a in ix], dtype=np.intp)))
    Z = np.column_stack(base)
    I, J = (np.array(v, dtype=np.intp) for v in zip(*pairs))
    return Z[:, I] * Z[:, J], maps


def solve_many(G, maps):
    """Gather each equation's ``X'WX`` and ``X'WT`` from the stacked products G (B, q) and solve:
    list of (beta (B,p,k), ok (B,))."""
    B = G.shape[0]
    return [solve_normal(G[:, mx.ravel()].reshape(B, *mx.shape), G[:, mt.ravel()].reshape(B, *mt.shape))
            for mx, mt in maps]


def wls_many(designs, W):
    """Batched weighted least squares of several equations sharing the case weights ``W`` (B, n):
    one matrix product ``W @ F`` (:func:`cross_products`), then batched solves. List of
    (beta (B,p,k), ok (B,))."""
    F, maps = cross_products(designs)
    return solve_many(W @ F, maps)


def wls(X, W, T):
    """Batched least squares: X (n,p), W (B,n) case weights, T (n,k) -> (B,p,k), ok (B,)."""
    return wls_many([(X, T)], W)[0]


def wls_counts(X, y, w):
    """Batched weighted OLS of ``y`` (n,) on ``X`` (n, k) with bootstrap counts ``w`` (B, n):
    beta (B, k), ok (B,), residual SD ``sqrt(sum w e^2 / (sum w - k))`` (B,)."""
    A = np.einsum("bn,nk,nl->bkl", w, X, X, optimize=True)
    rhs = (w * y) @ X
    beta, ok = solve_batched(A, rhs)
    resid = y - np.nan_to_num(beta) @ X.T
    dof = w.sum(axis=1) - X.shape[1]
    with np.errstate(all="ignore"):
        sigma = np.sqrt(np.sum(w * resid * resid, axis=1) / dof)
    return beta, ok & np.isfinite(sigma), sigma


def loo_coefs(X, T):
    """Leave-one-out OLS coefficients in closed form: (n, p, k), NaN where the fit fails.

    ``beta_(-i) = beta - (X'X)^-1 x_i e_i / (1 - h_i)`` (the rank-one downdate; Cook & Weisberg
    1982, ch. 3) replaces n refits. A leave-one-out design is flagged failed by the same
    normalised-determinant rule as :func:`solve_normal`, evaluated exactly by the matrix determinant
    lemma ``det(X'X - x_i x_i') = det(X'X) (1 - h_i)``.
    """
    XtX = X.T @ X
    inv = np.linalg.inv(XtX)
    beta = inv @ (X.T @ T)
    E = T - X @ beta  # (n,k)
    XI = X @ inv  # (n,p)
    one_h = 1.0 - np.einsum("ip,ip->i", XI, X)
    diag = np.diag(XtX)[None, :] - X**2  # diagonal of each leave-one-out X'X
    with np.errstate(divide="ignore", invalid="ignore"):
        out = beta[None] - XI[:, :, None] * (E / one_h[:, None])[:, None, :]
        sign, ld = np.linalg.slogdet(XtX)
        ld_norm = ld + np.log(one_h) - np.log(diag).sum(axis=1)
    ok = (sign > 0) & (one_h > 0) & (diag > 0).all(axis=1) & (ld_norm > LOG_SINGULAR_TOL)
    out[~ok] = np.nan
    return out
