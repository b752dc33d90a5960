"""Publication bias: the rank correlation test and selection models (metafor ``ranktest``, ``selmodel``).

:func:`ranktest` is the Begg & Mazumdar (1994) rank correlation test for funnel-plot asymmetry,
as ``metafor::ranktest``. :func:`selection_model` fits a selection model by maximum likelihood
as ``metafor::selmodel`` applied to an ``rma`` fit: the step-function model of Vevea & Hedges
(1995) (with one cut at a one-sided p of .025 it is the three-parameter selection model) and the
beta model of Citkowicz & Vevea (2017). :func:`vevea_woods` is the sensitivity analysis of Vevea
& Woods (2005): the model refitted under the four a-priori weight functions they publish.

Every number is checked against metafor 3.8 in ``tests/test_selection.py`` (fixtures written by
``tests/reference/selection.R``).

Example
-------
>>> import numpy as np
>>> from efficacy.meta.selection import ranktest, selection_model
>>> rng = np.random.default_rng(21)
>>> vi = rng.uniform(0.005, 0.1, 40)
>>> yi = rng.normal(0.2, np.sqrt(vi + 0.02))
>>> published = (yi / np.sqrt(vi) > 1.96) | (rng.uniform(size=40) < 0.5)  # non-significant: 1 in 2
>>> yi, vi = yi[published], vi[published]
>>> round(ranktest(yi=yi, vi=vi).pvalue, 4)
0.2876
>>> sel = selection_model(yi=yi, vi=vi, steps=(0.025, 1))  # three-parameter selection model
>>> round(sel.estimate, 4), round(float(sel.delta[1]), 4), round(sel.lrt_pvalue, 4)
(0.157, 0.2544, 0.0709)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special, stats

from .._api import check_columns, data_or_none, renamed
from ..errors import MetaError, SelectionError
from ..results import ResultMixin
from .univariate import RMAResult, random_effects

__all__ = [
    "VEVEA_WOODS_2005",
    "RankTestResult",
    "SelectionError",
    "SelectionResult",
    "VeveaWoodsResult",
    "ranktest",
    "selection_model",
    "vevea_woods",
]

ALTERNATIVES = ("greater", "less", "two.sided")
TYPES = ("stepfun", "beta")

#: A-priori weight functions of Vevea & Woods (2005, Table 1): one-sided p-value cut points and the
#: relative probability of publication in each interval, for moderate and severe one-tailed
#: selection and moderate and severe two-tailed selection (as in the metafor ``selmodel`` help).
VEVEA_WOODS_2005 = {
    "steps": (0.005, 0.01, 0.05, 0.10, 0.25, 0.35, 0.50, 0.65, 0.75, 0.90, 0.95, 0.99, 0.995, 1.0),
    "moderate one-tailed": (1, 0.99, 0.95, 0.80, 0.75, 0.65, 0.60, 0.55, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50),
    "severe one-tailed": (1, 0.99, 0.90, 0.75, 0.60, 0.50, 0.40, 0.35, 0.30, 0.25, 0.10, 0.10, 0.10, 0.10),
    "moderate two-tailed": (1, 0.99, 0.95, 0.90, 0.80, 0.75, 0.60, 0.60, 0.75, 0.80, 0.90, 0.95, 0.99, 1.00),
    "severe two-tailed": (1, 0.99, 0.90, 0.75, 0.60, 0.50, 0.25, 0.25, 0.50, 0.60, 0.75, 0.90, 0.99, 1.00),
}



# --------------------------------------------------------------------------- input helpers
def _column(data, value, name):
    if isinstance(value, str):
        if data is None:
            raise MetaError(f"column name {value!r} given for {name} but no data=", where=name)
        check_columns(data, [(name, value)])
        return data[value]
    return value


def _data_arg(data, yi, vi, func):
    """The ``data`` argument of the selection functions: a DataFrame, None, or a fitted
    :class:`efficacy.meta.RMAResult` (whose ``yi`` and ``vi`` are used, as metafor does with an
    ``rma`` object)."""
    if isinstance(data, RMAResult):
        return None, data.yi, data.vi
    return data_or_none(data, func), yi, vi


def _fmt(x):
    return f"{x:.6g}"


# --------------------------------------------------------------------------- rank correlation test
@dataclass
class RankTestResult(ResultMixin):
    """Result of :func:`ranktest` (metafor ``ranktest``).

    ``tau`` is Kendall's tau-b between the standardised deviates and the sampling variances,
    ``pvalue`` its two-sided p value (exact when ``exact`` is true, otherwise from the normal
    approximation with the variance corrected for ties), ``statistic`` the number of concordant
    pairs (exact test) or the z value.
    """

    tau: float
    pvalue: float
    statistic: float
    exact: bool
    k: int
    note: str = ""

    _headline = ("tau", "pvalue", "k")
    _title = "Rank correlation test for funnel plot asymmetry"

    def _notes(self):
        return [self.note] if self.note else []

    @property
    def method(self):
        return "exact" if self.exact else "normal approximation"

    def __repr__(self):
        return f"RankTestResult(tau={self.tau:.4f}, pvalue={self.pvalue:.4g}, k={self.k}, {self.method})"

    def to_frame(self):
        """One-row tidy table (``estimate`` is Kendall's tau)."""
        return pd.DataFrame([{"test": "rank correlation (Begg & Mazumdar)", "k": self.k, "estimate": self.tau,
                              "statistic": self.statistic, "pvalue": self.pvalue, "method": self.method}])

    def summary(self):
        """Short plain-text report, as metafor prints it."""
        text = (f"Rank correlation test for funnel plot asymmetry (k = {self.k})\n"
                f"Kendall's tau = {self.tau:.4f}, p = {self.pvalue:.4g} ({self.method})")
        return text + (f"\nNote: {self.note}" if self.note else "")

    def to_dict(self):
        """JSON-serialisable dictionary."""
        return {"result": type(self).__name__, "tau": float(self.tau), "pvalue": float(self.pvalue),
                "statistic": float(self.statistic),
                "exact": bool(self.exact), "k": int(self.k), "method": self.method, "note": self.note}


def _kendall_cdf(q, n):
    """P(T <= q) for T the number of concordant pairs of n untied pairs under independence.

    T has the distribution of the number of inversions of a random permutation (the Mahonian
    distribution); its probabilities are built by the recursion f_m(t) = mean_{j<m} f_{m-1}(t - j),
    truncated at q (the mass at t <= q depends only on the mass at t <= q).
    """
    q = int(q)
    if q < 0:
        return 0.0
    top = n * (n - 1) // 2
    if q >= top:
        return 1.0
    f = np.zeros(q + 1)
    f[0] = 1.0
    for m in range(2, n + 1):
        c = np.cumsum(f)
        g = c.copy()
        g[m:] -= c[:-m] if m <= q else 0.0
        f = g / m
    return float(min(1.0, f.sum()))


def ranktest(data=None, yi="yi", vi="vi", *, exact=True):
    """Begg & Mazumdar (1994) rank correlation test for funnel-plot asymmetry (metafor ``ranktest``).

    The effects are standardised against the equal-effects (inverse-variance) mean,
    ``(yi - theta) / sqrt(vi - 1/sum(1/vi))``, and Kendall's tau-b between these deviates and the
    sampling variances is tested against zero.

    Parameters
    ----------
    data : pandas.DataFrame or RMAResult, optional
        Holds the columns named by ``yi`` and ``vi``; or a fitted
        :class:`efficacy.meta.RMAResult`, whose ``yi`` and ``vi`` are used (as metafor does with an
        ``rma`` object: moderators are ignored).
    yi, vi : str or array-like
        Effect sizes and sampling variances: column names of ``data`` (default ``"yi"``, ``"vi"``)
        or arrays.
    exact : bool
        Exact p value from the permutation distribution of Kendall's statistic (metafor's default).
        As in R's ``cor.test``, the exact p value is only available without ties; with ties (or
        ``exact=False``) the normal approximation with tie-corrected variance is used and
        ``exact`` in the result is False. Studies with a missing ``yi`` or ``vi`` are omitted.

    Returns
    -------
    RankTestResult
        ``tau``, ``pvalue``, ``statistic``, ``k``.

    Notes
    -----
    R's exact Kendall distribution divides by ``gamma(k + 1)`` and returns ``NaN`` for k > 170;
    here the distribution is computed as probabilities and stays finite for any k, so for k > 170
    the p value is a number where metafor prints ``NA``.

    References
    ----------
    Begg, C. B., & Mazumdar, M. (1994). Operating characteristics of a rank correlation test for
    publication bias. *Biometrics*, 50(4), 1088-1101.

    Examples
    --------
    >>> res = ranktest(yi=[0.1, 0.3, 0.35, 0.2, 0.6], vi=[0.01, 0.02, 0.04, 0.03, 0.09])
    >>> round(res.tau, 4), round(res.pvalue, 4)
    (0.8, 0.0833)
    """
    data, yi, vi = _data_arg(data, yi, vi, "ranktest")
    if vi is None:
        raise MetaError("vi (sampling variances) is required", where="vi")
    y = np.asarray(_column(data, yi, "yi"), dtype=float).ravel()
    v = np.asarray(_column(data, vi, "vi"), dtype=float).ravel()
    if y.shape != v.shape:
        raise MetaError("yi and vi differ in length", found=f"{y.size} vs {v.size}", expected="equal lengths")
    keep = ~(np.isnan(y) | np.isnan(v))
    note = f"{int((~keep).sum())} studies with missing values omitted" if not keep.all() else ""
    y, v = y[keep], v[keep]
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise MetaError("sampling variance must be positive", where=f"row {bad[0]}, column vi",
                        found=v[bad[0]], expected="> 0")
    k = y.size
    if k < 2:
        raise MetaError("too few studies for the rank correlation test", found=f"k = {k}", expected="k >= 2")
    w = 1 / v
    theta = np.sum(w * y) / np.sum(w)
    vstar = v - 1 / np.sum(w)
    ystar = (y - theta) / np.sqrt(vstar)
    tau = float(stats.kendalltau(ystar, v, variant="b").statistic)
    n = k
    ties = min(np.unique(ystar).size, np.unique(v).size) < n
    if exact and not ties:
        q = round((tau + 1) * n * (n - 1) / 4)
        if q > n * (n - 1) / 4:
            p = 1 - _kendall_cdf(q - 1, n)
        else:
            p = _kendall_cdf(q, n)
        return RankTestResult(tau=tau, pvalue=float(min(2 * p, 1.0)), statistic=float(q), exact=True, k=k, note=note)

    def tie_sizes(x):
        _, counts = np.unique(x, return_counts=True)
        return counts[counts > 1].astype(float)

    tx, ty = tie_sizes(ystar), tie_sizes(v)
    t0 = n * (n - 1) / 2
    t1 = np.sum(tx * (tx - 1)) / 2
    t2 = np.sum(ty * (ty - 1)) / 2
    s = tau * np.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    var_s = ((v0 - np.sum(tx * (tx - 1) * (2 * tx + 5)) - np.sum(ty * (ty - 1) * (2 * ty + 5))) / 18
             + np.sum(tx * (tx - 1)) * np.sum(ty * (ty - 1)) / (2 * n * (n - 1))
             + (np.sum(tx * (tx - 1) * (tx - 2)) * np.sum(ty * (ty - 1) * (ty - 2)) / (9 * n * (n - 1) * (n - 2))
                if n > 2 else 0.0))
    z = s / np.sqrt(var_s)
    p = 2 * min(stats.norm.cdf(z), stats.norm.sf(z))
    if exact and ties:
        note = "; ".join(filter(None, [note, "ties present: exact p value unavailable, normal approximation used"]))
    return RankTestResult(tau=tau, pvalue=float(p), statistic=float(z), exact=False, k=k, note=note)


# --------------------------------------------------------------------------- selection models
def _pvalues(y, sv, alternative):
    z = y / sv
    if alternative == "greater":
        return special.ndtr(-z)
    if alternative == "less":
        return special.ndtr(z)
    return 2 * special.ndtr(-np.abs(z))


def _interval_pieces(lo, hi, alternative):
    """z-ranges (zlo, zhi) on which the p value lies in (lo, hi] (one or two pieces)."""
    if alternative == "greater":  # p = 1 - Phi(z): p in (lo, hi] <=> z in [isf(hi), isf(lo))
        return [(stats.norm.isf(hi), stats.norm.isf(lo))]
    if alternative == "less":
        return [(stats.norm.ppf(lo), stats.norm.ppf(hi))]
    a, b = stats.norm.isf(hi / 2), stats.norm.isf(lo / 2)  # |z| in [a, b)
    return [(a, b), (-b, -a)]


def _pdiff(a, b):
    """P(a < Z < b) for standard normal Z, accurate in both tails."""
    return np.where(a > 0, special.ndtr(-a) - special.ndtr(-b), special.ndtr(b) - special.ndtr(a))


def _phi_terms(a):
    """phi(a) and a * phi(a), zero at +-inf."""
    fin = np.isfinite(a)
    aa = np.where(fin, a, 0.0)
    ph = np.where(fin, np.exp(-0.5 * aa * aa) / np.sqrt(2 * np.pi), 0.0)
    return ph, aa * ph


class _Regions:
    """Probability that an effect y ~ N(mu, sigma^2) falls in fixed z-ranges of y / sqrt(vi).

    ``pieces`` is a list over regions of lists of (zlo, zhi); returns per study and region the
    probability and its derivatives in mu and sigma.
    """

    def __init__(self, sv, pieces):
        self.sv = sv
        self.pieces = pieces

    def evaluate(self, mu, sig):
        k, R = self.sv.size, len(self.pieces)
        P, dmu, dsig = np.zeros((k, R)), np.zeros((k, R)), np.zeros((k, R))
        for r, plist in enumerate(self.pieces):
            for zlo, zhi in plist:
                a = (self.sv * zlo - mu) / sig
                b = (self.sv * zhi - mu) / sig
                P[:, r] += _pdiff(a, b)
                pa, apa = _phi_terms(a)
                pb, bpb = _phi_terms(b)
                dmu[:, r] += (pa - pb) / sig
                dsig[:, r] += (apa - bpb) / sig
        return P, dmu, dsig


class _StepLik:
    """Log-likelihood of the step-function model with analytic gradient (natural scale)."""

    def __init__(self, y, v, X, steps, alternative, pgrp):
        self.y, self.v, self.X = y, v, X
        self.sv = np.sqrt(v)
        edges = np.concatenate([[0.0], steps])
        self.regions = _Regions(self.sv, [_interval_pieces(edges[j], edges[j + 1], alternative)
                                          for j in range(steps.size)])
        self.pgrp = pgrp
        self.counts = np.bincount(pgrp, minlength=steps.size)

    def __call__(self, beta, tau2, delta):
        y, v, X = self.y, self.v, self.X
        mu = X @ beta
        s2 = v + tau2
        sig = np.sqrt(s2)
        r = y - mu
        P, dPmu, dPsig = self.regions.evaluate(mu, sig)
        A = P @ delta
        with np.errstate(divide="ignore"):
            ll = (np.sum(self.counts * np.log(np.where(self.counts > 0, delta, 1.0)))
                  - 0.5 * np.sum(np.log(2 * np.pi * s2)) - 0.5 * np.sum(r * r / s2) - np.sum(np.log(A)))
        Amu = dPmu @ delta
        Asig = dPsig @ delta
        g_beta = X.T @ (r / s2 - Amu / A)
        g_tau2 = np.sum(-0.5 / s2 + 0.5 * r * r / s2**2 - Asig / A / (2 * sig))
        with np.errstate(divide="ignore", invalid="ignore"):
            g_delta = np.where(self.counts > 0, self.counts / delta, 0.0) - (P / A[:, None]).sum(axis=0)
        return ll, g_beta, g_tau2, g_delta


def _gauss_panels(lo, hi, width, n, graded_from=None):
    """Composite Gauss-Legendre nodes on [lo, hi]; panels of at most ``width``.

    With ``graded_from`` ("lo" or "hi") the panels shrink geometrically towards that end, for an
    integrand with an algebraic singularity just beyond it.
    """
    x, w = np.polynomial.legendre.leggauss(n)
    m = max(1, int(np.ceil((hi - lo) / width)))
    edges = np.linspace(lo, hi, m + 1)
    if graded_from is not None:
        start = lo if graded_from == "lo" else hi
        sign = 1.0 if graded_from == "lo" else -1.0
        # offsets width/2, width/4, ... down to 1e-7 from the singular end
        offsets = (edges[1] - edges[0]) / 2.0 ** np.arange(1, 64)
        inner = start + sign * offsets[offsets > 1e-7]
        edges = np.unique(np.concatenate([edges, inner]))
    half = np.diff(edges) / 2
    mid = (edges[:-1] + edges[1:]) / 2
    return (mid[:, None] + half[:, None] * x).ravel(), (half[:, None] * w).ravel()


class _BetaLik:
    """Log-likelihood of the beta selection model (Citkowicz & Vevea 2017), gradient analytic.

    The normalising integral A_i = int w(p(y)) N(y; mu_i, vi + tau2) dy is split where the p value
    reaches its clamps (``pval_min``, ``1 - pval_min``, as metafor): outside, the weight is constant
    and the integral is a normal probability; inside, the integrand is smooth in z = y / sqrt(vi)
    and composite Gauss-Legendre quadrature on fixed nodes is exact to near machine precision.
    """

    def __init__(self, y, v, X, alternative, pval_min, panel_width=0.25, nodes=16):
        self.y, self.v, self.X = y, v, X
        self.sv = np.sqrt(v)
        pm = pval_min
        if alternative == "greater":
            zc = stats.norm.isf(pm)
            const = [([(zc, np.inf)], pm), ([(-np.inf, -zc)], 1 - pm)]
            smooth = [(-zc, zc)]
        elif alternative == "less":
            zc = stats.norm.isf(pm)
            const = [([(-np.inf, -zc)], pm), ([(zc, np.inf)], 1 - pm)]
            smooth = [(-zc, zc)]
        else:
            zc, eps = stats.norm.isf(pm / 2), stats.norm.isf((1 - pm) / 2)
            const = [([(zc, np.inf), (-np.inf, -zc)], pm), ([(-eps, eps)], 1 - pm)]
            smooth = [(-zc, -eps), (eps, zc)]
        self.regions = _Regions(self.sv, [c[0] for c in const])
        self.pconst = np.array([c[1] for c in const])
        # two-sided: 1 - p is proportional to |z| near 0, so (1 - p)^(delta2 - 1) has an algebraic
        # singularity at z = 0, just inside the clamp at |z| = eps: grade the panels towards it
        grade = [None] if alternative != "two.sided" else ["hi", "lo"]
        zs, ws = zip(*[_gauss_panels(lo, hi, panel_width, nodes, g) for (lo, hi), g in zip(smooth, grade)])
        self.z, self.wq = np.concatenate(zs), np.concatenate(ws)
        pz = np.clip(_pvalues(self.z, 1.0, alternative), pm, 1 - pm)
        self.lp, self.l1p = np.log(pz), np.log1p(-pz)
        p = np.clip(_pvalues(y, self.sv, alternative), pm, 1 - pm)
        self.lpi, self.l1pi = np.log(p), np.log1p(-p)
        self.lpc, self.l1pc = np.log(self.pconst), np.log1p(-self.pconst)

    def __call__(self, beta, tau2, delta):
        y, v, X, sv = self.y, self.v, self.X, self.sv
        a1, a2 = delta[0] - 1, delta[1] - 1
        mu = X @ beta
        s2 = v + tau2
        sig = np.sqrt(s2)
        r = y - mu
        # smooth part on the quadrature nodes
        wn = self.wq * np.exp(a1 * self.lp + a2 * self.l1p)
        U = (sv[:, None] * self.z[None, :] - mu[:, None]) / sig[:, None]
        D = np.exp(-0.5 * U * U) * (sv / sig / np.sqrt(2 * np.pi))[:, None]
        A = D @ wn
        Amu = (D * U) @ wn / sig
        Asig = (D * (U * U - 1)) @ wn / sig
        Ad1 = D @ (wn * self.lp)
        Ad2 = D @ (wn * self.l1p)
        # regions of constant weight
        wc = np.exp(a1 * self.lpc + a2 * self.l1pc)
        P, dPmu, dPsig = self.regions.evaluate(mu, sig)
        A = A + P @ wc
        Amu = Amu + dPmu @ wc
        Asig = Asig + dPsig @ wc
        Ad1 = Ad1 + P @ (wc * self.lpc)
        Ad2 = Ad2 + P @ (wc * self.l1pc)
        ll = (np.sum(a1 * self.lpi + a2 * self.l1pi) - 0.5 * np.sum(np.log(2 * np.pi * s2))
              - 0.5 * np.sum(r * r / s2) - np.sum(np.log(A)))
        g_beta = X.T @ (r / s2 - Amu / A)
        g_tau2 = np.sum(-0.5 / s2 + 0.5 * r * r / s2**2 - Asig / A / (2 * sig))
        g_delta = np.array([np.sum(self.lpi - Ad1 / A), np.sum(self.l1pi - Ad2 / A)])
        return ll, g_beta, g_tau2, g_delta


def _is_dummy(col):
    return bool(np.all((col == 0) | (col == 1)))


class _Problem:
    """Maps the free parameters (beta, log tau2, logistic-mapped deltas) to the likelihood.

    The parametrisation is metafor's: tau2 = exp(theta), delta = lo + (hi - lo) / (1 + exp(-x)).
    """

    def __init__(self, lik, p, delta_fixed, lo, hi, tau2_fixed):
        self.lik, self.p = lik, p
        self.delta_fixed = delta_fixed
        self.free = np.isnan(delta_fixed)
        self.lo, self.hi = lo, hi
        self.tau2_fixed = tau2_fixed

    def unpack(self, th):
        p = self.p
        beta = th[:p]
        i = p
        if self.tau2_fixed is None:
            tau2 = float(np.exp(th[i]))
            i += 1
        else:
            tau2 = self.tau2_fixed
        delta = self.delta_fixed.copy()
        x = th[i:]
        delta[self.free] = self.lo[self.free] + (self.hi - self.lo)[self.free] / (1 + np.exp(-x))
        return beta, tau2, delta

    def pack(self, beta, tau2, delta):
        parts = [np.asarray(beta, float)]
        if self.tau2_fixed is None:
            parts.append([np.log(tau2)])
        d = delta[self.free]
        lo, hi = self.lo[self.free], self.hi[self.free]
        parts.append(np.log((d - lo) / (hi - d)))
        return np.concatenate(parts)

    def fun(self, th):
        beta, tau2, delta = self.unpack(th)
        if tau2 < 10 * np.finfo(float).eps:
            tau2 = 0.0
        ll, gb, gt, gd = self.lik(beta, tau2, delta)
        if not np.isfinite(ll):
            return np.inf, np.zeros_like(th)
        g = [gb]
        if self.tau2_fixed is None:
            g.append([gt * tau2])
        lo, hi = self.lo[self.free], self.hi[self.free]
        d = delta[self.free]
        g.append(gd[self.free] * (d - lo) * (hi - d) / (hi - lo))
        return -ll, -np.concatenate(g)

    def natural_grad(self, x):
        """Gradient of the log-likelihood in (beta, tau2, free deltas) on their natural scale."""
        p = self.p
        beta = x[:p]
        i = p
        if self.tau2_fixed is None:
            tau2 = x[i]
            i += 1
        else:
            tau2 = self.tau2_fixed
        delta = self.delta_fixed.copy()
        delta[self.free] = x[i:]
        _, gb, gt, gd = self.lik(beta, tau2, delta)
        g = [gb]
        if self.tau2_fixed is None:
            g.append([gt])
        g.append(gd[self.free])
        return np.concatenate(g)


def _minimise(prob, th0, maxiter):
    """BFGS from metafor's starting values, then Newton steps on a numerical Hessian of the gradient."""
    res = optimize.minimize(prob.fun, th0, jac=True, method="BFGS",
                            options={"gtol": 1e-6, "maxiter": maxiter})
    th = res.x
    f, g = prob.fun(th)
    for _ in range(50):
        H = _jacobian(lambda t: prob.fun(t)[1], th)
        H = (H + H.T) / 2
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", linalg.LinAlgWarning)
                step = -linalg.solve(H, g, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            break
        t = 1.0
        while t > 1e-6:
            f_new, g_new = prob.fun(th + t * step)
            if f_new <= f + 1e-12 * abs(f):
                break
            t /= 2
        else:
            break
        th, f, g = th + t * step, f_new, g_new
        if np.max(np.abs(t * step)) < 1e-10:
            break
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    return th, f, gmax, res


def _jacobian(grad, x, rel=1e-5):
    """Central-difference Jacobian of a gradient with one Richardson extrapolation step."""
    n = x.size
    J = np.empty((n, n))
    for j in range(n):
        h = rel * max(abs(x[j]), 1e-2)

        def d(hh, j=j):
            e = np.zeros(n)
            e[j] = hh
            return (grad(x + e) - grad(x - e)) / (2 * hh)

        J[:, j] = (4 * d(h / 2) - d(h)) / 3
    return J


@dataclass
class SelectionResult(ResultMixin):
    """Result of :func:`selection_model` (metafor ``selmodel``).

    ``estimate``/``se``/``statistic``/``pvalue``/``ci_low``/``ci_high`` (and ``ci``) refer to the intercept (the
    selection-adjusted mean effect without moderators); ``coef_table`` holds all coefficients and
    ``delta_table`` the selection weights (fixed ones with NaN SEs). ``lrt`` is the likelihood-ratio
    test of the selection model against the model without selection (df = number of free weights);
    ``lrt_tau2`` tests tau2 = 0 under the selection model.
    """

    type: str
    alternative: str
    k: int
    p: int
    estimate: float
    se: float
    statistic: float
    pvalue: float
    ci_low: float
    ci_high: float
    tau2: float
    se_tau2: float
    tau2_ci: tuple
    delta: np.ndarray
    se_delta: np.ndarray
    delta_fixed: np.ndarray
    lrt: float
    lrt_df: int
    lrt_pvalue: float
    lrt_tau2: float
    lrt_tau2_pvalue: float
    loglik: float
    loglik0: float
    coef: np.ndarray
    vcov: np.ndarray
    vcov_delta: np.ndarray
    coef_table: pd.DataFrame
    delta_table: pd.DataFrame
    ptable: pd.DataFrame
    steps: np.ndarray = None
    pvals: np.ndarray = field(default=None, repr=False)
    QM: float = np.nan
    QM_df: int = 0
    QM_pvalue: float = np.nan
    pval_min: float = 0.0
    ci_level: float = 0.95
    method: str = "ML"
    unadjusted: dict = field(default_factory=dict)
    converged: bool = True
    reason: str = ""

    _headline = ("estimate", "se", "ci", "pvalue", "tau2", "lrt", "lrt_pvalue", "k")
    _title = "Selection model for publication bias (metafor selmodel)"

    @property
    def ci(self) -> tuple:
        """Interval of the selection-adjusted mean effect (the intercept)."""
        return self.ci_low, self.ci_high

    @property
    def n_params(self):
        return self.p + (self.method == "ML") + int((~self.delta_fixed).sum())

    @property
    def aic(self):
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self):
        return -2 * self.loglik + self.n_params * np.log(self.k)

    def __repr__(self):
        return (f"SelectionResult(type={self.type}, alternative={self.alternative}, k={self.k}, "
                f"estimate={self.estimate:.4f}, se={self.se:.4f}, tau2={self.tau2:.4f}, "
                f"delta={np.round(self.delta, 4).tolist()}, LRT={self.lrt:.3f} (df={self.lrt_df}, "
                f"p={self.lrt_pvalue:.4g}), converged={self.converged})")

    def weight(self, p):
        """Estimated relative likelihood of selection at one-sided or two-sided p value(s) ``p``."""
        p = np.asarray(p, float)
        if self.type == "stepfun":
            idx = np.searchsorted(self.steps, p, side="left")
            return self.delta[np.minimum(idx, self.delta.size - 1)]
        pc = np.clip(p, self.pval_min, 1 - self.pval_min)
        return pc ** (self.delta[0] - 1) * (1 - pc) ** (self.delta[1] - 1)

    def selection_function(self, p=None, n=1000):
        """The estimated selection function over p, for a figure (metafor ``plot.rma.uni.selmodel``).

        Parameters
        ----------
        p : array-like, optional
            P values at which to evaluate; default ``n`` points from ``pval_min`` to
            ``1 - pval_min`` (with the step points added for a step function).

        Returns
        -------
        pandas.DataFrame
            Columns ``p`` and ``weight``; for a step function also Wald limits ``ci_low`` and
            ``ci_high`` from the CIs of the weights (fixed weights have no interval), as
            ``plot(sel, ci = "wald")``. A step weight holds on (previous step, step]: draw it
            with matplotlib's ``drawstyle="steps-pre"``.
        """
        if p is None:
            p = np.linspace(self.pval_min, 1 - self.pval_min, n)
            if self.type == "stepfun":
                p = np.unique(np.concatenate([p, self.steps]))
        p = np.asarray(p, float)
        out = pd.DataFrame({"p": p, "weight": self.weight(p)})
        if self.type == "stepfun":
            idx = np.minimum(np.searchsorted(self.steps, p, side="left"), self.delta.size - 1)
            lo = self.delta_table["ci_low"].to_numpy().copy()
            hi = self.delta_table["ci_high"].to_numpy().copy()
            lo[self.delta_fixed] = self.delta[self.delta_fixed]
            hi[self.delta_fixed] = self.delta[self.delta_fixed]
            out["ci_low"], out["ci_high"] = lo[idx], hi[idx]
        return out

    def to_frame(self):
        """Tidy table: coefficients, tau2 and the selection weights (metafor column names)."""
        coef = self.coef_table.assign(group="coef")
        tau = pd.DataFrame([{"term": "tau2", "estimate": self.tau2, "se": self.se_tau2, "statistic": np.nan,
                             "pvalue": np.nan, "ci_low": self.tau2_ci[0], "ci_high": self.tau2_ci[1],
                             "group": "tau2"}])
        dt = self.delta_table.drop(columns=["k", "fixed"]).assign(group="delta")
        return pd.concat([coef, tau, dt], ignore_index=True)[
            ["group", "term", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high"]]

    def summary(self):
        """A short plain-text report (the layout of metafor's print method)."""
        lines = [(f"Selection model ({self.type}, alternative = {self.alternative}; k = {self.k}, "
                 f"tau2 estimator: {self.method})"),
                 f"tau^2 = {self.tau2:.4f} (SE = {self.se_tau2:.4f})"]
        if np.isfinite(self.lrt_tau2):
            lines.append(f"Test for heterogeneity: LRT(df = 1) = {self.lrt_tau2:.4f}, p = {self.lrt_tau2_pvalue:.4g}")
        lines += ["", "Model results:", self.coef_table.to_string(index=False, float_format=_fmt), ""]
        if self.lrt_df > 0:
            lines.append(f"Test for selection: LRT(df = {self.lrt_df}) = {self.lrt:.4f}, p = {self.lrt_pvalue:.4g}")
        lines += ["", "Selection weights:", self.delta_table.to_string(index=False, float_format=_fmt)]
        if self.unadjusted:
            lines += ["", (f"Unadjusted ({self.method}, no selection): estimate = {self.unadjusted['estimate']:.4f} "
                      f"(SE = {self.unadjusted['se']:.4f}), tau^2 = {self.unadjusted['tau2']:.4f}")]
        if not self.converged or self.reason:
            lines += ["", f"Note: {'not converged: ' if not self.converged else ''}{self.reason}"]
        return "\n".join(lines)

    def to_dict(self):
        """JSON-serialisable dictionary of all headline numbers and tables."""
        def num(x):
            return None if x is None or not np.isfinite(x) else float(x)

        def tab(df):
            return [{k: (num(v) if isinstance(v, (float, np.floating)) else
                         (bool(v) if isinstance(v, (bool, np.bool_)) else
                          (int(v) if isinstance(v, (np.integer,)) else v)))
                     for k, v in row.items()} for row in df.to_dict(orient="records")]

        return {"result": type(self).__name__, "type": self.type, "alternative": self.alternative,
                "method": self.method, "k": self.k, "ci_level": self.ci_level,
                "estimate": num(self.estimate), "se": num(self.se), "statistic": num(self.statistic),
                "pvalue": num(self.pvalue),
                "ci_low": num(self.ci_low), "ci_high": num(self.ci_high), "tau2": num(self.tau2),
                "se_tau2": num(self.se_tau2), "tau2_ci": [num(t) for t in self.tau2_ci],
                "delta": [num(d) for d in self.delta], "se_delta": [num(d) for d in self.se_delta],
                "delta_fixed": [bool(b) for b in self.delta_fixed],
                "steps": None if self.steps is None else [float(s) for s in self.steps],
                "lrt": num(self.lrt), "lrt_df": int(self.lrt_df), "lrt_pvalue": num(self.lrt_pvalue),
                "lrt_tau2": num(self.lrt_tau2), "lrt_tau2_pvalue": num(self.lrt_tau2_pvalue),
                "loglik": num(self.loglik), "loglik0": num(self.loglik0), "aic": num(self.aic), "bic": num(self.bic),
                "QM": num(self.QM), "QM_df": int(self.QM_df), "QM_pvalue": num(self.QM_pvalue),
                "coef_table": tab(self.coef_table), "delta_table": tab(self.delta_table),
                "ptable": tab(self.ptable), "unadjusted": {k: num(v) for k, v in self.unadjusted.items()},
                "converged": bool(self.converged), "reason": self.reason}


def _ml_loglik(y, v, X, beta, tau2):
    s2 = v + tau2
    r = y - X @ beta
    return float(-0.5 * np.sum(np.log(2 * np.pi * s2)) - 0.5 * np.sum(r * r / s2))


def _interval_labels(steps):
    left = np.concatenate([[0.0], steps[:-1]])
    return [f"{lo:g} < p <= {hi:g}" for lo, hi in zip(left, steps)]


@renamed(level="ci_level")
def selection_model(data=None, yi="yi", vi="vi", *, type="stepfun", steps=(0.025, 1), alternative="greater",
                    mods=None, delta=None, method="ML", ci_level=0.95, labels=None, maxiter=1000):
    """Fit a selection model for publication bias by maximum likelihood (metafor ``selmodel``).

    The random-effects model ``yi ~ N(x_i' beta, vi + tau2)`` is combined with a selection
    function ``w(p_i)`` giving the relative likelihood that an effect with p value ``p_i`` is
    observed: each effect contributes ``w(p_i) f(yi) / A_i`` with ``A_i = E[w(p)]`` under the
    unselected model. The mean (and moderator) coefficients, tau2 and the weights are estimated
    jointly by ML; SEs come from the inverse Hessian of the log-likelihood on the natural scale
    (beta, tau2, delta); the likelihood-ratio test compares with the ML fit without selection.
    Matches ``metafor::selmodel(rma(yi, vi, mods, method = "ML"), type, alternative, steps,
    delta)``, with metafor's parametrisation, bounds and starting values.

    Parameters
    ----------
    yi, vi : array-like or str
        Effect sizes and sampling variances (column names if ``data`` is given), as
        :func:`efficacy.meta.random_effects` takes them.
    data : pandas.DataFrame, optional
    type : {"stepfun", "beta"}
        ``"stepfun"``: the step function of Vevea & Hedges (1995), one weight per p-value interval
        ``(steps[j-1], steps[j]]``, the first fixed to 1 (with ``steps=(0.025, 1)`` and
        ``alternative="greater"`` this is the three-parameter selection model). ``"beta"``: the
        weight ``p^(delta1 - 1) (1 - p)^(delta2 - 1)`` of Citkowicz & Vevea (2017), with p clamped
        to [1e-5, 1 - 1e-5] as in metafor.
    steps : sequence of float
        Cut points of the step function (p values in (0, 1]; 1 is appended when missing).
        Ignored for ``type="beta"``.
    alternative : {"greater", "less", "two.sided"}
        The p values are one-sided for positive effects (``"greater"``, metafor's default),
        one-sided for negative effects, or two-sided.
    mods : str, list of str, array or DataFrame, optional
        Moderators, as :func:`efficacy.meta.random_effects` takes them.
    delta : float or sequence, optional
        Fixed weights (NaN/None entries are estimated). A fully fixed step function gives the
        a-priori weight functions of Vevea & Woods (2005); see :func:`vevea_woods`.
    method : {"ML", "EE"}
        Estimate tau2 (random effects) or fix it at zero (equal effects).
    ci_level : float
        Confidence level of the Wald intervals.

    Returns
    -------
    SelectionResult
        ``estimate``, ``se``, ``ci_low``/``ci_high``, ``tau2`` (``se_tau2``), ``delta``
        (``se_delta``), ``lrt``/``lrt_df``/``lrt_pvalue``, ``converged`` and tables; see
        :meth:`SelectionResult.selection_function` for the figure.

    Raises
    ------
    SelectionError
        A p-value interval whose weight is estimated holds no effect (metafor stops there too),
        or k is smaller than the number of free parameters.

    Notes
    -----
    With tau2 at its boundary (estimate near 0) the SE of tau2 is not meaningful (metafor's
    numerical Hessian also evaluates the likelihood at negative tau2 there); the other SEs are.

    References
    ----------
    Vevea, J. L., & Hedges, L. V. (1995). A general linear model for estimating effect size in the
    presence of publication bias. *Psychometrika*, 60(3), 419-435.

    Citkowicz, M., & Vevea, J. L. (2017). A parsimonious weight function for modeling publication
    bias. *Psychological Methods*, 22(1), 28-41.

    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. *Journal of
    Statistical Software*, 36(3), 1-48.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(21)
    >>> vi = rng.uniform(0.005, 0.1, 40)
    >>> yi = rng.normal(0.2, np.sqrt(vi + 0.02))
    >>> published = (yi / np.sqrt(vi) > 1.96) | (rng.uniform(size=40) < 0.5)
    >>> sel = selection_model(yi=yi[published], vi=vi[published], steps=(0.025, 1))
    >>> print(sel.ptable.to_string(index=False))
          interval  k
    0 < p <= 0.025  8
    0.025 < p <= 1 14
    >>> round(sel.estimate, 4), round(sel.unadjusted["estimate"], 4)
    (0.157, 0.2395)
    >>> sel.selection_function(p=[0.01, 0.2])["weight"].round(4).tolist()
    [1.0, 0.2544]
    """
    type = str(type).lower()
    if type not in TYPES:
        raise MetaError(f"unknown selection model type {type!r}", where="type", found=type,
                        expected=", ".join(TYPES))
    if alternative not in ALTERNATIVES:
        raise MetaError(f"unknown alternative {alternative!r}", where="alternative", found=alternative,
                        expected=", ".join(ALTERNATIVES))
    method = str(method).upper()
    if method not in ("ML", "EE", "FE"):
        raise MetaError(f"selection models are fitted by ML; method {method!r} not available", where="method",
                        found=method, expected="'ML' or 'EE'")
    method = "EE" if method == "FE" else method
    level = ci_level
    data, yi, vi = _data_arg(data, yi, vi, "selection_model")
    if vi is None:
        raise MetaError("vi (sampling variances) is required", where="vi")
    yi = _column(data, yi, "yi")
    vi = _column(data, vi, "vi")
    fit0 = random_effects(data, yi, vi, method=method, mods=mods, ci_level=level, labels=labels)
    y, v, X = fit0.yi, fit0.vi, fit0.X
    names = list(fit0.coef_table["term"])
    k, p = X.shape
    sv = np.sqrt(v)

    # selection function specification (metafor's bounds, starting values and null values)
    if type == "stepfun":
        st = np.unique(np.asarray(steps, float).ravel())
        if st.size == 0 or np.isnan(st).any() or (st < 0).any() or (st > 1).any():
            raise MetaError("steps must be p values between 0 and 1", where="steps", found=list(np.ravel(steps)),
                            expected="values in [0, 1]")
        if st[-1] != 1:
            st = np.append(st, 1.0)
        nd = st.size
        lo, hi, pval_min = np.zeros(nd), np.full(nd, 100.0), 0.0
    else:
        st = None
        nd = 2
        lo, hi, pval_min = np.full(2, 1e-5), np.full(2, 100.0), 1e-5
    if delta is None:
        dfix = np.full(nd, np.nan)
    else:
        dfix = np.array([np.nan if d is None else d for d in np.atleast_1d(np.asarray(delta, dtype=object))],
                        dtype=float)
        if dfix.size == 1:
            dfix = np.repeat(dfix, nd)
        if dfix.size != nd:
            raise MetaError("delta has the wrong length for this selection model", where="delta",
                            found=dfix.size, expected=nd)
        if (dfix[~np.isnan(dfix)] < (0 if type == "stepfun" else 1e-300)).any():
            raise MetaError("fixed weights must be positive", where="delta", found=dfix.tolist(),
                            expected=">= 0" if type == "stepfun" else "> 0")
    if type == "stepfun" and np.isnan(dfix[0]):
        dfix[0] = 1.0
    # metafor widens the bounds around fixed values outside them
    fx = ~np.isnan(dfix)
    lo = np.where(fx & (lo > dfix), dfix - np.finfo(float).eps ** 0.2, lo)
    hi = np.where(fx & (hi < dfix), dfix + np.finfo(float).eps ** 0.2, hi)
    free = np.isnan(dfix)
    n_free = int(free.sum())
    tau2_free = method == "ML"
    if k < p + int(tau2_free) + n_free:
        raise SelectionError(f"too few studies (k = {k}) for a selection model with {p + int(tau2_free) + n_free} "
                             "free parameters", found=f"k = {k}", expected=f"k >= {p + int(tau2_free) + n_free}")

    pv = _pvalues(y, sv, alternative)
    pv = np.clip(pv, pval_min, 1 - pval_min)
    if type == "stepfun":
        pgrp = np.searchsorted(st, pv, side="left")
        counts = np.bincount(pgrp, minlength=nd)
        labels_int = _interval_labels(st)
        ptable = pd.DataFrame({"interval": labels_int, "k": counts})
        empty = np.flatnonzero((counts == 0) & free)
        if empty.size:
            raise SelectionError("one or more p-value intervals hold no observed effect, so their weights "
                                 "cannot be estimated (metafor stops here too); merge intervals or fix their delta",
                                 where="steps", found=", ".join(labels_int[j] for j in empty),
                                 expected="at least one effect in every interval with a free weight")
        lik = _StepLik(y, v, None, st, alternative, pgrp)
    else:
        ptable = pd.DataFrame({"interval": [], "k": []})
        lik = _BetaLik(y, v, None, alternative, pval_min)

    # internal rescaling of continuous moderators (metafor's scaleX); an exact reparametrisation
    if p > 1:
        is_d = np.array([_is_dummy(X[:, j]) for j in range(p)])
        mean, sd = X.mean(axis=0), X.std(axis=0, ddof=1)
        Xs = X.copy()
        mX = np.eye(p)
        for j in range(1, p):
            if not is_d[j]:
                Xs[:, j] = (X[:, j] - mean[j]) / sd[j]
                mX[0, j] = -mean[j] / sd[j]
                mX[j, j] = 1 / sd[j]
    else:
        Xs, mX = X, np.eye(1)
    lik.X = Xs
    beta0 = linalg.solve(mX, fit0.coef)
    tau2_0 = fit0.tau2
    d0 = np.where(free, 1.0, dfix)

    def fit(tau2_fixed):
        prob = _Problem(lik, p, dfix, lo, hi, tau2_fixed)
        th0 = prob.pack(beta0, tau2_0 + 0.001, d0)
        th, f, gmax, res = _minimise(prob, th0, maxiter)
        return prob, th, -f, gmax, res

    prob, th, ll, gmax, opt = fit(None if tau2_free else 0.0)
    beta_s, tau2, dhat = prob.unpack(th)
    if tau2 < 10 * np.finfo(float).eps:
        tau2 = 0.0
    converged = bool(np.isfinite(ll) and gmax < 1e-4)
    reasons = [] if converged else [f"optimiser stopped with gradient {gmax:.2g} ({opt.message})"]

    # Hessian on the natural scale (beta, tau2, free deltas), as metafor (numDeriv) does. With
    # tau2 on its boundary the likelihood is not stationary in tau2, and metafor's numerical
    # Hessian there mixes in evaluations clamped at tau2 = 0; here the SEs are then those
    # conditional on tau2 = 0 (tau2 row dropped) and the SE of tau2 is not reported.
    boundary = tau2_free and tau2 < 1e-6 * float(np.median(v))
    if boundary:
        tau2 = 0.0
        reasons.append("tau2 estimated at its boundary (0): SEs are conditional on tau2 = 0, SE of tau2 not given")
        hprob = _Problem(lik, p, dfix, lo, hi, 0.0)
    else:
        hprob = prob
    xnat = np.concatenate([beta_s, [tau2] if hprob.tau2_fixed is None else [], dhat[free]])
    H = -_jacobian(hprob.natural_grad, xnat)
    H = (H + H.T) / 2
    m = xnat.size
    try:
        linalg.cholesky(H)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            iH = linalg.inv(H)
    except (linalg.LinAlgError, ValueError):
        iH = np.full((m, m), np.nan)
        reasons.append("Hessian not positive definite: SEs unavailable")
    vb_s = iH[:p, :p]
    vb = mX @ vb_s @ mX.T
    beta = mX @ beta_s
    off = p + int(hprob.tau2_fixed is None)
    se_tau2 = float(np.sqrt(iH[p, p])) if off > p else np.nan
    vd = np.full((nd, nd), np.nan)
    vd[np.ix_(free, free)] = iH[off:, off:]
    se_d = np.sqrt(np.diag(vd))

    crit = stats.norm.isf((1 - level) / 2)
    se = np.sqrt(np.diag(vb))
    zv = beta / se
    pvb = 2 * stats.norm.sf(np.abs(zv))
    coef_table = pd.DataFrame({"term": names, "estimate": beta, "se": se, "statistic": zv, "pvalue": pvb,
                               "ci_low": beta - crit * se, "ci_high": beta + crit * se})
    h0 = 1.0
    zd = (dhat - h0) / se_d
    d_lb = np.zeros(nd)
    dtab = pd.DataFrame({"term": (labels_int if type == "stepfun" else ["delta.1", "delta.2"]),
                         "k": counts if type == "stepfun" else [k, k], "estimate": dhat, "se": se_d,
                         "statistic": zd, "pvalue": 2 * stats.norm.sf(np.abs(zd)),
                         "ci_low": np.maximum(dhat - crit * se_d, d_lb), "ci_high": dhat + crit * se_d,
                         "fixed": ~free})
    if type == "stepfun":
        dtab["term"] = [f"delta.{j + 1} ({lab})" for j, lab in enumerate(labels_int)]
    tau2_ci = (max(0.0, tau2 - crit * se_tau2), tau2 + crit * se_tau2) if np.isfinite(se_tau2) else (np.nan, np.nan)

    at_bound = free & ((dhat <= lo + np.finfo(float).eps ** 0.25) | (dhat >= hi - 100 * np.finfo(float).eps ** 0.25))
    if at_bound.any():
        msg = ("one or more delta estimates are (almost) equal to their lower or upper bound "
               f"({', '.join(str(j + 1) for j in np.flatnonzero(at_bound))}); treat results with caution")
        warnings.warn(msg, stacklevel=2)
        reasons.append(msg)

    # likelihood-ratio tests
    ll0 = _ml_loglik(y, v, X, fit0.coef, fit0.tau2)
    lrt = max(0.0, -2 * (ll0 - ll))
    lrt_df = n_free
    lrt_p = float(stats.chi2.sf(lrt, lrt_df)) if lrt_df > 0 else np.nan
    lrt_t, lrt_tp = np.nan, np.nan
    if tau2_free:
        _, _, ll_t0, _, _ = fit(0.0)
        if np.isfinite(ll_t0):
            lrt_t = max(0.0, -2 * (ll_t0 - ll))
            lrt_tp = float(stats.chi2.sf(lrt_t, 1))
    QM, QM_df, QM_p = np.nan, 0, np.nan
    if p > 1:
        try:
            QM = float(beta[1:] @ linalg.solve(vb[1:, 1:], beta[1:]))
            QM_df, QM_p = p - 1, float(stats.chi2.sf(QM, p - 1))
        except (linalg.LinAlgError, ValueError):
            pass
    return SelectionResult(
        type=type, alternative=alternative, k=k, p=p, estimate=float(beta[0]), se=float(se[0]),
        statistic=float(zv[0]), pvalue=float(pvb[0]), ci_low=float(beta[0] - crit * se[0]),
        ci_high=float(beta[0] + crit * se[0]),
        tau2=float(tau2), se_tau2=se_tau2, tau2_ci=tau2_ci, delta=dhat, se_delta=se_d, delta_fixed=~free,
        lrt=float(lrt), lrt_df=lrt_df, lrt_pvalue=lrt_p, lrt_tau2=float(lrt_t), lrt_tau2_pvalue=lrt_tp,
        loglik=float(ll), loglik0=ll0, coef=beta, vcov=vb, vcov_delta=vd, coef_table=coef_table,
        delta_table=dtab, ptable=ptable, steps=st, pvals=pv, QM=QM, QM_df=QM_df, QM_pvalue=QM_p,
        pval_min=pval_min, ci_level=level, method=method,
        unadjusted={"estimate": fit0.estimate, "se": fit0.se, "tau2": fit0.tau2},
        converged=converged, reason="; ".join(reasons))


# --------------------------------------------------------------------------- Vevea & Woods sensitivity
@dataclass
class VeveaWoodsResult(ResultMixin):
    """Result of :func:`vevea_woods`: the estimate under each a-priori weight function.

    ``table`` has one row per weight function (first the unadjusted ML fit) with ``estimate``,
    ``se``, ``ci_low``, ``ci_high``, ``tau2``, ``loglik`` and ``change`` (estimate minus the
    unadjusted estimate); ``fits`` holds the :class:`SelectionResult` of each function.
    """

    table: pd.DataFrame
    fits: dict = field(repr=False, default_factory=dict)

    _headline = ("unadjusted", "max_change")
    _title = "Sensitivity of the estimate to a-priori selection (Vevea & Woods 2005)"

    @property
    def estimate(self):
        return self.table.set_index("model")["estimate"]

    @property
    def unadjusted(self) -> float:
        """The estimate without selection (ML fit)."""
        return float(self.estimate.get("unadjusted", np.nan))

    @property
    def max_change(self) -> float:
        """The largest absolute change of the estimate over the weight functions."""
        return float(self.table["change"].abs().max())

    def __repr__(self):
        return "VeveaWoodsResult(\n" + self.table.to_string(index=False, float_format=_fmt) + "\n)"

    def to_frame(self):
        return self.table.copy()

    def summary(self):
        return ("Sensitivity of the estimate to a-priori selection (Vevea & Woods 2005)\n"
                + self.table.to_string(index=False, float_format=_fmt))

    def to_dict(self):
        rows = [{k: (float(v) if isinstance(v, (float, np.floating)) and np.isfinite(v) else
                     (None if isinstance(v, (float, np.floating)) else v)) for k, v in r.items()}
                for r in self.table.to_dict(orient="records")]
        return {"result": type(self).__name__, "table": rows, "fits": {k: f.to_dict() for k, f in self.fits.items()}}


@renamed(level="ci_level")
def vevea_woods(data=None, yi="yi", vi="vi", *, mods=None, weights=None, steps=None, method="ML", ci_level=0.95,
                labels=None):
    """Sensitivity analysis with a-priori weight functions (Vevea & Woods 2005).

    The step-function selection model is fitted with all weights fixed at values chosen in
    advance, so only the mean (and moderator) coefficients and tau2 are estimated; comparing the
    adjusted estimates with the unadjusted one shows how much selection of a plausible size could
    move the result. Each row matches ``metafor::selmodel(res, type = "stepfun", steps = steps,
    delta = weights)`` on the ML fit ``res`` (one-sided p values, ``alternative = "greater"``: the
    two-tailed functions are symmetric around p = .5).

    Parameters
    ----------
    data, yi, vi, mods, method, ci_level, labels
        As in :func:`selection_model`.
    weights : dict of name -> sequence, optional
        Weight functions, one weight per interval of ``steps``; default the four of
        :data:`VEVEA_WOODS_2005` (moderate/severe one-tailed, moderate/severe two-tailed).
    steps : sequence, optional
        Cut points (default those of :data:`VEVEA_WOODS_2005`).

    Returns
    -------
    VeveaWoodsResult

    References
    ----------
    Vevea, J. L., & Woods, C. M. (2005). Publication bias in research synthesis: Sensitivity
    analysis using a priori weight functions. *Psychological Methods*, 10(4), 428-443.
    """
    if weights is None:
        weights = {k: w for k, w in VEVEA_WOODS_2005.items() if k != "steps"}
        steps = VEVEA_WOODS_2005["steps"] if steps is None else steps
    if steps is None:
        raise MetaError("steps are required with user weights", where="steps")
    level = ci_level
    data, yi, vi = _data_arg(data, yi, vi, "vevea_woods")
    yi = _column(data, yi, "yi")
    vi = _column(data, vi, "vi")
    fit0 = random_effects(data, yi, vi, method="EE" if str(method).upper() in ("EE", "FE") else "ML", mods=mods,
                          ci_level=level, labels=labels)
    rows = [{"model": "unadjusted", "estimate": fit0.estimate, "se": fit0.se, "ci_low": fit0.ci_low,
             "ci_high": fit0.ci_high, "tau2": fit0.tau2,
             "loglik": _ml_loglik(fit0.yi, fit0.vi, fit0.X, fit0.coef, fit0.tau2), "change": 0.0,
             "converged": True}]
    fits = {}
    for name, w in weights.items():
        s = selection_model(data, yi, vi, type="stepfun", steps=steps, alternative="greater", mods=mods,
                            delta=w, method=method, ci_level=level, labels=labels)
        fits[name] = s
        rows.append({"model": name, "estimate": s.estimate, "se": s.se, "ci_low": s.ci_low, "ci_high": s.ci_high,
                     "tau2": s.tau2, "loglik": s.loglik, "change": s.estimate - fit0.estimate,
                     "converged": s.converged})
    return VeveaWoodsResult(table=pd.DataFrame(rows), fits=fits)
