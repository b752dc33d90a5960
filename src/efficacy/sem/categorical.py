"""Ordinal (ordered-categorical) items: thresholds, polychoric and polyserial correlations.

The building blocks of a WLSMV analysis of Likert items, computed as **lavaan** computes them
(``lavaan::lavCor(..., ordered = ...)``):

* :func:`thresholds` - per-item thresholds from the marginal proportions (probit link), with
  their standard errors; lavaan's ``lavCor(output = "th")``.
* :func:`polychoric` - the two-step polychoric correlation matrix (Olsson, 1979): thresholds from
  each item's margins, then every correlation by maximum likelihood of its bivariate table, all pairs
  at once; standard errors and the asymptotic covariance matrix (NACOV, "Gamma") of thresholds and
  correlations of Muthen (1984), as ``lavInspect(lavCor(..., output = "fit"), "gamma")``.
* :func:`polyserial` - an ordinal item with a continuous partner (Olsson, Drasgow & Dorans, 1982),
  two-step ML with its standard error (lavaan), or the ad hoc estimator of ``psych::polyserial``.
* :func:`ordinal_alpha` - alpha on the polychoric matrix (Zumbo, Gadermann & Zeisser, 2007), as
  ``psych::alpha(psych::polychoric(x)$rho)``.
* :func:`bivariate_normal_cdf` - the vectorised bivariate normal CDF the fits rest on (Owen's 1956
  T-function identity, through :func:`scipy.special.owens_t`).

Speed. A polychoric matrix is one batched computation: all bivariate tables come from a single
``bincount``; each Fisher-scoring / Newton step evaluates the bivariate normal CDF at every threshold
pair of every item pair in one vectorised call and updates all correlations together. The standard
errors need the casewise scores (an ``n x (thresholds + pairs)`` matrix, one matrix product).

Bad input raises :class:`efficacy.errors.DataError` (an item with a single observed category, more
than ``max_categories`` categories, an ordered categorical with an unobserved category, a pair never
observed together). Estimation problems do not raise: the pair's row says what happened in ``reason``
(lavaan's warning texts: a correlation "(nearly) 1.0", "two empty cells in 2x2 table", no
convergence), and the result's ``converged`` / ``warnings`` summarise them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import ndtr, ndtri, owens_t

from ..errors import DataError
from ..results import ResultMixin, TableResult

__all__ = [
    "OrdinalAlphaResult",
    "PolychoricResult",
    "PolyserialResult",
    "ThresholdsResult",
    "bivariate_normal_cdf",
    "ordinal_alpha",
    "polychoric",
    "polyserial",
    "thresholds",
]

_MISSING = ("pairwise", "listwise")
_BOUND = 0.999  # lavaan's box for a polychoric correlation (nlminb lower/upper)
_BOUND_PS = 0.995  # lavaan's box for a polyserial correlation
_NEAR_ONE = 0.99  # lavaan warns above this |rho|
_TINY = np.sqrt(np.finfo(float).eps)  # lavaan's floor for a cell probability
_TWO_PI = 2.0 * np.pi


# ----------------------------------------------------------------------------------------------
# the bivariate normal distribution
# ----------------------------------------------------------------------------------------------
def bivariate_normal_cdf(h, k, rho):
    """Standard bivariate normal CDF ``P(X <= h, Y <= k)`` with correlation ``rho``, vectorised.

    Uses Owen's (1956) identity with his T function (:func:`scipy.special.owens_t`, the
    Patefield & Tandy (2000) algorithm, accurate to about 1e-16 absolute)::

        Phi2(h, k; r) = [Phi(h) + Phi(k)] / 2 - T(h, a_h) - T(k, a_k) - beta
        a_h = (k - r h) / (h sqrt(1 - r^2)),  a_k = (h - r k) / (k sqrt(1 - r^2)),

    with ``beta = 1/2`` when ``h k < 0`` (or one is 0 and ``h + k < 0``), else 0. Infinite limits
    and ``|rho| = 1`` are handled exactly. Inputs broadcast against each other.

    Parameters
    ----------
    h, k : array_like
        Upper limits (``-inf`` and ``inf`` allowed).
    rho : array_like
        Correlation(s) in [-1, 1].

    Returns
    -------
    numpy.ndarray
        The probabilities (a float for scalar input).

    References
    ----------
    Owen, D. B. (1956). Tables for computing bivariate normal probabilities. *Annals of
    Mathematical Statistics*, 27, 1075-1090.

    Examples
    --------
    >>> round(float(bivariate_normal_cdf(0.0, 0.0, 0.5)), 6)  # 1/4 + asin(.5) / (2 pi)
    0.333333
    """
    h, k, r = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (h, k, rho)))
    out = np.full(h.shape, np.nan)
    # infinite limits
    lo = (h == -np.inf) | (k == -np.inf)
    out[lo] = 0.0
    hinf = (h == np.inf) & ~lo
    out[hinf] = ndtr(k[hinf])
    kinf = (k == np.inf) & ~lo & ~hinf
    out[kinf] = ndtr(h[kinf])
    fin = np.isfinite(h) & np.isfinite(k) & np.isfinite(r)
    # perfect correlation
    one = fin & (r >= 1.0)
    out[one] = ndtr(np.minimum(h[one], k[one]))
    mone = fin & (r <= -1.0)
    out[mone] = np.maximum(ndtr(h[mone]) + ndtr(k[mone]) - 1.0, 0.0)
    m = fin & (np.abs(r) < 1.0)
    if m.any():
        hh, kk, rr = h[m], k[m], r[m]
        s = np.sqrt((1.0 - rr) * (1.0 + rr))
        with np.errstate(divide="ignore", invalid="ignore"):
            ah = (kk - rr * hh) / (hh * s)
            ak = (hh - rr * kk) / (kk * s)
        # h == 0 (or k == 0): T(0, a) with a -> +-inf (the sign of the numerator)
        ah = np.where(hh == 0.0, np.copysign(np.inf, kk - rr * hh), ah)
        ak = np.where(kk == 0.0, np.copysign(np.inf, hh - rr * kk), ak)
        both0 = (hh == 0.0) & (kk == 0.0)
        ah = np.where(both0, 0.0, ah)  # placeholders, overwritten below
        ak = np.where(both0, 0.0, ak)
        beta = np.where((hh * kk < 0) | ((hh * kk == 0) & (hh + kk < 0)), 0.5, 0.0)
        val = 0.5 * (ndtr(hh) + ndtr(kk)) - owens_t(hh, ah) - owens_t(kk, ak) - beta
        val = np.where(both0, 0.25 + np.arcsin(rr) / _TWO_PI, val)
        out[m] = np.clip(val, 0.0, 1.0)
    return out if out.ndim else float(out)


def _bvn_density(x, y, rho):
    """Standard bivariate normal density; 0 where x or y is infinite."""
    x, y, r = np.broadcast_arrays(x, y, rho)
    fin = np.isfinite(x) & np.isfinite(y)
    xs = np.where(fin, x, 0.0)
    ys = np.where(fin, y, 0.0)
    om = (1.0 - r) * (1.0 + r)
    q = (xs * xs - 2.0 * r * xs * ys + ys * ys) / om
    return np.where(fin, np.exp(-0.5 * q) / (_TWO_PI * np.sqrt(om)), 0.0)


def _cond_cdf(x, y, rho):
    """``Phi((y - rho x) / sqrt(1 - rho^2))`` with the limits ``y = +-inf`` (x finite)."""
    x, y, r = np.broadcast_arrays(x, y, rho)
    s = np.sqrt((1.0 - r) * (1.0 + r))
    fin = np.isfinite(x) & np.isfinite(y)
    z = np.where(fin, (np.where(fin, y, 0.0) - r * np.where(fin, x, 0.0)) / s, 0.0)
    return np.where(fin, ndtr(z), np.where(y == np.inf, 1.0, 0.0))


def _diff2(f):
    """Rectangle differences over the last two axes: cell (a, b) from corner values."""
    return f[..., 1:, 1:] - f[..., :-1, 1:] - f[..., 1:, :-1] + f[..., :-1, :-1]


# ----------------------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------------------
def _check_level(ci_level):
    if not (isinstance(ci_level, (int, float)) and 0 < ci_level < 1):
        raise DataError("`ci_level` must be a number strictly between 0 and 1", found=repr(ci_level))


def _check_frame(data, columns, arg="columns"):
    if not isinstance(data, pd.DataFrame):
        raise DataError("`data` must be a pandas DataFrame", found=type(data).__name__)
    if columns is None:
        cols = list(data.columns)
    elif isinstance(columns, str):
        cols = [columns]
    else:
        cols = list(columns)
    if not cols:
        raise DataError(f"`{arg}` is empty", expected="at least one column")
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError("column(s) not in data", where=f"{arg}: " + ", ".join(map(str, missing)),
                        expected="columns of `data`")
    if len(set(cols)) != len(cols):
        raise DataError(f"`{arg}` repeats a column", found=", ".join(map(str, cols)))
    return cols


def _code_item(s: pd.Series, name, max_categories):
    """Category codes 0..K-1 (-1 = missing) and the category values of one ordinal item."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        if not s.cat.ordered:
            raise DataError("an unordered categorical cannot be an ordinal item", where=f"column {name!r}",
                            expected="an ordered categorical or numeric codes")
        cats = list(s.cat.categories)
        codes = s.cat.codes.to_numpy().astype(np.int64)
        freq = np.bincount(codes[codes >= 0], minlength=len(cats))
        if (freq == 0).any() and (freq > 0).sum() >= 2:
            raise DataError(f"some categories of variable {name!r} are empty", where=f"column {name!r}",
                            found="frequencies [" + " ".join(map(str, freq)) + "]",
                            expected="every declared category observed at least once")
    else:
        vals = s
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            vals = pd.to_numeric(s, errors="coerce")
            bad = s.notna() & vals.isna()
            if bad.any():
                raise DataError("an ordinal item must hold numeric codes or be an ordered categorical",
                                where=f"column {name!r}", found=repr(s[bad].iloc[0]))
        x = vals.to_numpy(dtype=float)
        if np.isinf(x).any():
            raise DataError("infinite value in an ordinal item", where=f"column {name!r}")
        ok = ~np.isnan(x)
        cats, inv = np.unique(x[ok], return_inverse=True)
        codes = np.full(x.shape, -1, dtype=np.int64)
        codes[ok] = inv
        cats = [int(c) if float(c).is_integer() else float(c) for c in cats]
    k = len(cats) if not isinstance(s.dtype, pd.CategoricalDtype) else int(np.unique(codes[codes >= 0]).size)
    if k == 0:
        raise DataError("ordinal item has no observed value", where=f"column {name!r}")
    if k == 1:
        only = cats[int(codes[codes >= 0][0])]
        raise DataError("ordinal item has a single observed category; thresholds need at least 2",
                        where=f"column {name!r}", found=f"every answer = {only!r}",
                        expected="two or more observed categories")
    if k > max_categories:
        raise DataError(f"ordinal item has more than {max_categories} categories",
                        where=f"column {name!r}", found=f"{k} categories",
                        expected=f"at most {max_categories} (treat the item as continuous)")
    return codes, cats


def _coded(data, columns, missing, max_categories, arg="columns", rows=False):
    """Codes (n x p, -1 missing), category values and counts for the ordinal columns.

    ``rows=True`` adds the positions (in ``data``) of the rows kept."""
    if missing not in _MISSING:
        raise DataError("unknown `missing`", found=repr(missing), expected=" or ".join(_MISSING))
    cols = _check_frame(data, columns, arg)
    frame = data[cols]
    pos = np.arange(len(frame))
    if missing == "listwise":
        pos = pos[frame.notna().all(axis=1).to_numpy()]
        frame = frame.dropna()
        if frame.empty:
            raise DataError("no complete row for listwise deletion", where=", ".join(map(str, cols)))
    coded = [_code_item(frame[c], c, max_categories) for c in cols]
    codes = np.column_stack([c[0] for c in coded]) if coded else np.empty((0, 0), int)
    cats = [c[1] for c in coded]
    keep = (codes >= 0).any(axis=1)  # rows with no observed item carry no information
    if rows:
        return cols, codes[keep], cats, pos[keep]
    return cols, codes[keep], cats


# ----------------------------------------------------------------------------------------------
# thresholds
# ----------------------------------------------------------------------------------------------
def _uni(codes, ncat):
    """Per-item counts, thresholds, padded threshold rows and threshold scores per category."""
    p = codes.shape[1]
    kmax = int(max(ncat))
    counts = np.zeros((p, kmax))
    for i in range(p):
        c = codes[:, i]
        counts[i, :ncat[i]] = np.bincount(c[c >= 0], minlength=ncat[i])
    nobs = counts.sum(axis=1)
    prop = counts / nobs[:, None]
    cum = np.cumsum(prop, axis=1)
    # padded threshold rows: [-inf, t_1 .. t_{K-1}, +inf, +inf ...] (length kmax + 1)
    tpad = np.full((p, kmax + 1), np.inf)
    tpad[:, 0] = -np.inf
    for i in range(p):
        tpad[i, 1:ncat[i]] = ndtri(cum[i, :ncat[i] - 1])
    return counts, nobs, prop, cum, tpad


def _th_scores(tpad, prop, ncat):
    """Score of each threshold for each category: s[i, c, t] = d log pi_c / d tau_t (item i)."""
    p, kmax = prop.shape
    dens = stats.norm.pdf(tpad[:, 1:kmax])  # (p, kmax-1): density at tau_t (0 where padded)
    sc = np.zeros((p, kmax, kmax - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(kmax - 1):
            sc[:, t, t] = np.where(prop[:, t] > 0, dens[:, t] / prop[:, t], 0.0)  # tau_t upper of cat t
            sc[:, t + 1, t] = np.where(prop[:, t + 1] > 0, -dens[:, t] / prop[:, t + 1], 0.0)
    for i in range(p):
        sc[i, :, ncat[i] - 1:] = 0.0
    return sc


def _th_labels(cols, ncat):
    return [f"{c}|t{t + 1}" for c, k in zip(cols, ncat) for t in range(k - 1)]


def _threshold_frame(cols, cats, ncat, counts, nobs, cum, tpad, se):
    rows = []
    pos = 0
    for i, c in enumerate(cols):
        for t in range(ncat[i] - 1):
            rows.append({"item": c, "threshold": t + 1, "label": f"{c}|t{t + 1}",
                         "below": cats[i][t], "above": cats[i][t + 1],
                         "cum_prop": float(cum[i, t]), "estimate": float(tpad[i, t + 1]),
                         "se": float(se[pos]), "n": int(nobs[i])})
            pos += 1
    return pd.DataFrame(rows, columns=["item", "threshold", "label", "below", "above", "cum_prop",
                                       "estimate", "se", "n"])


def _threshold_se(counts, prop, tpad, ncat, nrows):
    """SEs of thresholds from the outer product of the casewise scores (lavaan's A11 block).

    ``nrows``: rows in the analysis (N); lavaan's (D)WLS vcov is Gamma / (N - 1), Gamma = N A11^-1.
    """
    sc = _th_scores(tpad, prop, ncat)
    out = []
    for i, k in enumerate(ncat):
        s = sc[i, :k, :k - 1]
        a11 = (s * counts[i, :k, None]).T @ s
        out.append(np.sqrt(np.diag(np.linalg.inv(a11)) * nrows / (nrows - 1)))
    return np.concatenate(out)


@dataclass(repr=False)
class ThresholdsResult(TableResult):
    """Result of :func:`thresholds`: one row per threshold (``to_frame()``); ``n_items`` items with
    ``n_thresholds`` thresholds in all."""

    _headline = ("n_items", "n_thresholds")
    _title = "Thresholds of ordinal items (probit)"

    @property
    def n_items(self) -> int:
        return int(self.table["item"].nunique()) if len(self.table) else 0

    @property
    def n_thresholds(self) -> int:
        return int(len(self.table))


def thresholds(data, columns=None, *, missing="pairwise", max_categories=20) -> ThresholdsResult:
    """Thresholds of ordinal items from their marginal proportions (probit), as lavaan.

    For an item with observed categories ``1..K`` (the sorted distinct values, or the categories of
    an ordered categorical) and proportions ``p_1..p_K``, threshold ``t_k = Phi^-1(p_1 + ... + p_k)``,
    ``k = 1..K-1`` - the ML estimate of the cut points of a standard normal latent response, which
    is lavaan's first step for ordered data (``lavCor(data, ordered = ..., output = "th")``;
    ``psych::polychoric(x)$tau`` with ``global = TRUE``).

    Parameters
    ----------
    data : pandas.DataFrame
        The items.
    columns : list of str, optional
        Ordinal columns (default: all columns).
    missing : {"pairwise", "listwise"}
        ``"pairwise"`` uses each item's non-missing values; ``"listwise"`` only complete rows.
    max_categories : int
        More categories than this raise :class:`~efficacy.errors.DataError` (default 20).

    Returns
    -------
    ThresholdsResult
        ``to_frame()``: one row per threshold: ``item``, ``threshold`` (1..K-1), ``label`` (lavaan's ``"x1|t1"``),
        ``below`` / ``above`` (the category values it separates), ``cum_prop``, ``estimate``,
        ``se`` (from the outer product of the casewise scores, as lavaan's robust SEs) and ``n``.

    Raises
    ------
    DataError
        A column is missing or not ordinal, has a single observed category or too many categories.

    References
    ----------
    Olsson, U. (1979). Maximum likelihood estimation of the polychoric correlation coefficient.
    *Psychometrika*, 44, 443-460.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"q1": [1, 1, 2, 2, 2, 3, 3, 3, 3, 3]})
    >>> thresholds(df).to_frame()[["label", "cum_prop", "estimate"]].round(4)  # doctest: +NORMALIZE_WHITESPACE
      label  cum_prop  estimate
    0  q1|t1       0.2   -0.8416
    1  q1|t2       0.5    0.0000
    """
    cols, codes, cats = _coded(data, columns, missing, max_categories)
    ncat = [len(c) for c in cats]
    counts, nobs, prop, cum, tpad = _uni(codes, ncat)
    se = _threshold_se(counts, prop, tpad, ncat, codes.shape[0])
    return ThresholdsResult(_threshold_frame(cols, cats, ncat, counts, nobs, cum, tpad, se))


# ----------------------------------------------------------------------------------------------
# polychoric correlations
# ----------------------------------------------------------------------------------------------
def _cell_model(rho, tx, ty, order=2):
    """Cell probabilities and their first (and second) derivatives in rho, for all pairs.

    ``tx``, ``ty``: (m, kmax + 1) padded thresholds of the row and column item of each pair.
    Returns P, dP (and d2P), each (m, kmax, kmax).
    """
    r = rho[:, None, None]
    x = tx[:, :, None]
    y = ty[:, None, :]
    f = bivariate_normal_cdf(x, y, r)
    phi = _bvn_density(x, y, r)
    pr = _diff2(f)
    dpr = _diff2(phi)
    if order < 2:
        return pr, dpr, None
    om = (1.0 - r) * (1.0 + r)
    fin = np.isfinite(x) & np.isfinite(y)
    xs = np.where(fin, x, 0.0)
    ys = np.where(fin, y, 0.0)
    q = xs * xs - 2.0 * r * xs * ys + ys * ys
    g = r / om + xs * ys / om - r * q / (om * om)  # d log phi2 / d rho
    d2pr = _diff2(phi * g)
    return pr, dpr, d2pr


def _loglik(pr, tab, valid):
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(np.maximum(pr, _TINY))
    return np.where(valid & (tab > 0), tab * lp, 0.0).sum(axis=(1, 2))


def _fit_pairs(tab, tx, ty, valid, start, bound=_BOUND, tol=1e-10, max_iter=100):
    """Two-step ML of all pair correlations at once (Newton with Fisher-scoring fallback).

    Returns rho, converged (bool per pair), iterations.
    """
    m = tab.shape[0]
    rho = np.clip(start, -0.9 * bound, 0.9 * bound)
    ntot = tab.sum(axis=(1, 2))
    active = np.ones(m, dtype=bool)
    converged = np.zeros(m, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        pr, dpr, d2pr = _cell_model(rho[idx], tx[idx], ty[idx])
        t = tab[idx]
        v = valid[idx] & (t > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            pp = np.maximum(pr, _TINY)
            u = np.where(v, dpr / pp, 0.0)
            grad = (t * u).sum(axis=(1, 2))
            hess = np.where(v, t * (d2pr / pp - u * u), 0.0).sum(axis=(1, 2))
            vv = valid[idx] & (pr > 0)
            info = ntot[idx] * np.where(vv, dpr * dpr / np.maximum(pr, _TINY), 0.0).sum(axis=(1, 2))
        curv = np.where(hess < 0, -hess, np.maximum(info, 1e-12))
        step = grad / curv
        ll0 = _loglik(pr, t, valid[idx])
        r0 = rho[idx]
        lam = np.ones(idx.size)
        new = np.clip(r0 + step, -bound, bound)
        for _ in range(40):  # step halving where the log-likelihood went down
            prn, _, _ = _cell_model(new, tx[idx], ty[idx], order=1)
            worse = _loglik(prn, t, valid[idx]) < ll0 - 1e-12 * np.abs(ll0)
            if not worse.any():
                break
            lam = np.where(worse, lam / 2, lam)
            new = np.where(worse, np.clip(r0 + lam * step, -bound, bound), new)
        rho[idx] = new
        moved = np.abs(new - r0)
        at_bound = (np.abs(new) >= bound) & (np.sign(grad) == np.sign(new))
        done = (moved < tol) | at_bound | (np.abs(grad) < tol * np.maximum(ntot[idx], 1))
        converged[idx[done]] = True
        active[idx[done]] = False
    return rho, converged, it


def _pair_index(p):
    iu, ju = np.triu_indices(p, 1)
    return iu, ju


@dataclass
class PolychoricResult(ResultMixin):
    """Polychoric correlation matrix with thresholds, standard errors and the NACOV.

    Attributes
    ----------
    rho : pandas.DataFrame
        The polychoric correlation matrix (items x items).
    se : pandas.DataFrame
        Standard error of each correlation (NaN on the diagonal), from the two-step sandwich of
        Muthen (1984) - lavaan's ``se = "robust.sem"`` for ``lavCor``.
    thresholds : pandas.DataFrame
        Tidy thresholds (see :func:`thresholds`).
    n : pandas.DataFrame
        Number of rows observed on both items of each pair.
    nobs : int
        Rows used (with ``missing="pairwise"``, rows with at least one observed item).
    gamma : pandas.DataFrame or None
        NACOV of (thresholds, correlations) in lavaan's order and labels (``x1|t1``, ...,
        ``x1~~x2``, ``x1~~x3``, ...): ``lavInspect(fit, "gamma")``; None when ``se=False``.
        Cluster-robust with ``cluster=``.
    gamma_iid : pandas.DataFrame or None
        With ``cluster=``: the NACOV ignoring the clusters, whose diagonal gives the DWLS weight
        (:attr:`wls_v`, unchanged by clustering as in lavaan); None otherwise.
    cluster : str or None
        The cluster column of a cluster-robust ``gamma``.
    converged : bool
        All pairs converged to an interior maximum.
    warnings : list of str
        One message per problem (lavaan's wording), empty when all is well.
    """

    rho: pd.DataFrame
    se: pd.DataFrame
    thresholds: pd.DataFrame
    n: pd.DataFrame
    nobs: int
    items: list
    pairs: pd.DataFrame
    gamma: pd.DataFrame | None = None
    gamma_iid: pd.DataFrame | None = None
    cluster: str | None = None
    ci_level: float = 0.95
    missing: str = "pairwise"
    converged: bool = True
    warnings: list = field(default_factory=list)
    method: str = "two-step ML (Olsson 1979)"

    _headline = ("nobs", "converged")
    _title = "Polychoric correlations"
    _summary_columns = ("lhs", "op", "rhs", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "n")

    @property
    def reason(self) -> str:
        """All warnings in one string (empty when all is well)."""
        return "; ".join(self.warnings)

    @property
    def wls_v(self) -> pd.DataFrame | None:
        """DWLS weight matrix ``diag(1 / diag(gamma))``, lavaan's ``lavInspect(fit, "wls.v")``."""
        g = self.gamma if self.gamma_iid is None else self.gamma_iid
        if g is None:
            return None
        d = np.diag(g.to_numpy())
        with np.errstate(divide="ignore"):
            w = np.diag(np.where(d > 0, 1.0 / d, np.nan))
        return pd.DataFrame(w, index=g.index, columns=g.columns)

    def to_frame(self, include_thresholds=False) -> pd.DataFrame:
        """Tidy table, one row per pair (lavaan's ``parameterEstimates`` columns).

        Columns ``lhs``, ``op`` (``"~~"``), ``rhs``, ``estimate``, ``se``, ``statistic`` (z),
        ``pvalue``, ``ci_low``, ``ci_high`` (Wald, as lavaan), ``n``, ``empty_cells``,
        ``converged``, ``reason``. With ``include_thresholds=True`` the thresholds follow as rows
        with ``op = "|"`` and ``rhs = "t1"``, ... (as in lavaan).
        """
        out = self.pairs.copy()
        if include_thresholds:
            th = self.thresholds
            z = stats.norm.ppf(0.5 + self.ci_level / 2)
            with np.errstate(divide="ignore", invalid="ignore"):
                stat = th["estimate"] / th["se"]
            tf = pd.DataFrame({
                "lhs": th["item"], "op": "|", "rhs": [f"t{t}" for t in th["threshold"]],
                "estimate": th["estimate"], "se": th["se"], "statistic": stat,
                "pvalue": 2 * stats.norm.sf(np.abs(stat)),
                "ci_low": th["estimate"] - z * th["se"], "ci_high": th["estimate"] + z * th["se"],
                "n": th["n"], "empty_cells": 0, "converged": True, "reason": ""})
            out = pd.concat([out, tf], ignore_index=True)
        return out

    def summary(self) -> str:
        """A short plain-text report: the matrix (lower triangle) and any flagged pair."""
        k = len(self.items)
        lines = [(f"Polychoric correlations ({self.method}), {k} items, n = {self.nobs}, "
                 f"missing = {self.missing}")]
        r = self.rho.to_numpy()
        w = max(6, max(len(str(c)) for c in self.items) + 1)
        lines.append(" " * w + "".join(f"{c!s:>8}" for c in self.items[:-1]))
        for i in range(1, k):
            lines.append(f"{self.items[i]!s:<{w}}" + "".join(f"{r[i, j]:8.3f}" for j in range(i)))
        flagged = self.pairs[self.pairs["reason"] != ""]
        if len(flagged):
            lines.append("Flagged pairs:")
            for _, row in flagged.iterrows():
                lines.append(f"  {row['lhs']} ~~ {row['rhs']}: {row['reason']}")
        if self.warnings and not len(flagged):
            lines.extend(f"Warning: {w_}" for w_ in self.warnings)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary."""
        def clean(v):
            return [[None if not np.isfinite(x) else float(x) for x in row] for row in np.asarray(v)]

        return {
            "result": type(self).__name__,
            "method": self.method, "items": [str(c) for c in self.items], "nobs": int(self.nobs),
            "missing": self.missing, "ci_level": self.ci_level, "converged": bool(self.converged),
            "warnings": list(self.warnings), "cluster": self.cluster,
            "rho": clean(self.rho.to_numpy()), "se": clean(self.se.to_numpy()),
            "n": self.n.to_numpy().astype(int).tolist(),
            "thresholds": _records(self.thresholds), "pairs": _records(self.pairs),
            "gamma": None if self.gamma is None else {"names": list(self.gamma.index),
                                                      "values": clean(self.gamma.to_numpy())},
        }

    def __repr__(self) -> str:
        flag = "" if self.converged and not self.warnings else f", warnings={len(self.warnings)}"
        return (f"PolychoricResult(items={len(self.items)}, nobs={self.nobs}, "
                f"missing={self.missing!r}{flag})")


def _records(frame):
    out = []
    for rec in frame.to_dict(orient="records"):
        clean = {}
        for key, v in rec.items():
            if isinstance(v, (np.floating, float)):
                clean[key] = None if not np.isfinite(v) else float(v)
            elif isinstance(v, np.integer):
                clean[key] = int(v)
            elif isinstance(v, np.bool_):
                clean[key] = bool(v)
            else:
                clean[key] = v
        out.append(clean)
    return out


def _zero_add_2x2(tab, bin2, add=0.5):
    """lavaan's zero.add / zero.keep.margins rule for 2 x 2 tables with one empty cell."""
    tab = tab.copy()
    for q in np.flatnonzero(bin2):
        t = tab[q, :2, :2]
        zero = np.argwhere(t == 0)
        if len(zero) == 1:
            a, b = zero[0]
            sign = 1.0 if a == b else -1.0  # an empty diagonal cell: move mass onto the diagonal
            t += sign * add * np.array([[1.0, -1.0], [-1.0, 1.0]])
            tab[q, :2, :2] = t
    return tab


def polychoric(data, columns=None, *, cluster=None, ci_level=0.95, missing="pairwise", se=True,
               max_categories=20, tol=1e-10, max_iter=100) -> PolychoricResult:
    """Polychoric correlation matrix of ordinal items, two-step ML, with SEs and NACOV.

    Each item is the categorised version of a standard normal latent response. Step 1 takes every
    item's thresholds from its own margins (:func:`thresholds`); step 2 maximises, for every pair
    separately and with the thresholds fixed, the multinomial log-likelihood of the pair's
    contingency table under the bivariate normal with correlation ``rho`` (Olsson, 1979). All pairs
    are fitted together: each Newton step evaluates the bivariate normal CDF at all threshold pairs
    of all item pairs in one vectorised call. With ``missing="pairwise"`` (the default here; in
    lavaan it must be asked for) each item's thresholds use its observed values and each pair the
    rows where both are observed, as ``lavCor(..., missing = "pairwise")``.

    Standard errors come from the asymptotic covariance matrix of thresholds and correlations of
    Muthen (1984), lavaan's ``muthen1984``: the two-step sandwich built from the casewise scores
    (outer products for the information blocks), ``Gamma = N * B^-1 (S'S) B^-T``. ``Gamma`` is what
    WLSMV uses (``lavInspect(fit, "gamma")``; the DWLS weight is ``diag(1 / diag(Gamma))``).

    Conventions, all lavaan's: categories are the observed distinct values (an ordered categorical
    must have every category observed); correlations are kept in [-0.999, 0.999]; a 2 x 2 table
    with one empty cell gets 0.5 added to it and its diagonal partner (margins kept), one with two
    empty cells gives +-1 ("two empty cells in 2x2 table"); cell probabilities are floored at
    ``sqrt(machine eps)``. ``psych::polychoric`` agrees when ``global = TRUE`` (items with the same
    number of categories) or ``correct = 0``, and there are no empty cells; its default
    ``correct = 0.5`` adds 0.5 to empty cells and re-derives the pair's thresholds from the
    corrected table when items differ in their number of categories, and ``smooth = TRUE``
    smooths a non-positive-definite matrix (neither is done here; a non-positive-definite matrix
    is reported in ``warnings``).

    Parameters
    ----------
    data : pandas.DataFrame
        Ordinal items: numeric codes (any ordered values) or ordered categoricals.
    columns : list of str, optional
        The items (default: all columns).
    cluster : str, optional
        Column of cluster identifiers (classrooms, clinics): ``Gamma`` and the SEs cluster-robust, the
        casewise scores summed within clusters before the meat of the sandwich, times ``G / (G - 1)``
        (``G`` clusters), as lavaan's ``cluster=`` with ordered data (development version 0.7, Mplus
        ``TYPE = COMPLEX``); the estimates do not change. At least two clusters. A missing score
        (``missing="pairwise"``) counts 0 in its cluster's sum.
    ci_level : float
        Level of the Wald intervals in :meth:`PolychoricResult.to_frame`.
    missing : {"pairwise", "listwise"}
        Missing-data handling (see above).
    se : bool
        Compute standard errors and Gamma (default True; False is faster).
    max_categories : int
        Items with more categories raise :class:`~efficacy.errors.DataError` (default 20).
    tol, max_iter : float, int
        Convergence tolerance on rho and the iteration limit of the Newton steps.

    Returns
    -------
    PolychoricResult

    Raises
    ------
    DataError
        Fewer than two items; a column that is missing, not ordinal, has a single observed category
        or more than ``max_categories``; a pair of items never observed together.

    Notes
    -----
    Matches ``lavaan::lavCor(data, ordered = names(data), missing = ..., output = "fit",
    se = "robust.sem")``: correlations (``lavCor(fit)``), thresholds, SEs
    (``parameterEstimates(fit)``) and ``lavInspect(fit, "gamma")``.

    References
    ----------
    Olsson, U. (1979). Maximum likelihood estimation of the polychoric correlation coefficient.
    *Psychometrika*, 44, 443-460.

    Muthen, B. (1984). A general structural equation model with dichotomous, ordered categorical,
    and continuous latent variable indicators. *Psychometrika*, 49, 115-132.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> z = rng.multivariate_normal([0, 0], [[1, .6], [.6, 1]], size=2000)
    >>> df = pd.DataFrame(np.digitize(z, [-1, 0, 1]) + 1, columns=["a", "b"])
    >>> res = polychoric(df)
    >>> round(float(res.rho.loc["a", "b"]), 3), round(float(res.se.loc["a", "b"]), 3)
    (0.586, 0.018)
    """
    _check_level(ci_level)
    cols, codes, cats, pos = _coded(data, columns, missing, max_categories, rows=True)
    cl_codes = None if cluster is None else _cluster_codes(data, cluster, pos)
    p = len(cols)
    if p < 2:
        raise DataError("a polychoric matrix needs at least two items", found=f"{p} item",
                        where="columns")
    ncat = np.array([len(c) for c in cats])
    kmax = int(ncat.max())
    counts, nobs_item, prop, cum, tpad = _uni(codes, ncat)
    n = codes.shape[0]
    iu, ju = _pair_index(p)
    m = iu.size

    # all bivariate tables from one bincount
    ci, cj = codes[:, iu], codes[:, ju]  # (n, m)
    obs = (ci >= 0) & (cj >= 0)
    flat = (np.arange(m)[None, :] * kmax + ci) * kmax + cj
    tab = np.bincount(flat[obs], minlength=m * kmax * kmax).reshape(m, kmax, kmax).astype(float)
    npair = tab.sum(axis=(1, 2))
    never = np.flatnonzero(npair == 0)
    if never.size:
        names = ", ".join(f"{cols[iu[q]]} & {cols[ju[q]]}" for q in never[:5])
        raise DataError("pair(s) of items never observed together; their correlation is not estimable",
                        where=names, found="0 joint observations",
                        expected="at least one row with both items observed")
    valid = (np.arange(kmax)[None, :, None] < ncat[iu][:, None, None]) & \
            (np.arange(kmax)[None, None, :] < ncat[ju][:, None, None])
    empty = (valid & (tab == 0)).sum(axis=(1, 2))

    # 2 x 2 tables: lavaan's special rules
    bin2 = (ncat[iu] == 2) & (ncat[ju] == 2)
    nzero = np.where(bin2, (tab[:, :2, :2] == 0).sum(axis=(1, 2)), 0)
    two_empty = bin2 & (nzero == 2)
    fit_tab = _zero_add_2x2(tab, bin2 & (nzero == 1))
    indep = bin2 & ~two_empty & np.isclose(fit_tab[:, 0, 0] * fit_tab[:, 1, 1],
                                           fit_tab[:, 0, 1] * fit_tab[:, 1, 0], rtol=0, atol=1e-12)

    # start values: Pearson correlation of the codes on the pair's rows (lavaan's start)
    start = np.zeros(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        cnt = obs.sum(axis=0)
        xi = np.where(obs, ci, 0).astype(float)
        xj = np.where(obs, cj, 0).astype(float)
        mi, mj = xi.sum(0) / cnt, xj.sum(0) / cnt
        cov = (xi * xj).sum(0) / cnt - mi * mj
        vi = (xi * xi).sum(0) / cnt - mi * mi
        vj = (xj * xj).sum(0) / cnt - mj * mj
        start = np.nan_to_num(cov / np.sqrt(vi * vj))
    tx, ty = tpad[iu], tpad[ju]
    fit_mask = ~two_empty & ~indep
    rho = np.zeros(m)
    conv = np.ones(m, dtype=bool)
    if fit_mask.any():
        r_fit, c_fit, _ = _fit_pairs(fit_tab[fit_mask], tx[fit_mask], ty[fit_mask], valid[fit_mask],
                                     start[fit_mask], tol=tol, max_iter=max_iter)
        rho[fit_mask] = r_fit
        conv[fit_mask] = c_fit
    # two empty cells: +1 if cell (1,1) is filled, else -1 (lavaan)
    rho[two_empty] = np.where(tab[two_empty, 0, 0] > 0, 1.0, -1.0)

    # flags (lavaan's warning texts)
    reasons = [""] * m
    warns = []
    for q in range(m):
        a, b = cols[iu[q]], cols[ju[q]]
        msg = []
        if two_empty[q]:
            msg.append("two empty cells in 2x2 table")
        if not conv[q]:
            msg.append(f"estimation polychoric correlation did not converge for variables {a} and {b}")
        if abs(rho[q]) > _NEAR_ONE:
            msg.append(f"correlation between variables {a} and {b} is (nearly) 1.0")
        if abs(rho[q]) >= _BOUND and not two_empty[q]:
            msg.append(f"estimate at the bound {np.sign(rho[q]) * _BOUND:+.3f} (no interior maximum; "
                       "empty cells make the table degenerate); SE not reported")
        if msg:
            reasons[q] = "; ".join(msg)
            warns.append(f"{a} ~~ {b}: {reasons[q]}")

    R = np.eye(p)
    R[iu, ju] = R[ju, iu] = rho
    ev = np.linalg.eigvalsh(R)
    if ev.min() <= 0:
        warns.append(f"the polychoric correlation matrix is not positive definite (smallest eigenvalue "
                     f"{ev.min():.3g}); psych::polychoric(smooth = TRUE) would smooth it")

    # standard errors, Gamma
    gamma = gamma_iid = None
    se_rho = np.full(m, np.nan)
    th_se = _threshold_se(counts, prop, tpad, ncat, n)
    if se:
        # a +-1 from two empty cells has no scores: evaluate them at the box bound instead
        wls_w = _nacov(codes, ncat, counts, prop, tpad, iu, ju, np.clip(rho, -_BOUND, _BOUND), flat, obs,
                       cluster=cl_codes)
        labels = _th_labels(cols, ncat) + [f"{cols[a]}~~{cols[b]}" for a, b in zip(iu, ju)]
        nth = int((ncat - 1).sum())
        if cl_codes is not None:
            gamma_iid = pd.DataFrame(wls_w[0] * n, index=labels, columns=labels)
            wls_w = wls_w[1]
        if cl_codes is None:
            gamma = pd.DataFrame(wls_w * n, index=labels, columns=labels)
            with np.errstate(invalid="ignore"):  # lavaan: vcov = Gamma / (N - 1) for (D)WLS
                se_rho = np.sqrt(np.diag(wls_w)[nth:] * n / (n - 1))
                th_se = np.sqrt(np.diag(wls_w)[:nth] * n / (n - 1))
        else:   # cluster-robust: Gamma * G / (G - 1), vcov = Gamma / (N - 1) (lavaan 0.7's robust.cluster.sem)
            ncl = int(cl_codes.max()) + 1
            g_cl = wls_w * n * ncl / (ncl - 1)
            gamma = pd.DataFrame(g_cl, index=labels, columns=labels)
            with np.errstate(invalid="ignore"):
                se_rho = np.sqrt(np.diag(g_cl)[nth:] / (n - 1))
                th_se = np.sqrt(np.diag(g_cl)[:nth] / (n - 1))
        # at the box bound (or +-1 from two empty cells) the likelihood has no interior maximum:
        # the sandwich "SE" is meaningless (lavaan prints it anyway); report NaN, keep Gamma as lavaan
        se_rho[two_empty | (np.abs(rho) >= _BOUND)] = np.nan

    S = np.full((p, p), np.nan)
    S[iu, ju] = S[ju, iu] = se_rho
    N = np.diag(nobs_item).astype(float)
    N[iu, ju] = N[ju, iu] = npair
    z = stats.norm.ppf(0.5 + ci_level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = rho / se_rho
    pairs = pd.DataFrame({
        "lhs": [cols[a] for a in iu], "op": "~~", "rhs": [cols[b] for b in ju],
        "estimate": rho, "se": se_rho, "statistic": stat, "pvalue": 2 * stats.norm.sf(np.abs(stat)),
        "ci_low": rho - z * se_rho, "ci_high": rho + z * se_rho,
        "n": npair.astype(int), "empty_cells": empty.astype(int), "converged": conv,
        "reason": reasons})
    th = _threshold_frame(cols, cats, ncat, counts, nobs_item, cum, tpad, th_se)
    return PolychoricResult(
        rho=pd.DataFrame(R, index=cols, columns=cols), se=pd.DataFrame(S, index=cols, columns=cols),
        thresholds=th, n=pd.DataFrame(N.astype(int), index=cols, columns=cols), nobs=int(n),
        items=list(cols), pairs=pairs, gamma=gamma, gamma_iid=gamma_iid, cluster=cluster, ci_level=ci_level,
        missing=missing,
        converged=bool(conv.all() and not two_empty.any() and not (np.abs(rho) > _NEAR_ONE).any()),
        warnings=warns)


def _cluster_codes(data, cluster, pos):
    """Integer codes 0..G-1 of the cluster column at the kept row positions (G >= 2)."""
    if not isinstance(cluster, str) or cluster not in data.columns:
        raise DataError("cluster column not in the data", where="cluster", found=repr(cluster),
                        expected="the name of a data column")
    cl = data[cluster].iloc[pos]
    if cl.isna().any():
        raise DataError("missing values in the cluster column", where=cluster,
                        found=f"{int(cl.isna().sum())} NA", expected="a cluster for every row used")
    codes, uniq = pd.factorize(cl, sort=False)
    if len(uniq) < 2:
        raise DataError("cluster-robust standard errors need at least two clusters", where=cluster,
                        found=f"{len(uniq)} cluster", expected="two or more clusters")
    return codes.astype(int)


def _nacov(codes, ncat, counts, prop, tpad, iu, ju, rho, flat, obs, parts=False, cluster=None):
    """Asymptotic covariance (times 1/N) of thresholds and polychorics: Muthen (1984) / lavaan.

    ``cluster`` (integer cluster codes of the rows, or None): the cluster-robust version, the casewise
    scores summed within clusters before the outer product of the meat ``S'S`` (the bread, built from
    the row-level outer products, unchanged), as lavaan's ``muthen1984(cluster.idx =)``; returns the
    pair (row-level, cluster-robust) and the caller applies the small-sample factor ``G / (G - 1)``.

    ``parts=True`` returns the pieces instead, ``(s1, s2, a21)`` (casewise threshold and correlation
    scores and the cross-information block), for the mixed ordinal/continuous moments of
    :mod:`efficacy.sem.wls_mixed`.

    Stage 1 scores s1 (thresholds, per item), stage 2 scores s2 (correlations, per pair, zero
    where the pair is not observed). With the information blocks estimated by outer products
    (A11 block-diagonal per item, A22 diagonal, A21 = sum s2 * d l2 / d tau), the influence of a
    row is ``[A11^-1 s1 ; A22^-1 (s2 - A21 A11^-1 s1)]`` and the result is ``B^-1 (S'S) B^-T``.
    """
    n, p = codes.shape
    m = iu.size
    kmax = int(ncat.max())
    nth_i = ncat - 1
    th_start = np.concatenate([[0], np.cumsum(nth_i)[:-1]])
    nth = int(nth_i.sum())

    # stage-1 casewise scores (n x nth)
    sc_cat = _th_scores(tpad, prop, ncat)  # (p, kmax, kmax-1)
    s1 = np.zeros((n, nth))
    for i in range(p):
        c = codes[:, i]
        ok = c >= 0
        blk = np.zeros((n, nth_i[i]))
        blk[ok] = sc_cat[i, c[ok], :nth_i[i]]
        s1[:, th_start[i]:th_start[i] + nth_i[i]] = blk

    # stage-2 cell quantities at the estimates
    r = rho[:, None, None]
    tx, ty = tpad[iu], tpad[ju]
    x = tx[:, :, None]
    y = ty[:, None, :]
    f = bivariate_normal_cdf(x, y, r)
    pr = np.maximum(_diff2(f), _TINY)
    dpr = _diff2(_bvn_density(x, y, r))
    u = dpr / pr  # d log P_ab / d rho, (m, kmax, kmax)
    # d P_ab / d x_t: D(x_t, y_{b+1}) - D(x_t, y_b), D(x, y) = phi(x) Phi((y - r x) / s)
    dx = stats.norm.pdf(np.where(np.isfinite(x), x, 0.0)) * np.isfinite(x)
    gx = dx * _cond_cdf(x, y, r)  # (m, kmax+1, kmax+1)
    gx = gx[:, :, 1:] - gx[:, :, :-1]  # (m, kmax+1 [t], kmax [b])
    dy = stats.norm.pdf(np.where(np.isfinite(y), y, 0.0)) * np.isfinite(y)
    gy = dy * _cond_cdf(y, x, r)  # (m, kmax+1 [a], kmax+1 [t])
    gy = gy[:, 1:, :] - gy[:, :-1, :]  # (m, kmax [a], kmax+1 [t])

    # casewise correlation scores (n x m)
    s2 = np.zeros((n, m))
    s2[obs] = u.reshape(-1)[flat[obs]]

    # A21: sum over cells n_ab u_ab d log P_ab / d tau
    tab = np.bincount(flat[obs], minlength=m * kmax * kmax).reshape(m, kmax, kmax).astype(float)
    w = tab * u / pr  # n_ab u_ab / P_ab
    a21 = np.zeros((m, nth))
    for t in range(1, kmax):  # padded index t = threshold t (1-based)
        # row item: cells a = t-1 (tau_t is their upper bound, +), a = t (lower bound, -)
        row_t = (w[:, t - 1, :] * gx[:, t, :]).sum(1) - (w[:, t, :] * gx[:, t, :]).sum(1)
        col_t = (w[:, :, t - 1] * gy[:, :, t]).sum(1) - (w[:, :, t] * gy[:, :, t]).sum(1)
        ok_i = t <= nth_i[iu]
        ok_j = t <= nth_i[ju]
        q = np.flatnonzero(ok_i)
        a21[q, th_start[iu[q]] + t - 1] += row_t[q]
        q = np.flatnonzero(ok_j)
        a21[q, th_start[ju[q]] + t - 1] += col_t[q]
    if parts:
        return s1, s2, a21

    inner = np.concatenate([s1, s2], axis=1)
    inner = inner.T @ inner
    a11_inv = np.zeros((nth, nth))
    for i in range(p):
        sl = slice(th_start[i], th_start[i] + nth_i[i])
        a11_inv[sl, sl] = np.linalg.inv(inner[sl, sl])
    a22 = np.einsum("ij,ij->j", s2, s2)
    with np.errstate(divide="ignore"):
        a22_inv = np.where(a22 > 0, 1.0 / a22, 0.0)
    binv = np.zeros((nth + m, nth + m))
    binv[:nth, :nth] = a11_inv
    binv[nth:, :nth] = -(a22_inv[:, None] * a21) @ a11_inv
    binv[nth + np.arange(m), nth + np.arange(m)] = a22_inv
    if cluster is not None:   # (row-level, cluster-robust)
        sc = np.concatenate([s1, s2], axis=1)
        agg = np.zeros((int(cluster.max()) + 1, sc.shape[1]))
        np.add.at(agg, cluster, sc)
        return binv @ inner @ binv.T, binv @ (agg.T @ agg) @ binv.T
    return binv @ inner @ binv.T


# ----------------------------------------------------------------------------------------------
# polyserial
# ----------------------------------------------------------------------------------------------
@dataclass
class PolyserialResult(ResultMixin):
    """Polyserial correlations of continuous ``x`` columns with ordinal ``y`` items.

    Attributes
    ----------
    estimates : pandas.DataFrame
        One row per (x, y) pair: ``lhs`` (x), ``op``, ``rhs`` (y), ``estimate``, ``se``,
        ``statistic``, ``pvalue``, ``ci_low``, ``ci_high``, ``n``, ``converged``, ``reason``.
    thresholds : pandas.DataFrame
        Thresholds of the ordinal items (see :func:`thresholds`).
    method : str
        ``"twostep"`` (ML, lavaan) or ``"adhoc"`` (psych).
    """

    estimates: pd.DataFrame
    thresholds: pd.DataFrame
    method: str = "twostep"
    ci_level: float = 0.95

    _headline = ("converged",)
    _title = "Polyserial correlations"

    @property
    def rho(self) -> pd.DataFrame:
        """The correlations as an x-by-y matrix."""
        return self.estimates.pivot(index="lhs", columns="rhs", values="estimate")

    @property
    def converged(self) -> bool:
        return bool(self.estimates["converged"].all())

    @property
    def reason(self) -> str:
        return "; ".join(r for r in self.estimates["reason"] if r)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per pair."""
        return self.estimates.copy()

    def summary(self) -> str:
        """A short plain-text table."""
        label = "two-step ML (Olsson, Drasgow & Dorans 1982)" if self.method == "twostep" else \
            "ad hoc estimator (Olsson, Drasgow & Dorans 1982)"
        lines = [f"Polyserial correlations, {label}", f"{'x':>10} {'y':>10} {'estimate':>9} {'se':>7} {'n':>6}"]
        for _, r in self.estimates.iterrows():
            lines.append(f"{r['lhs']!s:>10} {r['rhs']!s:>10} {r['estimate']:9.4f} {r['se']:7.4f} "
                         f"{int(r['n']):6d}" + (f"  [{r['reason']}]" if r["reason"] else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary."""
        return {"result": type(self).__name__, "method": self.method, "ci_level": self.ci_level,
                "estimates": _records(self.estimates), "thresholds": _records(self.thresholds)}


def _polyserial_pair(xv, yc, tau, bound=_BOUND_PS):
    """Two-step ML polyserial rho and its two-step sandwich SE for one (x, y) pair.

    ``xv``: continuous values (NaN = missing); ``yc``: category codes (-1 = missing);
    ``tau``: thresholds of y (K-1).
    """
    okx = ~np.isnan(xv)
    mu = xv[okx].mean()
    var = ((xv[okx] - mu) ** 2).mean()  # ML variance (lavaan's uvreg)
    sd = np.sqrt(var)
    both = okx & (yc >= 0)
    z = (xv[both] - mu) / sd
    c = yc[both]
    tp = np.concatenate([[-np.inf], tau, [np.inf]])
    up, lo = tp[c + 1], tp[c]

    def negll(r):
        s = np.sqrt(1 - r * r)
        pr = ndtr((up - r * z) / s) - ndtr((lo - r * z) / s)
        return -np.log(np.maximum(pr, np.finfo(float).eps)).sum()

    res = optimize.minimize_scalar(negll, bounds=(-bound, bound), method="bounded",
                                   options={"xatol": 1e-12, "maxiter": 500})
    rho = float(res.x)
    conv = bool(res.success)

    # scores (two-step sandwich, lavaan's muthen1984 for a numeric-ordinal pair)
    n = xv.size
    s_ = np.sqrt(1 - rho * rho)
    zz = np.zeros(n)
    zz[okx] = (xv[okx] - mu) / sd
    nth = tau.size
    # stage 1: x (mean, var) and y thresholds, casewise
    s_mu = np.where(okx, zz / sd, 0.0)
    s_var = np.where(okx, (zz * zz - 1) / (2 * var), 0.0)
    ycnt = np.bincount(yc[yc >= 0], minlength=nth + 1)
    yprop = ycnt / ycnt.sum()
    dens = stats.norm.pdf(tau)
    s_th = np.zeros((n, nth))
    for t in range(nth):
        s_th[yc == t, t] = dens[t] / yprop[t]
        s_th[yc == t + 1, t] = -dens[t] / yprop[t + 1]
    # stage 2 and the cross-derivatives of the bivariate log-likelihood
    u1 = (up - rho * z) / s_
    u0 = (lo - rho * z) / s_
    f1 = np.where(np.isfinite(up), stats.norm.pdf(np.where(np.isfinite(u1), u1, 0.0)), 0.0)
    f0 = np.where(np.isfinite(lo), stats.norm.pdf(np.where(np.isfinite(u0), u0, 0.0)), 0.0)
    pr = np.maximum(ndtr(u1) - ndtr(u0), np.finfo(float).eps)
    t1 = np.where(np.isfinite(up), up * rho - z, 0.0)
    t0 = np.where(np.isfinite(lo), lo * rho - z, 0.0)
    d_rho = (f1 * t1 - f0 * t0) / (s_ ** 3 * pr)
    d_mu = (z + rho / s_ * (f1 - f0) / pr) / sd
    d_var = ((z * z - 1) + rho * z / s_ * (f1 - f0) / pr) / (2 * var)
    d_th = np.zeros((both.sum(), nth))
    for t in range(nth):
        d_th[:, t] = (np.where(c == t, f1, 0.0) - np.where(c == t + 1, f0, 0.0)) / (s_ * pr)
    s_rho = np.zeros(n)
    s_rho[both] = d_rho
    a21 = np.concatenate([[d_rho @ d_mu, d_rho @ d_var], d_rho @ d_th])
    S = np.column_stack([s_mu, s_var, s_th, s_rho])
    inner = S.T @ S
    k1 = 2 + nth
    a11_inv = np.zeros((k1, k1))
    a11_inv[:2, :2] = np.linalg.inv(inner[:2, :2])
    a11_inv[2:, 2:] = np.linalg.inv(inner[2:k1, 2:k1])
    a22 = s_rho @ s_rho
    row = np.concatenate([-(a21 @ a11_inv) / a22, [1 / a22]])
    var_rho = row @ inner @ row * n / (n - 1)  # lavaan: vcov = Gamma / (N - 1)
    return rho, float(np.sqrt(var_rho)), int(both.sum()), conv


def _polyserial_rhos(z, up, lo, ok, bound=_BOUND_PS, tol=1e-12, max_iter=100):
    """Two-step ML polyserial correlations of many (x, y) pairs at once (the second step of
    :func:`_polyserial_pair`, vectorised over pairs).

    ``z``: (n, P) standardised continuous values; ``up``/``lo``: (n, P) upper and lower thresholds of
    each case's category of y (+-inf at the ends); ``ok``: (n, P) rows where both are observed.
    Newton steps on each pair's log-likelihood with the analytic score, its derivative by central
    differences at the start and secant updates after, step halving when the likelihood does not rise, inside ``[-bound, bound]``; starts at
    the Pearson correlation of z with the category midpoints' normal scores. Returns ``(rho, converged)``.
    """
    zs = np.where(ok, z, 0.0)
    fu, fl = np.isfinite(up), np.isfinite(lo)
    up0, lo0 = np.where(fu, up, 0.0), np.where(fl, lo, 0.0)
    eps = np.finfo(float).eps

    def loglik(r):
        sq = np.sqrt(1 - r * r)
        pr = ndtr(np.where(fu, (up0 - r * zs) / sq, np.inf)) - ndtr(np.where(fl, (lo0 - r * zs) / sq, -np.inf))
        return np.where(ok, np.log(np.maximum(pr, eps)), 0.0).sum(axis=0)

    def score(r):
        sq = np.sqrt(1 - r * r)
        u1, u0 = (up0 - r * zs) / sq, (lo0 - r * zs) / sq
        f1 = np.where(fu, np.exp(-0.5 * u1 * u1), 0.0) / np.sqrt(2 * np.pi)
        f0 = np.where(fl, np.exp(-0.5 * u0 * u0), 0.0) / np.sqrt(2 * np.pi)
        pr = np.maximum(ndtr(np.where(fu, u1, np.inf)) - ndtr(np.where(fl, u0, -np.inf)), eps)
        t1, t0 = np.where(fu, up0 * r - zs, 0.0), np.where(fl, lo0 * r - zs, 0.0)
        return np.where(ok, (f1 * t1 - f0 * t0) / (sq ** 3 * pr), 0.0).sum(axis=0)

    # start: correlation of z with the normal scores of the category midpoints
    mid = np.where(fu & fl, 0.5 * (up0 + lo0), np.where(fu, up0 - 0.5, lo0 + 0.5))
    nok = np.maximum(ok.sum(axis=0), 1)
    mz = np.where(ok, mid, 0.0).sum(axis=0) / nok
    dm = np.where(ok, mid - mz, 0.0)
    den = np.sqrt((dm * dm).sum(axis=0) * (zs * zs).sum(axis=0))
    r = np.clip(np.where(den > 0, (dm * zs).sum(axis=0) / np.where(den > 0, den, 1.0), 0.0), -0.9, 0.9)
    f = loglik(r)
    conv = np.zeros(r.size, dtype=bool)
    h = 1e-6
    g = score(r)
    H = (score(np.clip(r + h, -bound, bound)) - score(np.clip(r - h, -bound, bound))) / (
        np.clip(r + h, -bound, bound) - np.clip(r - h, -bound, bound))
    for _ in range(max_iter):
        step = np.where(H < 0, -g / np.where(H < 0, H, -1.0), np.sign(g) * 0.05)   # ascent when not concave
        step = np.clip(step, -0.5, 0.5)
        for _half in range(30):
            rn = np.clip(r + step, -bound, bound)
            fn = loglik(rn)
            bad = ~(fn >= f - 1e-12 * np.abs(f)) & ~conv
            if not bad.any():
                break
            step = np.where(bad, step / 2, step)
        done = np.abs(rn - r) <= tol
        gn = score(rn)
        # secant update of the curvature (superlinear, one score per step); keep H where the step is tiny
        dr = rn - r
        big = np.abs(dr) > 1e-9
        Hs = (gn - g) / np.where(big, dr, 1.0)
        H = np.where(big & (Hs < 0), Hs, H)
        r, f, g = np.where(conv, r, rn), np.where(conv, f, fn), np.where(conv, g, gn)
        conv |= done
        if conv.all():
            break
    return r, conv


def polyserial(data, x, y, *, ci_level=0.95, method="twostep", max_categories=20) -> PolyserialResult:
    """Polyserial correlation of continuous variable(s) ``x`` with ordinal item(s) ``y``.

    The ordinal ``y`` is the categorised version of a normal latent response correlated ``rho``
    with ``x``. Two-step ML (Olsson, Drasgow & Dorans, 1982), lavaan's: step 1 estimates the mean
    and (ML) variance of ``x`` and the thresholds of ``y`` from their own observed values; step 2
    maximises over ``rho`` the conditional likelihood of ``y`` given standardised ``x``,
    ``P(y = k | z) = Phi((t_k - rho z) / sqrt(1 - rho^2)) - Phi((t_{k-1} - rho z) / sqrt(1 - rho^2))``,
    on the rows where both are observed (``rho`` kept in [-0.995, 0.995] as lavaan). The SE is the
    two-step sandwich of Muthen (1984), as lavaan's ``se = "robust.sem"``. ``method="adhoc"`` gives
    the ad hoc estimator ``r_xy * sd(y) / sum(phi(t_k))`` on the category codes (y scored 0..K-1;
    ``psych::polyserial``), without SE.

    Parameters
    ----------
    data : pandas.DataFrame
        The data.
    x : str or list of str
        Continuous column(s).
    y : str or list of str
        Ordinal column(s).
    ci_level : float
        Level of the Wald intervals.
    method : {"twostep", "adhoc"}
        Estimator (see above).
    max_categories : int
        Ordinal items with more categories raise :class:`~efficacy.errors.DataError`.

    Returns
    -------
    PolyserialResult

    Raises
    ------
    DataError
        Missing columns, a non-numeric or constant ``x``, an ordinal ``y`` with a single category or
        too many, no row with both observed.

    Notes
    -----
    Matches the numeric-ordinal correlations of ``lavaan::lavCor(data, ordered = y, output = "fit",
    se = "robust.sem")``; lavaan reports them as covariances in its Gamma, whose SEs map back to the
    correlation by the delta method. ``method="adhoc"`` matches ``psych::polyserial`` on complete data.

    References
    ----------
    Olsson, U., Drasgow, F., & Dorans, N. J. (1982). The polyserial correlation coefficient.
    *Psychometrika*, 47, 337-347.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> z = rng.multivariate_normal([0, 0], [[1, .5], [.5, 1]], size=3000)
    >>> df = pd.DataFrame({"score": z[:, 0], "item": np.digitize(z[:, 1], [-1, 0, 1])})
    >>> round(float(polyserial(df, "score", "item").estimates["estimate"].iloc[0]), 1)
    0.5
    """
    _check_level(ci_level)
    if method not in ("twostep", "adhoc"):
        raise DataError("unknown `method`", found=repr(method), expected='"twostep" or "adhoc"')
    xs = _check_frame(data, x, "x")
    ys = _check_frame(data, y, "y")
    for c in xs:
        if not pd.api.types.is_numeric_dtype(data[c]):
            raise DataError("a continuous variable must be numeric", where=f"column {c!r}",
                            found=str(data[c].dtype))
        v = data[c].to_numpy(dtype=float)
        if np.isinf(v).any():
            raise DataError("infinite value in a continuous variable", where=f"column {c!r}")
        if np.nanstd(v) == 0 or np.isnan(v).all():
            raise DataError("continuous variable has no variance", where=f"column {c!r}")
    coded = [_code_item(data[c], c, max_categories) for c in ys]
    ycols = ys
    ycodes = np.column_stack([cc[0] for cc in coded])
    ycats = [cc[1] for cc in coded]
    yncat = np.array([len(c) for c in ycats])
    counts, nobs, prop, cum, tpad = _uni(ycodes, yncat)
    th = _threshold_frame(ycols, ycats, yncat, counts, nobs, cum, tpad,
                          _threshold_se(counts, prop, tpad, yncat, ycodes.shape[0]))
    rows = []
    z = stats.norm.ppf(0.5 + ci_level / 2)
    for xc in xs:
        xv = data[xc].to_numpy(dtype=float)
        for j, yc in enumerate(ycols):
            codes = ycodes[:, j]
            tau = tpad[j, 1:yncat[j]]
            both = ~np.isnan(xv) & (codes >= 0)
            nb = int(both.sum())
            if nb == 0:
                raise DataError("no row with both variables observed", where=f"{xc} & {yc}",
                                found="0 joint observations")
            reason = ""
            if method == "twostep":
                r, s, nb, conv = _polyserial_pair(xv, codes, tau)
                if not conv:
                    reason = f"estimation polyserial correlation did not converge for variables {xc} and {yc}"
            else:
                xb, yb = xv[both], codes[both].astype(float)
                r_xy = np.corrcoef(xb, yb)[0, 1]
                r = float(np.clip(r_xy * yb.std() / stats.norm.pdf(tau).sum(), -1, 1))
                s, conv = np.nan, True
            if abs(r) > _NEAR_ONE:
                reason = "; ".join(filter(None, [reason, (f"correlation between variables {xc} and {yc} "
                                                         f"is (nearly) 1.0")]))
            stat = r / s if s and np.isfinite(s) else np.nan
            rows.append({"lhs": xc, "op": "~~", "rhs": yc, "estimate": r, "se": s, "statistic": stat,
                         "pvalue": 2 * stats.norm.sf(abs(stat)) if np.isfinite(stat) else np.nan,
                         "ci_low": r - z * s, "ci_high": r + z * s, "n": nb, "converged": conv,
                         "reason": reason})
    return PolyserialResult(estimates=pd.DataFrame(rows), thresholds=th, method=method, ci_level=ci_level)


# ----------------------------------------------------------------------------------------------
# ordinal alpha
# ----------------------------------------------------------------------------------------------
@dataclass
class OrdinalAlphaResult(ResultMixin):
    """Ordinal alpha: Cronbach's alpha computed on the polychoric correlation matrix.

    Attributes
    ----------
    alpha : float
        Ordinal alpha, ``k / (k - 1) * (1 - k / sum(R))``.
    average_r : float
        Mean off-diagonal polychoric correlation.
    alpha_drop : pandas.Series
        Ordinal alpha with each item left out.
    k, n : int
        Items and rows used.
    polychoric : PolychoricResult
        The correlation matrix it rests on.
    reason : str
        Empty when all is well; otherwise why the value deserves caution or is NaN.
    """

    alpha: float
    average_r: float
    alpha_drop: pd.Series
    k: int
    n: int
    polychoric: PolychoricResult
    reason: str = ""

    _headline = ("alpha", "average_r", "k", "n")
    _title = "Ordinal alpha"

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per quantity, then alpha if each item is dropped (columns
        ``quantity``, ``value``)."""
        rows = [("ordinal_alpha", self.alpha), ("average_r", self.average_r), ("k", self.k),
                ("n", self.n)]
        rows += [(f"alpha_drop[{i}]", v) for i, v in self.alpha_drop.items()]
        return pd.DataFrame({"quantity": [r[0] for r in rows], "value": [float(r[1]) for r in rows]})

    def summary(self) -> str:
        """A short plain-text report."""
        lines = [(f"Ordinal alpha (alpha on polychoric correlations) = {self.alpha:.4f}, "
                 f"average r = {self.average_r:.4f}, k = {self.k}, n = {self.n}"),
                 "Alpha if item dropped:"]
        lines += [f"  {i!s:<12}{v:.4f}" for i, v in self.alpha_drop.items()]
        if self.reason:
            lines.append(f"Note: {self.reason}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary."""
        return {"result": type(self).__name__, "alpha": float(self.alpha), "average_r": float(self.average_r),
                "k": int(self.k),
                "n": int(self.n), "alpha_drop": {str(k): float(v) for k, v in self.alpha_drop.items()},
                "reason": self.reason, "polychoric": self.polychoric.to_dict()}

    def __repr__(self) -> str:
        return f"OrdinalAlphaResult(alpha={self.alpha:.4f}, k={self.k}, n={self.n})"


def _alpha_from_r(r):
    k = r.shape[0]
    return k / (k - 1) * (1 - k / r.sum())


def ordinal_alpha(data, items=None, *, missing="pairwise", max_categories=20) -> OrdinalAlphaResult:
    """Ordinal alpha (Zumbo, Gadermann & Zeisser, 2007): alpha on the polychoric matrix.

    Standardized-alpha formula ``k / (k - 1) * (1 - k / sum(R))`` with ``R`` the polychoric
    correlation matrix of the items (:func:`polychoric`); matches
    ``psych::alpha(psych::polychoric(x)$rho)`` (``raw_alpha``, ``average_r`` and
    ``alpha.drop$raw_alpha``) where the polychoric conventions agree (see :func:`polychoric`).
    It is the reliability of the latent responses, not of the observed sum score.

    Parameters
    ----------
    data : pandas.DataFrame
        The data.
    items : list of str, optional
        The items (default: all columns); at least two.
    missing : {"pairwise", "listwise"}
        Missing-data handling of the polychoric matrix.
    max_categories : int
        Passed to :func:`polychoric`.

    Returns
    -------
    OrdinalAlphaResult

    References
    ----------
    Zumbo, B. D., Gadermann, A. M., & Zeisser, C. (2007). Ordinal versions of coefficients alpha
    and theta for Likert rating scales. *Journal of Modern Applied Statistical Methods*, 6, 21-29.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> f = rng.normal(size=(500, 1))
    >>> z = 0.7 * f + np.sqrt(1 - 0.49) * rng.normal(size=(500, 4))
    >>> df = pd.DataFrame(np.digitize(z, [-1, 0, 1]) + 1, columns=list("abcd"))
    >>> round(ordinal_alpha(df).alpha, 3)  # population value 4 * .49 / (1 + 3 * .49) = 0.794
    0.811
    """
    res = polychoric(data, items, missing=missing, se=False, max_categories=max_categories)
    r = res.rho.to_numpy()
    k = r.shape[0]
    alpha = _alpha_from_r(r)
    avg = r[np.triu_indices(k, 1)].mean()
    drop = {}
    for i, c in enumerate(res.items):
        keep = [j for j in range(k) if j != i]
        drop[c] = _alpha_from_r(r[np.ix_(keep, keep)]) if k > 2 else np.nan
    return OrdinalAlphaResult(alpha=float(alpha), average_r=float(avg), alpha_drop=pd.Series(drop),
                              k=k, n=res.nobs, polychoric=res, reason=res.reason)
