"""The run's summary: every stage's key numbers as APA-style tables, in one document.

:func:`build_summary` reads the tables the workflow wrote under ``results/``
and returns Markdown (``results/summary.md``) and a self-contained HTML page
(``results/summary.html``). Every number is quoted from, and names, the CSV it
comes from, so a reviewer can trace it. Tables follow APA (7th ed.) habits:
no leading zero for statistics bounded by 1 (alpha, omega, r), two decimals,
95% CIs in brackets, *n* and *k* reported. A stage that produced no result
for a study says so instead of failing.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["apa_number", "build_summary", "markdown_table", "markdown_to_html"]


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


def _study_section(results: Path, study: str, threshold_note: list[str]) -> list[str]:
    out = [f"## Study: {study}", ""]
    folder = results / study
    flow = _read(folder / "flow.csv")
    if flow is not None:
        out += [f"**Table {study}.1.** Participant flow (`{study}/flow.csv`).", ""]
        t = flow.assign(excluded=flow["excluded"].where(flow["step"] > 0, ""))
        out += [markdown_table(t[["step", "reason", "excluded", "remaining"]]), ""]
    else:
        out += ["_Cleaning produced no result for this study._", ""]

    rel = _read(folder / "reliability.csv")
    if rel is not None and not rel.empty:
        r = rel[(rel["group"].astype(str) == "all")] if "group" in rel else rel
        if "subscale" in r:
            r = r[r["subscale"].isna()]
        rows = []
        for _, x in r.iterrows():
            rows.append({
                "Scale": x["scale"] + (f" (wave {int(x['wave'])})" if pd.notna(x.get("wave")) else ""),
                "Construct": x["construct"],
                "n": int(x["n"]) if pd.notna(x["n"]) else "NA",
                "k": int(x["k"]) if pd.notna(x["k"]) else "NA",
                "alpha [95% CI]": f"{apa_number(x['alpha'], bounded=True)} {_ci(x['alpha_ci_low'], x['alpha_ci_high'], bounded=True)}",
                "omega [95% CI]": f"{apa_number(x.get('omega_total'), bounded=True)} {_ci(x.get('omega_ci_low'), x.get('omega_ci_high'), bounded=True)}",
                "Flag": "" if str(x.get("flag")) in ("ok", "nan", "") else str(x.get("flag")).replace("_", " "),
                "Note": "" if pd.isna(x.get("reason")) else x.get("reason"),
            })
            if rows[-1]["Flag"] == "below threshold":
                threshold_note.append(f"{study}/{x['scale']}")
        out += [f"**Table {study}.2.** Reliability (`{study}/reliability.csv`).", "", markdown_table(pd.DataFrame(rows)), ""]

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
    verdict = folder / "verdict.md"
    if verdict.exists():
        out += [f"**Cause or correlate?** (`{study}/verdict.md`)", "", verdict.read_text(encoding="utf-8").strip(), ""]

    panel = _read(folder / "panel_comparison.csv")
    if panel is not None and not panel.empty:
        out += [f"**Table {study}.4.** Panel models (`{study}/panel_comparison.csv`).", "",
                markdown_table(panel.map(lambda v: apa_number(v, 3) if isinstance(v, float) else v)), ""]
    return out


def _meta_section(results: Path) -> list[str]:
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
                             + f", {_p(x.get('Q_pval'))}",
                "Method": "/".join(str(v) for v in (x.get("method"), x.get("measure")) if pd.notna(v)),
            })
        out += [f"**Table meta.{name}.** Random-effects model (`meta/{name}/summary.csv`).", "",
                markdown_table(pd.DataFrame(rows)), ""]
        big = s[(s.get("I2", pd.Series(dtype=float)) > 75)] if "I2" in s else s.iloc[0:0]
        if len(big):
            out += [f"_Note._ Heterogeneity in `{name}` is large (I2 > 75%): the prediction interval, not the "
                    "pooled mean, describes what a new study may find.", ""]
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
    return out


def build_summary(results_dir="results", studies=()) -> str:
    """Markdown summary of a run from the tables under ``results_dir``."""
    results = Path(results_dir)
    flagged: list[str] = []
    body: list[str] = []
    for study in studies:
        body += _study_section(results, study, flagged)
    body += _meta_section(results)
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
    return "\n".join(head + body).rstrip() + "\n"


def markdown_to_html(markdown: str, title="efficacy summary") -> str:
    """A minimal self-contained HTML rendering of the summary (headings, tables, paragraphs)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;}table{border-collapse:collapse;"
             "margin:.5em 0 1.5em}td,th{border-top:1px solid #999;border-bottom:1px solid #999;padding:.2em .6em;"
             "text-align:left}blockquote{background:#fff4e0;padding:.5em 1em}</style></head><body>"]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) + "</tr>")
            for r in rows[2:]:
                parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
            parts.append("</table>")
            continue
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            parts.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith(">"):
            parts.append(f"<blockquote>{html.escape(line.lstrip('> '))}</blockquote>")
        elif line.strip():
            parts.append(f"<p>{html.escape(line)}</p>")
        i += 1
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
