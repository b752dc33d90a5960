"""The run's summary: every stage's key numbers as APA-style tables, in one document.

:func:`build_summary` reads the tables the workflow wrote under ``results/``
and returns Markdown (``results/summary.md``) and a self-contained HTML page
(``results/summary.html``). Every number is quoted from, and names, the CSV it
comes from, so a reviewer can trace it. Tables follow APA (7th ed.) habits:
no leading zero for statistics bounded by 1 (alpha, omega, r), two decimals,
95% CIs in brackets, *n* and *k* reported. A stage that produced no result
for a study says so instead of failing.

References
----------
American Psychological Association (2020). *Publication manual of the American
Psychological Association* (7th ed.).
Browne, M. W., & Cudeck, R. (1993). Alternative ways of assessing model fit. In
K. A. Bollen & J. S. Long (Eds.), *Testing structural equation models*
(pp. 136-162). Sage. (RMSEA above .10: poor fit.)
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["apa_number", "build_summary", "markdown_table", "markdown_to_html", "STUDY_FIGURES",
           "META_FIGURES", "CROSS_STUDY_FIGURES"]



_ROBUST_ESTIMATORS = ("MLR", "MLM", "WLSMV")


def robust_fit_view(cfa: pd.DataFrame) -> tuple:
    """``(robust, table)``: a CFA fit table (``cfa_fit.csv``) in which the rows fitted by a robust
    estimator (MLR, MLM, WLSMV) show the scaled chi-square and lavaan's robust CFI, TLI and RMSEA in the
    plain columns, as such fits are reported; ``robust`` says whether any row was replaced."""
    robust = "estimator" in cfa and cfa["estimator"].astype(str).isin(_ROBUST_ESTIMATORS).any()
    if not robust:
        return False, cfa
    cfa = cfa.copy()
    for plain, rob in (("chisq", "chisq.scaled"), ("df", "df.scaled"), ("pvalue", "pvalue.scaled"),
                       ("cfi", "cfi.robust"), ("tli", "tli.robust"), ("rmsea", "rmsea.robust"),
                       ("rmsea_ci_low", "rmsea.ci.lower.robust"), ("rmsea_ci_high", "rmsea.ci.upper.robust")):
        if rob in cfa and plain in cfa:
            use = cfa["estimator"].astype(str).isin(_ROBUST_ESTIMATORS) & cfa[rob].notna()
            cfa[plain] = cfa[plain].where(~use, cfa[rob])
    return True, cfa

def apa_number(x, digits=2, *, bounded=False) -> str:
    """Format a number APA-style (no leading zero when ``bounded`` by 1)."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)) or pd.isna(x):
        return "NA"
    text = f"{float(x):.{digits}f}"
    if bounded:
        text = text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text
    return text


def _ci(lo, hi, digits=2, bounded=False) -> str:
    if pd.isna(lo) or pd.isna(hi):
        return "NA"
    return f"[{apa_number(lo, digits, bounded=bounded)}, {apa_number(hi, digits, bounded=bounded)}]"


def _p(v) -> str:
    """APA p-value: three decimals, '< .001' below that."""
    if v is None or pd.isna(v):
        return "NA"
    return "< .001" if v < 0.001 else apa_number(v, 3, bounded=True)


def markdown_table(df: pd.DataFrame) -> str:
    """A pipe table (strings as given)."""
    if df.empty:
        return "_(no rows)_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _read(path: Path):
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None


def _study_section(results: Path, study: str, threshold_note: list[str], notes=None, fragile_rho=0.2) -> list[str]:
    notes = [] if notes is None else notes
    out = [f"## Study: {study}", ""]
    folder = results / study
    flow = _read(folder / "flow.csv")
    if flow is not None:
        out += [f"**Table {study}.1.** Participant flow (`{study}/flow.csv`).", ""]
        t = flow.assign(excluded=flow["excluded"].where(flow["step"] > 0, ""))
        out += [markdown_table(t[["step", "reason", "excluded", "remaining"]]), ""]
    else:
        out += ["_Cleaning produced no result for this study._", ""]

    out += _descriptives_section(folder, study, notes)
    out += _estimator_section(folder, study)
    rel = _read(folder / "reliability.csv")
    if rel is not None and not rel.empty:
        r = rel[(rel["group"].astype(str) == "all")] if "group" in rel else rel
        if "subscale" in r:
            r = r[r["subscale"].isna()]
        rows = []
        ordinal_cols = "ordinal" in r and r["ordinal"].map(_true).any()
        for _, x in r.iterrows():
            rows.append({
                "Scale": x["scale"] + (f" (wave {int(x['wave'])})" if pd.notna(x.get("wave")) else ""),
                "Construct": x["construct"],
                "n": int(x["n"]) if pd.notna(x["n"]) else "NA",
                "k": int(x["k"]) if pd.notna(x["k"]) else "NA",
                "alpha [95% CI]": f"{apa_number(x['alpha'], bounded=True)} {_ci(x['alpha_ci_low'], x['alpha_ci_high'], bounded=True)}",
                "omega [95% CI]": f"{apa_number(x.get('omega_total'), bounded=True)} {_ci(x.get('omega_ci_low'), x.get('omega_ci_high'), bounded=True)}",
                **({"ordinal alpha": apa_number(x.get("ordinal_alpha"), bounded=True) if _true(x.get("ordinal")) else "",
                    "categorical omega": apa_number(x.get("omega_ordinal"), bounded=True) if _true(x.get("ordinal"))
                    else ""} if ordinal_cols else {}),
                "Flag": "" if str(x.get("flag")) in ("ok", "nan", "") else str(x.get("flag")).replace("_", " "),
                "Note": "" if pd.isna(x.get("reason")) else x.get("reason"),
            })
            if rows[-1]["Flag"] == "below threshold":
                threshold_note.append(f"{study}/{x['scale']}")
        how = (" Ordinal scales also show ordinal alpha (on polychoric correlations; the reliability of the latent "
               "responses) and categorical omega (Green & Yang, 2009; the reliability of the sum score)."
               if ordinal_cols else "")
        out += [f"**Table {study}.2.** Reliability (`{study}/reliability.csv`).{how}", "",
                markdown_table(pd.DataFrame(rows)), ""]

    out += _measurement_section(folder, study, notes)
    med = _read(folder / "mediation.csv")
    if med is not None and not med.empty:
        cols = [c for c in ("outcome", "effect", "mediator", "estimate", "se", "ci_low", "ci_high", "pvalue", "reason")
                if c in med.columns]
        t = med[cols].copy()
        for c in ("estimate", "se", "ci_low", "ci_high"):
            if c in t:
                t[c] = t[c].map(lambda v: apa_number(v, 3))
        if "pvalue" in t:
            t["pvalue"] = t["pvalue"].map(_p)
        out += [f"**Table {study}.3.** Mediation (`{study}/mediation.csv`).", "", markdown_table(t), ""]
    out += _sensitivity_section(folder, study, notes, fragile_rho)
    out += _evidence_section(folder, study)
    out += _latent_section(folder, study, notes)
    out += _moderated_section(folder, study)
    verdict = folder / "verdict.md"
    if verdict.exists():
        text = verdict.read_text(encoding="utf-8").strip()
        text = "\n".join("###" + ln if ln.startswith("#") else ln for ln in text.splitlines())  # nest its headings
        out += [f"**Cause or correlate?** (`{study}/verdict.md`)", "", text, ""]

    panel = _read(folder / "panel_comparison.csv")
    if panel is not None and not panel.empty:
        out += [f"**Table {study}.4.** Panel models (`{study}/panel_comparison.csv`).", "",
                markdown_table(panel.map(lambda v: apa_number(v, 3) if isinstance(v, float) else v)), ""]
    out += _longitudinal_section(folder, study)
    out += _panel_effects_section(folder, study, notes)
    out += _within_section(folder, study, notes)
    figs = _figures(results, study, STUDY_FIGURES)
    if figs:
        out += [f"### Figures: {study}", ""] + figs
    return out


#: figures of a study (results/<study>/figures/<stem>.png) with a one-line caption, in report order
STUDY_FIGURES = [
    ("flow", "Participant flow"), ("missingness", "Missing-data map"),
    ("items", "Item distributions (floor and ceiling marked)"), ("reliability", "Reliability (alpha, omega, 95% CI)"),
    ("cfa_path", "CFA path diagram (standardised loadings, factor correlations)"),
    ("invariance", "Measurement invariance: fit per step with Chen (2007) cut-offs"),
    ("mediation_path", "Mediation path diagram (estimates [95% CI])"),
    ("latent_mediation_path", "Latent mediation: the mediator as a factor of its items"),
    ("sensitivity", "Sensitivity of the ACME to mediator-outcome confounding"),
    ("riclpm_within", "RI-CLPM, within-person part"), ("riclpm_between", "RI-CLPM, between-person part"),
]
#: figures across studies under results/figures/ (stem, caption)
CROSS_STUDY_FIGURES = [("evidence", "Evidence profile of every study: one row per link, coloured by the graded "
                                    "verdict")]

META_FIGURES = [("forest", "Forest plot"), ("funnel", "Contour-enhanced funnel plot"),
                ("subgroup_forest", "Subgroup forest plot"), ("masem_path", "MASEM path diagram"),
                ("tssem_path", "TSSEM path diagram")]


def _figures(results: Path, rel: str, specs) -> list[str]:
    """Markdown image lines for the figures that exist under ``results/<rel>/figures``."""
    out = []
    for stem, cap in specs:
        for f in sorted((results / rel / "figures").glob(f"{stem}*.png")):
            out += [f"![{cap} ({rel}/figures/{f.name})]({rel}/figures/{f.name})", ""]
    return out


def _true(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "1.0")


def _descriptives_section(folder: Path, study: str, notes=None, max_scales=12) -> list[str]:
    """Scale scores: n, M, SD (from clean.csv) and correlations (from attenuation.csv)."""
    att = _read(folder / "attenuation.csv")
    clean = _read(folder / "clean.csv")
    if att is None or att.empty or clean is None or not {"scale_x", "scale_y", "r"} <= set(att.columns):
        return []
    scales = [v for v in dict.fromkeys(list(att["scale_x"].astype(str)) + list(att["scale_y"].astype(str)))
              if v in clean.columns][:max_scales]
    if len(scales) < 2:
        return []
    r, rd = {}, {}
    for _, x in att.iterrows():
        a, b = str(x["scale_x"]), str(x["scale_y"])
        r[(a, b)] = r[(b, a)] = x["r"]
        if "r_disattenuated" in att:
            rd[(a, b)] = rd[(b, a)] = x["r_disattenuated"]
    rows = []
    for i, a in enumerate(scales):
        col = pd.to_numeric(clean[a], errors="coerce")
        row = {"Variable": f"{i + 1}. {a}", "n": int(col.notna().sum()), "M": apa_number(col.mean()),
               "SD": apa_number(col.std(ddof=1))}
        for j, b in enumerate(scales):
            if j == i:
                v = "\u2014"
            elif j < i:
                v = apa_number(r.get((a, b)), bounded=True)
            else:
                v = apa_number(rd.get((a, b)), bounded=True) if rd else ""
            row[str(j + 1)] = v if v != "NA" else ""
        rows.append(row)
    if notes is not None and rd:
        over = sorted({tuple(sorted(k)) for k, v in rd.items() if pd.notna(v) and abs(float(v)) > 1})
        if over:
            notes.append(f"{study}: disattenuated correlations above 1 ({', '.join(f'{a}-{b}' for a, b in over)}): "
                         "these scales do not measure distinct constructs (or their reliability is underestimated).")
    return [f"**Table {study}.descriptives.** Scale scores: *n*, *M*, *SD* (`{study}/clean.csv`); correlations "
            f"below the diagonal, disattenuated for unreliability above it (`{study}/attenuation.csv`).", "",
            markdown_table(pd.DataFrame(rows)), ""]


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def _estimator_section(folder: Path, study: str) -> list[str]:
    """In words: which estimator each model of the study used, and why (the stages' ``estimator`` and
    ``estimator_reason`` columns; the codebook keys ``ordinal``, ``estimator`` and ``cluster``)."""
    items: list[str] = []
    cfa = _read(folder / "cfa_fit.csv")
    if cfa is not None and {"model", "estimator", "estimator_reason"} <= set(cfa.columns):
        groups: dict = {}
        for _, x in cfa.iterrows():
            if not _text(x["estimator"]):
                continue
            label = "the joint CFA" if str(x["model"]) == "joint" else str(x["model"])
            groups.setdefault((_text(x["estimator"]), _text(x["estimator_reason"])), []).append(label)
        for (est, why), labels in groups.items():
            joint = [lab for lab in labels if lab == "the joint CFA"]
            scales = [lab for lab in labels if lab != "the joint CFA"]
            one = ([f"the one-factor CFA{'s' if len(scales) > 1 else ''} of {', '.join(scales)}"] if scales else [])
            who = " and ".join(joint + one)
            items.append(f"{who}: {est}" + (f" ({why})" if why else ""))
    rel = _read(folder / "reliability.csv")
    if rel is not None and {"ordinal", "scale"} <= set(rel.columns):
        ordl = list(dict.fromkeys(rel.loc[rel["ordinal"].map(_true), "scale"].astype(str)))
        if ordl:
            items.append(f"reliability of {', '.join(ordl)}: ordinal alpha (polychoric correlations) and "
                         "categorical omega (WLSMV) beside Pearson alpha and ML omega, because the items are "
                         "ordinal")
    lat = _read(folder / "latent_mediation.csv")
    if lat is not None and {"estimator", "estimator_reason", "model"} <= set(lat.columns):
        latent = lat[lat["model"].astype(str) == "latent"]
        for (med, est, why), _g in latent.groupby([latent["mediator"].astype(str), latent["estimator"].astype(str),
                                                    latent["estimator_reason"].map(_text)], sort=False):
            items.append(f"latent mediation with {med} as a factor: {est}" + (f" ({why})" if why else ""))
    panel = _read(folder / "panel_comparison.csv")
    if panel is not None and {"estimator", "estimator_reason"} <= set(panel.columns) and len(panel):
        x = panel.iloc[0]
        why = _text(x["estimator_reason"])
        items.append(f"CLPM and RI-CLPM: {_text(x['estimator'])}" + (f" ({why})" if why else "")
                     + ("; chi-square difference tests Satorra-Bentler scaled" if _text(x["estimator"]) in
                        ("MLR", "MLM") else ""))
    li = _read(folder / "longitudinal_invariance.csv")
    if li is not None and {"estimator", "measure"} <= set(li.columns) and len(li):
        for measure, g in li.groupby(li["measure"].astype(str), sort=False):
            est = _text(g["estimator"].iloc[0])
            if not est:
                continue
            why = _text(g["reason"].iloc[0]) if "reason" in g else ""
            why = why.split(";")[0] if why.startswith("ordinal items") else ""
            items.append(f"longitudinal invariance of {measure}: {est}" + (f" ({why})" if why else ""))
    for inv_path in sorted(folder.glob("invariance_*.csv")):
        inv = _read(inv_path)
        if inv is not None and {"estimator", "estimator_reason"} <= set(inv.columns) and len(inv):
            x = inv.iloc[0]
            why = _text(x["estimator_reason"])
            items.append(f"invariance across {inv_path.stem.split('_', 1)[1]}: {_text(x['estimator'])}"
                         + (f" ({why})" if why else ""))
    if not items:
        return []
    head = (f"**Estimators ({study}).** Each model uses the estimator its codebook asks for (keys `ordinal`, "
            "`estimator`, `cluster`; by default items with at most 7 response categories are ordinal and get "
            "WLSMV, and a declared cluster gets cluster-robust standard errors):")
    return [head, "", *[f"- {it}." for it in items], ""]


def _measurement_section(folder: Path, study: str, notes: list[str]) -> list[str]:
    out = []
    for cfa_name in ("cfa_fit.csv", "cfa.csv"):
        cfa = _read(folder / cfa_name)
        if cfa is None or cfa.empty or "cfi" not in cfa:
            continue
        robust, cfa = robust_fit_view(cfa)
        keys = [c for c in ("scale", "model", "scales", "group", "estimator", "chisq", "df", "pvalue", "cfi", "tli",
                            "rmsea", "srmr", "n", "reason") if c in cfa and (c != "estimator" or robust)]
        t = cfa[keys].drop_duplicates().copy()
        # poor fit (Browne & Cudeck, 1993: RMSEA above .10; CFI below .90) of a model that is otherwise proper
        poor = pd.Series(False, index=t.index)
        if "cfi" in t and "rmsea" in t:
            poor = (t["cfi"] < 0.90) | (t["rmsea"] > 0.10)
            if "reason" in t:  # an all-empty reason column is read back as float
                t["reason"] = t["reason"].astype(object)
            if "proper" in cfa:
                poor &= cfa.loc[t.index, "proper"].map(_true)
            for i in t.index[poor]:
                label = str(t.at[i, "model"]) if "model" in t else str(t.at[i, "scale"])
                what = "the joint CFA of all scales" if label == "joint" else f"the one-factor CFA of {label}"
                notes.append(f"{study}: {what} fits poorly (CFI {apa_number(t.at[i, 'cfi'], 3, bounded=True)}, "
                             f"RMSEA {apa_number(t.at[i, 'rmsea'], 3, bounded=True)}): its items may not measure "
                             "one dimension (e.g. graded task items of a Bandura-format scale often form a simplex, "
                             "not a single factor); read its loadings and omega with care.")
                if "reason" in t:
                    prev = "" if pd.isna(t.at[i, "reason"]) else str(t.at[i, "reason"])
                    t.at[i, "reason"] = (prev + "; " if prev else "") + "poor fit (CFI < .90 or RMSEA > .10)"
        for c in ("cfi", "tli", "rmsea", "srmr"):
            if c in t:
                t[c] = t[c].map(lambda v: apa_number(v, 3, bounded=True))
        if "chisq" in t:
            t["chisq"] = t["chisq"].map(lambda v: apa_number(v, 2))
        if "pvalue" in t:
            t["pvalue"] = t["pvalue"].map(_p)
        t = t.rename(columns={"model": "Model", "scales": "Scales", "estimator": "Estimator", "chisq": "chi2",
                              "pvalue": "p", "cfi": "CFI", "tli": "TLI", "rmsea": "RMSEA", "srmr": "SRMR",
                              "reason": "Note"})
        if "df" in t:
            t["df"] = t["df"].map(lambda v: "NA" if pd.isna(v) else str(int(v)))
        if "n" in t:
            t["n"] = t["n"].map(lambda v: "NA" if pd.isna(v) else str(int(v)))
        how = ("estimator per row; MLR and WLSMV rows show the scaled chi-square and lavaan's robust CFI, TLI "
               "and RMSEA" if robust else "ML")
        out += [f"**Table {study}.cfa.** Confirmatory factor analysis fit (`{study}/{cfa_name}`; {how}, "
                "lavaan's fit measures).", "", markdown_table(t), ""]
        if "proper" in cfa:
            bad = cfa[~cfa["proper"].map(_true) & cfa["cfi"].notna()]
            for _, x in bad.iterrows():
                label = str(x.get("model", x.get("scale", "")))
                what = "the joint CFA of all scales" if label == "joint" else f"the one-factor CFA of {label}"
                why = f" ({x['reason']})" if pd.notna(x.get("reason")) and str(x.get("reason")) else ""
                notes.append(f"{study}: {what} has an improper solution{why}: a negative variance (Heywood "
                             "case) or a correlation beyond 1; its loadings and fit should not be interpreted.")
        break
    out += _discriminant_table(folder, study, notes)
    for inv_path in sorted(folder.glob("invariance_*.csv")):
        inv = _read(inv_path)
        if inv is None or inv.empty or "step" not in inv:
            continue
        group = inv_path.stem.split("_", 1)[1]
        rows = []
        for _, x in inv.iterrows():
            rows.append({
                "Step": str(x["step"]).replace("_", " ") + (f" (free: {x['freed']})" if pd.notna(x.get("freed"))
                                                            and str(x.get("freed")).strip() else ""),
                "chi2 (df)": f"{apa_number(x.get('chisq'))} ({'NA' if pd.isna(x.get('df')) else int(x['df'])})",
                "CFI": apa_number(x.get("cfi"), 3, bounded=True),
                "RMSEA": apa_number(x.get("rmsea"), 3, bounded=True),
                "SRMR": apa_number(x.get("srmr"), 3, bounded=True),
                "dCFI": apa_number(x.get("delta_cfi"), 3, bounded=True),
                "dRMSEA": apa_number(x.get("delta_rmsea"), 3, bounded=True),
                "LRT p": _p(x.get("lrt_pvalue")),
                "Decision": "" if pd.isna(x.get("decision")) else str(x["decision"]),
            })
        out += [f"**Table {study}.invariance.{group}.** Measurement invariance across `{group}` "
                f"(`{study}/{inv_path.name}`; default rule, Cheung & Rensvold, 2002: not invariant when dCFI <= -.010; "
                f"config measurement.combine = and adds Chen's (2007) dRMSEA >= .015).",
                "", markdown_table(pd.DataFrame(rows)), ""]
        dec = inv["decision"].astype(str) if "decision" in inv else pd.Series(dtype=str)
        failed = inv.loc[dec == "not invariant", "step"].astype(str).tolist()
        if failed:
            partial = inv.loc[inv["step"].astype(str).str.startswith("partial") & (dec == "invariant")]
            txt = (f"{study}: {', '.join(failed)} invariance across {group} does not hold")
            if len(partial) and "freed" in inv:
                freed = re.sub(r"(\S+)\s*~\s*1\b", r"the \1 intercept", str(partial["freed"].iloc[0]))
                txt += f"; partial invariance holds with {freed} free"
            notes.append(txt + ": compare latent means (or scale scores) across groups only under the "
                         "level of invariance that holds.")
        if "proper" in inv and (~inv["proper"].map(_true) & inv["cfi"].notna()).any():
            notes.append(f"{study}: an invariance model across {group} has an improper solution.")
    return out


def _discriminant_table(folder: Path, study: str, notes: list[str], htmt_cut=0.85) -> list[str]:
    """Efficacy vs outcome expectation vs self-esteem: HTMT, AVE / Fornell-Larcker, chi-square difference."""
    d = _read(folder / "discriminant.csv")
    if d is None or d.empty or "htmt" not in d:
        return []
    rows = []
    for _, x in d.iterrows():
        if pd.isna(x.get("htmt")):
            names = [str(v) for v in (x.get("scale_1"), x.get("scale_2")) if pd.notna(v) and str(v)]
            rows.append({"Scales": " / ".join(names) or "—",
                         "HTMT [95% CI]": "NA", "Factor r": "", "AVE": "", "Fornell-Larcker": "",
                         "chi2 diff (df), p": "", "Note": "" if pd.isna(x.get("reason")) else str(x["reason"])})
            continue
        fl = str(x.get("fornell_larcker")).lower() == "true"
        rows.append({
            "Scales": f"{x['scale_1']} / {x['scale_2']}",
            "HTMT [95% CI]": f"{apa_number(x['htmt'], bounded=True)} "
                             f"{_ci(x.get('htmt_ci_low'), x.get('htmt_ci_high'), bounded=True)}",
            "Factor r": apa_number(x.get("factor_cor"), 2, bounded=True),
            "AVE": f"{apa_number(x.get('ave_1'), bounded=True)}, {apa_number(x.get('ave_2'), bounded=True)}",
            "Fornell-Larcker": "met" if fl else "not met",
            "chi2 diff (df), p": f"{apa_number(x.get('delta_chisq'))} "
                                 f"({'NA' if pd.isna(x.get('delta_df')) else int(x['delta_df'])}), "
                                 f"{_p(x.get('pvalue'))}",
            "Note": "" if pd.isna(x.get("reason")) else str(x["reason"]),
        })
        hi = x.get("htmt_ci_high")
        same = pd.notna(x.get("construct_1")) and str(x.get("construct_1")) == str(x.get("construct_2"))
        if same:  # two measures of one construct (e.g. a Likert and a Bandura efficacy scale): convergent
            rows[-1]["Note"] = (rows[-1]["Note"] + "; " if rows[-1]["Note"] else "") + \
                f"same construct ({x['construct_1']}): high HTMT expected"
        elif (pd.notna(hi) and float(hi) >= htmt_cut) or not fl:
            notes.append(f"{study}: {x['scale_1']} and {x['scale_2']} may not be distinct constructs (HTMT = "
                         f"{apa_number(x['htmt'], bounded=True)} "
                         f"{_ci(x.get('htmt_ci_low'), x.get('htmt_ci_high'), bounded=True)}, cut-off "
                         f"{apa_number(htmt_cut, bounded=True)}; Fornell-Larcker {'met' if fl else 'not met'}).")
    return [f"**Table {study}.discriminant.** Discriminant validity (`{study}/discriminant.csv`): HTMT (Henseler, "
            f"Ringle & Sarstedt, 2015; distinct when the CI stays below {htmt_cut:.2f}), average variance extracted "
            "and the Fornell-Larcker criterion (AVE above the squared factor correlation), and the chi-square "
            "difference against the model with the factor correlation fixed to 1.", "",
            markdown_table(pd.DataFrame(rows)), ""]


def _sensitivity_section(folder: Path, study: str, notes: list[str], fragile_rho: float) -> list[str]:
    sens = _read(folder / "sensitivity.csv")
    med = _read(folder / "mediation.csv")
    if sens is None or sens.empty or "acme" not in sens or not sens["acme"].notna().any():
        return []
    rows = []
    for (outcome, mediator), g in sens[sens["acme"].notna()].groupby(["outcome", "mediator"], sort=False):
        at0 = g.iloc[(g["rho"].abs()).argmin()]
        r0 = g["rho_at_zero"].iloc[0] if "rho_at_zero" in g else np.nan
        ind = None
        if med is not None and "effect" in med:
            m = med[(med["effect"] == "indirect") & (med["outcome"] == outcome) & (med["mediator"] == mediator)]
            ind = m.iloc[0] if len(m) else None
        fragile = pd.notna(r0) and abs(float(r0)) < fragile_rho
        rows.append({
            "Outcome": outcome, "Mediator": mediator,
            "ACME (rho = 0) [95% CI]": f"{apa_number(at0['acme'], 3)} {_ci(at0['ci_low'], at0['ci_high'], 3)}",
            "Indirect (bootstrap) [95% CI]": "NA" if ind is None else
            f"{apa_number(ind['estimate'], 3)} {_ci(ind['ci_low'], ind['ci_high'], 3)}",
            "rho at ACME = 0": apa_number(r0, 2, bounded=True),
            "R2 (residual) at that rho": apa_number(
                g.iloc[(g["rho"] - (r0 if pd.notna(r0) else 0)).abs().argmin()].get("rsq_prod_residual"), 3,
                bounded=True),
            "Robustness": "no effect (CI includes 0)" if (at0["ci_low"] <= 0 <= at0["ci_high"]) else
            ("fragile" if fragile else "robust"),
        })
        if fragile and not (at0["ci_low"] <= 0 <= at0["ci_high"]):
            notes.append(f"{study}: the indirect effect of {mediator} on {outcome} is fragile: a confounder of "
                         f"the mediator and the outcome correlating only rho = {float(r0):.2f} with both errors "
                         "would explain it away (Imai, Keele & Yamamoto, 2010).")
    out = [f"**Table {study}.5.** Causal mediation and sensitivity (`{study}/sensitivity.csv`, "
           f"`{study}/mediation.csv`; fragile when |rho| < {apa_number(fragile_rho, 2, bounded=True)}).", "",
           markdown_table(pd.DataFrame(rows)), ""]
    return out


def _evidence_section(folder: Path, study: str) -> list[str]:
    """The graded verdict per mediator-outcome pair from ``evidence.csv`` and the evidence that decided it."""
    ev = _read(folder / "evidence.csv")
    if ev is None or ev.empty or "verdict" not in ev or not ev["verdict"].notna().any():
        return []
    rows = []
    for _, g in ev[ev["verdict"].notna()].groupby(["outcome", "mediator"], sort=False, dropna=False):
        x = g.iloc[0]
        links = "; ".join(f"{r['link']}: {apa_number(r['estimate'], 3)} {_ci(r['ci_low'], r['ci_high'], 3)}"
                          for _, r in g.iterrows() if pd.notna(r.get("estimate")))
        rows.append({"Outcome": "" if pd.isna(x["outcome"]) else x["outcome"],
                     "Mediator": "" if pd.isna(x["mediator"]) else x["mediator"],
                     "Graded verdict": x["verdict"], "Decided by": x.get("decided_by", ""),
                     "Links [CI]": links})
    return [f"**Table {study}.evidence.** Evidence profile and graded verdict (`{study}/evidence.csv`; rules in "
            "config/README.md): what the design identifies per link, rho at zero, the b-path robustness value "
            "against the strongest observed covariate, E-values and the panel order.", "",
            markdown_table(pd.DataFrame(rows)), ""]


def _longitudinal_section(folder: Path, study: str) -> list[str]:
    """One sentence: are the panel models' wave scores comparable over time (longitudinal invariance)?"""
    li = _read(folder / "longitudinal_invariance.csv")
    if li is None or li.empty or "conclusion" not in li:
        return []
    per = li.dropna(subset=["conclusion"]).drop_duplicates("measure")
    tested = per[per["decision"].astype(str) != "not tested"] if "decision" in per else per
    text = " ".join((tested if len(tested) else per)["conclusion"].astype(str))
    return [f"**Comparable across waves?** {text} (`{study}/longitudinal_invariance.csv`)", ""] if text else []


def _panel_effects_section(folder: Path, study: str, notes: list[str]) -> list[str]:
    out = []
    for model_file, label in (("riclpm.csv", "RI-CLPM"), ("clpm.csv", "CLPM")):
        d = _read(folder / model_file)
        if d is None or d.empty or "type" not in d:
            continue
        if "proper" in d and (~d["proper"].map(_true) & d["estimate"].notna()).any():
            notes.append(f"{study}: the {label} solution is improper (a negative variance or a correlation "
                         "beyond 1); its cross-lagged paths are not interpretable.")
        if "converged" in d and not d["converged"].map(_true).any():
            notes.append(f"{study}: the {label} did not converge" +
                         (f" ({d['reason'].dropna().iloc[0]})" if "reason" in d and d["reason"].notna().any()
                          else "") + ".")
        t = d[d["type"].astype(str).isin(["cross-lagged", "autoregressive"])]
        if "stationary" in t:
            t = t[t["stationary"].map(_true) == False]  # noqa: E712  the free (non-stationary) fit
        if t.empty:
            continue
        rows = []
        for _, x in t.iterrows():
            rows.append({
                "Path": f"{x['from_var']} -> {x['to_var']}", "Type": x["type"],
                "B [95% CI]": f"{apa_number(x['estimate'], 3)} {_ci(x['ci_low'], x['ci_high'], 3)}",
                "beta": apa_number(x.get("std_all"), 2, bounded=True),
                "p": _p(x.get("pvalue")),
            })
        out += [f"**Table {study}.{label}.** {label} lagged effects, free (non-stationary) fit "
                f"(`{study}/{model_file}`).", "", markdown_table(pd.DataFrame(rows)), ""]
    return out


def _b_ci(x, digits=3) -> str:
    return f"{apa_number(x.get('estimate'), digits)} {_ci(x.get('ci_low'), x.get('ci_high'), digits)}"


def _latent_section(folder: Path, study: str, notes: list[str]) -> list[str]:
    """Latent mediation (the efficacy factor as mediator) beside the sum-score model."""
    lat = _read(folder / "latent_mediation.csv")
    if lat is None or lat.empty or "effect" not in lat:
        return []
    if not lat["estimate"].notna().any() and not lat["outcome"].notna().any():
        return []  # no design (a single reason row): the mediation table already says why
    rows = []
    keys = [lat["outcome"].astype(object).fillna(""), lat["mediator"].astype(object).fillna("")]
    for (outcome, mediator), g in lat.groupby(keys, sort=False, dropna=False):
        if not g["estimate"].notna().any():
            rows.append({"Outcome": outcome, "Mediator": mediator, "Model": "", "a": "", "b": "",
                         "Indirect [95% CI]": "NA", "Fit": "", "Note": _reason(g)})
            continue
        for model, m in g.groupby(g["model"].astype(str), sort=False):
            eff = m.set_index(m["effect"].astype(str))
            first = m.iloc[0]
            fit = ""
            if model == "latent" and pd.notna(first.get("chisq")):
                fit = (f"chi2({'NA' if pd.isna(first.get('df')) else int(first['df'])}) = "
                       f"{apa_number(first['chisq'])}, CFI = {apa_number(first.get('cfi'), 3, bounded=True)}, "
                       f"RMSEA = {apa_number(first.get('rmsea'), 3, bounded=True)}")
            rows.append({
                "Outcome": outcome, "Mediator": mediator, "Model": model.replace("_", " "),
                "a": apa_number(eff["estimate"].get("a"), 3), "b": apa_number(eff["estimate"].get("b"), 3),
                "Indirect [95% CI]": _b_ci(eff.loc["indirect"]) if "indirect" in eff.index else "NA",
                "Fit": fit, "Note": _reason(m),
            })
            if model == "latent" and "proper" in m and (~m["proper"].dropna().map(_true)).any():
                notes.append(f"{study}: the latent mediation model for {mediator} -> {outcome} has an improper "
                             "solution (a negative variance); use the sum-score row.")
            if model == "latent" and "converged" in m and (~m["converged"].dropna().map(_true)).any():
                notes.append(f"{study}: the latent mediation model for {mediator} -> {outcome} did not converge.")
    return [f"**Table {study}.latent.** Latent mediation: the mediator as a factor of its items (removes the "
            f"attenuation of an unreliable sum score) beside the sum-score model (`{study}/latent_mediation.csv`; "
            "unstandardised, bootstrap CIs).", "", markdown_table(pd.DataFrame(rows)), ""]


def _moderated_section(folder: Path, study: str) -> list[str]:
    """Moderated mediation (PROCESS model 7 or 14): conditional indirect effects and the index."""
    mod = _read(folder / "moderated_mediation.csv")
    if mod is None or mod.empty or "effect" not in mod or not mod["estimate"].notna().any():
        return []  # no moderator declared (a reason row only): nothing to report
    t = mod[mod["estimate"].notna()]
    rows = []
    for _, x in t.iterrows():
        eff = str(x["effect"])
        what = {"conditional_indirect": f"indirect at W = {apa_number(x.get('w_value'), 2)}",
                "index": "index of moderated mediation"}.get(eff, eff if pd.isna(x.get("term")) else str(x["term"]))
        rows.append({"Outcome": x["outcome"], "Mediator": x["mediator"], "Moderator (W)": x["moderator"],
                     "Model": "NA" if pd.isna(x.get("model")) else f"PROCESS {int(x['model'])}",
                     "Effect": what, "B [95% CI]": _b_ci(x), "p": _p(x.get("pvalue"))})
    return [f"**Table {study}.moderated.** Moderated mediation (`{study}/moderated_mediation.csv`): the indirect "
            "effect at low, middle and high values of the moderator; the index's CI excluding 0 means the "
            "indirect effect depends on W (Hayes, 2015).", "", markdown_table(pd.DataFrame(rows)), ""]


def _within_section(folder: Path, study: str, notes: list[str]) -> list[str]:
    """The within-person multilevel model, with the Nickell (1981) caution for short panels."""
    wp = _read(folder / "within_person.csv")
    if wp is None or wp.empty or "estimate" not in wp:
        return []
    n_waves = None
    long = _read(folder / "clean_long.csv")
    if long is not None and "wave" in long:
        n_waves = int(long["wave"].nunique())
    t_txt = f"T = {n_waves} occasions" if n_waves else "few occasions"
    nickell = (f"With {t_txt} per person, person-mean centring biases the lagged within-person estimates "
               "(Nickell, 1981): the autoregressive terms are pulled down by about (1 + phi)/(T - 1) and a "
               "cross-lagged path can appear with the wrong sign, so the RI-CLPM above is the primary analysis "
               "and this model a check.")
    if not wp["estimate"].notna().any():
        notes.append(f"{study}: the within-person model gave no estimates ({_reason(wp) or 'no reason given'}).")
        return [f"_The within-person model (`{study}/within_person.csv`) gave no estimates: "
                f"{_reason(wp) or 'no reason given'}._", ""]
    t = wp[wp["estimate"].notna() & (wp.get("component", pd.Series("", index=wp.index)).astype(str) != "intercept")]
    rows = []
    for _, x in t.iterrows():
        rows.append({"Outcome": x["outcome"], "Term": x.get("term", ""),
                     "Component": x.get("component", ""), "B [95% CI]": _b_ci(x), "p": _p(x.get("pvalue"))})
    extra = [f"_Note._ {nickell}"]
    if "reason" in wp and wp["reason"].notna().any():
        extra.append(f"_Fit note:_ {_reason(wp)}.")
    if n_waves is not None and n_waves <= 10:
        notes.append(f"{study}: the within-person (person-mean-centred lagged) model has Nickell (1981) bias "
                     f"with {t_txt}; read its lagged effects only beside the RI-CLPM.")
    return [f"**Table {study}.within.** Within-person multilevel model, lagged effects split into within "
            f"(person-mean-centred) and between parts (`{study}/within_person.csv`).", "",
            markdown_table(pd.DataFrame(rows)), ""] + [e for x in extra for e in (x, "")]


def _reason(df) -> str:
    if "reason" not in df or not df["reason"].notna().any():
        return ""
    return "; ".join(dict.fromkeys(str(r) for r in df["reason"].dropna()))


def _meta_section(results: Path, notes=None) -> list[str]:
    meta = results / "meta"
    if not meta.is_dir():
        return []
    out = ["## Meta-analyses", ""]
    for folder in sorted(p for p in meta.iterdir() if p.is_dir()):
        s = _read(folder / "summary.csv")
        if s is None or s.empty:
            continue
        name = folder.name
        rows = []
        for _, x in s.iterrows():
            if pd.notna(x.get("reason")) and pd.isna(x.get("estimate")):
                rows.append({"Term": x.get("term", ""), "Note": x["reason"]})
                continue
            rows.append({
                "Term": x.get("term", ""),
                "k": int(x["k"]) if pd.notna(x.get("k")) else "NA",
                "Estimate [95% CI]": f"{apa_number(x['estimate'], 3)} {_ci(x['ci_low'], x['ci_high'], 3)}",
                "95% PI": _ci(x.get("pi_low"), x.get("pi_high"), 3),
                "tau2": apa_number(x.get("tau2"), 4),
                "I2 (%)": apa_number(x.get("I2"), 1),
                "Q (df), p": f"{apa_number(x.get('Q'), 2)}"
                             + ("" if pd.isna(x.get("Q_df")) else f" ({int(x['Q_df'])})")
                             + f", {_p(x.get('Q_pvalue'))}",
                "Method": "/".join(str(v) for v in (x.get("method"), x.get("measure")) if pd.notna(v)),
            })
        out += [f"**Table meta.{name}.** Random-effects model (`meta/{name}/summary.csv`).", "",
                markdown_table(pd.DataFrame(rows)), ""]
        out += _figures(results, f"meta/{name}", META_FIGURES)
        big = s[(s.get("I2", pd.Series(dtype=float)) > 75)] if "I2" in s else s.iloc[0:0]
        if len(big):
            out += [f"_Note._ Heterogeneity in `{name}` is large (I2 > 75%): the prediction interval, not the "
                    "pooled mean, describes what a new study may find.", ""]
            if notes is not None:
                notes.append(f"meta-analysis {name}: heterogeneity is large (I2 = {float(big['I2'].max()):.0f}%); "
                             "the pooled mean alone misleads, read the prediction interval.")
        masem = _read(folder / "masem.csv")
        if masem is not None and "table" in masem and (masem["table"] != masem["table"].iloc[0]).any():
            t = masem[masem["table"].isin(["path", "indirect"])]
            if len(t):
                cols = [c for c in ("table", "outcome", "predictor", "from", "via", "to", "estimate", "se", "ci_low",
                                    "ci_high") if c in t]
                t = t[cols].copy()
                for c in ("estimate", "se", "ci_low", "ci_high"):
                    t[c] = t[c].map(lambda v: apa_number(v, 3))
                out += [f"**Table meta.{name}.masem.** Path model on the pooled correlations "
                        f"(`meta/{name}/masem.csv`).", "", markdown_table(t.fillna("")), ""]
        out += _tssem_lines(folder, name) + _subgroup_lines(folder, name)
    return out


def _p_eq(v) -> str:
    """'p = .413' or 'p < .001' for running text."""
    t = _p(v)
    return f"p {t}" if t.startswith("<") else f"p = {t}"


def _tssem_lines(folder, name):
    """The stage-2 estimates and fit of a TSSEM analysis (``tssem.csv``)."""
    t = _read(folder / "tssem.csv")
    if t is None or "table" not in t or not (t["table"] == "path").any():
        return []
    est = t[t["table"].isin(["path", "covariance", "indirect", "defined"])]
    rows = [{"Parameter": x["term"], "Estimate [95% CI]": f"{apa_number(x['estimate'], 3)} "
             f"{_ci(x['ci_low'], x['ci_high'], 3)}", "SE": apa_number(x["se"], 3), "p": _p(x.get("pvalue")),
             "CI": x.get("ci_method", "")} for _, x in est.iterrows()]
    fit = t[t["table"] == "fit"].set_index("term")["estimate"]
    line = (f"chi2({int(fit['df'])}) = {apa_number(fit['chisq'], 2)}, {_p_eq(fit.get('pvalue'))}; "
            f"RMSEA = {apa_number(fit['rmsea'], 3, bounded=True)}, CFI = {apa_number(fit['cfi'], 3, bounded=True)}, "
            f"SRMR = {apa_number(fit['srmr'], 3, bounded=True)}, N = {int(fit['n'])}") if "df" in fit else ""
    return [f"**Table meta.{name}.tssem.** Two-stage SEM (Cheung & Chan, 2005): the model fitted by WLS to the "
            f"pooled correlation matrix (`meta/{name}/tssem.csv`). {line}.", "",
            markdown_table(pd.DataFrame(rows).fillna("")), ""]


def _subgroup_lines(folder, name):
    """Per-level estimates and the test for subgroup differences (``subgroup.csv``)."""
    t = _read(folder / "subgroup.csv")
    if t is None or "group" not in t or not t["estimate"].notna().any():
        return []
    per = t[t["group"].astype(str) != "between"]
    rows = [{"Subgroup": x["group"], "k": int(x["k"]),
             "Estimate [95% CI]": f"{apa_number(x['estimate'], 3)} {_ci(x['ci_low'], x['ci_high'], 3)}",
             "tau2": apa_number(x.get("tau2"), 4), "I2 (%)": apa_number(x.get("I2"), 1)} for _, x in per.iterrows()]
    b = t[t["group"].astype(str) == "between"]
    test = ""
    if len(b):
        b = b.iloc[0]
        df2 = b.get("Q_df2")
        stat = (f"F({int(b['Q_df'])}, {int(df2)})" if pd.notna(df2) else f"QM({int(b['Q_df'])})")
        test = f" Test for subgroup differences: {stat} = {apa_number(b['Q'], 2)}, {_p_eq(b.get('Q_pvalue'))}."
    col = t["subgroup"].iloc[0] if "subgroup" in t else ""
    return [f"**Table meta.{name}.subgroup.** Random-effects model per level of `{col}` "
            f"(`meta/{name}/subgroup.csv`).{test}", "", markdown_table(pd.DataFrame(rows)), ""]


def build_summary(results_dir="results", studies=(), *, fragile_rho=0.2) -> str:
    """Markdown summary of a run from the tables under ``results_dir``.

    Parameters
    ----------
    results_dir : str or Path
        The workflow's ``results/`` folder.
    studies : iterable of str
        Studies in report order.
    fragile_rho : float
        A mediation is called fragile when the sensitivity parameter at which its ACME vanishes
        is smaller than this in absolute value (config ``mediation.fragile_rho``).
    """
    results = Path(results_dir)
    flagged: list[str] = []
    notes: list[str] = []
    body: list[str] = []
    for study in studies:
        body += _study_section(results, study, flagged, notes, fragile_rho)
    cross = _figures(results, ".", CROSS_STUDY_FIGURES)
    if cross:
        body += ["## Cause or correlate across studies", "", *[ln.replace("./figures/", "figures/") for ln in cross]]
    body += _meta_section(results, notes)
    head = [
        "# efficacy: summary of the analysis",
        "",
        "Every number below is quoted from the CSV named in its table title (paths relative to `results/`). "
        "Versions, config and input checksums: `provenance.json`.",
        "",
    ]
    if flagged:
        head += ["> **Reliability caution.** These scales fall below the reliability threshold: "
                 + ", ".join(flagged) + ". Unreliable scores attenuate every correlation and mediation estimate "
                 "that uses them (see the disattenuated correlations in `<study>/attenuation.csv`).", ""]
    if notes:
        head += ["> **Results that need care.**", ">"] + [f"> - {n}" for n in notes] + [""]
    return "\n".join(head + body).rstrip() + "\n"


def _inline(text: str) -> str:
    """Escape, then render **bold**, *italic* and `code` spans."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", t)
    t = re.sub(r"(?<![\w*])_([^_]+)_(?![\w])", r"<em>\1</em>", t)
    return t


def _png_width(path: Path):
    """Pixel width from a PNG header, or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big")


def markdown_to_html(markdown: str, title="efficacy summary", base=None) -> str:
    """A minimal self-contained HTML rendering of the summary (headings, tables, paragraphs).

    With ``base`` (the folder image paths are relative to), each figure is shown at one common
    scale (half its 300-dpi pixel width, capped at the text width), so text in a single-column
    figure is as large on screen as in a double-column one.
    """
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;}table{border-collapse:collapse;"
             "margin:.5em 0 1.5em}td,th{border-top:1px solid #999;border-bottom:1px solid #999;padding:.2em .6em;"
             "text-align:left}blockquote{background:#fff4e0;padding:.5em 1em}figure{margin:1em 0}"
             "figure img{max-width:min(100%,46em);height:auto}"
             "figcaption{font-size:.9em;color:#444}</style></head><body>"]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            parts.append("<table><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) + "</tr>")
            for r in rows[2:]:
                parts.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>")
            parts.append("</table>")
            continue
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            parts.append(f"<h{min(level, 6)}>{_inline(line.lstrip('#').strip())}</h{min(level, 6)}>")
        elif line.startswith("![") and "](" in line and line.endswith(")"):
            alt, src = line[2:-1].split("](", 1)
            px = _png_width(Path(base) / src) if base is not None else None
            size = f"width='{px // 2}' " if px else ""
            parts.append(f"<figure><img src='{html.escape(src, quote=True)}' {size}alt='{html.escape(alt, quote=True)}' "
                         f"><figcaption>{html.escape(alt)}</figcaption></figure>")
        elif line.startswith(">"):  # consecutive quote lines: one box; "> - item" lines: a list inside it
            block = []
            while i < len(lines) and lines[i].startswith(">"):
                block.append(lines[i][1:].strip())
                i += 1
            inner, items = [], []
            for b in block + [""]:
                if b.startswith("- "):
                    items.append(f"<li>{_inline(b[2:])}</li>")
                    continue
                if items:
                    inner.append("<ul>" + "".join(items) + "</ul>")
                    items = []
                if b:
                    inner.append(f"<p>{_inline(b)}</p>")
            parts.append("<blockquote>" + "".join(inner) + "</blockquote>")
            continue
        elif line.startswith("- "):
            parts.append(f"<ul><li>{_inline(line[2:])}</li></ul>")
        elif line.strip():
            parts.append(f"<p>{_inline(line)}</p>")
        i += 1
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
