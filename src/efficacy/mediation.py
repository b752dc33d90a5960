"""Mediation analysis: does efficacy carry the effect, or only go along with it?

Product-of-coefficients mediation (Baron & Kenny 1986; MacKinnon 2008; Hayes 2018,
PROCESS model 4 with parallel mediators) with delta-method standard errors that
match ``lavaan::sem(fixed.x=TRUE)`` ``:=`` defined parameters, batched bootstrap
(percentile or BCa, Efron 1987) confidence intervals, and the closed-form
sensitivity analysis to sequential ignorability of Imai, Keele & Yamamoto (2010,
*Statistical Science* 25, 51-71), which R's ``mediation::medsens`` implements for
a linear mediator and a linear outcome model without interaction.

Conventions
-----------
* Point estimates are OLS, identical to ``lm()`` and to lavaan's ML estimates of
  the same just-identified path model.
* Standard errors of paths and of the delta-method effects use the ML residual
  variance ``RSS / n`` (lavaan ``estimator="ML"``, ``fixed.x=TRUE``), not ``lm()``'s
  ``RSS / (n - p)``. The residual covariance of parallel mediators is free (lavaan's
  default for endogenous variables), so ``Cov(a_j, a_k) = S_jk [(X'X)^-1]_xx``;
  a-paths and b-paths are uncorrelated. This reproduces lavaan's SEs to 1e-6.
* Bootstrap: all resamples in one batched weighted least-squares computation (case-count
  weights times per-case cross-product features, one matrix product for every equation,
  batched ``np.linalg.solve``); BCa acceleration from the closed-form leave-one-out
  coefficients (rank-one downdates through the hat matrix, no refits).
* Numerical failure is never a silent number: a near-singular design gives NA effects with a
  ``reason`` naming the column; bootstrap resamples whose design is near-singular are dropped,
  counted (``n_boot_failed``) and stated in the ``reason`` column.
* Moderated mediation (:func:`moderated_mediation`): Hayes' PROCESS models 7 and 14,
  conditional indirect effects and the index of moderated mediation (Hayes 2015), checked
  against lavaan ``:=`` parameters.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> x = rng.integers(0, 2, 300); m = 0.5 * x + rng.normal(size=300)
>>> y = 0.4 * m + rng.normal(size=300)
>>> res = mediate(pd.DataFrame({"x": x, "m": m, "y": y}), "x", "m", "y", n_boot=500, seed=1)
>>> tab = res.to_frame()
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .resampling import bca_interval, case_counts

try:  # pragma: no cover - the package module exists in this repository
    from efficacy.errors import DataError as _InputError
except Exception:  # pragma: no cover
    _InputError = ValueError

from efficacy.causal import SINGULAR_TOL, near_singular_column  # noqa: E402  (shared design check)
from efficacy.causal import CausalMediationResult, causal_mediation  # noqa: E402  (re-exported)

__all__ = [
    "MediationResult",
    "SensitivityResult",
    "CausalMediationResult",
    "mediate",
    "ModeratedMediationResult",
    "moderated_mediation",
    "MODERATED_COLUMNS",
    "MODERATED_STAGE_COLUMNS",
    "sensitivity",
    "causal_mediation",
    "compare_models",
    "MODEL_COMPARISON_COLUMNS",
    "run_stage",
    "verdict",
]

MIN_CASES = 10


def _err(message, column=None):
    try:
        return _InputError(message, where=None if column is None else f"column {column!r}")
    except TypeError:  # plain ValueError
        return ValueError(message)


# ----------------------------------------------------------------------------- data
def _numeric(data, cols):
    """``data[cols]`` as floats, complete cases only; a non-numeric value is an error naming the
    column and row (never silently turned into a missing value)."""
    raw = data[cols]
    d = raw.apply(pd.to_numeric, errors="coerce")
    bad = d.isna() & raw.notna()
    if bad.to_numpy().any():
        c = bad.any(axis=0).idxmax()
        r = bad[c].idxmax()
        raise _err(f"column {c!r} is not numeric: value {raw.at[r, c]!r} in row {r!r}", c)
    return d.dropna()


def _prepare(data, x, ms, y, covariates):
    cols = [x, *ms, y, *covariates]
    for c in cols:
        if not isinstance(c, str):
            raise _err(f"columns are named by strings, got {c!r} (in {cols!r})")
        if c not in data.columns:
            raise _err(f"column {c!r} is not in the data", c)
    if len(set(cols)) != len(cols):
        raise _err(f"a column is used in two roles: {cols}")
    d = _numeric(data, cols)
    n = len(d)
    p_max = 2 + len(ms) + len(covariates)
    if n < max(MIN_CASES, p_max + 2):
        raise _err(
            f"too few complete cases: {n} on columns {cols}; need at least {max(MIN_CASES, p_max + 2)}"
        )
    X = d[x].to_numpy(float)
    if np.ptp(X) == 0:
        raise _err(f"treatment column {x!r} is constant in the complete cases", x)
    Y = d[y].to_numpy(float)
    M = d[list(ms)].to_numpy(float)
    for j, mj in enumerate(ms):
        if np.ptp(M[:, j]) == 0:
            raise _err(f"mediator column {mj!r} is constant", mj)
        if np.allclose(M[:, j], Y) or abs(np.corrcoef(M[:, j], Y)[0, 1]) > 1 - 1e-10:
            raise _err(f"mediator {mj!r} is identical (perfectly correlated) to outcome {y!r}", mj)
    C = d[list(covariates)].to_numpy(float).reshape(n, len(covariates))
    one = np.ones((n, 1))
    Xa = np.column_stack([one, X, C])  # mediator models, x at column 1
    Xb = np.column_stack([one, X, M, C])  # outcome model: x at 1, mediators at 2..k+1
    names = ["(intercept)", x, *ms, *covariates]
    if np.linalg.matrix_rank(Xb) < Xb.shape[1]:
        # find the first column that is a linear combination of the ones before it
        for i in range(2, Xb.shape[1] + 1):
            if np.linalg.matrix_rank(Xb[:, :i]) < i:
                raise _err(
                    f"perfect collinearity: column {names[i - 1]!r} is a linear combination of "
                    f"{names[: i - 1]}",
                    names[i - 1],
                )
    return Xa, Xb, M, Y, n


def _near_singular(X, names):
    """Reason string when the design ``X`` fails the near-singularity check of :func:`_wls`, else ""."""
    j, message = near_singular_column(X, names)
    return "" if j is None else f"{message}, so the paths are not estimable"


def _solve(XtX, XtT):
    """Batched normal equations (B,p,p), (B,p,k) -> beta (B,p,k) with NaN where near-singular, ok (B,).

    A system fails when the log-determinant of the unit-diagonal scaled ``X'WX`` is below
    ``log(SINGULAR_TOL)`` (its sign is that of ``det(X'WX)``; an all-zero column gives 0).
    """
    p = XtX.shape[1]
    scale = np.sqrt(np.einsum("bii->bi", XtX)).clip(1e-300)
    s2, ld = np.linalg.slogdet(XtX / scale[:, :, None] / scale[:, None, :])
    cond_ok = (s2 > 0) & (ld > np.log(SINGULAR_TOL))
    A = np.where(cond_ok[:, None, None], XtX, np.eye(p))
    beta = np.linalg.solve(A, XtT)
    beta[~cond_ok] = np.nan
    return beta, cond_ok


def _features(designs):
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


def _solve_many(G, maps):
    """Gather each equation's ``X'WX`` and ``X'WT`` from the stacked products G (B, q) and solve:
    list of (beta (B,p,k), ok (B,))."""
    B = G.shape[0]
    return [_solve(G[:, mx.ravel()].reshape(B, *mx.shape), G[:, mt.ravel()].reshape(B, *mt.shape))
            for mx, mt in maps]


def _wls_many(designs, W):
    """Batched weighted least squares of several equations sharing the case weights ``W`` (B, n):
    one matrix product ``W @ F`` (:func:`_features`), then batched solves. List of (beta (B,p,k), ok (B,))."""
    F, maps = _features(designs)
    return _solve_many(W @ F, maps)


def _boot_wls(designs, rng, n_boot, chunk=None):
    """Bootstrap fits of several equations: ``n_boot`` resamples of the n cases drawn by
    ``rng.integers(0, n, size=(n_boot, n))``, row block by row block.

    Each block of resample indices becomes case-count weights that are multiplied into the
    features (:func:`_features`) at once, so memory stays O(chunk * n) whatever ``n_boot``. The
    draws are those of one ``(n_boot, n)`` call: numpy's PCG64 keeps its spare 32-bit half-word
    in the bit generator state, so consecutive calls continue the same stream (checked in
    tests/test_mediation.py). Returns a list of ``(beta (n_boot,p,k), ok (n_boot,))``.
    """
    F, maps = _features(designs)
    n = F.shape[0]
    chunk = chunk or max(1, 2**19 // n)
    G = np.empty((n_boot, F.shape[1]))
    for i0 in range(0, n_boot, chunk):
        b = min(chunk, n_boot - i0)
        G[i0: i0 + b] = case_counts(rng.integers(0, n, size=(b, n)), n) @ F
    return _solve_many(G, maps)


def _wls(X, W, T):
    """Batched least squares: X (n,p), W (B,n) case weights, T (n,k) -> (B,p,k), ok (B,)."""
    return _wls_many([(X, T)], W)[0]


def _loo_coefs(X, T):
    """Leave-one-out OLS coefficients in closed form: (n, p, k), NaN where the fit fails.

    ``beta_(-i) = beta - (X'X)^-1 x_i e_i / (1 - h_i)`` (the rank-one downdate; Cook & Weisberg
    1982, ch. 3) replaces n refits. A leave-one-out design is flagged failed by the same
    normalised-determinant rule as :func:`_solve`, evaluated exactly by the matrix determinant
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
    ok = (sign > 0) & (one_h > 0) & (diag > 0).all(axis=1) & (ld_norm > np.log(SINGULAR_TOL))
    out[~ok] = np.nan
    return out


def _effects_from(ba, bb, k):
    """Effects from coefficient stacks ba (B,pa,k), bb (B,pb,1): columns a_1..a_k, b_1..b_k,
    direct, total, ind_1..ind_k, ind, pm."""
    a = ba[:, 1, :]
    b = bb[:, 2 : 2 + k, 0]
    cp = bb[:, 1, 0]
    ind = a * b
    ind_t = ind.sum(axis=1)
    tot = cp + ind_t
    with np.errstate(divide="ignore", invalid="ignore"):
        pm = ind_t / tot
    return np.column_stack([a, b, cp, tot, ind, ind_t, pm])


def _effects(Xa, Xb, M, Y, W):
    """Effects for each weight row (see :func:`_effects_from`)."""
    (ba, _), (bb, _) = _wls_many([(Xa, M), (Xb, Y[:, None])], W)
    return _effects_from(ba, bb, M.shape[1])


# ----------------------------------------------------------------------------- results
@dataclass
class MediationResult:
    """Result of :func:`mediate`. ``table`` is the tidy table (see :meth:`to_frame`)."""

    x: str
    mediators: list
    y: str
    covariates: list
    n: int
    n_boot: int
    n_boot_valid: int
    ci: str
    level: float
    table: pd.DataFrame = field(repr=False)
    reason: str = ""
    warnings: list = field(default_factory=list)

    @property
    def n_boot_failed(self) -> int:
        """Bootstrap resamples (or Monte Carlo draws) whose fit failed and were dropped."""
        return self.n_boot - self.n_boot_valid if self.n_boot else 0

    def _get(self, effect, mediator=""):
        t = self.table
        r = t[(t["effect"] == effect) & (t["mediator"] == mediator)]
        return float(r["estimate"].iloc[0])

    @property
    def indirect(self) -> float:
        """Total indirect effect (sum of a_j * b_j)."""
        return self._get("indirect", "total" if len(self.mediators) > 1 else self.mediators[0])

    @property
    def direct(self) -> float:
        return self._get("direct")

    @property
    def total(self) -> float:
        return self._get("total")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: effect, mediator, estimate, se, ci_low, ci_high, pvalue, z, boot_se, ci_method,
        sobel_z, sobel_p, n_boot_failed, reason (why the row is NA, or a note on failed resamples)."""
        return self.table.copy()

    def __repr__(self):
        t = self.table
        rows = "\n".join(
            f"  {r.effect:9s} {r.mediator:12s} {r.estimate: .4f} [{r.ci_low: .4f}, {r.ci_high: .4f}]"
            for r in t.itertuples()
        )
        notes = "".join(f"\n  note: {w}" for w in ([self.reason] if self.reason else []) + self.warnings)
        return (
            f"MediationResult({self.x} -> {self.mediators} -> {self.y}, n={self.n}, "
            f"{self.ci} CI from {self.n_boot_valid}/{self.n_boot} resamples, level={self.level})\n{rows}{notes}"
        )


def mediate(data, x, m, y, *, covariates=(), n_boot=5000, ci="bca", seed=None, level=0.95):
    """Mediation of x -> m (one or several parallel mediators) -> y by OLS paths.

    Parameters
    ----------
    data : pandas.DataFrame
    x, y : str
        Treatment (any numeric; randomised for a causal a-path) and outcome columns.
    m : str or list of str
        Mediator(s); several are treated as parallel mediators (Hayes 2018, ch. 5).
    covariates : sequence of str
        Entered in every equation.
    n_boot : int
        Bootstrap resamples (0: no bootstrap, CIs are then normal-theory delta-method).
    ci : {"bca", "percentile", "montecarlo"}
        ``"montecarlo"``: Monte Carlo CI (Preacher & Selig 2012) -- ``n_boot`` draws of the path
        coefficients from their joint normal sampling distribution (delta-method covariance),
        effects recomputed per draw, percentile interval.
    seed : int or None
        Seed for :func:`numpy.random.default_rng`.
    level : float
        Confidence level.

    Returns
    -------
    MediationResult
        Effects ``a`` and ``b`` per mediator, ``direct`` (c'), ``total`` (c = c' + sum a b),
        ``indirect`` per mediator and ``total`` (several mediators), ``prop_mediated``.
        ``se`` is the delta-method SE with ML residual variance (matches lavaan ``:=``
        with ``fixed.x=TRUE``); ``pvalue`` the Wald z test on it; ``ci_low``/``ci_high``
        the bootstrap interval; ``sobel_z``/``sobel_p`` a legacy column for indirect effects;
        ``n_boot_failed`` and ``reason``. A near-singular design (a column almost a linear
        combination of others) gives NA rows and ``result.reason`` naming the column;
        resamples whose fit fails are dropped, counted (``result.n_boot_failed``) and stated
        in ``result.warnings`` and the ``reason`` column.

    Notes
    -----
    References: Baron & Kenny (1986); Sobel (1982); Efron (1987) for BCa;
    MacKinnon (2008). R equivalents: ``lavaan::sem`` with ``:=`` and
    ``parameterEstimates(boot.ci.type = "perc" | "bca.simple")``; PROCESS model 4.
    """
    ms = [m] if isinstance(m, str) else list(m)
    covariates = list(covariates)
    if ci not in ("bca", "percentile", "montecarlo"):
        raise ValueError(f"ci must be 'bca', 'percentile' or 'montecarlo', got {ci!r}")
    if not ms:
        raise ValueError("at least one mediator is needed")
    Xa, Xb, M, Y, n = _prepare(data, x, ms, y, covariates)
    k = len(ms)
    est = _effects(Xa, Xb, M, Y, np.ones((1, n)))[0]
    reason = (_near_singular(Xa, ["(intercept)", x, *covariates])
              or _near_singular(Xb, ["(intercept)", x, *ms, *covariates]))
    if reason:  # statistical failure: NA with the reason, not numbers from a singular solve
        nan = np.full(est.shape, np.nan)
        tab = _mediation_table(ms, nan, nan, nan, nan, nan, ci if n_boot else "delta", 0, reason)
        return MediationResult(x, ms, y, covariates, n, int(n_boot or 0), 0, ci if n_boot else "delta",
                               level, tab, reason=reason)

    # ---- delta-method covariance (ML residual variances, lavaan fixed.x) ----
    Ba = np.linalg.lstsq(Xa, M, rcond=None)[0]
    Ea = M - Xa @ Ba
    Sm = Ea.T @ Ea / n
    iA = np.linalg.inv(Xa.T @ Xa)
    bb = np.linalg.lstsq(Xb, Y, rcond=None)[0]
    ey = Y - Xb @ bb
    s2y = ey @ ey / n
    iB = np.linalg.inv(Xb.T @ Xb) * s2y
    # theta = (a_1..a_k, b_1..b_k, cp)
    V = np.zeros((2 * k + 1, 2 * k + 1))
    V[:k, :k] = Sm * iA[1, 1]
    idx_b = [*range(2, 2 + k), 1]
    V[k:, k:] = iB[np.ix_(idx_b, idx_b)]
    a, b, cp = est[:k], est[k : 2 * k], est[2 * k]
    grads = []
    for j in range(k):  # a_j
        g = np.zeros(2 * k + 1); g[j] = 1; grads.append(g)
    for j in range(k):  # b_j
        g = np.zeros(2 * k + 1); g[k + j] = 1; grads.append(g)
    g = np.zeros(2 * k + 1); g[2 * k] = 1; grads.append(g)  # direct
    g_ind_t = np.concatenate([b, a, [0.0]])
    grads.append(g_ind_t + np.eye(2 * k + 1)[2 * k])  # total = cp + sum ab
    for j in range(k):  # ind_j
        g = np.zeros(2 * k + 1); g[j] = b[j]; g[k + j] = a[j]; grads.append(g)
    grads.append(g_ind_t)
    tot = est[2 * k + 1]
    ind_t = est[-2]
    g_pm = (g_ind_t * tot - ind_t * (g_ind_t + np.eye(2 * k + 1)[2 * k])) / tot**2
    grads.append(g_pm)
    G = np.array(grads)
    se = np.sqrt(np.einsum("qi,ij,qj->q", G, V, G))

    # ---- bootstrap (batched) ----
    n_valid = 0
    if n_boot and n_boot > 0 and ci == "montecarlo":
        rng = np.random.default_rng(seed)
        theta = est[: 2 * k + 1]
        D = rng.multivariate_normal(theta, V, size=int(n_boot), method="eigh")
        ind = D[:, :k] * D[:, k : 2 * k]
        ind_t = ind.sum(axis=1)
        tot_d = D[:, 2 * k] + ind_t
        with np.errstate(divide="ignore", invalid="ignore"):
            pm_d = ind_t / tot_d
        sim = np.column_stack([D, tot_d, ind, ind_t, pm_d])
        n_valid = int(np.isfinite(sim).all(axis=1).sum())
        boot_se = np.nanstd(sim, axis=0, ddof=1)
        alpha = (1 - level) / 2
        lo, hi = np.nanquantile(sim, [alpha, 1 - alpha], axis=0)
        ci_name = ci
    elif n_boot and n_boot > 0:
        rng = np.random.default_rng(seed)
        (ba, _), (bb, _) = _boot_wls([(Xa, M), (Xb, Y[:, None])], rng, int(n_boot))
        boot = _effects_from(ba, bb, k)
        n_valid = int(np.isfinite(boot[:, 0]).sum())
        boot_se = np.nanstd(boot, axis=0, ddof=1)
        if ci == "bca":
            # leave-one-out coefficients in closed form (rank-one downdates), no refits
            jack = _effects_from(_loo_coefs(Xa, M), _loo_coefs(Xb, Y[:, None]), k)
            lo, hi = bca_interval(boot, est, jack, level)
        else:
            alpha = (1 - level) / 2
            lo, hi = np.nanquantile(boot, [alpha, 1 - alpha], axis=0)
        ci_name = ci
    else:
        boot_se = np.full(est.shape, np.nan)
        zc = stats.norm.ppf(1 - (1 - level) / 2)
        lo, hi = est - zc * se, est + zc * se
        ci_name = "delta"
    warnings = []
    n_failed = int(n_boot or 0) - n_valid if ci_name != "delta" else 0
    if n_failed:
        warnings.append(
            f"{n_failed} of {int(n_boot)} bootstrap resamples failed (near-singular design in the resample, "
            f"e.g. a rare covariate value left out) and were dropped; the CI uses the {n_valid} valid "
            "resamples" + (" (too few for an interval: CI is NA)" if n_valid < 10 else ""))
    tab = _mediation_table(ms, est, se, lo, hi, boot_se, ci_name, n_failed, "; ".join(warnings))
    return MediationResult(x, ms, y, covariates, n, int(n_boot or 0), n_valid, ci_name, level, tab,
                           warnings=warnings)


def _mediation_table(ms, est, se, lo, hi, boot_se, ci_name, n_failed, reason):
    k = len(ms)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    pval = 2 * stats.norm.sf(np.abs(z))
    effect = (["a"] * k + ["b"] * k + ["direct", "total"] + ["indirect"] * k
              + (["indirect"] if k > 1 else []) + ["prop_mediated"])
    med = ms + ms + ["", ""] + ms + (["total"] if k > 1 else []) + [""]
    keep = list(range(2 * k + 2 + k)) + ([2 * k + 2 + k] if k > 1 else []) + [est.size - 1]
    tab = pd.DataFrame({
        "effect": effect, "mediator": med, "estimate": est[keep], "se": se[keep],
        "ci_low": np.asarray(lo)[keep], "ci_high": np.asarray(hi)[keep], "pvalue": pval[keep],
        "z": z[keep], "boot_se": np.asarray(boot_se)[keep], "ci_method": ci_name,
    })
    is_ind = tab["effect"].eq("indirect")
    tab["sobel_z"] = np.where(is_ind, tab["z"], np.nan)
    tab["sobel_p"] = np.where(is_ind, tab["pvalue"], np.nan)
    tab["n_boot_failed"] = n_failed
    tab["reason"] = reason
    return tab


# ----------------------------------------------------------------------------- moderated mediation
MODERATED_COLUMNS = ["effect", "term", "w_value", "estimate", "se", "ci_low", "ci_high", "pvalue", "boot_se",
                     "ci_method", "n_boot_failed", "reason"]


@dataclass
class ModeratedMediationResult:
    """Result of :func:`moderated_mediation` (Hayes PROCESS model 7 or 14).

    ``table`` (see :meth:`to_frame`) has one row per path, one ``conditional_indirect`` row per
    moderator value (``w_value``) and the ``index`` of moderated mediation.
    """

    x: str
    m: str
    y: str
    w: str
    model: int
    covariates: list
    values: list
    n: int
    n_boot: int
    n_boot_valid: int
    ci: str
    level: float
    table: pd.DataFrame = field(repr=False)
    reason: str = ""
    warnings: list = field(default_factory=list)

    @property
    def n_boot_failed(self) -> int:
        return self.n_boot - self.n_boot_valid if self.n_boot else 0

    @property
    def index(self) -> float:
        """Index of moderated mediation (a3*b for model 7, a*b3 for model 14)."""
        return float(self.table.loc[self.table["effect"] == "index", "estimate"].iloc[0])

    @property
    def index_ci(self) -> tuple:
        r = self.table[self.table["effect"] == "index"].iloc[0]
        return float(r["ci_low"]), float(r["ci_high"])

    @property
    def conditional(self) -> pd.DataFrame:
        """The conditional indirect effects, one row per moderator value."""
        t = self.table
        return t[t["effect"] == "conditional_indirect"].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, columns :data:`MODERATED_COLUMNS`."""
        return self.table.copy()

    def __repr__(self):
        rows = "\n".join(
            f"  {r.effect:20s} {'' if np.isnan(r.w_value) else f'{self.w}={r.w_value:g}':>14s} "
            f"{r.estimate: .4f} [{r.ci_low: .4f}, {r.ci_high: .4f}]"
            for r in self.table.itertuples())
        notes = "".join(f"\n  note: {w}" for w in ([self.reason] if self.reason else []) + self.warnings)
        return (f"ModeratedMediationResult(PROCESS model {self.model}: {self.x} -> {self.m} -> {self.y}, "
                f"moderator {self.w}, n={self.n}, {self.ci} CI from {self.n_boot_valid}/{self.n_boot} "
                f"resamples, level={self.level})\n{rows}{notes}")


def _check_columns(data, roles):
    """roles: list of (role, name). Names must be strings naming distinct columns of ``data``."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    seen = {}
    for role, name in roles:
        if not isinstance(name, str):
            raise _err(f"{role} must be a column name (str), got {name!r}")
        if name not in data.columns:
            raise _err(f"{role} column {name!r} is not in the data (columns: {list(map(str, data.columns))})",
                       name)
        if name in seen:
            raise _err(f"column {name!r} is used as both {seen[name]} and {role}", name)
        seen[name] = role


def moderated_mediation(data, x, m, y, w, *, model=7, covariates=(), values=None, n_boot=5000,
                        ci="percentile", seed=None, level=0.95):
    """Moderated mediation: conditional indirect effects and the index of moderated mediation.

    Hayes' PROCESS models (Hayes 2015, 2018 ch. 11-12), estimated by OLS as two equations:

    * ``model=7`` (first-stage moderation, W on the a-path)::

          M = i_M + a1 X + a2 W + a3 XW + covariates
          Y = i_Y + c' X + b M + covariates

      conditional indirect effect ``(a1 + a3 w) b``; index of moderated mediation ``a3 b``.
    * ``model=14`` (second-stage moderation, W on the b-path)::

          M = i_M + a X + covariates
          Y = i_Y + c' X + b1 M + b2 W + b3 MW + covariates

      conditional indirect effect ``a (b1 + b3 w)``; index ``a b3``.

    Parameters
    ----------
    data : pandas.DataFrame
    x, m, y, w : str
        Treatment, mediator, outcome and moderator columns (names are checked against the
        data; nothing is parsed as a formula).
    model : {7, 14}
        PROCESS model number.
    covariates : sequence of str
        Entered in both equations (as PROCESS does by default).
    values : sequence of float or None
        Moderator values for the conditional indirect effects. Default: the 16th, 50th and 84th
        percentiles of W in the complete cases (linear interpolation, R's ``quantile(type = 7)``),
        or, when W takes two values, those two values.
    n_boot : int
        Bootstrap resamples (or Monte Carlo draws); 0 gives delta-method normal intervals.
    ci : {"percentile", "bca", "montecarlo"}
        Interval type; percentile is PROCESS's default.
    seed : int or None
        Seed for :func:`numpy.random.default_rng`.
    level : float
        Confidence level.

    Returns
    -------
    ModeratedMediationResult
        Paths (``a1``, ``a2``, ``a3``, ``b``, ``direct`` for model 7; ``a``, ``b1``, ``b2``,
        ``b3``, ``direct`` for model 14), ``conditional_indirect`` per moderator value and the
        ``index``. ``se`` is the delta-method SE with ML residual variances (``RSS / n``), equal
        to lavaan's ``:=`` standard errors with ``fixed.x = TRUE``; ``pvalue`` is its Wald z test;
        ``ci_low``/``ci_high`` the bootstrap interval and ``boot_se`` the bootstrap SD. A
        near-singular design gives NA rows with the ``reason``; failed resamples are dropped,
        counted (``n_boot_failed``) and stated.

    Notes
    -----
    The bootstrap is the batched weighted least squares of :func:`mediate` (all resamples in one
    computation); BCa uses closed-form leave-one-out coefficients. The product terms are formed
    from the raw (uncentred) columns, as PROCESS does by default; conditional effects and the
    index do not depend on centring. Matches ``lavaan::sem(fixed.x = TRUE)`` with the product
    term as an observed variable and ``:=`` defined parameters (tests/reference/moderated.R).

    References
    ----------
    Hayes, A. F. (2015). An index and test of linear moderated mediation. *Multivariate
    Behavioral Research*, 50(1), 1-22. Hayes, A. F. (2018). *Introduction to mediation,
    moderation, and conditional process analysis* (2nd ed.). Guilford. Preacher, K. J., Rucker,
    D. D., & Hayes, A. F. (2007). Addressing moderated mediation hypotheses. *Multivariate
    Behavioral Research*, 42(1), 185-227.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(2)
    >>> x = rng.integers(0, 2, 400).astype(float); w = rng.normal(size=400)
    >>> m = 0.5 * x + 0.3 * x * w + rng.normal(size=400); y = 0.4 * m + rng.normal(size=400)
    >>> res = moderated_mediation(pd.DataFrame({"x": x, "m": m, "y": y, "w": w}), "x", "m", "y", "w",
    ...                           model=7, n_boot=500, seed=1)
    >>> res.index_ci[0] < res.index < res.index_ci[1]   # index of moderated mediation a3*b
    True
    >>> len(res.conditional)  # conditional indirect effects at the 16th/50th/84th percentiles of w
    3
    """
    if model not in (7, 14):
        raise ValueError(f"model must be 7 (moderator on the a-path) or 14 (on the b-path), got {model!r}")
    if ci not in ("bca", "percentile", "montecarlo"):
        raise ValueError(f"ci must be 'percentile', 'bca' or 'montecarlo', got {ci!r}")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    _check_columns(data, [("treatment x", x), ("mediator m", m), ("outcome y", y), ("moderator w", w)]
                   + [("covariate", c) for c in covariates])
    cols = [x, m, y, w, *covariates]
    d = _numeric(data, cols)
    n = len(d)
    need = max(MIN_CASES, 6 + len(covariates) + 2)
    if n < need:
        raise _err(f"too few complete cases: {n} on columns {cols}; need at least {need}")
    X, M, Y, Wv = (d[c].to_numpy(float) for c in (x, m, y, w))
    for name, v in ((x, X), (m, M), (w, Wv)):
        if np.ptp(v) == 0:
            raise _err(f"column {name!r} is constant in the complete cases", name)
    if abs(np.corrcoef(M, Y)[0, 1]) > 1 - 1e-10:
        raise _err(f"mediator {m!r} is identical (perfectly correlated) to outcome {y!r}", m)
    C = d[covariates].to_numpy(float).reshape(n, len(covariates))
    if values is None:
        lv = np.unique(Wv)
        vals = lv if lv.size == 2 else np.percentile(Wv, [16, 50, 84])
    else:
        vals = np.atleast_1d(np.asarray(values, dtype=float)).ravel()
        if vals.size == 0 or not np.isfinite(vals).all():
            raise _err(f"values for moderator {w!r} must be finite numbers, got {values!r}", w)
    one = np.ones(n)
    if model == 7:
        Xm = np.column_stack([one, X, Wv, X * Wv, C])
        Xy = np.column_stack([one, X, M, C])
        names_m = ["(intercept)", x, w, f"{x}:{w}", *covariates]
        names_y = ["(intercept)", x, m, *covariates]
        paths = [("a1", 0, 1), ("a2", 0, 2), ("a3", 0, 3), ("b", 1, 2), ("direct", 1, 1)]
        index_term = "a3*b"
        cond_term = f"(a1 + a3*{w})*b"
    else:
        Xm = np.column_stack([one, X, C])
        Xy = np.column_stack([one, X, M, Wv, M * Wv, C])
        names_m = ["(intercept)", x, *covariates]
        names_y = ["(intercept)", x, m, w, f"{m}:{w}", *covariates]
        paths = [("a", 0, 1), ("b1", 1, 2), ("b2", 1, 3), ("b3", 1, 4), ("direct", 1, 1)]
        index_term = "a*b3"
        cond_term = f"a*(b1 + b3*{w})"
    pm = Xm.shape[1]

    def effects(theta):
        """theta (B, pm + py) stacked coefficients -> (B, q): paths, conditional indirect, index."""
        bm, by = theta[:, :pm], theta[:, pm:]
        cols_ = [(bm if eq == 0 else by)[:, j] for _, eq, j in paths]
        if model == 7:
            a1, a3, b = bm[:, 1], bm[:, 3], by[:, 2]
            cond = (a1[:, None] + a3[:, None] * vals[None, :]) * b[:, None]
            idx_ = a3 * b
        else:
            a, b1, b3 = bm[:, 1], by[:, 2], by[:, 4]
            cond = a[:, None] * (b1[:, None] + b3[:, None] * vals[None, :])
            idx_ = a * b3
        return np.column_stack([*cols_, cond, idx_])

    terms = [f"{m if eq == 0 else y} ~ {(names_m if eq == 0 else names_y)[j]}" for _, eq, j in paths]
    labels = [p[0] for p in paths] + ["conditional_indirect"] * vals.size + ["index"]
    terms += [cond_term] * vals.size + [index_term]
    w_col = np.r_[np.full(len(paths), np.nan), vals, np.nan]

    def table(est, se, lo, hi, boot_se, ci_name, n_failed, reason):
        with np.errstate(divide="ignore", invalid="ignore"):
            pval = 2 * stats.norm.sf(np.abs(est / se))
        return pd.DataFrame({"effect": labels, "term": terms, "w_value": w_col, "estimate": est, "se": se,
                             "ci_low": lo, "ci_high": hi, "pvalue": pval, "boot_se": boot_se,
                             "ci_method": ci_name, "n_boot_failed": n_failed, "reason": reason},
                            columns=MODERATED_COLUMNS)

    boot_name = ci if n_boot else "delta"
    reason = _near_singular(Xm, names_m) or _near_singular(Xy, names_y)
    if reason:
        nan = np.full(len(labels), np.nan)
        return ModeratedMediationResult(x, m, y, w, model, covariates, vals.tolist(), n, int(n_boot or 0), 0,
                                        boot_name, level, table(nan, nan, nan, nan, nan, boot_name, 0, reason),
                                        reason=reason)
    # ---- point estimates (OLS) and delta-method SEs (ML residual variances, lavaan fixed.x) ----
    designs = [(Xm, M[:, None]), (Xy, Y[:, None])]
    (bm, _), (by, _) = _wls_many(designs, np.ones((1, n)))
    theta = np.concatenate([bm[0, :, 0], by[0, :, 0]])
    est = effects(theta[None, :])[0]
    V = np.zeros((theta.size, theta.size))
    for (Xe, T), sl in zip(designs, (slice(0, pm), slice(pm, theta.size))):
        e = T[:, 0] - Xe @ theta[sl]
        V[sl, sl] = np.linalg.inv(Xe.T @ Xe) * (e @ e / n)
    h = 1e-30  # complex-step derivatives: exact for these polynomial effects
    Gc = effects(theta[None, :] + 1j * h * np.eye(theta.size))
    G = (Gc.imag / h).T  # (q, P)
    se = np.sqrt(np.einsum("qi,ij,qj->q", G, V, G))
    # ---- bootstrap / Monte Carlo ----
    n_valid, warnings = 0, []
    alpha = (1 - level) / 2
    if n_boot and n_boot > 0:
        rng = np.random.default_rng(seed)
        if ci == "montecarlo":
            sim = effects(rng.multivariate_normal(theta, V, size=int(n_boot), method="eigh"))
        else:
            (bmb, _), (byb, _) = _boot_wls(designs, rng, int(n_boot))
            sim = effects(np.concatenate([bmb[:, :, 0], byb[:, :, 0]], axis=1))
        ok = np.isfinite(sim).all(axis=1)
        n_valid = int(ok.sum())
        sim = sim[ok]
        if n_valid >= 10:
            boot_se = sim.std(axis=0, ddof=1)
            if ci == "bca":
                jack = effects(np.concatenate([_loo_coefs(Xm, M[:, None])[:, :, 0],
                                               _loo_coefs(Xy, Y[:, None])[:, :, 0]], axis=1))
                lo, hi = bca_interval(sim, est, jack, level)
            else:
                lo, hi = np.quantile(sim, [alpha, 1 - alpha], axis=0)
        else:
            boot_se = lo = hi = np.full(est.shape, np.nan)
        if n_valid < n_boot:
            warnings.append(
                f"{int(n_boot) - n_valid} of {int(n_boot)} bootstrap resamples failed (near-singular design in "
                f"the resample) and were dropped; the CI uses the {n_valid} valid resamples"
                + (" (too few for an interval: CI is NA)" if n_valid < 10 else ""))
    else:
        boot_se = np.full(est.shape, np.nan)
        zc = stats.norm.ppf(1 - alpha)
        lo, hi = est - zc * se, est + zc * se
    n_failed = int(n_boot or 0) - n_valid if n_boot else 0
    tab = table(est, se, lo, hi, boot_se, boot_name, n_failed, "; ".join(warnings))
    return ModeratedMediationResult(x, m, y, w, model, covariates, vals.tolist(), n, int(n_boot or 0), n_valid,
                                    boot_name, level, tab, warnings=warnings)


# ----------------------------------------------------------------------------- sensitivity
@dataclass
class SensitivityResult:
    """Result of :func:`sensitivity` (Imai, Keele & Yamamoto 2010)."""

    x: str
    m: str
    y: str
    n: int
    rho_at_zero: float
    rsq_prod_residual: float
    rsq_prod_total: float
    r2_mediator: float
    r2_outcome: float
    acme_at_zero_rho: float
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Columns: rho, acme, ci_low, ci_high, rsq_prod_residual, rsq_prod_total."""
        return self.table.copy()

    def __repr__(self):
        return (f"SensitivityResult({self.x} -> {self.m} -> {self.y}, n={self.n}: ACME(0)="
                f"{self.acme_at_zero_rho:.4f}, rho at ACME=0: {self.rho_at_zero:.4f}, "
                f"R2*M R2*Y={self.rsq_prod_residual:.4f}, R2~M R2~Y={self.rsq_prod_total:.4f})")


def _acme_curve(beta2, s1, s2, rt, rho):
    return beta2[..., None] * (s1 / s2)[..., None] * (
        rt[..., None] - rho * np.sqrt((1 - rt[..., None] ** 2) / (1 - rho**2)))


def sensitivity(data, x, m, y, *, covariates=(), rhos=np.linspace(-0.9, 0.9, 181), level=0.95,
                n_boot=1000, seed=None):
    """ACME as a function of the mediator-outcome error correlation rho.

    Closed form (Imai, Keele & Yamamoto 2010, Theorem 2) for a linear mediator model
    ``M = a0 + beta2 X + C + e2`` and a linear outcome model without interaction; with
    ``e1`` the residual of the total-effect model ``Y ~ X + C``::

        ACME(rho) = beta2 * sigma1 / sigma2 * (rho~ - rho * sqrt((1 - rho~^2) / (1 - rho^2)))

    where ``rho~ = corr(e1, e2)`` and sigma = ML residual SD (``sqrt(RSS/n)``). Because
    ``rho / sqrt(1 - rho^2)`` is increasing, ACME = 0 exactly at ``rho* = rho~``; there the
    residual R-squared product is ``R2*_M R2*_Y = rho*^2`` and the total one
    ``R2~_M R2~_Y = rho*^2 (1 - R2_M)(1 - R2_Y)``. At rho = 0 the ACME equals the OLS
    product a*b. Matches R ``mediation::medsens`` for linear-linear models (point curve);
    the CI band here is a batched percentile bootstrap (``n_boot`` resamples).
    """
    Xa, Xb, M, Y, n = _prepare(data, x, [m], y, list(covariates))
    rhos = np.asarray(rhos, float)
    Xc = Xa  # total model has the same regressors as the mediator model

    def parts(W):
        ba, _ = _wls(Xa, W, M)
        bc, _ = _wls(Xc, W, Y[:, None])
        e2 = M[:, 0][None, :] - np.einsum("ni,bi->bn", Xa, ba[:, :, 0])
        e1 = Y[None, :] - np.einsum("ni,bi->bn", Xc, bc[:, :, 0])
        ws = W.sum(axis=1)
        s1 = np.sqrt((W * e1**2).sum(1) / ws)
        s2 = np.sqrt((W * e2**2).sum(1) / ws)
        rt = (W * e1 * e2).sum(1) / ws / (s1 * s2)
        return ba[:, 1, 0], s1, s2, rt

    beta2, s1, s2, rt = (v[0] for v in parts(np.ones((1, n))))
    acme = _acme_curve(np.array(beta2), np.array(s1), np.array(s2), np.array(rt), rhos)
    lo = hi = np.full(rhos.shape, np.nan)
    if n_boot and n_boot > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        W = case_counts(idx, n)
        bb = _acme_curve(*parts(W), rhos)
        alpha = (1 - level) / 2
        lo, hi = np.nanquantile(bb, [alpha, 1 - alpha], axis=0)
    r2m = 1 - np.sum((M[:, 0] - Xa @ np.linalg.lstsq(Xa, M[:, 0], rcond=None)[0]) ** 2) / np.sum(
        (M[:, 0] - M[:, 0].mean()) ** 2)
    r2y = 1 - np.sum((Y - Xb @ np.linalg.lstsq(Xb, Y, rcond=None)[0]) ** 2) / np.sum((Y - Y.mean()) ** 2)
    tab = pd.DataFrame({"rho": rhos, "acme": acme, "ci_low": lo, "ci_high": hi,
                        "rsq_prod_residual": rhos**2,
                        "rsq_prod_total": rhos**2 * (1 - r2m) * (1 - r2y)})
    acme0 = float(beta2 * s1 / s2 * rt)
    return SensitivityResult(x, m, y, n, float(rt), float(rt**2), float(rt**2 * (1 - r2m) * (1 - r2y)),
                             float(r2m), float(r2y), acme0, tab)


# ----------------------------------------------------------------------------- stage
MODEL_COMPARISON_COLUMNS = ["outcome", "mediator", "model", "description", "chisq", "df", "pvalue", "cfi",
                            "rmsea", "srmr", "loglik", "aic", "bic", "npar", "compared_to", "delta_chisq",
                            "delta_df", "lrt_pvalue", "equivalent_to", "n", "converged", "reason"]

#: name -> (description, equations as {dependent: [predictors]}, residual covariance pair or None)
_COMPETING_MODELS = {
    "mediation": ("X -> M -> Y with the direct X -> Y path (partial mediation)",
                  lambda x, m, y: {m: [x], y: [m, x]}, None),
    "full_mediation": ("X -> M -> Y, no direct X -> Y path",
                       lambda x, m, y: {m: [x], y: [m]}, None),
    "reverse_mediation": ("X -> Y -> M with the direct X -> M path (reverse order)",
                          lambda x, m, y: {y: [x], m: [y, x]}, None),
    "full_reverse_mediation": ("X -> Y -> M, no direct X -> M path",
                               lambda x, m, y: {y: [x], m: [y]}, None),
    "common_cause": ("X -> M and X -> Y with correlated M, Y residuals, no M -> Y path",
                     lambda x, m, y: {m: [x], y: [x]}, "cov"),
}


def compare_models(data, x, m, y, *, covariates=()):
    """Fit and compare the mediation, reverse-mediation and common-cause models of one triad.

    Five path models are fitted by maximum likelihood (:func:`efficacy.sem.sem`, which matches
    lavaan): partial mediation (X -> M -> Y plus X -> Y), full mediation (no X -> Y), partial and
    full reverse mediation (X -> Y -> M), and the common-cause model (X -> M, X -> Y, correlated
    M and Y residuals, no M -> Y). Covariates predict both M and Y in every model.

    The partial-mediation, partial-reverse and common-cause models are all saturated (df = 0) and
    observationally equivalent: they reproduce the covariances exactly, so no fit statistic can
    choose among them (Lee & Hershberger 1990; MacCallum et al. 1993). The table says so in
    ``equivalent_to`` rather than reporting a spurious winner. The full-mediation models have one
    degree of freedom and are tested against their partial versions by a likelihood-ratio test;
    AIC and BIC compare the two non-nested directions.

    Parameters
    ----------
    data : pandas.DataFrame
    x, m, y : str
        Treatment, mediator and (continuous) outcome columns.
    covariates : sequence of str

    Returns
    -------
    pandas.DataFrame
        One row per model, columns :data:`MODEL_COMPARISON_COLUMNS`.

    References
    ----------
    MacCallum, R. C., Wegener, D. T., Uchino, B. N., & Fabrigar, L. R. (1993). The problem of
    equivalent models in applications of covariance structure analysis. *Psychological Bulletin*,
    114(1), 185-199.
    """
    from efficacy.sem import sem

    covs = list(covariates)
    cols = [x, m, y, *covs]
    d = data[cols].dropna()
    rows, fits = [], {}
    for name, (desc, eqs, rescov) in _COMPETING_MODELS.items():
        lines = [f"{dv} ~ {' + '.join([*ivs, *covs])}" for dv, ivs in eqs(x, m, y).items()]
        if rescov:
            lines.append(f"{m} ~~ {y}")
        row = {c: np.nan for c in MODEL_COMPARISON_COLUMNS}
        row.update(outcome=y, mediator=m, model=name, description=desc, n=len(d), compared_to="",
                   equivalent_to="", reason="")
        try:
            res = sem(d, "\n".join(lines))
            f = res.fit
            row.update({k: f.get(k, np.nan) for k in ("chisq", "df", "pvalue", "cfi", "rmsea", "srmr",
                                                      "loglik", "aic", "bic", "npar")})
            if row["df"] == 0:  # saturated: the optimiser's 1e-11 residue is an exact zero
                row.update(chisq=0.0, rmsea=0.0, srmr=0.0)
            row.update(converged=bool(res.converged), reason=getattr(res, "reason", "") or "")
            fits[name] = f
        except (ValueError, np.linalg.LinAlgError) as exc:
            row.update(converged=False, reason=f"{type(exc).__name__}: {exc}")
        rows.append(row)
    t = pd.DataFrame(rows, columns=MODEL_COMPARISON_COLUMNS)
    saturated = [r["model"] for r in rows if r["df"] == 0]
    for i, r in t.iterrows():
        if r["model"] in saturated:
            t.at[i, "equivalent_to"] = ", ".join(o for o in saturated if o != r["model"])
    for restricted, free in (("full_mediation", "mediation"), ("full_reverse_mediation", "reverse_mediation")):
        if restricted in fits and free in fits:
            i = t.index[t["model"] == restricted][0]
            dc = fits[restricted]["chisq"] - fits[free]["chisq"]
            ddf = fits[restricted]["df"] - fits[free]["df"]
            t.loc[i, ["compared_to", "delta_chisq", "delta_df", "lrt_pvalue"]] = [
                free, dc, ddf, float(stats.chi2.sf(dc, ddf)) if ddf > 0 else np.nan]
    return t


def _panel_order(panel_comparison):
    """The temporal-order verdict of the panel stage (efficacy.panel.run_stage), or None."""
    if panel_comparison is None or len(panel_comparison) == 0 or "temporal_order" not in panel_comparison:
        return None
    t = panel_comparison
    rows = t[t["row_type"] == "verdict"] if "row_type" in t else t
    vals = rows["temporal_order"].dropna()
    if vals.empty:
        return None
    reason = rows["reason"].dropna().iloc[0] if "reason" in rows and rows["reason"].notna().any() else ""
    return {"order": str(vals.iloc[0]), "detail": str(reason)}


CAUSAL_COLUMNS = ["outcome", "mediator", "effect", "estimate", "ci_low", "ci_high", "p_value", "outcome_model",
                  "inference", "n_sims", "n_failed", "n", "reason"]


MODERATED_STAGE_COLUMNS = ["outcome", "mediator", "moderator", "model", *MODERATED_COLUMNS[:-1], "n", "reason"]


def _moderated_rows(clean, codebook, *, model, n_boot, ci, seed):
    """The ``moderated_mediation`` table of :func:`run_stage`: one :func:`moderated_mediation` per
    continuous outcome and mediator when the codebook declares ``design.moderator``, else a reason row."""
    des = codebook.design
    cols = MODERATED_STAGE_COLUMNS

    def na(reason, **kw):
        return pd.DataFrame([{c: kw.get(c, reason if c == "reason" else np.nan) for c in cols}])

    if des is None or not des.treatment or not des.mediators or not des.outcomes:
        return na("study declares no treatment, mediator and outcome in codebook design")
    w = des.moderator
    if not w:
        return na("study declares no moderator in codebook design (design.moderator): no moderated mediation")
    covs = [c for c in (des.covariates or []) if c != w]
    rows = []
    for out in des.outcomes:
        for mj in des.mediators:
            kw = dict(outcome=out, mediator=mj, moderator=w, model=model)
            if codebook.is_binary(out):
                rows.append(na("binary outcome: conditional indirect effects need a linear outcome model", **kw))
                continue
            try:
                r = moderated_mediation(clean, des.treatment, mj, out, w, model=model, covariates=covs,
                                        n_boot=n_boot, ci=ci, seed=seed)
            except ValueError as exc:
                rows.append(na(str(exc), **kw))
                continue
            rows.append(r.to_frame().assign(outcome=out, mediator=mj, moderator=w, model=model, n=r.n))
    return pd.concat(rows, ignore_index=True).reindex(columns=cols)


def run_stage(clean, codebook, *, n_boot=2000, seed=0, ci="bca", fragile_rho=0.2, n_sims=1000,
              moderated_model=7, panel_comparison=None):
    """Workflow entry point: the ``mediation`` stage of one study.

    Uses the codebook's design roles (treatment, mediators, outcomes, covariates). For each
    continuous outcome: :func:`mediate` (parallel mediators), :func:`sensitivity` per mediator and
    :func:`compare_models` per mediator; for every outcome, continuous or binary (logit),
    :func:`efficacy.causal.causal_mediation` per mediator. The verdict folds in the panel stage's
    temporal-order result when ``panel_comparison`` (``results/<study>/panel_comparison.csv``) is
    given.

    When the codebook declares ``design.moderator``, :func:`moderated_mediation` (PROCESS model
    ``moderated_model``, 7 or 14) runs per continuous outcome and mediator; otherwise the
    ``moderated_mediation`` table is one row saying why there is none.

    Returns
    -------
    dict
        ``mediation``, ``sensitivity``, ``causal_mediation``, ``model_comparison``,
        ``moderated_mediation`` tables and ``verdict`` (one column ``text`` with the markdown of
        :func:`verdict`). Analyses that could not run are rows with a ``reason``.
    """
    des = codebook.design
    med_rows, sens_rows, causal_rows, cmp_rows = [], [], [], []
    cols_med = ["outcome", "effect", "mediator", "estimate", "se", "ci_low", "ci_high", "pvalue",
                "z", "boot_se", "ci_method", "sobel_z", "sobel_p", "n_boot_failed", "n", "reason"]
    cols_sens = ["outcome", "mediator", "rho", "acme", "ci_low", "ci_high", "rsq_prod_residual",
                 "rsq_prod_total", "rho_at_zero", "n", "reason"]
    summaries = []
    panel = _panel_order(panel_comparison)
    moderated = _moderated_rows(clean, codebook, model=moderated_model, n_boot=n_boot, ci=ci, seed=seed)

    def na(cols, reason, **kw):
        return pd.DataFrame([{c: kw.get(c, reason if c == "reason" else np.nan) for c in cols}])

    def not_fitted(out, reason):
        """Sensitivity and model-comparison rows for an outcome whose mediation model failed."""
        for mj in des.mediators:
            sens_rows.append(na(cols_sens, reason, outcome=out, mediator=mj))
            cmp_rows.append(na(MODEL_COMPARISON_COLUMNS, reason, outcome=out, mediator=mj))

    if des is None or not des.treatment or not des.mediators or not des.outcomes:
        reason = "study declares no treatment, mediator and outcome in codebook design"
        text = verdict(codebook, [], fragile_rho=fragile_rho, reason=reason, panel=panel)
        return {"mediation": na(cols_med, reason), "sensitivity": na(cols_sens, reason),
                "causal_mediation": na(CAUSAL_COLUMNS, reason),
                "model_comparison": na(MODEL_COMPARISON_COLUMNS, reason),
                "moderated_mediation": moderated, "verdict": pd.DataFrame({"text": [text]})}
    covs = list(des.covariates or [])
    for out in des.outcomes:
        binary = codebook.is_binary(out)
        for mj in des.mediators:
            try:
                cm = causal_mediation(clean, des.treatment, mj, out, covariates=covs,
                                      outcome_model="logit" if binary else "linear", n_sims=n_sims, seed=seed)
                ct = cm.to_frame()
                ct.insert(0, "mediator", mj)
                ct.insert(0, "outcome", out)
                ct = ct.assign(outcome_model=cm.outcome_model, inference=cm.inference, n_sims=cm.n_sims,
                               n_failed=cm.n_failed, n=cm.n, reason=cm.reason)
                causal_rows.append(ct)
                if binary:
                    acme = ct.set_index("effect").loc["acme_average"]
                    summaries.append({"outcome": out, "mediator": mj, "binary": True, "acme": acme.estimate,
                                      "ci_low": acme.ci_low, "ci_high": acme.ci_high, "n": cm.n,
                                      "reason_causal": cm.reason})
            except ValueError as exc:
                causal_rows.append(na(CAUSAL_COLUMNS, str(exc), outcome=out, mediator=mj))
                if binary:
                    summaries.append({"outcome": out, "mediator": mj, "reason": str(exc)})
        if binary:
            reason = ("binary outcome: the product-of-coefficients indirect effect is not defined on the "
                      "probability scale; see causal_mediation.csv (logit outcome model)")
            med_rows.append(na(cols_med, reason, outcome=out))
            sens_rows.append(na(cols_sens, "binary outcome: the closed-form sensitivity analysis needs a "
                                           "linear outcome model", outcome=out))
            cmp_rows.append(na(MODEL_COMPARISON_COLUMNS, "binary outcome: the linear path models do not apply",
                               outcome=out))
            continue
        try:
            res = mediate(clean, des.treatment, list(des.mediators), out, covariates=covs,
                          n_boot=n_boot, ci=ci, seed=seed)
        except ValueError as exc:
            med_rows.append(na(cols_med, str(exc), outcome=out))
            summaries.append({"outcome": out, "reason": str(exc)})
            not_fitted(out, f"the mediation model was not fitted: {exc}")
            continue
        t = res.to_frame()
        t.insert(0, "outcome", out)
        t["n"] = res.n
        med_rows.append(t)
        if res.reason:
            summaries.append({"outcome": out, "reason": res.reason})
            not_fitted(out, f"the mediation model was not fitted: {res.reason}")
            continue
        for mj in des.mediators:
            try:
                cmp_rows.append(compare_models(clean, des.treatment, mj, out, covariates=covs))
            except ValueError as exc:
                cmp_rows.append(na(MODEL_COMPARISON_COLUMNS, str(exc), outcome=out, mediator=mj))
            try:
                s = sensitivity(clean, des.treatment, mj, out, covariates=covs, n_boot=min(n_boot, 1000),
                                seed=seed)
            except ValueError as exc:
                sens_rows.append(na(cols_sens, str(exc), outcome=out, mediator=mj))
                summaries.append({"outcome": out, "mediator": mj, "reason": str(exc)})
                continue
            st = s.to_frame()
            st.insert(0, "mediator", mj)
            st.insert(0, "outcome", out)
            st["rho_at_zero"] = s.rho_at_zero
            st["n"] = s.n
            st["reason"] = ""
            sens_rows.append(st)
            ind = t[(t["effect"] == "indirect") & (t["mediator"] == mj)].iloc[0]
            a = t[(t["effect"] == "a") & (t["mediator"] == mj)].iloc[0]
            cmp = cmp_rows[-1].set_index("model") if "model" in cmp_rows[-1] else None
            summaries.append({"outcome": out, "mediator": mj, "indirect": ind.estimate,
                              "ci_low": ind.ci_low, "ci_high": ind.ci_high, "a": a.estimate,
                              "a_p": a.pvalue, "rho_at_zero": s.rho_at_zero,
                              "rsq_total": s.rsq_prod_total, "n": res.n, "ci": res.ci, "comparison": cmp})
    med = pd.concat(med_rows, ignore_index=True).reindex(columns=cols_med)
    sens = pd.concat(sens_rows, ignore_index=True).reindex(columns=cols_sens) if sens_rows else \
        pd.DataFrame(columns=cols_sens)
    causal = pd.concat(causal_rows, ignore_index=True).reindex(columns=CAUSAL_COLUMNS)
    cmp_t = pd.concat(cmp_rows, ignore_index=True).reindex(columns=MODEL_COMPARISON_COLUMNS) if cmp_rows else \
        na(MODEL_COMPARISON_COLUMNS, "no continuous outcome")
    text = verdict(codebook, summaries, fragile_rho=fragile_rho, panel=panel, moderated=moderated)
    return {"mediation": med, "sensitivity": sens, "causal_mediation": causal, "model_comparison": cmp_t,
            "moderated_mediation": moderated, "verdict": pd.DataFrame({"text": [text]})}


def verdict(codebook, summaries, *, fragile_rho=0.2, reason=None, panel=None, moderated=None):
    """Plain-words markdown verdict on what the design supports, per outcome and mediator.

    ``panel`` is the temporal-order result of the panel stage (``{"order": ..., "detail": ...}``)
    for studies with waves; ``moderated`` the ``moderated_mediation`` table of :func:`run_stage`
    (a section is added when the study declares a moderator).
    """
    des = codebook.design
    lines = [f"# Mediation verdict: {codebook.study}", ""]
    if reason:
        lines += [f"No mediation analysis: {reason}.", ""]
        if panel is not None:
            lines += [f"Panel stage (RI-CLPM, within persons): temporal order supports {panel['order']}."
                      + (f" ({panel['detail']})" if panel.get("detail") else ""), ""]
        return "\n".join(lines)
    lines += [
        f"Treatment `{des.treatment}`; mediators {', '.join(f'`{m}`' for m in des.mediators)}; "
        f"covariates {', '.join(f'`{c}`' for c in des.covariates) or 'none'}.",
        "",
        "- If the treatment was randomised, the a-path (treatment -> mediator) is causal.",
        "- The b-path (mediator -> outcome) rests on sequential ignorability: no unmeasured "
        "confounder of mediator and outcome. The sensitivity rho (the error correlation at which "
        "the indirect effect vanishes) is the honest measure of how robust the mediation claim is.",
    ]
    if not getattr(codebook, "waves", None):
        lines.append("- These data are cross-sectional (no waves): they cannot establish the "
                     "temporal order of mediator and outcome.")
    elif panel is None:
        lines.append("- The study has waves: see the panel stage for temporal order.")
    else:
        order = panel["order"]
        said = {"efficacy -> behaviour": "temporal order supports efficacy -> behaviour (efficacy predicts "
                                          "later behaviour within persons, not the reverse)",
                "behaviour -> efficacy": "temporal order supports behaviour -> efficacy (behaviour predicts "
                                          "later efficacy within persons: mastery feeding belief)",
                "both": "temporal order supports both directions (reciprocal within-person effects)",
                "neither": "temporal order supports neither direction (no within-person lagged effect)"}
        lines.append(f"- Panel stage (RI-CLPM, within persons): {said.get(order, order)}."
                     + (f" ({panel['detail']})" if panel.get("detail") else ""))
    lines.append("")
    for s in summaries:
        head = f"## {s.get('mediator', '')} -> {s['outcome']}".replace("##  -> ", "## ")
        lines.append(head)
        if "reason" in s:
            lines += [f"Not analysed: {s['reason']}.", ""]
            continue
        if s.get("binary"):
            if s.get("reason_causal"):
                lines += [f"Causal mediation not estimated: {s['reason_causal']}.", ""]
                continue
            excl = not (s["ci_low"] <= 0 <= s["ci_high"])
            lines += [f"Binary outcome: causal mediation (logit outcome model, Imai, Keele & Tingley 2010), "
                      f"average ACME {s['acme']:.4f} on the probability scale, 95% CI [{s['ci_low']:.4f}, "
                      f"{s['ci_high']:.4f}] ({'excludes' if excl else 'includes'} zero; n = {s['n']}). "
                      "Its sensitivity to mediator-outcome confounding is not computed (no closed form for a "
                      "binary outcome); the b-path rests on sequential ignorability.",
                      "Verdict: " + ("indirect effect present under sequential ignorability." if excl
                                     else "no evidence of mediation."), ""]
            continue
        excl = not (s["ci_low"] <= 0 <= s["ci_high"])
        rho0 = s["rho_at_zero"]
        fragile = abs(rho0) < fragile_rho
        lines.append(
            f"Indirect effect {s['indirect']:.4f}, {s['ci']} 95% CI [{s['ci_low']:.4f}, {s['ci_high']:.4f}] "
            f"({'excludes' if excl else 'includes'} zero; n = {s['n']}). "
            f"Rho at which the indirect effect is zero: {rho0:.3f} "
            f"(total R-squared product {s['rsq_total']:.4f}).")
        if not excl:
            lines.append("Verdict: no evidence of mediation.")
        elif fragile:
            lines.append(f"Verdict: FRAGILE. |rho| at zero ({abs(rho0):.3f}) is below {fragile_rho}: a modest "
                         "unmeasured common cause of mediator and outcome would explain the indirect "
                         "effect, so the association may be confounded.")
        else:
            lines.append(f"Verdict: ROBUST to mediator-outcome confounding up to |rho| = {abs(rho0):.3f} "
                         f"(threshold {fragile_rho}); still an assumption, not a proof.")
        cmp = s.get("comparison")
        if cmp is not None and "full_mediation" in cmp.index:
            fm, fr = cmp.loc["full_mediation"], cmp.loc["full_reverse_mediation"]
            lines.append(
                "Model comparison: partial mediation, reverse mediation and the common-cause model are "
                "equivalent (saturated, identical fit), so these data cannot tell a mediating efficacy from "
                "a common cause. "
                + (f"Full mediation (no direct path): LRT p = {fm['lrt_pvalue']:.3g}; " if np.isfinite(
                    fm["lrt_pvalue"]) else "")
                + (f"AIC full mediation {fm['aic']:.1f} vs full reverse mediation {fr['aic']:.1f}"
                   if np.isfinite(fm["aic"]) and np.isfinite(fr["aic"]) else "")
                + " (lower is better; a cross-sectional comparison of directions, not a test of causation).")
        lines.append("")
    lines += _moderated_verdict(moderated)
    return "\n".join(lines)


def _moderated_verdict(t):
    """Markdown lines on the index of moderated mediation, per outcome and mediator."""
    if t is None or len(t) == 0 or t["moderator"].isna().all():
        return []
    out = []
    for (outcome, mediator), g in t.groupby(["outcome", "mediator"], sort=False):
        w, model = g["moderator"].iloc[0], g["model"].iloc[0]
        out.append(f"## Moderated mediation: {mediator} -> {outcome} by `{w}` (PROCESS model {int(model)})")
        idx = g[g["effect"] == "index"]
        if idx.empty or not np.isfinite(idx["estimate"].iloc[0]):
            out += [f"Not analysed: {g['reason'].dropna().iloc[0] if g['reason'].notna().any() else 'no estimate'}.",
                    ""]
            continue
        r = idx.iloc[0]
        excl = np.isfinite(r.ci_low) and not (r.ci_low <= 0 <= r.ci_high)
        cond = "; ".join(f"{w} = {c.w_value:g}: {c.estimate:.4f} [{c.ci_low:.4f}, {c.ci_high:.4f}]"
                         for c in g[g["effect"] == "conditional_indirect"].itertuples())
        out += [f"Index of moderated mediation {r.estimate:.4f}, {r.ci_method} 95% CI [{r.ci_low:.4f}, "
                f"{r.ci_high:.4f}]: " + (f"the indirect effect depends on `{w}`." if excl else
                                         f"no evidence that the indirect effect depends on `{w}`.")
                + f" Conditional indirect effects: {cond}.", ""]
    return out


# Latent mediation (the mediator scale as a factor) lives in efficacy.latent; re-exported here (issue #5).
from efficacy.latent import latent_mediation  # noqa: E402

__all__ += ["latent_mediation"]
