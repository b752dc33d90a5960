"""Measurement figures: reliability against its threshold, and measurement-invariance steps
with the Chen (2007) cut-off bands.
"""

from __future__ import annotations

import re

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..errors import PlotError
from .style import DOUBLE_COLUMN, OKABE_ITO, SINGLE_COLUMN, _need, _reason_of, style

__all__ = ["reliability_plot", "invariance_plot"]


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
        raise PlotError("reliability_plot: no rows (with group == 'all') to draw")
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
        raise PlotError("invariance_plot: no estimable invariance step"
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
