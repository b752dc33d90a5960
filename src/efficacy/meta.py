"""Meta-analysis: effect sizes, random-effects pooling, diagnostics, bias, multilevel models, MASEM.

Names follow R's metafor (Viechtbauer, 2010, *Journal of Statistical Software*, 36(3)) so that
researchers recognise them: :func:`escalc` computes ``yi``/``vi``; :func:`random_effects` is
``rma()``; :func:`leave_one_out`, :func:`influence` and :func:`cumulative` are ``leave1out()``,
``influence()`` and ``cumul()``; :func:`egger_test` is ``regtest()``; :func:`trim_and_fill` is
``trimfill()``; :func:`three_level` is ``rma.mv(random = ~ 1 | study/es_id)``; :func:`masem`
is the two-stage approach with ``rcalc()``, ``rma.mv(struct="UN")`` and ``matreg()``.
Every number is checked against metafor 3.8 in ``tests/test_meta.py`` (fixtures written by
``tests/reference/meta.R``).

Example
-------
>>> from efficacy.meta import escalc, random_effects, transf
>>> es = escalc("ZCOR", ri=[0.30, 0.15, 0.42, 0.25, 0.05], ni=[120, 80, 60, 200, 150])
>>> res = random_effects(es["yi"], es["vi"], method="REML")
>>> round(res.estimate, 4), round(res.tau2, 4), round(res.I2, 1)
(0.2292, 0.0104, 54.3)
>>> round(float(transf(res.estimate, "ZCOR")), 3)   # pooled r
0.225

On ``dat.bcg`` (``data/literature/bcg.csv``; ``escalc("RR", ai="tpos", bi="tneg", ci="cpos",
di="cneg")``) this gives metafor's -0.7145 (SE 0.1798), tau2 0.3132 [0.1197, 1.1115].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from efficacy.errors import EfficacyError

__all__ = [
    "ThreeLevelResult",
    "MASEMResult",
    "TrimFillResult",
    "MetaError",
    "escalc",
    "d_to_r",
    "r_to_d",
    "d_to_logor",
    "logor_to_d",
    "transf",
    "RMAResult",
    "random_effects",
    "subgroup",
    "leave_one_out",
    "influence",
    "cumulative",
    "egger_test",
    "trim_and_fill",
    "pet_peese",
    "three_level",
    "rcalc",
    "masem",
    "run_analysis",
    "load_tables",
]

METHODS = ("EE", "FE", "DL", "HE", "SJ", "ML", "REML", "PM", "EB")
MEASURES = ("SMD", "MD", "COR", "ZCOR", "OR", "RR", "RD")


class MetaError(EfficacyError):
    """Bad input to a meta-analysis (names the row or column at fault)."""


# --------------------------------------------------------------------------- effect sizes
def _col(data, value, name):
    if value is None:
        return None
    if isinstance(value, str):
        if data is None or value not in data:
            raise MetaError(f"column {value!r} for {name} not found", where=name)
        return np.asarray(data[value], dtype=float)
    return np.asarray(value, dtype=float)


def _need(cols, names, measure):
    missing = [n for n in names if cols.get(n) is None]
    if missing:
        raise MetaError(f"measure {measure} needs {', '.join(missing)}", found="missing arguments",
                        expected=", ".join(names))


def escalc(measure, data=None, *, add=0.5, to="only0", **columns):
    """Compute effect sizes ``yi`` and sampling variances ``vi`` (metafor ``escalc()``).

    Parameters
    ----------
    measure : {"SMD", "MD", "COR", "ZCOR", "OR", "RR", "RD"}
        ``SMD``: bias-corrected standardised mean difference (Hedges' g) with metafor's exact
        correction ``J = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))``, ``m = n1+n2-2``
        and ``vi = 1/n1 + 1/n2 + g^2/(2(n1+n2))`` (Hedges, 1981); from ``m1i, sd1i, n1i, m2i,
        sd2i, n2i``, or from a t statistic ``ti`` (or ``Fi`` with one numerator df, sign taken
        from ``ti``/positive) with ``n1i, n2i`` when means are missing.
        ``MD``: raw mean difference, ``vi = sd1^2/n1 + sd2^2/n2``.
        ``COR``: raw r, ``vi = (1-r^2)^2/(n-1)``; ``ZCOR``: Fisher z, ``vi = 1/(n-3)``; from ``ri, ni``.
        ``OR``/``RR``/``RD``: log odds ratio, log risk ratio, risk difference from the 2x2 cells
        ``ai, bi, ci, di`` (or ``ai, n1i, ci, n2i``).
    data : pandas.DataFrame, optional
        Table holding the columns named in ``columns`` (values may also be arrays).
    add, to : float, str
        Continuity correction as metafor's default (``add=1/2, to="only0"``): 0.5 is added to
        every cell of a 2x2 table that has a zero cell (OR, RR and RD, as metafor 3.8).
        ``to="none"`` disables it; ``to="all"`` adds to every table. A log ratio that is then
        infinite (a zero cell left uncorrected) is NA, as metafor recodes +-Inf to NA.

    Returns
    -------
    pandas.DataFrame
        The input columns (when ``data`` is given) plus ``yi``, ``vi`` and ``note`` (the
        correction applied, or why a row is NA).

    Examples
    --------
    >>> es = escalc("COR", ri=[0.30, 0.15], ni=[120, 80])
    >>> es["vi"].round(5).tolist()
    [0.00696, 0.0121]
    >>> escalc("OR", ai=[0], bi=[10], ci=[3], di=[7])["note"][0]
    "zero cell: 0.5 added to each cell (metafor add=1/2, to='only0')"

    Notes
    -----
    Matches ``metafor::escalc``. A correlation outside (-1, 1), a sample size too small for the
    variance, or a non-positive SD raises :class:`MetaError` naming the row.
    """
    measure = str(measure).upper()
    if measure not in MEASURES:
        raise MetaError(f"unknown measure {measure!r}", found=measure, expected=", ".join(MEASURES))
    cols = {k: _col(data, v, k) for k, v in columns.items()}
    note = None
    if measure in ("SMD", "MD"):
        if measure == "SMD" and cols.get("m1i") is None and (cols.get("ti") is not None or cols.get("Fi") is not None):
            _need(cols, ["n1i", "n2i"], measure)
            n1, n2 = cols["n1i"], cols["n2i"]
            t = cols.get("ti")
            if t is None:
                t = np.sqrt(cols["Fi"])
            d = t * np.sqrt(1 / n1 + 1 / n2)
        else:
            _need(cols, ["m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"], measure)
            n1, n2, s1, s2 = cols["n1i"], cols["n2i"], cols["sd1i"], cols["sd2i"]
            for nm, arr in (("sd1i", s1), ("sd2i", s2)):
                bad = np.flatnonzero(~(arr > 0) & ~np.isnan(arr))
                if bad.size:
                    raise MetaError(f"standard deviation must be positive", where=f"row {bad[0]}, column {nm}",
                                    found=arr[bad[0]], expected="> 0")
            diff = cols["m1i"] - cols["m2i"]
            if measure == "MD":
                yi, vi = diff, s1**2 / n1 + s2**2 / n2
                return _es_frame(data, yi, vi, note)
            sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
            d = diff / sp
        m = n1 + n2 - 2
        from scipy.special import gammaln

        J = np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))
        yi = J * d
        vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    elif measure in ("COR", "ZCOR"):
        _need(cols, ["ri", "ni"], measure)
        r, n = cols["ri"], cols["ni"]
        bad = np.flatnonzero(~(np.abs(r) < 1) & ~np.isnan(r))
        if bad.size:
            raise MetaError("correlation outside (-1, 1)", where=f"row {bad[0]}, column ri",
                            found=r[bad[0]], expected="-1 < r < 1")
        lim = 3 if measure == "ZCOR" else 1
        bad = np.flatnonzero(~(n > lim) & ~np.isnan(n))
        if bad.size:
            raise MetaError("sample size too small for the sampling variance", where=f"row {bad[0]}, column ni",
                            found=n[bad[0]], expected=f"> {lim}")
        if measure == "COR":
            yi, vi = r, (1 - r**2) ** 2 / (n - 1)
        else:
            yi, vi = np.arctanh(r), 1 / (n - 3)
    else:
        ai, ci = cols.get("ai"), cols.get("ci")
        bi, di = cols.get("bi"), cols.get("di")
        if bi is None and cols.get("n1i") is not None and ai is not None:
            bi = cols["n1i"] - ai
        if di is None and cols.get("n2i") is not None and ci is not None:
            di = cols["n2i"] - ci
        _need({"ai": ai, "bi": bi, "ci": ci, "di": di}, ["ai", "bi", "ci", "di"], measure)
        cells = np.column_stack([ai, bi, ci, di])
        neg = np.argwhere(cells < 0)
        if neg.size:
            raise MetaError("negative cell count", where=f"row {neg[0][0]}, column {['ai','bi','ci','di'][neg[0][1]]}")
        # metafor corrects the tables of all three 2x2 measures (RD too)
        if to == "all":
            fix = np.ones(len(cells), bool)
        elif to == "only0":
            fix = (cells == 0).any(axis=1)
        else:
            fix = np.zeros(len(cells), bool)
        cells = cells + np.where(fix[:, None], add, 0.0)
        if fix.any() and to != "all":
            note = np.where(fix, f"zero cell: {add} added to each cell (metafor add=1/2, to='only0')", None)
        ai, bi, ci, di = cells.T
        n1, n2 = ai + bi, ci + di
        with np.errstate(divide="ignore", invalid="ignore"):  # uncorrected zero cells (to="none")
            if measure == "OR":
                yi = np.log(ai * di / (bi * ci))
                vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
            elif measure == "RR":
                yi = np.log((ai / n1) / (ci / n2))
                vi = 1 / ai - 1 / n1 + 1 / ci - 1 / n2
            else:
                p1, p2 = ai / n1, ci / n2
                yi = p1 - p2
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        yi, vi = np.where(np.isinf(yi), np.nan, yi), np.where(np.isinf(vi), np.nan, vi)  # metafor: +-Inf -> NA
    return _es_frame(data, yi, vi, note)


def _es_frame(data, yi, vi, note):
    out = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(index=range(len(yi)))
    out = out.reset_index(drop=True)
    out["yi"] = np.asarray(yi, float)
    out["vi"] = np.asarray(vi, float)
    out["note"] = pd.Series(note if note is not None else [None] * len(out), dtype=object)
    return out


def d_to_r(d, n1=None, n2=None):
    """Convert a standardised mean difference to a correlation (Borenstein et al. 2009, eq. 7.5).

    ``r = d / sqrt(d^2 + a)`` with ``a = (n1+n2)^2/(n1 n2)`` (``a = 4`` when group sizes are
    not given or equal).
    """
    a = 4.0 if n1 is None else (np.asarray(n1) + np.asarray(n2)) ** 2 / (np.asarray(n1) * np.asarray(n2))
    d = np.asarray(d, float)
    return d / np.sqrt(d**2 + a)


def r_to_d(r):
    """Convert a correlation to d: ``d = 2r / sqrt(1 - r^2)`` (Borenstein et al. 2009, eq. 7.6)."""
    r = np.asarray(r, float)
    return 2 * r / np.sqrt(1 - r**2)


def d_to_logor(d):
    """Convert d to a log odds ratio: ``log OR = d pi / sqrt(3)`` (Borenstein et al. 2009, eq. 7.2)."""
    return np.asarray(d, float) * np.pi / np.sqrt(3)


def logor_to_d(logor):
    """Convert a log odds ratio to d: ``d = log OR sqrt(3) / pi`` (Borenstein et al. 2009, eq. 7.1)."""
    return np.asarray(logor, float) * np.sqrt(3) / np.pi


def transf(x, measure):
    """Back-transform for display (metafor ``transf.ztor``, ``exp``): ZCOR -> r; OR/RR -> ratio."""
    measure = str(measure).upper()
    x = np.asarray(x, float)
    if measure == "ZCOR":
        return np.tanh(x)
    if measure in ("OR", "RR"):
        return np.exp(x)
    return x


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


def _ols_resid(y, X):
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return y - X @ beta


def _tau2(y, v, X, method, tau2_fixed=None, maxiter=1000, tol=1e-10):
    k, p = X.shape
    if method in ("EE", "FE"):
        return 0.0, True
    if method == "DL":
        P = _Proj(X, 1 / v, y)
        return max(0.0, (P.yPy - (k - p)) / P.trP), True
    if method == "HE":
        r = _ols_resid(y, X)
        XtX_inv = np.linalg.pinv(X.T @ X)
        tr = v.sum() - np.trace(XtX_inv @ ((X * v[:, None]).T @ X))
        return max(0.0, (r @ r - tr) / (k - p)), True
    if method == "SJ":
        r = _ols_resid(y, X)
        t0 = (r @ r) / k
        return t0 * _Proj(X, 1 / (v + t0), y).yPy / (k - p), True
    if method in ("PM", "EB"):
        def f(t):
            return _Proj(X, 1 / (v + t), y).yPy - (k - p)

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
    """Build the model matrix (intercept + columns, categorical treatment-coded)."""
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
                levels = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else sorted(col.dropna().unique())
                for lev in levels[1:]:
                    parts.append((col == lev).to_numpy(float))
                    names.append(f"{m}{lev}")
        return np.column_stack(parts), names
    M = np.asarray(mods, float)
    if M.ndim == 1:
        M = M[:, None]
    if M.shape[0] != k:
        raise MetaError("moderator matrix has the wrong number of rows", found=M.shape[0], expected=k)
    names = list(mods.columns) if isinstance(mods, pd.DataFrame) else [f"mod{j + 1}" for j in range(M.shape[1])]
    return np.column_stack([np.ones(k), M]), ["intrcpt"] + [str(n) for n in names]


@dataclass
class RMAResult:
    """Result of :func:`random_effects` (metafor ``rma.uni``).

    ``estimate``/``se``/``zval``/``pval``/``ci_low``/``ci_high`` refer to the intercept (the
    pooled effect in a model without moderators); ``coef_table`` holds all coefficients.
    """

    method: str
    test: str
    k: int
    p: int
    estimate: float
    se: float
    zval: float
    pval: float
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
    Q_pval: float
    coef: np.ndarray
    vcov: np.ndarray
    coef_table: pd.DataFrame
    QM: float = np.nan
    QM_df: tuple = ()
    QM_pval: float = np.nan
    R2: float = np.nan
    weights: np.ndarray = field(default=None, repr=False)
    yi: np.ndarray = field(default=None, repr=False)
    vi: np.ndarray = field(default=None, repr=False)
    X: np.ndarray = field(default=None, repr=False)
    level: float = 0.95
    converged: bool = True
    reason: str = ""

    def __repr__(self):
        return (f"RMAResult(method={self.method}, k={self.k}, estimate={self.estimate:.4f}, se={self.se:.4f}, "
                f"ci=[{self.ci_low:.4f}, {self.ci_high:.4f}], tau2={self.tau2:.4f}, I2={self.I2:.2f}%, "
                f"Q={self.Q:.3f} (df={self.Q_df}, p={self.Q_pval:.4g}))")

    def to_frame(self):
        """One-row-per-statistic tidy table."""
        rows = [("k", self.k), ("estimate", self.estimate), ("se", self.se),
                ("zval" if self.test == "z" else "tval", self.zval), ("pval", self.pval),
                ("ci_low", self.ci_low), ("ci_high", self.ci_high), ("pi_low", self.pi_low),
                ("pi_high", self.pi_high), ("tau2", self.tau2), ("tau2_ci_low", self.tau2_ci[0]),
                ("tau2_ci_high", self.tau2_ci[1]), ("I2", self.I2), ("I2_ci_low", self.I2_ci[0]),
                ("I2_ci_high", self.I2_ci[1]), ("H2", self.H2), ("H2_ci_low", self.H2_ci[0]),
                ("H2_ci_high", self.H2_ci[1]), ("Q", self.Q), ("Q_df", self.Q_df), ("Q_pval", self.Q_pval)]
        if self.p > 1:
            rows += [("QM", self.QM), ("QM_pval", self.QM_pval), ("R2", self.R2)]
        return pd.DataFrame(rows, columns=["statistic", "value"]).assign(method=self.method, test=self.test)


def random_effects(yi, vi, *, method="REML", test="z", mods=None, data=None, level=0.95,
                   labels=None, _r2=True):
    """Fit a fixed- or random-effects meta-analysis, optionally with moderators (metafor ``rma()``).

    Parameters
    ----------
    yi, vi : array-like or str
        Effect sizes and sampling variances (column names if ``data`` is given).
    method : {"REML", "ML", "DL", "HE", "SJ", "PM", "EB", "EE"}
        Estimator of tau^2: restricted/maximum likelihood (Fisher scoring, as metafor),
        DerSimonian & Laird (1986), Hedges (1983), Sidik & Jonkman (2005), Paule & Mandel (1982)
        and empirical Bayes (Morris 1983; the same estimating equation as PM, as in metafor),
        or ``EE`` (equal/fixed effect).
    test : {"z", "knha"}
        Normal tests, or the Knapp & Hartung (2003) adjustment (t / F tests with ``k - p`` df).
    mods : str, list of str, array or DataFrame, optional
        Moderators: column names of ``data`` (non-numeric columns are expanded with treatment
        coding against their first level) or a matrix. No formula strings are evaluated.
    level : float
        Confidence level of the CIs and the prediction interval.

    Returns
    -------
    RMAResult
        Pooled estimate, CI, prediction interval (metafor ``predict()``), tau^2 with its
        Q-profile CI (Viechtbauer, 2007; metafor ``confint()``), I^2 and H^2 (Higgins & Thompson,
        2002) with CIs, Cochran's Q; with moderators also ``QM``, the coefficient table and the
        pseudo-R^2 (``100 (tau2_0 - tau2) / tau2_0``, as metafor).

    Examples
    --------
    >>> res = random_effects([0.2, 0.5, 0.1, 0.4], [0.01, 0.02, 0.015, 0.01], test="knha")
    >>> round(res.estimate, 4), round(res.ci_low, 4), round(res.ci_high, 4)
    (0.2934, 0.0142, 0.5727)
    """
    if data is not None:
        yi = data[yi] if isinstance(yi, str) else yi
        vi = data[vi] if isinstance(vi, str) else vi
    method = str(method).upper()
    if method not in METHODS:
        raise MetaError(f"unknown method {method!r}", found=method, expected=", ".join(METHODS))
    if test not in ("z", "knha"):
        raise MetaError(f"unknown test {test!r}", found=test, expected="'z' or 'knha'")
    y, v = _check_yv(yi, vi, labels)
    X, names = _design(mods, data, y.size)
    ok = ~(np.isnan(y) | np.isnan(v) | np.isnan(X).any(axis=1))
    y, v, X = y[ok], v[ok], X[ok]
    k, p = X.shape
    if k < 2 or k <= p:
        raise MetaError(f"too few studies (k = {k}) for a model with {p} coefficient(s)", found=f"k = {k}",
                        expected=f"k > {p} (and k >= 2)")
    if np.linalg.matrix_rank(X) < p:
        raise MetaError("moderators are collinear (model matrix not of full rank)", where=", ".join(names))
    tau2, conv = _tau2(y, v, X, method)
    w = 1 / (v + tau2)
    P = _Proj(X, w, y)
    b, M = P.b, P.M
    vb = M.copy()
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
        tci = _tau2_qprofile(y, v, X, level)
        I2ci = tuple(i2f(t) for t in tci)
        H2ci = tuple(1 / (1 - i / 100) for i in I2ci)
        I2 = i2f(tau2)
        H2 = 1 / (1 - I2 / 100)
    # prediction interval at the intercept (no moderators) as metafor predict()
    x0 = np.zeros(p)
    x0[0] = 1
    pred_se = float(np.sqrt(x0 @ vb @ x0))
    pi_half = crit * np.sqrt(pred_se**2 + tau2)
    tab = pd.DataFrame({"term": names, "estimate": b, "se": se, "zval" if test == "z" else "tval": zv,
                        "pval": pv, "ci_low": b - crit * se, "ci_high": b + crit * se})
    res = RMAResult(method=method, test=test, k=k, p=p, estimate=float(b[0]), se=float(se[0]), zval=float(zv[0]),
                    pval=float(pv[0]), ci_low=float(b[0] - crit * se[0]), ci_high=float(b[0] + crit * se[0]),
                    pi_low=float(b[0] - pi_half), pi_high=float(b[0] + pi_half), tau2=float(tau2),
                    tau2_ci=tuple(float(t) for t in tci), I2=float(I2), I2_ci=tuple(float(t) for t in I2ci),
                    H2=float(H2), H2_ci=tuple(float(t) for t in H2ci), Q=Q, Q_df=df,
                    Q_pval=float(stats.chi2.sf(Q, df)), coef=b, vcov=vb, coef_table=tab,
                    weights=100 * w / w.sum(), yi=y, vi=v, X=X, level=level, converged=conv,
                    reason="" if conv else "Fisher scoring did not converge")
    if p > 1:
        bb = b[1:]
        QM = float(bb @ np.linalg.solve(vb[1:, 1:], bb))
        if test == "knha":
            res.QM, res.QM_df = QM / (p - 1), (p - 1, df)
            res.QM_pval = float(stats.f.sf(res.QM, p - 1, df))
        else:
            res.QM, res.QM_df, res.QM_pval = QM, (p - 1,), float(stats.chi2.sf(QM, p - 1))
        if _r2 and method not in ("EE", "FE"):
            t0, _ = _tau2(y, v, X[:, :1], method)
            res.R2 = float(max(0.0, 100 * (t0 - tau2) / t0)) if t0 > 0 else 0.0
    return res


def subgroup(yi, vi, group, *, data=None, method="REML", level=0.95):
    """Subgroup analysis: a separate model per group and the between-groups Q test.

    The between-groups test is ``QM`` of the mixed-effects model with the group as a
    categorical moderator (one common tau^2; metafor ``rma(yi, vi, mods = ~ group)``).

    Returns
    -------
    pandas.DataFrame
        One row per group (estimate, se, CI, tau2, I2, k) and a final row ``between`` with
        ``Q_between``, its df and p value.
    """
    if data is None:
        data = pd.DataFrame({"yi": yi, "vi": vi, "group": group})
        yi, vi, group = "yi", "vi", "group"
    rows = []
    for g, d in data.groupby(group, sort=True):
        if len(d) < 2:
            rows.append({"group": g, "k": len(d), "reason": "k < 2: no pooled estimate"})
            continue
        r = random_effects(d[yi], d[vi], method=method, level=level)
        rows.append({"group": g, "k": r.k, "estimate": r.estimate, "se": r.se, "ci_low": r.ci_low,
                     "ci_high": r.ci_high, "tau2": r.tau2, "I2": r.I2, "Q": r.Q, "reason": ""})
    dd = data.copy()
    dd[group] = dd[group].astype(str)
    m = random_effects(yi, vi, mods=[group], data=dd, method=method, level=level)
    rows.append({"group": "between", "k": m.k, "Q": m.QM, "Q_df": m.QM_df[0], "Q_pval": m.QM_pval,
                 "tau2": m.tau2, "reason": ""})
    return pd.DataFrame(rows)


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
    return pd.DataFrame({"k": kk.astype(int), "estimate": mu, "se": se, "zval": mu / se, "pval": p,
                         "ci_low": mu - crit * se, "ci_high": mu + crit * se, "Q": Q, "tau2": t, "I2": I2,
                         "H2": 100 / (100 - I2)})


def _fit_of(res):
    if res.p > 1:
        raise MetaError("this diagnostic is implemented for models without moderators", found=f"p = {res.p}")
    return res.yi, res.vi


def leave_one_out(res, labels=None):
    """Leave-one-out estimates (metafor ``leave1out()``), vectorised over the k deletions.

    Parameters
    ----------
    res : RMAResult
        A model without moderators.

    Returns
    -------
    pandas.DataFrame
        One row per omitted study: ``estimate, se, zval, pval, ci_low, ci_high, Q, tau2, I2, H2``.
    """
    y, v = _fit_of(res)
    M = 1 - np.eye(y.size)
    out = _batch_fit(y, v, M, res.method, res.test, res.level)
    out.insert(0, "omitted", labels if labels is not None else np.arange(1, y.size + 1))
    return out.drop(columns="k")


def influence(res, labels=None):
    """Case diagnostics (Viechtbauer & Cheung, 2010; metafor ``influence.rma.uni()``).

    Returns ``rstudent`` (externally studentised deleted residual), ``dffits``, ``cook_d``,
    ``cov_r``, ``tau2_del``, ``QE_del``, ``hat`` and ``weight`` (percent) per study.
    """
    if res.p > 1:
        return _influence_mods(res, labels)
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
    return pd.DataFrame({"study": labels if labels is not None else np.arange(1, k + 1), "rstudent": rstudent,
                         "dffits": dffits, "cook_d": cook, "cov_r": cov_r, "tau2_del": t_del, "QE_del": QE_del,
                         "hat": hat, "weight": 100 * hat})


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
        r = random_effects(y[keep], v[keep], mods=X[keep][:, 1:], method=res.method, test=res.test, _r2=False)
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
    """
    y, v = _fit_of(res)
    idx = np.arange(y.size) if order is None else np.argsort(np.asarray(order), kind="stable")
    y, v = y[idx], v[idx]
    M = np.tril(np.ones((y.size, y.size)))
    out = _batch_fit(y, v, M, res.method, res.test, res.level)
    lab = np.asarray(labels)[idx] if labels is not None else idx + 1
    out.insert(0, "added", lab)
    return out


# --------------------------------------------------------------------------- small-study effects
def egger_test(res):
    """Egger's regression test as metafor ``regtest()`` default.

    The mixed-effects model ``rma(yi, vi, mods = ~ sei, method = res.method)`` is fitted; the
    test of the ``sei`` slope gives ``zval``/``pval`` and its intercept is the limit estimate
    (effect as the standard error goes to 0; Egger et al., 1997; Sterne & Egger, 2005).

    Examples
    --------
    >>> es = escalc("ZCOR", ri=[0.30, 0.15, 0.42, 0.25, 0.05], ni=[120, 80, 60, 200, 150])
    >>> eg = egger_test(random_effects(es["yi"], es["vi"]))
    >>> round(eg["zval"], 3), round(eg["pval"], 3)
    (0.892, 0.373)
    """
    y, v = _fit_of(res)
    m = random_effects(y, v, mods=np.sqrt(v), method=res.method, test=res.test, level=res.level, _r2=False)
    t = m.coef_table
    stat = "zval" if res.test == "z" else "tval"
    return {"zval": float(t[stat].iloc[1]), "pval": float(t["pval"].iloc[1]), "df": m.k - 2,
            "limit_estimate": float(t["estimate"].iloc[0]), "limit_ci_low": float(t["ci_low"].iloc[0]),
            "limit_ci_high": float(t["ci_high"].iloc[0]), "test": stat}


@dataclass
class TrimFillResult:
    """Trim-and-fill result: ``k0`` missing studies on ``side``, the filled model and the imputed studies."""

    k0: int
    se_k0: float
    side: str
    model: RMAResult
    filled: pd.DataFrame

    def __repr__(self):
        return (f"TrimFillResult(k0={self.k0}, side={self.side!r}, estimate={self.model.estimate:.4f}, "
                f"ci=[{self.model.ci_low:.4f}, {self.model.ci_high:.4f}])")


def trim_and_fill(res, side=None, maxiter=100):
    """Duval & Tweedie (2000) trim and fill with the L0 estimator (metafor ``trimfill()``).

    ``side=None`` chooses the side as metafor: the side opposite to the sign of the slope of
    ``sei`` in ``rma(yi, vi, mods = ~ sei)`` fitted with the model's method ("right" when the
    slope is negative). Returns the refitted model on observed plus imputed studies.

    Examples
    --------
    >>> es = escalc("ZCOR", ri=[0.30, 0.15, 0.42, 0.25, 0.05], ni=[120, 80, 60, 200, 150])
    >>> tf = trim_and_fill(random_effects(es["yi"], es["vi"]))
    >>> tf.k0, tf.side, round(tf.model.estimate, 4)
    (1, 'left', 0.1932)
    """
    y0, v0 = _fit_of(res)
    k = y0.size
    if side is None:
        m = random_effects(y0, v0, mods=np.sqrt(v0), method=res.method, _r2=False)
        side = "right" if m.coef[1] < 0 else "left"
    y = -y0 if side == "right" else y0.copy()
    order = np.argsort(y, kind="stable")
    y, v = y[order], v0[order]
    k0, k0_prev, it = 0, -1, 0
    se_k0 = np.nan
    beta = np.nan
    while k0 != k0_prev and it < maxiter:
        k0_prev = k0
        it += 1
        keep = k - k0
        beta = random_effects(y[:keep], v[:keep], method=res.method, _r2=False).estimate
        yc = y - beta
        ranks = stats.rankdata(np.abs(yc), method="ordinal")
        Sr = ranks[yc > 0].sum()
        k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f - 18 * k * k0f**2
                  - 18 * k * k0f + 6 * k**2 * k0f) / 24
        se_k0 = 4 * np.sqrt(var_sr) / (2 * k - 1)
        k0 = int(max(0, np.round(k0f)))
        k0 = min(k0, k - 1)
    if k0 > 0:
        yf = 2 * beta - y[k - k0:]
        vf = v[k - k0:]
        if side == "right":
            yf = -yf
    else:
        yf, vf = np.array([]), np.array([])
    model = random_effects(np.r_[y0, yf], np.r_[v0, vf], method=res.method, test=res.test, level=res.level)
    filled = pd.DataFrame({"yi": yf, "vi": vf, "filled": True})
    return TrimFillResult(k0=k0, se_k0=float(se_k0), side=side, model=model, filled=filled)


def pet_peese(res, alpha=0.05):
    """PET-PEESE (Stanley & Doucouliagos, 2014) as meta-regressions on ``sei`` and ``vi``.

    PET: ``rma(yi, vi, mods = ~ sei)``; PEESE: ``rma(yi, vi, mods = ~ vi)``, both with the
    model's method. The conditional estimate is PEESE's intercept when PET's intercept differs
    from zero at two-sided ``alpha``, else PET's intercept.
    """
    y, v = _fit_of(res)
    pet = random_effects(y, v, mods=np.sqrt(v), method=res.method, test=res.test, _r2=False)
    peese = random_effects(y, v, mods=v, method=res.method, test=res.test, _r2=False)
    use = "PEESE" if pet.pval < alpha else "PET"
    chosen = peese if use == "PEESE" else pet
    return {"pet_estimate": pet.estimate, "pet_se": pet.se, "pet_pval": pet.pval, "pet_slope": float(pet.coef[1]),
            "peese_estimate": peese.estimate, "peese_se": peese.se, "peese_pval": peese.pval,
            "peese_slope": float(peese.coef[1]), "chosen": use, "estimate": chosen.estimate,
            "ci_low": chosen.ci_low, "ci_high": chosen.ci_high}


# --------------------------------------------------------------------------- multilevel models
def _reml_negll(y, X, Vs):
    """REML negative log-likelihood given the marginal covariance ``Vs`` (metafor's, up to a constant)."""
    try:
        L = np.linalg.cholesky(Vs)
    except np.linalg.LinAlgError:
        return np.inf, None, None
    Li_y = np.linalg.solve(L, y)
    Li_X = np.linalg.solve(L, X)
    XtVX = Li_X.T @ Li_X
    b = np.linalg.solve(XtVX, Li_X.T @ Li_y)
    r = Li_y - Li_X @ b
    sign, logdet_x = np.linalg.slogdet(XtVX)
    logdet_xx = np.linalg.slogdet(X.T @ X)[1]
    nll = 0.5 * (2 * np.log(np.diag(L)).sum() + logdet_x - logdet_xx + r @ r
                 + (len(y) - X.shape[1]) * np.log(2 * np.pi))
    return nll, b, XtVX


@dataclass
class ThreeLevelResult:
    """Result of :func:`three_level` (metafor ``rma.mv(random = ~ 1 | study/es_id)``)."""

    coef_table: pd.DataFrame
    sigma2: tuple
    logLik: float
    k: int
    n_clusters: int
    QE: float
    QE_pval: float
    vcov: np.ndarray
    vcov_cr2: np.ndarray | None
    converged: bool
    reason: str = ""

    @property
    def estimate(self):
        return float(self.coef_table["estimate"].iloc[0])

    @property
    def se(self):
        return float(self.coef_table["se"].iloc[0])

    def __repr__(self):
        return (f"ThreeLevelResult(k={self.k}, clusters={self.n_clusters}, estimate={self.estimate:.4f}, "
                f"se={self.se:.4f}, sigma2=({self.sigma2[0]:.4f}, {self.sigma2[1]:.4f}))")

    def to_frame(self):
        t = self.coef_table.copy()
        t["sigma2_study"], t["sigma2_within"] = self.sigma2
        return t


def _cr2_vcov(X, W, Phi, e, cluster):
    """CR2 cluster-robust covariance and Satterthwaite df (Bell & McCaffrey, 2002; Pustejovsky & Tipton, 2018).

    ``W`` is the weight matrix of the estimator (here ``Phi^-1``), ``Phi`` the working model.
    ``A_j = D_j' B_j^{-1/2} D_j`` with ``Phi_j = D_j' D_j`` and
    ``B_j = D_j (I - H)_j Phi (I - H)_j' D_j'`` (clubSandwich ``vcovCR(type="CR2")``). The df of
    each coefficient's test are Satterthwaite's under the working model
    (clubSandwich ``coef_test(test="Satterthwaite")``).
    Returns ``(vcov, df)``.
    """
    XtW = X.T @ W
    M = np.linalg.inv(XtW @ X)
    H = X @ M @ XtW
    IH = np.eye(len(e)) - H
    p = X.shape[1]
    meat = np.zeros((p, p))
    G = []  # per cluster: p x k matrices whose products with e give the cluster's score contribution
    for g in pd.unique(cluster):
        j = np.flatnonzero(cluster == g)
        D = np.linalg.cholesky(Phi[np.ix_(j, j)]).T
        B = D @ IH[j] @ Phi @ IH[j].T @ D.T
        val, vec = np.linalg.eigh((B + B.T) / 2)
        inv_sqrt = vec @ np.diag(np.where(val > 1e-12, 1 / np.sqrt(np.clip(val, 1e-300, None)), 0)) @ vec.T
        A = D.T @ inv_sqrt @ D
        u = XtW[:, j] @ A @ e[j]
        meat += np.outer(u, u)
        G.append(M @ XtW[:, j] @ A @ IH[j])
    G = np.stack(G)  # (J, p, k)
    df = np.empty(p)
    for c in range(p):
        Gc = G[:, c, :]  # (J, k)
        S = Gc @ Phi @ Gc.T
        df[c] = np.trace(S) ** 2 / np.sum(S**2)
    return M @ meat @ M, df


def three_level(yi, vi, study, es_id=None, *, data=None, mods=None, robust=False, level=0.95):
    """Three-level meta-analysis of dependent effect sizes (REML), optionally with CR2 robust SEs.

    Effect sizes (level 2, ``es_id``) are nested in studies (level 3):
    ``y_ij = b + u_i + w_ij + e_ij`` with ``u ~ N(0, sigma2_1)``, ``w ~ N(0, sigma2_2)``
    (Konstantopoulos, 2011; Van den Noortgate et al., 2013). Matches
    ``metafor::rma.mv(yi, vi, random = ~ 1 | study/es_id, method = "REML")``; with
    ``robust=True`` the coefficient table adds CR2 cluster-robust SEs by study with
    Satterthwaite-df t tests (``clubSandwich::coef_test(vcov = "CR2")``).
    """
    if data is not None:
        yi = data[yi] if isinstance(yi, str) else yi
        vi = data[vi] if isinstance(vi, str) else vi
        study = data[study] if isinstance(study, str) else study
        if isinstance(es_id, str):
            es_id = data[es_id]
    y, v = _check_yv(yi, vi)
    study = np.asarray(study)
    X, names = _design(mods, data, y.size)
    k, p = X.shape
    if es_id is not None and pd.DataFrame({"s": study, "e": np.asarray(es_id)}).duplicated().any():
        raise MetaError("es_id is not unique within study", where="es_id")
    n_cl = len(pd.unique(study))
    if k < 3 or n_cl < 2:
        raise MetaError(f"too few effect sizes or studies (k = {k}, studies = {n_cl})", expected="k >= 3, studies >= 2")
    S = (study[:, None] == study[None, :]).astype(float)
    Vd = np.diag(v)

    def nll(theta):
        s1, s2 = np.exp(theta)
        return _reml_negll(y, X, Vd + s1 * S + s2 * np.eye(k))[0]

    best = None
    for start in (np.log([np.var(y) / 2 + 1e-4] * 2), np.log([1e-3, 1e-3]), np.log([0.1, 0.01])):
        r = optimize.minimize(nll, start, method="Nelder-Mead",
                              options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 4000})
        r = optimize.minimize(nll, r.x, method="BFGS", options={"gtol": 1e-9})
        if best is None or r.fun < best.fun:
            best = r
    s1, s2 = np.exp(best.x)
    s1 = 0.0 if s1 < 1e-10 else s1
    s2 = 0.0 if s2 < 1e-10 else s2
    Phi = Vd + s1 * S + s2 * np.eye(k)
    nll_val, b, XtVX = _reml_negll(y, X, Phi)
    vb = np.linalg.inv(XtVX)
    se = np.sqrt(np.diag(vb))
    crit = stats.norm.ppf(1 - (1 - level) / 2)
    tab = pd.DataFrame({"term": names, "estimate": b, "se": se, "zval": b / se,
                        "pval": 2 * stats.norm.sf(np.abs(b / se)), "ci_low": b - crit * se, "ci_high": b + crit * se})
    vr = None
    if robust:
        W = np.linalg.inv(Phi)
        vr, df = _cr2_vcov(X, W, Phi, y - X @ b, study)
        se_r = np.sqrt(np.diag(vr))
        tc = stats.t.ppf(1 - (1 - level) / 2, df)
        tab["se_cr2"] = se_r
        tab["tval_cr2"] = b / se_r
        tab["df_cr2"] = df
        tab["pval_cr2"] = 2 * stats.t.sf(np.abs(b / se_r), df)
        tab["ci_low_cr2"] = b - tc * se_r
        tab["ci_high_cr2"] = b + tc * se_r
    QE = _Proj(X, 1 / v, y).yPy
    return ThreeLevelResult(coef_table=tab, sigma2=(float(s1), float(s2)), logLik=float(-nll_val), k=k,
                            n_clusters=n_cl, QE=QE, QE_pval=float(stats.chi2.sf(QE, k - p)), vcov=vb,
                            vcov_cr2=vr, converged=bool(best.success) or np.isfinite(best.fun),
                            reason="" if best.success else str(best.message))


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


def _mv_un(y, V, X, study, maxiter=20000):
    """Multivariate random-effects model with an unstructured between-study matrix (REML).

    Matches ``rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | study, struct = "UN")``.
    """
    q = X.shape[1]
    S = (study[:, None] == study[None, :]).astype(float)
    li = np.tril_indices(q)

    def T_of(theta):
        L = np.zeros((q, q))
        L[li] = theta
        L[np.diag_indices(q)] = np.exp(np.diag(L))
        return L @ L.T

    def nll(theta):
        T = T_of(theta)
        return _reml_negll(y, X, V + S * (X @ T @ X.T))[0]

    # start from the univariate DL estimates
    t0 = []
    for j in range(q):
        m = X[:, j] == 1
        t0.append(max(_tau2(y[m], np.diag(V)[m], np.ones((m.sum(), 1)), "DL")[0], 1e-3))
    L0 = np.diag(np.log(np.sqrt(t0)))
    theta = L0[li]
    r = optimize.minimize(nll, theta, method="BFGS", options={"gtol": 1e-8, "maxiter": maxiter})
    r = optimize.minimize(nll, r.x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": maxiter,
                                                                   "maxfev": maxiter})
    r = optimize.minimize(nll, r.x, method="BFGS", options={"gtol": 1e-10, "maxiter": maxiter})
    T = T_of(r.x)
    Phi = V + S * (X @ T @ X.T)
    val, b, XtVX = _reml_negll(y, X, Phi)
    return b, np.linalg.inv(XtVX), T, -val, bool(np.isfinite(val))


def _matreg(Rm, x, yv):
    return np.linalg.solve(Rm[np.ix_(x, x)], Rm[x, yv])


@dataclass
class MASEMResult:
    """Two-stage MASEM result: pooled correlations, path coefficients, indirect effects."""

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

    def __repr__(self):
        return (f"MASEMResult(variables={self.variables}, k={self.k}, paths={len(self.paths)}, "
                f"indirect={len(self.indirect)})")

    def to_frame(self):
        a = self.pooled.assign(table="pooled")
        b = self.paths.assign(table="path")
        c = self.indirect.assign(table="indirect")
        return pd.concat([a, b, c], ignore_index=True)


def masem(data, model, *, ri="ri", ni="ni", var1="var1", var2="var2", study="study", level=0.95):
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
    """
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
    tab = pd.DataFrame({"estimate": est, "se": se, "zval": z, "pval": 2 * stats.norm.sf(np.abs(z)),
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


# --------------------------------------------------------------------------- workflow entry point
_LABEL_COLUMNS = ("study", "author", "authors", "trial", "label")
_ES_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ti", "Fi", "ri", "ni", "ai", "bi", "ci", "di")


def _indirect_rows(tables, outcome=None):
    """One row per study from each study's mediation table: the (total) indirect effect and its SE.

    The row is the one with ``effect == "indirect"`` for ``outcome`` (default: the first outcome
    that has one); with several parallel mediators it is the ``mediator == "total"`` row, never
    one mediator's specific indirect effect. Studies without such a row get NA and a reason.
    """
    rows = []
    for study, t in sorted(tables.items()):
        reason = ""
        hit = None
        if not {"effect", "estimate"} <= set(t.columns):
            reason = "mediation table has no effect/estimate columns"
        else:
            ind = t[t["effect"].astype(str).str.lower() == "indirect"]
            if outcome is not None and "outcome" in ind:
                ind = ind[ind["outcome"].astype(str) == str(outcome)]
            elif "outcome" in ind and len(ind):
                ind = ind[ind["outcome"] == ind["outcome"].iloc[0]]
            if ind.empty:
                reason = "no indirect-effect row" + (f" for outcome {outcome!r}" if outcome is not None else "")
            elif len(ind) == 1:
                hit = ind.iloc[0]
            else:
                tot = ind[ind.get("mediator", pd.Series("", index=ind.index)).astype(str) == "total"]
                if len(tot) == 1:
                    hit = tot.iloc[0]
                else:
                    reason = f"{len(ind)} indirect rows and no single mediator == 'total' row"
        if hit is None:
            rows.append({"study": study, "yi": np.nan, "vi": np.nan, "reason": reason})
            continue
        se = float(hit.get("se", np.nan))
        if not np.isfinite(se) and {"ci_low", "ci_high"} <= set(hit.index):
            se = (hit["ci_high"] - hit["ci_low"]) / (2 * stats.norm.ppf(0.975))
        rows.append({"study": study, "yi": float(hit["estimate"]), "vi": se ** 2, "reason": ""})
    return pd.DataFrame(rows)


def _correlation_rows(tables, x, y, pairs=None):
    """One row per study: Pearson r between columns ``x`` and ``y`` of its clean table, and n."""
    rows = []
    x0, y0 = x, y
    for study, t in sorted(tables.items()):
        x, y = (pairs or {}).get(study, (x0, y0))
        if x not in t or y not in t:
            rows.append({"study": study, "ri": np.nan, "ni": np.nan, "reason": f"no columns {x!r} and {y!r}"})
            continue
        d = t[[x, y]].dropna()
        rows.append({"study": study, "ri": float(np.corrcoef(d[x], d[y])[0, 1]) if len(d) > 3 else np.nan,
                     "ni": float(len(d)), "reason": "" if len(d) > 3 else "n <= 3"})
    return pd.DataFrame(rows)


def _na_tables(name, reason):
    row = pd.DataFrame({"analysis": [name], "reason": [reason]})
    return {"summary": row, "studies": row.copy(), "diagnostics": row.copy(), "bias": row.copy()}


def run_analysis(spec, tables):
    """Run one configured meta-analysis and return its output tables (the ``meta`` workflow stage).

    Parameters
    ----------
    spec : dict
        ``name``; ``source``: ``"table"`` (a literature table, ``tables["input"]``),
        ``"indirect"`` (each study's indirect effect from ``results/<study>/mediation.csv``,
        ``tables`` = {study: mediation table}), ``"efficacy_behavior_r"`` (each study's
        correlation between columns ``x`` and ``y`` of its ``clean.csv``; ``tables`` =
        {study: clean table}) or ``"masem"`` (a long correlation table, ``tables["input"]``);
        ``measure`` (an :func:`escalc` measure, or ``"GEN"`` when the table already has
        ``yi``/``vi``); ``columns``: mapping of escalc argument -> column name; ``method``,
        ``test``, ``level``; ``moderators`` (column names); ``label`` (study label column);
        ``order`` (column for the cumulative analysis; default precision); ``cluster``
        (study column for a three-level model); ``model`` (MASEM path model
        ``{outcome: [predictors]}``).
    tables : dict of pandas.DataFrame

    Returns
    -------
    dict
        ``summary`` (one row per coefficient with the model's heterogeneity statistics and
        back-transformed estimate), ``studies`` (per-study ``yi``, ``vi``, CI and weight, plus
        trim-and-fill imputed studies with ``filled = True``), ``diagnostics`` (leave-one-out,
        influence and cumulative results per study), ``bias`` (Egger, trim and fill, PET-PEESE),
        and ``masem`` for MASEM analyses. A statistical failure gives rows with a ``reason``.
    """
    name = spec["name"]
    source = spec.get("source", "table")
    method = spec.get("method", "REML")
    test = spec.get("test", "z")
    level = float(spec.get("level", 0.95))
    measure = str(spec.get("measure", "GEN")).upper()
    cols = dict(spec.get("columns") or {})
    if source == "masem":
        d = tables["input"]
        res = masem(d, spec["model"], level=level, **cols)
        mt = res.to_frame()
        mt.insert(0, "analysis", name)
        out = {"masem": mt}
        # each correlation pooled on its own (univariate, Fisher z not used: raw r as in stage 1)
        d2 = d.dropna(subset=[cols.get("ri", "ri")]).copy()
        d2["pair"] = d2[cols.get("var1", "var1")].astype(str) + "." + d2[cols.get("var2", "var2")].astype(str)
        es = escalc("COR", data=d2, ri=cols.get("ri", "ri"), ni=cols.get("ni", "ni"))
        rows = []
        for pair, g in es.groupby("pair", sort=True):
            try:
                r = random_effects(g["yi"], g["vi"], method=method, test=test, level=level)
                rows.append(r.coef_table.iloc[0].to_dict() | {"term": pair, "k": r.k, "tau2": r.tau2, "I2": r.I2,
                                                              "Q": r.Q, "Q_pval": r.Q_pval, "pi_low": r.pi_low,
                                                              "pi_high": r.pi_high, "reason": ""})
            except MetaError as err:
                rows.append({"term": pair, "k": len(g), "reason": str(err)})
        summ = pd.DataFrame(rows)
        summ.insert(0, "analysis", name)
        out["summary"] = summ
        out["studies"] = es.assign(analysis=name, weight=np.nan)
        out["diagnostics"] = pd.DataFrame({"analysis": [name], "reason": ["not computed for MASEM input"]})
        out["bias"] = out["diagnostics"].copy()
        n_note = pd.DataFrame({"analysis": [name], "table": ["info"], "pair": ["n_harmonic"],
                               "estimate": [res.n_harmonic]})
        out["masem"] = pd.concat([out["masem"], n_note], ignore_index=True)
        return out
    out = _run_univariate(spec, tables, name, source, method, test, level, measure, cols)
    out["masem"] = pd.DataFrame({"analysis": [name], "reason": ["not a MASEM analysis"]})
    return out


def _run_univariate(spec, tables, name, source, method, test, level, measure, cols):
    if source == "indirect":
        d = _indirect_rows(tables, spec.get("outcome"))
        measure = "GEN"
    elif source == "efficacy_behavior_r":
        d = _correlation_rows(tables, spec.get("x") or "efficacy", spec.get("y") or "behavior", spec.get("pairs"))
        measure = measure if measure in ("COR", "ZCOR") else "ZCOR"
        cols = {"ri": "ri", "ni": "ni"}
    else:
        d = tables["input"].copy()
    label_col = spec.get("label") or next((c for c in _LABEL_COLUMNS if c in d), None)
    labels = d[label_col].astype(str).to_numpy() if label_col else np.arange(1, len(d) + 1).astype(str)
    if measure != "GEN":
        d = escalc(measure, data=d, **cols)
    elif "note" not in d:
        d["note"] = None
    keep = d["yi"].notna() & d["vi"].notna()
    dropped = [f"{labels[i]}: {d['reason'].iloc[i] if 'reason' in d and d['reason'].iloc[i] else 'missing yi/vi'}"
               for i in np.flatnonzero(~keep.to_numpy())]
    d, labels = d[keep].reset_index(drop=True), labels[keep.to_numpy()]
    mods = list(spec.get("moderators") or [])
    try:
        if spec.get("cluster"):
            res3 = three_level("yi", "vi", spec["cluster"], spec.get("es_id"), data=d, mods=mods or None,
                               robust=True, level=level)
            summ = res3.to_frame().assign(analysis=name, k=res3.k, n_clusters=res3.n_clusters, reason="")
            studies = d.assign(study=labels, analysis=name)
            none = pd.DataFrame({"analysis": [name], "reason": ["not computed for the three-level model"]})
            return {"summary": summ, "studies": studies, "diagnostics": none, "bias": none.copy()}
        fit = random_effects(d["yi"], d["vi"], method=method, test=test, mods=mods or None, data=d, level=level,
                             labels=labels)
    except MetaError as err:
        return _na_tables(name, str(err))
    summ = fit.coef_table.copy()
    model_stats = {"k": fit.k, "method": fit.method, "test": fit.test, "measure": measure, "tau2": fit.tau2,
                   "tau2_ci_low": fit.tau2_ci[0], "tau2_ci_high": fit.tau2_ci[1], "I2": fit.I2,
                   "I2_ci_low": fit.I2_ci[0], "I2_ci_high": fit.I2_ci[1], "H2": fit.H2, "Q": fit.Q,
                   "Q_df": fit.Q_df, "Q_pval": fit.Q_pval, "pi_low": fit.pi_low, "pi_high": fit.pi_high,
                   "QM": fit.QM, "QM_pval": fit.QM_pval, "R2": fit.R2}
    for key, val in model_stats.items():
        summ[key] = val
    if fit.p == 1:
        summ["estimate_transf"] = transf(summ["estimate"], measure)
        summ["ci_low_transf"] = transf(summ["ci_low"], measure)
        summ["ci_high_transf"] = transf(summ["ci_high"], measure)
        summ["pi_low_transf"] = transf(fit.pi_low, measure)
        summ["pi_high_transf"] = transf(fit.pi_high, measure)
    summ.insert(0, "analysis", name)
    summ["reason"] = "; ".join(["dropped " + x for x in dropped] + ([fit.reason] if fit.reason else []))
    crit = stats.norm.ppf(1 - (1 - level) / 2)
    sei = np.sqrt(d["vi"].to_numpy())
    studies = pd.DataFrame({"analysis": name, "study": labels, "yi": d["yi"].to_numpy(), "vi": d["vi"].to_numpy(),
                            "sei": sei, "ci_low": d["yi"].to_numpy() - crit * sei,
                            "ci_high": d["yi"].to_numpy() + crit * sei, "weight": fit.weights, "filled": False,
                            "note": d["note"].to_numpy()})
    for m in mods:
        studies[m] = d[m].to_numpy()
    base = fit if fit.p == 1 else random_effects(d["yi"], d["vi"], method=method, test=test, level=level)
    note = "" if fit.p == 1 else "computed on the model without moderators"
    if base.k >= 3:
        loo = leave_one_out(base, labels=labels).add_prefix("loo_").rename(columns={"loo_omitted": "study"})
        inf = influence(base, labels=labels)
        order = d[spec["order"]].to_numpy() if spec.get("order") else d["vi"].to_numpy()
        cu = cumulative(base, order=order)
        pos = np.argsort(np.argsort(order, kind="stable"), kind="stable")  # each study's place in the order
        cu = cu.iloc[pos].reset_index(drop=True)
        cu = pd.DataFrame({"cum_position": pos + 1, **{"cum_" + c: cu[c].to_numpy()
                                                       for c in ["estimate", "se", "ci_low", "ci_high", "tau2", "I2"]}})
        diag = pd.concat([loo, inf.drop(columns="study"), cu], axis=1)
        diag.insert(0, "analysis", name)
        diag["note"] = note
        bias = []
        try:
            eg = egger_test(base)
            stat = "zval" if base.test == "z" else "tval"
            bias += [("egger", stat, eg["zval"], ""), ("egger", "pval", eg["pval"], ""),
                     ("egger", "limit_estimate", eg["limit_estimate"], ""),
                     ("egger", "limit_ci_low", eg["limit_ci_low"], ""),
                     ("egger", "limit_ci_high", eg["limit_ci_high"], "")]
            pp = pet_peese(base)
            bias += [("pet_peese", k_, v_, pp["chosen"]) for k_, v_ in pp.items() if k_ != "chosen"]
        except MetaError as err:  # e.g. all studies equally precise: the regression is not identified
            bias += [("egger", "reason", np.nan, str(err)), ("pet_peese", "reason", np.nan, str(err))]
        tf = None
        try:
            tf = trim_and_fill(base)
            bias += [("trimfill", "k0", tf.k0, tf.side), ("trimfill", "se_k0", tf.se_k0, tf.side),
                     ("trimfill", "estimate", tf.model.estimate, tf.side),
                     ("trimfill", "ci_low", tf.model.ci_low, tf.side),
                     ("trimfill", "ci_high", tf.model.ci_high, tf.side),
                     ("trimfill", "tau2", tf.model.tau2, tf.side)]
        except MetaError as err:
            bias += [("trimfill", "reason", np.nan, str(err))]
        bias = pd.DataFrame(bias, columns=["test", "statistic", "value", "detail"])
        bias.insert(0, "analysis", name)
        bias["note"] = note
        if tf is not None and tf.k0 > 0:
            fs = np.sqrt(tf.filled["vi"].to_numpy())
            filled = pd.DataFrame({"analysis": name, "study": [f"filled_{i + 1}" for i in range(tf.k0)],
                                   "yi": tf.filled["yi"].to_numpy(), "vi": tf.filled["vi"].to_numpy(), "sei": fs,
                                   "ci_low": tf.filled["yi"].to_numpy() - crit * fs,
                                   "ci_high": tf.filled["yi"].to_numpy() + crit * fs,
                                   "weight": np.nan, "filled": True, "note": "imputed by trim and fill"})
            studies = pd.concat([studies, filled], ignore_index=True)
    else:
        diag = pd.DataFrame({"analysis": [name], "reason": [f"k = {base.k}: diagnostics need k >= 3"]})
        bias = diag.copy()
    return {"summary": summ, "studies": studies, "diagnostics": diag, "bias": bias}


def load_tables(spec, paths, codebook_paths=()):
    """Read the inputs of one analysis for :func:`run_analysis` (used by the workflow script).

    ``paths``: the literature table (``source`` table/masem) or one file per study under
    ``results/<study>/``; ``codebook_paths``: the studies' codebooks (``efficacy_behavior_r``
    with ``x``/``y`` unset takes each study's first mediator and outcome from the design).
    Returns ``(spec, tables)`` with per-study ``x``/``y`` resolved into ``spec["pairs"]``.
    """
    from pathlib import Path

    source = spec.get("source", "table")
    if source in ("table", "masem"):
        return spec, {"input": pd.read_csv(paths[0])}
    tables = {Path(p).parent.name: pd.read_csv(p) for p in paths}
    spec = dict(spec)
    if source == "efficacy_behavior_r" and codebook_paths:
        from efficacy.codebook import load_codebook

        pairs = {}
        for cp in codebook_paths:
            cb = load_codebook(Path(cp).parent)
            x = spec.get("x") or (cb.design.mediators[0] if cb.design and cb.design.mediators else None)
            y = spec.get("y") or (cb.design.outcomes[0] if cb.design and cb.design.outcomes else None)
            pairs[cb.study] = (x, y)
        spec["pairs"] = pairs
    return spec, tables
