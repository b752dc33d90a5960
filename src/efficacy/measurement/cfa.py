"""Confirmatory factor analysis on the SEM engine: :func:`cfa`, fit measures, modification indices
(issue #4). Every CFA goes through :func:`efficacy.sem.sem`; the earlier standalone simple-structure
fitter ``cfa_fit`` (its own BFGS, no SEs) is gone: :func:`cfa` gives the same estimates (issue #23)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._api import check_columns
from ..errors import MeasurementError
from ..results import FitMeasures, ResultMixin
from ..sem.core import (
    Model,
    Patterns,
    SEMResult,
    loglik_grad,
    parse_model,
    saturated_fit,
)
from ..sem.core import sem as _sem

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
        statistic ``g^2 / (I_jj - I_jF I_FF^-1 I_Fj)`` with the expected information (per missing-data
        pattern with FIML; lavaan's default ``information = "expected"``), ``epc`` the expected parameter change and ``sepc_all`` its fully standardised value.
        Single-group models only. Matches ``modindices()`` mi/epc/sepc.all.
        """
        if self.group is not None:
            raise MeasurementError("modindices() is implemented for single-group models",
                                   found=f"group={self.group!r}")
        if self.sem.estimator == "WLSMV":
            raise MeasurementError("modindices() is implemented for ML fits", found="estimator='WLSMV'")
        return _modindices(self)


def cfa(data: pd.DataFrame, model, *, group: str | None = None, equal=(), partial=(),
        missing: str = "listwise", estimator: str | None = None, se: bool = True, ordered=None,
        cluster: str | None = None, parameterization: str = "delta") -> CFAResult:
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
    cluster : str, optional
        Cluster column: cluster-robust standard errors and test (lavaan ``cluster=``; MLR, MLM or WLSMV).
    parameterization : {"delta", "theta"}
        With ``ordered`` (lavaan ``parameterization=``): "theta" makes the residual variances of the
        latent responses parameters (needed for equal residual variances, ``equal`` with
        "residuals"); see :func:`efficacy.sem.sem`.
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
               estimator=estimator, se=se, ordered=ordered, cluster=cluster, parameterization=parameterization)
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
    base = Model(rows, list(res._data.columns), "cfa", bool((est["op"] == "~1").any()))
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
    ext = Model(new_rows, list(res._data.columns), "cfa", ms)
    X = res._data[ext.obs].to_numpy(dtype=float)
    X = X[~np.isnan(X).any(axis=1)] if res.missing == "listwise" else X[~np.isnan(X).all(axis=1)]
    n, p = X.shape
    pats = Patterns(X)
    Mh1, Sh1, _ = saturated_fit(pats, X, res.missing)
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
        return loglik_grad(pats, Sig, mu, d1, d2)

    g = grad(theta)
    # expected information of the extended model at the estimates, as lavaan's modindices (information =
    # "expected"); with FIML the expected information of each missing-data pattern's observed variables
    Sig, _ = moments(theta)
    d1, d2 = ext.derivatives(theta)
    D1 = np.stack(d1)
    D2 = np.stack(d2) if ms else np.zeros((len(d1), p))
    info = np.zeros((len(d1), len(d1)))
    for o, n_k, *_ in pats.pats:
        Si = np.linalg.inv(Sig[np.ix_(o, o)])
        SdS = Si @ D1[:, o][:, :, o]
        Do = D2[:, o]
        info += n_k * (0.5 * np.einsum("aij,bji->ab", SdS, SdS) + Do @ Si @ Do.T)
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

def _lrt(restricted: CFAResult, free: CFAResult):
    d = restricted.fit["chisq"] - free.fit["chisq"]
    ddf = restricted.fit["df"] - free.fit["df"]
    p = float(stats.chi2.sf(d, ddf)) if ddf > 0 and np.isfinite(d) else np.nan
    return d, ddf, p
