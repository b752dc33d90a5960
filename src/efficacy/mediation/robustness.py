"""Robustness of an effect to unmeasured confounding: omitted-variable bias and E-values.

Two complementary sensitivity analyses that do not rest on a single correlation ``rho``:

* **Omitted-variable bias in a linear regression** (Cinelli & Hazlett 2020; R ``sensemakr``).
  An unobserved confounder ``Z`` is described by two partial R-squared values: ``R2_{D~Z|X}``
  (how much of the residual variance of the treatment ``D`` it explains) and ``R2_{Y~Z|D,X}``
  (how much of the residual variance of the outcome). The module gives the partial R-squared
  of the treatment with the outcome, the robustness values ``RV_q`` and ``RV_{q,alpha}``,
  the bias-adjusted estimate, standard error, t and confidence interval for any hypothetical
  confounder, and bounds on the confounder's strength benchmarked on an observed covariate
  ("a confounder ``kd`` times as strong as *female* ..."). All are closed forms of the OLS fit
  (:func:`omitted_variable_sensitivity`, :func:`robustness_value`, :func:`bias_adjusted`,
  :func:`benchmark_bounds`).
* **E-values** (VanderWeele & Ding 2017; R ``EValue``): the minimum strength of association,
  on the risk-ratio scale, that an unmeasured confounder would need with both the exposure and
  the outcome to explain away an estimate or move its confidence interval to the null; for
  risk, odds and hazard ratios, standardised mean differences and linear-regression
  coefficients, and -- with the mediational reading of Smith & VanderWeele (2019) -- for the
  mediator-outcome association and for natural indirect and direct effects (:func:`evalue`).

Why not PySensemakr: PySensemakr 0.0.8 (the current release, 2024) reproduces sensemakr's
headline Darfur numbers, but its benchmark bounds and ``partial_r2`` raise ``KeyError`` under
pandas 3 (positional ``Series[0]`` indexing), it declares ``jupyter`` and ``matplotlib`` as
hard requirements, and it is marked alpha. The closed forms are a few lines each, so they are
implemented here and tested against sensemakr's published Darfur numbers and against the same
formulas evaluated in R (``tests/reference/robustness.R``).

References
----------
Cinelli, C., & Hazlett, C. (2020). Making sense of sensitivity: extending omitted variable
bias. *Journal of the Royal Statistical Society B*, 82(1), 39-67.
Cinelli, C., Ferwerda, J., & Hazlett, C. (2024). sensemakr: sensitivity analysis tools for
OLS in R and Stata. *Observational Studies*, 10(2), 93-127.
VanderWeele, T. J., & Ding, P. (2017). Sensitivity analysis in observational research:
introducing the E-value. *Annals of Internal Medicine*, 167(4), 268-274.
VanderWeele, T. J. (2019). Optimal approximate conversions of odds ratios and hazard ratios
to risk ratios. *Biometrics*, 76(3), 746-752.
Smith, L. H., & VanderWeele, T. J. (2019). Mediational E-values: approximate sensitivity
analysis for unmeasured mediator-outcome confounding. *Epidemiology*, 30(6), 835-837.
Hazlett, C. (2019). Angry or weary? How violence impacts attitudes toward peace among
Darfurian refugees. *Journal of Conflict Resolution*, 64(5), 844-870.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy import stats

from .._api import check_columns
from ..errors import DataError
from ..results import ResultMixin

__all__ = [
    "EFFECTS",
    "MEASURES",
    "EValueResult",
    "OmittedVariableSensitivity",
    "benchmark_bounds",
    "bias_adjusted",
    "evalue",
    "omitted_variable_sensitivity",
    "partial_r2",
    "robustness_value",
]

#: effect measures accepted by :func:`evalue`
MEASURES = ("RR", "OR", "HR", "SMD", "OLS")
#: which association an E-value is about (changes only the wording: the formula is the same)
EFFECTS = ("total", "mediator-outcome", "indirect", "direct")
_MEASURE_ALIASES = {"RR": "RR", "OR": "OR", "HR": "HR", "SMD": "SMD", "MD": "SMD", "D": "SMD",
                    "OLS": "OLS"}
#: columns whose pivots in the QR of the unit-norm design fall below this are collinear
_RANK_TOL = 1e-10


# =========================================================================== closed forms
def _validate_q_alpha(q, alpha, *, alpha_optional=False):
    if not (isinstance(q, (int, float, np.integer, np.floating)) and not isinstance(q, bool)) \
            or not math.isfinite(q) or q <= 0:
        raise DataError("q, the fraction of the estimate that the confounder would remove, must be "
                        "a positive number", where="argument 'q'", found=repr(q), expected="q > 0 (1 = 100%)")
    if alpha is None and alpha_optional:
        return
    if not (isinstance(alpha, (int, float, np.integer, np.floating)) and not isinstance(alpha, bool)) \
            or not (0 < alpha < 1):
        raise DataError("alpha, the significance level, must lie strictly between 0 and 1",
                        where="argument 'alpha'", found=repr(alpha), expected="0 < alpha < 1")


def _validate_dof(dof, where="argument 'dof'"):
    d = np.asarray(dof, dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d < 2):
        raise DataError("the residual degrees of freedom must be at least 2 (the confounder uses one "
                        "more; a perfect fit has none)", where=where, found=repr(dof), expected="dof >= 2")


def partial_r2(t, dof):
    """Partial R-squared of a regressor with the outcome from its t-value: ``t^2 / (t^2 + dof)``.

    Parameters
    ----------
    t : float or array_like
        t-statistic(s) of the coefficient(s).
    dof : int or array_like
        Residual degrees of freedom of the regression.

    Returns
    -------
    float or numpy.ndarray
        ``R2_{Y~D|X}`` (Cinelli & Hazlett 2020, sec. 3); matches ``sensemakr::partial_r2``.
    """
    t = np.asarray(t, dtype=float)
    out = t ** 2 / (t ** 2 + np.asarray(dof, dtype=float))
    return float(out) if out.ndim == 0 else out


def _rv_solve(f):
    # positive root of RV^2 / (1 - RV) = f^2, written as 2 / (1 + sqrt(1 + 4 / f^2)), which
    # equals (sqrt(f^4 + 4 f^2) - f^2) / 2 without the cancellation of that form at large f
    with np.errstate(divide="ignore"):
        return np.where(f > 0, 2.0 / (1.0 + np.sqrt(1.0 + 4.0 / np.where(f > 0, f, 1.0) ** 2)), 0.0)


def robustness_value(t, dof, *, q=1.0, alpha=None):
    """Robustness value ``RV_q`` or ``RV_{q,alpha}`` of a regression coefficient.

    The robustness value is the partial R-squared that an unobserved confounder would need with
    *both* the treatment and the outcome (equal strength) to reduce the estimate by ``100 q``
    percent (``alpha=None``) or to make the bias-adjusted ``1 - alpha`` confidence interval
    reach the reduced value (Cinelli & Hazlett 2020, sec. 4.1). With
    ``f_q = q |t| / sqrt(dof)``: ``RV_q = (sqrt(f_q^4 + 4 f_q^2) - f_q^2) / 2``; for
    ``RV_{q,alpha}``, ``f_q`` is replaced by ``f_q - f*`` with
    ``f* = t*_{1-alpha/2, dof-1} / sqrt(dof - 1)``; the value is 0 when ``f_q <= f*`` and
    ``(f_q^2 - f*^2) / (1 + f_q^2)`` when ``f_q > 1 / f*`` (the case where the bound
    ``R2_{D~Z|X} <= 1`` binds). Matches ``sensemakr::robustness_value``.

    Parameters
    ----------
    t : float or array_like
        t-statistic(s) of the coefficient.
    dof : int or array_like
        Residual degrees of freedom (at least 2).
    q : float, default 1
        Fraction of the estimate to be explained away (1 = bring it to zero).
    alpha : float, optional
        Significance level; ``None`` gives ``RV_q``.

    Returns
    -------
    float or numpy.ndarray
    """
    _validate_q_alpha(q, alpha, alpha_optional=True)
    _validate_dof(dof)
    t = np.asarray(t, dtype=float)
    dof = np.asarray(dof, dtype=float)
    fq = q * np.abs(t) / np.sqrt(dof)
    if alpha is None:
        out = _rv_solve(fq)
    else:
        fcrit = stats.t.ppf(1 - alpha / 2, dof - 1) / np.sqrt(dof - 1)
        out = np.where(fq <= fcrit, 0.0,
                       np.where(fq * fcrit > 1, (fq ** 2 - fcrit ** 2) / (1 + fq ** 2), _rv_solve(fq - fcrit)))
    return float(out) if out.ndim == 0 else out


def _check_r2(values, name, *, upper_open):
    v = np.atleast_1d(np.asarray(values, dtype=float))
    bad = ~np.isfinite(v) | (v < 0) | ((v >= 1) if upper_open else (v > 1))
    if np.any(bad):
        raise DataError(f"{name} must be a partial R-squared in [0, 1{')' if upper_open else ']'}",
                        where=f"argument '{name}'", found=repr(v[bad][0]),
                        expected=f"0 <= {name} {'<' if upper_open else '<='} 1")
    return v


def bias_adjusted(estimate, se, dof, r2dz_x, r2yz_dx, *, reduce=True, alpha=0.05):
    """Estimate, SE, t and confidence interval adjusted for a hypothetical confounder.

    For a confounder ``Z`` with partial R-squared ``r2dz_x`` with the treatment (given the
    covariates) and ``r2yz_dx`` with the outcome (given treatment and covariates), the bias of
    the OLS coefficient is at most
    ``|bias| = se * sqrt(dof) * sqrt(r2yz_dx * r2dz_x / (1 - r2dz_x))`` and the adjusted
    standard error is ``se * sqrt((1 - r2yz_dx) / (1 - r2dz_x)) * sqrt(dof / (dof - 1))``
    (Cinelli & Hazlett 2020); t, p-value and CI use ``dof - 1`` degrees of
    freedom. Matches ``sensemakr::adjusted_estimate``, ``adjusted_se``, ``adjusted_t`` and the
    adjusted CI of ``sensemakr::ovb_bounds``.

    Parameters
    ----------
    estimate, se : float
        Unadjusted coefficient and its standard error.
    dof : int
        Residual degrees of freedom of the regression.
    r2dz_x, r2yz_dx : float or array_like
        Partial R-squared values of the confounder (broadcast against each other);
        ``0 <= r2dz_x < 1`` and ``0 <= r2yz_dx <= 1``.
    reduce : bool, default True
        The confounder moves the estimate toward zero (``True``) or away from it.
    alpha : float, default 0.05
        Significance level of the adjusted confidence interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``r2dz_x``, ``r2yz_dx``, ``bias``, ``estimate``, ``se``, ``statistic``,
        ``pvalue``, ``ci_low``, ``ci_high``, one row per scenario.
    """
    _validate_q_alpha(1.0, alpha)
    _validate_dof(dof)
    r2d = _check_r2(r2dz_x, "r2dz_x", upper_open=True)
    r2y = _check_r2(r2yz_dx, "r2yz_dx", upper_open=False)
    try:
        r2d, r2y = np.broadcast_arrays(r2d, r2y)
    except ValueError:
        raise DataError("r2dz_x and r2yz_dx must have the same length (or one of them be a scalar)",
                        where="argument 'r2yz_dx'", found=f"lengths {r2d.size} and {r2y.size}") from None
    bias = se * math.sqrt(dof) * np.sqrt(r2y * r2d / (1 - r2d))
    sign = 1.0 if estimate >= 0 else -1.0
    adj = sign * (abs(estimate) - bias) if reduce else sign * (abs(estimate) + bias)
    se_adj = se * np.sqrt((1 - r2y) / (1 - r2d)) * math.sqrt(dof / (dof - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_adj = adj / se_adj
    crit = stats.t.ppf(1 - alpha / 2, dof - 1)
    return pd.DataFrame({
        "r2dz_x": r2d, "r2yz_dx": r2y, "bias": bias, "estimate": adj, "se": se_adj, "statistic": t_adj,
        "pvalue": 2 * stats.t.sf(np.abs(t_adj), dof - 1),
        "ci_low": adj - crit * se_adj, "ci_high": adj + crit * se_adj,
    })


def _as_positive_vector(value, name):
    v = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    if v.size == 0 or np.any(~np.isfinite(v)) or np.any(v <= 0):
        raise DataError(f"{name} must be one or more positive multipliers", where=f"argument '{name}'",
                        found=repr(value), expected="numbers > 0, e.g. (1, 2, 3)")
    return v


def benchmark_bounds(r2dxj_x, r2yxj_dx, kd=1.0, ky=None):
    """Bounds on a confounder's strength as multiples of an observed covariate's.

    A confounder ``Z`` that explains ``kd`` times as much residual variance of the treatment and
    ``ky`` times as much residual variance of the outcome as the benchmark covariate ``X_j``
    (Cinelli & Hazlett 2020, sec. 6.1 and footnote 10) has at most
    ``R2_{D~Z|X} = kd R2_{D~Xj|X-j} / (1 - R2_{D~Xj|X-j})`` and
    ``R2_{Y~Z|D,X} = ((sqrt(ky) + sqrt(eta)) / sqrt(1 - eta))^2 R2_{Y~Xj|D,X-j} / (1 - R2_{Y~Xj|D,X-j})``
    with ``eta = kd R2_{D~Xj}^2 / ((1 - kd R2_{D~Xj})(1 - R2_{D~Xj}))``; the outcome bound is
    capped at 1. Matches ``sensemakr::ovb_partial_r2_bound``.

    Parameters
    ----------
    r2dxj_x : float
        Partial R-squared of the benchmark covariate(s) with the treatment, given the other covariates.
    r2yxj_dx : float
        Partial R-squared of the benchmark with the outcome, given treatment and other covariates.
    kd : float or sequence of float, default 1
        Multiples of the benchmark's association with the treatment.
    ky : float or sequence of float, optional
        Multiples of its association with the outcome; defaults to ``kd``.

    Returns
    -------
    pandas.DataFrame
        Columns ``kd``, ``ky``, ``r2dz_x``, ``r2yz_dx``, ``capped`` (True where the outcome bound
        exceeded 1 and was set to 1).

    Raises
    ------
    DataError
        When a ``kd`` implies ``R2_{D~Z|X} >= 1`` (an impossible confounder).
    """
    r2d = float(_check_r2(r2dxj_x, "r2dxj_x", upper_open=True)[0])
    r2y = float(_check_r2(r2yxj_dx, "r2yxj_dx", upper_open=True)[0])
    kd = _as_positive_vector(kd, "kd")
    ky = kd.copy() if ky is None else _as_positive_vector(ky, "ky")
    if ky.size == 1 and kd.size > 1:
        ky = np.repeat(ky, kd.size)
    if ky.size != kd.size:
        raise DataError("ky must be a single number or have one value per kd", where="argument 'ky'",
                        found=f"{ky.size} values for {kd.size} kd values")
    r2dz = kd * r2d / (1 - r2d)
    eta_den = (1 - kd * r2d) * (1 - r2d)
    if np.any(r2dz >= 1) or np.any(eta_den <= 0):
        worst = kd[(r2dz >= 1) | (eta_den <= 0)][0]
        raise DataError(f"kd = {worst:g} implies a confounder explaining at least all the residual variance "
                        f"of the treatment (benchmark partial R2 with the treatment {r2d:.4g}); use a smaller kd",
                        where="argument 'kd'", found=f"kd = {worst:g}",
                        expected=f"kd < {(1 - r2d) / r2d if r2d > 0 else float('inf'):.4g}")
    eta = kd * r2d ** 2 / eta_den
    if np.any(eta >= 1):
        worst = kd[eta >= 1][0]
        raise DataError(f"kd = {worst:g} is impossible for this benchmark; use a smaller kd", where="argument 'kd'",
                        found=f"kd = {worst:g}")
    r2yz = ((np.sqrt(ky) + np.sqrt(eta)) / np.sqrt(1 - eta)) ** 2 * r2y / (1 - r2y)
    capped = r2yz > 1
    return pd.DataFrame({"kd": kd, "ky": ky, "r2dz_x": r2dz, "r2yz_dx": np.minimum(r2yz, 1.0),
                         "capped": capped})


# =========================================================================== the regression
def _close(name, candidates):
    m = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.5)
    return f"did you mean {', '.join(repr(x) for x in m)}?" if m else f"one of {[str(c) for c in candidates][:20]}"


def _design(df, covariates):
    """Covariate columns: numeric as they are, categorical as treatment contrasts (first sorted level
    dropped, like R's model.matrix); returns the block and a map covariate -> column indices."""
    blocks, names, groups = [], [], {}
    for c in covariates:
        s = df[c]
        start = len(names)
        if s.dtype == bool or pd.api.types.is_numeric_dtype(s):
            blocks.append(s.to_numpy(float)[:, None])
            names.append(str(c))
        else:
            levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(s.unique())
            codes = pd.Categorical(s, categories=levels).codes
            present = np.bincount(codes, minlength=len(levels)) > 0
            levels = [lv for lv, ok in zip(levels, present) if ok]
            codes = pd.Categorical(s, categories=levels).codes
            if len(levels) > 1:                 # treatment contrasts against the first level
                dummies = np.zeros((len(s), len(levels)))
                dummies[np.arange(len(s)), codes] = 1.0
                blocks.append(dummies[:, 1:])
                names.extend(f"{c}[{lv}]" for lv in levels[1:])
        groups[c] = list(range(start, len(names)))
    n = len(df)
    return (np.hstack(blocks) if blocks else np.empty((n, 0))), names, groups


def _first_collinear(X, names):
    """Index of the first column that is (almost) a linear combination of the ones before it
    (Householder QR of the unit-norm columns; only called once a fast check has failed)."""
    norms = np.linalg.norm(X, axis=0)
    if np.any(norms == 0):
        return int(np.flatnonzero(norms == 0)[0])
    r = np.abs(np.diag(np.linalg.qr(X / norms, mode="r")))
    bad = np.flatnonzero(r < math.sqrt(_RANK_TOL))
    return int(bad[0]) if bad.size else int(np.argmin(r))


class _Regressions:
    """Every OLS fit the analysis needs, from one cross-product matrix.

    Columns of ``M`` (outcome, treatment, covariate columns) are centred -- every model has an
    intercept, so by Frisch-Waugh-Lovell it drops out -- and scaled to unit norm; ``C = M'M`` is
    then a correlation-like matrix and a fit of column ``t`` on columns ``S`` is a Cholesky solve
    on ``C[S, S]``. Residuals are formed explicitly from the solution (not from the Schur
    complement) to keep the residual sums of squares accurate for good fits. This replaces one
    QR or SVD per model by one matrix product, which matters with many fixed-effect dummies.
    """

    def __init__(self, M):
        Mc = M - M.mean(axis=0)
        self.norm = np.linalg.norm(Mc, axis=0)
        self.Ms = Mc / np.where(self.norm > 0, self.norm, 1.0)
        self.C = self.Ms.T @ self.Ms

    def factor(self, cols):
        """Cholesky factor of C[cols, cols], or None when the columns are (nearly) collinear."""
        if len(cols) == 0:
            return np.empty((0, 0))
        if np.any(self.norm[cols] == 0):
            return None
        try:
            L = np.linalg.cholesky(self.C[np.ix_(cols, cols)])
        except np.linalg.LinAlgError:
            return None
        return L if np.min(np.diag(L)) ** 2 > _RANK_TOL else None

    def rss(self, target, cols, L=None):
        """Residual sum of squares (original units) and scaled coefficients of ``target ~ 1 + cols``."""
        if L is None:
            L = self.factor(cols)
        if len(cols) == 0:
            e = self.Ms[:, target]
            beta = np.empty(0)
        else:
            beta = sla.cho_solve((L, True), self.C[cols, target])
            e = self.Ms[:, target] - self.Ms[:, cols] @ beta
        return float(e @ e) * self.norm[target] ** 2, beta


@dataclass(repr=False)
class OmittedVariableSensitivity(ResultMixin):
    """Result of :func:`omitted_variable_sensitivity` (the numbers of ``sensemakr::sensemakr``).

    Attributes
    ----------
    x, y : str
        Column names of the treatment ``D`` and the outcome ``Y``.
    covariates : tuple of str
        Observed covariates ``X`` of the regression.
    n, dof : int
        Complete cases used and residual degrees of freedom.
    estimate, se, t_statistic, pvalue, ci_low, ci_high : float
        OLS coefficient of the treatment with its standard error, t, p-value and
        ``1 - alpha`` confidence interval (``dof`` degrees of freedom, as R ``lm``).
    partial_r2 : float
        ``R2_{Y~D|X}``, the share of residual outcome variance the treatment explains; also the
        ``R2_{D~Z|X}`` an extreme confounder (explaining all residual outcome variance) would
        need to bring the estimate to zero.
    partial_f2 : float
        Cohen's partial ``f^2 = t^2 / dof``.
    rv_q, rv_qa : float
        Robustness values ``RV_q`` and ``RV_{q,alpha}`` (see :func:`robustness_value`).
    q, alpha : float
        The fraction of the estimate to explain away and the significance level used.
    reduce : bool
        Whether the scenarios move the estimate toward zero.
    bounds : pandas.DataFrame
        One row per scenario (benchmark multiples and manual confounders): ``label``, ``kind``
        (``"benchmark"`` or ``"manual"``), ``benchmark``, ``kd``, ``ky``, ``r2dz_x``,
        ``r2yz_dx``, ``capped``, ``bias``, and the adjusted ``estimate``, ``se``,
        ``statistic``, ``pvalue``, ``ci_low``, ``ci_high``.
    benchmarks : pandas.DataFrame
        One row per benchmark: its partial R-squared with the treatment (``r2dxj_x``) and with the
        outcome (``r2yxj_dx``).
    notes : tuple of str
        Anything the reader must know (capped bounds, dropped rows).
    """

    x: str
    y: str
    covariates: tuple
    n: int
    dof: int
    estimate: float
    se: float
    t_statistic: float
    partial_r2: float
    partial_f2: float
    rv_q: float
    rv_qa: float
    q: float
    alpha: float
    reduce: bool = True
    bounds: pd.DataFrame = field(default_factory=pd.DataFrame)
    benchmarks: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: tuple = ()

    _headline = ("estimate", "se", "pvalue", "partial_r2", "rv_q", "rv_qa", "n")
    _title = "Sensitivity to unobserved confounding (Cinelli & Hazlett 2020)"

    def _notes(self):
        return list(self.notes)

    @property
    def pvalue(self) -> float:
        return float(2 * stats.t.sf(abs(self.t_statistic), self.dof))

    @property
    def ci_low(self) -> float:
        return self.estimate - stats.t.ppf(1 - self.alpha / 2, self.dof) * self.se

    @property
    def ci_high(self) -> float:
        return self.estimate + stats.t.ppf(1 - self.alpha / 2, self.dof) * self.se

    @property
    def extreme_r2dz_x(self) -> float:
        """``R2_{D~Z|X}`` a confounder explaining all residual outcome variance needs to remove
        ``100 q`` percent of the estimate: ``f_q^2 / (1 + f_q^2)`` (equals ``partial_r2`` at q = 1)."""
        fq2 = self.q ** 2 * self.partial_f2
        return fq2 / (1 + fq2)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: the observed estimate, then one row per confounding scenario.

        Columns ``kind``, ``benchmark``, ``kd``, ``ky``, ``r2dz_x``, ``r2yz_dx``, ``estimate``,
        ``se``, ``statistic``, ``pvalue``, ``ci_low``, ``ci_high`` (index = label; the observed row
        has ``r2dz_x = r2yz_dx = 0`` and ``dof`` degrees of freedom, the adjusted rows ``dof - 1``).
        """
        cols = ["kind", "benchmark", "kd", "ky", "r2dz_x", "r2yz_dx",
                "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high"]
        observed = pd.DataFrame([{
            "label": "observed", "kind": "observed", "benchmark": None, "kd": np.nan, "ky": np.nan,
            "r2dz_x": 0.0, "r2yz_dx": 0.0, "estimate": self.estimate, "se": self.se,
            "statistic": self.t_statistic, "pvalue": self.pvalue, "ci_low": self.ci_low,
            "ci_high": self.ci_high}])
        parts = [observed]
        if len(self.bounds):
            parts.append(self.bounds.loc[:, ["label", *cols]])
        return pd.concat(parts, ignore_index=True).set_index("label")

    def stats(self) -> pd.Series:
        """The sensitivity statistics as a Series (``sensemakr``'s ``sensitivity_stats``)."""
        return pd.Series({"estimate": self.estimate, "se": self.se, "t_statistic": self.t_statistic,
                          "dof": self.dof, "partial_r2": self.partial_r2, "partial_f2": self.partial_f2,
                          "rv_q": self.rv_q, "rv_qa": self.rv_qa, "q": self.q, "alpha": self.alpha},
                         name=self.x)

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary of every number in the result."""
        def clean(v):
            if isinstance(v, (np.floating, float)):
                return None if not np.isfinite(v) else float(v)
            if isinstance(v, (np.integer,)):
                return int(v)
            if isinstance(v, np.bool_):
                return bool(v)
            return v

        def records(df):
            return [{k: clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]

        return {
            "result": type(self).__name__, "x": self.x, "y": self.y, "covariates": list(self.covariates),
            "n": int(self.n), "dof": int(self.dof), "estimate": float(self.estimate), "se": float(self.se),
            "t_statistic": float(self.t_statistic), "pvalue": float(self.pvalue),
            "ci_low": float(self.ci_low), "ci_high": float(self.ci_high),
            "partial_r2": float(self.partial_r2), "partial_f2": float(self.partial_f2),
            "rv_q": float(self.rv_q), "rv_qa": float(self.rv_qa), "q": float(self.q), "alpha": float(self.alpha),
            "reduce": bool(self.reduce), "extreme_r2dz_x": float(self.extreme_r2dz_x),
            "bounds": records(self.bounds), "benchmarks": records(self.benchmarks), "notes": list(self.notes),
        }

    def summary(self) -> str:
        """Plain-text report in the spirit of ``summary(sensemakr(...))``."""
        pct = lambda v: f"{100 * v:.2f}%"
        q_txt = f"{100 * self.q:g}%"
        lines = [
            "Sensitivity to unobserved confounding (omitted-variable bias, Cinelli & Hazlett 2020)",
            (f"  outcome {self.y!r}, treatment {self.x!r}, {len(self.covariates)} covariate(s), "
            f"n = {self.n}, df = {self.dof}"),
            (f"  estimate {self.estimate:.4f}  se {self.se:.4f}  t {self.t_statistic:.3f}  "
            f"{100 * (1 - self.alpha):g}% CI [{self.ci_low:.4f}, {self.ci_high:.4f}]"),
            f"  partial R2 of treatment with outcome: {self.partial_r2:.4f}",
            f"  robustness value, q = {self.q:g}: {self.rv_q:.4f}",
            f"  robustness value, q = {self.q:g}, alpha = {self.alpha:g}: {self.rv_qa:.4f}",
            "",
            (f"  A confounder (orthogonal to the covariates) that explains {pct(self.rv_q)} of the residual variance "
            f"of both treatment and outcome would remove {q_txt} of the estimate; one that explains "
            f"{pct(self.rv_qa)} of both would make the adjusted {100 * (1 - self.alpha):g}% CI reach that value."),
            (f"  A confounder explaining all residual outcome variance would need to explain "
            f"{pct(self.extreme_r2dz_x)} of the residual treatment variance to remove {q_txt} of the estimate."),
        ]
        if len(self.bounds):
            lines += ["", (f"  {'scenario':22s}{'R2dz.x':>8s}{'R2yz.dx':>9s}{'estimate':>10s}{'se':>8s}{'t':>8s}"
                          f"  {'CI':>19s}")]
            for _, r in self.bounds.iterrows():
                lines.append(f"  {str(r['label'])[:22]:22s}{r['r2dz_x']:8.4f}{r['r2yz_dx']:9.4f}{r['estimate']:10.4f}"
                             f"{r['se']:8.4f}{r['statistic']:8.3f}  [{r['ci_low']:8.4f}, {r['ci_high']:8.4f}]")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"OmittedVariableSensitivity(x={self.x!r}, estimate={self.estimate:.4g}, "
                f"partial_r2={self.partial_r2:.4g}, rv_q={self.rv_q:.4g}, rv_qa={self.rv_qa:.4g}, "
                f"{len(self.bounds)} scenario(s))")


def _benchmark_groups(benchmark, covariates):
    """Normalise ``benchmark`` into [(label, [covariates])]."""
    if benchmark is None:
        return []
    items = [benchmark] if isinstance(benchmark, str) else list(benchmark)
    out = []
    for item in items:
        group = [item] if isinstance(item, str) else list(item)
        if not group:
            raise DataError("an empty benchmark group", where="argument 'benchmark'")
        for g in group:
            if g not in covariates:
                raise DataError(f"benchmark covariate {g!r} is not one of the model's covariates",
                                where=f"argument 'benchmark' ({g!r})", found=repr(g),
                                expected=_close(g, covariates))
        out.append(("+".join(map(str, group)), group))
    return out


def omitted_variable_sensitivity(data, x, y, *, covariates=(), benchmark=None, kd=(1, 2, 3), ky=None,
                                 q=1.0, alpha=0.05, r2dz_x=None, r2yz_dx=None, reduce=True):
    """Omitted-variable-bias sensitivity of the OLS coefficient of ``x`` on ``y``.

    Fits ``y ~ 1 + x + covariates`` by OLS (complete cases; categorical covariates as treatment
    contrasts) and reports how strong an unobserved confounder would have to be to change the
    conclusion (Cinelli & Hazlett 2020): the partial R-squared of the treatment with the outcome,
    the robustness values ``RV_q`` and ``RV_{q,alpha}``, and bias-adjusted estimates for
    confounders bounded by multiples of an observed covariate's explanatory power
    (``benchmark``, ``kd``, ``ky``) or given directly (``r2dz_x``, ``r2yz_dx``). Matches
    ``sensemakr::sensemakr(lm(y ~ x + covariates), treatment = "x",
    benchmark_covariates = benchmark, kd = kd, ky = ky, q = q, alpha = alpha)``.

    Parameters
    ----------
    data : pandas.DataFrame
        The data.
    x : str
        Treatment column (numeric or 0/1).
    y : str
        Outcome column (numeric).
    covariates : sequence of str, default ()
        Observed covariates. Numeric columns enter as they are, others as dummies.
    benchmark : str or sequence, optional
        Covariate(s) to benchmark on, each one of ``covariates``; an inner list or tuple is a
        group benchmarked jointly (its group partial R-squared). A categorical covariate is
        always benchmarked as the group of its dummies.
    kd : float or sequence of float, default (1, 2, 3)
        The confounder explains ``kd`` times the residual treatment variance the benchmark does.
    ky : float or sequence of float, optional
        ... and ``ky`` times the residual outcome variance; defaults to ``kd``.
    q : float, default 1
        Fraction of the estimate to be explained away (1 = down to zero).
    alpha : float, default 0.05
        Significance level for ``RV_{q,alpha}`` and the confidence intervals.
    r2dz_x, r2yz_dx : float or sequence of float, optional
        Hypothetical confounders given by their partial R-squared values (both needed).
    reduce : bool, default True
        Confounding moves the estimate toward zero (the usual worry).

    Returns
    -------
    OmittedVariableSensitivity

    Notes
    -----
    For the mediator-outcome path of a mediation model (the b path), pass the mediator as ``x``
    and the treatment among the ``covariates``: the robustness values then describe an
    unobserved mediator-outcome confounder, and ``benchmark`` can name an observed covariate
    (or the treatment itself) to calibrate it. As in sensemakr, the benchmark bounds describe a
    confounder orthogonal to the observed covariates (Cinelli & Hazlett 2020, sec. 6).

    Raises
    ------
    DataError
        Missing columns, a non-numeric treatment or outcome, ``q <= 0``, ``alpha`` outside
        (0, 1), a benchmark that is not a covariate (with close matches), collinear predictors,
        fewer than 2 residual degrees of freedom or a perfect fit, an impossible ``kd``.

    References
    ----------
    Cinelli, C., & Hazlett, C. (2020). Making sense of sensitivity: extending omitted variable
    bias. *JRSS B*, 82(1), 39-67.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> age = rng.normal(size=400); d = rng.binomial(1, 0.5, 400)
    >>> y = 0.3 * d + 0.5 * age + rng.normal(size=400)
    >>> res = omitted_variable_sensitivity(pd.DataFrame({"d": d, "y": y, "age": age}), "d", "y",
    ...                                    covariates=["age"], benchmark="age", kd=[1, 2])
    >>> table = res.to_frame()
    """
    _validate_q_alpha(q, alpha)
    if not isinstance(data, pd.DataFrame):
        raise DataError("data must be a pandas DataFrame", where="argument 'data'", found=type(data).__name__)
    covariates = tuple(covariates)
    check_columns(data, [("treatment x", x), ("outcome y", y), ("covariate", covariates)])
    if x == y:
        raise DataError(f"the treatment and the outcome are the same column {x!r}", where="argument 'y'")
    dup = [c for c in covariates if c in (x, y)]
    if dup:
        raise DataError(f"covariate {dup[0]!r} repeats the treatment or the outcome",
                        where=f"argument 'covariates' ({dup[0]!r})")
    if len(set(covariates)) != len(covariates):
        raise DataError("a covariate is listed twice", where="argument 'covariates'", found=repr(covariates))
    groups = _benchmark_groups(benchmark, covariates)
    if (r2dz_x is None) != (r2yz_dx is None):
        raise DataError("a manual confounder needs both r2dz_x and r2yz_dx",
                        where="argument 'r2dz_x'" if r2dz_x is None else "argument 'r2yz_dx'")
    if groups:                      # fail on bad multipliers before fitting anything
        _as_positive_vector(kd, "kd")
        if ky is not None:
            _as_positive_vector(ky, "ky")

    df = data.loc[:, list(dict.fromkeys([x, y, *covariates]))]
    n_all = len(df)
    df = df.dropna()
    notes = []
    if len(df) < n_all:
        notes.append(f"{n_all - len(df)} row(s) with missing values dropped (complete cases)")
    for role, c in (("x", x), ("y", y)):
        s = df[c]
        if s.dtype == bool:
            df[c] = s.astype(float)
        elif not pd.api.types.is_numeric_dtype(s):
            raise DataError(f"column {c!r} must be numeric", where=f"argument '{role}' ({c!r})",
                            found=str(s.dtype), expected="a numeric or 0/1 column")
    n = len(df)
    Z, znames, zgroups = _design(df, covariates)
    d = df[x].to_numpy(float)
    yv = df[y].to_numpy(float)
    k = Z.shape[1]
    p = 2 + k                                   # intercept, treatment, covariate columns
    dof = n - p
    if dof < 2:
        raise DataError(f"too few cases: {n} complete case(s) for {p} regression parameters leave {dof} "
                        "residual degrees of freedom" + (" (a perfect fit)" if dof <= 0 else "")
                        + "; the sensitivity analysis needs at least 2 (the hypothetical confounder uses one)",
                        where="argument 'data'", found=f"n = {n}, parameters = {p}", expected=f"n >= {p + 2}")
    # column 0 = outcome, 1 = treatment, 2.. = covariate columns
    reg = _Regressions(np.column_stack([yv, d, Z]))
    pred = list(range(1, p))
    L = reg.factor(pred)
    if L is None:
        X = np.column_stack([np.ones(n), d, Z])
        names = ["(Intercept)", str(x), *znames]
        bad = _first_collinear(X, names)
        what = "is constant" if bad > 0 and np.ptp(X[:, bad]) == 0 else \
            "is (almost) a linear combination of the columns before it"
        raise DataError(f"perfect collinearity: column {names[bad]!r} {what}",
                        where=f"column {names[bad]!r}", expected="linearly independent predictors")
    rss, beta = reg.rss(0, pred, L)
    tss = float(reg.norm[0] ** 2)
    if tss == 0 or rss <= 1e-20 * tss:
        raise DataError(f"the outcome {y!r} is fitted perfectly (residual sum of squares 0); the partial "
                        "R-squared values are undefined", where=f"column {y!r}", found=f"RSS = {rss:.3g}")
    # coefficient of the treatment and its OLS standard error (C^-1 from the Cholesky factor)
    scale_d = reg.norm[0] / reg.norm[1]
    est = float(beta[0]) * scale_d
    e1 = sla.solve_triangular(L, np.eye(len(pred))[:, 0], lower=True)
    se = math.sqrt(rss / dof * float(e1 @ e1)) / reg.norm[1]
    t = est / se

    rows = []
    bench_rows = []
    if groups:
        treat_cols = list(range(2, p))
        rss_d = reg.rss(1, treat_cols)[0] if k else float(reg.norm[1] ** 2)
        for label, group in groups:
            drop = {2 + i for g in group for i in zgroups[g]}
            keep_d = [c for c in treat_cols if c not in drop]
            keep_y = [c for c in pred if c not in drop]
            r2dxj = 1 - rss_d / reg.rss(1, keep_d)[0]
            r2yxj = 1 - rss / reg.rss(0, keep_y)[0]
            bench_rows.append({"benchmark": label, "r2dxj_x": r2dxj, "r2yxj_dx": r2yxj})
            try:
                bb = benchmark_bounds(r2dxj, r2yxj, kd=kd, ky=ky)
            except DataError as err:
                raise DataError(f"benchmark {label!r}: {err.detail}", where=err.where, found=err.found,
                                expected=err.expected) from None
            adj = bias_adjusted(est, se, dof, bb["r2dz_x"], bb["r2yz_dx"], reduce=reduce, alpha=alpha)
            for i in range(len(bb)):
                kdi, kyi = float(bb["kd"].iloc[i]), float(bb["ky"].iloc[i])
                lab = f"{kdi:g}x {label}" if kdi == kyi else f"{kdi:g}x/{kyi:g}x {label}"
                rows.append({"label": lab, "kind": "benchmark", "benchmark": label, "kd": kdi, "ky": kyi,
                             "capped": bool(bb["capped"].iloc[i]), **adj.iloc[i].to_dict()})
                if bb["capped"].iloc[i]:
                    notes.append(f"{lab}: the implied R2yz.dx exceeded 1 and was set to 1")
    if r2dz_x is not None:
        adj = bias_adjusted(est, se, dof, r2dz_x, r2yz_dx, reduce=reduce, alpha=alpha)
        for i in range(len(adj)):
            rows.append({"label": f"manual {i + 1}" if len(adj) > 1 else "manual", "kind": "manual",
                         "benchmark": None, "kd": np.nan, "ky": np.nan, "capped": False, **adj.iloc[i].to_dict()})
    bound_cols = ["label", "kind", "benchmark", "kd", "ky", "r2dz_x", "r2yz_dx", "capped", "bias",
                  "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high"]
    bounds = pd.DataFrame(rows, columns=bound_cols)
    return OmittedVariableSensitivity(
        x=str(x), y=str(y), covariates=covariates, n=n, dof=dof, estimate=est, se=se,
        t_statistic=t, partial_r2=partial_r2(t, dof), partial_f2=t * t / dof,
        rv_q=robustness_value(t, dof, q=q), rv_qa=robustness_value(t, dof, q=q, alpha=alpha),
        q=float(q), alpha=float(alpha), reduce=bool(reduce), bounds=bounds,
        benchmarks=pd.DataFrame(bench_rows, columns=["benchmark", "r2dxj_x", "r2yxj_dx"]), notes=tuple(notes))


# =========================================================================== E-values
def _e_of_ratio(b):
    """E-value of a bias factor ``b >= 1``: ``b + sqrt(b (b - 1))``."""
    return b + math.sqrt(b * (b - 1.0))


def _e_relative(rr, rr_true):
    return _e_of_ratio(max(rr / rr_true, rr_true / rr))


_EFFECT_TEXT = {
    "total": "an unmeasured confounder of the exposure and the outcome would need a risk ratio of at least "
             "{e} with both, above the measured covariates",
    "mediator-outcome": "an unmeasured confounder of the mediator and the outcome would need a risk ratio of "
                        "at least {e} with both, above the measured covariates",
    "indirect": "an unmeasured mediator-outcome confounder would need a risk ratio of at least {e} with both "
                "the mediator and the outcome (Smith & VanderWeele 2019)",
    "direct": "an unmeasured mediator-outcome confounder would need a risk ratio of at least {e} with both "
              "the mediator and the outcome (Smith & VanderWeele 2019)",
}


@dataclass(repr=False)
class EValueResult(ResultMixin):
    """Result of :func:`evalue`.

    Attributes
    ----------
    measure, effect : str
        The effect measure (one of :data:`MEASURES`) and which association it is (:data:`EFFECTS`).
    estimate, ci_low, ci_high : float
        The estimate and its confidence limits on the scale given (NaN where not given).
    rr, rr_ci_low, rr_ci_high : float
        The same on the risk-ratio scale after the conversion in ``conversion``.
    true, rr_true : float
        The value to explain the estimate away to, on both scales.
    evalue : float
        E-value of the point estimate.
    evalue_ci : float
        E-value of the confidence limit closer to ``true`` (1 when the interval contains it,
        NaN when no interval was given).
    limit : str or None
        Which limit ``evalue_ci`` refers to (``"lower"`` or ``"upper"``).
    conversion : str
        How the estimate was put on the risk-ratio scale.
    """

    measure: str
    effect: str
    estimate: float
    ci_low: float
    ci_high: float
    rr: float
    rr_ci_low: float
    rr_ci_high: float
    true: float
    rr_true: float
    evalue: float
    evalue_ci: float
    limit: str | None
    conversion: str

    _headline = ("evalue", "evalue_ci", "rr", "effect", "measure")
    _title = "E-value (VanderWeele & Ding 2017)"

    def to_frame(self) -> pd.DataFrame:
        """One-row table indexed by the effect: the estimate and CI on their own scale and on the
        risk-ratio scale, and the two E-values."""
        return pd.DataFrame([{
            "effect": self.effect, "measure": self.measure, "estimate": self.estimate, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "rr": self.rr, "rr_ci_low": self.rr_ci_low, "rr_ci_high": self.rr_ci_high,
            "true": self.true, "evalue": self.evalue, "evalue_ci": self.evalue_ci, "limit": self.limit,
        }]).set_index("effect")

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary (NaN -> None)."""
        out = {"result": type(self).__name__}
        for k in ("measure", "effect", "estimate", "ci_low", "ci_high", "rr", "rr_ci_low", "rr_ci_high", "true",
                  "rr_true", "evalue", "evalue_ci", "limit", "conversion"):
            v = getattr(self, k)
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            out[k] = v
        return out

    def interpretation(self) -> str:
        """One sentence saying what the E-values mean for this effect."""
        text = "To explain away the estimate, " + _EFFECT_TEXT[self.effect].format(e=f"{self.evalue:.2f}")
        if math.isfinite(self.evalue_ci):
            if self.evalue_ci == 1:
                text += "; the confidence interval already contains the null value (E-value of the CI = 1)"
            else:
                text += f"; to move the {self.limit} confidence limit to the null, {self.evalue_ci:.2f}"
        return text + "."

    def summary(self) -> str:
        """Plain-text table like R ``EValue::evalue``'s printout, with a line of interpretation."""
        ci = "" if not math.isfinite(self.ci_low) else f" [{self.ci_low:.4g}, {self.ci_high:.4g}]"
        rr_ci = "" if not math.isfinite(self.rr_ci_low) else f" [{self.rr_ci_low:.4g}, {self.rr_ci_high:.4g}]"
        e_ci = "-" if not math.isfinite(self.evalue_ci) else f"{self.evalue_ci:.2f} ({self.limit or 'CI'})"
        return "\n".join([
            f"E-value ({self.effect} effect; VanderWeele & Ding 2017)",
            f"  {self.measure} {self.estimate:.4g}{ci}",
            f"  risk-ratio scale: {self.rr:.4g}{rr_ci}  ({self.conversion}; null = {self.rr_true:.4g})",
            f"  E-value: point {self.evalue:.2f}, confidence limit {e_ci}",
            "  " + self.interpretation(),
        ])

    def __repr__(self) -> str:
        return (f"EValueResult(effect={self.effect!r}, measure={self.measure!r}, estimate={self.estimate:.4g}, "
                f"evalue={self.evalue:.4g}, evalue_ci={self.evalue_ci:.4g})")


def _num(value, name):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number", where=f"argument '{name}'", found=repr(value)) from None
    if not math.isfinite(v):
        raise DataError(f"{name} must be finite", where=f"argument '{name}'", found=repr(value))
    return v


def evalue(estimate, *, ci=None, measure="RR", se=None, sd=None, rare=True, true=None, delta=1.0,
           effect="total", ci_level=0.95):
    """E-value of an estimate and of its confidence limit closer to the null.

    The E-value (VanderWeele & Ding 2017) is the minimum strength of association, on the
    risk-ratio scale, that an unmeasured confounder would need with both the exposure and the
    outcome, above the measured covariates, to move the estimate to ``true`` (the null by
    default): for a risk ratio ``RR >= 1``, ``E = RR + sqrt(RR (RR - 1))`` (for ``RR < 1`` use
    ``1 / RR``; for a non-null ``true`` the ratio ``RR / true``). The E-value of the CI is that
    of the limit closer to ``true``, or 1 if the interval contains it. Other measures are first
    converted to the risk-ratio scale (VanderWeele & Ding 2017, Table 2; VanderWeele 2019):

    * ``"OR"``: ``RR = OR`` when the outcome is rare (< 15%), else ``sqrt(OR)``;
    * ``"HR"``: ``RR = HR`` when rare, else ``(1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``;
    * ``"SMD"`` (standardised mean difference ``d``): ``RR = exp(0.91 d)``, with CI
      ``exp(0.91 d -/+ 1.78 se)`` from ``se``, or the CI limits converted likewise;
    * ``"OLS"`` (a regression coefficient of a continuous outcome): ``d = delta * estimate / sd``
      with ``sd`` the outcome's (residual) standard deviation, then as ``"SMD"``.

    With ``effect="mediator-outcome"`` the estimate is the mediator's association with the
    outcome (the b path) and the confounder in question confounds the mediator and the outcome.
    With ``effect="indirect"`` or ``"direct"`` the estimate is a natural indirect or direct effect
    (its risk ratio, or on a continuous outcome the mean difference ``a*b`` / ``c'`` with ``sd``):
    Smith & VanderWeele (2019) showed that the same formula then gives the strength an unmeasured
    mediator-outcome confounder would need with the mediator and with the outcome to explain the
    effect away (an approximation that held in over 99% of their simulated scenarios).

    Matches R ``EValue::evalues.RR``, ``evalues.OR``, ``evalues.HR``, ``evalues.MD`` and
    ``evalues.OLS``.

    Parameters
    ----------
    estimate : float
        The observed estimate on the scale of ``measure``.
    ci : (float, float), optional
        Its confidence interval on the same scale.
    measure : {"RR", "OR", "HR", "SMD", "OLS"}, default "RR"
        The effect measure (``"MD"`` is accepted for ``"SMD"``).
    se : float, optional
        Standard error: of ``d`` for ``"SMD"``, of the coefficient for ``"OLS"``, of the log
        ratio for ``"RR"``/``"OR"``/``"HR"`` (then the CI is ``exp(log est -/+ z se)``). Give
        ``se`` or ``ci``, not both.
    sd : float, optional
        Standard deviation of the outcome (required for ``"OLS"``).
    rare : bool, default True
        Whether the outcome is rare enough (< 15%) for an OR or HR to approximate a RR.
    true : float, optional
        The value to explain the estimate away to, on the scale of ``measure``; defaults to the
        null (1 for ratios, 0 for ``"SMD"``/``"OLS"``).
    delta : float, default 1
        Contrast in the exposure for ``"OLS"`` (e.g. 1 SD of a continuous exposure).
    effect : {"total", "mediator-outcome", "indirect", "direct"}, default "total"
        Which association the estimate is (wording of the interpretation only).
    ci_level : float, default 0.95
        Level of the CI built from ``se`` (``"SMD"``/``"OLS"`` at 0.95 use the published factor
        1.78 = 0.91 x 1.96; other levels 0.91 z).

    Returns
    -------
    EValueResult

    Raises
    ------
    DataError
        An unknown measure or effect, a non-positive ratio, a CI that does not contain the
        estimate, ``se`` together with ``ci``, ``"OLS"`` without ``sd``, a non-positive ``sd``.

    References
    ----------
    VanderWeele, T. J., & Ding, P. (2017). Sensitivity analysis in observational research:
    introducing the E-value. *Annals of Internal Medicine*, 167(4), 268-274.
    Smith, L. H., & VanderWeele, T. J. (2019). Mediational E-values. *Epidemiology*, 30(6), 835-837.

    Examples
    --------
    >>> round(evalue(3.9, ci=(1.8, 8.7)).evalue, 2)     # VanderWeele & Ding (2017)
    7.26
    >>> round(evalue(3.9, ci=(1.8, 8.7)).evalue_ci, 2)
    3.0
    """
    key = str(measure).upper() if isinstance(measure, str) else measure
    if key not in _MEASURE_ALIASES:
        raise DataError(f"unknown effect measure {measure!r}", where="argument 'measure'", found=repr(measure),
                        expected=_close(measure, MEASURES) if isinstance(measure, str) else f"one of {MEASURES}")
    m = _MEASURE_ALIASES[key]
    if effect not in EFFECTS:
        raise DataError(f"unknown effect {effect!r}", where="argument 'effect'", found=repr(effect),
                        expected=_close(effect, EFFECTS))
    if not isinstance(rare, (bool, np.bool_)):
        raise DataError("rare must be True or False", where="argument 'rare'", found=repr(rare))
    if not (0 < _num(ci_level, "ci_level") < 1):
        raise DataError("ci_level must lie strictly between 0 and 1", where="argument 'ci_level'", found=repr(ci_level))
    est = _num(estimate, "estimate")
    ratio = m in ("RR", "OR", "HR")
    if se is not None and ci is not None:
        raise DataError("give either se or ci, not both", where="argument 'se'")
    lo = hi = math.nan
    if ci is not None:
        try:
            lo, hi = (_num(v, "ci") for v in ci)
        except (TypeError, ValueError):
            raise DataError("ci must be a pair (lower, upper)", where="argument 'ci'", found=repr(ci)) from None
        if lo > hi:
            raise DataError("the lower confidence limit exceeds the upper one", where="argument 'ci'",
                            found=f"({lo:g}, {hi:g})")
        if not (lo <= est <= hi):
            raise DataError("the confidence interval does not contain the estimate", where="argument 'ci'",
                            found=f"estimate {est:g}, CI ({lo:g}, {hi:g})", expected="lower <= estimate <= upper")
    if se is not None:
        se = _num(se, "se")
        if se < 0:
            raise DataError("se must be non-negative", where="argument 'se'", found=repr(se))
    if sd is not None and m != "OLS":
        raise DataError(f"sd is only used with measure='OLS' (found measure={m!r}; an SMD is already "
                        "standardised and a ratio needs none)", where="argument 'sd'")
    z = stats.norm.ppf(0.5 + ci_level / 2)

    if ratio:
        if est <= 0:
            raise DataError(f"a {m} must be positive", where="argument 'estimate'", found=repr(estimate))
        if ci is not None and lo <= 0:
            raise DataError(f"the confidence limits of a {m} must be positive", where="argument 'ci'",
                            found=f"({lo:g}, {hi:g})")
        tv = 1.0 if true is None else _num(true, "true")
        if tv <= 0:
            raise DataError(f"true must be a positive {m}", where="argument 'true'", found=repr(true))
        if se is not None:
            lo, hi = est * math.exp(-z * se), est * math.exp(z * se)
        if m == "RR" or rare:
            conv, conversion = (lambda v: v), ("as is" if m == "RR" else f"{m} taken as RR (rare outcome)")
        elif m == "OR":
            conv, conversion = math.sqrt, "RR = sqrt(OR) (common outcome)"
        else:
            def conv(v):
                return (1 - 0.5 ** math.sqrt(v)) / (1 - 0.5 ** math.sqrt(1 / v))
            conversion = "RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) (common outcome)"
        rr, rr_true = conv(est), conv(tv)
        rr_lo, rr_hi = (conv(lo), conv(hi)) if math.isfinite(lo) else (math.nan, math.nan)
    else:
        if m == "OLS":
            if sd is None:
                raise DataError("an OLS coefficient needs sd, the standard deviation of the outcome",
                                where="argument 'sd'", expected="sd > 0")
            sd_v = _num(sd, "sd")
            if sd_v <= 0:
                raise DataError("sd must be positive", where="argument 'sd'", found=repr(sd))
            dl = _num(delta, "delta")
            if dl == 0:
                raise DataError("delta must be non-zero", where="argument 'delta'", found=repr(delta))
            scale = dl / sd_v
            conversion = f"d = {dl:g} x estimate / {sd_v:g}; RR = exp(0.91 d)"
        else:
            scale = 1.0
            conversion = "RR = exp(0.91 d)"
        tv = 0.0 if true is None else _num(true, "true")
        d = est * scale
        rr, rr_true = math.exp(0.91 * d), math.exp(0.91 * tv * scale)
        if se is not None:
            factor = 1.78 if abs(ci_level - 0.95) < 1e-12 else 0.91 * z
            rr_lo, rr_hi = math.exp(0.91 * d - factor * se * abs(scale)), math.exp(0.91 * d + factor * se * abs(scale))
            lo, hi = est - (factor / 0.91) * se, est + (factor / 0.91) * se
        elif ci is not None:
            a, b = math.exp(0.91 * lo * scale), math.exp(0.91 * hi * scale)
            rr_lo, rr_hi = min(a, b), max(a, b)
        else:
            rr_lo = rr_hi = math.nan

    e_point = _e_relative(rr, rr_true)
    limit = None
    if not math.isfinite(rr_lo):
        e_ci = math.nan
    elif rr > rr_true:
        limit = "lower"
        e_ci = 1.0 if rr_lo <= rr_true else _e_relative(rr_lo, rr_true)
    elif rr < rr_true:
        limit = "upper"
        e_ci = 1.0 if rr_hi >= rr_true else _e_relative(rr_hi, rr_true)
    else:
        e_ci = 1.0
    return EValueResult(measure=m, effect=effect, estimate=est, ci_low=lo, ci_high=hi, rr=rr, rr_ci_low=rr_lo,
                        rr_ci_high=rr_hi, true=tv, rr_true=rr_true, evalue=e_point, evalue_ci=e_ci, limit=limit,
                        conversion=conversion)
