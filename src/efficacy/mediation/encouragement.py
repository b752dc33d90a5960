"""The mediator's effect on the outcome identified by an encouragement design.

In a *parallel encouragement design* (Imai, Tingley & Yamamoto 2013) a second randomised arm ``z``
nudges the mediator (a booster session that raises self-efficacy, say) without touching the outcome
in any other way. ``z`` is then an instrument for the mediator: two-stage least squares (2SLS) of the
outcome on the mediator, with ``z`` as the excluded instrument and the treatment and covariates as
exogenous regressors, estimates the effect of the mediator on the outcome (the b-path) without the
sequential-ignorability assumption that the observational b-path rests on. Under monotonicity it is
the local average effect among those whose mediator the encouragement moves (Angrist, Imbens & Rubin
1996). :func:`encouragement_iv` reports it beside the observational (OLS) b-path, with the first-stage
strength of the instrument.

Assumptions the data cannot check: ``z`` is randomised (or as good as random given the covariates),
and it affects the outcome only through the mediator (exclusion restriction; with several mediators,
only through *this* mediator).

A weak instrument (one that barely moves the mediator) biases 2SLS towards OLS and makes its
interval unreliable (Staiger & Stock 1997; Stock & Yogo 2005): the result flags an instrument whose
first-stage F, conventional or heteroskedasticity-robust (whichever is smaller), is below 10 (the
rule of thumb), and the evidence profile's verdict then says "weak instrument".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._linalg import ols_resid
from .._api import check_columns
from ..errors import DataError
from ..results import ResultMixin
from .observed import _numeric

__all__ = ["ENCOURAGEMENT_COLUMNS", "WEAK_F", "EncouragementResult", "encouragement_iv"]

#: first-stage F below this = weak instrument (Staiger & Stock 1997 rule of thumb; Stock & Yogo 2005)
WEAK_F = 10.0
#: fewest complete cases analysed
MIN_CASES = 10

ENCOURAGEMENT_COLUMNS = ["effect", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "df"]

_EFFECTS = {
    "b_iv": "M -> Y by 2SLS, the encouragement z as instrument",
    "b_ols": "M -> Y by OLS (the observational b-path)",
    "first_stage": "z -> M (first stage)",
    "reduced_form": "z -> Y (reduced form, intention to treat of the encouragement)",
    "anderson_rubin": "M -> Y: Anderson-Rubin test of b = 0 and confidence set (robust to a weak instrument)",
}


@dataclass(repr=False)
class EncouragementResult(ResultMixin):
    """Result of :func:`encouragement_iv`.

    Attributes
    ----------
    z, m, y, x : str
        Encouragement (instrument), mediator, outcome and treatment (None when not given).
    covariates : list of str
    n : int
        Complete cases analysed.
    table : pandas.DataFrame
        Rows ``b_iv``, ``b_ols``, ``first_stage``, ``reduced_form``; columns
        :data:`ENCOURAGEMENT_COLUMNS` (heteroskedasticity-robust HC1 standard errors, t tests and
        t intervals with the residual degrees of freedom).
    first_stage_f, first_stage_f_robust : float
        F of the excluded instrument in the first stage: conventional (the nested-model F test) and
        heteroskedasticity-robust (HC1 Wald; with one instrument it is the effective F of Montiel
        Olea & Pflueger 2013).
    first_stage_f_pvalue : float
        p of the conventional F.
    weak : bool
        ``min(first_stage_f, first_stage_f_robust) < weak_f``.
    ar_set : str
        The Anderson-Rubin confidence set of the b-path, robust to a weak instrument: "[lo, hi]"
        (bounded), "(-inf, lo] U [hi, inf)" (two rays: the data exclude an interval only) or
        "(-inf, inf)" (the whole line: the encouragement does not move the mediator enough to say
        anything). The ``anderson_rubin`` row of the table holds its test of b = 0 and, when bounded
        (or the whole line, as infinities), the limits.
    ar_kind : str
        "bounded", "two rays" or "whole line".
    endogeneity_statistic, endogeneity_pvalue : float
        Control-function test of the mediator's exogeneity (Wooldridge 2010, sec. 6.3.1): HC1 Wald
        chi-square(1) of the first-stage residual added to the OLS outcome model. A small p says OLS
        and 2SLS differ: the observational b-path is confounded.
    ci_level : float
    reason : str
        Why the estimate is not usable ("" when it is).
    warnings : list of str
        The weak-instrument statement, dropped incomplete rows.
    """

    z: str
    m: str
    y: str
    x: str | None
    covariates: list
    n: int
    table: pd.DataFrame
    first_stage_f: float
    first_stage_f_robust: float
    first_stage_f_pvalue: float
    endogeneity_statistic: float
    endogeneity_pvalue: float
    ci_level: float = 0.95
    ar_kind: str = ""
    ar_roots: tuple = (np.nan, np.nan)
    weak_f: float = WEAK_F
    reason: str = ""
    warnings: list = field(default_factory=list)

    _headline = ("estimate", "ci_low", "ci_high", "b_ols", "first_stage_f", "first_stage_f_robust", "weak", "ar_set",
                 "n")
    _title = "Encouragement design: the mediator's effect on the outcome by 2SLS"
    _dict_skip = ()

    def _get(self, effect, col="estimate"):
        r = self.table.loc[self.table["effect"] == effect, col]
        return float(r.iloc[0]) if len(r) else float("nan")

    @property
    def estimate(self) -> float:
        """The 2SLS estimate of the mediator's effect on the outcome."""
        return self._get("b_iv")

    @property
    def se(self) -> float:
        return self._get("b_iv", "se")

    @property
    def ci_low(self) -> float:
        return self._get("b_iv", "ci_low")

    @property
    def ci_high(self) -> float:
        return self._get("b_iv", "ci_high")

    @property
    def ci(self) -> tuple:
        """The 2SLS confidence interval."""
        return (self.ci_low, self.ci_high)

    @property
    def pvalue(self) -> float:
        return self._get("b_iv", "pvalue")

    @property
    def b_ols(self) -> float:
        """The observational b-path (OLS with the same regressors)."""
        return self._get("b_ols")

    @property
    def ar_set(self) -> str:
        """The Anderson-Rubin confidence set as text."""
        lo, hi = self.ar_roots
        return {"bounded": f"[{lo:.4g}, {hi:.4g}]", "two rays": f"(-inf, {lo:.4g}] U [{hi:.4g}, inf)",
                "whole line": "(-inf, inf)"}.get(self.ar_kind, "")

    @property
    def weak(self) -> bool:
        """Weak instrument: the smaller first-stage F below ``weak_f``."""
        f = np.nanmin([self.first_stage_f, self.first_stage_f_robust])
        return bool(not np.isfinite(f) or f < self.weak_f)

    def to_frame(self) -> pd.DataFrame:
        """The table (a copy) with a ``description`` column."""
        t = self.table.copy()
        t.insert(1, "description", t["effect"].map(_EFFECTS))
        return t

    def _notes(self) -> list:
        test = (f"endogeneity (control-function) test: chi2(1) = {self.endogeneity_statistic:.3f}, "
                f"p = {self.endogeneity_pvalue:.3g}")
        return [*super()._notes(), test]




def _row(effect, res, name, level):
    est, se = float(res.params[name]), float(res.std_errors[name])
    df = float(res.df_resid)
    t = est / se if se > 0 else np.nan
    q = stats.t.ppf(0.5 + level / 2, df)
    return {"effect": effect, "estimate": est, "se": se, "statistic": t, "pvalue": float(2 * stats.t.sf(abs(t), df)),
            "ci_low": est - q * se, "ci_high": est + q * se, "df": df}


def encouragement_iv(data, z, m, y, *, x=None, covariates=(), ci_level=0.95):
    """Effect of the mediator on the outcome by two-stage least squares, the encouragement arm as instrument.

    The structural model is ``y = b m + c' x + g' covariates + e`` with ``m`` endogenous (an
    unobserved common cause of mediator and outcome is allowed); ``z``, the randomised
    encouragement (manipulation-of-mediator) arm of a parallel encouragement design (Imai, Tingley
    & Yamamoto 2013), is the one excluded instrument, ``x`` and the covariates are exogenous
    regressors in both stages. The fit is :class:`linearmodels.iv.IV2SLS` with
    heteroskedasticity-robust standard errors (HC1: ``cov_type="robust", debiased=True``), t tests
    and t intervals on the residual degrees of freedom. Beside it: the observational b-path (OLS of
    ``y`` on ``m``, ``x`` and the covariates, HC1), the first stage (``z -> m``) with its F, the
    reduced form (``z -> y``), a control-function test of the mediator's exogeneity and the
    Anderson-Rubin test and confidence set of the b-path, which stay valid when the instrument is weak
    (the 2SLS interval does not).

    Matches R ``AER::ivreg(y ~ m + x + covariates | z + x + covariates)`` with
    ``sandwich::vcovHC(type = "HC1")`` (tests/reference/encouragement.R).

    Parameters
    ----------
    data : pandas.DataFrame
    z : str
        The encouragement arm (the instrument): randomised, numeric (0/1 for an arm).
    m, y : str
        Mediator (endogenous) and outcome.
    x : str, optional
        The treatment, an exogenous regressor in both stages.
    covariates : sequence of str
        Pre-treatment covariates, exogenous regressors in both stages.
    ci_level : float, default 0.95

    Returns
    -------
    EncouragementResult
        ``estimate``/``ci``/``pvalue`` of the 2SLS b-path, ``b_ols``, ``first_stage_f``,
        ``first_stage_f_robust``, ``weak`` (first-stage F < 10, the Stock-Yogo rule of thumb,
        stated in ``warnings``), ``ar_set`` (Anderson-Rubin confidence set), ``to_frame()`` rows
        ``b_iv``, ``b_ols``, ``first_stage``, ``reduced_form``, ``anderson_rubin``. Rows with a missing value in any of these columns are dropped (the count
        is in ``warnings``; ``n`` is the number used).

    Raises
    ------
    efficacy.errors.DataError
        A column absent or not numeric; ``z`` equal to ``m``, ``y`` or ``x``; fewer than 10 complete
        cases; ``z`` constant or a linear combination of ``x`` and the covariates (no excluded
        variation: the model is not identified).

    References
    ----------
    Imai, K., Tingley, D., & Yamamoto, T. (2013). Experimental designs for identifying causal
    mechanisms. *JRSS A*, 176(1), 5-51.
    Angrist, J. D., Imbens, G. W., & Rubin, D. B. (1996). Identification of causal effects using
    instrumental variables. *JASA*, 91(434), 444-455.
    Staiger, D., & Stock, J. H. (1997). Instrumental variables regression with weak instruments.
    *Econometrica*, 65(3), 557-586.
    Stock, J. H., & Yogo, M. (2005). Testing for weak instruments in linear IV regression. In
    Andrews & Stock (Eds.), *Identification and inference for econometric models*. Cambridge UP.
    Montiel Olea, J. L., & Pflueger, C. (2013). A robust test for weak instruments. *Journal of
    Business & Economic Statistics*, 31(3), 358-369.
    Anderson, T. W., & Rubin, H. (1949). Estimation of the parameters of a single equation in a complete
    system of stochastic equations. *Annals of Mathematical Statistics*, 20(1), 46-63.
    Andrews, I., Stock, J. H., & Sun, L. (2019). Weak instruments in instrumental variables regression:
    theory and practice. *Annual Review of Economics*, 11, 727-753.
    Wooldridge, J. M. (2010). *Econometric analysis of cross section and panel data* (2nd ed.). MIT Press.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3); n = 2000
    >>> d = pd.DataFrame({"x": rng.integers(0, 2, n), "z": rng.integers(0, 2, n)})
    >>> u = rng.normal(size=n)                              # unobserved confounder of m and y
    >>> d["m"] = 0.5 * d.x + 1.5 * d.z + u + rng.normal(size=n)
    >>> d["y"] = 0.4 * d.m + u + rng.normal(size=n)
    >>> r = encouragement_iv(d, "z", "m", "y", x="x")
    >>> round(r.estimate, 1), round(r.b_ols, 1), r.weak   # OLS is confounded, 2SLS is not
    (0.4, 0.8, False)
    """
    covs = list(covariates or [])
    check_columns(data, [("encouragement z", z), ("mediator m", m), ("outcome y", y), ("treatment x", x),
                         ("covariate", covs)])
    for role, col in (("mediator m", m), ("outcome y", y), ("treatment x", x), ("covariate", covs)):
        if z in ([col] if isinstance(col, str) else list(col or [])):
            raise DataError(f"the encouragement (instrument) is also the {role}", where="argument z", found=repr(z),
                            expected="a separate randomised arm that moves the mediator")
    if not 0 < ci_level < 1:
        raise DataError("ci_level must lie in (0, 1)", where="argument ci_level", found=repr(ci_level))
    exog = ([x] if x else []) + covs
    cols = list(dict.fromkeys([y, m, z, *exog]))
    d = _numeric(data, cols, keep_na=True)
    full = d.notna().all(axis=1)
    warnings = []
    if not full.all():
        warnings.append(f"{int((~full).sum())} of {len(d)} rows with a missing value dropped (complete cases)")
    d = d[full]
    n = len(d)
    if n < max(MIN_CASES, len(exog) + 4):
        raise DataError(f"too few complete cases: {n} of {len(full)} rows", found=str(n),
                        expected=f"at least {max(MIN_CASES, len(exog) + 4)}")
    for c in (z, m, y):
        if np.ptp(d[c].to_numpy()) == 0:
            raise DataError(f"column {c!r} is constant in the complete cases ({d[c].iloc[0]:g})",
                            where=f"column {c!r}", expected="a variable that varies")
    W = np.column_stack([np.ones(n), d[exog].to_numpy()])
    zz = d[z].to_numpy()
    rz = ols_resid(zz, W)
    if rz @ rz <= 1e-10 * ((zz - zz.mean()) @ (zz - zz.mean())):
        raise DataError(f"the encouragement {z!r} is a linear combination of the treatment and covariates: "
                        "it has no variation of its own to identify the mediator's effect",
                        where="argument z", found=", ".join(exog))

    from linearmodels.iv import IV2SLS  # imported here: only this function needs it

    const = pd.Series(1.0, index=d.index, name="const")
    ex = pd.concat([const, d[exog]], axis=1)
    fit = lambda dep, exo, endog=None, instr=None, cov="robust": IV2SLS(dep, exo, endog, instr).fit(
        cov_type=cov, debiased=True)
    iv = fit(d[y], ex, d[[m]], d[[z]])
    ols = fit(d[y], pd.concat([ex, d[[m]]], axis=1))
    fs_exo = pd.concat([ex, d[[z]]], axis=1)
    fs = fit(d[m], fs_exo)
    fs_conv = fit(d[m], fs_exo, cov="unadjusted")
    rf = fit(d[y], fs_exo)
    vhat = (d[m] - fs.fitted_values.iloc[:, 0]).rename("_vhat")
    cf = fit(d[y], pd.concat([ex, d[[m]], vhat], axis=1))
    f_rob = float(fs.tstats[z] ** 2)
    f_conv = float(fs_conv.tstats[z] ** 2)
    f_p = float(stats.f.sf(f_conv, 1, fs_conv.df_resid))
    cf_stat = float(cf.tstats["_vhat"] ** 2)
    ar = _anderson_rubin(fs_exo.to_numpy(float), float(rf.params[z]), float(fs.params[z]), rf.resids.to_numpy(),
                         fs.resids.to_numpy(), ci_level)
    table = pd.DataFrame([_row("b_iv", iv, m, ci_level), _row("b_ols", ols, m, ci_level),
                          _row("first_stage", fs, z, ci_level), _row("reduced_form", rf, z, ci_level), ar["row"]],
                         columns=ENCOURAGEMENT_COLUMNS)
    res = EncouragementResult(z=z, m=m, y=y, x=x, covariates=covs, n=n, table=table, first_stage_f=f_conv,
                              first_stage_f_robust=f_rob, first_stage_f_pvalue=f_p, endogeneity_statistic=cf_stat,
                              endogeneity_pvalue=float(stats.chi2.sf(cf_stat, 1)), ci_level=ci_level,
                              ar_kind=ar["kind"], ar_roots=ar["roots"], warnings=warnings)
    if res.weak:
        res.warnings.insert(0, _weak_statement(f_conv, f_rob))
    return res


def _anderson_rubin(W, pi_y, pi_m, e_y, e_m, level):
    """Anderson-Rubin test and confidence set of the b-path with HC1 (the instrument is W's last column).

    The AR statistic of b = b0 is the HC1 t of z in the regression of ``y - b0 m`` on W: its coefficient is
    ``pi_y - b0 pi_m`` (reduced form minus b0 times first stage) and, the sandwich being bilinear in the
    residuals, its variance ``V_yy - 2 b0 V_ym + b0^2 V_mm``; the set ``{b0 : t^2 <= t_crit^2}`` is where
    a quadratic is <= 0 (Anderson & Rubin 1949; Andrews, Stock & Sun 2019, sec. 5).
    """
    n, k = W.shape
    bw = np.linalg.inv(W.T @ W)

    def hc(a, b):
        return float((bw @ ((W * (a * b)[:, None]).T @ W) @ bw)[-1, -1] * n / (n - k))

    v_yy, v_mm, v_ym = hc(e_y, e_y), hc(e_m, e_m), hc(e_y, e_m)
    df = n - k
    q = stats.t.ppf(0.5 + level / 2, df) ** 2
    a, b, c = pi_m**2 - q * v_mm, -2 * (pi_y * pi_m - q * v_ym), pi_y**2 - q * v_yy
    disc = b * b - 4 * a * c
    roots = tuple(sorted(((-b - np.sqrt(disc)) / (2 * a), (-b + np.sqrt(disc)) / (2 * a)))) if disc >= 0 and a != 0 \
        else (np.nan, np.nan)
    kind = "bounded" if a > 0 else ("two rays" if disc >= 0 else "whole line")
    lo, hi = {"bounded": roots, "whole line": (-np.inf, np.inf)}.get(kind, (np.nan, np.nan))
    t0 = pi_y / np.sqrt(v_yy)
    row = {"effect": "anderson_rubin", "estimate": np.nan, "se": np.nan, "statistic": t0,
           "pvalue": float(2 * stats.t.sf(abs(t0), df)), "ci_low": lo, "ci_high": hi, "df": float(df)}
    return {"kind": kind, "roots": tuple(float(r) for r in roots), "row": row}


def _weak_statement(f_conv, f_rob, threshold=WEAK_F):
    """The sentence that flags a weak instrument."""
    return (f"weak instrument: first-stage F = {f_conv:.2f} (robust {f_rob:.2f}) < {threshold:g}, the Stock-Yogo "
            "rule of thumb (Staiger & Stock 1997; Stock & Yogo 2005); the encouragement barely moves the "
            "mediator, so the 2SLS estimate is biased towards OLS and its interval is unreliable")
