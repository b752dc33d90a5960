"""Measurement models: single-group ML CFA fit and discriminant validity (HTMT).

Shipped: ``cfa_fit`` (simple-structure ML CFA, lavaan ``cfa()`` defaults, fit measures, AVE and
Fornell-Larcker; no SEs) and
``htmt``. Not done (issue #4): SEs/estimate table, multi-group invariance, FIML, modification indices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
import pandas as pd

__all__ = ["htmt", "HTMTResult", "cfa_fit", "CFAFit"]


@dataclass
class HTMTResult:
    """HTMT matrix with percentile bootstrap confidence intervals."""

    scales: list
    estimate: pd.DataFrame
    ci_low: pd.DataFrame
    ci_high: pd.DataFrame
    n_boot: int
    level: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per scale pair."""
        rows = []
        for i, a in enumerate(self.scales):
            for b in self.scales[i + 1:]:
                rows.append({"scale_1": a, "scale_2": b, "htmt": self.estimate.loc[a, b],
                             "ci_low": self.ci_low.loc[a, b], "ci_high": self.ci_high.loc[a, b],
                             "method": self.method, "n_boot": self.n_boot})
        return pd.DataFrame(rows)


def _corr_batch(x: np.ndarray) -> np.ndarray:
    # x: (B, n, p) -> (B, p, p) Pearson correlations
    xc = x - x.mean(axis=1, keepdims=True)
    c = np.einsum("bni,bnj->bij", xc, xc)
    d = np.sqrt(np.einsum("bii->bi", c))
    return c / d[:, :, None] / d[:, None, :]


def _htmt_from_r(r: np.ndarray, idx: list, geometric: bool) -> np.ndarray:
    r = np.abs(r)
    k = len(idx)
    out = np.ones(r.shape[:-2] + (k, k))

    def mono(ii):
        sub = r[..., ii, :][..., :, ii]
        iu = np.triu_indices(len(ii), 1)
        v = sub[..., iu[0], iu[1]]
        return np.exp(np.log(v).mean(-1)) if geometric else v.mean(-1)

    monos = [mono(ii) for ii in idx]
    for a in range(k):
        for b in range(a + 1, k):
            v = r[..., idx[a], :][..., :, idx[b]].reshape(r.shape[:-2] + (-1,))
            het = np.exp(np.log(v).mean(-1)) if geometric else v.mean(-1)
            out[..., a, b] = out[..., b, a] = het / np.sqrt(monos[a] * monos[b])
    return out


def htmt(data: pd.DataFrame, scales: dict, *, method: str = "geometric", n_boot: int = 0,
         level: float = 0.95, seed=None) -> HTMTResult:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt, 2015).

    ``method="geometric"`` is HTMT2 (Roemer, Schuberth & Henseler, 2021), matching
    ``semTools::htmt(..., htmt2 = TRUE)``; ``method="arithmetic"`` is the original HTMT
    (``htmt2 = FALSE``). Absolute item correlations are used (semTools default), complete cases only.
    Percentile bootstrap CIs are computed vectorised over resamples when ``n_boot > 0``.

    Examples
    --------
    >>> res = htmt(df, {"a": ["a1", "a2", "a3"], "b": ["b1", "b2", "b3"]}, n_boot=500, seed=1)  # doctest: +SKIP
    """
    if method not in ("geometric", "arithmetic"):
        raise ValueError(f"method must be 'geometric' or 'arithmetic', got {method!r}")
    if len(scales) < 2:
        raise ValueError("htmt needs at least two scales")
    cols: list = []
    idx = []
    for name, items in scales.items():
        if len(items) < 2:
            raise ValueError(f"scale {name!r} needs at least two items, got {items!r}")
        missing = [c for c in items if c not in data.columns]
        if missing:
            raise ValueError(f"scale {name!r}: columns not in data: {missing}")
        idx.append(list(range(len(cols), len(cols) + len(items))))
        cols.extend(items)
    x = data[cols].dropna().to_numpy(dtype=float)
    geometric = method == "geometric"
    names = list(scales)
    est = _htmt_from_r(np.corrcoef(x, rowvar=False), idx, geometric)
    lo = np.full_like(est, np.nan)
    hi = np.full_like(est, np.nan)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        n = x.shape[0]
        boots = []
        for start in range(0, n_boot, 200):  # chunks bound memory; each chunk is batched linear algebra
            b = min(200, n_boot - start)
            ii = rng.integers(0, n, size=(b, n))
            boots.append(_htmt_from_r(_corr_batch(x[ii]), idx, geometric))
        boots = np.concatenate(boots)
        a = (1 - level) / 2
        lo, hi = np.nanquantile(boots, [a, 1 - a], axis=0)
    f = lambda m: pd.DataFrame(m, index=names, columns=names)  # noqa: E731
    return HTMTResult(names, f(est), f(lo), f(hi), n_boot, level, method)


@dataclass
class CFAFit:
    """Fit of a simple-structure CFA (lavaan fitMeasures names in ``fit``)."""

    converged: bool
    proper: bool
    warnings: list
    fit: dict
    loadings: pd.DataFrame
    factor_cov: pd.DataFrame = None
    residual_var: pd.Series = None

    def ave(self) -> pd.Series:
        """Average variance extracted per factor (Fornell & Larcker, 1981); matches ``semTools::AVE``."""
        out = {}
        for f in self.loadings.columns:
            items = self.loadings.index[self.loadings[f] != 0]
            expl = self.loadings.loc[items, f] ** 2 * self.factor_cov.loc[f, f]
            out[f] = expl.sum() / (expl + self.residual_var[items]).sum()
        return pd.Series(out, name="ave")

    def fornell_larcker(self) -> pd.DataFrame:
        """Factor correlations per pair with sqrt(AVE) of each; ``pass`` when both sqrt(AVE) exceed |r|."""
        a = np.sqrt(self.ave())
        d = np.sqrt(np.diag(self.factor_cov.to_numpy()))
        r = self.factor_cov / np.outer(d, d)
        names = list(self.loadings.columns)
        rows = []
        for i, x in enumerate(names):
            for y in names[i + 1:]:
                rows.append({"scale_1": x, "scale_2": y, "factor_cor": r.loc[x, y], "sqrt_ave_1": a[x],
                             "sqrt_ave_2": a[y], "pass": bool(min(a[x], a[y]) > abs(r.loc[x, y]))})
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """One-row table of fit measures plus convergence flags."""
        return pd.DataFrame([{**self.fit, "converged": self.converged, "proper": self.proper,
                              "warnings": "; ".join(self.warnings)}])


def cfa_fit(data: pd.DataFrame, scales: dict) -> CFAFit:
    """Maximum-likelihood CFA with one factor per scale (first loading fixed to 1, correlated factors).

    Matches ``lavaan::cfa(model, data)`` (likelihood "normal", biased covariance, listwise deletion):
    chisq, df, pvalue, cfi, tli, rmsea, srmr (Bentler), loglik, aic, bic, baseline_chisq/df, npar, n.

    Examples
    --------
    >>> cfa_fit(df, {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"]}).fit["cfi"]  # doctest: +SKIP
    """
    cols, idx = [], []
    for name, items in scales.items():
        missing = [c for c in items if c not in data.columns]
        if missing:
            raise ValueError(f"scale {name!r}: columns not in data: {missing}")
        idx.append(list(range(len(cols), len(cols) + len(items))))
        cols.extend(items)
    x = data[cols].dropna().to_numpy(dtype=float)
    n, p = x.shape
    m = len(idx)
    S = np.cov(x, rowvar=False, bias=True)
    _, logdetS = np.linalg.slogdet(S)
    lam_pos = [(i, f) for f, ii in enumerate(idx) for i in ii[1:]]
    tril = np.tril_indices(m)

    def unpack(t):
        L = np.zeros((p, m))
        for f, ii in enumerate(idx):
            L[ii[0], f] = 1.0
        k = len(lam_pos)
        for j, (i, f) in enumerate(lam_pos):
            L[i, f] = t[j]
        P = np.zeros((m, m))
        P[tril] = t[k:k + len(tril[0])]
        P = P + np.tril(P, -1).T
        th = t[k + len(tril[0]):]
        return L, P, th

    def fml(t):
        L, P, th = unpack(t)
        Sig = L @ P @ L.T + np.diag(th)
        sgn, ld = np.linalg.slogdet(Sig)
        if sgn <= 0:
            return 1e10
        return ld + np.trace(np.linalg.solve(Sig, S)) - logdetS - p

    # lavaan "simple"-like starts: loadings 1, residual variances half the observed variance
    t0 = np.concatenate([np.ones(len(lam_pos)),
                         np.where(tril[0] == tril[1], 0.05, 0.0),
                         np.diag(S) / 2])
    res = optimize.minimize(fml, t0, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
    L, P, th = unpack(res.x)
    warnings = []
    grad = optimize.approx_fprime(res.x, fml, 1e-7)
    if res.fun > 1e9 or not np.all(np.isfinite(grad)) or np.max(np.abs(grad)) > 1e-3:
        warnings.append(f"not converged: {res.message} (max |gradient| {np.max(np.abs(grad)):.2g})")
    if (th < 0).any() or (np.diag(P) < 0).any():
        warnings.append("negative variance estimate (Heywood case)")
    npar = res.x.size
    df = p * (p + 1) // 2 - npar
    chisq = n * res.fun
    bchisq = n * (np.log(np.diag(S)).sum() - logdetS)
    bdf = p * (p - 1) // 2
    Sig = L @ P @ L.T + np.diag(th)
    loglik = -n / 2 * (p * np.log(2 * np.pi) + np.linalg.slogdet(Sig)[1] + np.trace(np.linalg.solve(Sig, S)))
    d = np.sqrt(np.diag(S))
    resid = (S - Sig) / np.outer(d, d)
    li = np.tril_indices(p)
    fit = {"chisq": chisq, "df": df, "pvalue": stats.chi2.sf(chisq, df) if df > 0 else np.nan,
           "cfi": 1 - max(chisq - df, 0) / max(chisq - df, bchisq - bdf, 0),
           "tli": ((bchisq / bdf) - (chisq / df)) / ((bchisq / bdf) - 1),
           "rmsea": np.sqrt(max(chisq - df, 0) / (df * n)),
           "srmr": np.sqrt(np.mean(resid[li] ** 2)),
           "loglik": loglik, "aic": -2 * loglik + 2 * npar, "bic": -2 * loglik + np.log(n) * npar,
           "baseline_chisq": bchisq, "baseline_df": bdf, "npar": npar, "n": n}
    converged = not any(w.startswith("not converged") for w in warnings)
    proper = converged and not any(w.startswith("negative") for w in warnings)
    names = list(scales)
    return CFAFit(converged, proper, warnings, fit, pd.DataFrame(L, index=cols, columns=names),
                  pd.DataFrame(P, index=names, columns=names), pd.Series(th, index=cols))
