"""The workflow's ``measurement`` stage for one study (issue #4)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EfficacyError
from .cfa import FIT_KEYS, _scales_to_syntax, cfa
from .discriminant import DISCRIMINANT_COLUMNS, _discriminant
from .invariance import INVARIANCE_COLUMNS, _indicators, invariance

# =========================================================================== workflow stage (issue #4)

DISCRIMINANT_CONSTRUCTS = ("self_efficacy", "outcome_expectation", "self_esteem")
CFA_FIT_COLUMNS = ["model", "scales", *FIT_KEYS, "npar", "converged", "proper", "reason"]


def _safe_cfa(data, model, **kw):
    try:
        return cfa(data, model, **kw), ""
    except (EfficacyError, np.linalg.LinAlgError) as e:
        return None, f"{type(e).__name__}: {e}"


def _fit_row(label, scales, res, err):
    row = {c: np.nan for c in CFA_FIT_COLUMNS}
    row.update(model=label, scales=", ".join(scales), converged=False, proper=False, reason=err)
    if res is not None:
        row.update(res.fit)
        row.update(npar=res.sem.fit.get("npar", np.nan), converged=res.converged, proper=res.proper,
                   reason=res.reason)
    return row


def stage_groups(codebook) -> list:
    """Grouping columns the ``measurement`` stage writes ``invariance_<group>.csv`` for."""
    return list(codebook.groups or [])


def run_stage(clean: pd.DataFrame, codebook, *, model: str | None = None, missing: str = "fiml",
              n_boot: int = 1000, ci_level: float = 0.95, htmt_method: str = "geometric",
              delta_cfi: float = -0.010, delta_rmsea: float = 0.015, combine: str = "cfi",
              find_partial: bool = True, min_items: int = 3, groups=None, seed=None, parts=None,
              max_joint_items: int = 60) -> dict:
    """The workflow's ``measurement`` stage for one study.

    - ``cfa_fit``: one CFA with a factor per multi-item scale (scales with at least ``min_items``
      items; or the lavaan-syntax ``model`` from config), then one single-factor CFA per scale;
      one row per model with the lavaan fit measures, ``converged``, ``proper`` and ``reason``.
    - ``cfa_estimates``: the parameter table of the joint model (estimate, se, statistic, pvalue, CI,
      std_all).
    - ``discriminant``: :func:`discriminant_validity` among the scales whose construct is
      self_efficacy, outcome_expectation or self_esteem (when at least two of these constructs are
      present; otherwise one row saying why).
    - ``invariance_<group>``: :func:`invariance` of the joint model across each codebook group.

    Failures of one model are rows with a reason, never an exception.

    Parameters
    ----------
    clean : pandas.DataFrame
        ``results/<study>/clean.csv`` (items already reverse-scored).
    codebook : efficacy.codebook.Codebook
    model : str, optional
        lavaan syntax replacing the one-factor-per-scale model.
    missing : {"fiml", "listwise"}
    n_boot, ci_level, htmt_method, seed
        HTMT bootstrap settings.
    delta_cfi, delta_rmsea, combine, find_partial
        Invariance decision rule (see :func:`invariance`).
    min_items : int
        Scales with fewer items are left out of the CFA.
    max_joint_items : int
        Without a config ``model``, the joint CFA of all scales is fitted only up to this many
        items (the full-information fit grows with the cube of the item count); above it the
        ``joint`` row says why and only the one-factor CFAs are fitted. The default (60) fits the
        largest bundled study (mastery_trial: 44 items, 9 factors, FIML) in about 10 s.
    groups : list of str, optional
        Grouping columns (default ``codebook.groups``).
    parts : sequence of str, optional
        Subset of {"cfa", "discriminant", "invariance"} to compute (all by default).

    Returns
    -------
    dict of str to pandas.DataFrame
        Keys ``cfa_fit``, ``cfa_estimates``, ``discriminant``, ``invariance_<group>``.
    """
    parts = set(parts or ("cfa", "discriminant", "invariance"))
    groups = stage_groups(codebook) if groups is None else list(groups)
    scales = {name: list(sc.items) for name, sc in codebook.scales.items()
              if len(sc.items) >= min_items and all(i in clean.columns for i in sc.items)}
    syntax = model.strip() if model else (_scales_to_syntax(scales) if scales else None)
    out = {}
    joint_res = None
    if "cfa" in parts:
        fit_rows, est = [], pd.DataFrame()
        n_joint = sum(len(v) for v in _indicators(syntax).values()) if syntax is not None else 0
        if syntax is None:
            fit_rows.append(_fit_row("joint", [], None, f"no scale with at least {min_items} items"))
        elif not model and n_joint > max_joint_items:
            fit_rows.append(_fit_row("joint", list(scales), None,
                                     f"joint model not fitted: {n_joint} items > max_joint_items "
                                     f"({max_joint_items}); raise measurement.max_joint_items or give a model"))
        else:
            res, err = _safe_cfa(clean, syntax, missing=missing)
            joint_res = None if model else res  # the one-factor-per-scale CFA, reused by discriminant
            fit_rows.append(_fit_row("joint", list(_indicators(syntax)), res, err))
            if res is not None and res.converged:
                est = res.to_frame()
                est.insert(0, "model", "joint")
        if syntax is not None and not model:  # one-factor CFA per scale, after the joint row
            for name, items in scales.items():
                r1, e1 = _safe_cfa(clean, {name: items}, missing=missing, se=False)  # fit row only
                fit_rows.append(_fit_row(name, [name], r1, e1))
        out["cfa_fit"] = pd.DataFrame(fit_rows, columns=CFA_FIT_COLUMNS)
        est_cols = ["model", "lhs", "op", "rhs", "group", "label", "free", "estimate", "se", "statistic", "pvalue",
                    "ci_low", "ci_high", "std_all"]
        out["cfa_estimates"] = est.reindex(columns=est_cols)
    if "discriminant" in parts:
        dscales = {name: items for name, items in scales.items()
                   if codebook.scales[name].construct in DISCRIMINANT_CONSTRUCTS}
        constructs = {codebook.scales[n].construct for n in dscales}
        if len(constructs) < 2:
            row = {c: np.nan for c in DISCRIMINANT_COLUMNS}
            row.update(scale_1="", scale_2="", converged=False, proper=False,
                       reason="fewer than two of the constructs self_efficacy, outcome_expectation, self_esteem "
                              f"have a scale with at least {min_items} items")
            tab = pd.DataFrame([row], columns=DISCRIMINANT_COLUMNS)
        else:
            try:
                # the stage's joint CFA when it is the same model (every scale is a discriminant one);
                # otherwise a fit without standard errors, which the table does not use
                same = joint_res is not None and list(dscales) == list(scales)
                tab = _discriminant(clean, dscales, n_boot=n_boot, seed=seed, ci_level=ci_level, method=htmt_method,
                                    missing=missing, joint=joint_res if same else None,
                                    joint_se=False).to_frame()
            except (EfficacyError, np.linalg.LinAlgError) as e:
                row = {c: np.nan for c in DISCRIMINANT_COLUMNS}
                row.update(scale_1=", ".join(dscales), scale_2="", converged=False, proper=False,
                           reason=f"{type(e).__name__}: {e}")
                tab = pd.DataFrame([row], columns=DISCRIMINANT_COLUMNS)
        tab.insert(2, "construct_1", [codebook.scales[s].construct if s in codebook.scales else "" for s in tab.scale_1])
        tab.insert(3, "construct_2", [codebook.scales[s].construct if s in codebook.scales else "" for s in tab.scale_2])
        out["discriminant"] = tab
    if "invariance" in parts:
        for g in groups:
            if syntax is None:
                tab = pd.DataFrame([{"step": "configural", "converged": False, "proper": False,
                                     "reason": f"no scale with at least {min_items} items"}],
                                   columns=INVARIANCE_COLUMNS)
            else:
                try:
                    tab = invariance(clean, syntax, g, missing=missing, find_partial=find_partial,
                                     cutoffs={"delta_cfi": delta_cfi, "delta_rmsea": delta_rmsea,
                                              "combine": combine}).to_frame()
                except EfficacyError as e:
                    tab = pd.DataFrame([{"step": "configural", "decision": "not estimable", "converged": False,
                                         "proper": False, "reason": f"{type(e).__name__}: {e}"}],
                                       columns=INVARIANCE_COLUMNS)
            tab.insert(0, "group", g)
            out[f"invariance_{g}"] = tab
    return out
