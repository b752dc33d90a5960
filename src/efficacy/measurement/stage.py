"""The workflow's ``measurement`` stage for one study (issue #4)."""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from ..errors import EfficacyError
from ..estimator_choice import EstimatorChoice, missing_for, model_choice, scale_choice
from ..sem.engine import sem as _sem
from .cfa import FIT_KEYS, ROBUST_FIT_KEYS, CFAResult, _reason, _scales_to_syntax, cfa
from .discriminant import DISCRIMINANT_COLUMNS, _discriminant
from .invariance import INVARIANCE_COLUMNS, _indicators, invariance

# =========================================================================== workflow stage (issue #4)

DISCRIMINANT_CONSTRUCTS = ("self_efficacy", "outcome_expectation", "self_esteem")
CFA_FIT_COLUMNS = ["model", "scales", "estimator", "test", "missing", *FIT_KEYS, *ROBUST_FIT_KEYS, "npar",
                   "converged", "proper", "estimator_reason", "reason"]
#: parameters of :func:`invariance`: the stage passes the codebook's estimator only when it takes one
_INVARIANCE_PARAMS = frozenset(inspect.signature(invariance).parameters)


def _cluster_cfa(data, model, *, missing, estimator, cluster, se=True, ordered=None):
    """:func:`cfa` with cluster-robust standard errors and test (lavaan ``cluster=``; WLSMV with ``ordered``)."""
    syntax = _scales_to_syntax(model) if isinstance(model, dict) else str(model)
    res = _sem(data, syntax, missing=missing, auto="cfa", estimator=estimator, se=se, cluster=cluster,
               ordered=ordered)
    keys = FIT_KEYS + tuple(k for k in ROBUST_FIT_KEYS if k in res.fit)
    fit = {k: res.fit.get(k, np.nan) for k in keys}
    if not res.converged:
        fit = {k: (fit["n"] if k == "n" else np.nan) for k in keys}
    return CFAResult(syntax, None, (), (), res.missing, bool(res.converged), bool(res.proper), _reason(res), fit,
                     res.estimates, res, data)


def _safe_cfa(data, model, choice: EstimatorChoice | None = None, *, missing="fiml", **kw):
    """The CFA with the codebook's estimator (``choice``); an error is returned as its text."""
    choice = choice or EstimatorChoice()
    try:
        miss = missing_for(choice, missing)
        if choice.cluster:
            return _cluster_cfa(data, model, missing=miss, estimator=choice.estimator, cluster=choice.cluster,
                                ordered=choice.ordered_arg, **kw), ""
        return cfa(data, model, missing=miss, estimator=choice.estimator, ordered=choice.ordered_arg, **kw), ""
    except (EfficacyError, np.linalg.LinAlgError) as e:
        return None, f"{type(e).__name__}: {e}"


def _fit_row(label, scales, res, err, choice: EstimatorChoice | None = None):
    row = {c: np.nan for c in CFA_FIT_COLUMNS}
    row.update(model=label, scales=", ".join(scales), converged=False, proper=False, reason=err)
    if choice is not None:
        row.update(estimator=choice.estimator, estimator_reason=choice.reason)
    if res is not None:
        row.update({k: v for k, v in res.fit.items() if k in row})
        s = res.sem
        # a polychoric correlation at its bound (+-0.999: no interior maximum, e.g. identical items) leaves the
        # WLSMV fit on a degenerate correlation matrix: not a proper solution, as a singular ML fit is not
        degenerate = s.estimator == "WLSMV" and any("estimate at the bound" in w for w in s.warnings)
        row.update(npar=s.fit.get("npar", np.nan), converged=res.converged, proper=res.proper and not degenerate,
                   reason=res.reason, estimator=s.estimator, missing=res.missing,
                   test=s.test + (f", cluster = {s.cluster}" if getattr(s, "cluster", None) else ""))
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
      Each model is fitted with the estimator the codebook asks for
      (:mod:`efficacy.estimator_choice`): WLSMV with ordered indicators for an ordinal scale
      (``missing="fiml"`` becomes pairwise polychoric correlations), WLSMV with the ordinal scales'
      items ordered and the others continuous for a model mixing ordinal and continuous scales
      (:mod:`efficacy.sem.wls_mixed`) (cluster-robust WLSMV when a ``cluster`` is declared),
      cluster-robust MLR when a ``cluster`` is declared for continuous scales, ML otherwise; the row says which (``estimator``, lavaan's ``test``, ``missing``,
      ``estimator_reason``) and carries lavaan's scaled/robust fit measures (``chisq.scaled``,
      ``cfi.robust``, ``rmsea.robust``, ...) when the estimator is robust.
    - ``cfa_estimates``: the parameter table of the joint model (estimate, se, statistic, pvalue, CI,
      std_all).
    - ``discriminant``: :func:`discriminant_validity` among the scales whose construct is
      self_efficacy, outcome_expectation or self_esteem (when at least two of these constructs are
      present; otherwise one row saying why).
    - ``invariance_<group>``: :func:`invariance` of the joint model across each codebook group,
      with the joint model's estimator when :func:`invariance` takes an ``estimator`` argument
      (ML otherwise; the ``estimator_reason`` column says so). The discriminant-validity table
      stays normal-theory ML (HTMT and ML chi-square difference tests).

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
        largest bundled study (mastery_trial: 44 items, 9 factors, FIML) in about 1 s of CPU (analytic observed information, 2026-12).
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
    # the codebook's estimator for the joint model: the scales whose items it holds (estimator_choice)
    ind_items = {v for items in _indicators(syntax).values() for v in items} if syntax is not None else set()
    used = [n for n, sc in codebook.scales.items() if set(sc.items) & ind_items]
    joint_choice = (model_choice(codebook, used, items=ind_items) if used
                    else EstimatorChoice("ML", False, None, "no codebook scale item in the model -> ML"))
    if "cfa" in parts:
        fit_rows, est = [], pd.DataFrame()
        n_joint = sum(len(v) for v in _indicators(syntax).values()) if syntax is not None else 0
        if syntax is None:
            fit_rows.append(_fit_row("joint", [], None, f"no scale with at least {min_items} items"))
        elif not model and n_joint > max_joint_items:
            fit_rows.append(_fit_row("joint", list(scales), None,
                                     f"joint model not fitted: {n_joint} items > max_joint_items "
                                     f"({max_joint_items}); raise measurement.max_joint_items or give a model",
                                     joint_choice))
        else:
            res, err = _safe_cfa(clean, syntax, joint_choice, missing=missing)
            # the one-factor-per-scale CFA, reused by discriminant (its ML estimates: not a WLSMV fit)
            joint_res = None if model or joint_choice.estimator == "WLSMV" else res
            fit_rows.append(_fit_row("joint", list(_indicators(syntax)), res, err, joint_choice))
            if res is not None and res.converged:
                est = res.to_frame()
                est.insert(0, "model", "joint")
        if syntax is not None and not model:  # one-factor CFA per scale, after the joint row
            for name, items in scales.items():
                ch = scale_choice(codebook, name)
                r1, e1 = _safe_cfa(clean, {name: items}, ch, missing=missing, se=False)  # fit row only
                fit_rows.append(_fit_row(name, [name], r1, e1, ch))
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
            kw, inv_est = {}, "ML"
            if "estimator" in _INVARIANCE_PARAMS:   # the codebook's estimator, once invariance takes one
                inv_est = joint_choice.estimator
                kw["estimator"] = inv_est
                if joint_choice.ordered and "ordered" in _INVARIANCE_PARAMS:
                    kw["ordered"] = joint_choice.ordered_arg
                if joint_choice.cluster and "cluster" in _INVARIANCE_PARAMS:
                    kw["cluster"] = joint_choice.cluster
            if syntax is None:
                tab = pd.DataFrame([{"step": "configural", "converged": False, "proper": False,
                                     "reason": f"no scale with at least {min_items} items"}],
                                   columns=INVARIANCE_COLUMNS)
            else:
                try:
                    tab = invariance(clean, syntax, g, missing=missing_for(joint_choice, missing) if kw else missing,
                                     find_partial=find_partial,
                                     cutoffs={"delta_cfi": delta_cfi, "delta_rmsea": delta_rmsea,
                                              "combine": combine}, **kw).to_frame()
                except EfficacyError as e:
                    tab = pd.DataFrame([{"step": "configural", "decision": "not estimable", "converged": False,
                                         "proper": False, "reason": f"{type(e).__name__}: {e}"}],
                                       columns=INVARIANCE_COLUMNS)
            tab.insert(0, "group", g)
            tab["estimator"] = inv_est
            tab["estimator_reason"] = (joint_choice.reason if inv_est != "ML" or joint_choice.estimator == "ML"
                                       else f"ML: the invariance routine takes no estimator yet (the codebook "
                                            f"asks {joint_choice.estimator}: {joint_choice.reason})")
            out[f"invariance_{g}"] = tab
    return out
