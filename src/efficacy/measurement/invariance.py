"""Measurement invariance across groups: configural / metric / scalar / strict with LRTs, decisions by
change in fit, and a search for partial invariance (issue #4)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._api import check_columns
from ..errors import MeasurementError
from ..results import TableResult
from ..sem.engine import (
    parse_model,
)
from .cfa import _lrt, _scales_to_syntax, cfa

# =========================================================================== invariance (issue #4)

INVARIANCE_COLUMNS = ["step", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "delta_chisq",
                      "delta_df", "lrt_pvalue", "delta_cfi", "delta_rmsea", "decision", "freed", "converged",
                      "proper", "reason"]
_STEP_EQUAL = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
               "strict": ("loadings", "intercepts", "residuals")}
DEFAULT_CUTOFFS = {"delta_cfi": -0.010, "delta_rmsea": 0.015, "combine": "and"}



def _noninvariant(d_cfi, d_rmsea, cutoffs) -> bool:
    cfi_bad = d_cfi <= cutoffs["delta_cfi"]
    rmsea_bad = d_rmsea >= cutoffs["delta_rmsea"]
    comb = cutoffs.get("combine", "and")
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
    highest : str
        The most restrictive step that holds (``"configural"``, ``"metric"``, ``"scalar"``,
        ``"partial_scalar"`` or ``"strict"``): the last of the unbroken run of steps judged
        invariant; ``""`` when even the configural model was not estimable.
    decisions : dict
        ``{step: decision}``.
    """

    group: str = ""

    _headline = ("group", "highest", "decisions")
    _title = "Measurement invariance (Chen, 2007)"
    _summary_columns = ("step", "chisq", "df", "cfi", "rmsea", "srmr", "delta_chisq", "delta_df", "lrt_pvalue",
                        "delta_cfi", "delta_rmsea", "decision", "freed")

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


def invariance(data: pd.DataFrame, model, group: str, *,
               levels=("configural", "metric", "scalar", "strict"), cutoffs=None, missing: str = "listwise",
               find_partial: bool = True, max_free: int | None = None) -> InvarianceResult:
    """Measurement invariance across groups: configural, metric, scalar, strict (Meredith, 1993).

    Each step is a multi-group CFA (:func:`cfa` with lavaan ``group.equal``) compared with the
    previous step by the likelihood-ratio test (``lavaan::lavTestLRT``) and by the change in CFI and
    RMSEA. Decision per Chen (2007): a step is ``"not invariant"`` when delta CFI <= -0.010
    ``combine`` delta RMSEA >= 0.015 (``combine`` "and" (default, the issue's rule), "or", or "cfi"
    for the CFI criterion alone). When the scalar step fails and ``find_partial``, intercepts are
    freed one at a time (``group.partial``): every still-constrained intercept is freed in turn, the
    one whose freeing lowers chi-square most (largest LRT statistic) is kept, and this repeats until
    the model passes against the metric step (a ``partial_scalar`` row, freed parameters in
    ``freed``), or no factor would keep two constrained intercepts. A following ``strict`` step then
    keeps those intercepts free and is compared with ``partial_scalar``.

    Non-converged models are rows with NaN fit and ``decision = "not estimable"`` with the reason.

    Parameters
    ----------
    data : pandas.DataFrame
    model : str or dict
        lavaan syntax or ``{factor: [items]}``.
    group : str
        Grouping column.
    levels : sequence of str
        Steps, in order, from "configural", "metric", "scalar", "strict".
    cutoffs : dict, optional
        ``{"delta_cfi": -0.010, "delta_rmsea": 0.015, "combine": "and"}``.
    missing : {"listwise", "fiml"}

    Returns
    -------
    InvarianceResult
        ``to_frame()``: one row per step, columns :data:`INVARIANCE_COLUMNS`; fit numbers match
        ``lavaan::cfa(..., group.equal=)`` and LRT p-values ``lavaan::lavTestLRT``. ``highest``
        names the most restrictive level that holds.

    References
    ----------
    Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement invariance.
    *Structural Equation Modeling, 14*(3), 464-504.

    Examples
    --------
    >>> invariance(hs, "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6", "school")  # doctest: +SKIP
    """
    cut = {**DEFAULT_CUTOFFS, **(cutoffs or {})}
    if cut["combine"] not in ("and", "or", "cfi"):
        raise MeasurementError("cutoffs['combine'] must be 'and', 'or' or 'cfi'", found=repr(cut["combine"]))
    levels = list(levels)
    bad = [s for s in levels if s not in _STEP_EQUAL]
    if bad or not levels:
        raise MeasurementError("unknown invariance step(s)", found=repr(bad or levels),
                               expected="configural, metric, scalar, strict")
    check_columns(data, [("group", group)], error=MeasurementError)
    syntax = _scales_to_syntax(model) if isinstance(model, dict) else str(model)
    ind = _indicators(syntax)
    rows = []
    prev = None
    freed: list = []

    def fit(step, partial):
        try:
            return cfa(data, syntax, group=group, equal=_STEP_EQUAL[step], partial=tuple(partial), missing=missing,
                       se=False)  # the invariance table uses fit measures only
        except np.linalg.LinAlgError as e:  # numerical failure: a row with the reason
            return str(e)

    def row(step, res, prev_res, partial):
        r = {c: np.nan for c in INVARIANCE_COLUMNS}
        r.update(step=step, freed=", ".join(partial), decision="")
        if isinstance(res, str) or not res.converged:
            r.update(converged=False, proper=False, decision="not estimable",
                     reason=res if isinstance(res, str) else res.reason)
            return r, False
        for k in ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
            r[k] = res.fit[k]
        r.update(converged=True, proper=res.proper, reason=res.reason)
        if prev_res is None:
            r["decision"] = "reference"
            return r, True
        if isinstance(prev_res, str) or not prev_res.converged:
            r["decision"] = "not tested (previous step not estimable)"
            return r, False
        d, ddf, p = _lrt(res, prev_res)
        r.update(delta_chisq=d, delta_df=ddf, lrt_pvalue=p, delta_cfi=res.fit["cfi"] - prev_res.fit["cfi"],
                 delta_rmsea=res.fit["rmsea"] - prev_res.fit["rmsea"])
        ok = not _noninvariant(r["delta_cfi"], r["delta_rmsea"], cut)
        r["decision"] = "invariant" if ok else "not invariant"
        return r, ok

    for step in levels:
        part = freed if step == "strict" else []
        res = fit(step, part)
        r, ok = row(step, res, prev, part)
        rows.append(r)
        base = prev
        prev = res
        if step == "scalar" and not ok and find_partial and r["converged"] and base is not None \
                and not isinstance(base, str) and base.converged:
            cur = res
            limit = max_free if max_free is not None else np.inf
            while len(freed) < limit:
                cands = [f"{v} ~ 1" for f, items in ind.items() for v in items
                         if f"{v} ~ 1" not in freed
                         and sum(f"{u} ~ 1" not in freed for u in items) > 2]
                best = None
                for c in cands:
                    trial = fit("scalar", freed + [c])
                    if isinstance(trial, str) or not trial.converged:
                        continue
                    drop = cur.fit["chisq"] - trial.fit["chisq"]
                    if best is None or drop > best[0]:
                        best = (drop, c, trial)
                if best is None:
                    break
                freed.append(best[1])
                cur = best[2]
                r2, ok2 = row("partial_scalar", cur, base, freed)
                if ok2:
                    break
            if freed:
                r2, _ = row("partial_scalar", cur, base, freed)
                rows.append(r2)
                prev = cur
    out = pd.DataFrame(rows, columns=INVARIANCE_COLUMNS)
    out["converged"] = out["converged"].astype(bool)
    out["proper"] = out["proper"].astype(bool)
    out["reason"] = out["reason"].fillna("").astype(str)
    return InvarianceResult(out, group=group)


