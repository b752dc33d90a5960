"""Random- and fixed-effects meta-analysis of one effect per study, with moderators.

:func:`random_effects` is metafor's ``rma.uni()`` (tau-squared estimators EE/FE, DL, HE, SJ, ML,
REML, PM, EB; z or Knapp-Hartung tests; Q-profile CIs for tau2, I2 and H2); :func:`subgroup`
pools within the levels of a categorical moderator; :func:`leave_one_out`, :func:`influence` and
:func:`cumulative` are ``leave1out()``, ``influence()`` and ``cumul()``.

References
----------
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *Journal of
Statistical Software, 36*(3), 1-48.
Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. *Journal of Educational and Behavioral Statistics, 30*(3), 261-293.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._api import check_columns, column, data_or_none, renamed
from .._linalg import ols_resid as _ols_resid
from ..errors import MetaError
from ..results import ResultMixin, TableResult

__all__ = ["RMAResult", "random_effects", "SubgroupResult", "subgroup", "LeaveOneOutResult", "leave_one_out",
           "InfluenceResult", "influence", "CumulativeResult", "cumulative"]

METHODS = ("EE", "FE", "DL", "HE", "HS", "HSk", "SJ", "SJIT", "ML", "REML", "PM", "PMM", "EB", "GENQ")


# --------------------------------------------------------------------------- model fitting
def _check_yv(yi, vi, labels=None):
    yi = np.asarray(yi, float).ravel()
    vi = np.asarray(vi, float).ravel()
    if yi.shape != vi.shape:
        raise MetaError("yi and vi differ in length", found=f"{yi.size} vs {vi.size}")
    lab = (lambda i: f"row {i}") if labels is None else (lambda i: f"row {i} ({labels[i]})")
    miss = np.flatnonzero(np.isnan(vi) & ~np.isnan(yi))
    nonpos = np.flatnonzero(~np.isnan(vi) & (vi <= 0))
    first = min([*miss[:1], *nonpos[:1]], default=None)
    if first is not None and first in miss[:1]:
        raise MetaError("sampling variance missing and cannot be computed", where=lab(first) + ", column vi")
    if first is not None:
        raise MetaError("sampling variance must be positive", where=lab(first) + ", column vi",
                        found=vi[first], expected="> 0")
    return yi, vi


class _Proj:
    """Quantities of P = W - W X (X'WX)^-1 X'W without forming the k x k matrix (O(k p^2))."""

    def __init__(self, X, w, y):
        WX = X * w[:, None]
        self.M = np.linalg.inv(X.T @ WX)
        self.b = self.M @ (WX.T @ y)
        self.Py = w * (y - X @ self.b)
        self.yPy = float(y @ self.Py)
        self.X, self.w, self.WX = X, w, WX
        A = (WX * w[:, None]).T @ X  # X'W^2X
        self._MA = self.M @ A
        self.trP = float(w.sum() - np.trace(self._MA))

    @property
    def trPP(self):
        w, X = self.w, self.X
        B = (self.WX * (w**2)[:, None]).T @ X  # X'W^3X
        return float((w**2).sum() - 2 * np.trace(self.M @ B) + np.trace(self._MA @ self._MA))


def _tau2(y, v, X, method, tau2_fixed=None, maxiter=1000, tol=1e-10, weights=None):
    k, p = X.shape
    if method in ("EE", "FE"):
        return 0.0, True
    if method == "DL":
        P = _Proj(X, 1 / v, y)
        return max(0.0, (P.yPy - (k - p)) / P.trP), True
    if method in ("HS", "HSk"):
        # Hunter & Schmidt (2004): (Q - k) / sum(w), w = 1/vi; "HSk" scales Q by k / (k - p)
        # (Brannick et al., 2019), both as metafor rma.uni
        w = 1 / v
        q = _Proj(X, w, y).yPy * (k / (k - p) if method == "HSk" else 1.0)
        return max(0.0, (q - k) / w.sum()), True
    if method == "GENQ":
        # generalised Q-statistic estimator with user weights a (DerSimonian & Kacker, 2007):
        # (Q_a - tr(P_a V)) / tr(P_a), P_a = A - A X (X'AX)^-1 X'A
        if weights is None:
            raise MetaError("method 'GENQ' needs weights=", where="weights", found="None",
                            expected="one non-negative weight per study")
        a = np.asarray(weights, float)
        P = _Proj(X, a, y)
        diagP = a - a**2 * np.einsum("ij,jk,ik->i", X, P.M, X)
        return max(0.0, (P.yPy - diagP @ v) / P.trP), True
    if method == "HE":
        r = _ols_resid(y, X)
        XtX_inv = np.linalg.pinv(X.T @ X)
        tr = v.sum() - np.trace(XtX_inv @ ((X * v[:, None]).T @ X))
        return max(0.0, (r @ r - tr) / (k - p)), True
    if method in ("SJ", "SJIT"):
        # Sidik & Jonkman (2005): the initial value is the variance of y about its mean (divisor
        # k) even with moderators, as metafor; "SJIT" iterates t <- t Q(t) / (k - p) to a fixed
        # point (which solves the Paule-Mandel equation when it is positive)
        t = float(np.mean((y - y.mean()) ** 2))
        if method == "SJ":
            return t * _Proj(X, 1 / (v + t), y).yPy / (k - p), True
        for _ in range(max(maxiter, 100000)):
            new = t * _Proj(X, 1 / (v + t), y).yPy / (k - p)
            if abs(new - t) < min(tol, 1e-13):
                return new, True
            t = new
        return t, False
    if method in ("PM", "EB", "PMM"):
        # Paule & Mandel (1982) / Morris (1983): Q(t) = k - p; "PMM" the median-unbiased
        # version, Q(t) = the median of chi2(k - p) (Viechtbauer, 2021)
        target = stats.chi2.ppf(0.5, k - p) if method == "PMM" else k - p

        def f(t):
            return _Proj(X, 1 / (v + t), y).yPy - target

        if f(0.0) <= 0:
            return 0.0, True
        hi = max(1.0, 10 * np.var(y))
        while f(hi) > 0:
            hi *= 10
        return optimize.brentq(f, 0.0, hi, xtol=1e-14, rtol=1e-14), True
    if method in ("ML", "REML"):
        t = _tau2(y, v, X, "HE")[0] if tau2_fixed is None else tau2_fixed
        t = max(t, 0.0)
        for _ in range(maxiter):
            w = 1 / (v + t)
            P = _Proj(X, w, y)
            if method == "REML":
                adj = (P.Py @ P.Py - P.trP) / P.trPP
            else:
                adj = (P.Py @ P.Py - w.sum()) / (w**2).sum()
            step = 1.0
            while t + step * adj < 0:
                step /= 2
                if step < 1e-8:
                    break
            new = max(0.0, t + step * adj)
            if abs(new - t) < tol:
                return new, True
            t = new
        return t, False
    raise MetaError(f"unknown method {method!r}", found=method, expected=", ".join(METHODS))


def _q_gen(y, v, X, t):
    return _Proj(X, 1 / (v + t), y).yPy


def _tau2_qprofile(y, v, X, level):
    k, p = X.shape
    df = k - p
    a = 1 - level
    qlo, qhi = stats.chi2.ppf([1 - a / 2, a / 2], df)
    f = lambda t, q: _q_gen(y, v, X, t) - q  # noqa: E731
    out = []
    for q in (qlo, qhi):
        if f(0.0, q) < 0:
            out.append(0.0)
            continue
        hi = max(1.0, 10 * np.var(y))
        while f(hi, q) > 0:
            hi *= 10
            if hi > 1e12:
                break
        out.append(optimize.brentq(f, 0.0, hi, args=(q,), xtol=1e-14, rtol=1e-12))
    return tuple(out)


def _design(mods, data, k):
    """Build the model matrix: intercept plus moderators, non-numeric columns treatment-coded against
    their first level (sorted, or the categories' order). A missing moderator value stays NaN in every
    column it codes, so the row is dropped as metafor drops rows with NA moderators."""
    if mods is None:
        return np.ones((k, 1)), ["intrcpt"]
    if isinstance(mods, str):
        mods = [mods]
    if isinstance(mods, (list, tuple)) and all(isinstance(m, str) for m in mods):
        if data is None:
            raise MetaError("moderator names given but no data=")
        parts, names = [np.ones(k)], ["intrcpt"]
        for m in mods:
            if m not in data:
                raise MetaError(f"moderator column {m!r} not found", where=m)
            col = data[m]
            if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
                parts.append(np.asarray(col, float))
                names.append(m)
            else:
                levels = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                          else sorted(col.dropna().unique()))
                for lev in levels[1:]:
                    parts.append(np.where(col.isna(), np.nan, (col == lev).to_numpy(float)))
                    names.append(f"{m}{lev}")
        return np.column_stack(parts), names
    M = np.asarray(mods, float)
    if M.ndim == 1:
        M = M[:, None]
    if M.shape[0] != k:
        raise MetaError("moderator matrix has the wrong number of rows", where="mods", found=M.shape[0], expected=k)
    names = list(mods.columns) if isinstance(mods, pd.DataFrame) else [f"mod{j + 1}" for j in range(M.shape[1])]
    return np.column_stack([np.ones(k), M]), ["intrcpt"] + [str(n) for n in names]


@dataclass
class RMAResult(ResultMixin):
    """Result of :func:`random_effects` (metafor ``rma.uni``).

    ``estimate``/``se``/``statistic`` (z, or t with ``test="knha"``)/``pvalue``/``ci_low``/
    ``ci_high`` (and ``ci``) refer to the intercept (the pooled effect in a model without
    moderators); ``coef_table`` holds all coefficients; ``tau2``, ``I2``, ``H2``, ``Q`` and their
    intervals and p-values (``Q_pvalue``, ``QM_pvalue``) use metafor's names.
    """

    method: str
    test: str
    k: int
    p: int
    estimate: float
    se: float
    statistic: float
    pvalue: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    tau2_ci: tuple
    I2: float
    I2_ci: tuple
    H2: float
    H2_ci: tuple
    Q: float
    Q_df: int
    Q_pvalue: float
    coef: np.ndarray
    vcov: np.ndarray
    coef_table: pd.DataFrame
    QM: float = np.nan
    QM_df: tuple = ()
    QM_pvalue: float = np.nan
    R2: float = np.nan
    weights: np.ndarray = field(default=None, repr=False)
    yi: np.ndarray = field(default=None, repr=False)
    vi: np.ndarray = field(default=None, repr=False)
    X: np.ndarray = field(default=None, repr=False)
    ci_level: float = 0.95
    converged: bool = True
    reason: str = ""

    _headline = ("estimate", "se", "ci", "pvalue", "pi_low", "pi_high", "tau2", "I2", "Q", "Q_pvalue", "k")
    _title = "Random-effects meta-analysis (metafor rma)"
    _summary_columns = ("term", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high")

    @property
    def ci(self) -> tuple:
        """Interval of the pooled effect (the intercept)."""
        return self.ci_low, self.ci_high

    def _summary_title(self) -> str:
        return f"Meta-analysis, {self.method} estimator, {self.test} test, k = {self.k} ({type(self).__name__})"

    def __repr__(self):
        return (f"RMAResult(method={self.method}, k={self.k}, estimate={self.estimate:.4f}, se={self.se:.4f}, "
                f"ci=[{self.ci_low:.4f}, {self.ci_high:.4f}], tau2={self.tau2:.4f}, I2={self.I2:.2f}%, "
                f"Q={self.Q:.3f} (df={self.Q_df}, p={self.Q_pvalue:.4g}))")

    def to_frame(self):
        """Tidy table: one row per coefficient (``term``, ``estimate``, ``se``, ``statistic``, ``pvalue``,
        ``ci_low``, ``ci_high``) with the model's statistics on every row (``k``, ``method``, ``test``,
        ``tau2`` and its CI, ``I2``, ``H2`` with CIs, ``Q``, ``Q_df``, ``Q_pvalue``, ``pi_low``,
        ``pi_high``; ``QM``, ``QM_pvalue``, ``R2`` with moderators)."""
        t = self.coef_table.copy()
        stats_ = {"k": self.k, "method": self.method, "test": self.test, "tau2": self.tau2,
                  "tau2_ci_low": self.tau2_ci[0], "tau2_ci_high": self.tau2_ci[1], "I2": self.I2,
                  "I2_ci_low": self.I2_ci[0], "I2_ci_high": self.I2_ci[1], "H2": self.H2,
                  "H2_ci_low": self.H2_ci[0], "H2_ci_high": self.H2_ci[1], "Q": self.Q, "Q_df": self.Q_df,
                  "Q_pvalue": self.Q_pvalue, "pi_low": self.pi_low, "pi_high": self.pi_high}
        if self.p > 1:
            stats_ |= {"QM": self.QM, "QM_pvalue": self.QM_pvalue, "R2": self.R2}
        for key, val in stats_.items():
            t[key] = val
        return t


@renamed(level="ci_level")
def random_effects(data=None, yi="yi", vi="vi", *, method="REML", test="z", mods=None, ci_level=0.95,
                   labels=None, weights=None, _r2=True):
    """Fit a fixed- or random-effects meta-analysis, optionally with moderators (metafor ``rma()``).

    Parameters
    ----------
    data : pandas.DataFrame, optional
        The studies, one row each (e.g. the table :func:`efficacy.meta.escalc` returns).
    yi, vi : str or array-like
        Effect sizes and sampling variances: column names of ``data`` (default ``"yi"``,
        ``"vi"``, as metafor) or arrays (then ``data`` may be omitted:
        ``random_effects(yi=y, vi=v)``).
    method : {"REML", "ML", "DL", "HE", "HS", "HSk", "SJ", "SJIT", "PM", "PMM", "EB", "GENQ", "EE"}
        Estimator of tau^2 (metafor ``rma.uni(method=)``; upper or lower case):
        restricted/maximum likelihood (Fisher scoring, as metafor), DerSimonian & Laird (1986),
        Hedges (1983), Hunter & Schmidt (2004; ``HS``) and its small-sample version ``HSk``
        (Brannick et al., 2019), Sidik & Jonkman (2005; ``SJ``, started at the variance of
        ``yi`` about its mean also with moderators, as metafor) and its iterated version
        ``SJIT``, Paule & Mandel (1982; ``PM``) and its median-unbiased version ``PMM``
        (Viechtbauer, 2021), empirical Bayes (Morris 1983; the same estimating equation as PM,
        as in metafor), the generalised Q-statistic estimator ``GENQ`` (DerSimonian & Kacker,
        2007; needs ``weights``), or ``EE`` (equal/fixed effect).
    test : {"z", "knha"}
        Normal tests, or the Knapp & Hartung (2003) adjustment (t / F tests with ``k - p`` df).
    mods : str, list of str, array or DataFrame, optional
        Moderators: column names of ``data`` (non-numeric columns are expanded with treatment
        coding against their first level) or a matrix. No formula strings are evaluated.
    ci_level : float
        Confidence level of the CIs and the prediction interval.
    labels : sequence of str, optional
        Study labels for messages (a row at fault is named by its label).
    weights : str or array-like, optional
        User weights (a column of ``data`` or one non-negative number per study), as metafor's
        ``weights=``: required by ``GENQ`` (whose tau^2 they define); with any method the fixed
        effects are then estimated by weighted least squares with these weights, their
        covariance by the sandwich ``(X'AX)^-1 X'A (V + tau2) A X (X'AX)^-1`` (and the
        Knapp-Hartung factor from the inverse-variance fit, as metafor).

    Returns
    -------
    RMAResult
        Pooled estimate, CI, prediction interval (metafor ``predict()``), tau^2 with its
        Q-profile CI (Viechtbauer, 2007; metafor ``confint()``), I^2 and H^2 (Higgins & Thompson,
        2002) with CIs, Cochran's Q; with moderators also ``QM``, the coefficient table and the
        pseudo-R^2 (``100 (tau2_0 - tau2) / tau2_0``, as metafor). For ``GENQ`` metafor's
        ``confint()`` gives the generalised Q-statistic CI of Jackson (2013) instead of the
        Q-profile one; here the tau^2 CI of a ``GENQ`` fit is ``(nan, nan)`` (not computed).

    References
    ----------
    Brannick, M. T., Potter, S. M., Benitez, B., & Morris, S. B. (2019). Bias and precision of
    alternate estimators in meta-analysis. *Organizational Research Methods*, 22(2), 490-514.
    DerSimonian, R., & Kacker, R. (2007). Random-effects model for meta-analysis of clinical
    trials: an update. *Contemporary Clinical Trials*, 28(2), 105-114.
    Sidik, K., & Jonkman, J. N. (2005). Simple heterogeneity variance estimation for
    meta-analysis. *JRSS C*, 54(2), 367-384.
    Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity in
    meta-analysis. *Statistics in Medicine*, 26(1), 37-52.

    Examples
    --------
    >>> res = random_effects(yi=[0.2, 0.5, 0.1, 0.4], vi=[0.01, 0.02, 0.015, 0.01], test="knha")
    >>> round(res.estimate, 4), round(res.ci_low, 4), round(res.ci_high, 4)
    (0.2934, 0.0142, 0.5727)
    """
    level = ci_level
    data = data_or_none(data, "random_effects")
    yi, vi = column(data, yi, "yi"), column(data, vi, "vi")
    weights = column(data, weights, "weights")
    canon = {m.upper(): m for m in METHODS}
    if str(method).upper() not in canon:
        raise MetaError(f"unknown method {method!r}", found=method, expected=", ".join(METHODS))
    method = canon[str(method).upper()]
    if test not in ("z", "knha"):
        raise MetaError(f"unknown test {test!r}", found=test, expected="'z' or 'knha'")
    y, v = _check_yv(yi, vi, labels)
    X, names = _design(mods, data, y.size)
    ok = ~(np.isnan(y) | np.isnan(v) | np.isnan(X).any(axis=1))
    a = None
    if weights is not None:
        a = np.asarray(weights, float).ravel()
        if a.size != y.size:
            raise MetaError("weights and yi differ in length", where="weights", found=a.size, expected=y.size)
        bad = np.flatnonzero(~np.isnan(a) & ((a < 0) | ~np.isfinite(a)))
        if bad.size:
            raise MetaError("weights must be finite and non-negative", where=f"weights, row {bad[0]}",
                            found=a[bad[0]], expected=">= 0")
        ok &= ~np.isnan(a)
        a = a[ok]
    elif method == "GENQ":
        raise MetaError("method 'GENQ' needs weights=", where="weights", found="None",
                        expected="one non-negative weight per study")
    y, v, X = y[ok], v[ok], X[ok]
    k, p = X.shape
    if k < 2 or k <= p:
        raise MetaError(f"too few studies (k = {k}) for a model with {p} coefficient(s)", found=f"k = {k}",
                        expected=f"k > {p} (and k >= 2)")
    if np.linalg.matrix_rank(X) < p:
        raise MetaError("moderators are collinear (model matrix not of full rank)", where=", ".join(names))
    tau2, conv = _tau2(y, v, X, method, weights=a)
    w = 1 / (v + tau2)
    P = _Proj(X, w, y)
    b, M = P.b, P.M
    vb = M.copy()
    if a is not None:  # weighted least squares with the user weights and a sandwich covariance
        Pa = _Proj(X, a, y)
        b = Pa.b
        XA = X * a[:, None]
        vb = Pa.M @ ((XA * (v + tau2)[:, None]).T @ XA) @ Pa.M
    df = k - p
    if test == "knha":
        s2 = P.yPy / df
        vb = vb * s2
        crit = stats.t.ppf(1 - (1 - level) / 2, df)
        dist = stats.t(df)
    else:
        crit = stats.norm.ppf(1 - (1 - level) / 2)
        dist = stats.norm
    se = np.sqrt(np.diag(vb))
    zv = b / se
    pv = 2 * dist.sf(np.abs(zv))
    Pfe = _Proj(X, 1 / v, y)
    Q = Pfe.yPy
    s2typ = df / Pfe.trP
    i2f = lambda t: 100 * t / (t + s2typ)  # noqa: E731
    if method in ("EE", "FE"):
        tci, I2ci, H2ci = (np.nan, np.nan), (np.nan, np.nan), (np.nan, np.nan)
        I2 = max(0.0, 100 * (Q - df) / Q) if Q > 0 else 0.0
        H2 = Q / df
    else:
        tci = (np.nan, np.nan) if method == "GENQ" else _tau2_qprofile(y, v, X, level)
        I2ci = tuple(i2f(t) for t in tci)
        H2ci = tuple(1 / (1 - i / 100) for i in I2ci)
        I2 = i2f(tau2)
        H2 = 1 / (1 - I2 / 100)
    # prediction interval at the intercept (no moderators) as metafor predict()
    x0 = np.zeros(p)
    x0[0] = 1
    pred_se = float(np.sqrt(x0 @ vb @ x0))
    pi_half = crit * np.sqrt(pred_se**2 + tau2)
    tab = pd.DataFrame({"term": names, "estimate": b, "se": se, "statistic": zv,
                        "pvalue": pv, "ci_low": b - crit * se, "ci_high": b + crit * se})
    res = RMAResult(method=method, test=test, k=k, p=p, estimate=float(b[0]), se=float(se[0]),
                    statistic=float(zv[0]), pvalue=float(pv[0]), ci_low=float(b[0] - crit * se[0]),
                    ci_high=float(b[0] + crit * se[0]),
                    pi_low=float(b[0] - pi_half), pi_high=float(b[0] + pi_half), tau2=float(tau2),
                    tau2_ci=tuple(float(t) for t in tci), I2=float(I2), I2_ci=tuple(float(t) for t in I2ci),
                    H2=float(H2), H2_ci=tuple(float(t) for t in H2ci), Q=Q, Q_df=df,
                    Q_pvalue=float(stats.chi2.sf(Q, df)), coef=b, vcov=vb, coef_table=tab,
                    weights=100 * (w if a is None else a) / (w if a is None else a).sum(), yi=y, vi=v, X=X,
                    ci_level=level, converged=conv,
                    reason="" if conv else f"the {method} estimator of tau^2 did not converge")
    if p > 1:
        bb = b[1:]
        QM = float(bb @ np.linalg.solve(vb[1:, 1:], bb))
        if test == "knha":
            res.QM, res.QM_df = QM / (p - 1), (p - 1, df)
            res.QM_pvalue = float(stats.f.sf(res.QM, p - 1, df))
        else:
            res.QM, res.QM_df, res.QM_pvalue = QM, (p - 1,), float(stats.chi2.sf(QM, p - 1))
        if _r2 and method not in ("EE", "FE"):
            t0, _ = _tau2(y, v, X[:, :1], method, weights=a)
            res.R2 = float(max(0.0, 100 * (t0 - tau2) / t0)) if t0 > 0 else 0.0
    return res


@dataclass(repr=False)
class SubgroupResult(TableResult):
    """Result of :func:`subgroup`: one row per group and a final ``between`` row (``to_frame()``).

    ``Q_between``, ``Q_df`` and ``Q_pvalue`` are the between-groups test (``QM`` of the model with
    the group as a moderator)."""

    _headline = ("Q_between", "Q_df", "Q_pvalue")
    _title = "Subgroup analysis"

    def _between(self, col):
        r = self.table.loc[self.table["group"].astype(str) == "between", col]
        return float(r.iloc[0]) if len(r) else float("nan")

    @property
    def Q_between(self) -> float:
        return self._between("Q")

    @property
    def Q_df(self) -> float:
        return self._between("Q_df")

    @property
    def Q_pvalue(self) -> float:
        return self._between("Q_pvalue")


@renamed(level="ci_level")
def subgroup(data=None, yi="yi", vi="vi", group=None, *, method="REML", test="z", ci_level=0.95):
    """Subgroup analysis: a separate model per group and the between-groups Q test.

    Each level of ``group`` gets its own random-effects model (its own tau^2; metafor
    ``rma(yi, vi, subset = group == level)``). The between-groups test is ``QM`` of the
    mixed-effects model with the group as a categorical moderator (one common tau^2; metafor
    ``rma(yi, vi, mods = ~ factor(group))``): a chi-square test with ``m - 1`` df, or with
    ``test="knha"`` an F test with ``(m - 1, k - m)`` df.

    Parameters
    ----------
    data : pandas.DataFrame, optional
        The studies; without it ``yi``, ``vi`` and ``group`` are arrays.
    yi, vi, group : str or array-like
        Effect sizes, sampling variances and the categorical moderator (names in ``data``, or arrays).
    method : str
        tau^2 estimator (see :func:`random_effects`).
    test : {"z", "knha"}
    ci_level : float

    Returns
    -------
    SubgroupResult
        ``to_frame()``: one row per group in sorted order (``k``, ``estimate``, ``se``, ``statistic``,
        ``pvalue``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high``, ``tau2``, ``I2``, ``Q``,
        ``Q_df``, ``Q_pvalue``; a group with one study has that study's estimate and tau2 = 0) and
        a final row ``between`` with ``Q`` = QM, its df (``Q_df``, and ``Q_df2`` for the F test),
        p value (``Q_pvalue``) and the common tau^2; ``Q_between``, ``Q_df``, ``Q_pvalue`` as
        attributes.

    References
    ----------
    Borenstein, M., Hedges, L. V., Higgins, J. P. T., & Rothstein, H. R. (2009). *Introduction to
    meta-analysis*, ch. 19. Wiley.
    """
    level = ci_level
    data = data_or_none(data, "subgroup", "yi=..., vi=..., group=...")
    if group is None:
        raise TypeError("subgroup() needs group=: the grouping column of data, or an array")
    if data is None:
        data = pd.DataFrame({"yi": yi, "vi": vi, "group": group})
        yi, vi, group = "yi", "vi", "group"
    check_columns(data, [("yi", yi), ("vi", vi), ("group", group)])
    rows = []
    crit = stats.norm.ppf(0.5 + level / 2)
    for g, d in data.groupby(group, sort=True):
        if len(d) == 1:
            y1, s1 = float(d[yi].iloc[0]), float(np.sqrt(d[vi].iloc[0]))
            rows.append({"group": g, "k": 1, "estimate": y1, "se": s1, "statistic": y1 / s1,
                         "pvalue": 2 * stats.norm.sf(abs(y1 / s1)), "ci_low": y1 - crit * s1,
                         "ci_high": y1 + crit * s1, "pi_low": y1 - crit * s1, "pi_high": y1 + crit * s1,
                         "tau2": 0.0, "I2": 0.0, "Q": 0.0, "Q_df": 0, "Q_pvalue": np.nan,
                         "reason": "k = 1: the study's own estimate"})
            continue
        r = random_effects(yi=d[yi], vi=d[vi], method=method, test=test, ci_level=level)
        rows.append({"group": g, "k": r.k, "estimate": r.estimate, "se": r.se, "statistic": r.statistic,
                     "pvalue": r.pvalue, "ci_low": r.ci_low, "ci_high": r.ci_high, "pi_low": r.pi_low,
                     "pi_high": r.pi_high, "tau2": r.tau2, "I2": r.I2, "Q": r.Q, "Q_df": r.Q_df,
                     "Q_pvalue": r.Q_pvalue, "reason": r.reason if getattr(r, "reason", "") else ""})
    dd = data.copy()
    dd[group] = dd[group].astype(str)
    m = random_effects(dd, yi, vi, mods=[group], method=method, test=test, ci_level=level)
    rows.append({"group": "between", "k": m.k, "Q": m.QM, "Q_df": m.QM_df[0],
                 "Q_df2": m.QM_df[1] if len(m.QM_df) > 1 else np.nan, "Q_pvalue": m.QM_pvalue,
                 "tau2": m.tau2, "reason": ""})
    return SubgroupResult(pd.DataFrame(rows))


# --------------------------------------------------------------------------- batched intercept-only fits
def _batch_tau2(y, v, M, method, maxiter=500, tol=1e-10):
    """tau^2 for many intercept-only models at once; ``M`` is a (B, k) 0/1 inclusion mask."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = _batch_tau2_raw(y, v, M, method, maxiter, tol)
    return np.where(M.sum(axis=1) < 2, 0.0, t)


def _batch_tau2_raw(y, v, M, method, maxiter, tol):
    M = M.astype(float)
    kk = M.sum(axis=1)
    w0 = M / v
    sw0 = w0.sum(1)
    mu0 = (w0 * y).sum(1) / sw0
    Q0 = (w0 * (y - mu0[:, None]) ** 2).sum(1)
    c = sw0 - (w0**2).sum(1) / sw0
    if method in ("EE", "FE"):
        return np.zeros(len(M))
    dl = np.maximum(0, (Q0 - (kk - 1)) / c)
    if method == "DL":
        return dl
    ybar = (M * y).sum(1) / kk
    ss = (M * (y - ybar[:, None]) ** 2).sum(1)
    if method == "HE":
        return np.maximum(0, ss / (kk - 1) - (M * v).sum(1) / kk)
    if method == "SJ":
        t0 = ss / kk
        w = M / (v + t0[:, None])
        mu = (w * y).sum(1) / w.sum(1)
        return t0 * (w * (y - mu[:, None]) ** 2).sum(1) / (kk - 1)
    if method in ("PM", "EB"):
        def qgen(t):
            w = M / (v + t[:, None])
            mu = (w * y).sum(1) / w.sum(1)
            return (w * (y - mu[:, None]) ** 2).sum(1) - (kk - 1)

        lo = np.zeros(len(M))
        hi = np.full(len(M), max(1.0, 10 * np.var(y)))
        while (qgen(hi) > 0).any():
            hi = np.where(qgen(hi) > 0, hi * 10, hi)
        pos = qgen(lo) > 0
        for _ in range(200):
            mid = (lo + hi) / 2
            f = qgen(mid)
            lo = np.where(f > 0, mid, lo)
            hi = np.where(f > 0, hi, mid)
            if np.max(hi - lo) < 1e-13:
                break
        return np.where(pos, (lo + hi) / 2, 0.0)
    if method == "GENQ":
        raise MetaError("leave-one-out, influence and cumulative fits are not available for method 'GENQ' "
                        "(its weights are not carried into the refits)", found="GENQ",
                        expected="another tau2 estimator")
    if method not in ("ML", "REML"):
        # the other estimators (HS, HSk, SJIT, PMM) one refit at a time with the full-model code: few k
        keep = M.astype(bool)
        return np.array([_tau2(y[r], v[r], np.ones((r.sum(), 1)), method)[0] if r.sum() >= 2 else 0.0
                         for r in keep])
    # ML / REML Fisher scoring
    t = np.maximum(0, ss / (kk - 1) - (M * v).sum(1) / kk)
    for _ in range(maxiter):
        w = M / (v + t[:, None])
        sw = w.sum(1)
        sw2 = (w**2).sum(1)
        mu = (w * y).sum(1) / sw
        r = y - mu[:, None]
        yPPy = (w**2 * r**2).sum(1)
        if method == "REML":
            trP = sw - sw2 / sw
            trPP = sw2 - 2 * (w**3).sum(1) / sw + sw2**2 / sw**2
            adj = (yPPy - trP) / trPP
        else:
            adj = (yPPy - sw) / sw2
        new = t + adj
        step = np.ones_like(t)
        for _ in range(30):
            bad = new < 0
            if not bad.any():
                break
            step = np.where(bad, step / 2, step)
            new = np.where(bad, t + step * adj, new)
        new = np.maximum(new, 0)
        if np.max(np.abs(new - t)) < tol:
            t = new
            break
        t = new
    return t


def _batch_fit(y, v, M, method, test, level):
    t = _batch_tau2(y, v, M, method)
    w = M / (v + t[:, None])
    sw = w.sum(1)
    mu = (w * y).sum(1) / sw
    var = 1 / sw
    kk = M.sum(1)
    if test == "knha":
        with np.errstate(invalid="ignore", divide="ignore"):
            s2 = (w * (y - mu[:, None]) ** 2).sum(1) / (kk - 1)
        var = var * s2
        crit = stats.t.ppf(1 - (1 - level) / 2, kk - 1)
        p = 2 * stats.t.sf(np.abs(mu / np.sqrt(var)), kk - 1)
    else:
        crit = stats.norm.ppf(1 - (1 - level) / 2)
        p = 2 * stats.norm.sf(np.abs(mu / np.sqrt(var)))
    se = np.sqrt(var)
    w0 = M / v
    sw0 = w0.sum(1)
    mu0 = (w0 * y).sum(1) / sw0
    Q = (w0 * (y - mu0[:, None]) ** 2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s2typ = (kk - 1) / (sw0 - (w0**2).sum(1) / sw0)
        I2 = 100 * t / (t + s2typ) if method not in ("EE", "FE") else np.maximum(0, 100 * (Q - (kk - 1)) / Q)
    I2 = np.where(kk < 2, 0.0, I2)
    return pd.DataFrame({"k": kk.astype(int), "estimate": mu, "se": se, "statistic": mu / se, "pvalue": p,
                         "ci_low": mu - crit * se, "ci_high": mu + crit * se, "Q": Q, "tau2": t, "I2": I2,
                         "H2": 100 / (100 - I2)})


def _fit_of(res):
    if res.p > 1:
        raise MetaError("this diagnostic is implemented for models without moderators", found=f"p = {res.p}")
    return res.yi, res.vi


@dataclass(repr=False)
class LeaveOneOutResult(TableResult):
    """Result of :func:`leave_one_out`: one row per omitted study (``to_frame()``); ``estimate_range``
    is the smallest and largest pooled estimate over the omissions."""

    _headline = ("estimate_range",)
    _title = "Leave-one-out analysis (metafor leave1out)"

    @property
    def estimate_range(self) -> tuple:
        e = self.table["estimate"]
        return float(e.min()), float(e.max())


@dataclass(repr=False)
class InfluenceResult(TableResult):
    """Result of :func:`influence`: case diagnostics per study (``to_frame()``); ``max_cook_d`` is the
    largest Cook's distance and ``most_influential`` that study."""

    _headline = ("max_cook_d", "most_influential")
    _title = "Influence diagnostics (metafor influence)"

    @property
    def max_cook_d(self) -> float:
        return float(self.table["cook_d"].max())

    @property
    def most_influential(self):
        c = self.table["cook_d"]
        return None if c.isna().all() else self.table.loc[c.idxmax(), "study"]


@dataclass(repr=False)
class CumulativeResult(TableResult):
    """Result of :func:`cumulative`: one row per added study (``to_frame()``); ``estimate`` is the
    pooled estimate after the last study."""

    _headline = ("estimate",)
    _title = "Cumulative meta-analysis (metafor cumul)"

    @property
    def estimate(self) -> float:
        return float(self.table["estimate"].iloc[-1])


def leave_one_out(res, labels=None):
    """Leave-one-out estimates (metafor ``leave1out()``), vectorised over the k deletions.

    Parameters
    ----------
    res : RMAResult
        A model without moderators.
    labels : sequence, optional
        Study labels (default 1..k).

    Returns
    -------
    LeaveOneOutResult
        ``to_frame()``: one row per omitted study: ``omitted, estimate, se, statistic, pvalue,
        ci_low, ci_high, Q, tau2, I2, H2``.
    """
    y, v = _fit_of(res)
    M = 1 - np.eye(y.size)
    out = _batch_fit(y, v, M, res.method, res.test, res.ci_level)
    out.insert(0, "omitted", labels if labels is not None else np.arange(1, y.size + 1))
    return LeaveOneOutResult(out.drop(columns="k"))


def influence(res, labels=None):
    """Case diagnostics (Viechtbauer & Cheung, 2010; metafor ``influence.rma.uni()``).

    Returns an :class:`InfluenceResult` whose ``to_frame()`` has ``rstudent`` (externally
    studentised deleted residual), ``dffits``, ``cook_d``, ``cov_r``, ``tau2_del``, ``QE_del``,
    ``hat`` and ``weight`` (percent) per study.
    """
    if res.p > 1:
        return InfluenceResult(_influence_mods(res, labels))
    y, v = _fit_of(res)
    k = y.size
    M = 1 - np.eye(k)
    t_del = _batch_tau2(y, v, M, res.method)
    w = M / (v + t_del[:, None])
    sw = w.sum(1)
    mu_del = (w * y).sum(1) / sw
    vb_del = 1 / sw
    if res.test == "knha":
        s2 = (w * (y - mu_del[:, None]) ** 2).sum(1) / (k - 2)
        vb_del = vb_del * s2
    resid = y - mu_del
    rstudent = resid / np.sqrt(v + t_del + vb_del)
    wf = 1 / (v + res.tau2)
    hat = wf / wf.sum()
    if res.test == "knha":
        s2f = (wf * (y - res.estimate) ** 2).sum() / (k - 1)
    else:
        s2f = 1.0
    dffits = (res.estimate - mu_del) / np.sqrt(s2f * hat * (t_del + v))
    cook = (res.estimate - mu_del) ** 2 / res.vcov[0, 0]
    cov_r = vb_del / res.vcov[0, 0]
    w0 = M / v
    mu0 = (w0 * y).sum(1) / w0.sum(1)
    QE_del = (w0 * (y - mu0[:, None]) ** 2).sum(1)
    return InfluenceResult(pd.DataFrame({"study": labels if labels is not None else np.arange(1, k + 1),
                                         "rstudent": rstudent, "dffits": dffits, "cook_d": cook, "cov_r": cov_r,
                                         "tau2_del": t_del, "QE_del": QE_del, "hat": hat, "weight": 100 * hat}))


def _influence_mods(res, labels=None):
    """Case diagnostics for a meta-regression: one refit per deleted study (k is small in practice)."""
    y, v, X = res.yi, res.vi, res.X
    k, p = X.shape
    if k - 1 <= p:
        raise MetaError(f"too few studies (k = {k}) for deletion diagnostics with {p} coefficients")
    wf = 1 / (v + res.tau2)
    Pf = _Proj(X, wf, y)
    hat = np.einsum("ij,jk,ik->i", X, Pf.M, X) * wf
    s2f = Pf.yPy / (k - p) if res.test == "knha" else 1.0
    svb = np.linalg.inv(res.vcov)
    out = {c: np.empty(k) for c in ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del"]}
    for i in range(k):
        keep = np.arange(k) != i
        r = random_effects(yi=y[keep], vi=v[keep], mods=X[keep][:, 1:], method=res.method, test=res.test, _r2=False)
        xi = X[i]
        pred_del = xi @ r.coef
        out["rstudent"][i] = (y[i] - pred_del) / np.sqrt(v[i] + r.tau2 + xi @ r.vcov @ xi)
        out["dffits"][i] = (xi @ res.coef - pred_del) / np.sqrt(s2f * hat[i] * (r.tau2 + v[i]))
        d = res.coef - r.coef
        out["cook_d"][i] = d @ svb @ d
        out["cov_r"][i] = np.linalg.det(r.vcov) / np.linalg.det(res.vcov)
        out["tau2_del"][i] = r.tau2
        out["QE_del"][i] = r.Q
    return pd.DataFrame({"study": labels if labels is not None else np.arange(1, k + 1), **out, "hat": hat,
                         "weight": 100 * wf / wf.sum()})


def cumulative(res, order=None, labels=None):
    """Cumulative meta-analysis (metafor ``cumul()``), adding studies in ``order``.

    ``order`` is an array of sort keys (e.g. year, or ``vi`` for precision); default the input order.
    Returns a :class:`CumulativeResult` (``to_frame()``: one row per added study).
    """
    y, v = _fit_of(res)
    idx = np.arange(y.size) if order is None else np.argsort(np.asarray(order), kind="stable")
    y, v = y[idx], v[idx]
    M = np.tril(np.ones((y.size, y.size)))
    out = _batch_fit(y, v, M, res.method, res.test, res.ci_level)
    lab = np.asarray(labels)[idx] if labels is not None else idx + 1
    out.insert(0, "added", lab)
    return CumulativeResult(out)
