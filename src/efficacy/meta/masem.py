"""Meta-analytic structural equation modelling of pooled correlation matrices.

:func:`rcalc` stacks study correlations with their Olkin-Siotani covariances (metafor's
``rcalc()``); :func:`masem` pools them by multivariate random-effects GLS (``rma.mv(struct =
"UN")``) and fits the path model by ``matreg()`` (Becker 1992, 2009).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from .._api import check_columns, renamed
from ..errors import MetaError
from ..results import ResultMixin
from .univariate import _tau2

__all__ = ["MASEMResult", "rcalc", "masem"]


# --------------------------------------------------------------------------- meta-analytic SEM
def _os_cov(R, n, pairs):
    """Olkin & Siotani (1976) large-sample covariances of correlations (divisor n - 1, as metafor rcalc)."""
    m = len(pairs)
    C = np.full((m, m), np.nan)
    for a, (s, t) in enumerate(pairs):
        for b, (u, w) in enumerate(pairs):
            r = lambda i, j: 1.0 if i == j else R[i, j]  # noqa: E731
            val = (0.5 * r(s, t) * r(u, w) * (r(s, u) ** 2 + r(s, w) ** 2 + r(t, u) ** 2 + r(t, w) ** 2)
                   + r(s, u) * r(t, w) + r(s, w) * r(t, u)
                   - (r(s, t) * r(s, u) * r(s, w) + r(t, s) * r(t, u) * r(t, w) + r(u, s) * r(u, t) * r(u, w)
                      + r(w, s) * r(w, t) * r(w, u)))
            C[a, b] = val / (n - 1)
    return C


def rcalc(data, ri="ri", ni="ni", var1="var1", var2="var2", study="study"):
    """Within-study var-cov matrix of correlation coefficients (metafor ``rcalc()``).

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row per correlation ``ri`` between ``var1`` and ``var2`` in ``study``
        with sample size ``ni``.

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        The long table of all pairs per study (``study, var1.var2, yi, ni``; missing pairs as
        NaN) in the order of metafor, and the block-diagonal matrix ``V`` (Olkin & Siotani, 1976;
        NaN where a covariance needs a correlation the study did not report).
    """
    check_columns(data, [("study", study), ("var1", var1), ("var2", var2), ("ri", ri), ("ni", ni)])
    d = data[[study, var1, var2, ri, ni]].copy()
    for col in (var1, var2):
        d[col] = d[col].astype(str)
    d = d[d[ri].notna()]
    bad = d.index[~(d[ri].abs() < 1)]
    if len(bad):
        raise MetaError("correlation outside (-1, 1)", where=f"row {bad[0]}, column {ri}", found=d.loc[bad[0], ri])
    varnames = sorted(set(d[var1]) | set(d[var2]))
    idx = {v: i for i, v in enumerate(varnames)}
    # the pairs in the order of the first study that reports them (metafor keeps the input orientation)
    pairs, labels = [], []
    for _, row in d.iterrows():
        a, b = sorted((row[var1], row[var2]), key=idx.get)
        if (idx[a], idx[b]) not in pairs:
            pairs.append((idx[a], idx[b]))
            labels.append(f"{a}.{b}")
    rows, blocks = [], []
    for s, g in d.groupby(study, sort=False):
        R = np.full((len(varnames), len(varnames)), np.nan)
        n = float(g[ni].iloc[0])
        for _, row in g.iterrows():
            i, j = idx[row[var1]], idx[row[var2]]
            R[i, j] = R[j, i] = row[ri]
        y = np.array([R[i, j] for i, j in pairs])
        blocks.append(_os_cov(R, n, pairs))
        rows.append(pd.DataFrame({"study": s, "var1.var2": labels, "yi": y, "ni": n}))
    V = np.full((sum(b.shape[0] for b in blocks),) * 2, 0.0)
    o = 0
    for b in blocks:
        V[o:o + len(b), o:o + len(b)] = b
        o += len(b)
    out = pd.concat(rows, ignore_index=True)
    miss = np.isnan(out["yi"].to_numpy())
    V[miss, :] = np.nan
    V[:, miss] = np.nan
    return out, V


def _mv_un(y, V, X, study, maxiter=20000, *, struct="UN", method="REML"):
    """Multivariate random-effects model with an unstructured or diagonal between-study matrix.

    Matches ``rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | study, struct = "UN")``
    (``struct="DIAG"``: ``struct = "DIAG"``; ``method="ML"``: ``method = "ML"``). The between-study
    matrix is ``T = L L'`` (Cholesky factor with log-diagonal; lower triangle for UN, diagonal for
    DIAG), fitted by quasi-Newton with the analytic gradient of the (restricted) log-likelihood.

    Returns ``(b, vcov(b), T, logLik, converged)``; ``logLik`` is metafor's (REML with its
    ``+ 1/2 log|X'X|`` term).
    """
    n, q = X.shape
    S = (study[:, None] == study[None, :]).astype(float)
    li = np.tril_indices(q) if struct == "UN" else np.diag_indices(q)
    on_diag = li[0] == li[1]
    reml = method == "REML"
    logdet_xx = np.linalg.slogdet(X.T @ X)[1]

    def L_of(theta):
        L = np.zeros((q, q))
        L[li] = theta
        L[np.diag_indices(q)] = np.exp(np.diag(L))
        return L

    def parts(theta):
        L = L_of(theta)
        Phi = V + S * (X @ (L @ L.T) @ X.T)
        try:
            C = linalg.cho_factor(Phi, lower=True)
        except linalg.LinAlgError:
            return None
        Pi = linalg.cho_solve(C, np.eye(n))
        XtPiX = X.T @ Pi @ X
        b = np.linalg.solve(XtPiX, X.T @ Pi @ y)
        r = Pi @ (y - X @ b)
        return L, Pi, XtPiX, b, r, 2 * np.log(np.diag(C[0])).sum()

    def f(theta):
        pr = parts(theta)
        if pr is None:
            return np.inf, np.zeros_like(theta)
        L, Pi, XtPiX, b, r, logdet = pr
        quad = float((y - X @ b) @ r)
        if reml:
            nll = 0.5 * (logdet + np.linalg.slogdet(XtPiX)[1] - logdet_xx + quad + (n - q) * np.log(2 * np.pi))
            PiX = Pi @ X
            P = Pi - PiX @ np.linalg.solve(XtPiX, PiX.T)
        else:
            nll = 0.5 * (logdet + quad + n * np.log(2 * np.pi))
            P = Pi
        G = 0.5 * (X.T @ ((P - np.outer(r, r)) * S) @ X)  # d nll / d T
        gL = 2 * G @ L
        g = gL[li] * np.where(on_diag, L[li], 1.0)  # the diagonal is on the log scale
        return nll, g

    # start from the univariate DL estimates
    t0 = []
    for j in range(q):
        m = X[:, j] == 1
        t0.append(max(_tau2(y[m], np.diag(V)[m], np.ones((m.sum(), 1)), "DL")[0], 1e-3))
    theta = np.diag(np.log(np.sqrt(t0)))[li]
    r = optimize.minimize(f, theta, jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": maxiter})
    r2 = optimize.minimize(f, r.x, jac=True, method="L-BFGS-B",
                           options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": maxiter})
    x = r2.x if r2.fun <= r.fun else r.x
    val, g = f(x)
    L, Pi, XtPiX, b, _, _ = parts(x)
    T = L @ L.T
    return b, np.linalg.inv(XtPiX), T, -val, bool(np.isfinite(val) and np.max(np.abs(g)) < 1e-4)


def _matreg(Rm, x, yv):
    return np.linalg.solve(Rm[np.ix_(x, x)], Rm[x, yv])


@dataclass
class MASEMResult(ResultMixin):
    """Two-stage MASEM result: pooled correlations, path coefficients, indirect effects.

    ``to_frame()`` stacks the three tables (column ``table``: pooled, path, indirect) with the
    columns ``estimate``, ``se``, ``statistic``, ``pvalue``, ``ci_low``, ``ci_high``.
    """

    variables: list
    pooled: pd.DataFrame
    R: pd.DataFrame
    tau2: pd.DataFrame
    paths: pd.DataFrame
    indirect: pd.DataFrame
    k: int
    n_harmonic: float
    dropped: list
    converged: bool

    _headline = ("k", "n_harmonic", "variables", "converged")
    _title = "Two-stage meta-analytic SEM"
    _summary_columns = ("table", "pair", "outcome", "predictor", "from", "via", "to", "estimate", "se", "statistic",
                        "pvalue", "ci_low", "ci_high", "tau2")

    def __repr__(self):
        return (f"MASEMResult(variables={self.variables}, k={self.k}, paths={len(self.paths)}, "
                f"indirect={len(self.indirect)})")

    def to_frame(self):
        a = self.pooled.assign(table="pooled")
        b = self.paths.assign(table="path")
        c = self.indirect.assign(table="indirect")
        return pd.concat([a, b, c], ignore_index=True)


@renamed(level="ci_level")
def masem(data, model, *, ri="ri", ni="ni", var1="var1", var2="var2", study="study", ci_level=0.95):
    """Two-stage meta-analytic structural equation model (Becker & Aloe, 2019; Cheung, 2015).

    Stage 1 pools the correlation matrices with a multivariate random-effects model on the raw
    correlations and their Olkin-Siotani var-cov matrix (metafor ``rcalc()`` then
    ``rma.mv(yi, V, mods = ~ var1.var2 - 1, random = ~ var1.var2 | study, struct = "UN")``).
    Stage 2 fits the path model on the pooled matrix: each equation is a standardised
    regression ``b = R_xx^-1 r_xy`` (metafor ``matreg()``); SEs of all path coefficients and of
    the indirect effects (products of paths) come from the multivariate delta method with the
    var-cov matrix of the pooled correlations (Becker, 1992), so no single "N" is assumed;
    the harmonic mean N is reported for reference. CIs are Wald.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per correlation (``study, ri, ni, var1, var2``).
    model : dict
        ``{outcome: [predictors]}``, e.g. ``{"conf": ["acog", "asom"], "perf": ["acog", "asom", "conf"]}``.
        Indirect effects are every path x -> m -> y with m an outcome of one equation and a
        predictor of another.
    ri, ni, var1, var2, study : str
        Column names of the correlation, the sample size, the two variables and the study.
    ci_level : float
        Level of the Wald intervals.

    Returns
    -------
    MASEMResult
    """
    level = ci_level
    long, V = rcalc(data, ri=ri, ni=ni, var1=var1, var2=var2, study=study)
    y = long["yi"].to_numpy()
    ok = ~np.isnan(y)
    ok &= ~np.isnan(np.where(ok[:, None] & ok[None, :], V, 0)).any(axis=1)
    dropped = sorted(set(long.loc[~np.isnan(y) & ~ok, "study"]))
    long_ok = long[ok].reset_index(drop=True)
    Vk = V[np.ix_(ok, ok)]
    labels = sorted(long["var1.var2"].unique())
    X = (long_ok["var1.var2"].to_numpy()[:, None] == np.array(labels)[None, :]).astype(float)
    st = long_ok["study"].to_numpy()
    b, vb, T, ll, conv = _mv_un(long_ok["yi"].to_numpy(), Vk, X, st)
    variables = sorted(set(data[var1].astype(str)) | set(data[var2].astype(str)))
    idx = {v: i for i, v in enumerate(variables)}
    pair_idx = [tuple(idx[p] for p in lab.split(".")) for lab in labels]

    def to_R(r):
        Rm = np.eye(len(variables))
        for (i, j), val in zip(pair_idx, r):
            Rm[i, j] = Rm[j, i] = val
        return Rm

    eqs = [(out, list(preds)) for out, preds in model.items()]
    for out, preds in eqs:
        for v in [out, *preds]:
            if v not in idx:
                raise MetaError(f"variable {v!r} of the path model not in the data", expected=", ".join(variables))

    def paths_of(r):
        Rm = to_R(r)
        return np.concatenate([_matreg(Rm, [idx[p] for p in preds], idx[out]) for out, preds in eqs])

    names = [(out, p) for out, preds in eqs for p in preds]
    coef_pos = {nm: i for i, nm in enumerate(names)}
    ind = []
    for (m, x) in names:  # x -> m
        for (yv, m2) in names:
            if m2 == m and yv != x:
                ind.append((x, m, yv))

    def all_of(r):
        pc = paths_of(r)
        return np.concatenate([pc, [pc[coef_pos[(m, x)]] * pc[coef_pos[(yv, m)]] for x, m, yv in ind]])

    est = all_of(b)
    h = 1e-6
    J = np.column_stack([(all_of(b + h * e) - all_of(b - h * e)) / (2 * h) for e in np.eye(len(b))])
    cov = J @ vb @ J.T
    se = np.sqrt(np.diag(cov))
    z = est / se
    crit = stats.norm.ppf(1 - (1 - level) / 2)
    tab = pd.DataFrame({"estimate": est, "se": se, "statistic": z, "pvalue": 2 * stats.norm.sf(np.abs(z)),
                        "ci_low": est - crit * se, "ci_high": est + crit * se})
    npth = len(names)
    paths = pd.concat([pd.DataFrame({"outcome": [o for o, _ in names], "predictor": [p for _, p in names]}),
                       tab.iloc[:npth].reset_index(drop=True)], axis=1)
    indirect = pd.concat([pd.DataFrame({"from": [x for x, _, _ in ind], "via": [m for _, m, _ in ind],
                                        "to": [yv for _, _, yv in ind]}),
                          tab.iloc[npth:].reset_index(drop=True)], axis=1)
    sb = np.sqrt(np.diag(vb))
    pooled = pd.DataFrame({"pair": labels, "estimate": b, "se": sb, "ci_low": b - crit * sb, "ci_high": b + crit * sb,
                           "tau2": np.diag(T)})
    n_study = data.groupby(study)[ni].first().to_numpy(float)
    return MASEMResult(variables=variables, pooled=pooled, R=pd.DataFrame(to_R(b), index=variables, columns=variables),
                       tau2=pd.DataFrame(T, index=labels, columns=labels), paths=paths, indirect=indirect,
                       k=len(set(st)), n_harmonic=float(len(n_study) / np.sum(1 / n_study)), dropped=dropped,
                       converged=conv)
