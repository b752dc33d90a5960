"""The mediation stage of the workflow: every design role of a study's codebook analysed.

:func:`run_stage` runs observed mediation, sensitivity, causal mediation, moderated mediation and
competing-model comparisons for each treatment -> mediator -> outcome triple the codebook declares;
:func:`verdict` turns the results into the cause-or-correlate verdict of the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._api import check_columns, renamed
from ..errors import ConfigError
from ..results import TableResult
from .causal import causal_mediation
from .evidence import evidence_profile
from .moderated import MODERATED_COLUMNS, moderated_mediation
from .observed import mediate
from .sensitivity import sensitivity

__all__ = ["MEDIATION_STAGE_COLUMNS", "MISSING_METHODS", "MODERATED_STAGE_COLUMNS", "ModelComparisonResult",
           "compare_models", "MODEL_COMPARISON_COLUMNS", "run_stage", "verdict"]


# ----------------------------------------------------------------------------- stage
MODEL_COMPARISON_COLUMNS = ["outcome", "mediator", "model", "description", "chisq", "df", "pvalue", "cfi",
                            "rmsea", "srmr", "loglik", "aic", "bic", "npar", "compared_to", "delta_chisq",
                            "delta_df", "lrt_pvalue", "equivalent_to", "n", "converged", "reason"]

#: name -> (description, equations as {dependent: [predictors]}, residual covariance pair or None)
_COMPETING_MODELS = {
    "mediation": ("X -> M -> Y with the direct X -> Y path (partial mediation)",
                  lambda x, m, y: {m: [x], y: [m, x]}, None),
    "full_mediation": ("X -> M -> Y, no direct X -> Y path",
                       lambda x, m, y: {m: [x], y: [m]}, None),
    "reverse_mediation": ("X -> Y -> M with the direct X -> M path (reverse order)",
                          lambda x, m, y: {y: [x], m: [y, x]}, None),
    "full_reverse_mediation": ("X -> Y -> M, no direct X -> M path",
                               lambda x, m, y: {y: [x], m: [y]}, None),
    "common_cause": ("X -> M and X -> Y with correlated M, Y residuals, no M -> Y path",
                     lambda x, m, y: {m: [x], y: [x]}, "cov"),
}


@dataclass(repr=False)
class ModelComparisonResult(TableResult):
    """Result of :func:`compare_models`: one row per competing path model (``to_frame()``,
    columns :data:`MODEL_COMPARISON_COLUMNS`).

    Attributes
    ----------
    full_mediation_pvalue : float
        LRT p of full mediation (no direct path) against partial mediation.
    equivalent : list of str
        The saturated, observationally equivalent models (no fit statistic chooses among them).
    """

    _headline = ("full_mediation_pvalue", "equivalent")
    _title = "Competing path models: mediation, reverse mediation, common cause"
    _summary_columns = ("model", "chisq", "df", "pvalue", "cfi", "rmsea", "aic", "bic", "compared_to",
                        "delta_chisq", "delta_df", "lrt_pvalue")

    @property
    def full_mediation_pvalue(self) -> float:
        t = self.table
        r = t.loc[t["model"] == "full_mediation", "lrt_pvalue"]
        return float(r.iloc[0]) if len(r) else float("nan")

    @property
    def equivalent(self) -> list:
        t = self.table
        return [str(v) for v in t.loc[t["df"] == 0, "model"]]


@renamed(treatment="x", mediator="m", outcome="y")
def compare_models(data, x, m, y, *, covariates=()):
    """Fit and compare the mediation, reverse-mediation and common-cause models of one triad.

    Five path models are fitted by maximum likelihood (:func:`efficacy.sem.sem`, which matches
    lavaan): partial mediation (X -> M -> Y plus X -> Y), full mediation (no X -> Y), partial and
    full reverse mediation (X -> Y -> M), and the common-cause model (X -> M, X -> Y, correlated
    M and Y residuals, no M -> Y). Covariates predict both M and Y in every model.

    The partial-mediation, partial-reverse and common-cause models are all saturated (df = 0) and
    observationally equivalent: they reproduce the covariances exactly, so no fit statistic can
    choose among them (Lee & Hershberger 1990; MacCallum et al. 1993). The table says so in
    ``equivalent_to`` rather than reporting a spurious winner. The full-mediation models have one
    degree of freedom and are tested against their partial versions by a likelihood-ratio test;
    AIC and BIC compare the two non-nested directions.

    Parameters
    ----------
    data : pandas.DataFrame
    x, m, y : str
        Treatment, mediator and (continuous) outcome columns.
    covariates : sequence of str

    Returns
    -------
    ModelComparisonResult
        ``to_frame()``: one row per model, columns :data:`MODEL_COMPARISON_COLUMNS`.

    References
    ----------
    MacCallum, R. C., Wegener, D. T., Uchino, B. N., & Fabrigar, L. R. (1993). The problem of
    equivalent models in applications of covariance structure analysis. *Psychological Bulletin*,
    114(1), 185-199.
    """
    from efficacy.sem import sem

    covs = list(covariates)
    cols = [x, m, y, *covs]
    check_columns(data, [("treatment x", x), ("mediator m", m), ("outcome y", y), ("covariate", covs)])
    d = data[cols].dropna()
    rows, fits = [], {}
    for name, (desc, eqs, rescov) in _COMPETING_MODELS.items():
        lines = [f"{dv} ~ {' + '.join([*ivs, *covs])}" for dv, ivs in eqs(x, m, y).items()]
        if rescov:
            lines.append(f"{m} ~~ {y}")
        row = {c: np.nan for c in MODEL_COMPARISON_COLUMNS}
        row.update(outcome=y, mediator=m, model=name, description=desc, n=len(d), compared_to="",
                   equivalent_to="", reason="")
        try:
            res = sem(d, "\n".join(lines))
            f = res.fit
            row.update({k: f.get(k, np.nan) for k in ("chisq", "df", "pvalue", "cfi", "rmsea", "srmr",
                                                      "loglik", "aic", "bic", "npar")})
            if row["df"] == 0:  # saturated: the optimiser's 1e-11 residue is an exact zero
                row.update(chisq=0.0, rmsea=0.0, srmr=0.0)
            row.update(converged=bool(res.converged), reason=getattr(res, "reason", "") or "")
            fits[name] = f
        except (ValueError, np.linalg.LinAlgError) as exc:
            row.update(converged=False, reason=f"{type(exc).__name__}: {exc}")
        rows.append(row)
    t = pd.DataFrame(rows, columns=MODEL_COMPARISON_COLUMNS)
    saturated = [r["model"] for r in rows if r["df"] == 0]
    for i, r in t.iterrows():
        if r["model"] in saturated:
            t.at[i, "equivalent_to"] = ", ".join(o for o in saturated if o != r["model"])
    for restricted, free in (("full_mediation", "mediation"), ("full_reverse_mediation", "reverse_mediation")):
        if restricted in fits and free in fits:
            i = t.index[t["model"] == restricted][0]
            dc = fits[restricted]["chisq"] - fits[free]["chisq"]
            ddf = fits[restricted]["df"] - fits[free]["df"]
            t.loc[i, ["compared_to", "delta_chisq", "delta_df", "lrt_pvalue"]] = [
                free, dc, ddf, float(stats.chi2.sf(dc, ddf)) if ddf > 0 else np.nan]
    return ModelComparisonResult(t)


def _panel_order(panel_comparison):
    """The temporal-order verdict of the panel stage (efficacy.panel.run_stage), or None."""
    if panel_comparison is None or len(panel_comparison) == 0 or "temporal_order" not in panel_comparison:
        return None
    t = panel_comparison
    rows = t[t["row_type"] == "verdict"] if "row_type" in t else t
    vals = rows["temporal_order"].dropna()
    if vals.empty:
        return None
    reason = rows["reason"].dropna().iloc[0] if "reason" in rows and rows["reason"].notna().any() else ""
    return {"order": str(vals.iloc[0]), "detail": str(reason)}


#: missing-data methods of the stage (config ``mediation.missing``)
MISSING_METHODS = ("auto", "listwise", "fiml", "mi")

#: columns of the stage's ``mediation`` table (``n`` = cases used, ``missing`` = the method used)
MEDIATION_STAGE_COLUMNS = ["outcome", "effect", "mediator", "estimate", "se", "ci_low", "ci_high", "pvalue",
                           "statistic", "boot_se", "ci_method", "sobel_statistic", "sobel_pvalue", "n_boot_failed",
                           "n", "n_complete", "n_rows", "missing", "reason"]

CAUSAL_COLUMNS = ["outcome", "mediator", "effect", "estimate", "ci_low", "ci_high", "pvalue", "outcome_model",
                  "inference", "n_sims", "n_failed", "n", "reason"]


MODERATED_STAGE_COLUMNS = ["outcome", "mediator", "moderator", "model", *MODERATED_COLUMNS[:-1], "n", "reason"]


def _moderated_rows(clean, codebook, *, model, n_boot, ci_method, seed):
    """The ``moderated_mediation`` table of :func:`run_stage`: one :func:`moderated_mediation` per
    continuous outcome and mediator when the codebook declares ``design.moderator``, else a reason row."""
    des = codebook.design
    cols = MODERATED_STAGE_COLUMNS

    def na(reason, **kw):
        return pd.DataFrame([{c: kw.get(c, reason if c == "reason" else np.nan) for c in cols}])

    if des is None or not des.treatment or not des.mediators or not des.outcomes:
        return na("study declares no treatment, mediator and outcome in codebook design")
    w = des.moderator
    if not w:
        return na("study declares no moderator in codebook design (design.moderator): no moderated mediation")
    covs = [c for c in (des.covariates or []) if c != w]
    rows = []
    for out in des.outcomes:
        for mj in des.mediators:
            kw = dict(outcome=out, mediator=mj, moderator=w, model=model)
            if codebook.is_binary(out):
                rows.append(na("binary outcome: conditional indirect effects need a linear outcome model", **kw))
                continue
            try:
                r = moderated_mediation(clean, des.treatment, mj, out, w, model=model, covariates=covs,
                                        n_boot=n_boot, ci_method=ci_method, seed=seed)
            except ValueError as exc:
                rows.append(na(str(exc), **kw))
                continue
            rows.append(r.to_frame().assign(outcome=out, mediator=mj, moderator=w, model=model, n=r.n))
    return pd.concat(rows, ignore_index=True).reindex(columns=cols)


@renamed(ci="ci_method")
def run_stage(clean, codebook, *, n_boot=2000, seed=0, ci_method="bca", fragile_rho=0.2, n_sims=1000,
              moderated_model=7, panel_comparison=None, evidence=None, missing="auto"):
    """Workflow entry point: the ``mediation`` stage of one study.

    Uses the codebook's design roles (treatment, mediators, outcomes, covariates). For each
    continuous outcome: :func:`mediate` (parallel mediators), :func:`sensitivity` per mediator and
    :func:`compare_models` per mediator; for every outcome, continuous or binary (logit),
    :func:`efficacy.mediation.causal.causal_mediation` per mediator. The verdict folds in the panel stage's
    temporal-order result when ``panel_comparison`` (``results/<study>/panel_comparison.csv``) is
    given.

    When the codebook declares ``design.moderator``, :func:`moderated_mediation` (PROCESS model
    ``moderated_model``, 7 or 14) runs per continuous outcome and mediator; otherwise the
    ``moderated_mediation`` table is one row saying why there is none.

    The ``evidence`` table is :func:`efficacy.mediation.evidence.evidence_profile` (per link: what
    the design identifies, estimate, CI, rho at zero, robustness value benchmarked on the strongest
    covariate, E-values, panel cross-lag) with its graded verdict; ``evidence`` (a dict, config
    ``mediation.evidence``) overrides the verdict rules, ``fragile_rho`` is the rule ``rho_robust``.
    When the codebook declares ``design.encouragement`` (the manipulation-of-mediator arm of a
    parallel encouragement design), the evidence table adds the b-path by 2SLS with that arm as
    instrument (:func:`efficacy.mediation.encouragement.encouragement_iv`) and its first-stage F, and
    the verdict uses it (a weak instrument is said so).

    ``missing`` (config ``mediation.missing``) is the missing-data method of :func:`mediate` per
    outcome: ``"auto"`` (default) is FIML (lavaan ``missing = "ml"``) whenever one of that model's
    role variables (treatment, mediators, outcome, covariates) has a missing value and listwise
    otherwise; ``"listwise"``, ``"fiml"`` or ``"mi"`` (multiple imputation) force one. The
    ``mediation`` table says which in its ``missing`` column, with the cases used (``n``), the
    complete cases (``n_complete``) and the rows of the clean data (``n_rows``); MI whose chains do
    not converge gives NA rows whose ``reason`` says so. The sensitivity, model-comparison and causal
    analyses use the complete cases (their ``n``). A role variable missing in every row gives rows
    with that reason (no analysis of that outcome).

    Returns
    -------
    dict
        ``mediation``, ``sensitivity``, ``causal_mediation``, ``model_comparison``,
        ``moderated_mediation``, ``evidence`` tables and ``verdict`` (one column ``text`` with the markdown of
        :func:`verdict`). Analyses that could not run are rows with a ``reason``.
    """
    des = codebook.design
    if missing not in MISSING_METHODS:
        raise ConfigError(f"unknown missing-data method {missing!r}", where="mediation.missing", found=repr(missing),
                          expected=f"one of {', '.join(MISSING_METHODS)}")
    med_rows, sens_rows, causal_rows, cmp_rows = [], [], [], []
    cols_med = MEDIATION_STAGE_COLUMNS
    cols_sens = ["outcome", "mediator", "rho", "acme", "ci_low", "ci_high", "rsq_prod_residual",
                 "rsq_prod_total", "rho_at_zero", "n", "reason"]
    summaries = []
    panel = _panel_order(panel_comparison)
    rules = {"rho_robust": fragile_rho, **dict(evidence or {})}
    fits = {}  # (outcome, mediator) -> this stage's fits, handed to the evidence profile (no second bootstrap)
    methods = {}  # outcome -> missing-data method: the evidence profile refits (several mediators) with it

    def profile():
        return evidence_profile(clean, des.treatment if des else None, list(des.mediators) if des else [],
                                list(des.outcomes) if des else [],
                                covariates=list(des.covariates or []) if des else [],
                                binary=[o for o in (des.outcomes if des else []) if codebook.is_binary(o)],
                                panel=panel_comparison, study=codebook.study, rules=rules, n_boot=n_boot,
                                ci_method=ci_method, n_sims=n_sims, seed=seed, fits=fits, missing=methods,
                                encouragement=getattr(des, "encouragement", None) if des else None).to_frame()

    moderated = _moderated_rows(clean, codebook, model=moderated_model, n_boot=n_boot, ci_method=ci_method,
                                seed=seed)

    def na(cols, reason, **kw):
        return pd.DataFrame([{c: kw.get(c, reason if c == "reason" else np.nan) for c in cols}])

    def not_fitted(out, reason):
        """Sensitivity and model-comparison rows for an outcome whose mediation model failed."""
        for mj in des.mediators:
            sens_rows.append(na(cols_sens, reason, outcome=out, mediator=mj))
            cmp_rows.append(na(MODEL_COMPARISON_COLUMNS, reason, outcome=out, mediator=mj))

    if des is None or not des.treatment or not des.mediators or not des.outcomes:
        reason = "study declares no treatment, mediator and outcome in codebook design"
        ev = profile()
        text = verdict(codebook, [], fragile_rho=fragile_rho, reason=reason, panel=panel, evidence=ev)
        return {"mediation": na(cols_med, reason), "sensitivity": na(cols_sens, reason),
                "causal_mediation": na(CAUSAL_COLUMNS, reason),
                "model_comparison": na(MODEL_COMPARISON_COLUMNS, reason),
                "moderated_mediation": moderated, "evidence": ev, "verdict": pd.DataFrame({"text": [text]})}
    covs = list(des.covariates or [])
    for out in des.outcomes:
        binary = codebook.is_binary(out)
        roles = [des.treatment, *des.mediators, out, *covs]
        empty = [c for c in dict.fromkeys(roles) if c in clean.columns and clean[c].isna().all()]
        if empty:
            reason = (f"role variable {empty[0]!r} is missing in every row ({len(clean)} rows): "
                      f"nothing to analyse for outcome {out!r}")
            med_rows.append(na(cols_med, reason, outcome=out, n=0, n_rows=len(clean)))
            summaries.append({"outcome": out, "reason": reason})
            for mj in des.mediators:
                causal_rows.append(na(CAUSAL_COLUMNS, reason, outcome=out, mediator=mj))
            if binary:
                sens_rows.append(na(cols_sens, reason, outcome=out))
                cmp_rows.append(na(MODEL_COMPARISON_COLUMNS, reason, outcome=out))
            else:
                not_fitted(out, reason)
            continue
        method = missing
        if missing == "auto":
            present = [c for c in roles if c in clean.columns]
            method = "fiml" if clean[present].isna().to_numpy().any() else "listwise"
        methods[out] = method
        for mj in des.mediators:
            try:
                cm = causal_mediation(clean, des.treatment, mj, out, covariates=covs,
                                      outcome_model="logit" if binary else "linear", n_sims=n_sims, seed=seed)
                ct = cm.to_frame()
                ct.insert(0, "mediator", mj)
                ct.insert(0, "outcome", out)
                ct = ct.assign(outcome_model=cm.outcome_model, inference=cm.inference, n_sims=cm.n_sims,
                               n_failed=cm.n_failed, n=cm.n, reason=cm.reason)
                causal_rows.append(ct)
                if binary:
                    fits[(out, mj)] = {"causal": cm}
                    acme = ct.set_index("effect").loc["acme_average"]
                    summaries.append({"outcome": out, "mediator": mj, "binary": True, "acme": acme.estimate,
                                      "ci_low": acme.ci_low, "ci_high": acme.ci_high, "n": cm.n,
                                      "reason_causal": cm.reason})
            except ValueError as exc:
                causal_rows.append(na(CAUSAL_COLUMNS, str(exc), outcome=out, mediator=mj))
                if binary:
                    summaries.append({"outcome": out, "mediator": mj, "reason": str(exc)})
        if binary:
            reason = ("binary outcome: the product-of-coefficients indirect effect is not defined on the "
                      "probability scale; see causal_mediation.csv (logit outcome model)")
            med_rows.append(na(cols_med, reason, outcome=out))
            sens_rows.append(na(cols_sens, "binary outcome: the closed-form sensitivity analysis needs a "
                                           "linear outcome model", outcome=out))
            cmp_rows.append(na(MODEL_COMPARISON_COLUMNS, "binary outcome: the linear path models do not apply",
                               outcome=out))
            continue
        try:
            res = mediate(clean, des.treatment, list(des.mediators), out, covariates=covs,
                          n_boot=n_boot, ci_method=ci_method, seed=seed, missing=method)
        except ValueError as exc:
            med_rows.append(na(cols_med, str(exc), outcome=out, missing=method, n_rows=len(clean)))
            summaries.append({"outcome": out, "reason": str(exc)})
            not_fitted(out, f"the mediation model was not fitted: {exc}")
            continue
        t = res.to_frame()
        t.insert(0, "outcome", out)
        t["n"] = res.n
        t["n_complete"] = getattr(res, "n_complete", res.n)
        t["n_rows"] = len(clean)
        t["missing"] = method
        med_rows.append(t)
        single = len(des.mediators) == 1  # the evidence profile fits one mediator at a time
        if single:
            fits[(out, des.mediators[0])] = {"mediation": res}
        if res.reason:
            summaries.append({"outcome": out, "reason": res.reason})
            not_fitted(out, f"the mediation model was not fitted: {res.reason}")
            continue
        for mj in des.mediators:
            try:
                cmp_rows.append(compare_models(clean, des.treatment, mj, out, covariates=covs).to_frame())
            except ValueError as exc:
                cmp_rows.append(na(MODEL_COMPARISON_COLUMNS, str(exc), outcome=out, mediator=mj))
            try:
                s = sensitivity(clean, des.treatment, mj, out, covariates=covs, n_boot=min(n_boot, 1000),
                                seed=seed)
            except ValueError as exc:
                sens_rows.append(na(cols_sens, str(exc), outcome=out, mediator=mj))
                summaries.append({"outcome": out, "mediator": mj, "reason": str(exc)})
                continue
            fits.setdefault((out, mj), {})["sensitivity"] = s
            st = s.to_frame()
            st.insert(0, "mediator", mj)
            st.insert(0, "outcome", out)
            st["rho_at_zero"] = s.rho_at_zero
            st["n"] = s.n
            st["reason"] = ""
            sens_rows.append(st)
            ind = t[(t["effect"] == "indirect") & (t["mediator"] == mj)].iloc[0]
            a = t[(t["effect"] == "a") & (t["mediator"] == mj)].iloc[0]
            cmp = cmp_rows[-1].set_index("model") if "model" in cmp_rows[-1] else None
            summaries.append({"outcome": out, "mediator": mj, "indirect": ind.estimate,
                              "ci_low": ind.ci_low, "ci_high": ind.ci_high, "a": a.estimate,
                              "a_p": a.pvalue, "rho_at_zero": s.rho_at_zero,
                              "rsq_total": s.rsq_prod_total, "n": res.n, "ci": res.ci_method, "comparison": cmp,
                              "missing": method})
    med = pd.concat(med_rows, ignore_index=True).reindex(columns=cols_med)
    sens = pd.concat(sens_rows, ignore_index=True).reindex(columns=cols_sens) if sens_rows else \
        pd.DataFrame(columns=cols_sens)
    causal = pd.concat(causal_rows, ignore_index=True).reindex(columns=CAUSAL_COLUMNS)
    cmp_t = pd.concat(cmp_rows, ignore_index=True).reindex(columns=MODEL_COMPARISON_COLUMNS) if cmp_rows else \
        na(MODEL_COMPARISON_COLUMNS, "no continuous outcome")
    ev = profile()
    text = verdict(codebook, summaries, fragile_rho=fragile_rho, panel=panel, moderated=moderated, evidence=ev)
    return {"mediation": med, "sensitivity": sens, "causal_mediation": causal, "model_comparison": cmp_t,
            "moderated_mediation": moderated, "evidence": ev, "verdict": pd.DataFrame({"text": [text]})}


def verdict(codebook, summaries, *, fragile_rho=0.2, reason=None, panel=None, moderated=None, evidence=None):
    """Plain-words markdown verdict on what the design supports, per outcome and mediator.

    ``panel`` is the temporal-order result of the panel stage (``{"order": ..., "detail": ...}``)
    for studies with waves; ``moderated`` the ``moderated_mediation`` table of :func:`run_stage`
    (a section is added when the study declares a moderator); ``evidence`` the evidence table of
    :func:`efficacy.mediation.evidence.evidence_profile`, whose graded verdict (and the evidence that
    decided it) replaces the single rho cut-off when given.
    """
    des = codebook.design
    lines = [f"# Mediation verdict: {codebook.study}", ""]
    if reason:
        lines += [f"No mediation analysis: {reason}.", ""]
        if evidence is not None and len(evidence):
            lines += [f"Verdict: {evidence['verdict'].iloc[0]} ({evidence['decided_by'].iloc[0]}).", ""]
        if panel is not None:
            lines += [f"Panel stage (RI-CLPM, within persons): temporal order supports {panel['order']}."
                      + (f" ({panel['detail']})" if panel.get("detail") else ""), ""]
        return "\n".join(lines)
    lines += [
        f"Treatment `{des.treatment}`; mediators {', '.join(f'`{m}`' for m in des.mediators)}; "
        f"covariates {', '.join(f'`{c}`' for c in des.covariates) or 'none'}.",
        "",
        "- If the treatment was randomised, the a-path (treatment -> mediator) is causal.",
        "- The b-path (mediator -> outcome) rests on sequential ignorability: no unmeasured "
        "confounder of mediator and outcome. The sensitivity rho (the error correlation at which "
        "the indirect effect vanishes) is the honest measure of how robust the mediation claim is.",
    ]
    enc = getattr(des, "encouragement", None)
    if enc:
        lines.append(f"- The design has an encouragement arm `{enc}` (a randomised nudge of the mediator): the "
                     "b-path is also estimated by two-stage least squares with it as instrument (evidence.csv, "
                     "iv_* columns), which needs no unmeasured-confounding assumption for mediator -> outcome but "
                     "assumes the arm affects the outcome only through the mediator; a first-stage F below the "
                     "rule (weak_f, default 10) is reported as a weak instrument.")
        if len(des.mediators) > 1:
            lines.append("- With several mediators, one arm identifies a mediator's b-path only if it moves no "
                         "other mediator (else it reaches the outcome through that one too); where it moves more "
                         "than one, evidence.csv says so and its 2SLS b-paths are not used.")
    if not getattr(codebook, "waves", None):
        lines.append("- These data are cross-sectional (no waves): they cannot establish the "
                     "temporal order of mediator and outcome.")
    elif panel is None:
        lines.append("- The study has waves: see the panel stage for temporal order.")
    else:
        order = panel["order"]
        said = {"efficacy -> behaviour": "temporal order supports efficacy -> behaviour (efficacy predicts "
                                          "later behaviour within persons, not the reverse)",
                "behaviour -> efficacy": "temporal order supports behaviour -> efficacy (behaviour predicts "
                                          "later efficacy within persons: mastery feeding belief)",
                "both": "temporal order supports both directions (reciprocal within-person effects)",
                "neither": "temporal order supports neither direction (no within-person lagged effect)"}
        lines.append(f"- Panel stage (RI-CLPM, within persons): {said.get(order, order)}."
                     + (f" ({panel['detail']})" if panel.get("detail") else ""))
    lines.append("")
    for s in summaries:
        head = f"## {s.get('mediator', '')} -> {s['outcome']}".replace("##  -> ", "## ")
        lines.append(head)
        if "reason" in s:
            lines += [f"Not analysed: {s['reason']}.", ""]
            continue
        if s.get("binary"):
            if s.get("reason_causal"):
                lines += [f"Causal mediation not estimated: {s['reason_causal']}.", ""]
                continue
            excl = not (s["ci_low"] <= 0 <= s["ci_high"])
            graded = _graded_line(evidence, s["outcome"], s["mediator"])
            lines += [f"Binary outcome: causal mediation (logit outcome model, Imai, Keele & Tingley 2010), "
                      f"average ACME {s['acme']:.4f} on the probability scale, 95% CI [{s['ci_low']:.4f}, "
                      f"{s['ci_high']:.4f}] ({'excludes' if excl else 'includes'} zero; n = {s['n']}). "
                      "Its sensitivity to mediator-outcome confounding is not computed (no closed form for a "
                      "binary outcome); the b-path rests on sequential ignorability.",
                      graded or "Verdict: " + ("indirect effect present under sequential ignorability." if excl
                                               else "no evidence of mediation."), ""]
            continue
        excl = not (s["ci_low"] <= 0 <= s["ci_high"])
        rho0 = s["rho_at_zero"]
        fragile = abs(rho0) < fragile_rho
        lines.append(
            f"Indirect effect {s['indirect']:.4f}, {s['ci']} 95% CI [{s['ci_low']:.4f}, {s['ci_high']:.4f}] "
            f"({'excludes' if excl else 'includes'} zero; n = {s['n']}{_MISSING_SAID.get(s.get('missing'), '')}). "
            f"Rho at which the indirect effect is zero: {rho0:.3f} "
            f"(total R-squared product {s['rsq_total']:.4f}).")
        graded = _graded_line(evidence, s["outcome"], s["mediator"])
        if graded:
            lines.append(graded)
        elif not excl:
            lines.append("Verdict: no evidence of mediation.")
        elif fragile:
            lines.append(f"Verdict: FRAGILE. |rho| at zero ({abs(rho0):.3f}) is below {fragile_rho}: a modest "
                         "unmeasured common cause of mediator and outcome would explain the indirect "
                         "effect, so the association may be confounded.")
        else:
            lines.append(f"Verdict: ROBUST to mediator-outcome confounding up to |rho| = {abs(rho0):.3f} "
                         f"(threshold {fragile_rho}); still an assumption, not a proof.")
        cmp = s.get("comparison")
        if cmp is not None and "full_mediation" in cmp.index:
            fm, fr = cmp.loc["full_mediation"], cmp.loc["full_reverse_mediation"]
            lines.append(
                "Model comparison: partial mediation, reverse mediation and the common-cause model are "
                "equivalent (saturated, identical fit), so these data cannot tell a mediating efficacy from "
                "a common cause. "
                + (f"Full mediation (no direct path): LRT p = {fm['lrt_pvalue']:.3g}; " if np.isfinite(
                    fm["lrt_pvalue"]) else "")
                + (f"AIC full mediation {fm['aic']:.1f} vs full reverse mediation {fr['aic']:.1f}"
                   if np.isfinite(fm["aic"]) and np.isfinite(fr["aic"]) else "")
                + " (lower is better; a cross-sectional comparison of directions, not a test of causation).")
        lines.append("")
    lines += _moderated_verdict(moderated)
    return "\n".join(lines)


_MISSING_SAID = {"fiml": ", FIML: every case with an observed treatment and covariates (lavaan missing = 'ml')",
                 "mi": ", multiple imputation (Rubin's rules)"}


def _graded_line(evidence, outcome, mediator):
    """The markdown verdict line of one pair from the evidence table, or None when it has none."""
    if evidence is None or "verdict" not in evidence:
        return None
    g = evidence[(evidence["outcome"] == outcome) & (evidence["mediator"] == mediator)]
    if g.empty or not isinstance(g["verdict"].iloc[0], str):
        return None
    v, vc, why = g["verdict"].iloc[0], g["verdict_class"].iloc[0], g["decided_by"].iloc[0]
    if vc == "robust":
        return f"Verdict: {v.replace('robust', 'ROBUST')} (decided by: {why}); still an assumption, not a proof."
    if vc == "sensitive":
        return (f"Verdict: FRAGILE, {v}: a modest unmeasured common cause of mediator and outcome could explain "
                f"the indirect effect, so the association may be confounded (decided by: {why}).")
    return f"Verdict: {v} (decided by: {why})."


def _moderated_verdict(t):
    """Markdown lines on the index of moderated mediation, per outcome and mediator."""
    if t is None or len(t) == 0 or t["moderator"].isna().all():
        return []
    out = []
    for (outcome, mediator), g in t.groupby(["outcome", "mediator"], sort=False):
        w, model = g["moderator"].iloc[0], g["model"].iloc[0]
        out.append(f"## Moderated mediation: {mediator} -> {outcome} by `{w}` (PROCESS model {int(model)})")
        idx = g[g["effect"] == "index"]
        if idx.empty or not np.isfinite(idx["estimate"].iloc[0]):
            out += [f"Not analysed: {g['reason'].dropna().iloc[0] if g['reason'].notna().any() else 'no estimate'}.",
                    ""]
            continue
        r = idx.iloc[0]
        excl = np.isfinite(r.ci_low) and not (r.ci_low <= 0 <= r.ci_high)
        cond = "; ".join(f"{w} = {c.w_value:g}: {c.estimate:.4f} [{c.ci_low:.4f}, {c.ci_high:.4f}]"
                         for c in g[g["effect"] == "conditional_indirect"].itertuples())
        out += [f"Index of moderated mediation {r.estimate:.4f}, {r.ci_method} 95% CI [{r.ci_low:.4f}, "
                f"{r.ci_high:.4f}]: " + (f"the indirect effect depends on `{w}`." if excl else
                                         f"no evidence that the indirect effect depends on `{w}`.")
                + f" Conditional indirect effects: {cond}.", ""]
    return out
