"""Moderated mediation: PROCESS models 7 and 14 (Hayes 2015, 2018).

Conditional indirect effects at chosen moderator values and the index of moderated mediation,
with delta-method, batched bootstrap (percentile, BCa) or Monte Carlo intervals, checked against
lavaan ``:=`` parameters.

References
----------
Hayes, A. F. (2015). An index and test of linear moderated mediation. *Multivariate Behavioral
Research, 50*(1), 1-22.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._api import as_rng, check_columns, renamed
from .._linalg import cross_products as _features
from .._linalg import loo_coefs as _loo_coefs
from .._linalg import solve_many as _solve_many
from ..errors import DataError as _InputError
from ..resampling import bca_interval
from ..results import ResultMixin
from .observed import (
    MIN_CASES,
    _boot_wls,
    _BootstrapTable,
    _err,
    _near_singular,
    _numeric,
)

__all__ = ["ModeratedMediationResult", "moderated_mediation", "MODERATED_COLUMNS"]


# ----------------------------------------------------------------------------- moderated mediation
MODERATED_COLUMNS = ["effect", "term", "w_value", "estimate", "se", "ci_low", "ci_high", "pvalue", "boot_se",
                     "ci_method", "n_boot_failed", "reason"]


@dataclass
class ModeratedMediationResult(_BootstrapTable, ResultMixin):
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
    ci_method: str
    ci_level: float
    table: pd.DataFrame = field(repr=False)
    reason: str = ""
    warnings: list = field(default_factory=list)

    _headline = ("index", "index_ci", "n")
    _title = "Moderated mediation"
    _summary_columns = ("effect", "term", "w_value", "estimate", "se", "pvalue", "ci_low", "ci_high")

    @property
    def index(self) -> float:
        """Index of moderated mediation (a3*b for model 7, a*b3 for model 14)."""
        return float(self.table.loc[self.table["effect"] == "index", "estimate"].iloc[0])

    @property
    def index_ci(self) -> tuple:
        """Interval of the index of moderated mediation."""
        r = self.table[self.table["effect"] == "index"].iloc[0]
        return float(r["ci_low"]), float(r["ci_high"])

    @property
    def ci(self) -> tuple:
        """Interval of the index of moderated mediation (same as :attr:`index_ci`)."""
        return self.index_ci

    def _summary_title(self) -> str:
        return (f"Moderated mediation, PROCESS model {self.model}: {self.x} -> {self.m} -> {self.y}, "
                f"moderator {self.w} ({type(self).__name__})")

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
        notes = self._notes_text()
        return (f"ModeratedMediationResult(PROCESS model {self.model}: {self.x} -> {self.m} -> {self.y}, "
                f"moderator {self.w}, n={self.n}, {self.ci_method} CI from {self.n_boot_valid}/{self.n_boot} "
                f"resamples, ci_level={self.ci_level})\n{rows}{notes}")


def _check_columns(data, roles):
    """roles: list of (role, name). Names must be strings naming distinct columns of ``data``."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    seen = {}
    for role, name in roles:
        if not isinstance(name, str):
            raise _err(f"{role} must be a column name (str), got {name!r}")
    check_columns(data, roles, error=_InputError)
    for role, name in roles:
        if name in seen:
            raise _err(f"column {name!r} is used as both {seen[name]} and {role}", name)
        seen[name] = role


@renamed(level="ci_level", ci="ci_method", treatment="x", mediator="m", outcome="y", moderator="w")
def moderated_mediation(data, x, m, y, w, *, model=7, covariates=(), values=None, n_boot=5000,
                        ci_method="percentile", seed=None, ci_level=0.95):
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
    ci_method : {"percentile", "bca", "montecarlo"}
        Interval type; percentile is PROCESS's default.
    seed : int, numpy.random.Generator or None
        Seed (or generator) of the resampling.
    ci_level : float
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
        raise _InputError(f"model must be 7 (moderator on the a-path) or 14 (on the b-path), got {model!r}")
    if ci_method not in ("bca", "percentile", "montecarlo"):
        raise _InputError(f"ci_method must be 'percentile', 'bca' or 'montecarlo', got {ci_method!r}")
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

    boot_name = ci_method if n_boot else "delta"
    reason = _near_singular(Xm, names_m) or _near_singular(Xy, names_y)
    if reason:
        nan = np.full(len(labels), np.nan)
        return ModeratedMediationResult(x, m, y, w, model, covariates, vals.tolist(), n, int(n_boot or 0), 0,
                                        boot_name, ci_level, table(nan, nan, nan, nan, nan, boot_name, 0, reason),
                                        reason=reason)
    # ---- point estimates (OLS) and delta-method SEs (ML residual variances, lavaan fixed.x) ----
    designs = [(Xm, M[:, None]), (Xy, Y[:, None])]
    features = _features(designs)  # built once, for the estimates and the bootstrap
    (bm, _), (by, _) = _solve_many(np.ones((1, n)) @ features[0], features[1])
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
    alpha = (1 - ci_level) / 2
    if n_boot and n_boot > 0:
        rng = as_rng(seed)
        if ci_method == "montecarlo":
            sim = effects(rng.multivariate_normal(theta, V, size=int(n_boot), method="eigh"))
        else:
            (bmb, _), (byb, _) = _boot_wls(designs, rng, int(n_boot), features=features)
            sim = effects(np.concatenate([bmb[:, :, 0], byb[:, :, 0]], axis=1))
        ok = np.isfinite(sim).all(axis=1)
        n_valid = int(ok.sum())
        sim = sim[ok]
        if n_valid >= 10:
            boot_se = sim.std(axis=0, ddof=1)
            if ci_method == "bca":
                jack = effects(np.concatenate([_loo_coefs(Xm, M[:, None])[:, :, 0],
                                               _loo_coefs(Xy, Y[:, None])[:, :, 0]], axis=1))
                lo, hi = bca_interval(sim, est, jack, ci_level)
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
                                    boot_name, ci_level, tab, warnings=warnings)
