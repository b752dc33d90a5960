"""Measurement models: CFA, measurement invariance and discriminant validity (issue #4).

- :func:`cfa` -- ML confirmatory factor analysis (single- or multi-group, ``group.equal`` /
  ``group.partial``, FIML) on the lavaan-compatible engine :mod:`efficacy.sem`, with lavaan
  ``fitMeasures`` names, parameter estimates with ``std_all`` and modification indices
  (matches ``lavaan::cfa``, ``parameterEstimates``, ``standardizedSolution``, ``modindices``).
- :func:`invariance` -- configural / metric / scalar / strict sequence with LRT
  (``lavaan::lavTestLRT``), Chen (2007) decisions and a search for partial scalar invariance.
- :func:`discriminant_validity` -- HTMT (``semTools::htmt``) with bootstrap CIs, AVE
  (``semTools::AVE``), Fornell-Larcker, and the chi-square difference test against a factor
  correlation of 1.
- :func:`run_stage` -- the workflow's ``measurement`` stage.
- :func:`cfa_fit` -- the earlier standalone simple-structure CFA (no SEs; kept for AVE).

Examples
--------
>>> from efficacy.measurement import cfa, invariance
>>> res = cfa(df, {"efficacy": ["se1", "se2", "se3"], "esteem": ["r1", "r2", "r3"]})  # doctest: +SKIP
>>> invariance(df, {"efficacy": ["se1", "se2", "se3", "se4"]}, group="culture")     # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats
import pandas as pd

from ._api import as_rng, check_columns, renamed
from .errors import EfficacyError, MeasurementError
from .results import FitMeasures, ResultMixin, TableResult
from .sem.engine import SEMResult, _loglik_grad, _Model, _numhess, _Patterns, _saturated, parse_model
from .sem.engine import sem as _sem

__all__ = ["htmt", "HTMTResult", "cfa_fit", "CFAFit", "cfa", "CFAResult", "FIT_KEYS", "ROBUST_FIT_KEYS", "MeasurementError",
           "invariance", "InvarianceResult", "INVARIANCE_COLUMNS", "discriminant_validity", "DiscriminantResult",
           "DISCRIMINANT_COLUMNS",
           "run_stage", "stage_groups"]


@dataclass
class HTMTResult(ResultMixin):
    """HTMT matrix with percentile bootstrap confidence intervals.

    ``estimate``, ``ci_low`` and ``ci_high`` are scale x scale matrices; ``max_htmt`` the largest
    ratio over the pairs; ``to_frame()`` one row per pair.
    """

    scales: list
    estimate: pd.DataFrame
    ci_low: pd.DataFrame
    ci_high: pd.DataFrame
    n_boot: int
    ci_level: float
    method: str

    _headline = ("max_htmt", "n_boot", "method")
    _title = "Heterotrait-monotrait ratio (HTMT)"

    @property
    def max_htmt(self) -> float:
        """The largest HTMT ratio over all scale pairs."""
        t = self.to_frame()
        return float(t["estimate"].max()) if len(t) else float("nan")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per scale pair: scale_1, scale_2, estimate (the HTMT ratio), ci_low, ci_high,
        method, n_boot."""
        rows = []
        for i, a in enumerate(self.scales):
            for b in self.scales[i + 1:]:
                rows.append({"scale_1": a, "scale_2": b, "estimate": self.estimate.loc[a, b],
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
    with np.errstate(divide="ignore"):  # an exactly zero correlation (integer items, a resample) -> mean 0
        return _htmt_from_r_(r, idx, geometric)


def _htmt_from_r_(r: np.ndarray, idx: list, geometric: bool) -> np.ndarray:
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


@renamed(level="ci_level")
def htmt(data: pd.DataFrame, scales: dict, *, method: str = "geometric", n_boot: int = 0,
         ci_level: float = 0.95, seed=None) -> HTMTResult:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt, 2015).

    ``method="geometric"`` is HTMT2 (Roemer, Schuberth & Henseler, 2021), matching
    ``semTools::htmt(..., htmt2 = TRUE)``; ``method="arithmetic"`` is the original HTMT
    (``htmt2 = FALSE``). Absolute item correlations are used (semTools default), complete cases only.
    Percentile bootstrap CIs at ``ci_level`` are computed vectorised over resamples when
    ``n_boot > 0`` (``seed``: an int or a numpy Generator).

    Examples
    --------
    >>> res = htmt(df, {"a": ["a1", "a2", "a3"], "b": ["b1", "b2", "b3"]}, n_boot=500, seed=1)  # doctest: +SKIP
    """
    if method not in ("geometric", "arithmetic"):
        raise MeasurementError(f"method must be 'geometric' or 'arithmetic', got {method!r}")
    if len(scales) < 2:
        raise MeasurementError("htmt needs at least two scales")
    cols: list = []
    idx = []
    for name, items in scales.items():
        if len(items) < 2:
            raise MeasurementError(f"scale {name!r} needs at least two items, got {items!r}")
        check_columns(data, [(f"an item of scale {name!r}", items)], error=MeasurementError)
        idx.append(list(range(len(cols), len(cols) + len(items))))
        cols.extend(items)
    x = data[cols].dropna().to_numpy(dtype=float)
    geometric = method == "geometric"
    names = list(scales)
    est = _htmt_from_r(np.corrcoef(x, rowvar=False), idx, geometric)
    lo = np.full_like(est, np.nan)
    hi = np.full_like(est, np.nan)
    if n_boot > 0:
        rng = as_rng(seed)
        n = x.shape[0]
        boots = []
        for start in range(0, n_boot, 200):  # chunks bound memory; each chunk is batched linear algebra
            b = min(200, n_boot - start)
            ii = rng.integers(0, n, size=(b, n))
            boots.append(_htmt_from_r(_corr_batch(x[ii]), idx, geometric))
        boots = np.concatenate(boots)
        a = (1 - ci_level) / 2
        lo, hi = np.nanquantile(boots, [a, 1 - a], axis=0)
    f = lambda m: pd.DataFrame(m, index=names, columns=names)  # noqa: E731
    return HTMTResult(names, f(est), f(lo), f(hi), n_boot, ci_level, method)


@dataclass
class CFAFit(FitMeasures, ResultMixin):
    """Fit of a simple-structure CFA (lavaan fitMeasures names in ``fit``)."""

    _headline = ("converged", "proper", "chisq", "df", "cfi", "tli", "rmsea", "srmr")
    _title = "Simple-structure CFA"

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
        check_columns(data, [(f"an item of scale {name!r}", items)], error=MeasurementError)
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


# =========================================================================== CFA (issue #4)

FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr",
            "loglik", "aic", "bic", "baseline_chisq", "baseline_df", "n")
#: lavaan's scaled / robust fit measures added to ``CFAResult.fit`` for MLR, MLM and WLSMV
ROBUST_FIT_KEYS = ("chisq.scaled", "df.scaled", "pvalue.scaled", "chisq.scaling.factor", "chisq.shift.parameters",
                   "baseline.chisq.scaled", "baseline.chisq.scaling.factor", "cfi.scaled", "tli.scaled",
                   "cfi.robust", "tli.robust", "rmsea.scaled", "rmsea.ci.lower.scaled", "rmsea.ci.upper.scaled",
                   "rmsea.robust", "rmsea.ci.lower.robust", "rmsea.ci.upper.robust")



def _scales_to_syntax(scales: dict) -> str:
    lines = []
    for name, items in scales.items():
        items = list(items)
        if len(items) < 2:
            raise MeasurementError(f"scale {name!r} needs at least two items", found=repr(items))
        lines.append(f"{name} =~ " + " + ".join(items))
    return "\n".join(lines)


def _reason(res) -> str:
    return "; ".join(res.warnings)


@dataclass
class CFAResult(FitMeasures, ResultMixin):
    """A fitted confirmatory factor analysis (thin wrapper over :func:`efficacy.sem.sem`).

    Attributes
    ----------
    model : str
        lavaan syntax that was fitted.
    group : str or None
    equal, partial : tuple of str
        lavaan ``group.equal`` / ``group.partial``.
    converged, proper : bool
    reason : str
        Empty when the solution is converged and proper; else why not.
    fit : dict
        lavaan ``fitMeasures`` names (:data:`FIT_KEYS`, plus :data:`ROBUST_FIT_KEYS` for a robust
        estimator: MLR, MLM, WLSMV); all NaN when the optimiser
        did not converge (a non-converged model is never shown as fitted).
    estimates : pandas.DataFrame
        lhs, op, rhs, group, label, free, estimate, se, statistic (z), pvalue, ci_low, ci_high, std_all.
    chisq, df, cfi, tli, rmsea, srmr : float
        The headline fit measures (from ``fit``).
    """

    model: str
    group: str | None
    equal: tuple
    partial: tuple
    missing: str
    converged: bool
    proper: bool
    reason: str
    fit: dict
    estimates: pd.DataFrame
    sem: SEMResult = field(repr=False)
    _data: pd.DataFrame = field(repr=False, default=None)

    _headline = ("converged", "proper", "n", "chisq", "df", "cfi", "tli", "rmsea", "srmr")
    _title = "Confirmatory factor analysis (ML)"
    _summary_columns = ("lhs", "op", "rhs", "group", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high",
                        "std_all")
    _dict_skip = ("sem",)

    @property
    def n(self) -> int:
        """Cases analysed."""
        return int(self.fit.get("n", 0) or 0)

    def to_frame(self) -> pd.DataFrame:
        """The parameter table (unstandardised estimate/se/statistic/pvalue/CI and ``std_all``), one row
        per parameter."""
        return self.estimates.copy()

    def fit_frame(self) -> pd.DataFrame:
        """One-row table: fit measures, npar, converged, proper, reason."""
        return pd.DataFrame([{**self.fit, "npar": self.sem.fit.get("npar", np.nan), "converged": self.converged,
                              "proper": self.proper, "reason": self.reason}])

    def __repr__(self) -> str:
        f = self.fit
        g = f", group={self.group!r}, equal={self.equal!r}" if self.group else ""
        return (f"CFAResult(n={f['n']}{g}, converged={self.converged}, proper={self.proper}, "
                f"chisq={f['chisq']:.3f}, df={f['df']}, cfi={f['cfi']:.3f}, tli={f['tli']:.3f}, "
                f"rmsea={f['rmsea']:.3f}, srmr={f['srmr']:.3f})")

    def modindices(self) -> pd.DataFrame:
        """Modification indices: univariate score tests for fixed parameters.

        Candidates are the cross-loadings (every factor on every indicator it does not load on),
        residual covariances between indicators, and user-fixed zero loadings/covariances, as in
        ``lavaan::modindices(fit)`` (Sorbom, 1989). ``mi`` is the score (Lagrange multiplier)
        statistic ``g^2 / (I_jj - I_jF I_FF^-1 I_Fj)`` with the expected information (observed for
        FIML), ``epc`` the expected parameter change and ``sepc_all`` its fully standardised value.
        Single-group models only. Matches ``modindices()`` mi/epc/sepc.all.
        """
        if self.group is not None:
            raise MeasurementError("modindices() is implemented for single-group models",
                                   found=f"group={self.group!r}")
        if self.sem.estimator == "WLSMV":
            raise MeasurementError("modindices() is implemented for ML fits", found="estimator='WLSMV'")
        return _modindices(self)


def cfa(data: pd.DataFrame, model, *, group: str | None = None, equal=(), partial=(),
        missing: str = "listwise", estimator: str | None = None, se: bool = True, ordered=None) -> CFAResult:
    """Confirmatory factor analysis by maximum likelihood (Joreskog, 1969), lavaan conventions.

    Matches ``lavaan::cfa(model, data, group=, group.equal=, group.partial=, missing=)``:
    likelihood "normal" (covariances divided by n), marker-variable identification (first
    loading 1), correlated factors, expected information SEs (observed for FIML), and
    ``fitMeasures`` names.

    Parameters
    ----------
    data : pandas.DataFrame
    model : str or dict
        lavaan syntax, or ``{factor: [items]}`` (one factor per scale).
    group : str, optional
        Grouping column (multi-group CFA; mean structure on).
    equal : sequence of str
        lavaan ``group.equal`` ("loadings", "intercepts", "residuals", "means", ...).
    partial : sequence of str
        lavaan ``group.partial`` (e.g. ``"x3 ~ 1"``).
    missing : {"listwise", "fiml"}
        "fiml" = lavaan ``missing = "ml"``.
    estimator : {"ML", "MLR", "MLM", "WLSMV"} or None
        None: "ML", or "WLSMV" with ``ordered`` (lavaan's default). With a robust estimator
        ``fit`` also carries lavaan's scaled and robust measures (:data:`ROBUST_FIT_KEYS`:
        ``chisq.scaled``, ``chisq.scaling.factor``, ``cfi.robust``, ...; for WLSMV also
        ``chisq.shift.parameters``); see :func:`efficacy.sem.sem`.
    ordered : True, list of str or None
        Ordered-categorical indicators (lavaan ``ordered=``): WLSMV on polychoric correlations,
        thresholds in the estimates (``op = "|"``); ``missing`` is then "listwise" or "pairwise".
    se : bool
        False skips the information matrix (standard errors, z, p and CIs are NaN); the fit
        measures and estimates are unchanged. Used where only chi-square is needed.

    Returns
    -------
    CFAResult

    Examples
    --------
    >>> res = cfa(df, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6")   # doctest: +SKIP
    >>> res.fit["cfi"], res.modindices().head()                               # doctest: +SKIP
    """
    if not isinstance(data, pd.DataFrame):
        raise MeasurementError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_columns(data, [("group", group)], error=MeasurementError)
    syntax = _scales_to_syntax(model) if isinstance(model, dict) else str(model)
    equal = (equal,) if isinstance(equal, str) else tuple(equal)
    partial = (partial,) if isinstance(partial, str) else tuple(partial)
    res = _sem(data, syntax, group=group, equal=equal, partial=partial, missing=missing, auto="cfa",
               estimator=estimator, se=se, ordered=ordered)
    keys = FIT_KEYS if res.estimator == "ML" else FIT_KEYS + tuple(k for k in ROBUST_FIT_KEYS if k in res.fit)
    fit = {k: res.fit.get(k, np.nan) for k in keys}
    reason = _reason(res)
    if not res.converged:
        fit = {k: (fit["n"] if k == "n" else np.nan) for k in keys}
    return CFAResult(syntax, group, equal, partial, res.missing, bool(res.converged), bool(res.proper),
                     reason, fit, res.estimates, res, data)


def _modindices(res: CFAResult) -> pd.DataFrame:
    s = res.sem
    rows = parse_model(res.model)
    est = s.estimates
    latents = list(dict.fromkeys(r[0] for r in rows if r[1] == "=~"))
    base = _Model(rows, list(res._data.columns), "cfa", bool((est["op"] == "~1").any()))
    obs = [v for v in base.obs if v not in base.ov_x]
    have = {(r["lhs"], r["op"], r["rhs"]) for r in base.table}
    have |= {(r["rhs"], r["op"], r["lhs"]) for r in base.table if r["op"] == "~~"}
    cand = []
    # user rows fixed at zero become free; their position is kept
    new_rows = []
    for lhs, op, rhs, mod in rows:
        if isinstance(mod, float) and mod == 0.0 and op in ("=~", "~~", "~"):
            cand.append((lhs, op, rhs))
            mod = None
        new_rows.append((lhs, op, rhs, mod))
    for f in latents:
        for v in obs:
            if (f, "=~", v) not in have:
                cand.append((f, "=~", v))
                new_rows.append((f, "=~", v, None))
    for a in range(len(obs)):
        for b in range(a + 1, len(obs)):
            if (obs[a], "~~", obs[b]) not in have:
                cand.append((obs[a], "~~", obs[b]))
                new_rows.append((obs[a], "~~", obs[b], None))
    if not cand:
        return pd.DataFrame(columns=["lhs", "op", "rhs", "mi", "epc", "sepc_all"])
    ms = base.meanstructure
    ext = _Model(new_rows, list(res._data.columns), "cfa", ms)
    X = res._data[ext.obs].to_numpy(dtype=float)
    X = X[~np.isnan(X).any(axis=1)] if res.missing == "listwise" else X[~np.isnan(X).all(axis=1)]
    n, p = X.shape
    pats = _Patterns(X)
    Mh1, Sh1, _ = _saturated(pats, X, res.missing)
    ext.set_fixed(Mh1, Sh1)
    val = {}
    for _, r in est.iterrows():
        val[(r["lhs"], r["op"], r["rhs"])] = r["estimate"]
        if r["op"] == "~~":
            val[(r["rhs"], r["op"], r["lhs"])] = r["estimate"]
    theta = np.zeros(ext.npar)
    cidx = []
    for r in ext.table:
        k = r["free"] - 1
        if k < 0:
            continue
        key = (r["lhs"], r["op"], r["rhs"])
        if key in cand or (r["op"] == "~~" and (r["rhs"], "~~", r["lhs"]) in cand):
            theta[k] = 0.0
            cidx.append((k, key))
        else:
            theta[k] = val[key]

    def moments(t):
        Sig, mu = ext.implied(t)
        return Sig, (mu if ms else Mh1.copy())

    def grad(t):
        Sig, mu = moments(t)
        d1, d2 = ext.derivatives(t)
        if not ms:
            d2 = [np.zeros(p) for _ in d2]
        return _loglik_grad(pats, Sig, mu, d1, d2)

    g = grad(theta)
    if res.missing == "listwise":
        Sig, _ = moments(theta)
        d1, d2 = ext.derivatives(theta)
        if not ms:
            d2 = [np.zeros(p) for _ in d2]
        Si = np.linalg.inv(Sig)
        SdS = np.stack([Si @ d for d in d1])
        D2 = np.stack(d2)
        info = n * (0.5 * np.einsum("aij,bji->ab", SdS, SdS) + D2 @ Si @ D2.T)
    else:
        info = -_numhess(grad, theta)
    ck = np.array([k for k, _ in cidx])
    fk = np.setdiff1d(np.arange(ext.npar), ck)
    I11 = info[np.ix_(fk, fk)]
    I21 = info[np.ix_(ck, fk)]
    V = np.diag(info[np.ix_(ck, ck)]) - np.einsum("ij,ji->i", I21, np.linalg.solve(I11, I21.T))
    gc = g[ck]
    with np.errstate(divide="ignore", invalid="ignore"):
        mi = gc ** 2 / V
        epc = gc / V
    # standardisation from the fitted model's implied moments
    Vfull, _, A, S, m, B = ext.implied(theta, full=True)
    sd = np.sqrt(np.clip(np.diag(Vfull), 0, None))
    out = []
    for (k, (lhs, op, rhs)), mi_k, e in zip(cidx, mi, epc):
        i, j = ext.idx[lhs], ext.idx[rhs]
        if op == "=~":
            se = e * sd[i] / sd[j]
        elif op == "~":
            se = e * sd[j] / sd[i]
        else:
            se = e / np.sqrt(S[i, i] * S[j, j])
        out.append(dict(lhs=lhs, op=op, rhs=rhs, mi=float(mi_k), epc=float(e), sepc_all=float(se)))
    return pd.DataFrame(out)


# =========================================================================== invariance (issue #4)

INVARIANCE_COLUMNS = ["step", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "delta_chisq",
                      "delta_df", "lrt_pvalue", "delta_cfi", "delta_rmsea", "decision", "freed", "converged",
                      "proper", "reason"]
_STEP_EQUAL = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
               "strict": ("loadings", "intercepts", "residuals")}
DEFAULT_CUTOFFS = {"delta_cfi": -0.010, "delta_rmsea": 0.015, "combine": "and"}


def _lrt(restricted: CFAResult, free: CFAResult):
    d = restricted.fit["chisq"] - free.fit["chisq"]
    ddf = restricted.fit["df"] - free.fit["df"]
    p = float(stats.chi2.sf(d, ddf)) if ddf > 0 and np.isfinite(d) else np.nan
    return d, ddf, p


def _noninvariant(d_cfi, d_rmsea, cutoffs) -> bool:
    cfi_bad = d_cfi <= cutoffs["delta_cfi"]
    rmsea_bad = d_rmsea >= cutoffs["delta_rmsea"]
    comb = cutoffs.get("combine", "and")
    if comb == "and":
        return bool(cfi_bad and rmsea_bad)
    if comb == "or":
        return bool(cfi_bad or rmsea_bad)
    return bool(cfi_bad)  # "cfi"


def _indicators(model: str) -> dict:
    out: dict = {}
    for lhs, op, rhs, mod in parse_model(model):
        if op == "=~":
            out.setdefault(lhs, []).append(rhs)
    return out


@dataclass(repr=False)
class InvarianceResult(TableResult):
    """Result of :func:`invariance`: one row per step (``to_frame()``, columns :data:`INVARIANCE_COLUMNS`).

    Attributes
    ----------
    group : str
        The grouping column.
    highest : str
        The most restrictive step that holds (``"configural"``, ``"metric"``, ``"scalar"``,
        ``"partial_scalar"`` or ``"strict"``): the last of the unbroken run of steps judged
        invariant; ``""`` when even the configural model was not estimable.
    decisions : dict
        ``{step: decision}``.
    """

    group: str = ""

    _headline = ("group", "highest", "decisions")
    _title = "Measurement invariance (Chen, 2007)"
    _summary_columns = ("step", "chisq", "df", "cfi", "rmsea", "srmr", "delta_chisq", "delta_df", "lrt_pvalue",
                        "delta_cfi", "delta_rmsea", "decision", "freed")

    @property
    def decisions(self) -> dict:
        return {str(s): str(d) for s, d in zip(self.table["step"], self.table["decision"])}

    @property
    def highest(self) -> str:
        held = ""
        failed_scalar = False
        for step, dec in zip(self.table["step"].astype(str), self.table["decision"].astype(str)):
            if dec in ("reference", "invariant"):
                if step == "strict" and failed_scalar and held != "partial_scalar":
                    break
                held = step
            elif step == "scalar" and dec == "not invariant":
                failed_scalar = True   # a partial_scalar row may follow
            else:
                break
        return held


def invariance(data: pd.DataFrame, model, group: str, *,
               levels=("configural", "metric", "scalar", "strict"), cutoffs=None, missing: str = "listwise",
               find_partial: bool = True, max_free: int | None = None) -> InvarianceResult:
    """Measurement invariance across groups: configural, metric, scalar, strict (Meredith, 1993).

    Each step is a multi-group CFA (:func:`cfa` with lavaan ``group.equal``) compared with the
    previous step by the likelihood-ratio test (``lavaan::lavTestLRT``) and by the change in CFI and
    RMSEA. Decision per Chen (2007): a step is ``"not invariant"`` when delta CFI <= -0.010
    ``combine`` delta RMSEA >= 0.015 (``combine`` "and" (default, the issue's rule), "or", or "cfi"
    for the CFI criterion alone). When the scalar step fails and ``find_partial``, intercepts are
    freed one at a time (``group.partial``): every still-constrained intercept is freed in turn, the
    one whose freeing lowers chi-square most (largest LRT statistic) is kept, and this repeats until
    the model passes against the metric step (a ``partial_scalar`` row, freed parameters in
    ``freed``), or no factor would keep two constrained intercepts. A following ``strict`` step then
    keeps those intercepts free and is compared with ``partial_scalar``.

    Non-converged models are rows with NaN fit and ``decision = "not estimable"`` with the reason.

    Parameters
    ----------
    data : pandas.DataFrame
    model : str or dict
        lavaan syntax or ``{factor: [items]}``.
    group : str
        Grouping column.
    levels : sequence of str
        Steps, in order, from "configural", "metric", "scalar", "strict".
    cutoffs : dict, optional
        ``{"delta_cfi": -0.010, "delta_rmsea": 0.015, "combine": "and"}``.
    missing : {"listwise", "fiml"}

    Returns
    -------
    InvarianceResult
        ``to_frame()``: one row per step, columns :data:`INVARIANCE_COLUMNS`; fit numbers match
        ``lavaan::cfa(..., group.equal=)`` and LRT p-values ``lavaan::lavTestLRT``. ``highest``
        names the most restrictive level that holds.

    References
    ----------
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement invariance.
    *Structural Equation Modeling, 14*(3), 464-504.

    Examples
    --------
    >>> invariance(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6", "school")  # doctest: +SKIP
    """
    cut = {**DEFAULT_CUTOFFS, **(cutoffs or {})}
    if cut["combine"] not in ("and", "or", "cfi"):
        raise MeasurementError("cutoffs['combine'] must be 'and', 'or' or 'cfi'", found=repr(cut["combine"]))
    levels = list(levels)
    bad = [s for s in levels if s not in _STEP_EQUAL]
    if bad or not levels:
        raise MeasurementError("unknown invariance step(s)", found=repr(bad or levels),
                               expected="configural, metric, scalar, strict")
    check_columns(data, [("group", group)], error=MeasurementError)
    syntax = _scales_to_syntax(model) if isinstance(model, dict) else str(model)
    ind = _indicators(syntax)
    rows = []
    prev = None
    freed: list = []

    def fit(step, partial):
        try:
            return cfa(data, syntax, group=group, equal=_STEP_EQUAL[step], partial=tuple(partial), missing=missing,
                       se=False)  # the invariance table uses fit measures only
        except np.linalg.LinAlgError as e:  # numerical failure: a row with the reason
            return str(e)

    def row(step, res, prev_res, partial):
        r = {c: np.nan for c in INVARIANCE_COLUMNS}
        r.update(step=step, freed=", ".join(partial), decision="")
        if isinstance(res, str) or not res.converged:
            r.update(converged=False, proper=False, decision="not estimable",
                     reason=res if isinstance(res, str) else res.reason)
            return r, False
        for k in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
            r[k] = res.fit[k]
        r.update(converged=True, proper=res.proper, reason=res.reason)
        if prev_res is None:
            r["decision"] = "reference"
            return r, True
        if isinstance(prev_res, str) or not prev_res.converged:
            r["decision"] = "not tested (previous step not estimable)"
            return r, False
        d, ddf, p = _lrt(res, prev_res)
        r.update(delta_chisq=d, delta_df=ddf, lrt_pvalue=p, delta_cfi=res.fit["cfi"] - prev_res.fit["cfi"],
                 delta_rmsea=res.fit["rmsea"] - prev_res.fit["rmsea"])
        ok = not _noninvariant(r["delta_cfi"], r["delta_rmsea"], cut)
        r["decision"] = "invariant" if ok else "not invariant"
        return r, ok

    for step in levels:
        part = freed if step == "strict" else []
        res = fit(step, part)
        r, ok = row(step, res, prev, part)
        rows.append(r)
        base = prev
        prev = res
        if step == "scalar" and not ok and find_partial and r["converged"] and base is not None \
                and not isinstance(base, str) and base.converged:
            cur = res
            limit = max_free if max_free is not None else np.inf
            while len(freed) < limit:
                cands = [f"{v} ~ 1" for f, items in ind.items() for v in items
                         if f"{v} ~ 1" not in freed
                         and sum(f"{u} ~ 1" not in freed for u in items) > 2]
                best = None
                for c in cands:
                    trial = fit("scalar", freed + [c])
                    if isinstance(trial, str) or not trial.converged:
                        continue
                    drop = cur.fit["chisq"] - trial.fit["chisq"]
                    if best is None or drop > best[0]:
                        best = (drop, c, trial)
                if best is None:
                    break
                freed.append(best[1])
                cur = best[2]
                r2, ok2 = row("partial_scalar", cur, base, freed)
                if ok2:
                    break
            if freed:
                r2, _ = row("partial_scalar", cur, base, freed)
                rows.append(r2)
                prev = cur
    out = pd.DataFrame(rows, columns=INVARIANCE_COLUMNS)
    out["converged"] = out["converged"].astype(bool)
    out["proper"] = out["proper"].astype(bool)
    out["reason"] = out["reason"].fillna("").astype(str)
    return InvarianceResult(out, group=group)


# =========================================================================== discriminant validity (issue #4)

DISCRIMINANT_COLUMNS = ["scale_1", "scale_2", "htmt", "htmt_ci_low", "htmt_ci_high", "factor_cor", "ave_1", "ave_2",
                        "fornell_larcker", "chisq_free", "df_free", "chisq_fixed", "delta_chisq", "delta_df",
                        "pvalue", "converged", "proper", "reason"]


@dataclass
class DiscriminantResult(ResultMixin):
    """Discriminant validity of a set of scales (one row per pair in :meth:`to_frame`).

    Attributes
    ----------
    htmt : HTMTResult
    ave : pandas.Series
        Average variance extracted per factor (``semTools::AVE``), from the joint CFA.
    factor_cor : pandas.DataFrame
        Factor correlations of the joint CFA (``lavInspect(fit, "cor.lv")``).
    fornell_larcker : pandas.DataFrame
    chisq_test : pandas.DataFrame
        Per pair: chi-square of the free two-factor CFA and of the same model with the factor
        correlation fixed to 1, their difference (1 df) and p-value.
    cfa : CFAResult
        The joint CFA (one factor per scale).
    """

    scales: list
    htmt: HTMTResult
    ave: pd.Series
    factor_cor: pd.DataFrame
    fornell_larcker: pd.DataFrame
    chisq_test: pd.DataFrame
    cfa: CFAResult = field(repr=False)

    _headline = ("max_htmt", "ave")
    _title = "Discriminant validity: HTMT, AVE / Fornell-Larcker, chi-square difference"
    _summary_columns = ("scale_1", "scale_2", "htmt", "htmt_ci_low", "htmt_ci_high", "factor_cor", "ave_1", "ave_2",
                        "fornell_larcker", "delta_chisq", "delta_df", "pvalue")
    _dict_skip = ("cfa",)

    @property
    def max_htmt(self) -> float:
        """The largest HTMT ratio over the scale pairs."""
        return self.htmt.max_htmt

    def to_frame(self) -> pd.DataFrame:
        """One row per scale pair: columns :data:`DISCRIMINANT_COLUMNS`."""
        h = self.htmt.to_frame().rename(columns={"estimate": "htmt", "ci_low": "htmt_ci_low",
                                                 "ci_high": "htmt_ci_high"})
        out = h[["scale_1", "scale_2", "htmt", "htmt_ci_low", "htmt_ci_high"]].merge(
            self.fornell_larcker, on=["scale_1", "scale_2"]).merge(self.chisq_test, on=["scale_1", "scale_2"])
        return out[DISCRIMINANT_COLUMNS].reset_index(drop=True)

    def __repr__(self) -> str:
        return f"DiscriminantResult(scales={self.scales}, n_boot={self.htmt.n_boot})\n{self.to_frame()!r}"


def _fl_table(names, ave, r, joint_ok):
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ok = bool(min(ave[a], ave[b]) > r.loc[a, b] ** 2) if joint_ok else np.nan
            rows.append({"scale_1": a, "scale_2": b, "factor_cor": r.loc[a, b] if joint_ok else np.nan,
                         "ave_1": ave[a], "ave_2": ave[b], "fornell_larcker": ok})
    return pd.DataFrame(rows)


def _pair_test(data, a, ia, b, ib, missing):
    def spec(f, items):
        return f"{f} =~ " + " + ".join(f"lam_{f}_{k}*{v}" for k, v in enumerate(items)) + f"\n{f} ~~ 1*{f}"

    m1 = spec(a, ia) + "\n" + spec(b, ib)
    m0 = m1 + f"\n{a} ~~ 1*{b}"
    row = {"scale_1": a, "scale_2": b}
    try:
        f1 = cfa(data, m1, missing=missing, se=False)  # only chi-square is used
        f0 = cfa(data, m0, missing=missing, se=False)
    except np.linalg.LinAlgError as e:
        return {**row, "converged": False, "proper": False, "reason": str(e)}
    reasons = [f"{lab}: {x.reason}" for lab, x in (("free", f1), ("r=1", f0)) if x.reason]
    row.update(chisq_free=f1.fit["chisq"], df_free=f1.fit["df"], chisq_fixed=f0.fit["chisq"],
               converged=f1.converged and f0.converged, proper=f1.proper, reason="; ".join(reasons))
    d, ddf, p = _lrt(f0, f1)
    row.update(delta_chisq=d, delta_df=ddf, pvalue=p)
    return row


@renamed(level="ci_level")
def discriminant_validity(data: pd.DataFrame, scales: dict, *, n_boot: int = 1000, seed=None,
                          ci_level: float = 0.95, method: str = "geometric",
                          missing: str = "listwise") -> DiscriminantResult:
    """Discriminant validity of multi-item scales: HTMT, AVE / Fornell-Larcker and a chi-square test.

    - HTMT ratio (Henseler, Ringle & Sarstedt, 2015; HTMT2 by default) with a vectorised percentile
      bootstrap CI (:func:`htmt`; matches ``semTools::htmt``).
    - AVE per factor (Fornell & Larcker, 1981; matches ``semTools::AVE``) from one CFA with a
      factor per scale, and the Fornell-Larcker criterion (both AVEs exceed the squared factor
      correlation).
    - Per pair, the two-factor CFA (factor variances fixed to 1) against the same model with the
      factor correlation fixed to 1: chi-square difference on 1 df (matches
      ``lavTestLRT(cfa(m0, std.lv = TRUE), cfa(m1, std.lv = TRUE))``). A non-significant
      difference means the two scales cannot be told apart.

    Parameters
    ----------
    data : pandas.DataFrame
    scales : dict
        ``{scale name: [items]}``, at least two scales of at least two items (three for the CFA
        tests to be over-identified).
    n_boot : int
        Bootstrap resamples for the HTMT CI (0 = none).
    seed : int or numpy.random.Generator, optional
    ci_level : float
    method : {"geometric", "arithmetic"}
        HTMT2 or the original HTMT.
    missing : {"listwise", "fiml"}
        For the CFAs (HTMT uses complete cases).

    Returns
    -------
    DiscriminantResult

    Examples
    --------
    >>> discriminant_validity(df, {"efficacy": [...], "outcome": [...]}, n_boot=2000, seed=1).to_frame()  # doctest: +SKIP
    """
    return _discriminant(data, scales, n_boot=n_boot, seed=seed, ci_level=ci_level, method=method, missing=missing)


def _discriminant(data, scales, *, n_boot, seed, ci_level, method, missing, joint=None, joint_se=True):
    """:func:`discriminant_validity`, optionally with the joint CFA given (``joint``: the same model
    fitted on the same data, e.g. by the stage) or fitted without standard errors (``joint_se=False``:
    only its estimates and std_all enter the table; a fit that did not converge is refitted with
    them, so that its reason, which names standard-error problems too, is the same)."""
    h = htmt(data, scales, method=method, n_boot=n_boot, ci_level=ci_level, seed=seed)
    names = list(scales)
    if joint is None:
        joint = cfa(data, scales, missing=missing, se=joint_se)
        if not joint_se and not joint.converged:
            joint = cfa(data, scales, missing=missing)
    ok = joint.converged
    est = joint.estimates
    ave = {}
    # semTools::AVE (obs.var = TRUE): explained variance over the items' sample variances (ML, / n)
    allitems = [v for items in scales.values() for v in items]
    xs = data[allitems].dropna() if missing == "listwise" else data[allitems]
    for f, items in scales.items():
        ld = est[(est.op == "=~") & (est.lhs == f)].set_index("rhs")["estimate"]
        psi = est[(est.op == "~~") & (est.lhs == f) & (est.rhs == f)]["estimate"].iloc[0]
        svar = xs[list(items)].var(ddof=0).to_numpy()
        ave[f] = float((ld[list(items)].to_numpy() ** 2).sum() * psi / svar.sum()) if ok else np.nan
    ave = pd.Series(ave, name="ave")
    cov = est[(est.op == "~~") & est.lhs.isin(names) & est.rhs.isin(names)]
    r = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for _, row in cov.iterrows():
        if row.lhs != row.rhs:
            r.loc[row.lhs, row.rhs] = r.loc[row.rhs, row.lhs] = row.std_all
    fl = _fl_table(names, ave, r, ok)
    tests = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            tests.append(_pair_test(data, a, list(scales[a]), b, list(scales[b]), missing))
    cols = ["scale_1", "scale_2", "chisq_free", "df_free", "chisq_fixed", "delta_chisq", "delta_df", "pvalue",
            "converged", "proper", "reason"]
    tt = pd.DataFrame(tests).reindex(columns=cols)
    if not ok:
        tt["reason"] = [f"joint CFA: {joint.reason}; {x}" if x else f"joint CFA: {joint.reason}"
                        for x in tt["reason"].fillna("")]
    return DiscriminantResult(names, h, ave, r, fl, tt, joint)


# =========================================================================== workflow stage (issue #4)

DISCRIMINANT_CONSTRUCTS = ("self_efficacy", "outcome_expectation", "self_esteem")
CFA_FIT_COLUMNS = ["model", "scales", *FIT_KEYS, "npar", "converged", "proper", "reason"]


def _safe_cfa(data, model, **kw):
    try:
        return cfa(data, model, **kw), ""
    except (EfficacyError, np.linalg.LinAlgError) as e:
        return None, f"{type(e).__name__}: {e}"


def _fit_row(label, scales, res, err):
    row = {c: np.nan for c in CFA_FIT_COLUMNS}
    row.update(model=label, scales=", ".join(scales), converged=False, proper=False, reason=err)
    if res is not None:
        row.update(res.fit)
        row.update(npar=res.sem.fit.get("npar", np.nan), converged=res.converged, proper=res.proper,
                   reason=res.reason)
    return row


def stage_groups(codebook) -> list:
    """Grouping columns the ``measurement`` stage writes ``invariance_<group>.csv`` for."""
    return list(codebook.groups or [])


def run_stage(clean: pd.DataFrame, codebook, *, model: str | None = None, missing: str = "fiml",
              n_boot: int = 1000, ci_level: float = 0.95, htmt_method: str = "geometric",
              delta_cfi: float = -0.010, delta_rmsea: float = 0.015, combine: str = "and",
              find_partial: bool = True, min_items: int = 3, groups=None, seed=None, parts=None,
              max_joint_items: int = 60) -> dict:
    """The workflow's ``measurement`` stage for one study.

    - ``cfa_fit``: one CFA with a factor per multi-item scale (scales with at least ``min_items``
      items; or the lavaan-syntax ``model`` from config), then one single-factor CFA per scale;
      one row per model with the lavaan fit measures, ``converged``, ``proper`` and ``reason``.
    - ``cfa_estimates``: the parameter table of the joint model (estimate, se, statistic, pvalue, CI,
      std_all).
    - ``discriminant``: :func:`discriminant_validity` among the scales whose construct is
      self_efficacy, outcome_expectation or self_esteem (when at least two of these constructs are
      present; otherwise one row saying why).
    - ``invariance_<group>``: :func:`invariance` of the joint model across each codebook group.

    Failures of one model are rows with a reason, never an exception.

    Parameters
    ----------
    clean : pandas.DataFrame
        ``results/<study>/clean.csv`` (items already reverse-scored).
    codebook : efficacy.codebook.Codebook
    model : str, optional
        lavaan syntax replacing the one-factor-per-scale model.
    missing : {"fiml", "listwise"}
    n_boot, ci_level, htmt_method, seed
        HTMT bootstrap settings.
    delta_cfi, delta_rmsea, combine, find_partial
        Invariance decision rule (see :func:`invariance`).
    min_items : int
        Scales with fewer items are left out of the CFA.
    max_joint_items : int
        Without a config ``model``, the joint CFA of all scales is fitted only up to this many
        items (the full-information fit grows with the cube of the item count); above it the
        ``joint`` row says why and only the one-factor CFAs are fitted. The default (60) fits the
        largest bundled study (mastery_trial: 44 items, 9 factors, FIML) in about 10 s.
    groups : list of str, optional
        Grouping columns (default ``codebook.groups``).
    parts : sequence of str, optional
        Subset of {"cfa", "discriminant", "invariance"} to compute (all by default).

    Returns
    -------
    dict of str to pandas.DataFrame
        Keys ``cfa_fit``, ``cfa_estimates``, ``discriminant``, ``invariance_<group>``.
    """
    parts = set(parts or ("cfa", "discriminant", "invariance"))
    groups = stage_groups(codebook) if groups is None else list(groups)
    scales = {name: list(sc.items) for name, sc in codebook.scales.items()
              if len(sc.items) >= min_items and all(i in clean.columns for i in sc.items)}
    syntax = model.strip() if model else (_scales_to_syntax(scales) if scales else None)
    out = {}
    joint_res = None
    if "cfa" in parts:
        fit_rows, est = [], pd.DataFrame()
        n_joint = sum(len(v) for v in _indicators(syntax).values()) if syntax is not None else 0
        if syntax is None:
            fit_rows.append(_fit_row("joint", [], None, f"no scale with at least {min_items} items"))
        elif not model and n_joint > max_joint_items:
            fit_rows.append(_fit_row("joint", list(scales), None,
                                     f"joint model not fitted: {n_joint} items > max_joint_items "
                                     f"({max_joint_items}); raise measurement.max_joint_items or give a model"))
        else:
            res, err = _safe_cfa(clean, syntax, missing=missing)
            joint_res = None if model else res  # the one-factor-per-scale CFA, reused by discriminant
            fit_rows.append(_fit_row("joint", list(_indicators(syntax)), res, err))
            if res is not None and res.converged:
                est = res.to_frame()
                est.insert(0, "model", "joint")
        if syntax is not None and not model:  # one-factor CFA per scale, after the joint row
            for name, items in scales.items():
                r1, e1 = _safe_cfa(clean, {name: items}, missing=missing, se=False)  # fit row only
                fit_rows.append(_fit_row(name, [name], r1, e1))
        out["cfa_fit"] = pd.DataFrame(fit_rows, columns=CFA_FIT_COLUMNS)
        est_cols = ["model", "lhs", "op", "rhs", "group", "label", "free", "estimate", "se", "statistic", "pvalue",
                    "ci_low", "ci_high", "std_all"]
        out["cfa_estimates"] = est.reindex(columns=est_cols)
    if "discriminant" in parts:
        dscales = {name: items for name, items in scales.items()
                   if codebook.scales[name].construct in DISCRIMINANT_CONSTRUCTS}
        constructs = {codebook.scales[n].construct for n in dscales}
        if len(constructs) < 2:
            row = {c: np.nan for c in DISCRIMINANT_COLUMNS}
            row.update(scale_1="", scale_2="", converged=False, proper=False,
                       reason="fewer than two of the constructs self_efficacy, outcome_expectation, self_esteem "
                              f"have a scale with at least {min_items} items")
            tab = pd.DataFrame([row], columns=DISCRIMINANT_COLUMNS)
        else:
            try:
                # the stage's joint CFA when it is the same model (every scale is a discriminant one);
                # otherwise a fit without standard errors, which the table does not use
                same = joint_res is not None and list(dscales) == list(scales)
                tab = _discriminant(clean, dscales, n_boot=n_boot, seed=seed, ci_level=ci_level, method=htmt_method,
                                    missing=missing, joint=joint_res if same else None,
                                    joint_se=False).to_frame()
            except (EfficacyError, np.linalg.LinAlgError) as e:
                row = {c: np.nan for c in DISCRIMINANT_COLUMNS}
                row.update(scale_1=", ".join(dscales), scale_2="", converged=False, proper=False,
                           reason=f"{type(e).__name__}: {e}")
                tab = pd.DataFrame([row], columns=DISCRIMINANT_COLUMNS)
        tab.insert(2, "construct_1", [codebook.scales[s].construct if s in codebook.scales else "" for s in tab.scale_1])
        tab.insert(3, "construct_2", [codebook.scales[s].construct if s in codebook.scales else "" for s in tab.scale_2])
        out["discriminant"] = tab
    if "invariance" in parts:
        for g in groups:
            if syntax is None:
                tab = pd.DataFrame([{"step": "configural", "converged": False, "proper": False,
                                     "reason": f"no scale with at least {min_items} items"}],
                                   columns=INVARIANCE_COLUMNS)
            else:
                try:
                    tab = invariance(clean, syntax, g, missing=missing, find_partial=find_partial,
                                     cutoffs={"delta_cfi": delta_cfi, "delta_rmsea": delta_rmsea,
                                              "combine": combine}).to_frame()
                except EfficacyError as e:
                    tab = pd.DataFrame([{"step": "configural", "decision": "not estimable", "converged": False,
                                         "proper": False, "reason": f"{type(e).__name__}: {e}"}],
                                       columns=INVARIANCE_COLUMNS)
            tab.insert(0, "group", g)
            out[f"invariance_{g}"] = tab
    return out
