"""Longitudinal measurement invariance: the same scale at each wave of a panel study (issue #18).

:func:`longitudinal_invariance` fits one factor per wave in a single-group CFA, with the residuals of
the same item correlated across waves, and tests the sequence configural -> metric (loadings equal
over waves) -> scalar (intercepts equal) -> strict (residual variances equal) by likelihood-ratio
tests (Satorra-Bentler scaled for MLR) and the change in CFI, RMSEA and SRMR (Widaman, Ferrer &
Conger, 2010). Ordered-categorical items are fitted by WLSMV in the sequence configural ->
thresholds -> metric -> scalar -> strict of Liu et al. (2017), identified as Wu & Estabrook (2016)
(the strict step in lavaan's theta parameterisation).
:func:`longitudinal_syntax` writes the lavaan syntax of each step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._api import check_columns
from ..errors import MeasurementError
from ..results import TableResult
from ..sem.engine import parse_model
from ..sem.engine import sem as _sem
from ..sem.lrt import lrt_difference
from ..sem.wls import fit_wlsmv
from .invariance import DEFAULT_CUTOFFS, _noninvariant

__all__ = ["longitudinal_invariance", "longitudinal_syntax", "LongitudinalInvarianceResult",
           "LONGITUDINAL_COLUMNS", "LONGITUDINAL_STEPS", "ORDINAL_STEPS"]

#: the steps, from least to most restrictive
LONGITUDINAL_STEPS = ("configural", "metric", "scalar", "strict")
#: the steps for ordered-categorical items (WLSMV; Wu & Estabrook 2016, Liu et al. 2017; strict under theta)
ORDINAL_STEPS = ("configural", "thresholds", "metric", "scalar", "strict")
_PARAMETERIZATIONS = ("delta", "theta")
#: columns of :meth:`LongitudinalInvarianceResult.to_frame`
LONGITUDINAL_COLUMNS = ["step", "chisq", "df", "pvalue", "chisq_scaled", "scaling_factor", "cfi", "tli", "rmsea",
                        "srmr", "aic", "bic", "delta_chisq", "delta_df", "lrt_pvalue", "delta_cfi", "delta_rmsea",
                        "delta_srmr", "decision", "converged", "proper", "reason"]
#: default decision rule: a step is "not invariant" when delta CFI <= -0.010 (Cheung & Rensvold, 2002);
#: ``combine="and"`` / ``"or"`` adds delta RMSEA >= 0.015 (Chen, 2007)


def _ident(x) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", str(x))
    return s if re.match(r"[A-Za-z_]", s) else f"w{s}"


def _check_waves(data, items_by_wave):
    """``items_by_wave`` as an ordered dict ``{wave label: [items]}``, checked."""
    if isinstance(items_by_wave, dict):
        waves = {str(k): list(v) if not isinstance(v, str) else [v] for k, v in items_by_wave.items()}
    elif isinstance(items_by_wave, (list, tuple)):
        waves = {str(i + 1): list(v) if not isinstance(v, str) else [v] for i, v in enumerate(items_by_wave)}
    else:
        raise MeasurementError("items_by_wave must be a dict {wave: [items]} or a list of item lists, one per wave",
                               found=type(items_by_wave).__name__)
    if len(waves) < 2:
        raise MeasurementError("longitudinal invariance needs at least 2 waves", where="items_by_wave",
                               found=f"{len(waves)} wave(s): {list(waves)}", expected=">= 2 waves")
    k = max(len(v) for v in waves.values())
    short = {w: len(v) for w, v in waves.items() if len(v) != k}
    if short:
        w = next(iter(short))
        raise MeasurementError(f"wave {w!r} does not have every item of the scale: the same items must be "
                               "measured at each wave (in the same order)", where=f"items_by_wave[{w!r}]",
                               found=f"{short[w]} item(s) {waves[w]}", expected=f"{k} items, as at the other waves")
    if k < 2:
        raise MeasurementError("each wave needs at least 2 items", where="items_by_wave", found=f"{k} item(s)")
    allc = [c for v in waves.values() for c in v]
    dup = sorted({c for c in allc if allc.count(c) > 1})
    if dup:
        raise MeasurementError("a column is used at more than one wave (or twice in a wave)", where="items_by_wave",
                               found=", ".join(map(str, dup)), expected="distinct columns per wave and item")
    if not isinstance(data, pd.DataFrame):
        raise MeasurementError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    check_columns(data, [(f"an item of wave {w!r}", v) for w, v in waves.items()], error=MeasurementError)
    bad = [c for c in allc if not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise MeasurementError("items must be numeric", found=", ".join(bad), expected="numeric columns")
    return waves


def _ordinal_syntax(waves, step, factor, n_categories, engine, parameterization="delta"):
    """Syntax of an ordinal step: the full lavaan syntax (``engine=False``) or the part the SEM engine parses
    (loadings, latent means, residual covariances; thresholds, intercepts, scaling factors and residual
    variances go to :func:`efficacy.sem.wls.fit_wlsmv` as arguments). ``parameterization="theta"`` writes
    residual variances (``x ~~ 1*x``, ``x ~~ NA*x`` where Wu & Estabrook free them) instead of scaling
    factors (``~*~``)."""
    level = ORDINAL_STEPS.index(step)
    names = {w: f"{_ident(factor)}_{_ident(w)}" for w in waves}
    wl = list(waves)
    k = len(waves[wl[0]])
    lines = []
    for w, items in waves.items():
        terms = [f"1*{items[0]}"] + [(f"l{j + 1}*{v}" if level >= 2 else v) for j, v in enumerate(items) if j]
        lines.append(f"{names[w]} =~ " + " + ".join(terms))
    if not engine:
        ncat = n_categories if isinstance(n_categories, (list, tuple)) else [n_categories] * k
        for t, (w, items) in enumerate(waves.items()):
            for j, v in enumerate(items):
                if ncat[j] is None:
                    continue
                lab = f"th{j + 1}_{{}}*" if level >= 1 else ""
                lines.append(f"{v} | " + " + ".join(f"{lab.format(c)}t{c}" for c in range(1, int(ncat[j]))))
        for t, (w, items) in enumerate(waves.items()):
            for v in items:
                free = t > 0 and level in (1, 2)
                lines.append(f"{v} ~ {'NA' if free else '0'}*1")
        for t, (w, items) in enumerate(waves.items()):
            for v in items:
                if parameterization == "theta":   # strict (level 4): equal over waves, so 1 everywhere
                    lines.append(f"{v} ~~ {'NA' if t > 0 and 1 <= level <= 3 else '1'}*{v}")
                else:
                    lines.append(f"{v} ~*~ {'NA' if t > 0 and level >= 1 else '1'}*{v}")
    if level >= 3:
        for t, w in enumerate(waves):
            lines.append(f"{names[w]} ~ {'0*1' if t == 0 else '1'}")
    for j in range(k):
        for a in range(len(wl)):
            for b in range(a + 1, len(wl)):
                lines.append(f"{waves[wl[a]][j]} ~~ {waves[wl[b]][j]}")
    return "\n".join(lines)


def longitudinal_syntax(items_by_wave, step: str = "configural", *, factor: str = "f", ordered: bool = False,
                        n_categories=None, parameterization: str | None = None) -> str:
    """lavaan syntax of one step of the longitudinal invariance sequence.

    One factor per wave (``f_<wave>``), identified by its first item (loading 1); the residuals of
    the same item are correlated across all pairs of waves; the factor covariances are free. Equality
    over waves is written with labels: loadings ``l<j>`` (metric), intercepts ``i<j>`` (scalar; the
    factor mean of wave 1 is then 0 and the later ones are free), residual variances ``r<j>`` (strict).

    Parameters
    ----------
    items_by_wave : dict or list
        ``{wave: [items]}`` (item j of every wave is the same question).
    step : {"configural", "metric", "scalar", "strict"}
    factor : str
        Prefix of the factor names.

    ordered : bool
        Ordered-categorical items: the steps are :data:`ORDINAL_STEPS` ("configural", "thresholds",
        "metric", "scalar", "strict") and the syntax is the longitudinal Wu & Estabrook (2016) model
        with marker identification (the same fit as ``semTools::measEq.syntax(ID.fac = "std.lv",
        ID.cat = "Wu.Estabrook.2016", longFacNames=, longIndNames=, long.equal=)``): thresholds ``x |
        th<j>_<c>*t<c>`` equal over waves from the "thresholds" step on, when the latent-response
        intercepts and scaling factors (delta; residual variances under theta) of waves 2, 3, ... are
        free (``~ NA*1``, ``~*~ NA*`` / ``~~ NA*``); "metric" adds equal loadings; "scalar" fixes the
        intercepts at 0 again and frees the factor means of waves 2, 3, ...; "strict" (theta only)
        fixes the residual variances at 1 at every wave again (equal to wave 1's).
    n_categories : int or list of int, optional
        With ``ordered``: the number of categories of each item (one per item position); the
        threshold lines are written only when given.
    parameterization : {"delta", "theta"} or None
        With ``ordered``: lavaan's parameterisation the syntax is written for. None: "theta" for the
        strict step (residual variances are not parameters under delta), else "delta".

    Returns
    -------
    str
        lavaan model syntax, to be fitted with ``meanstructure = TRUE`` (``lavaan::cfa``); with
        ``ordered``: ``lavaan::cfa(syntax, ordered = <items>, estimator = "WLSMV", parameterization =
        "delta")`` ("theta" for the strict step or with ``parameterization="theta"``).
    """
    if ordered:
        if step not in ORDINAL_STEPS:
            raise MeasurementError("unknown invariance step for ordered items", found=repr(step),
                                   expected=", ".join(ORDINAL_STEPS))
        par = _ordinal_parameterization(step, parameterization)
        waves = (items_by_wave if isinstance(items_by_wave, dict)
                 else {str(i + 1): v for i, v in enumerate(items_by_wave)})
        return _ordinal_syntax(waves, step, factor, n_categories, engine=False, parameterization=par)
    if step not in LONGITUDINAL_STEPS:
        raise MeasurementError("unknown invariance step", found=repr(step), expected=", ".join(LONGITUDINAL_STEPS))
    waves = items_by_wave if isinstance(items_by_wave, dict) else {str(i + 1): v for i, v in enumerate(items_by_wave)}
    level = LONGITUDINAL_STEPS.index(step)
    names = {w: f"{_ident(factor)}_{_ident(w)}" for w in waves}
    lines = []
    for w, items in waves.items():
        terms = [f"1*{items[0]}"] + [(f"l{j + 1}*{v}" if level >= 1 else v) for j, v in enumerate(items) if j]
        lines.append(f"{names[w]} =~ " + " + ".join(terms))
    if level >= 2:
        for w, items in waves.items():
            for j, v in enumerate(items):
                lines.append(f"{v} ~ i{j + 1}*1")
        for t, w in enumerate(waves):
            lines.append(f"{names[w]} ~ {'0*1' if t == 0 else '1'}")
    if level >= 3:
        for w, items in waves.items():
            for j, v in enumerate(items):
                lines.append(f"{v} ~~ r{j + 1}*{v}")
    wl = list(waves)
    k = len(waves[wl[0]])
    for j in range(k):
        for a in range(len(wl)):
            for b in range(a + 1, len(wl)):
                lines.append(f"{waves[wl[a]][j]} ~~ {waves[wl[b]][j]}")
    return "\n".join(lines)




def _ordinal_parameterization(step, parameterization):
    """The parameterisation an ordinal step is fitted in: "theta" for strict, else the one asked for (delta)."""
    if parameterization not in (None,) + _PARAMETERIZATIONS:
        raise MeasurementError("unknown parameterization for ordered items", found=repr(parameterization),
                               expected="'delta' (lavaan's default; strict is then fitted under theta) or 'theta'")
    if step == "strict":
        if parameterization == "delta":
            raise MeasurementError("the strict step needs the theta parameterisation: residual variances of the "
                                   "latent responses are not parameters under delta (as semTools::measEq.syntax)",
                                   found="step='strict', parameterization='delta'",
                                   expected="parameterization='theta' or None")
        return "theta"
    return parameterization or "delta"


def _check_ordinal_waves(data, waves, ordered, missing):
    """Ordered items: every item must show the same categories at every wave (else its thresholds cannot be
    equal over waves). Returns the number of categories per item position."""
    wl = list(waves)
    cols = [v for w in wl for v in waves[w]]
    if ordered is not True:
        names = [ordered] if isinstance(ordered, str) else list(ordered)
        cont = [v for v in cols if v not in names]
        if cont:
            raise MeasurementError("with ordered items every item of every wave must be ordered (WLSMV with "
                                   "continuous items next to ordered ones is not supported)", where="ordered",
                                   found="not in ordered: " + ", ".join(map(str, cont)),
                                   expected="ordered=True or a list with all items of all waves")
    frame = data[cols].dropna() if missing == "listwise" else data[cols]
    ncat = []
    for j in range(len(waves[wl[0]])):
        per = {w: set(pd.unique(frame[waves[w][j]].dropna())) for w in wl}
        allc = set().union(*per.values())
        for w, c in per.items():
            if c != allc:
                miss = sorted(allc - c)
                v = waves[w][j]
                raise MeasurementError(
                    f"ordered item {v!r} has an empty category at wave {w!r}: its thresholds cannot be estimated "
                    "or held equal over the waves (lavaan stops with the same problem)",
                    where=f"column {v!r} (wave {w!r}; the same item at the other waves: "
                          + ", ".join(waves[u][j] for u in wl if u != w) + ")",
                    found="no answer in categor" + ("y " if len(miss) == 1 else "ies ") + ", ".join(map(str, miss)),
                    expected="every category observed at every wave (collapse sparse categories first)")
        if len(allc) < 2:
            raise MeasurementError("an ordered item has a single observed category", where=f"column {waves[wl[0]][j]!r}",
                                   found=f"only {sorted(allc)}", expected="at least 2 categories")
        ncat.append(len(allc))
    return ncat


@dataclass(repr=False)
class LongitudinalInvarianceResult(TableResult):
    """Result of :func:`longitudinal_invariance`: one row per step (``to_frame()``, columns
    :data:`LONGITUDINAL_COLUMNS`).

    Attributes
    ----------
    waves : list of str
        Wave labels, in order.
    items_by_wave : dict
        ``{wave: [items]}``.
    estimator, missing : str
    indices : str
        ``"standard"``, ``"robust"`` or ``"scaled"``: which CFI/TLI/RMSEA the table shows (lavaan's
        ``cfi``, ``cfi.robust`` for MLR/MLM, ``cfi.scaled`` for WLSMV).
    cutoffs : dict
        The decision rule used.
    syntax : dict
        ``{step: lavaan syntax}`` of the fitted models.
    fits : dict
        ``{step: SEMResult}`` (not in ``to_dict()``).
    highest : str
        The most restrictive step of the unbroken run judged invariant (``""`` when even the
        configural model was not estimable).
    decisions : dict
        ``{step: decision}``.
    comparable : bool
        True when scalar invariance holds: scores (latent means, and sum scores under the same
        model) can be compared across waves.
    """

    waves: list = field(default_factory=list)
    items_by_wave: dict = field(default_factory=dict)
    estimator: str = "ML"
    missing: str = "fiml"
    indices: str = "standard"
    cutoffs: dict = field(default_factory=dict)
    syntax: dict = field(default_factory=dict)
    fits: dict = field(default_factory=dict, repr=False)

    _headline = ("highest", "comparable", "estimator", "decisions")
    _title = "Longitudinal measurement invariance"
    _summary_columns = ("step", "chisq", "df", "cfi", "rmsea", "srmr", "delta_chisq", "delta_df", "lrt_pvalue",
                        "delta_cfi", "delta_rmsea", "delta_srmr", "decision")
    _dict_skip = ("fits",)

    @property
    def decisions(self) -> dict:
        return {str(s): str(d) for s, d in zip(self.table["step"], self.table["decision"])}

    @property
    def highest(self) -> str:
        held = ""
        for step, dec in zip(self.table["step"].astype(str), self.table["decision"].astype(str)):
            if dec in ("reference", "invariant"):
                held = step
            else:
                break
        return held

    @property
    def comparable(self) -> bool:
        return self.highest in ("scalar", "strict")

    def sentence(self, scale: str = "the scale") -> str:
        """One sentence for a report: are the scores of ``scale`` comparable across the waves?"""
        nw = len(self.waves)
        h = self.highest
        if not h:
            return f"Longitudinal invariance of {scale} across {nw} waves could not be tested (the configural " \
                   "model was not estimable)."
        rule = (f"delta CFI <= {self.cutoffs.get('delta_cfi', -0.01):g}" if self.cutoffs.get("combine") == "cfi"
                else f"delta CFI <= {self.cutoffs.get('delta_cfi'):g} {self.cutoffs.get('combine')} delta RMSEA >= "
                     f"{self.cutoffs.get('delta_rmsea'):g}")
        if h in ("scalar", "strict"):
            return (f"{scale[:1].upper() + scale[1:]} is {h}-invariant across the {nw} waves ({self.estimator}; "
                    f"{rule} flags a step), so its scores are comparable over time.")
        steps = [str(x) for x in self.table["step"]]
        nxt = steps[steps.index(h) + 1]
        return (f"Only {h} invariance holds for {scale} across the {nw} waves ({self.estimator}; the {nxt} step "
                f"fails by {rule}), so changes in its mean scores over time are not comparable.")

    def _notes(self) -> list:
        notes = [self.sentence()] + [f"{r.step}: {r.reason}" for r in self.table.itertuples() if r.reason]
        if self.estimator == "WLSMV" and "strict" in set(self.table["step"].astype(str)):
            notes.append("strict: residual variances of the latent responses equal over waves, fitted in the theta "
                         "parameterisation")
        return notes


def longitudinal_invariance(data: pd.DataFrame, items_by_wave, *, estimator=None, ordered=None, missing="fiml",
                            cutoffs=None, parameterization=None) -> LongitudinalInvarianceResult:
    """Longitudinal measurement invariance: configural, metric, scalar and strict over the waves of a panel.

    The same factor is measured at each wave (one factor per wave, first item as marker, factor
    covariances free) and the residuals of the same item are correlated across all pairs of waves
    (Widaman, Ferrer & Conger, 2010). Each step adds equality constraints over the waves by labels:
    metric the loadings, scalar the intercepts (the wave-1 factor mean 0, the later ones free), strict
    the residual variances. Each step is compared with the previous one by the likelihood-ratio test
    (``lavaan::lavTestLRT``; for MLR/MLM the Satorra-Bentler (2001) scaled difference, lavTestLRT's
    default for these tests) and by the change in CFI, RMSEA and SRMR. The decision uses the
    vocabulary of :func:`efficacy.measurement.invariance`: ``"reference"``, ``"invariant"``, ``"not
    invariant"`` (by default when delta CFI <= -0.010, Cheung & Rensvold 2002), ``"not estimable"``.
    For MLR/MLM the CFI, TLI and RMSEA in the table (and their deltas) are lavaan's robust versions
    (``cfi.robust``, ``rmsea.robust``; Brosseau-Liard & Savalei, 2014).

    Matches ``lavaan::cfa(longitudinal_syntax(...), meanstructure = TRUE, missing = "ml")`` per step
    (the same syntax), ``fitMeasures`` and ``lavTestLRT``.

    **Ordered items** (``ordered=``; WLSMV, lavaan's delta parameterisation): the longitudinal
    analogue of Wu & Estabrook (2016) described by Liu et al. (2017). Steps ``configural``
    (thresholds free, latent-response intercepts 0, scaling factors 1), ``thresholds`` (each item's
    thresholds equal over the waves; the intercepts and scaling factors of waves 2, 3, ... are then
    free), ``metric`` (+ equal loadings), ``scalar`` (+ equal intercepts: all 0 again, factor
    means of waves 2, 3, ... free) and ``strict`` (+ equal residual variances of the latent
    responses). Residual variances are parameters only in lavaan's theta parameterisation, so the
    strict step is fitted under theta (residual variances fixed at 1 at every wave, as wave 1's),
    the others under delta (``parameterization=None``; "theta" fits every step under theta: the
    same fits, estimates on the theta scale). The fits equal ``lavaan::cfa(measEq.syntax(...),
    ordered =, estimator = "WLSMV", parameterization =)`` with
    ``semTools::measEq.syntax(configural.model, ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016",
    parameterization =, longFacNames =, longIndNames =, long.equal = c("thresholds", "loadings",
    "intercepts", "residuals"))`` (marker identification here: the same fit); the difference test
    is lavaan's DWLS test (``lavTestLRT``, method "satorra.2000", scale-shifted; it does not depend
    on the parameterisation, so the delta scalar fit against the theta strict fit gives lavaan's
    theta-against-theta test), and the CFI, TLI and RMSEA columns are the scaled ones
    (``cfi.scaled``: lavaan gives no robust CFI once thresholds are equal).

    Parameters
    ----------
    data : pandas.DataFrame
        Wide data, one row per person.
    items_by_wave : dict or list
        ``{wave: [items]}`` (or a list of item lists), item j of every wave being the same question,
        in wave order. At least 2 waves and 2 items per wave.
    estimator : {"ML", "MLR", "MLM", "WLSMV"} or None
        None: "ML", or "WLSMV" with ``ordered``. MLR adds robust standard errors, the Yuan-Bentler
        scaled test and the scaled difference tests (for skewed Likert items with 5 or more
        categories treated as continuous).
    ordered : True, list of str or None
        Ordered-categorical items (lavaan ``ordered=``): True, or a list naming every item of
        every wave (mixing ordered and continuous items is not supported). Every item must show the
        same categories at every wave.
    missing : {"fiml", "listwise", "pairwise"}
        "fiml" (default; lavaan ``missing = "ml"``) uses every person with at least one answer,
        under missing at random: panels lose people at later waves. With ordered items "fiml"
        means "pairwise" (thresholds and polychoric correlations from all available answers,
        lavaan ``missing = "pairwise"``; lavaan has no FIML for WLSMV); "listwise" is lavaan's
        default for categorical data.
    cutoffs : dict, optional
        ``{"delta_cfi": -0.010, "delta_rmsea": 0.015, "combine": "cfi"}``; ``combine`` "cfi" (the
        default: delta CFI alone), "and" or "or" (with delta RMSEA, Chen 2007).
    parameterization : {None, "delta", "theta"}
        Ordered items only (lavaan ``parameterization=``): None or "delta" fit configural to scalar
        under delta and strict under theta; "theta" fits every step under theta.

    Returns
    -------
    LongitudinalInvarianceResult
        ``to_frame()``: one row per step (:data:`LONGITUDINAL_COLUMNS`); ``highest``, ``comparable``,
        ``sentence()``; ``fits`` holds the fitted models (parameter tables in ``fits[step].estimates``).

    Raises
    ------
    MeasurementError
        Fewer than 2 waves, a wave without every item, a column missing from the data or used twice,
        an unknown estimator, WLSMV without ``ordered`` (or ``ordered`` with another estimator), an
        ordered item with a category unused at one wave (named with its wave).

    References
    ----------
    Widaman, K. F., Ferrer, E., & Conger, R. D. (2010). Factorial invariance within longitudinal
    structural equation models: Measuring the same construct across time. *Child Development
    Perspectives, 4*(1), 10-18.
    Liu, Y., Millsap, R. E., West, S. G., Tein, J.-Y., Tanaka, R., & Grimm, K. J. (2017). Testing
    measurement invariance in longitudinal data with ordered-categorical measures. *Psychological
    Methods, 22*(3), 486-506.
    Cheung, G. W., & Rensvold, R. B. (2002). Evaluating goodness-of-fit indexes for testing measurement
    invariance. *Structural Equation Modeling, 9*(2), 233-255.
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement invariance.
    *Structural Equation Modeling, 14*(3), 464-504.
    Satorra, A., & Bentler, P. M. (2001). A scaled difference chi-square test statistic for moment
    structure analysis. *Psychometrika, 66*(4), 507-514.
    Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor analysis models of
    different levels of invariance for ordered categorical outcomes. *Psychometrika, 81*, 1014-1045.
    Satorra, A. (2000). Scaled and adjusted restricted tests in multi-sample analysis of moment
    structures. In *Innovations in multivariate statistical analysis* (pp. 233-247). Kluwer.

    Examples
    --------
    >>> waves = {"w1": ["se1_w1", "se2_w1", "se3_w1"], "w2": ["se1_w2", "se2_w2", "se3_w2"]}
    >>> res = longitudinal_invariance(df, waves, estimator="MLR")   # doctest: +SKIP
    >>> res.highest, res.sentence()                                  # doctest: +SKIP
    >>> longitudinal_invariance(df, waves, ordered=True).to_frame()  # doctest: +SKIP
    """
    is_ord = ordered is not None and ordered is not False
    est = ("WLSMV" if is_ord else "ML") if estimator is None else str(estimator).upper()
    if est not in ("ML", "MLR", "MLM", "WLSMV"):
        raise MeasurementError("unknown estimator for longitudinal invariance", found=repr(estimator),
                               expected="'ML', 'MLR', 'MLM' or 'WLSMV'")
    if est == "WLSMV" and not is_ord:
        raise MeasurementError("estimator='WLSMV' needs the ordered items", found="ordered=None",
                               expected="ordered=True or the list of items")
    if is_ord and est != "WLSMV":
        raise MeasurementError("ordered items are fitted by WLSMV", found=f"estimator={estimator!r}",
                               expected="estimator='WLSMV' or None")
    if is_ord:   # lavaan has no FIML for categorical data: pairwise-present statistics use every answer
        miss = "pairwise" if missing in ("fiml", "ml", "FIML", "pairwise") else missing
        if miss not in ("pairwise", "listwise"):
            raise MeasurementError("unknown missing-data method for ordered items", found=repr(missing),
                                   expected="'pairwise' (the default; 'fiml' means pairwise here) or 'listwise'")
    else:
        miss = "fiml" if missing in ("fiml", "ml", "FIML") else missing
        if miss not in ("fiml", "listwise"):
            raise MeasurementError("unknown missing-data method", found=repr(missing),
                                   expected="'fiml' or 'listwise'")
    cut = {**DEFAULT_CUTOFFS, **(cutoffs or {})}
    if cut["combine"] not in ("and", "or", "cfi"):
        raise MeasurementError("cutoffs['combine'] must be 'cfi', 'and' or 'or'", found=repr(cut["combine"]))
    waves = _check_waves(data, items_by_wave)
    if parameterization not in (None,) + _PARAMETERIZATIONS:
        raise MeasurementError("unknown parameterization for ordered items", found=repr(parameterization),
                               expected="None, 'delta' or 'theta'")
    if parameterization is not None and not is_ord:
        raise MeasurementError("parameterization= applies to ordered items (WLSMV)",
                               found=f"parameterization={parameterization!r}", expected="ordered= items or None")
    par_of = {s: ("theta" if s == "strict" or parameterization == "theta" else "delta") for s in ORDINAL_STEPS}
    robust = est != "ML"
    suffix = ".scaled" if est == "WLSMV" else ".robust" if robust else ""
    if is_ord:
        ncat = _check_ordinal_waves(data, waves, ordered, miss)
        steps = ORDINAL_STEPS
        syntax = {s: longitudinal_syntax(waves, s, ordered=True, n_categories=ncat, parameterization=par_of[s])
                  for s in steps}
    else:
        steps = LONGITUDINAL_STEPS
        syntax = {s: longitudinal_syntax(waves, s) for s in steps}
    wl = list(waves)
    k = len(waves[wl[0]])
    later = [v for w in wl[1:] for v in waves[w]]
    cols = [v for w in wl for v in waves[w]]

    def fit(step):
        if not is_ord:
            return _sem(data, syntax[step], auto="cfa", meanstructure=True, missing=miss, estimator=est, se=robust)
        level = ORDINAL_STEPS.index(step)
        par = par_of[step]
        kw = {}
        if level >= 1:   # Wu & Estabrook: equal thresholds free the intercepts and scales (delta) or residual
            # variances (theta) of waves 2, 3, ...; equal intercepts fix them again, equal residuals likewise
            kw = {"equal_thresholds": [[waves[w][j] for w in wl] for j in range(k)],
                  "free_intercepts": later if level < 3 else []}
            if par == "theta":
                kw["free_residuals"] = later if level < 4 else []
            else:
                kw["free_scales"] = later
        rows_ = parse_model(_ordinal_syntax(waves, step, "f", None, engine=True))
        return fit_wlsmv(data[cols], rows_, ordered=True, missing=miss, auto="cfa", parameterization=par, **kw)

    fits, rows = {}, []
    prev = None
    for step in steps:
        r = {c: np.nan for c in LONGITUDINAL_COLUMNS}
        r.update(step=step, decision="", reason="")
        try:
            res = fit(step)
        except (np.linalg.LinAlgError, ValueError) as exc:  # a numerical failure: a row with its reason
            res = None
            r.update(converged=False, proper=False, decision="not estimable", reason=f"{type(exc).__name__}: {exc}")
        if res is not None:
            fits[step] = res
            f = res.fit
            if not res.converged:
                r.update(converged=False, proper=False, decision="not estimable", reason="; ".join(res.warnings))
            else:
                r.update(chisq=f["chisq"], df=f["df"], pvalue=f.get("pvalue", np.nan),
                         chisq_scaled=f.get("chisq.scaled", np.nan), scaling_factor=f.get("chisq.scaling.factor",
                                                                                           np.nan),
                         cfi=f.get("cfi" + suffix, np.nan), tli=f.get("tli" + suffix, np.nan),
                         rmsea=f.get("rmsea" + suffix, np.nan), srmr=f.get("srmr", np.nan), aic=f.get("aic", np.nan),
                         bic=f.get("bic", np.nan), converged=True, proper=bool(res.proper),
                         reason="; ".join(res.warnings))
        if r["decision"] == "":
            if prev is None:
                r["decision"] = "reference"
            elif not prev["converged"]:
                r["decision"] = "not tested (previous step not estimable)"
            else:
                lrt = lrt_difference(fits[prev["step"]], fits[step])
                r.update(delta_chisq=lrt["delta_chisq"], delta_df=lrt["delta_df"], lrt_pvalue=lrt["pvalue"], delta_cfi=r["cfi"] - prev["cfi"],
                         delta_rmsea=r["rmsea"] - prev["rmsea"], delta_srmr=r["srmr"] - prev["srmr"])
                r["decision"] = ("not invariant" if _noninvariant(r["delta_cfi"], r["delta_rmsea"], cut)
                                 else "invariant")
        rows.append(r)
        prev = r
    out = pd.DataFrame(rows, columns=LONGITUDINAL_COLUMNS)
    out["converged"] = out["converged"].astype(bool)
    out["proper"] = out["proper"].astype(bool)
    return LongitudinalInvarianceResult(out, waves=list(waves), items_by_wave=waves, estimator=est, missing=miss,
                                        indices="scaled" if est == "WLSMV" else "robust" if robust else "standard",
                                        cutoffs=cut, syntax=syntax,
                                        fits=fits)
