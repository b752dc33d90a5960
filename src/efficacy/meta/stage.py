"""The meta-analysis stage of the workflow: literature tables in, pooled tables out.

:func:`load_tables` reads the configured literature tables (with their codebooks);
:func:`run_analysis` computes effect sizes, pools them, and runs the diagnostics, small-study and
multilevel analyses, subgroup analyses, MASEM (Becker's GLS route) and TSSEM (Cheung & Chan's
two-stage SEM) the configuration asks for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import MetaError
from .bias import egger_test, pet_peese, trim_and_fill
from .selection import ranktest, selection_model
from .effect_sizes import escalc, transf
from .masem import masem
from .multilevel import three_level
from .tssem import tssem
from .univariate import cumulative, influence, leave_one_out, random_effects, subgroup

__all__ = ["run_analysis", "load_tables"]


# --------------------------------------------------------------------------- workflow entry point
_LABEL_COLUMNS = ("study", "author", "authors", "trial", "label")

_ES_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ti", "Fi", "ri", "ni", "ai", "bi", "ci", "di")


def _indirect_rows(tables, outcome=None):
    """One row per study from each study's mediation table: the (total) indirect effect and its SE.

    The row is the one with ``effect == "indirect"`` for ``outcome`` (default: the first outcome
    that has one); with several parallel mediators it is the ``mediator == "total"`` row, never
    one mediator's specific indirect effect. Studies without such a row get NA and a reason.
    """
    rows = []
    for study, t in sorted(tables.items()):
        reason = ""
        hit = None
        if not {"effect", "estimate"} <= set(t.columns):
            reason = "mediation table has no effect/estimate columns"
        else:
            ind = t[t["effect"].astype(str).str.lower() == "indirect"]
            if outcome is not None and "outcome" in ind:
                ind = ind[ind["outcome"].astype(str) == str(outcome)]
            elif "outcome" in ind and len(ind):
                ind = ind[ind["outcome"] == ind["outcome"].iloc[0]]
            if ind.empty:
                reason = "no indirect-effect row" + (f" for outcome {outcome!r}" if outcome is not None else "")
            elif len(ind) == 1:
                hit = ind.iloc[0]
            else:
                tot = ind[ind.get("mediator", pd.Series("", index=ind.index)).astype(str) == "total"]
                if len(tot) == 1:
                    hit = tot.iloc[0]
                else:
                    reason = f"{len(ind)} indirect rows and no single mediator == 'total' row"
        if hit is None:
            rows.append({"study": study, "yi": np.nan, "vi": np.nan, "reason": reason})
            continue
        se = float(hit.get("se", np.nan))
        if not np.isfinite(se) and {"ci_low", "ci_high"} <= set(hit.index):
            se = (hit["ci_high"] - hit["ci_low"]) / (2 * stats.norm.ppf(0.975))
        rows.append({"study": study, "yi": float(hit["estimate"]), "vi": se ** 2, "reason": ""})
    return pd.DataFrame(rows)


def _correlation_rows(tables, x, y, pairs=None):
    """One row per study: Pearson r between columns ``x`` and ``y`` of its clean table, and n."""
    rows = []
    x0, y0 = x, y
    for study, t in sorted(tables.items()):
        x, y = (pairs or {}).get(study, (x0, y0))
        if x not in t or y not in t:
            rows.append({"study": study, "ri": np.nan, "ni": np.nan, "reason": f"no columns {x!r} and {y!r}"})
            continue
        d = t[[x, y]].dropna()
        rows.append({"study": study, "ri": float(np.corrcoef(d[x], d[y])[0, 1]) if len(d) > 3 else np.nan,
                     "ni": float(len(d)), "reason": "" if len(d) > 3 else "n <= 3"})
    return pd.DataFrame(rows)


def _na_tables(name, reason):
    row = pd.DataFrame({"analysis": [name], "reason": [reason]})
    return {"summary": row, "studies": row.copy(), "diagnostics": row.copy(), "bias": row.copy()}


def _reason_row(name, reason):
    return pd.DataFrame({"analysis": [name], "reason": [reason]})


def _lavaan_syntax(model):
    """A MASEM path model ``{outcome: [predictors]}`` as lavaan syntax (strings pass through)."""
    if isinstance(model, str):
        return model
    if isinstance(model, dict):
        return "\n".join(f"{out} ~ {' + '.join(map(str, preds))}" for out, preds in model.items())
    raise MetaError("a TSSEM model is lavaan syntax or {outcome: [predictors]}", where="model",
                    found=type(model).__name__)


def _run_tssem(spec, tables, name, level, cols):
    """The ``tssem`` source: Cheung & Chan's two-stage SEM of a long correlation table."""
    d = tables["input"]
    none = {"masem": _reason_row(name, "not a MASEM (Becker GLS) analysis: see tssem.csv"),
            "subgroup": _reason_row(name, "no subgroup analysis for a TSSEM source"),
            "diagnostics": _reason_row(name, "not computed for TSSEM input"),
            "bias": _reason_row(name, "not computed for TSSEM input")}
    method = str(spec.get("method", "REML")).upper()
    try:
        if method not in ("REML", "ML"):
            raise MetaError("TSSEM stage 1 is fitted by REML or ML", where=f"meta.analyses {name}: method",
                            found=repr(spec.get("method")), expected="REML or ML")
        if not spec.get("model"):
            raise MetaError("a TSSEM analysis needs a model", where=f"meta.analyses {name}: model",
                            expected="lavaan syntax, e.g. 'conf ~ acog + asom'")
        res = tssem(d, _lavaan_syntax(spec["model"]), acov=spec.get("acov", "weighted"),
                    struct=spec.get("struct", "UN"), method=method, ci_method=spec.get("ci", "LB"), ci_level=level,
                    **cols)
    except MetaError as err:
        row = _reason_row(name, str(err))
        return {"tssem": row, "summary": row.copy(), "studies": row.copy(), **none}
    tab = res.to_frame()
    tab.insert(0, "analysis", name)
    tab["reason"] = "; ".join(x for x in [res.reason] if x)
    s1 = res.stage1
    summ = s1.pooled.rename(columns={"pair": "term"}).assign(
        analysis=name, method=s1.method, struct=s1.struct, acov=s1.acov_type, Q=s1.Q, Q_df=s1.Q_df,
        Q_pvalue=s1.Q_pvalue, n_studies=s1.k, n_total=s1.n_total,
        reason="; ".join(["dropped " + x for x in s1.dropped] + ([s1.reason] if s1.reason else [])))
    summ = summ[["analysis"] + [c for c in summ.columns if c != "analysis"]]
    c = {"ri": "ri", "ni": "ni", "var1": "var1", "var2": "var2", "study": "study", **cols}
    studies = pd.DataFrame({"analysis": name, "study": d[c["study"]].to_numpy(),
                            "pair": d[c["var1"]].astype(str) + "." + d[c["var2"]].astype(str),
                            "yi": d[c["ri"]].to_numpy(), "ni": d[c["ni"]].to_numpy()})
    return {"tssem": tab, "summary": summ, "studies": studies, **none}


def _subgroup_table(spec, d, name, method, test, level, measure):
    """Per-level pooled estimates and the Q-between test (``rma(mods = ~ factor(g))``'s QM)."""
    g = spec.get("subgroup")
    if not g:
        return _reason_row(name, "no subgroup configured (meta.analyses subgroup: <column>)")
    if g not in d:
        return _reason_row(name, f"subgroup column {g!r} not in the table")
    dd = d[d[g].notna()]
    if dd[g].nunique() < 2:
        return _reason_row(name, f"subgroup column {g!r} has fewer than two levels")
    try:
        sg = subgroup(dd, "yi", "vi", g, method=method, test=test, ci_level=level).to_frame()
    except MetaError as err:
        return _reason_row(name, f"subgroup {g!r}: {err}")
    sg.insert(0, "subgroup", g)
    sg.insert(0, "analysis", name)
    sg["measure"] = measure
    per = sg["group"].astype(str) != "between"
    for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        sg[f"{c}_transf"] = np.where(per, transf(sg[c].to_numpy(float), measure), np.nan)
    sg["test"] = np.where(per, test, "QM chi2" if test == "z" else "QM F")
    return sg


def _selection_rows(base):
    """Rank test (Begg & Mazumdar 1994) and the three-parameter selection model (Vevea & Hedges 1995) rows
    of the bias table. The one-sided p-values point in the direction of the pooled effect ("greater" for a
    positive estimate, metafor's default; "less" for a negative one), so the model asks whether effects in
    the expected direction that reached p < .025 were more likely to be published."""
    rows = []
    try:
        rt = ranktest(base)
        rows += [("ranktest", "tau", rt.tau, "exact" if rt.exact else "normal approximation"),
                 ("ranktest", "pvalue", rt.pvalue, "")]
    except MetaError as err:
        rows += [("ranktest", "reason", np.nan, str(err))]
    alternative = "greater" if base.estimate >= 0 else "less"
    try:
        sm = selection_model(yi=base.yi, vi=base.vi, type="stepfun", steps=(0.025, 1), alternative=alternative,
                             ci_level=base.ci_level)
        detail = f"3PSM, one-sided p ({alternative}), cut at .025" + (f"; {sm.reason}" if sm.reason else "")
        rows += [("selection_3psm", "estimate", sm.estimate, detail),
                 ("selection_3psm", "ci_low", sm.ci_low, detail), ("selection_3psm", "ci_high", sm.ci_high, detail),
                 ("selection_3psm", "tau2", sm.tau2, detail), ("selection_3psm", "delta", float(sm.delta[-1]), detail),
                 ("selection_3psm", "lrt", sm.lrt, detail), ("selection_3psm", "lrt_pvalue", sm.lrt_pvalue, detail)]
    except MetaError as err:  # SelectionError: an empty p-value interval, too few studies
        rows += [("selection_3psm", "reason", np.nan, str(err))]
    return rows


def run_analysis(spec, tables):
    """Run one configured meta-analysis and return its output tables (the ``meta`` workflow stage).

    Parameters
    ----------
    spec : dict
        ``name``; ``source``: ``"table"`` (a literature table, ``tables["input"]``),
        ``"indirect"`` (each study's indirect effect from ``results/<study>/mediation.csv``,
        ``tables`` = {study: mediation table}), ``"efficacy_behavior_r"`` (each study's
        correlation between columns ``x`` and ``y`` of its ``clean.csv``; ``tables`` =
        {study: clean table}), ``"masem"`` (a long correlation table, ``tables["input"]``: Becker's
        GLS route) or ``"tssem"`` (the same table: two-stage SEM, :func:`efficacy.meta.tssem.tssem`);
        ``measure`` (an :func:`escalc` measure, or ``"GEN"`` when the table already has
        ``yi``/``vi``); ``columns``: mapping of escalc argument -> column name; ``method``,
        ``test``, ``level``; ``moderators`` (column names); ``label`` (study label column);
        ``order`` (column for the cumulative analysis; default precision); ``cluster``
        (study column for a three-level model); ``model`` (MASEM path model
        ``{outcome: [predictors]}``; for TSSEM also lavaan syntax); ``acov``, ``struct``, ``ci``
        (TSSEM options, see :func:`efficacy.meta.tssem.tssem`); ``subgroup`` (a categorical column:
        per-level models and the Q-between test, :func:`efficacy.meta.univariate.subgroup`).
    tables : dict of pandas.DataFrame

    Returns
    -------
    dict
        ``summary`` (one row per coefficient with the model's heterogeneity statistics and
        back-transformed estimate), ``studies`` (per-study ``yi``, ``vi``, CI and weight, plus
        trim-and-fill imputed studies with ``filled = True``), ``diagnostics`` (leave-one-out,
        influence and cumulative results per study), ``bias`` (Egger, trim and fill, PET-PEESE, the rank test and the three-parameter selection model),
        ``masem`` (MASEM analyses), ``tssem`` (TSSEM analyses: stage-1 pooled correlations,
        stage-2 estimates, defined effects and fit) and ``subgroup`` (per-level estimates and the
        ``between`` row); tables that do not apply hold one row with the ``reason``. A statistical
        failure gives rows with a ``reason``.
    """
    name = spec["name"]
    source = spec.get("source", "table")
    method = spec.get("method", "REML")
    test = spec.get("test", "z")
    level = float(spec.get("level", 0.95))
    measure = str(spec.get("measure", "GEN")).upper()
    cols = dict(spec.get("columns") or {})
    if source == "masem":
        d = tables["input"]
        res = masem(d, spec["model"], ci_level=level, **cols)
        mt = res.to_frame()
        mt.insert(0, "analysis", name)
        out = {"masem": mt}
        # each correlation pooled on its own (univariate, Fisher z not used: raw r as in stage 1)
        d2 = d.dropna(subset=[cols.get("ri", "ri")]).copy()
        d2["pair"] = d2[cols.get("var1", "var1")].astype(str) + "." + d2[cols.get("var2", "var2")].astype(str)
        es = escalc(d2, "COR", ri=cols.get("ri", "ri"), ni=cols.get("ni", "ni"))
        rows = []
        for pair, g in es.groupby("pair", sort=True):
            try:
                r = random_effects(g, method=method, test=test, ci_level=level)
                rows.append(r.coef_table.iloc[0].to_dict() | {"term": pair, "k": r.k, "tau2": r.tau2, "I2": r.I2,
                                                              "Q": r.Q, "Q_pvalue": r.Q_pvalue, "pi_low": r.pi_low,
                                                              "pi_high": r.pi_high, "reason": ""})
            except MetaError as err:
                rows.append({"term": pair, "k": len(g), "reason": str(err)})
        summ = pd.DataFrame(rows)
        summ.insert(0, "analysis", name)
        out["summary"] = summ
        out["studies"] = es.assign(analysis=name, weight=np.nan)
        out["diagnostics"] = pd.DataFrame({"analysis": [name], "reason": ["not computed for MASEM input"]})
        out["bias"] = out["diagnostics"].copy()
        n_note = pd.DataFrame({"analysis": [name], "table": ["info"], "pair": ["n_harmonic"],
                               "estimate": [res.n_harmonic]})
        out["masem"] = pd.concat([out["masem"], n_note], ignore_index=True)
        out["tssem"] = _reason_row(name, "not a TSSEM analysis (source: tssem)")
        out["subgroup"] = _reason_row(name, "no subgroup analysis for a MASEM source")
        return out
    if source == "tssem":
        return _run_tssem(spec, tables, name, level, cols)
    out = _run_univariate(spec, tables, name, source, method, test, level, measure, cols)
    out["masem"] = pd.DataFrame({"analysis": [name], "reason": ["not a MASEM analysis"]})
    out["tssem"] = _reason_row(name, "not a TSSEM analysis (source: tssem)")
    out.setdefault("subgroup", _reason_row(name, "not computed: the meta-analysis failed (see summary.csv)"
                                           if spec.get("subgroup") else
                                           "no subgroup configured (meta.analyses subgroup: <column>)"))
    return out


def _run_univariate(spec, tables, name, source, method, test, level, measure, cols):
    if source == "indirect":
        d = _indirect_rows(tables, spec.get("outcome"))
        measure = "GEN"
    elif source == "efficacy_behavior_r":
        d = _correlation_rows(tables, spec.get("x") or "efficacy", spec.get("y") or "behavior", spec.get("pairs"))
        measure = measure if measure in ("COR", "ZCOR") else "ZCOR"
        cols = {"ri": "ri", "ni": "ni"}
    else:
        d = tables["input"].copy()
    label_col = spec.get("label") or next((c for c in _LABEL_COLUMNS if c in d), None)
    labels = d[label_col].astype(str).to_numpy() if label_col else np.arange(1, len(d) + 1).astype(str)
    if measure != "GEN":
        d = escalc(d, measure, **cols)
    elif "note" not in d:
        d["note"] = None
    keep = d["yi"].notna() & d["vi"].notna()
    dropped = [f"{labels[i]}: {d['reason'].iloc[i] if 'reason' in d and d['reason'].iloc[i] else 'missing yi/vi'}"
               for i in np.flatnonzero(~keep.to_numpy())]
    d, labels = d[keep].reset_index(drop=True), labels[keep.to_numpy()]
    mods = list(spec.get("moderators") or [])
    try:
        if spec.get("cluster"):
            res3 = three_level(d, "yi", "vi", spec["cluster"], spec.get("es_id"), mods=mods or None,
                               robust=True, ci_level=level)
            summ = res3.to_frame().assign(analysis=name, k=res3.k, n_clusters=res3.n_clusters, reason="")
            studies = d.assign(study=labels, analysis=name)
            none = pd.DataFrame({"analysis": [name], "reason": ["not computed for the three-level model"]})
            return {"summary": summ, "studies": studies, "diagnostics": none, "bias": none.copy(),
                    "subgroup": _subgroup_table(spec, d, name, method, test, level, measure)}
        fit = random_effects(d, "yi", "vi", method=method, test=test, mods=mods or None, ci_level=level,
                             labels=labels)
    except MetaError as err:
        return _na_tables(name, str(err))
    summ = fit.coef_table.copy()
    model_stats = {"k": fit.k, "method": fit.method, "test": fit.test, "measure": measure, "tau2": fit.tau2,
                   "tau2_ci_low": fit.tau2_ci[0], "tau2_ci_high": fit.tau2_ci[1], "I2": fit.I2,
                   "I2_ci_low": fit.I2_ci[0], "I2_ci_high": fit.I2_ci[1], "H2": fit.H2, "Q": fit.Q,
                   "Q_df": fit.Q_df, "Q_pvalue": fit.Q_pvalue, "pi_low": fit.pi_low, "pi_high": fit.pi_high,
                   "QM": fit.QM, "QM_pvalue": fit.QM_pvalue, "R2": fit.R2}
    for key, val in model_stats.items():
        summ[key] = val
    if fit.p == 1:
        summ["estimate_transf"] = transf(summ["estimate"], measure)
        summ["ci_low_transf"] = transf(summ["ci_low"], measure)
        summ["ci_high_transf"] = transf(summ["ci_high"], measure)
        summ["pi_low_transf"] = transf(fit.pi_low, measure)
        summ["pi_high_transf"] = transf(fit.pi_high, measure)
    summ.insert(0, "analysis", name)
    summ["reason"] = "; ".join(["dropped " + x for x in dropped] + ([fit.reason] if fit.reason else []))
    crit = stats.norm.ppf(1 - (1 - level) / 2)
    sei = np.sqrt(d["vi"].to_numpy())
    studies = pd.DataFrame({"analysis": name, "study": labels, "yi": d["yi"].to_numpy(), "vi": d["vi"].to_numpy(),
                            "sei": sei, "ci_low": d["yi"].to_numpy() - crit * sei,
                            "ci_high": d["yi"].to_numpy() + crit * sei, "weight": fit.weights, "filled": False,
                            "note": d["note"].to_numpy()})
    for m in mods:
        studies[m] = d[m].to_numpy()
    sub = spec.get("subgroup")
    if sub and sub in d:
        studies[sub] = d[sub].to_numpy()
    subgroup_tab = _subgroup_table(spec, d, name, method, test, level, measure)
    base = fit if fit.p == 1 else random_effects(d, "yi", "vi", method=method, test=test, ci_level=level)
    note = "" if fit.p == 1 else "computed on the model without moderators"
    if base.k >= 3:
        loo = leave_one_out(base, labels=labels).to_frame().add_prefix("loo_").rename(
            columns={"loo_omitted": "study"})
        inf = influence(base, labels=labels).to_frame()
        order = d[spec["order"]].to_numpy() if spec.get("order") else d["vi"].to_numpy()
        cu = cumulative(base, order=order).to_frame()
        pos = np.argsort(np.argsort(order, kind="stable"), kind="stable")  # each study's place in the order
        cu = cu.iloc[pos].reset_index(drop=True)
        cu = pd.DataFrame({"cum_position": pos + 1, **{"cum_" + c: cu[c].to_numpy()
                                                       for c in ["estimate", "se", "ci_low", "ci_high", "tau2", "I2"]}})
        diag = pd.concat([loo, inf.drop(columns="study"), cu], axis=1)
        diag.insert(0, "analysis", name)
        diag["note"] = note
        bias = []
        try:
            eg = egger_test(base)
            bias += [("egger", "statistic", eg.statistic, eg.test), ("egger", "pvalue", eg.pvalue, ""),
                     ("egger", "limit_estimate", eg.limit_estimate, ""),
                     ("egger", "limit_ci_low", eg.limit_ci_low, ""),
                     ("egger", "limit_ci_high", eg.limit_ci_high, "")]
            pp = pet_peese(base).to_frame().iloc[0].to_dict()
            bias += [("pet_peese", k_, v_, pp["chosen"]) for k_, v_ in pp.items() if k_ != "chosen"]
        except MetaError as err:  # e.g. all studies equally precise: the regression is not identified
            bias += [("egger", "reason", np.nan, str(err)), ("pet_peese", "reason", np.nan, str(err))]
        tf = None
        try:
            tf = trim_and_fill(base)
            bias += [("trimfill", "k0", tf.k0, tf.side), ("trimfill", "se_k0", tf.se_k0, tf.side),
                     ("trimfill", "estimate", tf.model.estimate, tf.side),
                     ("trimfill", "ci_low", tf.model.ci_low, tf.side),
                     ("trimfill", "ci_high", tf.model.ci_high, tf.side),
                     ("trimfill", "tau2", tf.model.tau2, tf.side)]
        except MetaError as err:
            bias += [("trimfill", "reason", np.nan, str(err))]
        bias += _selection_rows(base)
        bias = pd.DataFrame(bias, columns=["test", "quantity", "value", "detail"])
        bias.insert(0, "analysis", name)
        bias["note"] = note
        if tf is not None and tf.k0 > 0:
            fs = np.sqrt(tf.filled["vi"].to_numpy())
            filled = pd.DataFrame({"analysis": name, "study": [f"filled_{i + 1}" for i in range(tf.k0)],
                                   "yi": tf.filled["yi"].to_numpy(), "vi": tf.filled["vi"].to_numpy(), "sei": fs,
                                   "ci_low": tf.filled["yi"].to_numpy() - crit * fs,
                                   "ci_high": tf.filled["yi"].to_numpy() + crit * fs,
                                   "weight": np.nan, "filled": True, "note": "imputed by trim and fill"})
            studies = pd.concat([studies, filled], ignore_index=True)
    else:
        diag = pd.DataFrame({"analysis": [name], "reason": [f"k = {base.k}: diagnostics need k >= 3"]})
        bias = diag.copy()
    return {"summary": summ, "studies": studies, "diagnostics": diag, "bias": bias, "subgroup": subgroup_tab}


def load_tables(spec, paths, codebook_paths=()):
    """Read the inputs of one analysis for :func:`run_analysis` (used by the workflow script).

    ``paths``: the literature table (``source`` table/masem/tssem) or one file per study under
    ``results/<study>/``; ``codebook_paths``: the studies' codebooks (``efficacy_behavior_r``
    with ``x``/``y`` unset takes each study's first mediator and outcome from the design).
    Returns ``(spec, tables)`` with per-study ``x``/``y`` resolved into ``spec["pairs"]``.
    """
    from pathlib import Path

    source = spec.get("source", "table")
    if source in ("table", "masem", "tssem"):
        return spec, {"input": pd.read_csv(paths[0])}
    tables = {Path(p).parent.name: pd.read_csv(p) for p in paths}
    spec = dict(spec)
    if source == "efficacy_behavior_r" and codebook_paths:
        from efficacy.codebook import load_codebook

        pairs = {}
        for cp in codebook_paths:
            cb = load_codebook(Path(cp).parent)
            x = spec.get("x") or (cb.design.mediators[0] if cb.design and cb.design.mediators else None)
            y = spec.get("y") or (cb.design.outcomes[0] if cb.design and cb.design.outcomes else None)
            pairs[cb.study] = (x, y)
        spec["pairs"] = pairs
    return spec, tables
