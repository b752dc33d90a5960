"""Longitudinal panel models: temporal order within persons.

Three tools answer "does efficacy precede behaviour, or the reverse?":

* :func:`clpm` -- the classic cross-lagged panel model. It mixes stable
  between-person differences with within-person carry-over, so with stable
  trait-like differences its autoregressive paths are inflated and its
  cross-lagged paths can be spurious (Hamaker, Kuiper & Grasman, 2015).
* :func:`riclpm` -- the random-intercept CLPM (Hamaker et al., 2015) in the
  lavaan syntax of Mulder & Hamaker (2021): random intercepts hold each
  person's stable level, and the lagged paths link the within-person
  deviations from it.
* :func:`within_person` -- a multilevel model (statsmodels ``MixedLM``) with
  person-mean-centred lagged predictors for intensive logs (weekly mastery
  ratings, adherence) with unequal numbers of occasions.

:func:`stationarity_lrt` tests equal lagged paths over time against free paths,
:func:`compare_panel_models` tests CLPM against RI-CLPM (a boundary test, see
its notes), and :func:`run_stage` is the workflow's ``panel`` stage.

The SEMs are estimated by maximum likelihood (full-information ML when data are
missing) with :func:`efficacy.sem.sem`, whose results follow lavaan's naming.

**Assume no sign.** Within persons, higher efficacy has been found to predict
*lower* subsequent effort or performance (Vancouver, Thompson & Williams, 2001;
Vancouver, Thompson, Tischner & Putka, 2002: over-efficaciousness), and the
between-person and within-person effects can differ in sign. Nothing here
expects a positive effect; between and within parts are reported separately.

References
----------
Hamaker, E. L., Kuiper, R. M., & Grasman, R. P. P. P. (2015). A critique of the
cross-lagged panel model. *Psychological Methods, 20*(1), 102-116.
Mulder, J. D., & Hamaker, E. L. (2021). Three extensions of the random
intercept cross-lagged panel model. *Structural Equation Modeling, 28*(4),
638-648.
Nickell, S. (1981). Biases in dynamic models with fixed effects.
*Econometrica, 49*(6), 1417-1426.
Stoel, R. D., Garre, F. G., Dolan, C., & van den Wittenboer, G. (2006). On the
likelihood ratio test in structural equation modeling when parameters are
subject to boundary constraints. *Psychological Methods, 11*(4), 439-455.
Hamaker, E. L., & Grasman, R. P. P. P. (2015). To center or not to center?
Investigating inertia with a multilevel autoregressive model. *Frontiers in
Psychology, 5*, 1492.
Vancouver, J. B., Thompson, C. M., & Williams, A. A. (2001). The changing signs
in the relationships among self-efficacy, personal goals, and performance.
*Journal of Applied Psychology, 86*(4), 605-620.

Examples
--------
>>> from efficacy.panel import riclpm
>>> res = riclpm(df, ["x1", "x2", "x3", "x4"], ["y1", "y2", "y3", "y4"])  # doctest: +SKIP
>>> res.cross_lagged[["direction", "from_wave", "to_wave", "estimate", "se"]]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ._api import check_columns, renamed
from .errors import PanelError
from .results import FitMeasures, ResultMixin

__all__ = [
    "PanelError",
    "PanelResult",
    "PanelComparison",
    "WithinPersonResult",
    "clpm",
    "riclpm",
    "panel_syntax",
    "stationarity_lrt",
    "compare_panel_models",
    "within_person",
    "TemporalOrderResult",
    "temporal_order",
    "run_stage",
]



# --------------------------------------------------------------------------- helpers

_LATENT = ("RIx", "RIy")
_LABELS = {"ar_x": "arx", "cl_yx": "clyx", "cl_xy": "clxy", "ar_y": "ary"}


def _check_columns(data, cols, what):
    if not isinstance(data, pd.DataFrame):
        raise PanelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_columns(data, [(f"a variable of the {what}", cols)], error=PanelError)
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise PanelError(f"{what}: column(s) are not numeric", found=", ".join(map(str, bad)),
                         expected="numeric columns")


def _check_waves(data, x_waves, y_waves, covariates, min_waves, model):
    x_waves = list(x_waves) if not isinstance(x_waves, str) else [x_waves]
    y_waves = list(y_waves) if not isinstance(y_waves, str) else [y_waves]
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if len(x_waves) != len(y_waves):
        raise PanelError(f"{model}: x and y must be measured at the same waves",
                         found=f"{len(x_waves)} x waves {x_waves} and {len(y_waves)} y waves {y_waves}",
                         expected="equal numbers of x and y columns, one per wave, in wave order")
    if len(x_waves) < min_waves:
        why = (" (the random intercepts are not identified with fewer)" if model == "riclpm" else "")
        raise PanelError(f"{model} needs at least {min_waves} waves{why}",
                         found=f"{len(x_waves)} wave(s): x {x_waves}, y {y_waves}",
                         expected=f">= {min_waves} waves")
    allc = x_waves + y_waves + covariates
    dup = sorted({c for c in allc if allc.count(c) > 1})
    if dup:
        raise PanelError(f"{model}: a column is used more than once among the x waves, y waves and covariates",
                         found=", ".join(map(str, dup)), expected="distinct columns")
    T = len(x_waves)
    reserved = set(_LATENT) | {f"wx{t}" for t in range(1, T + 1)} | {f"wy{t}" for t in range(1, T + 1)}
    reserved |= set(_LABELS.values())
    clash = sorted(set(map(str, allc)) & reserved)
    if clash:
        raise PanelError(f"{model}: column name(s) clash with the model's latent variable names",
                         found=", ".join(clash), expected="rename them (RIx, RIy, wx<t>, wy<t> are reserved)")
    _check_columns(data, allc, model)
    return x_waves, y_waves, covariates


@renamed(x_waves="x", y_waves="y")
def panel_syntax(x, y, *, covariates=(), stationary=False, random_intercepts=True):
    """lavaan syntax of the RI-CLPM (Mulder & Hamaker, 2021) or the CLPM.

    Parameters
    ----------
    x, y : sequence of str
        Observed columns of the two measures, one per wave, in wave order.
    covariates : sequence of str
        Time-invariant covariates regressed on every observed variable
        (Mulder & Hamaker's extension 1, effects free over waves).
    stationary : bool
        Equal lagged paths over time (labels ``arx``, ``clyx``, ``clxy``, ``ary``).
    random_intercepts : bool
        False gives the CLPM as the RI-CLPM with the random-intercept variances
        and covariance fixed to zero (the nesting Mulder & Hamaker use); its
        lagged estimates and fit equal those of the CLPM on observed variables.

    Returns
    -------
    str
        Syntax meant for ``lavaan(model, meanstructure = TRUE, int.ov.free = TRUE)``,
        i.e. :func:`efficacy.sem.sem` with ``auto="none"``.
    """
    x, y = list(x), list(y)
    T = len(x)
    s = [
        "RIx =~ " + " + ".join(f"1*{c}" for c in x),
        "RIy =~ " + " + ".join(f"1*{c}" for c in y),
    ]
    s += [f"wx{t} =~ 1*{x[t - 1]}" for t in range(1, T + 1)]
    s += [f"wy{t} =~ 1*{y[t - 1]}" for t in range(1, T + 1)]
    for t in range(2, T + 1):
        if stationary:
            s.append(f"wx{t} ~ {_LABELS['ar_x']}*wx{t - 1} + {_LABELS['cl_yx']}*wy{t - 1}")
            s.append(f"wy{t} ~ {_LABELS['cl_xy']}*wx{t - 1} + {_LABELS['ar_y']}*wy{t - 1}")
        else:
            s.append(f"wx{t} ~ wx{t - 1} + wy{t - 1}")
            s.append(f"wy{t} ~ wx{t - 1} + wy{t - 1}")
    s.append("wx1 ~~ wy1")
    s += [f"wx{t} ~~ wy{t}" for t in range(2, T + 1)]
    if random_intercepts:
        s += ["RIx ~~ RIx", "RIy ~~ RIy", "RIx ~~ RIy"]
    else:
        s += ["RIx ~~ 0*RIx", "RIy ~~ 0*RIy", "RIx ~~ 0*RIy"]
    s += [f"wx{t} ~~ wx{t}" for t in range(1, T + 1)]
    s += [f"wy{t} ~~ wy{t}" for t in range(1, T + 1)]
    for z in covariates:
        s.append(" + ".join(x + y) + f" ~ {z}")
    return "\n".join(s)


# --------------------------------------------------------------------------- SEM results


@dataclass
class PanelResult(FitMeasures, ResultMixin):
    """A fitted CLPM or RI-CLPM.

    Attributes
    ----------
    model : {"clpm", "riclpm"}
    stationary : bool
    missing : {"listwise", "fiml"}
    n : int
        Persons analysed.
    converged, proper : bool
        From the SEM engine; ``proper`` is False for a Heywood case.
    fit : dict
        lavaan fit measures (``chisq``, ``df``, ``pvalue``, ``cfi``, ``tli``,
        ``rmsea``, ``srmr``, ``loglik``, ``aic``, ``bic``, ``npar``, ...).
    estimates : pandas.DataFrame
        The engine's parameter table (lavaan ``parameterEstimates`` columns).
    lagged : pandas.DataFrame
        Autoregressive and cross-lagged paths: ``type`` ("cross-lagged" or
        "autoregressive"), ``direction`` ("x->y", "y->x", "x->x", "y->y"),
        ``from_wave``, ``to_wave``, ``from_var``, ``to_var``, ``estimate``,
        ``se``, ``statistic`` (z), ``pvalue``, ``std_all`` (lavaan ``std.all``),
        ``ci_low``, ``ci_high`` (Wald, unstandardised).
    chisq, df, cfi, tli, rmsea, srmr : float
        The headline fit measures (from ``fit``).
    between : pandas.DataFrame
        Random-intercept variances and covariance (empty for the CLPM).
    within_covariances : pandas.DataFrame
        Wave-1 within covariance and the within residual (innovation)
        covariances at later waves.
    warnings : list of str
    syntax : str
    """

    model: str
    stationary: bool
    missing: str
    n: int
    converged: bool
    proper: bool
    fit: dict
    estimates: pd.DataFrame
    lagged: pd.DataFrame
    between: pd.DataFrame
    within_covariances: pd.DataFrame
    x_waves: list
    y_waves: list
    covariates: list
    syntax: str
    warnings: list = field(default_factory=list)
    engine_result: object = field(default=None, repr=False)
    estimator: str = "ML"
    cluster: str | None = None

    _headline = ("name", "n", "converged", "proper", "chisq", "df", "cfi", "rmsea", "srmr")
    _title = "Cross-lagged panel model"
    _summary_columns = ("type", "direction", "from_var", "to_var", "estimate", "se", "statistic", "pvalue",
                        "std_all", "ci_low", "ci_high")
    _dict_skip = ("engine_result",)

    @property
    def cross_lagged(self) -> pd.DataFrame:
        """The cross-lagged rows of :attr:`lagged` (``x->y`` and ``y->x``)."""
        return self.lagged[self.lagged["type"] == "cross-lagged"].reset_index(drop=True)

    @property
    def autoregressive(self) -> pd.DataFrame:
        """The autoregressive rows of :attr:`lagged`."""
        return self.lagged[self.lagged["type"] == "autoregressive"].reset_index(drop=True)

    @property
    def name(self) -> str:
        return self.model + ("_stationary" if self.stationary else "")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: lagged paths, random-intercept and within covariances."""
        cols = ["type", "direction", "from_wave", "to_wave", "from_var", "to_var", "estimate", "se", "statistic",
                "pvalue", "std_all", "ci_low", "ci_high"]
        parts = [self.lagged[cols]]
        for tab in (self.between, self.within_covariances):
            if len(tab):
                parts.append(tab.reindex(columns=cols))
        out = pd.concat(parts, ignore_index=True)
        out.insert(0, "stationary", self.stationary)
        out.insert(0, "model", self.model)
        out["missing"] = self.missing
        out["estimator"] = self.estimator + (f" (cluster = {self.cluster})" if self.cluster else "")
        out["n"] = self.n
        out["converged"] = self.converged
        out["proper"] = self.proper
        return out

    def __repr__(self) -> str:
        f = self.fit or {}
        head = (f"PanelResult({self.name}, waves={len(self.x_waves)}, n={self.n}, missing={self.missing!r}, "
                f"converged={self.converged}, proper={self.proper})\n"
                f"  chisq={f.get('chisq', np.nan):.3f} df={f.get('df', np.nan):g} p={f.get('pvalue', np.nan):.4g} "
                f"cfi={f.get('cfi', np.nan):.3f} rmsea={f.get('rmsea', np.nan):.3f} srmr={f.get('srmr', np.nan):.3f}")
        cl = self.cross_lagged
        body = "\n".join(
            f"  {r.direction} w{r.from_wave}->w{r.to_wave}: {r.estimate:.3f} (se {r.se:.3f}, "
            f"std {r.std_all:.3f}, CI {r.ci_low:.3f}..{r.ci_high:.3f})" for r in cl.itertuples())
        w = ("\n  warnings: " + "; ".join(self.warnings)) if self.warnings else ""
        return head + "\n" + body + w


def _fit_panel(data, x_waves, y_waves, covariates, stationary, missing, model, ci_level, estimator=None,
               cluster=None):
    min_waves = 3 if model == "riclpm" else 2
    x_waves, y_waves, covariates = _check_waves(data, x_waves, y_waves, covariates, min_waves, model)
    from .sem.engine import sem as _sem  # the project's SEM engine
    if missing not in ("auto", "listwise", "fiml"):
        raise PanelError(f"{model}: unknown missing-data method", found=repr(missing),
                         expected="'auto', 'listwise' or 'fiml'")
    cols = x_waves + y_waves + covariates
    if cluster is not None:
        if cluster not in data.columns:
            raise PanelError(f"{model}: cluster column not in the data", found=repr(cluster),
                             expected="a column of cluster identifiers")
        if cluster in cols:
            raise PanelError(f"{model}: the cluster column is also a panel variable", found=repr(cluster))
    d = data.loc[:, cols + ([cluster] if cluster is not None else [])]
    notes = []
    all_missing = d[x_waves + y_waves].isna().all(axis=1)
    if all_missing.any():
        notes.append(f"{int(all_missing.sum())} person(s) with no panel value at any wave were dropped")
        d = d.loc[~all_missing]
    has_na = bool(d.isna().to_numpy().any())
    if missing == "auto":
        missing = "fiml" if has_na else "listwise"
    if missing == "listwise" and has_na:
        k = int(d.isna().any(axis=1).sum())
        notes.append(f"listwise deletion dropped {k} of {len(d)} persons with a missing value "
                     "(use missing='fiml' to keep them)")
    if cluster is not None and d[cluster].isna().any():
        notes.append(f"{int(d[cluster].isna().sum())} person(s) without a cluster were dropped")
        d = d.loc[d[cluster].notna()]
    if covariates and missing == "fiml" and d[covariates].isna().to_numpy().any():
        k = int(d[covariates].isna().any(axis=1).sum())
        notes.append(f"{k} person(s) with a missing covariate were dropped (covariates are conditioned on)")
        d = d.loc[~d[covariates].isna().any(axis=1)]
    syntax = panel_syntax(x_waves, y_waves, covariates=covariates, stationary=stationary,
                          random_intercepts=(model == "riclpm"))
    res = _sem(d.reset_index(drop=True), syntax, missing=missing, auto="none", meanstructure=True,
               estimator=estimator, cluster=cluster)
    est = res.estimates.copy()
    z = stats.norm.ppf(0.5 + ci_level / 2)
    T = len(x_waves)

    def row(lhs, op, rhs):
        m = est[(est["lhs"] == lhs) & (est["op"] == op) & (est["rhs"] == rhs)]
        if op == "~~" and m.empty:
            m = est[(est["lhs"] == rhs) & (est["op"] == op) & (est["rhs"] == lhs)]
        if m.empty:
            return None
        return m.iloc[0]

    def values(r):
        e, se = float(r["estimate"]), float(r["se"]) if pd.notna(r["se"]) else np.nan
        return dict(estimate=e, se=se,
                    statistic=float(r["statistic"]) if pd.notna(r.get("statistic", np.nan)) else np.nan,
                    pvalue=float(r["pvalue"]) if pd.notna(r.get("pvalue", np.nan)) else np.nan,
                    std_all=float(r["std_all"]) if pd.notna(r.get("std_all", np.nan)) else np.nan,
                    ci_low=e - z * se, ci_high=e + z * se)

    lag_rows = []
    for t in range(2, T + 1):
        for to, frm, typ, direc in (("x", "x", "autoregressive", "x->x"), ("x", "y", "cross-lagged", "y->x"),
                                    ("y", "x", "cross-lagged", "x->y"), ("y", "y", "autoregressive", "y->y")):
            r = row(f"w{to}{t}", "~", f"w{frm}{t - 1}")
            src = x_waves if frm == "x" else y_waves
            dst = x_waves if to == "x" else y_waves
            v = values(r) if r is not None else dict.fromkeys(
                ["estimate", "se", "statistic", "pvalue", "std_all", "ci_low", "ci_high"], np.nan)
            lag_rows.append(dict(type=typ, direction=direc, from_wave=t - 1, to_wave=t,
                                 from_var=src[t - 2], to_var=dst[t - 1], **v))
    lagged = pd.DataFrame(lag_rows)
    lagged = pd.concat([lagged[lagged["type"] == "cross-lagged"], lagged[lagged["type"] == "autoregressive"]],
                       ignore_index=True)

    between_rows = []
    if model == "riclpm":
        for name, lhs, rhs in (("random-intercept variance", "RIx", "RIx"),
                               ("random-intercept variance", "RIy", "RIy"),
                               ("random-intercept covariance", "RIx", "RIy")):
            r = row(lhs, "~~", rhs)
            if r is not None:
                direc = {"RIx": "x", "RIy": "y"}[lhs] + ("" if lhs == rhs else "~y")
                between_rows.append(dict(type=name, direction=direc, from_var=lhs, to_var=rhs, **values(r)))
    between = pd.DataFrame(between_rows)
    within_rows = []
    for t in range(1, T + 1):
        r = row(f"wx{t}", "~~", f"wy{t}")
        if r is not None:
            within_rows.append(dict(type="within covariance" if t == 1 else "within residual covariance",
                                    direction="x~y", from_wave=t, to_wave=t, from_var=f"wx{t}",
                                    to_var=f"wy{t}", **values(r)))
    within_cov = pd.DataFrame(within_rows)
    n = int(res.fit.get("n", len(d))) if res.fit else len(d)
    w = notes + list(getattr(res, "warnings", []) or [])
    return PanelResult(model=model, stationary=bool(stationary), missing=missing, n=n,
                       converged=bool(res.converged), proper=bool(res.proper), fit=dict(res.fit),
                       estimates=est, lagged=lagged, between=between, within_covariances=within_cov,
                       x_waves=x_waves, y_waves=y_waves, covariates=covariates, syntax=syntax,
                       warnings=w, engine_result=res, estimator=res.estimator, cluster=cluster)


@renamed(x_waves="x", y_waves="y", level="ci_level")
def clpm(data, x, y, *, covariates=(), stationary=False, missing="auto", ci_level=0.95, estimator=None,
         cluster=None):
    """Cross-lagged panel model (CLPM) of two variables over two or more waves.

    Fitted as the RI-CLPM of :func:`riclpm` with the random-intercept variances
    and covariance fixed to zero (Mulder & Hamaker, 2021), which is the classic
    CLPM: each variable at wave t regressed on both variables at wave t-1, a
    wave-1 covariance and residual covariances at later waves. Matches
    ``lavaan::lavaan(model, meanstructure = TRUE, int.ov.free = TRUE)`` with the
    syntax of :func:`panel_syntax` (``random_intercepts=False``).

    The CLPM does not separate stable between-person differences from
    within-person change: with trait-like differences it over-estimates the
    autoregressive paths and can show spurious cross-lagged effects
    (Hamaker, Kuiper & Grasman, 2015). Prefer :func:`riclpm` for claims about
    within-person temporal order, and compare them with
    :func:`compare_panel_models`.

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per person.
    x, y : sequence of str
        Columns of the two measures x and y, one per wave, in wave order (equal lengths).
    covariates : sequence of str
        Time-invariant covariates regressed on every observed variable.
    stationary : bool
        Constrain the lagged paths to be equal over waves (test with
        :func:`stationarity_lrt`).
    missing : {"auto", "listwise", "fiml"}
        ``"auto"`` uses full-information ML when any panel value is missing
        (lavaan ``missing = "ml"``), else complete-data ML.
    ci_level : float
        Level of the Wald intervals.
    estimator : {"ML", "MLR", "MLM"} or None
        lavaan's ``estimator=`` (None: ML). "MLR": the same estimates with Huber-White (sandwich)
        SEs and the Yuan-Bentler scaled test (:func:`efficacy.sem.sem`); the chi-square difference
        tests of :func:`stationarity_lrt` and :func:`compare_panel_models` are then the
        Satorra-Bentler (2001) scaled differences, as ``lavaan::lavTestLRT``.
    cluster : str or None
        Column of cluster identifiers (e.g. classrooms): cluster-robust SEs and test, as lavaan's
        ``cluster=`` (needs "MLR" or "MLM").

    Returns
    -------
    PanelResult

    Examples
    --------
    >>> res = clpm(df, ["x1", "x2", "x3"], ["y1", "y2", "y3"])  # doctest: +SKIP
    >>> res.fit["chisq"], res.cross_lagged                       # doctest: +SKIP
    """
    return _fit_panel(data, x, y, covariates, stationary, missing, "clpm", ci_level, estimator, cluster)


@renamed(x_waves="x", y_waves="y", level="ci_level")
def riclpm(data, x, y, *, covariates=(), stationary=False, missing="auto", ci_level=0.95, estimator=None,
           cluster=None):
    """Random-intercept cross-lagged panel model (Hamaker, Kuiper & Grasman, 2015).

    Each observed score is a grand mean per wave, plus a person's random
    intercept (stable level, between part), plus a within-person deviation;
    the deviations follow a lag-1 cross-lagged model with a wave-1 covariance
    and innovation covariances. The syntax is Mulder & Hamaker's (2021)
    (see :func:`panel_syntax`), fitted like
    ``lavaan::lavaan(model, data, meanstructure = TRUE, int.ov.free = TRUE,
    missing = "ml")``; requires at least three waves.

    Parameters
    ----------
    data, x, y, covariates, stationary, missing, ci_level, estimator, cluster
        As in :func:`clpm`.

    Returns
    -------
    PanelResult
        With :attr:`~PanelResult.between` holding the random-intercept
        variances and covariance (``std_all`` of the covariance is the
        random-intercept correlation).

    Notes
    -----
    Lagged effects may be negative within persons (over-efficaciousness,
    Vancouver et al., 2001, 2002); nothing assumes a sign.

    Examples
    --------
    >>> res = riclpm(df, ["x1", "x2", "x3", "x4"], ["y1", "y2", "y3", "y4"])  # doctest: +SKIP
    >>> res.between                                                           # doctest: +SKIP
    """
    return _fit_panel(data, x, y, covariates, stationary, missing, "riclpm", ci_level, estimator, cluster)


# --------------------------------------------------------------------------- comparisons


@dataclass
class PanelComparison(ResultMixin):
    """A chi-square difference (likelihood-ratio) test of two nested panel models.

    Attributes
    ----------
    restricted, full : str
        Model names (e.g. ``"clpm"`` and ``"riclpm"``).
    chisq_diff, df_diff, pvalue : float
        The naive test against a chi-square with ``df_diff`` degrees of freedom (for MLR/MLM fits
        the Satorra-Bentler 2001 scaled difference).
    boundary : bool
        True when the restriction puts variances on the boundary of the
        parameter space (CLPM vs RI-CLPM); the naive p is then conservative.
    note : str
    """

    restricted: str
    full: str
    chisq_diff: float
    df_diff: int
    pvalue: float
    boundary: bool
    note: str
    aic_restricted: float = np.nan
    aic_full: float = np.nan
    bic_restricted: float = np.nan
    bic_full: float = np.nan

    _headline = ("chisq_diff", "df_diff", "pvalue", "boundary")
    _title = "Chi-square difference test of nested panel models"

    def _summary_title(self) -> str:
        return f"{self.restricted} vs {self.full}: chi-square difference test ({type(self).__name__})"

    def _notes(self) -> list:
        return [self.note] if self.note else []

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{k: getattr(self, k) for k in (
            "restricted", "full", "chisq_diff", "df_diff", "pvalue", "boundary", "aic_restricted", "aic_full",
            "bic_restricted", "bic_full", "note")}])

    def __repr__(self) -> str:
        return (f"PanelComparison({self.restricted} vs {self.full}: chisq_diff={self.chisq_diff:.3f}, "
                f"df={self.df_diff}, p={self.pvalue:.4g}{', boundary' if self.boundary else ''})\n  {self.note}")


def _lrt(restricted: PanelResult, full: PanelResult, boundary: bool, note: str) -> PanelComparison:
    if list(restricted.x_waves) != list(full.x_waves) or list(restricted.y_waves) != list(full.y_waves):
        raise PanelError("the two models were fitted to different waves",
                         found=f"{restricted.x_waves}/{restricted.y_waves} vs {full.x_waves}/{full.y_waves}",
                         expected="the same x and y wave columns")
    if restricted.n != full.n or restricted.missing != full.missing:
        raise PanelError("the two models were fitted to different data",
                         found=f"n={restricted.n} ({restricted.missing}) vs n={full.n} ({full.missing})",
                         expected="the same persons and missing-data method")
    fr, ff = restricted.fit, full.fit
    ok = restricted.converged and full.converged
    d_chi = float(fr["chisq"] - ff["chisq"]) if ok else np.nan
    d_df = int(round(fr["df"] - ff["df"]))
    if d_df <= 0:
        raise PanelError("the restricted model must have more degrees of freedom than the full one",
                         found=f"df {fr['df']} vs {ff['df']}", expected="nested models, restricted first")
    robust = (restricted.estimator in ("MLR", "MLM") and full.estimator in ("MLR", "MLM")
               and "chisq.scaling.factor" in fr and "chisq.scaling.factor" in ff)
    if ok and robust:
        # Satorra & Bentler (2001) scaled difference (lavaan::lavTestLRT's default for MLR/MLM)
        c0, c1 = float(fr["chisq.scaling.factor"]), float(ff["chisq.scaling.factor"])
        cd = (fr["df"] * c0 - ff["df"] * c1) / d_df
        if np.isfinite(cd) and cd > 0:
            d_chi = d_chi / cd
            note = f"Satorra-Bentler (2001) scaled difference ({restricted.estimator}, scaling {cd:.4g}). " + note
        else:
            d_chi = np.nan
            note = (f"the Satorra-Bentler (2001) scaling of the difference is not positive ({cd:.4g}): no "
                    "scaled test. " + note)
    p = float(stats.chi2.sf(max(d_chi, 0.0), d_df)) if ok and np.isfinite(d_chi) else np.nan
    if not ok:
        note = "a model did not converge; no test. " + note
    return PanelComparison(restricted=restricted.name, full=full.name, chisq_diff=d_chi, df_diff=d_df,
                           pvalue=p, boundary=boundary, note=note,
                           aic_restricted=fr.get("aic", np.nan), aic_full=ff.get("aic", np.nan),
                           bic_restricted=fr.get("bic", np.nan), bic_full=ff.get("bic", np.nan))


def stationarity_lrt(free: PanelResult, stationary: PanelResult) -> PanelComparison:
    """Likelihood-ratio test of equal lagged paths over time.

    Chi-square difference between the stationary model (restricted) and the
    free model, as ``lavaan::lavTestLRT(free, stationary)``. A small p rejects
    stationarity (the lagged effects change over waves).

    Parameters
    ----------
    free, stationary : PanelResult
        The same model (CLPM or RI-CLPM) fitted with ``stationary=False`` and
        ``stationary=True`` to the same data.
    """
    if free.model != stationary.model or free.stationary or not stationary.stationary:
        raise PanelError("stationarity_lrt needs the free and the stationary version of one model",
                         found=f"{free.name} and {stationary.name}",
                         expected="e.g. riclpm(stationary=False) and riclpm(stationary=True)")
    return _lrt(stationary, free, False,
                "H0: lagged paths equal over waves; a small p rejects stationarity.")


def compare_panel_models(clpm_result: PanelResult, riclpm_result: PanelResult) -> PanelComparison:
    """Chi-square difference test of the CLPM against the RI-CLPM.

    The CLPM is the RI-CLPM with the random-intercept variances and their
    covariance fixed to zero (3 df), as ``lavaan::lavTestLRT(riclpm, clpm)``.

    Notes
    -----
    Two of the three restrictions set *variances* to zero, on the boundary of
    the parameter space, so the difference statistic does not follow the
    chi-square(3) reference under H0 but a mixture of chi-squares (a
    chi-bar-square; Stoel, Garre, Dolan & van den Wittenboer, 2006). The naive
    p reported here is therefore conservative (too large): a significant naive
    test is trustworthy evidence for stable between-person differences, while
    a non-significant one may hide them.
    """
    if clpm_result.model != "clpm" or riclpm_result.model != "riclpm":
        raise PanelError("compare_panel_models(clpm_result, riclpm_result) got the wrong models",
                         found=f"{clpm_result.name} and {riclpm_result.name}", expected="a CLPM then an RI-CLPM")
    if clpm_result.stationary != riclpm_result.stationary:
        raise PanelError("the CLPM and RI-CLPM differ in stationarity constraints",
                         found=f"{clpm_result.name} and {riclpm_result.name}",
                         expected="both free or both stationary")
    return _lrt(clpm_result, riclpm_result, True,
                "H0: no stable between-person differences (random-intercept variances = 0). The variances lie "
                "on the boundary of the parameter space, so the reference is a chi-bar-square mixture "
                "(Stoel et al., 2006) and this naive chi-square p is conservative (too large).")


# --------------------------------------------------------------------------- within-person MLM


@dataclass
class WithinPersonResult(ResultMixin):
    """Within-person lagged multilevel models for both directions.

    Attributes
    ----------
    effects : pandas.DataFrame
        One row per fixed effect: ``outcome``, ``direction`` ("x->y", "y->x",
        "x->x", "y->y" or empty), ``component`` ("within", "between",
        "autoregressive", "covariate", "intercept"), ``term``, ``estimate``,
        ``se``, ``statistic`` (z), ``pvalue``, ``ci_low``, ``ci_high``.
    variance_components : pandas.DataFrame
        ``outcome``, ``component`` (random intercept / slope variances,
        their covariance, residual), ``estimate``.
    x_to_y_within, x_to_y_between, y_to_x_within, y_to_x_between : float
        The lagged effects, within persons and between persons.
    n_obs : dict
        Rows analysed per outcome.
    n_persons : dict
        Persons analysed per outcome.
    n_single_occasion : int
        Persons with a single occasion, who have no lagged pair (dropped).
    converged : dict
        Per outcome.
    warnings : list of str
    """

    effects: pd.DataFrame
    variance_components: pd.DataFrame
    x: str
    y: str
    x_to_y_within: float
    x_to_y_between: float
    y_to_x_within: float
    y_to_x_between: float
    n_obs: dict
    n_persons: dict
    n_single_occasion: int
    converged: dict
    reml: bool
    random_slopes: bool
    warnings: list = field(default_factory=list)
    models: dict = field(default_factory=dict, repr=False)

    _headline = ("x_to_y_within", "x_to_y_between", "y_to_x_within", "y_to_x_between", "n_obs", "n_persons")
    _title = "Within-person lagged multilevel models"
    _summary_columns = ("outcome", "direction", "component", "term", "estimate", "se", "statistic", "pvalue",
                        "ci_low", "ci_high")
    _dict_skip = ("models",)

    def to_frame(self) -> pd.DataFrame:
        out = self.effects.copy()
        out["n_obs"] = out["outcome"].map(self.n_obs)
        out["n_persons"] = out["outcome"].map(self.n_persons)
        out["converged"] = out["outcome"].map(self.converged)
        return out

    def __repr__(self) -> str:
        lines = [f"WithinPersonResult({self.x} <-> {self.y}, REML={self.reml}, random_slopes={self.random_slopes})"]
        for r in self.effects[self.effects["component"].isin(["within", "between"])].itertuples():
            lines.append(f"  {r.direction} {r.component:8s} {r.estimate: .4f} (se {r.se:.4f}, "
                         f"CI {r.ci_low:.4f}..{r.ci_high:.4f}, p={r.pvalue:.3g})")
        lines.append(f"  n_obs={self.n_obs}, n_persons={self.n_persons}, single-occasion persons dropped="
                     f"{self.n_single_occasion}")
        if self.warnings:
            lines.append("  warnings: " + "; ".join(self.warnings))
        return "\n".join(lines)


def _gls_se(model, fit):
    """Fixed-effect standard errors given the variance components.

    ``sqrt(diag((sum_i X_i' V_i^-1 X_i)^-1))`` with ``V_i = Z_i G Z_i' + s I``,
    as ``vcov()`` of ``lme4::lmer`` (for REML and ML alike). statsmodels'
    ``bse_fe`` inverts the joint Hessian instead and differs slightly when the
    random-effects covariance has more than one parameter.
    """
    G = np.asarray(fit.cov_re, dtype=float)
    s = float(fit.scale)
    X = np.asarray(model.exog, dtype=float)
    Z = np.asarray(model.exog_re, dtype=float)
    info = np.zeros((X.shape[1], X.shape[1]))
    for g in model.group_labels:
        ix = model.row_indices[g]
        Xi, Zi = X[ix], Z[ix]
        V = Zi @ G @ Zi.T + s * np.eye(len(ix))
        info += Xi.T @ np.linalg.solve(V, Xi)
    return np.sqrt(np.diag(np.linalg.inv(info)))


def _lag_frame(data, person, time, x, y, covariates, lag):
    d = data.loc[:, [person, time, x, y, *covariates]].copy()
    d = d[d[person].notna() & d[time].notna()]
    if d.duplicated([person, time]).any():
        dup = d.loc[d.duplicated([person, time], keep=False), [person, time]].head(3)
        raise PanelError("within_person: a person has two rows at the same time",
                         found=", ".join(f"{p!r} at {t!r}" for p, t in dup.itertuples(index=False)),
                         expected=f"one row per ({person}, {time})")
    d = d.sort_values([person, time], kind="mergesort").reset_index(drop=True)
    if lag == "time":
        tv = d[time].to_numpy(dtype=float)
        if not np.all(np.isfinite(tv)) or not np.allclose(tv, np.round(tv)):
            raise PanelError(f"within_person: lag='time' needs integer occasion numbers in {time!r}",
                             found=f"values such as {d[time].iloc[0]!r}",
                             expected="integer occasions (or lag='previous' for the previous row)")
        prev = d[[person, time, x, y]].copy()
        prev[time] = prev[time] + 1
        prev = prev.rename(columns={x: "_x_lag", y: "_y_lag"})
        d = d.merge(prev, on=[person, time], how="left", validate="one_to_one")
    elif lag == "previous":
        g = d.groupby(person, sort=False)
        d["_x_lag"] = g[x].shift(1)
        d["_y_lag"] = g[y].shift(1)
    else:
        raise PanelError("within_person: unknown lag", found=repr(lag), expected="'time' or 'previous'")
    return d


@renamed(person="cluster", level="ci_level")
def within_person(data, x, y, *, cluster, time, covariates=(), random_slopes=False, reml=True,
                  single="drop", lag="time", ci_level=0.95):
    """Within-person lagged effects of x on y and y on x in a multilevel model.

    For each direction a linear mixed model with a random intercept per person
    (statsmodels ``MixedLM``)::

        y_it = b0 + b_w (x_i,t-1 - mean_i x_lag) + b_b mean_i x_lag
                  + a (y_i,t-1 - mean_i y_lag) + covariates + u_i + e_it

    and the same with x and y swapped. ``b_w`` is the *within-person* lagged
    effect (does a person's above-usual x predict their next-occasion y?) and
    ``b_b`` the *between-person* effect of the person's usual level; they are
    reported separately because they answer different questions and can
    differ in sign. The autoregressive term enters person-mean centred only;
    its person mean would absorb the random intercept (Hamaker & Grasman,
    2015). Matches ``lme4::lmer(y ~ xw + xb + yw + (1 | person), REML = TRUE)``
    (``random_slopes=True``: ``(1 + xw | person)``) on the same prepared data.

    **Assume no sign.** Within persons, higher efficacy has been found to
    predict lower subsequent effort or performance (Vancouver et al., 2001,
    2002), while between persons the association is positive: a negative
    within effect is a finding, not an error.

    **Few occasions bias the lagged terms.** The person mean of a lagged
    variable includes the person's later scores, so with T lagged occasions
    the centred autoregressive (and, through it, cross-lagged) coefficients
    are biased, roughly by -1/T (Nickell, 1981). With 4-5 occasions this can
    produce a small "significant" negative within effect where the truth is
    zero (the bundled ``weekly_panel`` study shows it for behaviour ->
    efficacy). The RI-CLPM (:func:`riclpm`), which models the stable level as
    a latent variable, does not have this bias; prefer it when T is small.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data: one row per person and occasion; numbers of occasions may
        differ between persons.
    x, y : str
        The two measures (e.g. efficacy and behaviour).
    cluster, time : str
        Person identifier (the cluster of the multilevel model) and occasion columns.
    covariates : sequence of str
        Further fixed-effect predictors (used as given).
    random_slopes : bool
        Add a random slope (correlated with the intercept) for the
        within-person cross-lagged predictor.
    reml : bool
        REML (lme4's default) or ML.
    single : {"drop", "raise"}
        A person with a single occasion has no lagged pair: ``"drop"`` drops
        such persons with a warning and counts them
        (:attr:`WithinPersonResult.n_single_occasion`); ``"raise"`` stops with
        an error naming them.
    lag : {"time", "previous"}
        ``"time"``: the lagged value is the same person's value at occasion
        ``time - 1`` (integer occasions; a skipped occasion gives no lag);
        ``"previous"``: the previous observed row in time order.
    ci_level : float
        Level of the Wald intervals.

    Returns
    -------
    WithinPersonResult

    Notes
    -----
    Rows are analysed when the outcome, both lagged values and the covariates
    are present; person means of the lagged predictors are taken over the
    analysed rows of each model, so within and between parts are uncorrelated
    in the sample.

    With few occasions per person (a 4-5 wave panel rather than a diary),
    person-mean centring biases the autoregressive estimate downwards (Nickell
    bias, about -(1 + a)/(T - 1)) and the cross-lagged within estimate somewhat
    with it; prefer :func:`riclpm` for short panels and this model for
    intensive logs.

    Examples
    --------
    >>> res = within_person(logs, "efficacy", "adherence", cluster="pid", time="week")  # doctest: +SKIP
    >>> res.x_to_y_within, res.x_to_y_between                              # doctest: +SKIP
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    person = cluster
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    if not isinstance(data, pd.DataFrame):
        raise PanelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_columns(data, [("cluster (person)", person), ("time", time)], error=PanelError)
    _check_columns(data, [x, y, *covariates], "within_person")
    if x == y:
        raise PanelError("within_person: x and y are the same column", found=repr(x), expected="two measures")
    if single not in ("drop", "raise"):
        raise PanelError("within_person: unknown value for single", found=repr(single), expected="'drop' or 'raise'")
    notes = []
    d = _lag_frame(data, person, time, x, y, covariates, lag)
    occ = d.dropna(subset=[x, y], how="all").groupby(person, sort=True).size()
    singles = occ.index[occ == 1].tolist()
    if singles:
        msg = (f"{len(singles)} person(s) with a single occasion have no lagged pair and were dropped: "
               + ", ".join(map(str, singles[:10])) + (" ..." if len(singles) > 10 else ""))
        if single == "raise":
            raise PanelError("within_person: person(s) with a single occasion cannot enter a lagged model",
                             found=", ".join(map(str, singles[:10])) + (" ..." if len(singles) > 10 else ""),
                             expected="at least two occasions per person (or single='drop')")
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
    z = stats.norm.ppf(0.5 + ci_level / 2)
    effects, vcs, n_obs, n_persons, conv, models = [], [], {}, {}, {}, {}
    for out, cross, auto, direc in ((y, "_x_lag", "_y_lag", "x->y"), (x, "_y_lag", "_x_lag", "y->x")):
        cross_name = (x if cross == "_x_lag" else y) + "_lag"
        auto_name = (y if auto == "_y_lag" else x) + "_lag"
        a = d.dropna(subset=[out, cross, auto, *covariates]).copy()
        if a.empty or a[person].nunique() < 2:
            raise PanelError(f"within_person: too few lagged pairs for outcome {out!r}",
                             found=f"{len(a)} rows from {a[person].nunique()} person(s)",
                             expected="consecutive occasions from at least two persons")
        g = a.groupby(person, sort=False)
        xb = g[cross].transform("mean")
        ab = g[auto].transform("mean")
        X = pd.DataFrame({"Intercept": 1.0,
                          f"{cross_name}_within": a[cross] - xb,
                          f"{cross_name}_between": xb,
                          f"{auto_name}_within": a[auto] - ab}, index=a.index)
        for c in covariates:
            X[c] = a[c].astype(float)
        rank = np.linalg.matrix_rank(X.to_numpy())
        if rank < X.shape[1]:
            raise PanelError(f"within_person: the fixed-effect design for outcome {out!r} is rank deficient",
                             found=f"rank {rank} < {X.shape[1]} columns {list(X.columns)}",
                             expected="predictors that vary (e.g. more than one occasion pair per person, "
                                      "covariates not constant)")
        exog_re = X[["Intercept", f"{cross_name}_within"]] if random_slopes else X[["Intercept"]]
        model = sm.MixedLM(a[out].astype(float), X, groups=a[person], exog_re=exog_re)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit, how = _fit_mixedlm(model, reml)
        if how:
            notes.append(f"{out}: {how}")
        for w in caught:
            text = str(w.message)
            if issubclass(w.category, ConvergenceWarning) and ("boundary" in text or "singular" in text):
                notes.append(f"{out}: {text}")
        conv[out] = bool(fit.converged)
        if not fit.converged:
            notes.append(f"{out}: MixedLM did not converge")
        n_obs[out] = int(len(a))
        n_persons[out] = int(a[person].nunique())
        models[out] = fit
        fe = fit.fe_params
        se = pd.Series(_gls_se(model, fit), index=X.columns)
        for term in X.columns:
            comp = ("intercept" if term == "Intercept" else
                    "within" if term == f"{cross_name}_within" else
                    "between" if term == f"{cross_name}_between" else
                    "autoregressive" if term == f"{auto_name}_within" else "covariate")
            dd = direc if comp in ("within", "between") else (
                ("y->y" if out == y else "x->x") if comp == "autoregressive" else "")
            e, s = float(fe[term]), float(se[term])
            zz = e / s if s > 0 else np.nan
            effects.append(dict(outcome=out, direction=dd, component=comp, term=term, estimate=e, se=s, statistic=zz,
                                pvalue=float(2 * stats.norm.sf(abs(zz))) if np.isfinite(zz) else np.nan,
                                ci_low=e - z * s, ci_high=e + z * s))
        cre = np.asarray(fit.cov_re)
        re_names = list(exog_re.columns)
        for i, ni in enumerate(re_names):
            for j in range(i + 1):
                comp = (f"var({'random intercept' if ni == 'Intercept' else 'random slope ' + ni})" if i == j
                        else f"cov(random intercept, random slope {ni})")
                vcs.append(dict(outcome=out, component=comp, estimate=float(cre[i, j])))
        vcs.append(dict(outcome=out, component="var(residual)", estimate=float(fit.scale)))
        if cre[0, 0] < 1e-8 * max(float(fit.scale), 1e-300):
            notes.append(f"{out}: random-intercept variance at the boundary (0); the fit is singular")
    eff = pd.DataFrame(effects)

    def pick(out, comp):
        m = eff[(eff["outcome"] == out) & (eff["component"] == comp)]
        return float(m["estimate"].iloc[0])

    return WithinPersonResult(
        effects=eff, variance_components=pd.DataFrame(vcs), x=x, y=y,
        x_to_y_within=pick(y, "within"), x_to_y_between=pick(y, "between"),
        y_to_x_within=pick(x, "within"), y_to_x_between=pick(x, "between"),
        n_obs=n_obs, n_persons=n_persons, n_single_occasion=len(singles), converged=conv, reml=bool(reml),
        random_slopes=bool(random_slopes), warnings=notes, models=models)


def _fit_mixedlm(model, reml, methods=("lbfgs", "bfgs", "cg", "nm", "powell")):
    """Fit a MixedLM trying one optimiser at a time.

    statsmodels' multi-method fit (``method=[...]``) stops at the first optimiser that raises, so a
    singular ``X'V^-1X`` met by L-BFGS on the way (for example with a random-intercept variance
    drifting towards 0) aborts the whole fit. Here each optimiser gets its own attempt; the first
    converged fit is returned, else the fit with the highest log-likelihood (marked not converged).

    Returns
    -------
    fit : MixedLMResults
    note : str
        Empty when the first optimiser converged; otherwise which optimiser was used and why.
    """
    failures, best = [], None
    for m in methods:
        try:
            fit = model.fit(reml=reml, method=m)
        except (np.linalg.LinAlgError, ValueError) as exc:
            failures.append(f"{m}: {type(exc).__name__}: {exc}")
            continue
        if fit.converged and np.all(np.isfinite(fit.fe_params)):
            note = "" if not failures else (f"optimiser {m} used after " + "; ".join(failures))
            return fit, note
        failures.append(f"{m}: did not converge")
        if best is None or fit.llf > best.llf:
            best = fit
    if best is None:
        raise np.linalg.LinAlgError("MixedLM failed with every optimiser (" + "; ".join(failures) + ")")
    return best, "no optimiser converged (" + "; ".join(failures) + "); best log-likelihood kept"


# --------------------------------------------------------------------------- temporal order and stage

TEMPORAL_ORDERS = ("efficacy -> behaviour", "behaviour -> efficacy", "both", "neither")


@dataclass
class TemporalOrderResult(ResultMixin):
    """Result of :func:`temporal_order`: which within-person direction the cross-lagged paths support.

    Attributes
    ----------
    temporal_order : str or None
        ``"<x> -> <y>"``, ``"<y> -> <x>"``, ``"both"``, ``"neither"``, or None with ``reason`` when
        the model failed.
    x_to_y, y_to_x : bool or None
        Whether each direction's cross-lagged path differs from zero.
    x_to_y_estimate, y_to_x_estimate : float
        The (stationary, or mean of the free) cross-lagged estimates.
    x_to_y_sign, y_to_x_sign : str
        Signs of the paths that differ from zero ("+", "-" or "+/-").
    rule : str
        The decision rule applied.
    """

    temporal_order: str | None = None
    x_to_y: bool | None = None
    y_to_x: bool | None = None
    x_to_y_estimate: float = np.nan
    y_to_x_estimate: float = np.nan
    x_to_y_sign: str = ""
    y_to_x_sign: str = ""
    rule: str = ""
    reason: str = ""

    _headline = ("temporal_order", "x_to_y", "y_to_x", "x_to_y_estimate", "y_to_x_estimate")
    _title = "Temporal order of the within-person cross-lagged paths"

    def to_frame(self) -> pd.DataFrame:
        """One row: every field."""
        return pd.DataFrame([{f: getattr(self, f) for f in (
            "temporal_order", "x_to_y", "y_to_x", "x_to_y_estimate", "y_to_x_estimate", "x_to_y_sign",
            "y_to_x_sign", "rule", "reason")}])

    def get(self, key, default=None):
        """``getattr`` with a default (the dict interface of earlier versions)."""
        return getattr(self, key, default)


def temporal_order(result: PanelResult, *, alpha=0.05, x_label="efficacy", y_label="behaviour") -> TemporalOrderResult:
    """Which temporal order the within-person cross-lagged paths support.

    A direction is supported when its cross-lagged path differs from zero:
    in a stationary model, when its (1 - alpha) Wald interval excludes zero;
    in a model with free paths, when at least one of the T - 1 paths has a
    Bonferroni interval (level 1 - alpha / (T - 1)) that excludes zero. The
    sign is reported but not required: a negative within-person effect
    (over-efficaciousness) is still temporal precedence.

    Returns
    -------
    TemporalOrderResult
        ``temporal_order`` (one of ``"<x> -> <y>"``, ``"<y> -> <x>"``, ``"both"``,
        ``"neither"``, or None with ``reason`` when the model failed),
        ``x_to_y`` / ``y_to_x`` (bool), their estimates, signs and the rule used.
    """
    out = dict(temporal_order=None, x_to_y=None, y_to_x=None, x_to_y_estimate=np.nan, y_to_x_estimate=np.nan,
               x_to_y_sign="", y_to_x_sign="", rule="", reason="")
    if not result.converged or not result.proper:
        out["reason"] = (f"{result.name} did not converge" if not result.converged
                         else f"{result.name} has an improper solution (Heywood case)")
        return TemporalOrderResult(**out)
    cl = result.cross_lagged
    k = 1 if result.stationary else max(len(result.x_waves) - 1, 1)
    level = 1 - alpha / k
    zc = stats.norm.ppf(0.5 + level / 2)
    found = {}
    for direc, key in (("x->y", "x_to_y"), ("y->x", "y_to_x")):
        rows = cl[cl["direction"] == direc]
        if result.stationary:
            rows = rows.iloc[:1]
        lo, hi = rows["estimate"] - zc * rows["se"], rows["estimate"] + zc * rows["se"]
        sig = ((lo > 0) | (hi < 0)).to_numpy()
        found[key] = bool(sig.any())
        out[key] = found[key]
        est = rows["estimate"].to_numpy()
        out[f"{key}_estimate"] = float(est[0]) if result.stationary else float(np.mean(est))
        signs = sorted({"+" if e > 0 else "-" for e in est[sig]}) if sig.any() else []
        out[f"{key}_sign"] = "/".join(signs)
    out["rule"] = (f"{result.name}: {'the stationary path' if result.stationary else 'any wave, Bonferroni'} "
                   f"{100 * level:.4g}% CI excludes 0")
    if found["x_to_y"] and found["y_to_x"]:
        out["temporal_order"] = "both"
    elif found["x_to_y"]:
        out["temporal_order"] = f"{x_label} -> {y_label}"
    elif found["y_to_x"]:
        out["temporal_order"] = f"{y_label} -> {x_label}"
    else:
        out["temporal_order"] = "neither"
    return TemporalOrderResult(**out)


_FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "srmr", "loglik",
             "aic", "bic", "npar")


def _fit_row(name, res, reason=""):
    row = dict(row_type="fit", model=name, compared_to="")
    if res is None:
        row.update(dict.fromkeys(_FIT_KEYS, np.nan), n=np.nan, converged=False, proper=False, reason=reason)
        return row
    row.update({k: float(res.fit.get(k, np.nan)) for k in _FIT_KEYS}, n=res.n, converged=res.converged,
               proper=res.proper, reason="; ".join(res.warnings))
    return row


def _failed_table(name, reason):
    return pd.DataFrame([dict(model=name, stationary=name.endswith("_stationary"), type="", direction="",
                              estimate=np.nan, reason=reason)])


#: columns of the panel stage's ``longitudinal_invariance`` table (before the study/measure columns)
LONGITUDINAL_STAGE_COLUMNS = ("measure", "n_waves", "estimator", "missing")


def _longitudinal_invariance_table(clean, codebook, missing="auto"):
    """Longitudinal invariance of each panel measure that is a multi-item scale at every wave.

    One block of rows (configural .. strict, :func:`efficacy.measurement.longitudinal_invariance`) per
    measure, with ``highest``, ``comparable`` and ``conclusion`` (one sentence) on each row; a measure
    that cannot be tested (a single variable per wave, a wave without the scale's items) is one row
    whose ``reason`` says why. A scale whose codebook estimator is WLSMV (ordinal items) is tested by
    WLSMV (thresholds equal over waves, then loadings, then intercepts, then residual variances of the
    latent responses (strict, fitted in lavaan's theta parameterisation): the longitudinal Wu &
    Estabrook sequence, pairwise-present statistics unless ``missing="listwise"``); if that fit
    fails (an empty category at one wave, a configural model that does not converge) the scale is
    tested by MLR instead and every row's ``reason`` says why.
    """
    from .measurement.longitudinal import LONGITUDINAL_COLUMNS, longitudinal_invariance

    scales = getattr(codebook, "scales", None) or {}
    design = codebook.design
    parts = []
    for measure in dict.fromkeys((design.panel_x, design.panel_y)):
        cols = list(codebook.waves.get(measure, []))
        base = dict(measure=measure, n_waves=len(cols))
        items = [list(getattr(scales.get(c), "items", []) or []) for c in cols]
        why = ""
        if len(cols) < 2:
            why = f"fewer than 2 waves ({len(cols)})"
        elif not all(c in scales for c in cols):
            single = [c for c in cols if c not in scales]
            why = (f"not a multi-item scale at every wave ({', '.join(single)} "
                   f"{'is a single variable' if len(single) == 1 else 'are single variables'}): no items to test")
        elif len({len(i) for i in items}) != 1 or min(len(i) for i in items) < 2:
            why = ("the waves do not share the same items: "
                   + ", ".join(f"{c}: {len(i)}" for c, i in zip(cols, items)))
        elif not all(v in clean.columns for i in items for v in i):
            miss = [v for i in items for v in i if v not in clean.columns]
            why = f"item columns not in the clean data: {', '.join(miss[:5])}"
        if why:
            parts.append(pd.DataFrame([{**base, "step": "", "decision": "not tested", "reason": why,
                                        "conclusion": f"Longitudinal invariance of {measure} was not tested: {why}."}]))
            continue
        est_for = getattr(codebook, "estimator_for", None)
        est = est_for(cols[0]) if est_for is not None else "ML"
        note = ""
        waves = {str(getattr(scales[c], "wave", None) or t + 1): i for t, (c, i) in enumerate(zip(cols, items))}
        res = None
        if est == "WLSMV":
            miss = "listwise" if missing == "listwise" else "pairwise"
            try:
                res = longitudinal_invariance(clean, waves, ordered=True, missing=miss)
                if not res.table["converged"].iloc[0]:
                    raise PanelError("the configural WLSMV model did not converge: " + str(res.table["reason"].iloc[0]))
            except Exception as exc:  # noqa: BLE001 - the MLR fallback says why
                res = None
                # no ';' inside the first clause: the summary keeps the reason up to the first ';'
                msg = str(exc).replace(";", ",")
                est, note = "MLR", (f"ordinal items: WLSMV failed ({type(exc).__name__}: {msg}), MLR used "
                                    "(robust CFI/RMSEA and scaled LRTs)")
        if est not in ("ML", "MLR", "MLM", "WLSMV"):
            est = "MLR"
        if est != "WLSMV":
            miss = "listwise" if missing == "listwise" else "fiml"
        if est == "MLM" and miss == "fiml":
            est = "MLR"
        try:
            if res is None:
                res = longitudinal_invariance(clean, waves, estimator=est, missing=miss)
        except Exception as exc:  # noqa: BLE001 - a failure is a row with its reason
            why = f"{type(exc).__name__}: {exc}"
            parts.append(pd.DataFrame([{**base, "estimator": est, "missing": miss, "step": "",
                                        "decision": "not estimable", "reason": why,
                                        "conclusion": f"Longitudinal invariance of {measure} could not be tested "
                                                      f"({why})."}]))
            continue
        t = res.to_frame()
        if note:
            t["reason"] = [f"{note}; {r}" if r else note for r in t["reason"]]
        t.insert(0, "missing", miss)
        t.insert(0, "estimator", est)
        t.insert(0, "n_waves", len(cols))
        t.insert(0, "measure", measure)
        t["highest"] = res.highest
        t["comparable"] = res.comparable
        t["conclusion"] = res.sentence(f"the {measure} scale")
        parts.append(t)
    cols_out = list(LONGITUDINAL_STAGE_COLUMNS) + list(LONGITUDINAL_COLUMNS) + ["highest", "comparable", "conclusion"]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols_out)
    out = out.reindex(columns=cols_out)
    out.insert(0, "study", codebook.study)
    return out


def run_stage(clean, codebook, clean_long=None, *, stationary="test", alpha=0.05, ci_level=0.95, missing="auto",
              use_covariates=False, within=True, random_slopes=False):
    """The workflow's ``panel`` stage for a study that declares waves.

    First tests longitudinal measurement invariance of each panel measure that is a multi-item scale
    at every wave (:func:`efficacy.measurement.longitudinal_invariance`: are the wave scores that the
    panel models use comparable over time?). Then fits the CLPM and the RI-CLPM (free and stationary) on the wide clean data,
    tests stationarity and CLPM vs RI-CLPM, derives the temporal order from the
    RI-CLPM and, given the long data, fits the within-person multilevel model.

    Parameters
    ----------
    clean : pandas.DataFrame
        ``results/<study>/clean.csv`` (one row per participant).
    codebook : efficacy.codebook.Codebook
        Needs ``waves`` and ``design.panel_x`` / ``design.panel_y``.
    clean_long : pandas.DataFrame, optional
        ``results/<study>/clean_long.csv`` (id, wave, one column per measure).
    stationary : {"test", True, False}
        ``"test"``: the verdict uses the stationary RI-CLPM unless the LRT
        rejects stationarity at ``alpha``, then the free one.
    alpha, ci_level : float
    missing : {"auto", "listwise", "fiml"}
    use_covariates : bool
        Regress the panel variables on ``design.covariates`` (time-invariant).
    within, random_slopes : bool
        Fit the within-person model (needs ``clean_long``), with random slopes.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``clpm``, ``riclpm`` (paths and covariances of the free and stationary
        models), ``panel_comparison`` (fit rows, LRT rows and a verdict row; the
        ``temporal_order`` column, equal on every row, is one of
        "efficacy -> behaviour", "behaviour -> efficacy", "both", "neither", or
        empty when the RI-CLPM failed, the reason then given),
        ``within_person`` and ``longitudinal_invariance`` (configural .. strict per
        scale measure, with ``conclusion``; a row with the reason for a measure
        that cannot be tested). The CLPM and RI-CLPM use the estimator of
        :func:`efficacy.estimator_choice.score_choice`: MLR (robust SEs, Satorra-Bentler scaled
        difference tests) when a panel measure is the score of an ordinal scale (a mean of Likert
        items is bounded and skewed; WLSMV is for items, not scores) or of a scale the codebook
        fits by MLR/MLM, cluster-robust MLR with a declared ``cluster``, ML otherwise; the
        ``estimator`` and ``estimator_reason`` columns say which and why.
    """
    from .estimator_choice import score_choice

    design = codebook.design
    px, py = design.panel_x, design.panel_y
    if not codebook.waves or not px or not py:
        raise PanelError("panel stage: the codebook declares no waves or no design.panel_x / panel_y",
                         file=getattr(codebook, "path", None), where="design",
                         expected="waves with the measures named by design.panel_x and design.panel_y")
    xw, yw = list(codebook.waves[px]), list(codebook.waves[py])
    construct = getattr(codebook, "construct_of", lambda _n: None)
    x_label, y_label = "efficacy", "behaviour"
    if construct(yw[0]) == "self_efficacy" and construct(xw[0]) != "self_efficacy":
        x_label, y_label = "behaviour", "efficacy"
    covs = list(design.covariates) if use_covariates else []
    # the codebook's estimator for models of scores (efficacy.estimator_choice): MLR for scores of ordinal
    # or robust-estimator scales, cluster-robust with a declared cluster, ML otherwise
    choice = score_choice(codebook, xw + yw) if hasattr(codebook, "estimator_for") else None
    est_kw = {"estimator": choice.estimator, "cluster": choice.cluster} if choice is not None else {}
    long_inv = _longitudinal_invariance_table(clean, codebook, missing)
    fits, errors = {}, {}
    for model_fn, name in ((clpm, "clpm"), (riclpm, "riclpm")):
        for stat in (False, True):
            key = name + ("_stationary" if stat else "")
            try:
                fits[key] = model_fn(clean, xw, yw, covariates=covs, stationary=stat, missing=missing,
                                     ci_level=ci_level, **est_kw)
            except Exception as exc:  # one model's failure is a row with its reason
                errors[key] = f"{type(exc).__name__}: {exc}"
    tables = {}
    for name in ("clpm", "riclpm"):
        parts = []
        for key in (name, name + "_stationary"):
            parts.append(fits[key].to_frame().assign(reason="; ".join(fits[key].warnings))
                         if key in fits else _failed_table(key, errors[key]))
        tables[name] = pd.concat(parts, ignore_index=True)
        tables[name].insert(0, "study", codebook.study)
        tables[name].insert(1, "x", px)
        tables[name].insert(2, "y", py)

    rows = [_fit_row(k, fits.get(k), errors.get(k, "")) for k in
            ("clpm", "clpm_stationary", "riclpm", "riclpm_stationary")]
    tests = {}
    for a, b, fn in (("clpm", "riclpm", compare_panel_models), ("clpm_stationary", "riclpm_stationary",
                                                               compare_panel_models),
                     ("riclpm", "riclpm_stationary", stationarity_lrt), ("clpm", "clpm_stationary", stationarity_lrt)):
        if a in fits and b in fits:
            try:
                t = fn(fits[a], fits[b])
            except PanelError as exc:
                rows.append(dict(row_type="test", model=b, compared_to=a, reason=str(exc)))
                continue
            tests[(a, b)] = t
            rows.append(dict(row_type="test", model=t.restricted, compared_to=t.full, chisq=t.chisq_diff,
                             df=t.df_diff, pvalue=t.pvalue, boundary=t.boundary, reason=t.note))
    # choose the RI-CLPM for the verdict
    chosen, why = None, ""
    if stationary == "test":
        t = tests.get(("riclpm", "riclpm_stationary"))
        if t is not None and np.isfinite(t.pvalue) and fits["riclpm_stationary"].converged:
            chosen = "riclpm_stationary" if t.pvalue >= alpha else "riclpm"
            why = (f"stationarity LRT p = {t.pvalue:.4g} {'>=' if t.pvalue >= alpha else '<'} {alpha}")
        elif "riclpm" in fits:
            chosen, why = "riclpm", "stationarity could not be tested"
    elif stationary in (True, False):
        chosen = "riclpm_stationary" if stationary else "riclpm"
        why = "set by the stationary option"
    else:
        raise PanelError("panel stage: unknown value for stationary", found=repr(stationary),
                         expected="'test', true or false")
    if chosen in fits:
        verdict = temporal_order(fits[chosen], alpha=alpha, x_label=x_label, y_label=y_label)
    else:
        verdict = dict(temporal_order=None, reason=f"RI-CLPM not available: {errors.get(chosen or 'riclpm', '')}")
    vrow = dict(row_type="verdict", model=chosen or "", compared_to="",
                reason="; ".join(x for x in (why, verdict.get("rule", ""), verdict.get("reason", "")) if x))
    for k in ("x_to_y", "y_to_x", "x_to_y_estimate", "y_to_x_estimate", "x_to_y_sign", "y_to_x_sign"):
        vrow[k] = verdict.get(k)
    rows.append(vrow)
    comp = pd.DataFrame(rows)
    comp.insert(0, "study", codebook.study)
    comp.insert(1, "x", px)
    comp.insert(2, "y", py)
    comp["temporal_order"] = verdict.get("temporal_order")
    comp["estimator"] = est_kw.get("estimator", "ML")
    comp["estimator_reason"] = choice.reason if choice is not None else ""
    tables["panel_comparison"] = comp

    if within and clean_long is not None and len(clean_long):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wp = within_person(clean_long, px, py, cluster=codebook.id, time="wave", random_slopes=random_slopes)
            wt = wp.to_frame()
            wt["reason"] = "; ".join(wp.warnings)
            wt["n_single_occasion"] = wp.n_single_occasion
        except Exception as exc:
            wt = pd.DataFrame([dict(outcome="", component="", estimate=np.nan,
                                    reason=f"{type(exc).__name__}: {exc}")])
    else:
        wt = pd.DataFrame([dict(outcome="", component="", estimate=np.nan,
                                reason="not run: " + ("disabled" if not within else "no long data"))])
    wt.insert(0, "study", codebook.study)
    wt.insert(1, "x", px)
    wt.insert(2, "y", py)
    tables["within_person"] = wt
    tables["longitudinal_invariance"] = long_inv
    return tables
