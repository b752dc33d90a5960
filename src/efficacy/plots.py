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
- :func:`placeholder_figure` - a figure stating why a result is missing.

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
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Polygon  # noqa: E402
from scipy import stats  # noqa: E402

__all__ = [
    "OKABE_ITO", "SINGLE_COLUMN", "DOUBLE_COLUMN", "DPI", "style", "save_figure",
    "forest_plot", "funnel_plot", "reliability_plot", "flow_diagram", "placeholder_figure",
    "power_curve", "coverage_plot",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
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
    "axes.prop_cycle": matplotlib.cycler(color=list(OKABE_ITO.values())[1:] + ["#000000"]),
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,
    "svg.hashsalt": "efficacy",
    "path.simplify": True,
}

_FUNNEL_LABELS = {"RR": "Log risk ratio", "OR": "Log odds ratio", "PETO": "Log odds ratio",
                  "IRR": "Log incidence rate ratio", "ZCOR": "Fisher's z", "SMD": "Standardised mean difference"}

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
        xlab = f"Effect size ({measure})"
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
        cx = 2.2
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
    colors = list(OKABE_ITO.values())[1:] + ["#000000"]
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
    colors = list(OKABE_ITO.values())[1:] + ["#000000"]
    markers = ["o", "s", "D", "^", "v", "P", "X"]
    nr = len(rows)
    y = np.arange(nr)[::-1].astype(float)
    off = np.linspace(0.2, -0.2, len(ns)) if len(ns) > 1 else np.zeros(1)  # first n on top
    with style():
        fig, ax = plt.subplots(figsize=(width, 0.9 + 0.28 * nr * max(1, min(len(ns), 3) * 0.6)))
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
            ax.errorbar(xx, yy, xerr=ee, fmt=markers[k % len(markers)], ms=3.5, color=colors[k % len(colors)],
                        capsize=1.5, elinewidth=0.8, label=(f"n = {int(n)}" if n is not None else "coverage"))
        ax.set_yticks(y)
        ax.set_yticklabels([f"{t}: {m}" for t, m in rows])
        ax.tick_params(axis="y", length=0)
        # group separators between targets
        for i in range(1, nr):
            if rows[i][0] != rows[i - 1][0]:
                ax.axhline((y[i] + y[i - 1]) / 2, color="0.8", lw=0.5)
        lo = np.nanmin(np.append(d["coverage"].to_numpy(float), band[0]))
        ax.set_xlim(max(0.0, np.floor((lo - 0.03) * 20) / 20), 1.0)
        ax.set_ylim(-0.6, nr - 0.4)
        ax.set_xlabel(f"Coverage of the {level:.0%} interval (error bars: \u00b12 MCSE)")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(2 + len(ns), 5), fontsize=6.5,
                  handletextpad=0.3, columnspacing=0.9)
        if title:
            ax.set_title(title, pad=22)
        fig.tight_layout()
    return fig
