"""Manuscript tables: each study's key results as APA 7 tables in Word (.docx) and LaTeX (booktabs).

The workflow's stage tables (CSV) are what reviewers rerun; a manuscript needs them typeset. This module
turns them into APA-style tables (American Psychological Association, 2020, ch. 7): a bold table number, an
italic title, horizontal rules above and below the column headings and at the bottom only, numbers with
two decimals (no leading zero for quantities bounded by 1, such as reliabilities, CFI and p-values), 95%
intervals in brackets, and a general note. Word files are written with python-docx, LaTeX with the
booktabs rules (``\\toprule``, ``\\midrule``, ``\\bottomrule``).

Example
-------
>>> import pandas as pd
>>> from efficacy.tables import reliability_table, to_latex
>>> rel = pd.DataFrame({"scale": ["efficacy"], "subscale": [None], "group": ["all"], "wave": [None],
...                     "n": [300], "k": [6], "alpha": [0.84], "alpha_ci_low": [0.81], "alpha_ci_high": [0.87],
...                     "omega_total": [0.85], "omega_ci_low": [0.82], "omega_ci_high": [0.88]})
>>> print(to_latex(reliability_table(rel)).splitlines()[3])
\\caption{Reliability of the Scales}
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .summary import _ci, _p, apa_number, robust_fit_view

__all__ = ["ManuscriptTable", "reliability_table", "cfa_fit_table", "loadings_table", "invariance_table",
           "mediation_table", "sensitivity_table", "meta_table", "study_tables", "meta_tables", "to_latex",
           "write_docx", "write_latex", "write_tables"]


@dataclass
class ManuscriptTable:
    """One APA table: a title, column headings, rows of formatted cells and a note."""

    title: str
    columns: list
    rows: list
    note: str = ""
    label: str = ""
    #: columns holding text (left-aligned); the others are numbers (centred, as APA recommends)
    text_columns: int = 1
    extra: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns)


def _col(df, *names):
    """The first of ``names`` that is a column of ``df`` (the stage tables' names, old and new)."""
    for n in names:
        if n in df.columns:
            return df[n]
    return pd.Series([np.nan] * len(df), index=df.index)


def _need(df, cols, what):
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {missing}", found=", ".join(map(str, df.columns)))


def _usable(df):
    """Rows with an estimate (stage tables carry reason-only rows for what could not be estimated)."""
    return df[df["reason"].isna()] if "reason" in df.columns else df


# --------------------------------------------------------------------------- the tables
def reliability_table(reliability: pd.DataFrame, *, number: int = 1) -> ManuscriptTable:
    """Alpha and omega with their 95% intervals per scale (``reliability.csv``, whole sample)."""
    _need(reliability, ["scale", "n", "k", "alpha"], "reliability_table")
    d = _usable(reliability)
    if "group" in d.columns:
        d = d[d["group"].fillna("all").astype(str) == "all"]
    rows = []
    for i, r in d.iterrows():
        name = str(r["scale"]) + (f" / {r['subscale']}" if "subscale" in d.columns and pd.notna(r["subscale"])
                                  else "") + (f" (wave {r['wave']})" if "wave" in d.columns and pd.notna(r["wave"])
                                              else "")
        rows.append([name, f"{int(r['n'])}", f"{int(r['k'])}", apa_number(r["alpha"], 2, bounded=True),
                     _ci(_col(d, "alpha_ci_low")[i], _col(d, "alpha_ci_high")[i], 2, bounded=True),
                     apa_number(_col(d, "omega_total")[i], 2, bounded=True),
                     _ci(_col(d, "omega_ci_low")[i], _col(d, "omega_ci_high")[i], 2, bounded=True)])
    return ManuscriptTable(
        f"Table {number}", ["Scale", "n", "k", "α", "95% CI", "ω", "95% CI"], rows,
        note="α = Cronbach's alpha (Feldt interval); ω = McDonald's omega total (bootstrap BCa interval).",
        label="reliability", extra={"title": "Reliability of the Scales"})


def cfa_fit_table(cfa_fit: pd.DataFrame, *, number: int = 2) -> ManuscriptTable:
    """Fit of the confirmatory factor models (``cfa_fit.csv``).

    Rows fitted by a robust estimator (MLR, MLM, WLSMV; column ``estimator``) report the scaled
    chi-square and lavaan's robust CFI and RMSEA (with its robust interval), as such fits are
    reported; the note names the estimators used.
    """
    _need(cfa_fit, ["model", "chisq", "df", "cfi", "rmsea", "srmr"], "cfa_fit_table")
    robust, view = robust_fit_view(cfa_fit)
    rows = []
    for i, r in _usable(view).iterrows():
        if pd.isna(r["chisq"]):
            continue
        rows.append([str(r["model"]), *([str(r["estimator"])] if robust else []), apa_number(r["chisq"], 2),
                     f"{int(round(float(r['df'])))}", _p(_col(view, "pvalue")[i]),
                     apa_number(r["cfi"], 3, bounded=True), apa_number(r["rmsea"], 3, bounded=True),
                     _ci(_col(view, "rmsea_ci_low")[i], _col(view, "rmsea_ci_high")[i], 3, bounded=True),
                     apa_number(r["srmr"], 3, bounded=True)])
    header = ["Model", *(["Estimator"] if robust else []), "χ²", "df", "p", "CFI", "RMSEA", "90% CI", "SRMR"]
    if robust:
        used = ", ".join(sorted({row[1] for row in rows}))
        note = (f"Estimators: {used} (per model, from the codebook: ordinal items WLSMV, a declared cluster "
                "cluster-robust MLR, else ML). Robust rows report the scaled chi-square and the robust CFI and "
                "RMSEA (lavaan's chisq.scaled, cfi.robust, rmsea.robust). RMSEA interval at 90%.")
    else:
        note = ("Maximum-likelihood estimation (full information for missing answers). "
                "RMSEA interval at 90%, as is conventional.")
    return ManuscriptTable(f"Table {number}", header, rows, note=note, label="cfa-fit",
                           text_columns=2 if robust else 1, extra={"title": "Fit of the Confirmatory Factor Models"})


def loadings_table(cfa_estimates: pd.DataFrame, *, model: str = "joint", number: int = 3) -> ManuscriptTable:
    """Standardised loadings of a CFA (``cfa_estimates.csv``, operator ``=~``)."""
    _need(cfa_estimates, ["model", "lhs", "op", "rhs", "std_all"], "loadings_table")
    d = cfa_estimates[(cfa_estimates["op"] == "=~")]
    if model in set(d["model"]):
        d = d[d["model"] == model]
    est, se = _col(d, "estimate", "est"), _col(d, "se")
    fixed = (_col(d, "free") == 0) | ~(se > 0)  # the marker loading of each factor has no SE
    rows = [[str(r["lhs"]), str(r["rhs"]), apa_number(est[i], 2), "—" if fixed[i] else apa_number(se[i], 2),
             apa_number(r["std_all"], 2, bounded=True)] for i, r in d.iterrows()]
    return ManuscriptTable(f"Table {number}", ["Factor", "Item", "B", "SE", "β"], rows,
                           note="B = unstandardised loading (first loading of each factor fixed to 1); "
                                "β = standardised loading (lavaan's std.all).",
                           text_columns=2, label="loadings", extra={"title": "Factor Loadings"})


def invariance_table(invariance: pd.DataFrame, *, number: int = 4) -> ManuscriptTable:
    """Measurement-invariance steps across a grouping variable (``invariance_<group>.csv``)."""
    _need(invariance, ["step", "chisq", "df", "cfi", "rmsea"], "invariance_table")
    rows = []
    for i, r in invariance.iterrows():
        if pd.isna(r["chisq"]):
            continue
        rows.append([str(r["step"]).replace("_", " ") + (f" (free: {r['freed']})" if "freed" in invariance.columns
                                                         and pd.notna(r["freed"]) else ""),
                     apa_number(r["chisq"], 2), f"{int(r['df'])}", apa_number(r["cfi"], 3, bounded=True),
                     apa_number(r["rmsea"], 3, bounded=True),
                     apa_number(_col(invariance, "delta_chisq")[i], 2) if pd.notna(_col(invariance, "delta_chisq")[i])
                     else "",
                     "" if pd.isna(_col(invariance, "delta_df")[i]) else f"{int(_col(invariance, 'delta_df')[i])}",
                     _p(_col(invariance, "lrt_pvalue")[i]) if pd.notna(_col(invariance, "lrt_pvalue")[i]) else "",
                     apa_number(_col(invariance, "delta_cfi")[i], 3) if pd.notna(_col(invariance, "delta_cfi")[i])
                     else "", str(_col(invariance, "decision")[i]) if pd.notna(_col(invariance, "decision")[i])
                     else ""])
    group = str(invariance["group"].iloc[0]) if "group" in invariance.columns and len(invariance) else "group"
    return ManuscriptTable(f"Table {number}", ["Model", "χ²", "df", "CFI", "RMSEA", "Δχ²", "Δdf", "p", "ΔCFI",
                                               "Decision"], rows,
                           note="Each model is compared with the one above it. A step is not invariant when "
                                "ΔCFI ≤ -.010 (Cheung & Rensvold, 2002); ΔRMSEA is in the stage table.",
                           label=f"invariance-{group}",
                           extra={"title": f"Measurement Invariance Across {group.replace('_', ' ').title()}"})


_EFFECTS = {"a": "a (X → M)", "b": "b (M → Y)", "direct": "c′ (direct)", "indirect": "ab (indirect)",
            "total": "c (total)", "total_indirect": "total indirect"}


def mediation_table(mediation: pd.DataFrame, *, number: int = 5) -> ManuscriptTable:
    """Paths and effects of the mediation models (``mediation.csv``)."""
    _need(mediation, ["outcome", "effect", "estimate", "ci_low", "ci_high"], "mediation_table")
    d = _usable(mediation)
    rows = []
    for i, r in d.iterrows():
        med = str(r["mediator"]) if "mediator" in d.columns and pd.notna(r["mediator"]) else ""
        rows.append([str(r["outcome"]), med, _EFFECTS.get(str(r["effect"]), str(r["effect"])),
                     apa_number(r["estimate"], 3), apa_number(_col(d, "se")[i], 3),
                     _ci(r["ci_low"], r["ci_high"], 3), _p(_col(d, "pvalue")[i])])
    ci = str(d["ci_method"].dropna().iloc[0]) if "ci_method" in d.columns and d["ci_method"].notna().any() else ""
    return ManuscriptTable(f"Table {number}", ["Outcome", "Mediator", "Effect", "B", "SE", "95% CI", "p"], rows,
                           note="Unstandardised coefficients. Intervals of the indirect effects: "
                                + {"bca": "bias-corrected and accelerated bootstrap.",
                                   "percentile": "percentile bootstrap.",
                                   "montecarlo": "Monte Carlo."}.get(ci, "delta method.")
                                + " p-values of indirect effects are from the delta method.",
                           text_columns=3, label="mediation", extra={"title": "Mediation Analysis"})


def sensitivity_table(sensitivity: pd.DataFrame, *, number: int = 6) -> ManuscriptTable:
    """The sensitivity of each indirect effect to mediator-outcome confounding (``sensitivity.csv``)."""
    _need(sensitivity, ["outcome", "mediator", "rho", "acme", "rho_at_zero"], "sensitivity_table")
    d = _usable(sensitivity)
    rows = []
    for (out, med), g in d.groupby(["outcome", "mediator"], sort=False):
        at0 = g.iloc[(g["rho"].abs()).argmin()]
        rows.append([str(out), str(med), apa_number(at0["acme"], 3), apa_number(g["rho_at_zero"].iloc[0], 2),
                     apa_number(_col(g, "rsq_prod_residual").iloc[(g["rho"] - g["rho_at_zero"].iloc[0]).abs().argmin()],
                                3, bounded=True),
                     apa_number(_col(g, "rsq_prod_total").iloc[(g["rho"] - g["rho_at_zero"].iloc[0]).abs().argmin()],
                                3, bounded=True)])
    return ManuscriptTable(f"Table {number}", ["Outcome", "Mediator", "ACME (ρ = 0)", "ρ at ACME = 0",
                                               "R²*M R²*Y", "R̃²M R̃²Y"], rows,
                           note="ρ = correlation of the mediator and outcome model errors at which the average "
                                "causal mediation effect (ACME) is zero, and the products of the residual and "
                                "total variance an omitted confounder would have to explain (Imai, Keele & "
                                "Yamamoto, 2010), at the grid point nearest that ρ.",
                           text_columns=2, label="sensitivity", extra={"title": "Sensitivity Analysis"})


def meta_table(summary: pd.DataFrame, *, number: int = 1) -> ManuscriptTable:
    """A random-effects meta-analysis (``results/meta/<name>/summary.csv``)."""
    _need(summary, ["term", "estimate", "ci_low", "ci_high"], "meta_table")
    d = _usable(summary)
    rows = []
    for i, r in d.iterrows():
        rows.append([str(r["term"]), f"{int(r['k'])}" if "k" in d.columns and pd.notna(r["k"]) else "",
                     apa_number(r["estimate"], 3), apa_number(_col(d, "se")[i], 3), _ci(r["ci_low"], r["ci_high"], 3),
                     _p(_col(d, "pvalue", "pval")[i]), apa_number(_col(d, "tau2")[i], 3),
                     apa_number(_col(d, "I2")[i], 1)])
    method = str(d["method"].iloc[0]) if "method" in d.columns and len(d) else ""
    measure = str(d["measure"].iloc[0]) if "measure" in d.columns and len(d) and pd.notna(d["measure"].iloc[0]) else ""
    name = str(d["analysis"].iloc[0]) if "analysis" in d.columns and len(d) else "meta-analysis"
    return ManuscriptTable(f"Table {number}", ["Term", "k", "Estimate", "SE", "95% CI", "p", "τ²", "I² (%)"],
                           rows, note=f"Random-effects model ({method} estimator of τ²)"
                                      + (f"; effect size {measure}" if measure else "") + ".",
                           label=f"meta-{name}", extra={"title": f"Meta-Analysis: {name.replace('_', ' ')}"})


def _read(path):
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None


def study_tables(folder) -> list:
    """The manuscript tables of one study from its stage tables in ``folder`` (``results/<study>``)."""
    folder = Path(folder)
    out, number = [], 1
    builders = [("reliability.csv", reliability_table), ("cfa_fit.csv", cfa_fit_table),
                ("cfa_estimates.csv", loadings_table)]
    builders += [(p.name, invariance_table) for p in sorted(folder.glob("invariance_*.csv"))]
    builders += [("mediation.csv", mediation_table), ("sensitivity.csv", sensitivity_table)]
    for name, build in builders:
        df = _read(folder / name)
        if df is None or df.empty:
            continue
        t = build(df, number=number)
        if t.rows:
            out.append(t)
            number += 1
    return out


def meta_tables(folder) -> list:
    df = _read(Path(folder) / "summary.csv")
    if df is None or df.empty:
        return []
    t = meta_table(df)
    return [t] if t.rows else []


# --------------------------------------------------------------------------- writers
_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}
_LATEX_SYMBOLS = {"α": r"$\alpha$", "ω": r"$\omega$", "β": r"$\beta$", "χ²": r"$\chi^2$", "Δ": r"$\Delta$",
                  "ρ": r"$\rho$", "τ²": r"$\tau^2$", "I²": r"$I^2$", "R²": r"$R^2$", "R̃²": r"$\tilde R^2$",
                  "≤": r"$\leq$", "→": r"$\rightarrow$", "′": r"$'$", "*": r"$^*$", "<": r"$<$"}


def _tex(text) -> str:
    s = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
    for k in sorted(_LATEX_SYMBOLS, key=len, reverse=True):
        s = s.replace(k, _LATEX_SYMBOLS[k])
    return s


def to_latex(table: ManuscriptTable) -> str:
    """A LaTeX ``table`` environment with booktabs rules (needs ``\\usepackage{booktabs}``)."""
    align = "l" * table.text_columns + "c" * (len(table.columns) - table.text_columns)
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small",
             r"\caption{" + _tex(table.extra.get("title", table.title)) + "}",
             r"\label{tab:" + re.sub(r"[^A-Za-z0-9-]", "-", table.label or table.title) + "}",
             r"\begin{tabular}{" + align + "}", r"\toprule",
             " & ".join(_tex(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex(c) for c in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.note:
        lines += [r"\par\smallskip", r"\parbox{\linewidth}{\footnotesize\textit{Note.} " + _tex(table.note) + "}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _atomic_bytes(path, data: bytes):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_latex(tables, path):
    """All ``tables`` in one .tex file (to ``\\input`` into a manuscript)."""
    text = "% Generated by efficacy.tables (APA 7 tables; needs \\usepackage{booktabs}).\n\n"
    text += "\n".join(to_latex(t) for t in tables) if tables else "% No table: the study has no estimable result.\n"
    return _atomic_bytes(path, text.encode("utf-8"))


def _border(cell, **edges):
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tc_pr = cell._tc.get_or_add_tcPr()
    borders = tc_pr.find(qn("w:tcBorders"))
    if borders is None:
        borders = OxmlElement("w:tcBorders")
        tc_pr.append(borders)
    for edge, size in edges.items():
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000")
        borders.append(el)


def write_docx(tables, path, *, heading=None):
    """All ``tables`` in one Word document, APA 7 style (bold number, italic title, three rules, note).

    The document carries no creation time, so the same tables give the same bytes (python-docx writes
    the package parts in a fixed order).
    """
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    doc = docx.Document()
    props = doc.core_properties
    props.author = "efficacy"
    import datetime as _dt

    props.created = props.modified = props.last_printed = _dt.datetime(2000, 1, 1)  # no clock in the file
    props.revision = 1
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(12)
    if heading:
        doc.add_heading(heading, level=1)
    if not tables:
        doc.add_paragraph("No table: the study has no estimable result.")
    for t in tables:
        p = doc.add_paragraph()
        p.add_run(t.title).bold = True
        p = doc.add_paragraph()
        p.add_run(t.extra.get("title", "")).italic = True
        table = doc.add_table(rows=1 + len(t.rows), cols=len(t.columns))
        for j, c in enumerate(t.columns):
            cell = table.rows[0].cells[j]
            cell.text = str(c)
            _border(cell, top=8, bottom=4)
        for i, row in enumerate(t.rows, start=1):
            for j, value in enumerate(row):
                cell = table.rows[i].cells[j]
                cell.text = str(value)
                if j >= t.text_columns:
                    cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
                if i == len(t.rows):
                    _border(cell, bottom=8)
        if t.note:
            p = doc.add_paragraph()
            p.add_run("Note. ").italic = True
            p.add_run(t.note)
        doc.add_paragraph()
    buf = io.BytesIO()
    doc.save(buf)
    return _atomic_bytes(path, _fixed_zip(buf.getvalue()))


def _fixed_zip(data: bytes) -> bytes:
    """Rewrite the .docx (a zip) with fixed member dates, so that identical tables give identical bytes."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            body = src.read(info.filename)
            dst.writestr(fixed, body)
    return out.getvalue()


def write_tables(tables, docx_path, tex_path, *, heading=None):
    """Write ``tables`` as .docx and .tex; returns the two paths."""
    return write_docx(tables, docx_path, heading=heading), write_latex(tables, tex_path)
