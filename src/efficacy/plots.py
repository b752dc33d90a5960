"""Publication figures for the efficacy pipeline (matplotlib only).

One style (:func:`style`): fonts legible at journal column width (3.5 in single, 7 in double
column), the Okabe-Ito colour-blind-safe palette, and :func:`save_figure`, which writes every
figure as PNG (300 dpi) and PDF atomically and without dates so the same figure gives the same
bytes.

Figures take the tables the workflow stages write:

- :func:`forest_plot` - ``studies`` and ``summary`` from :func:`efficacy.meta.run_analysis`
  (the forest plot of Lewis & Clarke, 2001; cf. ``metafor::forest``);
- :func:`funnel_plot` - the same tables, contour-enhanced (Peters et al., 2008; cf.
  ``metafor::funnel(level=c(90, 95, 99), shade=...)``) with trim-and-fill studies open
  (Duval & Tweedie, 2000);
- :func:`reliability_plot` - ``results/<study>/reliability.csv``;
- :func:`flow_diagram` - ``results/<study>/flow.csv`` (a CONSORT-style participant flow);
- :func:`item_distributions` / :func:`missingness_map` - ``clean.csv`` with the codebook
  (floor/ceiling effects, Terwee et al., 2007; missing-data patterns, cf. ``mice::md.pattern``);
- :func:`path_diagram` - any path model with "est [lo, hi]" on the arrows, laid out from the
  graph (layers by longest path, barycentre ordering; Sugiyama et al., 1981), with adapters
  :func:`mediation_graph` (``mediation.csv``), :func:`riclpm_graph` (``riclpm.csv``, within-
  and between-person parts) and :func:`masem_graph` (``results/meta/<name>/masem.csv``);
- :func:`sensitivity_curve` - ``sensitivity.csv`` (Imai, Keele & Yamamoto, 2010; cf.
  ``plot(mediation::medsens(...))``);
- :func:`invariance_plot` - ``invariance_<group>.csv`` with Chen (2007) cut-off bands;
- :func:`power_curve` / :func:`coverage_plot` - the simulation study's ``power.csv`` and
  ``coverage.csv`` (2 x MCSE bars; Morris, White & Crowther, 2019);
- :func:`placeholder_figure` - a figure stating why a result is missing;
- :func:`render_stage_figure` - the workflow entry point (``workflow/rules/figures.smk``).

Example
-------
>>> import pandas as pd
>>> from efficacy.plots import flow_diagram, save_figure
>>> flow = pd.DataFrame({"step": [0, 1], "reason": ["raw data", "failed the attention check"],
...                      "excluded": [0, 7], "remaining": [100, 93]})
>>> fig = flow_diagram(flow)
>>> # save_figure(fig, "results/study/flow")  -> flow.png and flow.pdf
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Polygon  # noqa: E402
from scipy import stats  # noqa: E402

__all__ = [
    "OKABE_ITO", "SINGLE_COLUMN", "DOUBLE_COLUMN", "DPI", "style", "save_figure",
    "forest_plot", "funnel_plot", "reliability_plot", "flow_diagram", "placeholder_figure",
    "power_curve", "coverage_plot", "sensitivity_curve", "graph_layers", "graph_layout", "path_diagram",
    "mediation_graph", "riclpm_graph", "masem_graph", "item_distributions", "missingness_map",
    "FIGURES", "stage_figure", "render_stage_figure", "invariance_plot", "cfa_graph", "latent_mediation_graph",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
# line/marker colours: Okabe-Ito, black left to the end, yellow late (poor contrast on white)
_LINE_COLORS = [OKABE_ITO[k] for k in ("orange", "sky_blue", "green", "blue", "vermillion", "purple", "yellow")] \
    + ["#000000"]
SINGLE_COLUMN = 3.5  # inches
DOUBLE_COLUMN = 7.0  # inches
DPI = 300

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.0,
    "axes.prop_cycle": matplotlib.cycler(color=_LINE_COLORS),
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,
    "svg.hashsalt": "efficacy",
    "path.simplify": True,
}

# measures drawn on their own (untransformed) scale -> axis label (metafor's measure codes)
_LINEAR_LABELS = {"SMD": "Standardised mean difference", "SMDH": "Standardised mean difference",
                  "MD": "Mean difference", "COR": "Correlation r", "UCOR": "Correlation r",
                  "RD": "Risk difference", "GEN": "Effect estimate (as supplied)"}
_FUNNEL_LABELS = {"RR": "Log risk ratio", "OR": "Log odds ratio", "PETO": "Log odds ratio",
                  "IRR": "Log incidence rate ratio", "ZCOR": "Fisher's z", **_LINEAR_LABELS}

# measure -> (back-transform, axis label)
_TRANSFORMS = {
    "RR": (np.exp, "Risk ratio (log scale)"),
    "OR": (np.exp, "Odds ratio (log scale)"),
    "PETO": (np.exp, "Odds ratio (log scale)"),
    "IRR": (np.exp, "Incidence rate ratio (log scale)"),
    "ZCOR": (np.tanh, "Correlation r (Fisher z scale)"),
}


@contextlib.contextmanager
def style():
    """Context manager applying the project's figure style (rcParams).

    Fonts are 7-9 pt, legible when a figure is printed at 3.5 in (single column) or 7 in
    (double column); colours cycle through the Okabe-Ito palette.

    Example
    -------
    >>> with style():
    ...     fig, ax = plt.subplots(figsize=(SINGLE_COLUMN, 2.5))
    >>> plt.close(fig)
    """
    with matplotlib.rc_context(_RC):
        yield


def _atomic_save(fig, path, **kwargs):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, **kwargs)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def save_figure(fig, path_stem, *, close=True):
    """Write ``fig`` as ``<path_stem>.png`` (300 dpi) and ``<path_stem>.pdf``, atomically.

    Each file is written to a temporary file in the same folder and moved into place with
    :func:`os.replace`, so a reader never sees half a figure. Dates and software versions are
    left out of the metadata so saving the same figure twice gives identical bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path_stem : str or Path
        Output path without suffix (a ``.png``/``.pdf`` suffix is stripped).
    close : bool
        Close the figure afterwards.

    Returns
    -------
    dict
        ``{"png": Path, "pdf": Path}``.
    """
    stem = Path(path_stem)
    if stem.suffix.lower() in {".png", ".pdf"}:
        stem = stem.with_suffix("")
    with style():
        png = _atomic_save(fig, stem.with_name(stem.name + ".png"), format="png", dpi=DPI,
                           metadata={"Software": None})
        pdf = _atomic_save(fig, stem.with_name(stem.name + ".pdf"), format="pdf",
                           metadata={"CreationDate": None, "Producer": None})
    if close:
        plt.close(fig)
    return {"png": png, "pdf": pdf}


def _need(df, cols, what):
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; has {list(df.columns)}")


def _fmt(x):
    return f"{x:.2f}"


def _fmt_tick(v):
    v = round(float(v), 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.0f}"


def _thin(ticks, maxn):
    """Keep at most ``maxn`` ticks, every step-th one counted from the tick nearest 0."""
    if len(ticks) <= maxn:
        return ticks
    step = int(np.ceil(len(ticks) / maxn))
    i0 = int(np.argmin(np.abs(ticks)))
    keep = [(i - i0) % step == 0 for i in range(len(ticks))]
    return ticks[np.array(keep)]


def _nice_ticks(measure, lo, hi):
    """Ticks at round values of the back-transformed scale, placed on the analysis scale."""
    if measure in ("RR", "OR", "PETO", "IRR"):
        cand = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100])
        if np.log(10) * 1.5 > hi - lo:  # narrow range: add intermediate values
            cand = np.sort(np.concatenate([cand, [0.25, 0.33, 0.67, 0.75, 1.5, 3, 4]]))
        t = np.log(cand)
    elif measure == "ZCOR":
        cand = np.round(np.arange(-0.9, 0.95, 0.1), 1)
        t = np.arctanh(cand)
        if ((t >= lo) & (t <= hi)).sum() > 8:
            t = np.arctanh(np.round(np.arange(-0.8, 0.85, 0.2), 1))
    else:
        return None
    t = t[(t >= lo) & (t <= hi)]
    return t if len(t) >= 2 else None


def forest_plot(studies, summary, *, measure=None, label="study", title=None, width=DOUBLE_COLUMN,
                show_filled=False):
    """Forest plot of a meta-analysis (Lewis & Clarke, 2001; cf. ``metafor::forest.rma``).

    Squares (area proportional to the study's weight) with CIs, the pooled estimate as a
    diamond, and its prediction interval as a line through the diamond. For ``RR``/``OR`` the
    axis is labelled with exponentiated values (log scale); for ``ZCOR`` with correlations
    (``tanh``). The right-hand column gives the estimate [CI] on the back-transformed scale.

    Parameters
    ----------
    studies : DataFrame
        ``studies`` table of :func:`efficacy.meta.run_analysis`: columns ``label`` (default
        ``study``), ``yi``, ``ci_low``, ``ci_high``, ``weight``; optional ``filled`` (rows
        imputed by trim and fill are left out unless ``show_filled``).
    summary : DataFrame or Series
        ``summary`` table: ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high``
        (first row used); optional ``measure``, ``k``, ``I2``, ``tau2``.
    measure : str, optional
        Effect-size measure code; defaults to ``summary["measure"]``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(studies, [label, "yi", "ci_low", "ci_high"], "forest_plot studies")
    s = summary.iloc[0] if isinstance(summary, pd.DataFrame) else pd.Series(summary)
    for c in ("estimate", "ci_low", "ci_high"):
        if c not in s.index:
            raise ValueError(f"forest_plot summary: missing column {c!r}")
    if measure is None:
        measure = s.get("measure", None)
        measure = None if measure is None or (isinstance(measure, float) and np.isnan(measure)) else str(measure)
    st = studies
    if "filled" in st.columns and not show_filled:
        st = st[~st["filled"].astype(bool)]
    st = st.reset_index(drop=True)
    if len(st) == 0:
        raise ValueError("forest_plot: no studies to draw")
    back, xlab = _TRANSFORMS.get(str(measure).upper() if measure else "", (lambda v: v, "Effect size"))
    if measure and str(measure).upper() not in _TRANSFORMS:
        xlab = _LINEAR_LABELS.get(str(measure).upper(), f"Effect size ({measure})")
    k = len(st)
    w = st["weight"].to_numpy(float) if "weight" in st.columns else np.ones(k)
    w = np.where(np.isfinite(w), w, np.nanmin(w) if np.isfinite(w).any() else 1.0)
    sizes = 10 + 70 * w / w.max()
    ys = np.arange(k, 0, -1) + 1.0  # studies at k+1..2, pooled at 0.5
    with style():
        fig, ax = plt.subplots(figsize=(width, 0.9 + 0.2 * (k + 2)))
        ax.hlines(ys, st["ci_low"], st["ci_high"], color="black", lw=0.8)
        ax.scatter(st["yi"], ys, s=sizes, marker="s", color=OKABE_ITO["blue"], zorder=3)
        est, lo, hi = float(s["estimate"]), float(s["ci_low"]), float(s["ci_high"])
        yd = 0.5
        pil, pih = s.get("pi_low", np.nan), s.get("pi_high", np.nan)
        if pd.notna(pil) and pd.notna(pih):
            ax.hlines(yd, float(pil), float(pih), color=OKABE_ITO["vermillion"], lw=1.2, zorder=2,
                      label="95% prediction interval")
        ax.add_patch(Polygon([[lo, yd], [est, yd + 0.35], [hi, yd], [est, yd - 0.35]], closed=True,
                             color=OKABE_ITO["black"], zorder=4, label="Pooled estimate (95% CI)"))
        ax.axvline(0.0, color="0.5", lw=0.6, ls="--", zorder=1)
        ax.axvline(est, color="0.6", lw=0.5, ls=":", zorder=1)
        names = [str(v) for v in st[label]]
        ax.set_yticks(list(ys) + [yd])
        ax.set_yticklabels(names + ["RE model"])
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_ylim(-0.3, k + 1.8)
        xs = np.concatenate([st["ci_low"], st["ci_high"], [lo, hi]])
        if pd.notna(pil):
            xs = np.concatenate([xs, [float(pil), float(pih)]])
        xmin, xmax = np.nanmin(xs), np.nanmax(xs)
        pad = 0.05 * (xmax - xmin or 1.0)
        ax.set_xlim(min(xmin - pad, -pad), max(xmax + pad, pad))
        ticks = _nice_ticks(str(measure).upper() if measure else "", *ax.get_xlim())
        if ticks is None:
            ticks = ax.get_xticks()
            ticks = ticks[(ticks >= ax.get_xlim()[0]) & (ticks <= ax.get_xlim()[1])]
        ticks = _thin(np.asarray(ticks, float), max(3, int(width * 0.55 / 0.4)))
        ax.set_xticks(ticks)
        ax.set_xticklabels([_fmt_tick(back(t)) for t in ticks])
        ax.set_xlabel(xlab)
        # right-hand text column: back-transformed estimate [CI]
        tr = ax.get_yaxis_transform()
        for y, (_, r) in zip(ys, st.iterrows()):
            ax.text(1.02, y, f"{_fmt(back(r['yi']))} [{_fmt(back(r['ci_low']))}, {_fmt(back(r['ci_high']))}]",
                    transform=tr, va="center", ha="left", fontsize=7)
        ax.text(1.02, yd, f"{_fmt(back(est))} [{_fmt(back(lo))}, {_fmt(back(hi))}]", transform=tr,
                va="center", ha="left", fontsize=7, fontweight="bold")
        ax.text(1.02, k + 1.6, "Estimate [95% CI]", transform=tr, va="center", ha="left", fontsize=7,
                fontweight="bold")
        note = []
        if "I2" in s.index and pd.notna(s["I2"]):
            note.append(f"I\u00b2 = {float(s['I2']):.1f}%")
        if "tau2" in s.index and pd.notna(s["tau2"]):
            note.append(f"\u03c4\u00b2 = {float(s['tau2']):.3f}")
        if note:  # below the x-axis label, whatever its height
            ax.annotate(", ".join(note), xy=(0.5, 0.0), xycoords=ax.xaxis.label, xytext=(0, -3),
                        textcoords="offset points", va="top", ha="center", fontsize=7)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=7)
        if title:
            ax.set_title(title, pad=18)
        fig.tight_layout()
    return fig


def funnel_plot(studies, summary, *, measure=None, title=None, width=5.0):
    """Contour-enhanced funnel plot (Peters et al., 2008; cf. ``metafor::funnel``).

    Effect size (x) against standard error (y, inverted). Shaded regions mark where a study's
    two-sided p-value (against 0) lies in .10-.05, .05-.01 and < .01; the pooled estimate and
    its pseudo 95% funnel are drawn as lines. Studies imputed by trim and fill (Duval &
    Tweedie, 2000; ``filled`` is true) are open circles.

    Parameters
    ----------
    studies : DataFrame
        ``yi`` and ``sei`` (or ``vi``); optional ``filled``.
    summary : DataFrame or Series
        ``estimate`` (first row used); optional ``measure``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(studies, ["yi"], "funnel_plot studies")
    s = summary.iloc[0] if isinstance(summary, pd.DataFrame) else pd.Series(summary)
    if "estimate" not in s.index:
        raise ValueError("funnel_plot summary: missing column 'estimate'")
    if "sei" in studies.columns:
        se = studies["sei"].to_numpy(float)
    elif "vi" in studies.columns:
        se = np.sqrt(studies["vi"].to_numpy(float))
    else:
        raise ValueError("funnel_plot studies: need column 'sei' or 'vi'")
    yi = studies["yi"].to_numpy(float)
    filled = studies["filled"].astype(bool).to_numpy() if "filled" in studies.columns else np.zeros(len(yi), bool)
    if measure is None:
        measure = s.get("measure", None)
    xlab = _FUNNEL_LABELS.get(str(measure).upper(), f"Effect size ({measure})") if isinstance(measure, str) \
        and measure else "Effect size"
    est = float(s["estimate"])
    semax = np.nanmax(se) * 1.1
    segrid = np.linspace(0, semax, 100)
    with style():
        fig, ax = plt.subplots(figsize=(width, 3.4))
        greys = {0.10: "0.92", 0.05: "0.80", 0.01: "0.65"}
        zs = [stats.norm.ppf(1 - a / 2) for a in (0.10, 0.05, 0.01)]
        xw = 100.0 * (np.nanmax(np.abs(yi)) + zs[-1] * semax + abs(est))  # beyond any x limit
        ax.set_facecolor("white")
        # regions: p<.01 outside z99; .01-.05 between z95 and z99; .05-.10 between z90 and z95
        ax.fill_betweenx(segrid, -xw, -zs[2] * segrid, color=greys[0.01], lw=0, label="p < .01")
        ax.fill_betweenx(segrid, zs[2] * segrid, xw, color=greys[0.01], lw=0)
        ax.fill_betweenx(segrid, -zs[2] * segrid, -zs[1] * segrid, color=greys[0.05], lw=0, label=".01 \u2264 p < .05")
        ax.fill_betweenx(segrid, zs[1] * segrid, zs[2] * segrid, color=greys[0.05], lw=0)
        ax.fill_betweenx(segrid, -zs[1] * segrid, -zs[0] * segrid, color=greys[0.10], lw=0, label=".05 \u2264 p < .10")
        ax.fill_betweenx(segrid, zs[0] * segrid, zs[1] * segrid, color=greys[0.10], lw=0)
        z95 = stats.norm.ppf(0.975)
        ax.plot(est - z95 * segrid, segrid, color="black", lw=0.6, ls="--", label="Pseudo 95% CI")
        ax.plot(est + z95 * segrid, segrid, color="black", lw=0.6, ls="--")
        ax.axvline(est, color="black", lw=0.8, label="Pooled estimate")
        ax.scatter(yi[~filled], se[~filled], s=16, color=OKABE_ITO["blue"], edgecolor="black", lw=0.4,
                   zorder=3, label="Observed studies")
        if filled.any():
            ax.scatter(yi[filled], se[filled], s=16, facecolor="white", edgecolor="black", lw=0.8,
                       zorder=3, label="Imputed (trim and fill)")
        ax.set_ylim(semax, 0)
        lo = min(np.nanmin(yi), est - z95 * semax)
        hi = max(np.nanmax(yi), est + z95 * semax)
        pad = 0.08 * (hi - lo)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_xlabel(xlab)
        ax.set_ylabel("Standard error")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6.5)
        if title:
            ax.set_title(title)
        fig.tight_layout()
    return fig


def reliability_plot(reliability_df, threshold=0.70, *, title=None, width=SINGLE_COLUMN + 1.0):
    """Dot plot of alpha and omega total with CIs per scale, a threshold line, flags highlighted.

    Parameters
    ----------
    reliability_df : DataFrame
        ``results/<study>/reliability.csv``: ``scale``, ``alpha``, ``alpha_ci_low``,
        ``alpha_ci_high``, ``omega_total``, ``omega_ci_low``, ``omega_ci_high``, ``flag``
        (anything but ``"ok"`` is highlighted); optional ``subscale``, ``group`` (only
        ``"all"`` rows are drawn when present).
    threshold : float
        Cut-off drawn as a vertical line (Nunnally, 1978: .70).

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols = ["scale", "alpha", "alpha_ci_low", "alpha_ci_high", "omega_total", "omega_ci_low",
            "omega_ci_high", "flag"]
    _need(reliability_df, cols, "reliability_plot")
    d = reliability_df
    if "group" in d.columns:
        d = d[d["group"].astype(str) == "all"]
    d = d.reset_index(drop=True)
    if len(d) == 0:
        raise ValueError("reliability_plot: no rows (with group == 'all') to draw")
    names = d["scale"].astype(str)
    if "subscale" in d.columns:
        sub = d["subscale"]
        names = [f"{a}: {b}" if pd.notna(b) and str(b) else a for a, b in zip(names, sub)]
    names = list(names)
    flagged = d["flag"].astype(str).str.lower().ne("ok").to_numpy() & d["flag"].notna().to_numpy()
    n = len(d)
    y = np.arange(n)[::-1].astype(float)
    with style():
        fig, ax = plt.subplots(figsize=(width, max(1.9, 0.8 + 0.25 * n) + (0.25 if title else 0.0)))
        for yy in y[flagged]:
            ax.axhspan(yy - 0.45, yy + 0.45, color=OKABE_ITO["yellow"], alpha=0.35, lw=0, zorder=0)
        off = 0.13
        ax.hlines(y + off, d["alpha_ci_low"], d["alpha_ci_high"], color=OKABE_ITO["blue"], lw=1)
        ax.scatter(d["alpha"], y + off, color=OKABE_ITO["blue"], s=14, zorder=3, label="\u03b1 (95% CI)")
        ax.hlines(y - off, d["omega_ci_low"], d["omega_ci_high"], color=OKABE_ITO["orange"], lw=1)
        ax.scatter(d["omega_total"], y - off, color=OKABE_ITO["orange"], marker="D", s=12, zorder=3,
                   label="\u03c9 total (95% CI)")
        ax.axvline(threshold, color=OKABE_ITO["vermillion"], ls="--", lw=0.9, label=f"Threshold {threshold:.2f}")
        ax.set_yticks(y)
        ax.set_yticklabels(names)
        for lab, f in zip(ax.get_yticklabels(), flagged):
            if f:
                lab.set_fontweight("bold")
                lab.set_color(OKABE_ITO["vermillion"])
        ax.tick_params(axis="y", length=0)
        vals = d[cols[1:7]].to_numpy(float)
        lo = np.nanmin(np.append(vals, threshold))
        ax.set_xlim(max(0.0, np.floor((lo - 0.05) * 10) / 10), 1.0)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_xlabel("Reliability coefficient")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=6.5,
                  handletextpad=0.3, columnspacing=0.8)
        if title:
            ax.set_title(title, pad=22)
        fig.tight_layout()
    return fig


def flow_diagram(flow_df, *, title=None, width=SINGLE_COLUMN + 1.0):
    """Participant flow diagram (CONSORT-style): boxes top to bottom, exclusions to the side.

    Parameters
    ----------
    flow_df : DataFrame
        ``results/<study>/flow.csv``: ``step``, ``reason``, ``excluded``, ``remaining``; the
        first row (step 0) is the raw sample.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(flow_df, ["step", "reason", "excluded", "remaining"], "flow_diagram")
    d = flow_df.sort_values("step", kind="stable").reset_index(drop=True)
    if len(d) == 0:
        raise ValueError("flow_diagram: empty flow table")
    import textwrap
    nb = len(d)
    step_h = 1.0
    height = 0.4 + 0.62 * nb
    with style():
        fig, ax = plt.subplots(figsize=(width, height))
        ax.set_xlim(0, 10)
        ax.set_ylim(-(nb - 1) * step_h - 0.5, 0.5)
        ax.axis("off")
        bw, bh = 3.6, 0.5
        cx = 2.2 if nb > 1 else 5.0  # no exclusion boxes to the side: centre the single box
        for i, r in d.iterrows():
            yc = -i * step_h
            if i == 0 and nb == 1:
                txt = f"Raw data = analysed\nn = {int(r['remaining'])} (no exclusions)"
            elif i == 0:
                txt = f"Raw data\nn = {int(r['remaining'])}"
            elif i == nb - 1:
                txt = f"Analysed\nn = {int(r['remaining'])}"
            else:
                txt = f"Remaining\nn = {int(r['remaining'])}"
            ax.add_patch(FancyBboxPatch((cx - bw / 2, yc - bh / 2), bw, bh, boxstyle="round,pad=0.02",
                                        fc="white", ec="black", lw=0.8))
            ax.text(cx, yc, txt, ha="center", va="center", fontsize=7)
            if i > 0:
                ax.annotate("", xy=(cx, yc + bh / 2), xytext=(cx, yc + step_h - bh / 2),
                            arrowprops=dict(arrowstyle="-|>", lw=0.8, color="black"))
                ym = yc + step_h / 2
                ex = 5.1
                ax.annotate("", xy=(ex, ym), xytext=(cx, ym),
                            arrowprops=dict(arrowstyle="-|>", lw=0.8, color="black"))
                reason = "\n".join(textwrap.wrap(str(r["reason"]), 26))
                ax.text(ex + 0.1, ym, f"Excluded n = {int(r['excluded'])}\n{reason}", ha="left", va="center",
                        fontsize=6.5, bbox=dict(boxstyle="round,pad=0.25", fc=OKABE_ITO["sky_blue"] + "33",
                                                ec=OKABE_ITO["blue"], lw=0.6))
        if title:
            ax.set_title(title)
        fig.tight_layout()
    return fig


def placeholder_figure(path_stem, reason, *, title=None, width=SINGLE_COLUMN):
    """Write a placeholder figure stating why a result is missing (PNG + PDF).

    Parameters
    ----------
    path_stem : str or Path
        Output path without suffix.
    reason : str
        Why there is no figure (e.g. "improper solution: negative residual variance").

    Returns
    -------
    dict
        ``{"png": Path, "pdf": Path}`` as from :func:`save_figure`.
    """
    import textwrap
    with style():
        fig, ax = plt.subplots(figsize=(width, width * 0.6))
        ax.axis("off")
        ax.add_patch(FancyBboxPatch((0.03, 0.05), 0.94, 0.9, boxstyle="round,pad=0.01",
                                    transform=ax.transAxes, fc="0.95", ec="0.4", lw=0.8, ls="--"))
        head = title or "No figure for this result"
        body = "\n".join(textwrap.wrap(str(reason) or "no reason given", 42))
        ax.text(0.5, 0.68, head, ha="center", va="center", fontsize=9, fontweight="bold", transform=ax.transAxes)
        ax.text(0.5, 0.38, body, ha="center", va="center", fontsize=7.5, transform=ax.transAxes)
    return save_figure(fig, path_stem)


def _panel_grid(n, max_cols=3):
    """Balanced grid: as few rows as ``max_cols`` allows, then as few columns as those rows need."""
    nrow = int(np.ceil(n / max_cols))
    ncol = int(np.ceil(n / nrow))
    return nrow, ncol


def power_curve(power_df, *, target=0.80, title=None, width=DOUBLE_COLUMN, max_cols=3):
    """Power against sample size: one line per method, one panel per ``(a, b)`` path pair.

    Monte Carlo power (Muthén & Muthén, 2002; Schoemann, Boulton & Short, 2017) with
    2 x MCSE error bars and the conventional 80% target as a dashed line.

    Parameters
    ----------
    power_df : DataFrame
        ``results/simulation/power.csv``: ``n``, ``a``, ``b``, ``method``, ``power``; optional
        ``power_mcse``, ``reliability`` (panels are split by it too when it takes several values).
    target : float
        Power drawn as a horizontal reference line.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> df = pd.DataFrame({"n": [50, 100] * 2, "a": 0.3, "b": 0.3, "method": ["boot"] * 2 + ["sobel"] * 2,
    ...                    "power": [0.4, 0.8, 0.3, 0.7]})
    >>> fig = power_curve(df); plt.close(fig)
    """
    _need(power_df, ["n", "a", "b", "method", "power"], "power_curve")
    d = power_df.copy()
    if len(d) == 0:
        raise ValueError("power_curve: empty power table")
    keys = ["a", "b"]
    if "reliability" in d.columns and d["reliability"].nunique(dropna=False) > 1:
        keys.append("reliability")
    panels = d[keys].drop_duplicates().sort_values(keys, kind="stable").to_numpy().tolist()
    methods = sorted(d["method"].astype(str).unique())
    colors = _LINE_COLORS
    markers = ["o", "s", "D", "^", "v", "P", "X"]
    nrow, ncol = _panel_grid(len(panels), max_cols)
    with style():
        fig, axes = plt.subplots(nrow, ncol, figsize=(width, 0.6 + 1.9 * nrow), sharex=True, sharey=True,
                                 squeeze=False, layout="constrained")
        for i, key in enumerate(panels):
            ax = axes.flat[i]
            sel = np.ones(len(d), bool)
            for k, v in zip(keys, key):
                sel &= (d[k] == v).to_numpy()
            sub = d[sel]
            for j, m in enumerate(methods):
                s = sub[sub["method"].astype(str) == m].sort_values("n")
                if len(s) == 0:
                    continue
                yerr = 2 * s["power_mcse"].to_numpy(float) if "power_mcse" in s.columns else None
                ax.errorbar(s["n"], s["power"], yerr=yerr, color=colors[j % len(colors)],
                            marker=markers[j % len(markers)], ms=3, lw=1, capsize=1.5, elinewidth=0.6,
                            label=m if i == 0 else None)
            ax.axhline(target, color="0.3", ls="--", lw=0.7)
            lab = f"a = {key[0]:g}, b = {key[1]:g}"
            if len(key) > 2:
                lab += f", rel = {key[2]:g}"
            ax.set_title(lab, fontsize=8)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(axis="y", color="0.9", lw=0.5)
        for ax in axes.flat[len(panels):]:
            ax.set_visible(False)
        for ax in axes[-1, :]:
            ax.set_xlabel("Sample size n")
        # panels hidden in the last row: put x labels on the panel above them
        for i in range(len(panels), nrow * ncol):
            above = axes.flat[i - ncol]
            above.set_xlabel("Sample size n")
            above.xaxis.set_tick_params(labelbottom=True)
        for ax in axes[:, 0]:
            ax.set_ylabel("Power")
        handles, labels = axes.flat[0].get_legend_handles_labels()
        handles.append(plt.Line2D([], [], color="0.3", ls="--", lw=0.7))
        labels.append(f"{target:.0%} power")
        if title:
            fig.suptitle(title)
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5), fontsize=7)
    return fig


def coverage_plot(coverage_df, *, level=0.95, band=(0.925, 0.975), title=None, width=DOUBLE_COLUMN):
    """Coverage of the CIs per target and method with 2 x MCSE bars, the nominal line and a pass band.

    The pass band defaults to Bradley's (1978) liberal criterion for a 95% interval
    (.925-.975); Morris, White & Crowther (2019) give the MCSE of coverage.

    Parameters
    ----------
    coverage_df : DataFrame
        ``results/simulation/coverage.csv``: ``target``, ``method``, ``coverage``; optional
        ``coverage_mcse``, ``n`` (one marker per n, offset within the method row).
    level : float
        Nominal coverage, drawn as a vertical line.
    band : (float, float)
        Acceptable coverage, drawn shaded.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> df = pd.DataFrame({"target": ["acme"] * 2, "method": ["boot", "delta"], "coverage": [0.95, 0.9],
    ...                    "coverage_mcse": [0.01, 0.01]})
    >>> fig = coverage_plot(df); plt.close(fig)
    """
    _need(coverage_df, ["target", "method", "coverage"], "coverage_plot")
    d = coverage_df.reset_index(drop=True)
    if len(d) == 0:
        raise ValueError("coverage_plot: empty coverage table")
    rows = d[["target", "method"]].astype(str).drop_duplicates().sort_values(["target", "method"], kind="stable")
    rows = [tuple(r) for r in rows.to_numpy()]
    ns = sorted(d["n"].dropna().unique()) if "n" in d.columns else [None]
    colors = _LINE_COLORS
    markers = ["o", "s", "D", "^", "v", "P", "X"]
    nr = len(rows)
    y = np.arange(nr)[::-1].astype(float)
    off = np.linspace(0.2, -0.2, len(ns)) if len(ns) > 1 else np.zeros(1)  # first n on top
    with style():
        height = round((0.9 + 0.28 * nr * max(1, min(len(ns), 3) * 0.6)) * DPI) / DPI  # whole pixels
        fig, ax = plt.subplots(figsize=(width, height))
        ax.axvspan(band[0], band[1], color=OKABE_ITO["green"], alpha=0.15, lw=0,
                   label=f"Acceptable ({band[0]:.3f}\u2013{band[1]:.3f})")
        ax.axvline(level, color="black", ls="--", lw=0.8, label=f"Nominal {level:.0%}")
        for k, n in enumerate(ns):
            sub = d if n is None else d[d["n"] == n]
            yy, xx, ee = [], [], []
            for (t, m), yv in zip(rows, y):
                r = sub[(sub["target"].astype(str) == t) & (sub["method"].astype(str) == m)]
                if len(r) == 0:
                    continue
                yy.append(yv + off[k])
                xx.append(float(r["coverage"].iloc[0]))
                ee.append(2 * float(r["coverage_mcse"].iloc[0]) if "coverage_mcse" in r.columns else 0.0)
            label = "coverage"
            if n is not None:  # the meta-analytic rows use `n` for the number of studies k
                meta_only = sub["target"].astype(str).str.startswith("meta").all()
                label = f"k = {int(n)} studies" if meta_only else f"n = {int(n)}"
            ax.errorbar(xx, yy, xerr=ee, fmt=markers[k % len(markers)], ms=3.5, color=colors[k % len(colors)],
                        capsize=1.5, elinewidth=0.8, label=label)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{t}: {m}" for t, m in rows])
        ax.tick_params(axis="y", length=0)
        # group separators between targets
        for i in range(1, nr):
            if rows[i][0] != rows[i - 1][0]:
                ax.axhline((y[i] + y[i - 1]) / 2, color="0.8", lw=0.5)
        lo = np.nanmin(np.append(d["coverage"].to_numpy(float), band[0]))
        ax.set_xlim(max(0.0, np.floor((lo - 0.03) * 20) / 20), 1.008)  # room for a marker at 1.0
        ax.spines["right"].set_visible(False)
        ax.set_ylim(-0.6, nr - 0.4)
        ax.set_xlabel(f"Coverage of the {level:.0%} interval (error bars: \u00b12 MCSE)")
        n_entries = 2 + len(ns)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncol=n_entries if n_entries <= 5 else int(np.ceil(n_entries / 2)), fontsize=6.5,
                  handletextpad=0.3, columnspacing=0.9)
        if title:
            ax.set_title(title, pad=22)
        fig.tight_layout()
    return fig


def sensitivity_curve(sensitivity_df, *, outcome=None, mediator=None, title=None, width=SINGLE_COLUMN + 1.0):
    """ACME against the sensitivity parameter rho with its CI band (Imai, Keele & Yamamoto, 2010).

    The curve of ``mediation::medsens`` / ``plot.medsens`` in R: the average causal mediation
    effect if the mediator and outcome errors were correlated rho, its confidence band, the zero
    line, and the rho at which the ACME would vanish marked (a small \\|rho\\| means a fragile
    mediation claim).

    Parameters
    ----------
    sensitivity_df : DataFrame
        ``results/<study>/sensitivity.csv``: ``rho``, ``acme``, ``ci_low``, ``ci_high``;
        optional ``outcome``, ``mediator`` (one curve is drawn; pick it with ``outcome`` /
        ``mediator``, default the first with data), ``rho_at_zero``.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> rho = np.linspace(-0.9, 0.9, 19)
    >>> df = pd.DataFrame({"rho": rho, "acme": 0.3 - rho, "ci_low": 0.1 - rho, "ci_high": 0.5 - rho})
    >>> fig = sensitivity_curve(df); plt.close(fig)
    """
    _need(sensitivity_df, ["rho", "acme", "ci_low", "ci_high"], "sensitivity_curve")
    d = sensitivity_df[sensitivity_df["acme"].notna()]
    if outcome is not None and "outcome" in d.columns:
        d = d[d["outcome"].astype(str) == str(outcome)]
    if mediator is not None and "mediator" in d.columns:
        d = d[d["mediator"].astype(str) == str(mediator)]
    if len(d) == 0:
        raise ValueError("sensitivity_curve: no rows with an ACME to draw"
                         + (f" for outcome={outcome!r}" if outcome is not None else ""))
    keys = [c for c in ("outcome", "mediator") if c in d.columns]
    if keys:
        first = d.iloc[0]
        for k in keys:
            d = d[d[k].astype(str) == str(first[k])]
    d = d.sort_values("rho", kind="stable")
    rho = d["rho"].to_numpy(float)
    acme = d["acme"].to_numpy(float)
    r0 = float(d["rho_at_zero"].iloc[0]) if "rho_at_zero" in d.columns and d["rho_at_zero"].notna().any() \
        else np.nan
    if not np.isfinite(r0):  # interpolate the sign change
        s = np.where(np.diff(np.sign(acme)) != 0)[0]
        if len(s):
            i = s[0]
            r0 = rho[i] - acme[i] * (rho[i + 1] - rho[i]) / (acme[i + 1] - acme[i])
    with style():
        fig, ax = plt.subplots(figsize=(width, 2.8 + (0.25 if title else 0.0)))
        ax.fill_between(rho, d["ci_low"], d["ci_high"], color=OKABE_ITO["sky_blue"], alpha=0.35, lw=0,
                        label="95% CI")
        ax.plot(rho, acme, color=OKABE_ITO["blue"], lw=1.2, label="ACME(\u03c1)")
        ax.axhline(0, color="black", lw=0.7)
        ax.axvline(0, color="0.6", lw=0.5, ls=":")
        if np.isfinite(r0):
            ax.axvline(r0, color=OKABE_ITO["vermillion"], ls="--", lw=0.9,
                       label=f"ACME = 0 at \u03c1 = {r0:.2f}")
            ax.plot([r0], [0], "o", color=OKABE_ITO["vermillion"], ms=4, zorder=4)
        ax.set_xlim(rho.min(), rho.max())
        ax.set_xlabel("Sensitivity parameter \u03c1 (correlation of mediator and outcome errors)")
        lab = "ACME"
        if "outcome" in keys:
            lab += f" on {first['outcome']}"
        if "mediator" in keys:
            lab += f" via {first['mediator']}"
        ax.set_ylabel(lab)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=6.5, handletextpad=0.4,
                  columnspacing=0.9)
        if title:
            ax.set_title(title, pad=20)
        fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# path diagrams: layered layout computed from the graph (Sugiyama, Tagawa & Toda, 1981)
# ---------------------------------------------------------------------------------------------

def _edge_table(edges, what):
    if edges is None:
        return pd.DataFrame(columns=["from", "to"])
    e = pd.DataFrame(edges) if not isinstance(edges, pd.DataFrame) else edges.copy()
    if len(e) == 0:
        return pd.DataFrame(columns=["from", "to"])
    _need(e, ["from", "to"], what)
    return e.reset_index(drop=True)


def _edge_label(r):
    if "label" in r.index and isinstance(r["label"], str) and r["label"]:
        return r["label"]
    est = r.get("estimate", np.nan)
    if est is None or pd.isna(est):
        return ""
    lo, hi = r.get("ci_low", np.nan), r.get("ci_high", np.nan)
    has_ci = lo is not None and hi is not None and pd.notna(lo) and pd.notna(hi)
    vals = [float(est)] + ([float(lo), float(hi)] if has_ci else [])
    # small effects (e.g. an indirect effect of -0.016) keep a third decimal instead of showing "-0.02"
    nd = 3 if max(abs(v) for v in vals) < 0.1 else 2
    txt = f"{float(est):.{nd}f}"
    if has_ci:
        txt += f" [{float(lo):.{nd}f}, {float(hi):.{nd}f}]"
    return txt


def _edge_significant(r):
    lo, hi = r.get("ci_low", np.nan), r.get("ci_high", np.nan)
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return True
    return not (float(lo) <= 0.0 <= float(hi))


def graph_layers(nodes, edges):
    """Layer of each node: the longest directed path reaching it (sources in layer 0).

    Parameters
    ----------
    nodes : list of str
    edges : list of (str, str)

    Returns
    -------
    dict
        node -> layer (int).

    Raises
    ------
    ValueError
        If an edge names an unknown node or the directed edges contain a cycle.
    """
    nodes = list(nodes)
    known = set(nodes)
    for a, b in edges:
        for v in (a, b):
            if v not in known:
                raise ValueError(f"path_diagram: edge {a!r} -> {b!r} names unknown node {v!r}")
    indeg = {v: 0 for v in nodes}
    succ = {v: [] for v in nodes}
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    order = [v for v in nodes if indeg[v] == 0]  # Kahn's algorithm, stable in node order
    layer = {v: 0 for v in nodes}
    i = 0
    while i < len(order):
        v = order[i]
        i += 1
        for w in succ[v]:
            layer[w] = max(layer[w], layer[v] + 1)
            indeg[w] -= 1
            if indeg[w] == 0:
                order.append(w)
    if len(order) < len(nodes):
        cyc = sorted(set(nodes) - set(order))
        raise ValueError(f"path_diagram: directed edges contain a cycle through {cyc}; "
                         "give covariances separately")
    return layer


def graph_layout(nodes, edges, *, sweeps=4):
    """Positions for a layered drawing: layer index and order within the layer.

    Edges that skip layers get dummy points in the layers they cross; node order within a layer
    is found by barycentre sweeps (Sugiyama et al., 1981), dummies kept in the middle of ties so
    that long edges can run straight between the nodes.

    Returns
    -------
    pos : dict
        node -> (layer, rank) with rank centred on 0 within the layer (dummies included as
        ``("__dummy", edge_index, layer)`` keys).
    """
    layer = graph_layers(nodes, edges)
    nl = max(layer.values()) + 1 if layer else 0
    members = [[v for v in nodes if layer[v] == k] for k in range(nl)]
    chains = []  # per edge: the sequence of node keys through each layer
    for j, (a, b) in enumerate(edges):
        seq = [a]
        for k in range(layer[a] + 1, layer[b]):
            dkey = ("__dummy", j, k)
            members[k].append(dkey)
            seq.append(dkey)
        seq.append(b)
        chains.append(seq)
    up = {}
    down = {}
    for seq in chains:
        for u, w in zip(seq[:-1], seq[1:]):
            down.setdefault(u, []).append(w)
            up.setdefault(w, []).append(u)

    def ranks(lst):
        return {v: i - (len(lst) - 1) / 2 for i, v in enumerate(lst)}

    def reorder(lst, nbrs, ref, first):
        bc = {}
        for v in lst:
            ns = [ref[w] for w in nbrs.get(v, []) if w in ref]
            if ns:
                bc[v] = float(np.mean(ns))
        movable = [v for v in lst if v in bc]  # nodes without neighbours on that side keep their slot
        ordered = []
        for val in sorted(set(bc.values())):
            grp = [v for v in movable if bc[v] == val]  # ties keep the current order ...
            if first:  # ... except on the first pass: real nodes around the dummies
                real = [v for v in grp if not isinstance(v, tuple)]
                dum = [v for v in grp if isinstance(v, tuple)]
                h = (len(real) + 1) // 2
                grp = real[:h] + dum + real[h:]
            ordered += grp
        it = iter(ordered)
        return [next(it) if v in bc else v for v in lst]

    for s in range(sweeps):
        rng = range(1, nl) if s % 2 == 0 else range(nl - 2, -1, -1)
        for k in rng:
            ref = {}
            nb = up if s % 2 == 0 else down
            adj = k - 1 if s % 2 == 0 else k + 1
            ref.update(ranks(members[adj]))
            members[k] = reorder(members[k], nb, ref, s == 0)
    pos = {}
    for k in range(nl):
        for v, r in ranks(members[k]).items():
            pos[v] = (k, r)
    return pos


def _boundary(center, half, latent, toward):
    """Point where the segment from ``center`` to ``toward`` leaves the node shape."""
    dx, dy = toward[0] - center[0], toward[1] - center[1]
    if dx == 0 and dy == 0:
        return center
    if latent:
        t = 1.0 / np.sqrt((dx / half[0]) ** 2 + (dy / half[1]) ** 2)
    else:
        t = min(half[0] / abs(dx) if dx else np.inf, half[1] / abs(dy) if dy else np.inf)
    return (center[0] + t * dx, center[1] + t * dy)


def path_diagram(nodes, edges, covariances=None, *, latent=(), labels=None, orientation=None, title=None,
                 note=None, width=None, rank_gap=None):
    """Path diagram with estimates and CIs on the arrows; the layout is computed from the graph.

    Nodes are put in layers by the longest directed path reaching them (so causes sit left of,
    or above, their effects), ordered within layers by barycentre sweeps (Sugiyama, Tagawa &
    Toda, 1981), latent variables drawn as ellipses and observed ones as boxes (the RAM
    convention of McArdle & McDonald, 1984; cf. ``semPlot::semPaths`` / ``lavaanPlot`` in R).
    Arrows whose CI excludes 0 are solid, others dashed. No coordinates are given by hand, so a
    new model draws without changes here.

    Parameters
    ----------
    nodes : list of str
        Variable names (the drawing order within a layer follows this order when nothing else
        decides it).
    edges : DataFrame or list of dict
        Directed paths: ``from``, ``to`` and optionally ``estimate``, ``ci_low``, ``ci_high``
        (label "est [lo, hi]") or ``label`` (used as is).
    covariances : DataFrame or list of dict, optional
        Undirected (double-headed, curved) arrows with the same columns.
    latent : iterable of str
        Nodes drawn as ellipses.
    labels : dict, optional
        Display names for nodes.
    orientation : {"LR", "TB"}, optional
        Layers left to right or top to bottom; default LR unless one layer holds more than
        four nodes and there are at most two layers (a measurement model).
    note : str, optional
        Text under the diagram (e.g. the indirect effect).
    width : float, optional
        Figure width in inches (the drawing is scaled to it); default the natural width.
    rank_gap : float, optional
        Distance in inches between neighbouring nodes of one layer (default from the node
        sizes); a small value stacks many indicators of a measurement model tightly.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> e = [{"from": "X", "to": "M", "estimate": 0.3, "ci_low": 0.1, "ci_high": 0.5},
    ...      {"from": "M", "to": "Y", "estimate": 0.4, "ci_low": 0.2, "ci_high": 0.6},
    ...      {"from": "X", "to": "Y", "estimate": 0.1, "ci_low": -0.1, "ci_high": 0.3}]
    >>> fig = path_diagram(["X", "M", "Y"], e); plt.close(fig)
    """
    import textwrap
    nodes = [str(v) for v in nodes]
    if not nodes:
        raise ValueError("path_diagram: no nodes")
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"path_diagram: duplicated node names in {nodes}")
    e = _edge_table(edges, "path_diagram edges")
    c = _edge_table(covariances, "path_diagram covariances")
    for df, what in ((e, "edge"), (c, "covariance")):
        for a, b in zip(df["from"].astype(str), df["to"].astype(str)):
            for v in (a, b):
                if v not in nodes:
                    raise ValueError(f"path_diagram: {what} {a!r} -> {b!r} names unknown node {v!r}")
    latent = {str(v) for v in latent}
    labels = {v: str((labels or {}).get(v, v)) for v in nodes}
    elist = list(zip(e["from"].astype(str), e["to"].astype(str)))
    pos = graph_layout(nodes, elist)
    nl = 1 + max(p[0] for p in pos.values())
    # sources whose paths all end in the next layer (factors over their indicators, random
    # intercepts over their waves) sit at the centre of their children, at least one slot apart
    kids = {}
    for a, b in elist:
        kids.setdefault(a, []).append(b)
    src = [v for v in nodes if pos[v][0] == 0 and v in kids and all(pos[c][0] == 1 for c in kids[v])]
    if src and len(src) == sum(1 for v in nodes if pos[v][0] == 0):
        want = sorted((float(np.mean([pos[c][1] for c in kids[v]])), v) for v in src)
        placed_r = []
        for r, v in want:
            placed_r.append(max(r, placed_r[-1] + 1.0) if placed_r else r)
        shift = (np.mean([r for r, _ in want]) - np.mean(placed_r))  # keep the group centred after pushes
        for (_, v), r in zip(want, placed_r):
            pos[v] = (0, r + shift)
    maxw = max(sum(1 for p in pos.values() if p[0] == k) for k in range(nl))
    if orientation is None:
        orientation = "TB" if (maxw > 4 and nl <= 2) else "LR"
    if orientation not in ("LR", "TB"):
        raise ValueError(f"path_diagram: orientation must be 'LR' or 'TB', got {orientation!r}")
    # geometry in inches (1 data unit = 1 inch)
    fs = 7.0
    char_w = fs * 0.6 / 72
    disp = {v: "\n".join(textwrap.wrap(labels[v], 14)) or v for v in nodes}
    half = {}
    for v in nodes:
        lines = disp[v].split("\n")
        w = max(len(s) for s in lines) * char_w + 0.22
        h = len(lines) * fs * 1.25 / 72 + 0.16
        if v in latent:
            w, h = w * 1.3, h * 1.35
        half[v] = (w / 2, h / 2)
    maxhw = max(h[0] for h in half.values())
    maxhh = max(h[1] for h in half.values())
    if orientation == "LR":
        gap_layer = max(2.0 * maxhw + 1.4, 1.9)
        # long chains (panel models: 4+ waves) are squeezed to the page width; extra height between
        # the rows keeps the crossing cross-lagged labels apart
        gap_rank = 2.0 * maxhh + (1.5 if nl >= 4 else 0.9) if rank_gap is None else max(rank_gap, 2.0 * maxhh + 0.1)

        def xy(p):
            return (p[0] * gap_layer, -p[1] * gap_rank)
    else:
        gap_layer = 2.0 * maxhh + 1.0
        gap_rank = max(2.0 * maxhw + 0.25, 0.9) if rank_gap is None else max(rank_gap, 2.0 * maxhw + 0.1)

        def xy(p):
            return (p[1] * gap_rank, -p[0] * gap_layer)
    P = {v: xy(p) for v, p in pos.items()}
    # route each edge straight unless that runs through another node; then via its dummy points
    routes = []
    for j, (a, b) in enumerate(elist):
        pts = [P[a], P[b]]
        blocked = False
        for v in nodes:
            if v in (a, b):
                continue
            (x0, y0), (x1, y1) = P[a], P[b]
            cx, cy = P[v]
            hw, hh = half[v][0] + 0.05, half[v][1] + 0.05
            ts = np.linspace(0, 1, 60)
            xs, ys = x0 + ts * (x1 - x0), y0 + ts * (y1 - y0)
            if np.any((np.abs(xs - cx) < hw) & (np.abs(ys - cy) < hh)):
                blocked = True
                break
        if blocked:
            dummies = sorted((k for k in pos if isinstance(k, tuple) and k[1] == j), key=lambda k: k[2])
            pts = [P[a]] + [P[d] for d in dummies] + [P[b]]
        routes.append(pts)
    used = [P[v] for v in nodes] + [q for pts in routes for q in pts]
    xs_all = [p[0] for p in used]
    ys_all = [p[1] for p in used]
    pad_x, pad_y = maxhw + 0.35, maxhh + 0.45
    xmin, xmax = min(xs_all) - pad_x, max(xs_all) + pad_x
    ymin, ymax = min(ys_all) - pad_y, max(ys_all) + pad_y
    if len(c):  # room for covariance arcs and their labels
        longest = max(len(_edge_label(c.iloc[j])) for j in range(len(c)))
        # an arc3 curve with rad 0.35 bulges by about 0.175 x the distance of its ends
        bulge = max(0.175 * float(np.hypot(P[str(a)][0] - P[str(b)][0], P[str(a)][1] - P[str(b)][1]))
                    for a, b in zip(c["from"], c["to"]))
        if orientation == "LR":
            xmin -= max(0.35 + longest * char_w * (fs - 1) / fs, bulge + 0.2)
        else:
            ymax += max(0.6, bulge + 0.2)
    fig_w = width or max(xmax - xmin, 2.5)
    wrap = max(40, int(110 * fig_w / DOUBLE_COLUMN * 0.95))  # characters per note line at this width
    note_h = 0.3 * (len(textwrap.wrap(note, wrap)) if note else 0)
    fig_h = (ymax - ymin) * (fig_w / (xmax - xmin)) + (0.3 if title else 0) + note_h
    with style():
        fig_w, fig_h = round(fig_w, 2), round(fig_h, 2)  # whole pixels at 300 dpi
        fig = plt.figure(figsize=(fig_w, fig_h))
        top = 1 - (0.3 if title else 0) / fig_h
        bottom = note_h / fig_h
        ax = fig.add_axes((0, bottom, 1, top - bottom))
        ax.set_xlim(xmin, xmax)
        ax.set_ylim(ymin, ymax)
        ax.set_aspect("equal", adjustable="datalim")
        ax.axis("off")
        scale = fig_w / (xmax - xmin)  # shrink text if the figure was squeezed to `width`
        tfs = max(5.0, min(fs, fs * scale))
        for v in nodes:
            x, y = P[v]
            hw, hh = half[v]
            if v in latent:
                from matplotlib.patches import Ellipse
                ax.add_patch(Ellipse((x, y), 2 * hw, 2 * hh, fc="white", ec="black", lw=0.9, zorder=3))
            else:
                ax.add_patch(FancyBboxPatch((x - hw, y - hh), 2 * hw, 2 * hh, boxstyle="square,pad=0",
                                            fc="white", ec="black", lw=0.9, zorder=3))
            ax.text(x, y, disp[v], ha="center", va="center", fontsize=tfs, zorder=4)
        pending = []  # edge labels, placed after the covariance labels
        placed = [(P[v][0] - half[v][0], P[v][1] - half[v][1], P[v][0] + half[v][0], P[v][1] + half[v][1])
                  for v in nodes]

        def label_box(x, y, txt):
            w = (len(txt) * char_w * (tfs - 1) / fs + 0.08) / scale / 2
            h = ((tfs - 1) * 1.3 / 72 + 0.04) / scale / 2
            return (x - w, y - h, x + w, y + h)

        def overlaps(bx):
            return sum(max(0.0, min(bx[2], o[2]) - max(bx[0], o[0])) * max(0.0, min(bx[3], o[3]) - max(bx[1], o[1]))
                       for o in placed)
        for j, ((a, b), pts) in enumerate(zip(elist, routes)):
            r = e.iloc[j]
            start = _boundary(P[a], half[a], a in latent, pts[1])
            end = _boundary(P[b], half[b], b in latent, pts[-2])
            path = [start] + pts[1:-1] + [end]
            ls = "-" if _edge_significant(r) else (0, (4, 2))
            for p0, p1 in zip(path[:-2], path[1:-1]):
                ax.plot([p0[0], p1[0]], [p0[1], p1[1]], color="black", lw=0.9, ls=ls, zorder=2)
            ax.annotate("", xy=path[-1], xytext=path[-2],
                        arrowprops=dict(arrowstyle="-|>", lw=0.9, color="black", linestyle=ls,
                                        shrinkA=0, shrinkB=0, mutation_scale=8), zorder=2)
            txt = _edge_label(r)
            if txt:
                pending.append((txt, path))
        for j in range(len(c)):
            r = c.iloc[j]
            a, b = str(r["from"]), str(r["to"])
            (x0, y0), (x1, y1) = P[a], P[b]
            # bend away from the drawing's centre
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            gx, gy = np.mean(xs_all), np.mean(ys_all)
            dx, dy = x1 - x0, y1 - y0
            nx, ny = -dy, dx  # left normal of a->b; arc3 with rad>0 bends to the right of a->b
            outward = (mx - gx) * nx + (my - gy) * ny
            rad = -0.35 if outward > 0 else 0.35
            if abs(outward) < 1e-9:
                rad = 0.35
            sA = _boundary(P[a], half[a], a in latent, (mx - rad * (-dy) * 0.8, my - rad * dx * 0.8))
            sB = _boundary(P[b], half[b], b in latent, (mx - rad * (-dy) * 0.8, my - rad * dx * 0.8))
            ls = "-" if _edge_significant(r) else (0, (4, 2))
            ax.annotate("", xy=sB, xytext=sA,
                        arrowprops=dict(arrowstyle="<|-|>", lw=0.7, color="0.25", linestyle=ls,
                                        connectionstyle=f"arc3,rad={rad}", shrinkA=0, shrinkB=0,
                                        mutation_scale=7), zorder=1)
            txt = _edge_label(r)
            if txt:
                # arc3 control point: midpoint + rad * (dy, -dx); the curve passes half-way to it
                lx = (sA[0] + sB[0]) / 2 + rad * (sB[1] - sA[1]) / 2
                ly = (sA[1] + sB[1]) / 2 - rad * (sB[0] - sA[0]) / 2
                # then outward by half the label, so the text sits beside the arc, not on it
                nrm = np.array([rad * (sB[1] - sA[1]), -rad * (sB[0] - sA[0])])
                nrm = nrm / (np.hypot(*nrm) or 1.0)
                bx = label_box(0, 0, txt)
                lx += nrm[0] * (abs(bx[0]) + 0.03)
                ly += nrm[1] * (abs(bx[1]) + 0.03)
                # between the two nodes when that space is free (no node or label there)
                mxy = ((sA[0] + sB[0]) / 2, (sA[1] + sB[1]) / 2)
                far = 0.175 * np.hypot(sB[0] - sA[0], sB[1] - sA[1]) > 0.5  # a long arc: label at its apex
                if not far and overlaps(label_box(*mxy, txt)) == 0:
                    lx, ly = mxy
                ax.text(lx, ly, txt, ha="center", va="center", fontsize=tfs - 1, zorder=5, color="0.2",
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
                placed.append(label_box(lx, ly, txt))
        # edge labels: on the longest straight piece, at the first position clear of nodes and labels
        for txt, path in pending:
            lens = [np.hypot(q[0] - p[0], q[1] - p[1]) for p, q in zip(path[:-1], path[1:])]
            i = int(np.argmax(lens))
            p, q = path[i], path[i + 1]
            best = None
            for f in (0.5, 0.35, 0.65, 0.25, 0.75, 0.42, 0.58):
                lx, ly = p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1])
                bx = label_box(lx, ly, txt)
                ov = overlaps(bx)
                if best is None or ov < best[0] - 1e-12:
                    best = (ov, lx, ly, bx)
                if ov == 0:
                    break
            _, lx, ly, bx = best
            placed.append(bx)
            ax.text(lx, ly, txt, ha="center", va="center", fontsize=tfs - 1, zorder=5,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
        if title:
            fig.suptitle(title, y=1 - 0.05 / fig_h, va="top", fontsize=9)
        if note:
            fig.text(0.5, note_h / fig_h / 2, "\n".join(textwrap.wrap(note, wrap)), ha="center", va="center",
                     fontsize=6.5)
    return fig


def _ci_row(r, **extra):
    d = {"estimate": r.get("estimate", np.nan), "ci_low": r.get("ci_low", np.nan),
         "ci_high": r.get("ci_high", np.nan)}
    d.update(extra)
    return d


def mediation_graph(mediation_df, *, treatment="X", outcome=None):
    """Nodes and edges of a (simple or parallel) mediation model from ``mediation.csv``.

    Parameters
    ----------
    mediation_df : DataFrame
        ``results/<study>/mediation.csv`` (rows ``effect`` in a, b, direct, indirect, ...).
    treatment : str
        Name of the treatment (the table does not hold it; the codebook's ``design.treatment``).
    outcome : str, optional
        Which outcome; default the first with estimates.

    Returns
    -------
    dict
        ``nodes``, ``edges`` (DataFrame), ``covariances`` (DataFrame or None), ``note``
        (indirect effects as text) - keyword arguments for :func:`path_diagram`.
    """
    _need(mediation_df, ["outcome", "effect", "mediator", "estimate", "ci_low", "ci_high"], "mediation_graph")
    d = mediation_df[mediation_df["estimate"].notna() & mediation_df["effect"].notna()]
    if outcome is not None:
        d = d[d["outcome"].astype(str) == str(outcome)]
    if len(d) == 0:
        raise ValueError("mediation_graph: no estimated effects" + (f" for outcome {outcome!r}" if outcome else ""))
    y = str(d["outcome"].iloc[0])
    d = d[d["outcome"].astype(str) == y]
    eff = d["effect"].astype(str)
    mediators = list(dict.fromkeys(d.loc[eff == "a", "mediator"].astype(str)))
    edges = []
    for m in mediators:
        for kind, a, b in (("a", treatment, m), ("b", m, y)):
            r = d[(eff == kind) & (d["mediator"].astype(str) == m)]
            if len(r):
                edges.append({"from": a, "to": b, **_ci_row(r.iloc[0])})
    r = d[eff == "direct"]
    if len(r):
        edges.append({"from": treatment, "to": y, **_ci_row(r.iloc[0])})
    cov = None
    if "mediator_cov" in set(eff):  # residual covariance of parallel mediators, when reported
        rows = d[eff == "mediator_cov"]
        cov = pd.DataFrame([{"from": str(r["mediator"]).split("~")[0], "to": str(r["mediator"]).split("~")[-1],
                             **_ci_row(r)} for _, r in rows.iterrows()])
    notes = []
    for _, r in d[eff == "indirect"].iterrows():
        via = f" via {r['mediator']}" if pd.notna(r["mediator"]) and str(r["mediator"]) else ""
        notes.append(f"Indirect{via}: {_edge_label(r)}")
    for _, r in d[eff == "total"].iterrows():
        notes.append(f"Total: {_edge_label(r)}")
    note = ("Unstandardised estimates [95% CI]; dashed: CI includes 0. " + "; ".join(notes) + ".") if notes else None
    # outcomes not drawn (another outcome with estimates, or one with only a reason row) are named
    others = []
    for o, g in mediation_df[mediation_df["outcome"].notna()].groupby(mediation_df["outcome"].astype(str),
                                                                       sort=False):
        if o == y:
            continue
        why = _reason_of(g) if not g["estimate"].notna().any() else "estimates in mediation.csv"
        others.append(f"{o}: {why}" if why else str(o))
    if others and outcome is None:
        note = ((note + " ") if note else "") + "Not shown: " + "; ".join(others) + "."
    return {"nodes": [treatment] + mediators + [y], "edges": pd.DataFrame(edges), "covariances": cov, "note": note}


def riclpm_graph(riclpm_df, *, part="within", stationary=False, standardized=False):
    """Nodes and edges of the RI-CLPM (Hamaker, Kuiper & Grasman, 2015) from ``riclpm.csv``.

    Parameters
    ----------
    riclpm_df : DataFrame
        ``results/<study>/riclpm.csv``: ``type``, ``from_var``, ``to_var``, ``estimate``,
        ``ci_low``, ``ci_high``, optional ``stationary``, ``std_estimate``.
    part : {"within", "between"}
        ``within``: within-person centred scores (wx_t, wy_t) with autoregressive and
        cross-lagged paths and within-wave (residual) covariances; ``between``: the random
        intercepts (latent) loading 1 on each wave's observed score, with their covariance.
    stationary : bool
        Which fit to draw when the table holds both.
    standardized : bool
        Label with ``std_estimate`` (no CI) instead of the unstandardised estimate [CI].

    Returns
    -------
    dict
        Keyword arguments for :func:`path_diagram` (``nodes``, ``edges``, ``covariances``,
        ``latent``).
    """
    _need(riclpm_df, ["type", "from_var", "to_var", "estimate", "ci_low", "ci_high"], "riclpm_graph")
    d = riclpm_df
    if "stationary" in d.columns:
        flag = d["stationary"].astype(str).str.lower().isin(["true", "1"])
        d = d[flag == bool(stationary)]
    d = d[d["estimate"].notna()]
    if len(d) == 0:
        raise ValueError("riclpm_graph: no estimates (the model may not have converged)")
    typ = d["type"].astype(str)

    def lab(r):
        if standardized and "std_estimate" in r.index and pd.notna(r["std_estimate"]):
            return {"label": f"{float(r['std_estimate']):.2f}"}
        return {}

    if part == "within":
        _need(d, ["direction", "from_wave", "to_wave"], "riclpm_graph (within)")
        xname = str(d["x"].iloc[0]) if "x" in d.columns else "x"
        yname = str(d["y"].iloc[0]) if "y" in d.columns else "y"
        sel = d[typ.isin(["autoregressive", "cross-lagged"])]
        edges, waves = [], set()
        for _, r in sel.iterrows():
            dr = str(r["direction"])
            a, b = f"w{dr[0]}{int(r['from_wave'])}", f"w{dr[-1]}{int(r['to_wave'])}"
            waves |= {int(r["from_wave"]), int(r["to_wave"])}
            edges.append({"from": a, "to": b, **_ci_row(r), **lab(r)})
        cov = []
        for _, r in d[typ.str.contains("within")].iterrows():
            t = int(r["from_wave"])
            waves.add(t)
            cov.append({"from": f"wx{t}", "to": f"wy{t}", **_ci_row(r), **lab(r)})
        nodes = [f"w{s}{t}" for t in sorted(waves) for s in ("x", "y")]
        labels = {f"wx{t}": f"{xname} t{t}" for t in waves} | {f"wy{t}": f"{yname} t{t}" for t in waves}
        return {"nodes": nodes, "edges": pd.DataFrame(edges), "covariances": pd.DataFrame(cov), "latent": [],
                "labels": labels}
    if part == "between":
        # random intercepts load 1 on each observed wave score: x measures from the cross-lagged rows
        obs = d[typ.isin(["autoregressive", "cross-lagged"])]
        xs, ys = [], []
        for _, r in obs.iterrows():
            dr = str(r.get("direction", ""))
            for col, side in (("from_var", 0), ("to_var", -1)):
                (xs if dr[side:][:1] == "x" else ys).append(str(r[col]))
        xs = sorted(set(xs), key=lambda v: (len(v), v))
        ys = sorted(set(ys), key=lambda v: (len(v), v))
        edges = [{"from": "RIx", "to": v, "label": "1"} for v in xs] + \
                [{"from": "RIy", "to": v, "label": "1"} for v in ys]
        cov = [{"from": "RIx", "to": "RIy", **_ci_row(r), **lab(r)}
               for _, r in d[typ == "random-intercept covariance"].iterrows()]
        nodes = ["RIx", "RIy"] + xs + ys
        return {"nodes": nodes, "edges": pd.DataFrame(edges), "covariances": pd.DataFrame(cov),
                "latent": ["RIx", "RIy"]}
    raise ValueError(f"riclpm_graph: part must be 'within' or 'between', got {part!r}")


def masem_graph(masem_df, *, covary_exogenous=True):
    """Nodes and edges of a meta-analytic SEM (e.g. Craft et al., 2003) from ``masem.csv``.

    Parameters
    ----------
    masem_df : DataFrame
        ``results/meta/<name>/masem.csv``: rows with ``table == "path"`` give ``predictor`` ->
        ``outcome`` paths (``estimate``, ``ci_low``, ``ci_high``); ``table == "pooled"`` rows
        (``pair`` "a.b") give the pooled correlations, used for the covariance of exogenous
        variables.

    Returns
    -------
    dict
        Keyword arguments for :func:`path_diagram` plus ``note`` (indirect effects).
    """
    _need(masem_df, ["table", "estimate", "ci_low", "ci_high"], "masem_graph")
    d = masem_df
    paths = d[d["table"].astype(str) == "path"]
    if len(paths) == 0:
        raise ValueError("masem_graph: no rows with table == 'path'")
    _need(paths, ["predictor", "outcome"], "masem_graph paths")
    edges = [{"from": str(r["predictor"]), "to": str(r["outcome"]), **_ci_row(r)} for _, r in paths.iterrows()]
    nodes = list(dict.fromkeys([e["from"] for e in edges] + [e["to"] for e in edges]))
    targets = {e["to"] for e in edges}
    exo = [v for v in nodes if v not in targets]
    cov = []
    if covary_exogenous and "pair" in d.columns:
        pooled = d[d["table"].astype(str) == "pooled"]
        for i, a in enumerate(exo):
            for b in exo[i + 1:]:
                r = pooled[pooled["pair"].astype(str).isin([f"{a}.{b}", f"{b}.{a}"])]
                if len(r):
                    cov.append({"from": a, "to": b, **_ci_row(r.iloc[0])})
    notes = []
    ind = d[d["table"].astype(str) == "indirect"]
    for _, r in ind.iterrows():
        if {"from", "via", "to"} <= set(r.index):
            notes.append(f"{r['from']} \u2192 {r['via']} \u2192 {r['to']}: {_edge_label(r)}")
    note = ("Standardised paths [95% CI]; dashed: CI includes 0. Indirect: " + "; ".join(notes)) if notes \
        else "Standardised paths [95% CI]; dashed: CI includes 0."
    return {"nodes": nodes, "edges": pd.DataFrame(edges), "covariances": pd.DataFrame(cov) if cov else None,
            "note": note}


def latent_mediation_graph(latent_df, *, treatment="X", outcome=None):
    """Structural part of a latent mediation model from ``latent_mediation.csv``.

    The mediator is drawn as a latent variable (ellipse), the paths as in
    :func:`mediation_graph`; the note gives the latent indirect effect beside the sum-score one,
    whose difference is the attenuation an unreliable score causes.

    Parameters
    ----------
    latent_df : DataFrame
        ``results/<study>/latent_mediation.csv``: ``outcome``, ``mediator``, ``model``
        (``latent`` / ``sum_score``), ``effect``, ``estimate``, ``ci_low``, ``ci_high``.
    treatment : str
        Name of the treatment (the codebook's ``design.treatment``).
    outcome : str, optional
        Which outcome; default the first with latent estimates.

    Returns
    -------
    dict
        Keyword arguments for :func:`path_diagram`.
    """
    _need(latent_df, ["outcome", "mediator", "model", "effect", "estimate", "ci_low", "ci_high"],
          "latent_mediation_graph")
    lat = latent_df[latent_df["model"].astype(str) == "latent"]
    g = mediation_graph(lat, treatment=treatment, outcome=outcome)
    y = g["nodes"][-1]
    mediators = g["nodes"][1:-1]
    notes = []
    for m in mediators:
        for model, name in (("latent", "latent"), ("sum_score", "sum score")):
            r = latent_df[(latent_df["model"].astype(str) == model) & (latent_df["effect"].astype(str) == "indirect")
                          & (latent_df["outcome"].astype(str) == y) & (latent_df["mediator"].astype(str) == m)]
            if len(r):
                notes.append(f"Indirect via {m} ({name}): {_edge_label(r.iloc[0])}")
    fit = lat[(lat["outcome"].astype(str) == y) & lat["cfi"].notna()] if "cfi" in lat.columns else lat.iloc[0:0]
    note = ("Unstandardised estimates [95% bootstrap CI]; ellipse: the mediator as a factor of its items; dashed: "
            "CI includes 0. " + "; ".join(notes) + ".")
    if len(fit) and "chisq" in fit.columns:
        f = fit.iloc[0]
        if pd.notna(f.get("df")):
            cfi = f"{float(f['cfi']):.3f}".replace("0.", ".", 1)  # APA: no leading zero
            note += f" Fit: \u03c7\u00b2({int(f['df'])}) = {float(f['chisq']):.2f}, CFI = {cfi}."
    return {**g, "latent": mediators, "note": note}


def cfa_graph(estimates_df, fit_df=None, *, model="joint", group=None, max_drawn_factors=3, max_row_items=12):
    """Nodes and edges of a confirmatory factor model from ``cfa_estimates.csv``.

    Factors (``=~`` rows) become latent nodes with arrows to their items labelled with the
    standardised loading (lavaan's ``std.all``); factor covariances become curved arrows labelled
    with the factor correlation. An arrow is dashed when the CI of its unstandardised estimate
    includes 0. With ``fit_df`` (``cfa_fit.csv``) the model's fit indices go in the note.

    Parameters
    ----------
    estimates_df : DataFrame
        ``results/<study>/cfa_estimates.csv``: ``model``, ``lhs``, ``op``, ``rhs``, ``est``,
        ``ci_low``, ``ci_high``, ``std_all`` and optionally ``group``.
    fit_df : DataFrame, optional
        ``results/<study>/cfa_fit.csv``.
    model : str
        Which model's rows to draw (the stage writes the ``joint`` model).
    group : optional
        For multi-group tables, the group to draw (default the first).
    max_drawn_factors : int
        With more factors, their correlations are listed in the note instead of drawn as arcs.
    max_row_items : int
        With more items, the diagram runs left to right (items stacked) instead of top down.

    Returns
    -------
    dict
        Keyword arguments for :func:`path_diagram` (``nodes``, ``edges``, ``covariances``,
        ``latent``, ``note``, ``orientation``).
    """
    _need(estimates_df, ["lhs", "op", "rhs", "std_all"], "cfa_graph")
    d = estimates_df
    if "model" in d.columns:
        d = d[d["model"].astype(str) == str(model)]
    if "group" in d.columns and d["group"].notna().any():
        g = d["group"].dropna().iloc[0] if group is None else group
        d = d[d["group"] == g]
    load = d[d["op"].astype(str) == "=~"]
    if len(load) == 0:
        raise ValueError(f"cfa_graph: no loadings (op '=~') for model {model!r}")
    factors = list(dict.fromkeys(load["lhs"].astype(str)))
    items = list(dict.fromkeys(load["rhs"].astype(str)))

    def edge(r, a, b):  # label: the standardised value; line style: the unstandardised CI (fixed: solid)
        std = r.get("std_all", np.nan)
        return {"from": a, "to": b, "label": "NA" if pd.isna(std) else f"{float(std):.2f}",
                "estimate": r.get("est", np.nan), "ci_low": r.get("ci_low", np.nan),
                "ci_high": r.get("ci_high", np.nan)}

    edges = [edge(r, str(r["lhs"]), str(r["rhs"])) for _, r in load.iterrows()]
    fc = d[(d["op"].astype(str) == "~~") & d["lhs"].astype(str).isin(factors) & d["rhs"].astype(str).isin(factors)
           & (d["lhs"].astype(str) != d["rhs"].astype(str))]
    cov = [edge(r, str(r["lhs"]), str(r["rhs"])) for _, r in fc.iterrows()]
    note = "Standardised loadings and factor correlations (std.all); dashed: CI includes 0."
    if len(factors) > max_drawn_factors:  # many arcs tangle: the correlations go in the note instead
        note += " Factor correlations: " + ", ".join(f"{c['from']}\u2013{c['to']} {c['label']}" for c in cov) + "."
        cov = []
    if fit_df is not None and len(fit_df):
        f = fit_df[fit_df["model"].astype(str) == str(model)] if "model" in fit_df.columns else fit_df
        if len(f) and pd.notna(f.iloc[0].get("chisq")):
            f = f.iloc[0]
            dfv = "NA" if pd.isna(f.get("df")) else int(f["df"])
            def apa(v):  # no leading zero for indices bounded by 1
                return f"{float(v):.3f}".replace("0.", ".", 1)
            note += (f" Fit: \u03c7\u00b2({dfv}) = {float(f['chisq']):.2f}, CFI = {apa(f['cfi'])}, "
                     f"RMSEA = {apa(f['rmsea'])}, SRMR = {apa(f['srmr'])}.")
    return {"nodes": factors + items, "edges": pd.DataFrame(edges),
            "covariances": pd.DataFrame(cov) if cov else None, "latent": factors, "note": note,
            # many items side by side get squeezed below legibility: stack them (factors left, items right)
            "orientation": "LR" if len(items) > max_row_items else "TB",
            "rank_gap": 0.42 if len(items) > max_row_items else None}


# ---------------------------------------------------------------------------------------------
# data figures
# ---------------------------------------------------------------------------------------------

def item_distributions(clean, codebook, *, floor_ceiling=15.0, max_categories=11, title=None,
                       width=DOUBLE_COLUMN):
    """Response distributions of every scale item, with floor and ceiling effects marked.

    One horizontal stacked bar per item (share of each response category, or of five equal-width
    bins for wide response ranges such as Bandura's 0-100 confidence ratings), items grouped by
    scale. The share at the lowest (floor) and highest (ceiling) category is printed at the
    right; above ``floor_ceiling`` percent (Terwee et al., 2007: 15%) it is printed bold in
    vermillion (cf. ``psych::response.frequencies`` in R).

    Parameters
    ----------
    clean : DataFrame
        ``results/<study>/clean.csv``.
    codebook : efficacy.codebook.Codebook
        Scales (items and response range) to draw.
    floor_ceiling : float
        Percentage above which floor or ceiling effects are flagged.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(clean, pd.DataFrame):
        raise ValueError(f"item_distributions: expected a DataFrame, got {type(clean).__name__}")
    rows = []  # (scale, item, shares, floor, ceiling, n)
    ncat_max = 0
    for sname, sc in codebook.scales.items():
        lo, hi = sc.response_range
        items = [i for i in sc.items if i in clean.columns]
        if not items:
            continue
        cats = np.arange(lo, hi + 1) if (hi - lo + 1) <= max_categories and float(lo).is_integer() else None
        for it in items:
            x = pd.to_numeric(clean[it], errors="coerce").dropna().to_numpy(float)
            if len(x) == 0:
                continue
            if cats is not None:
                shares = np.array([(x == c).mean() for c in cats]) * 100
            else:
                edges = np.linspace(lo, hi, 6)
                idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, 4)
                shares = np.bincount(idx, minlength=5) / len(x) * 100
            ncat_max = max(ncat_max, len(shares))
            rows.append((sname, it, shares, (x <= lo).mean() * 100, (x >= hi).mean() * 100, len(x),
                         cats is None, (lo, hi)))
    if not rows:
        raise ValueError("item_distributions: no scale items of the codebook found in the data")
    n = len(rows)
    scales_in = list(dict.fromkeys(r[0] for r in rows))
    with style():
        height = 0.9 + 0.13 * n + 0.12 * len(scales_in)
        fig, ax = plt.subplots(figsize=(width, round(height, 2)))
        cmap = plt.get_cmap("cividis")
        y = 0.0
        yt, yl = [], []
        sep = []
        prev = None
        for sname, it, shares, fl, ce, nn, binned, (lo, hi) in rows:
            if prev is not None and sname != prev:
                y += 0.6
                sep.append(y - 0.8)
            prev = sname
            k = len(shares)
            left = 0.0
            for j, s in enumerate(shares):
                ax.barh(-y, s, left=left, height=0.8, color=cmap(j / max(k - 1, 1)), lw=0)
                left += s
            yt.append(-y)
            yl.append(f"{sname}: {it}")
            for xpos, val, lab in ((101.5, fl, "F"), (113.5, ce, "C")):
                bad = val > floor_ceiling
                ax.text(xpos, -y, f"{val:.0f}%", va="center", ha="left", fontsize=5.5,
                        color=OKABE_ITO["vermillion"] if bad else "black", fontweight="bold" if bad else "normal",
                        clip_on=False)
            y += 1.0
        for s in sep:
            ax.axhline(-s, color="0.7", lw=0.5)
        ax.set_yticks(yt)
        ax.set_yticklabels(yl, fontsize=5.5)
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, 100)
        ax.set_ylim(-y + 0.4, 0.6)
        ax.set_xlabel("Share of responses (%), lowest category left; colour: response category (dark = low)")
        ax.text(101.5, 1.1, "floor", fontsize=5.5, ha="left", va="bottom", clip_on=False)
        ax.text(113.5, 1.1, "ceiling", fontsize=5.5, ha="left", va="bottom", clip_on=False)
        ax.spines["left"].set_visible(False)
        if title:
            ax.set_title(title)
        fig.tight_layout(rect=(0, 0, 0.86, 1))
    return fig


def missingness_map(data, codebook=None, *, id_col=None, title=None, width=DOUBLE_COLUMN, max_rows=2000):
    """Missing-data map: participants (rows) by variables (columns), missing cells dark.

    Rows are sorted by their number of missing values, so monotone or block patterns show (cf.
    ``mice::md.pattern`` / ``naniar::vis_miss`` in R); the share missing per variable is printed
    above each column.

    Parameters
    ----------
    data : DataFrame
        ``results/<study>/clean.csv`` (or raw data with missing codes already set to NaN).
    codebook : efficacy.codebook.Codebook, optional
        Restricts and orders the columns to the codebook's variables (the id left out).
    max_rows : int
        Rows beyond this are thinned evenly (the image stays readable and small).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"missingness_map: expected a DataFrame, got {type(data).__name__}")
    if codebook is not None:
        cols = [v for v, var in codebook.variables.items() if v in data.columns and var.type != "id"]
        cols += [s for s in codebook.scales if s in data.columns and s not in cols]
    else:
        cols = [c for c in data.columns if c != id_col]
    if not cols or len(data) == 0:
        raise ValueError("missingness_map: no variables or no rows to draw")
    m = data[cols].isna().to_numpy()
    order = np.argsort(m.sum(axis=1), kind="stable")
    m = m[order]
    if len(m) > max_rows:
        m = m[np.linspace(0, len(m) - 1, max_rows).astype(int)]
    pct = data[cols].isna().mean().to_numpy() * 100
    k = len(cols)
    with style():
        fig, ax = plt.subplots(figsize=(width, 3.6))
        ax.imshow(m, aspect="auto", interpolation="nearest", cmap=matplotlib.colors.ListedColormap(
            ["#F2F2F2", OKABE_ITO["blue"]]), vmin=0, vmax=1)
        fsz = 6 if k <= 40 else max(3.5, 6 * 40 / k)
        ax.set_xticks(np.arange(k))
        ax.set_xticklabels(cols, rotation=90, fontsize=fsz)
        ax.set_ylabel(f"Participants (n = {len(data)}), sorted by missing count")
        ax.set_yticks([])
        for j, p in enumerate(pct):
            if p > 0:
                ax.text(j, -0.01 * len(m), f"{p:.1f}" if p < 9.95 else f"{p:.0f}", ha="center", va="bottom", fontsize=fsz * 0.9,
                        rotation=90, color=OKABE_ITO["vermillion"] if p >= 10 else "black")
        total = data[cols].isna().to_numpy().mean() * 100
        if total == 0:
            ax.text((k - 1) / 2, (len(m) - 1) / 2, "No missing values", ha="center", va="center", fontsize=9,
                    color="0.3")
        ax.set_title((title + "\n" if title else "") + f"Missing cells (blue): {total:.1f}% overall; "
                     "numbers above columns: % missing", fontsize=8, pad=14)
        for s in ("top", "right", "left", "bottom"):
            ax.spines[s].set_visible(False)
        fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# workflow entry point
# ---------------------------------------------------------------------------------------------

#: figure kinds the workflow draws -> short description (used in placeholders)
FIGURES = {
    "flow": "participant flow", "reliability": "reliability", "items": "item distributions",
    "missingness": "missingness map", "mediation_path": "mediation path diagram",
    "sensitivity": "sensitivity curve", "riclpm_within": "RI-CLPM within-person paths",
    "riclpm_between": "RI-CLPM between-person part", "forest": "forest plot", "funnel": "funnel plot",
    "masem_path": "MASEM path diagram", "invariance": "measurement invariance", "power": "power curve",
    "coverage": "coverage", "cfa_path": "CFA path diagram", "latent_mediation_path": "latent mediation diagram",
}


def _read_inputs(inputs):
    from efficacy.codebook import load_codebook
    out = {}
    for k, p in inputs.items():
        p = Path(p)
        if p.suffix in (".yaml", ".yml"):
            out[k] = load_codebook(p)
        elif p.suffix == ".csv":
            out[k] = pd.read_csv(p)
        else:
            out[k] = p
    return out


def _reason_of(df):
    if isinstance(df, pd.DataFrame) and "reason" in df.columns and df["reason"].notna().any():
        return "; ".join(dict.fromkeys(str(r) for r in df["reason"].dropna()))
    return None


def stage_figure(kind, tables, *, threshold=0.70, study=None):
    """Draw the figure ``kind`` from a stage's tables (DataFrames, a ``codebook``).

    Returns a figure, or raises ``ValueError`` with the reason there is none (the caller,
    :func:`render_stage_figure`, turns that into a placeholder).
    """
    t = tables
    if kind == "flow":
        return flow_diagram(t["flow"])
    if kind == "reliability":
        if len(t["reliability"]) == 0:
            raise ValueError("the codebook declares no multi-item scales: no reliability to estimate")
        if not t["reliability"]["alpha"].notna().any():
            raise ValueError(_reason_of(t["reliability"]) or "no reliability estimates")
        return reliability_plot(t["reliability"], threshold=threshold)
    if kind == "items":
        if not t["codebook"].scales:
            raise ValueError("the codebook declares no multi-item scales: no item distributions to draw")
        return item_distributions(t["clean"], t["codebook"])
    if kind == "missingness":
        return missingness_map(t["clean"], t["codebook"])
    if kind == "mediation_path":
        med = t["mediation"]
        if not med["estimate"].notna().any():
            raise ValueError(_reason_of(med) or "no mediation estimates")
        tr = t["codebook"].design.treatment if "codebook" in t else None
        return path_diagram(**mediation_graph(med, treatment=tr or "treatment"))
    if kind == "sensitivity":
        sens = t["sensitivity"]
        if not sens["acme"].notna().any():
            raise ValueError(_reason_of(sens) or "no sensitivity analysis")
        return sensitivity_curve(sens)
    if kind in ("riclpm_within", "riclpm_between"):
        r = t["riclpm"]
        if "converged" in r.columns and not r["converged"].astype(str).str.lower().eq("true").any():
            raise ValueError(_reason_of(r) or "the RI-CLPM did not converge")
        if "proper" in r.columns and not r["proper"].astype(str).str.lower().eq("true").any():
            raise ValueError("improper solution: " + (_reason_of(r) or "negative variance estimate"))
        g = riclpm_graph(r, part=kind.split("_")[1])
        return path_diagram(**g, width=DOUBLE_COLUMN)
    if kind == "forest":
        if not t["summary"]["estimate"].notna().any():
            raise ValueError(_reason_of(t["summary"]) or "no pooled estimate")
        return forest_plot(t["studies"], t["summary"])
    if kind == "funnel":
        if not t["summary"]["estimate"].notna().any():
            raise ValueError(_reason_of(t["summary"]) or "no pooled estimate")
        return funnel_plot(t["studies"], t["summary"])
    if kind == "masem_path":
        m = t["masem"]
        if "table" not in m.columns or not (m["table"].astype(str) == "path").any():
            raise ValueError(_reason_of(m) or "not a MASEM analysis (no path estimates)")
        return path_diagram(**masem_graph(m))
    if kind == "invariance":
        return invariance_plot(t["invariance"])
    if kind == "latent_mediation_path":
        lat = t["latent_mediation"]
        if "model" not in lat.columns or not (lat["model"].astype(str).eq("latent") & lat["estimate"].notna()).any():
            raise ValueError(_reason_of(lat) or "no latent mediation estimates")
        if "proper" in lat.columns and lat.loc[lat["model"].astype(str).eq("latent"), "proper"].astype(str) \
                .str.lower().eq("false").any():
            raise ValueError("improper solution of the latent mediation model: " + (_reason_of(lat) or
                                                                                     "negative variance estimate"))
        tr = t["codebook"].design.treatment if "codebook" in t else None
        return path_diagram(**latent_mediation_graph(lat, treatment=tr or "treatment"))
    if kind == "cfa_path":
        fit, est = t.get("cfa_fit"), t["cfa_estimates"]
        if fit is not None and "model" in fit.columns:
            joint = fit[fit["model"].astype(str) == "joint"]
            if len(joint):
                j = joint.iloc[0]
                if str(j.get("converged")).lower() != "true":
                    raise ValueError(str(j.get("reason")) if pd.notna(j.get("reason")) and str(j.get("reason"))
                                     else "the CFA did not converge")
                if str(j.get("proper")).lower() != "true":
                    raise ValueError("improper solution: " + (str(j["reason"]) if pd.notna(j.get("reason"))
                                                              and str(j["reason"]) else "negative variance estimate"))
        if len(est) == 0 or "op" not in est.columns:
            raise ValueError(_reason_of(fit) or "no CFA estimates")
        g = cfa_graph(est, fit)
        return path_diagram(**g, width=DOUBLE_COLUMN if g["orientation"] == "TB" else None)
    if kind == "power":
        return power_curve(t["power"])
    if kind == "coverage":
        return coverage_plot(t["coverage"])
    raise ValueError(f"unknown figure kind {kind!r}; one of {sorted(FIGURES)}")


def render_stage_figure(kind, inputs, path_stem, **params):
    """Workflow entry point: read ``inputs`` (paths), draw ``kind``, save PNG + PDF.

    Any stage result that is missing, failed (rows with a ``reason``) or cannot be drawn gives a
    placeholder figure stating why, so the report never breaks on one study's failure.

    Parameters
    ----------
    kind : str
        One of :data:`FIGURES`.
    inputs : dict
        Name -> path (``.csv`` read as tables, ``codebook.yaml`` with
        :func:`efficacy.codebook.load_codebook`).
    path_stem : str or Path
        Output path (``.png`` suffix allowed).

    Returns
    -------
    dict
        ``{"png": Path, "pdf": Path, "placeholder": reason or None}``.
    """
    try:
        tables = _read_inputs(inputs)
        fig = stage_figure(kind, tables, **params)
    except (ValueError, KeyError, FileNotFoundError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).strip("'\"") or type(exc).__name__
        out = placeholder_figure(path_stem, reason, title=f"No {FIGURES.get(kind, kind)}")
        return {**out, "placeholder": reason}
    out = save_figure(fig, path_stem)
    return {**out, "placeholder": None}


def invariance_plot(invariance_df, *, delta_cfi=-0.010, delta_rmsea=0.015, title=None, width=DOUBLE_COLUMN):
    """Fit indices per measurement-invariance step with cut-off bands.

    Four panels sharing the steps (configural, metric, scalar, partial, strict): CFI and RMSEA
    with Hu & Bentler's (1999) guidelines (.95, .06), and the change in CFI and RMSEA against
    the previous step with Chen's (2007) cut-offs (delta CFI >= -.010, delta RMSEA <= .015)
    shaded as the acceptable band; markers are coloured by the step's decision (cf.
    ``semTools::compareFit`` in R).

    Parameters
    ----------
    invariance_df : DataFrame
        ``results/<study>/invariance_<group>.csv`` (:func:`efficacy.measurement.invariance`):
        ``step``, ``cfi``, ``rmsea``, ``delta_cfi``, ``delta_rmsea``, ``decision``; optional
        ``freed`` (shown with partial steps).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(invariance_df, ["step", "cfi", "rmsea", "delta_cfi", "delta_rmsea", "decision"], "invariance_plot")
    d = invariance_df.reset_index(drop=True)
    if len(d) == 0 or not d["cfi"].notna().any():
        raise ValueError("invariance_plot: no estimable invariance step"
                         + (f" ({_reason_of(d)})" if _reason_of(d) else ""))
    names = []
    for _, r in d.iterrows():
        nm = str(r["step"]).replace("_", " ")
        if "freed" in d.columns and pd.notna(r["freed"]) and str(r["freed"]).strip():
            freed = re.sub(r"(\S+)\s*~\s*1\b", r"\1 intercept", str(r["freed"]))  # lavaan "se4 ~ 1"
            nm += f"\n(free: {freed})"
        names.append(nm)
    y = np.arange(len(d))[::-1].astype(float)
    dec = d["decision"].fillna("").astype(str)
    colour = {"invariant": OKABE_ITO["green"], "not invariant": OKABE_ITO["vermillion"],
              "reference": "black", "not estimable": "0.6"}
    cols = [colour.get(v, OKABE_ITO["blue"]) for v in dec]
    panels = [("cfi", "CFI", ("ge", 0.95), "Hu & Bentler .95"),
              ("rmsea", "RMSEA", ("le", 0.06), "Hu & Bentler .06"),
              ("delta_cfi", "\u0394CFI", ("ge", delta_cfi), f"Chen \u2265 {delta_cfi:.3f}"),
              ("delta_rmsea", "\u0394RMSEA", ("le", delta_rmsea), f"Chen \u2264 {delta_rmsea:.3f}")]
    with style():
        fig, axes = plt.subplots(1, 4, figsize=(width, round(1.3 + 0.36 * len(d), 2)), sharey=True,
                                 layout="constrained")
        for ax, (col, lab, (side, cut), cutlab) in zip(axes, panels):
            v = d[col].to_numpy(float)
            fin = v[np.isfinite(v)]
            lo = min(np.min(fin) if len(fin) else cut, cut)
            hi = max(np.max(fin) if len(fin) else cut, cut)
            pad = 0.15 * (hi - lo or abs(cut) or 0.01)
            xl = (lo - pad, hi + pad)
            if side == "ge":
                ax.axvspan(cut, xl[1], color=OKABE_ITO["green"], alpha=0.12, lw=0)
            else:
                ax.axvspan(xl[0], cut, color=OKABE_ITO["green"], alpha=0.12, lw=0)
            ax.axvline(cut, color="0.3", ls="--", lw=0.7)
            ok = np.isfinite(v)
            ax.scatter(v[ok], y[ok], c=np.array(cols, dtype=object)[ok].tolist(), s=18, zorder=3)
            ax.set_xlim(*xl)
            ax.set_xlabel(lab)
            ax.set_title(cutlab, fontsize=7)
            ax.tick_params(axis="x", labelsize=6)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
            ax.grid(axis="y", color="0.92", lw=0.5)
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(names, fontsize=6.5)
        axes[0].set_ylim(-0.6, len(d) - 0.4)
        handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=k) for k, c in colour.items()
                   if k in set(dec)]
        handles.append(matplotlib.patches.Patch(color=OKABE_ITO["green"], alpha=0.12, label="acceptable"))
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=6.5)
        if title:
            fig.suptitle(title)
    return fig
