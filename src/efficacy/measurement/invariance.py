"""Measurement invariance across groups: configural / metric / scalar / strict (continuous items, ML,
MLR, MLM) or the Wu & Estabrook (2016) sequence for ordered items (WLSMV; its strict step in lavaan's
theta parameterisation; ordered items beside continuous ones under delta), with (scaled) difference tests, decisions by change in fit, and a search for
partial invariance by score tests (issues #4, #18)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._api import check_columns
from ..errors import MeasurementError
from ..results import TableResult
from ..sem.engine import parse_model
from ..sem.engine import sem as _sem
from ..sem.lrt import LRT_METHODS, lrt_difference, score_test
from .cfa import _lrt, _scales_to_syntax, cfa  # noqa: F401  (_lrt: kept for callers of the old name)

# =========================================================================== invariance (issues #4, #18)

INVARIANCE_COLUMNS = ["step", "chisq", "df", "pvalue", "chisq_scaled", "pvalue_scaled", "cfi", "tli", "rmsea",
                      "srmr", "aic", "bic", "delta_chisq", "delta_df", "lrt_pvalue", "lrt_method", "delta_cfi",
                      "delta_rmsea", "delta_srmr", "indices", "decision", "freed", "freed_by", "converged", "proper",
                      "reason"]
#: columns of :attr:`InvarianceResult.partial_search`
PARTIAL_SEARCH_COLUMNS = ["round", "parameter", "test", "statistic", "df", "pvalue", "chisq", "delta_cfi",
                          "delta_rmsea", "decision"]
_STEP_EQUAL = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
               "strict": ("loadings", "intercepts", "residuals")}
#: Wu & Estabrook (2016) sequence for ordered items (semTools::measEq.syntax group.equal); strict is fitted in
#: the theta parameterisation (residual variances of the latent responses are not parameters under delta)
_STEP_EQUAL_ORDINAL = {"configural": (), "thresholds": ("thresholds",), "metric": ("thresholds", "loadings"),
                       "scalar": ("thresholds", "loadings", "intercepts"),
                       "strict": ("thresholds", "loadings", "intercepts", "residuals")}
_PARAMETERIZATIONS = ("delta", "theta")
DEFAULT_CUTOFFS = {"delta_cfi": -0.010, "delta_rmsea": 0.015, "combine": "cfi"}
#: the CFI / TLI / RMSEA the decision uses, per estimator
_INDICES = {"ML": ("cfi", "tli", "rmsea"), "MLR": ("cfi.robust", "tli.robust", "rmsea.robust"),
            "MLM": ("cfi.robust", "tli.robust", "rmsea.robust"), "WLSMV": ("cfi.scaled", "tli.scaled", "rmsea.scaled")}
_PARTIAL_METHODS = ("score", "chisq")


def _noninvariant(d_cfi, d_rmsea, cutoffs) -> bool:
    cfi_bad = d_cfi <= cutoffs["delta_cfi"]
    rmsea_bad = d_rmsea >= cutoffs["delta_rmsea"]
    comb = cutoffs.get("combine", "cfi")
    if comb == "and":
        return bool(cfi_bad and rmsea_bad)
    if comb == "or":
        return bool(cfi_bad or rmsea_bad)
    return bool(cfi_bad)  # "cfi"


def _indicators(model: str) -> dict:
    out: dict = {}
    for lhs, op, rhs, mod in parse_model(model):
        if op == "=~":
            out.setdefault(lhs, []).append(rhs)
    return out


@dataclass(repr=False)
class InvarianceResult(TableResult):
    """Result of :func:`invariance`: one row per step (``to_frame()``, columns :data:`INVARIANCE_COLUMNS`).

    Attributes
    ----------
    group : str
        The grouping column.
    estimator : str
        "ML", "MLR", "MLM" or "WLSMV".
    indices : str
        The fit indices in the ``cfi`` / ``tli`` / ``rmsea`` columns and behind the decisions:
        "cfi, tli, rmsea" (ML), "cfi.robust, tli.robust, rmsea.robust" (MLR, MLM) or "cfi.scaled,
        tli.scaled, rmsea.scaled" (WLSMV).
    partial_search : pandas.DataFrame
        One row per freed parameter of the partial-invariance search (columns
        :data:`PARTIAL_SEARCH_COLUMNS`): the test that freed it (``"score"``: lavaan
        ``lavTestScore``; ``"chisq"``: largest drop in chi-square), its statistic, df and p, and the
        fit of the model after freeing it against the metric step.
    highest : str
        The most restrictive step that holds (``"configural"``, ``"thresholds"``, ``"metric"``,
        ``"scalar"``, ``"partial_scalar"`` or ``"strict"``): the last of the unbroken run of steps
        judged invariant; ``""`` when even the configural model was not estimable.
    decisions : dict
        ``{step: decision}``.
    mixed : bool
        WLSMV with continuous indicators beside the ordered items (strict then constrains the continuous
        indicators' residual variances only).
    """

    group: str = ""
    estimator: str = "ML"
    indices: str = "cfi, tli, rmsea"
    partial_search: pd.DataFrame = field(default=None, repr=False)
    mixed: bool = False

    _headline = ("group", "estimator", "highest", "decisions")
    _title = "Measurement invariance"
    _summary_columns = ("step", "chisq", "df", "chisq_scaled", "cfi", "rmsea", "srmr", "delta_chisq", "delta_df",
                        "lrt_pvalue", "delta_cfi", "delta_rmsea", "delta_srmr", "decision", "freed")

    @property
    def decisions(self) -> dict:
        return {str(s): str(d) for s, d in zip(self.table["step"], self.table["decision"])}

    @property
    def highest(self) -> str:
        held = ""
        failed_scalar = False
        for step, dec in zip(self.table["step"].astype(str), self.table["decision"].astype(str)):
            if dec in ("reference", "invariant"):
                if step == "strict" and failed_scalar and held != "partial_scalar":
                    break
                held = step
            elif step == "scalar" and dec == "not invariant":
                failed_scalar = True   # a partial_scalar row may follow
            else:
                break
        return held

    def _notes(self) -> list:
        notes = [f"fit indices: {self.indices}; delta_chisq: "
                 + ", ".join(sorted({str(m) for m in self.table["lrt_method"] if isinstance(m, str) and m}))]
        if self.partial_search is not None and len(self.partial_search):
            notes.append("freed: " + "; ".join(self.table["freed_by"].dropna().astype(str).iloc[-1:]))
        if self.estimator == "WLSMV" and "strict" in set(self.table["step"].astype(str)):
            notes.append("strict: residual variances of the continuous indicators equal (delta parameterisation; "
                         "the ordered items' are not parameters)" if self.mixed else
                         "strict: residual variances of the latent responses equal, fitted in the theta "
                         "parameterisation")
        return notes


def _check_ordinal_categories(data, obs, ordered, group, missing):
    """Every ordered item must show the same categories in every group (else thresholds are not comparable)."""
    items = obs if ordered is True else [v for v in ([ordered] if isinstance(ordered, str) else list(ordered))]
    levels = list(pd.unique(data[group].dropna()))
    frames = []
    for lev in levels:
        fr = data.loc[data[group] == lev, [v for v in obs if v in data.columns]]
        frames.append(fr.dropna() if missing == "listwise" else fr)
    for v in items:
        if v not in data.columns:
            continue
        per = [set(pd.unique(fr[v].dropna())) for fr in frames]
        allc = set().union(*per)
        for lev, c in zip(levels, per):
            if c != allc:
                miss = sorted(allc - c, key=lambda x: (str(type(x)), x))
                raise MeasurementError(
                    f"ordered item {v!r} has an empty category in group {group} = {lev!r}: its thresholds cannot "
                    "be estimated or compared across groups (lavaan stops with the same problem)",
                    where=f"column {v!r}, {group} = {lev!r}",
                    found="no answer in categor" + ("y " if len(miss) == 1 else "ies ") + ", ".join(map(str, miss)),
                    expected="every category observed in every group (collapse sparse categories first)")


def invariance(data: pd.DataFrame, model, group: str, *, levels=None, cutoffs=None, missing: str = "listwise",
               find_partial: bool = True, max_free: int | None = None, estimator: str | None = None,
               ordered=None, cluster: str | None = None, lrt_method: str = "default",
               partial_method: str = "score", parameterization: str | None = None) -> InvarianceResult:
    """Measurement invariance across groups (Meredith, 1993; Wu & Estabrook, 2016).

    Each step is a multi-group CFA (:func:`cfa` with lavaan ``group.equal``) compared with the
    previous step by a chi-square difference test (``lavaan::lavTestLRT``) and by the changes in
    CFI, RMSEA and SRMR.

    * Continuous items (``estimator`` "ML", "MLR" or "MLM"): configural, metric (loadings),
      scalar (+ intercepts), strict (+ residual variances); marker identification (lavaan's
      default). The difference test is the likelihood-ratio test for ML and the scaled difference
      of Satorra & Bentler (2010) for MLR / MLM (``lrt_method``; "satorra.bentler.2001" is
      lavaan's default and also available).
    * Ordered items (``ordered``; estimator "WLSMV"): configural, thresholds, metric (thresholds +
      loadings), scalar (+ intercepts of the latent responses), strict (+ residual variances of the
      latent responses), in the identification of Wu & Estabrook (2016) as
      ``semTools::measEq.syntax(ID.fac = "std.lv", ID.cat = "Wu.Estabrook.2016", parameterization =
      )`` writes it (same fit as the marker identification used here); the difference test is
      lavaan's DWLS test (Satorra, 2000, scale-shifted). Residual variances are parameters only in
      lavaan's theta parameterisation, so the strict step is fitted under theta (residual variances
      fixed at 1 in every group, as group 1's; the earlier steps free them in groups 2, 3, ...
      there) and the others under delta (``parameterization=None``); the two parameterisations give
      the same fit for the earlier steps, and the difference test does not depend on it, so strict
      against (partial) scalar equals lavaan's theta-against-theta ``lavTestLRT``.
    * Ordered items beside continuous indicators (``ordered`` naming some of the indicators; WLSMV
      on lavaan's mixed moments, :mod:`efficacy.sem.wls_mixed`): the same sequence, every step under
      delta, as ``measEq.syntax`` writes a mixed model: the thresholds step constrains the ordered
      items' thresholds only, metric all loadings, scalar the continuous indicators' intercepts with
      the ordered items' latent-response intercepts (0 again); strict constrains the residual
      variances of the continuous indicators (the ordered items' are not parameters under delta,
      and the theta parameterisation needs every indicator ordered; the strict row's ``reason`` says
      so). The partial search considers both kinds of intercepts.

    **Decision.** A step is ``"not invariant"`` when delta CFI <= -0.010 (Cheung & Rensvold, 2002;
    ``combine="cfi"``, the default). ``combine="and"`` adds delta RMSEA >= 0.015 (Chen, 2007:
    both must hold) and ``"or"`` either. The table always shows the (scaled) difference test and
    delta CFI, RMSEA and SRMR, so readers can apply another rule. For MLR / MLM the indices are the
    robust ones (``cfi.robust``, ``rmsea.robust``; Brosseau-Liard & Savalei, 2014), for WLSMV the
    scaled ones (``cfi.scaled``, ``rmsea.scaled``: lavaan 0.6 gives no robust CFI once thresholds
    are equal); the ``indices`` column says which.

    **Partial invariance.** When the scalar step fails and ``find_partial``, intercepts are
    released one at a time as semTools users do: the univariate score tests of the intercept
    equality constraints (``lavaan::lavTestScore(fit)$uni``; with more than two groups one test
    with G - 1 df per item) are computed on the current model, the largest is freed
    (``group.partial``), the model refitted, and this repeats until the model passes against the
    metric step (a ``partial_scalar`` row, freed parameters in ``freed`` and the tests that freed
    them in ``freed_by`` and :attr:`InvarianceResult.partial_search`), or no factor would keep two
    constrained intercepts. For WLSMV the score test is lavaan's DWLS score test (as
    ``lavTestScore`` computes it for the loading and threshold constraints of such a fit) of
    freeing a latent-response intercept in groups 2, 3, ... (measEq.syntax fixes these intercepts
    at 0, so lavaan itself offers no constraint to release). ``partial_method="chisq"`` frees
    instead the intercept whose release lowers chi-square most (each candidate refitted). A
    following ``strict`` step keeps the freed intercepts free and is compared with
    ``partial_scalar``.

    Non-converged models are rows with NaN fit and ``decision = "not estimable"`` with the reason.

    Parameters
    ----------
    data : pandas.DataFrame
    model : str or dict
        lavaan syntax or ``{factor: [items]}``.
    group : str
        Grouping column.
    levels : sequence of str, optional
        Steps, in order. Default ("configural", "metric", "scalar", "strict"), or with ``ordered``
        ("configural", "thresholds", "metric", "scalar", "strict").
    cutoffs : dict, optional
        ``{"delta_cfi": -0.010, "delta_rmsea": 0.015, "combine": "cfi"}``.
    missing : {"listwise", "fiml", "pairwise"}
        "fiml" for ML / MLR; "listwise" or "pairwise" for WLSMV.
    find_partial : bool
    max_free : int, optional
        At most this many intercepts freed.
    estimator : {"ML", "MLR", "MLM", "WLSMV"} or None
        None: "ML", or "WLSMV" with ``ordered``.
    ordered : True, list of str or None
        Ordered-categorical items (lavaan ``ordered=``; True = all indicators).
    cluster : str, optional
        Cluster column (cluster-robust test, MLR / MLM / WLSMV).
    lrt_method : str
        "default" ("standard" for ML, "satorra.bentler.2010" for MLR / MLM, "satorra.2000" for
        WLSMV) or one of lavaan's ``lavTestLRT`` methods ("satorra.bentler.2001", ...).
    partial_method : {"score", "chisq"}
        How the partial-invariance search picks the next intercept.
    parameterization : {None, "delta", "theta"}
        Ordered items only (lavaan ``parameterization=``): None or "delta" fit the steps up to
        (partial) scalar under delta and strict under theta; "theta" fits every step under theta
        (the same fits and tests; estimates on the theta scale).

    Returns
    -------
    InvarianceResult
        ``to_frame()``: one row per step, columns :data:`INVARIANCE_COLUMNS`; fit numbers match
        ``lavaan::cfa(..., group.equal=, estimator=)`` (ordinal: the measEq.syntax fits), difference
        tests ``lavaan::lavTestLRT``, score tests ``lavaan::lavTestScore``. ``highest`` names the
        most restrictive level that holds.

    Raises
    ------
    MeasurementError
        Unknown step or rule, ``parameterization`` without ordered items, or an ordered item with a
        category that one group never uses.

    References
    ----------
    Cheung, G. W., & Rensvold, R. B. (2002). Evaluating goodness-of-fit indexes for testing
    measurement invariance. *Structural Equation Modeling, 9*(2), 233-255.
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement invariance.
    *Structural Equation Modeling, 14*(3), 464-504.
    Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor analysis models of
    different levels of invariance for ordered categorical outcomes. *Psychometrika, 81*, 1014-1045.
    Satorra, A., & Bentler, P. M. (2010). Ensuring positiveness of the scaled difference chi-square
    test statistic. *Psychometrika, 75*, 243-248.

    Examples
    --------
    >>> invariance(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6", "school")  # doctest: +SKIP
    >>> invariance(hs, model, "school", estimator="MLR").summary()                      # doctest: +SKIP
    >>> invariance(likert, model, "country", ordered=True)                              # doctest: +SKIP
    """
    cut = {**DEFAULT_CUTOFFS, **(cutoffs or {})}
    if cut["combine"] not in ("and", "or", "cfi"):
        raise MeasurementError("cutoffs['combine'] must be 'and', 'or' or 'cfi'", found=repr(cut["combine"]))
    if partial_method not in _PARTIAL_METHODS:
        raise MeasurementError("unknown partial_method", found=repr(partial_method), expected="'score' or 'chisq'")
    if lrt_method != "default" and lrt_method not in LRT_METHODS:
        raise MeasurementError("unknown lrt_method", found=repr(lrt_method),
                               expected="'default' or one of " + ", ".join(LRT_METHODS))
    is_ord = ordered not in (None, False)
    est = (estimator or ("WLSMV" if is_ord else "ML")).upper()
    if est not in _INDICES:
        raise MeasurementError("unknown estimator", found=repr(estimator), expected="'ML', 'MLR', 'MLM' or 'WLSMV'")
    if est == "WLSMV" and not is_ord:
        raise MeasurementError("estimator='WLSMV' needs the ordered items", found="ordered=None",
                               expected="ordered=True or a list of items")
    if is_ord and est != "WLSMV":
        raise MeasurementError("ordered items are fitted by WLSMV", found=f"estimator={estimator!r}",
                               expected="estimator='WLSMV' or None")
    if parameterization not in (None,) + _PARAMETERIZATIONS:
        raise MeasurementError("unknown parameterization", found=repr(parameterization),
                               expected="None, 'delta' or 'theta' (ordered items)")
    if parameterization is not None and not is_ord:
        raise MeasurementError("parameterization= applies to ordered items (WLSMV)",
                               found=f"parameterization={parameterization!r}", expected="ordered= items or None")
    step_equal = _STEP_EQUAL_ORDINAL if is_ord else _STEP_EQUAL
    if levels is None:
        levels = tuple(step_equal)
    levels = list(levels)
    bad = [s for s in levels if s not in step_equal]
    if bad or not levels:
        raise MeasurementError("unknown invariance step(s)", found=repr(bad or levels),
                               expected=", ".join(step_equal))
    check_columns(data, [("group", group)], error=MeasurementError)
    syntax = _scales_to_syntax(model) if isinstance(model, dict) else str(model)
    ind = _indicators(syntax)
    mixed = False   # ordered items beside continuous indicators (WLSMV on mixed moments, delta only)
    if is_ord:
        obs = list(dict.fromkeys(v for items in ind.values() for v in items))
        _check_ordinal_categories(data, obs, ordered, group, missing)
        if ordered is not True:
            names = [ordered] if isinstance(ordered, str) else list(ordered)
            mixed = any(v not in names for v in obs)
        if mixed and parameterization == "theta":
            raise MeasurementError("the theta parameterisation needs every indicator ordered; a model with "
                                   "continuous indicators beside ordered ones is fitted under delta",
                                   found="continuous: " + ", ".join(v for v in obs if v not in names),
                                   expected="parameterization=None or 'delta', or ordered=True")
    if lrt_method == "default":
        lrt_method = {"ML": "standard", "MLR": "satorra.bentler.2010", "MLM": "satorra.bentler.2010",
                      "WLSMV": "satorra.2000"}[est]
    idx_keys = _INDICES[est]
    indices = ", ".join(idx_keys)
    use_score = partial_method == "score"
    rows = []
    prev = None
    freed: list = []
    freed_by: list = []
    search: list = []

    def par_of(step):   # ordered items: strict needs the theta parameterisation (mixed models: delta throughout)
        if not is_ord or mixed:
            return "delta"
        return "theta" if step == "strict" or parameterization == "theta" else "delta"

    def fit(step, partial):
        try:
            return cfa(data, syntax, group=group, equal=step_equal[step], partial=tuple(partial), missing=missing,
                       se=False, estimator=est, ordered=ordered if is_ord else None, cluster=cluster,
                       parameterization=par_of(step))
        except np.linalg.LinAlgError as e:  # numerical failure: a row with the reason
            return str(e)

    def usable(res):
        return res is not None and not isinstance(res, str) and res.converged

    def difference(prev_res, res):
        m10 = None
        try:
            if lrt_method == "satorra.bentler.2010" and est in ("MLR", "MLM"):
                m10 = _sem(data, syntax, group=group, equal=prev_res.equal, partial=prev_res.partial,
                           missing=missing, auto="cfa", estimator=est, cluster=cluster, se=False,
                           at=res.estimates)
            return lrt_difference(prev_res.sem, res.sem, method=lrt_method, m10=m10)
        except np.linalg.LinAlgError:
            return {"delta_chisq": np.nan, "delta_df": res.fit["df"] - prev_res.fit["df"], "pvalue": np.nan,
                    "method": lrt_method}

    def row(step, res, prev_res, partial, by=""):
        r = {c: np.nan for c in INVARIANCE_COLUMNS}
        r.update(step=step, freed=", ".join(partial), freed_by=by, decision="", indices=indices, lrt_method="")
        if not usable(res):
            r.update(converged=False, proper=False, decision="not estimable",
                     reason=res if isinstance(res, str) else res.reason)
            return r, False
        f = res.fit
        r.update(chisq=f["chisq"], df=f["df"], pvalue=f["pvalue"], chisq_scaled=f.get("chisq.scaled", np.nan),
                 pvalue_scaled=f.get("pvalue.scaled", np.nan), cfi=f.get(idx_keys[0], np.nan),
                 tli=f.get(idx_keys[1], np.nan), rmsea=f.get(idx_keys[2], np.nan), srmr=f["srmr"],
                 aic=f.get("aic", np.nan), bic=f.get("bic", np.nan))
        r.update(converged=True, proper=res.proper, reason=res.reason)
        if prev_res is None:
            r["decision"] = "reference"
            return r, True
        if not usable(prev_res):
            r["decision"] = "not tested (previous step not estimable)"
            return r, False
        d = difference(prev_res, res)
        pf = prev_res.fit
        r.update(delta_chisq=d["delta_chisq"], delta_df=d["delta_df"], lrt_pvalue=d["pvalue"], lrt_method=d["method"],
                 delta_cfi=f.get(idx_keys[0], np.nan) - pf.get(idx_keys[0], np.nan),
                 delta_rmsea=f.get(idx_keys[2], np.nan) - pf.get(idx_keys[2], np.nan),
                 delta_srmr=f["srmr"] - pf["srmr"])
        need = [r["delta_cfi"]] + ([r["delta_rmsea"]] if cut["combine"] != "cfi" else [])
        if not np.all(np.isfinite(need)):
            r["decision"] = f"not tested ({idx_keys[0]} / {idx_keys[2]} not available)"
            return r, False
        ok = not _noninvariant(r["delta_cfi"], r["delta_rmsea"], cut)
        r["decision"] = "invariant" if ok else "not invariant"
        return r, ok

    def candidates():
        return [f"{v} ~ 1" for f, items in ind.items() for v in items
                if f"{v} ~ 1" not in freed and sum(f"{u} ~ 1" not in freed for u in items) > 2]

    def next_by_score(cur):
        best = None
        for c in candidates():
            try:
                rel = _sem(data, syntax, group=group, equal=step_equal["scalar"], partial=tuple(freed + [c]),
                           missing=missing, auto="cfa", estimator="WLSMV" if is_ord else "ML",
                           ordered=ordered if is_ord else None, se=(missing == "fiml"), at=cur.estimates,
                           parameterization=par_of("scalar"))
                st = score_test(cur.sem, rel)
            except np.linalg.LinAlgError:
                continue
            if np.isfinite(st["statistic"]) and (best is None or st["statistic"] > best[0]):
                best = (st["statistic"], c, st)
        if best is None:
            return None
        trial = fit("scalar", freed + [best[1]])
        return (best[1], trial, "score", best[2]) if usable(trial) else None

    def next_by_chisq(cur):
        best = None
        for c in candidates():
            trial = fit("scalar", freed + [c])
            if not usable(trial):
                continue
            drop = cur.fit["chisq"] - trial.fit["chisq"]
            if best is None or drop > best[0]:
                best = (drop, c, trial)
        if best is None:
            return None
        ddf = best[2].fit["df"] - cur.fit["df"]
        st = {"statistic": best[0], "df": -ddf, "pvalue": np.nan}
        return best[1], best[2], "chisq", st

    strict_note = ""
    if mixed:   # delta: only the continuous indicators have residual variances to constrain
        strict_note = ("strict for a mixed model: residual variances of the continuous indicators (" +
                       ", ".join(v for v in obs if v not in names) + ") equal across groups; the ordered items' "
                       "residual variances are not parameters in the delta parameterisation (theta needs every "
                       "indicator ordered)")
    for step in levels:
        part = freed if step == "strict" else []
        res = fit(step, part)
        r, _ = row(step, res, prev, part, "; ".join(freed_by) if step == "strict" else "")
        if step == "strict" and strict_note:
            r["reason"] = "; ".join(x for x in (r["reason"], strict_note) if isinstance(x, str) and x)
        rows.append(r)
        base = prev
        prev = res
        if step == "scalar" and r["decision"] == "not invariant" and find_partial and usable(base):
            cur = res
            limit = max_free if max_free is not None else np.inf
            while len(freed) < limit:
                nxt = next_by_score(cur) if use_score else next_by_chisq(cur)
                if nxt is None:
                    break
                c, cur, test, st = nxt
                freed.append(c)
                label = "score" if test == "score" else "chi-square drop"
                freed_by.append(f"{c}: {label} {st['statistic']:.3f} (df {st['df']}"
                                + (f", p = {st['pvalue']:.3g})" if np.isfinite(st["pvalue"]) else ")"))
                r2, ok2 = row("partial_scalar", cur, base, freed)
                search.append({"round": len(freed), "parameter": c, "test": test, "statistic": st["statistic"],
                               "df": st["df"], "pvalue": st["pvalue"], "chisq": cur.fit["chisq"],
                               "delta_cfi": r2["delta_cfi"], "delta_rmsea": r2["delta_rmsea"],
                               "decision": r2["decision"]})
                if ok2:
                    break
            if freed:
                r2, _ = row("partial_scalar", cur, base, freed, "; ".join(freed_by))
                rows.append(r2)
                prev = cur
    out = pd.DataFrame(rows, columns=INVARIANCE_COLUMNS)
    out["converged"] = out["converged"].astype(bool)
    out["proper"] = out["proper"].astype(bool)
    for c in ("reason", "freed", "freed_by", "lrt_method", "indices"):
        out[c] = out[c].fillna("").astype(str)
    return InvarianceResult(out, group=group, estimator=est, indices=indices,
                            partial_search=pd.DataFrame(search, columns=PARTIAL_SEARCH_COLUMNS), mixed=mixed)
