"""Simulation-study figures: power curves and CI coverage with 2 x MCSE bars
(Morris, White & Crowther 2019).
"""

from __future__ import annotations

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._api import renamed
from ..errors import PlotError
from .style import _LINE_COLORS, DOUBLE_COLUMN, DPI, OKABE_ITO, _need, style

__all__ = ["power_curve", "coverage_plot"]


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
    power_df : DataFrame or PowerAnalysisResult
        ``results/simulation/power.csv`` (or :func:`efficacy.simulation.power_analysis`'s result): ``n``, ``a``, ``b``, ``method``, ``power``; optional
        ``power_mcse``, ``reliability`` (panels are split by it too when it takes several values).
    target : float
        Power drawn as a horizontal reference line.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> import matplotlib.pyplot as plt, pandas as pd
    >>> df = pd.DataFrame({"n": [50, 100] * 2, "a": 0.3, "b": 0.3, "method": ["boot"] * 2 + ["sobel"] * 2,
    ...                    "power": [0.4, 0.8, 0.3, 0.7]})
    >>> fig = power_curve(df); plt.close(fig)
    """
    power_df = power_df.to_frame() if hasattr(power_df, "to_frame") else power_df
    _need(power_df, ["n", "a", "b", "method", "power"], "power_curve")
    d = power_df.copy()
    if len(d) == 0:
        raise PlotError("power_curve: empty power table")
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


@renamed(level="ci_level")
def coverage_plot(coverage_df, *, ci_level=0.95, band=(0.925, 0.975), title=None, width=DOUBLE_COLUMN):
    """Coverage of the CIs per target and method with 2 x MCSE bars, the nominal line and a pass band.

    The pass band defaults to Bradley's (1978) liberal criterion for a 95% interval
    (.925-.975); Morris, White & Crowther (2019) give the MCSE of coverage.

    Parameters
    ----------
    coverage_df : DataFrame or CoverageResult
        ``results/simulation/coverage.csv`` (or :func:`efficacy.simulation.coverage_study`'s result): ``target``, ``method``, ``coverage``; optional
        ``coverage_mcse``, ``n`` (one marker per n, offset within the method row).
    ci_level : float
        Nominal coverage, drawn as a vertical line.
    band : (float, float)
        Acceptable coverage, drawn shaded.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> import matplotlib.pyplot as plt, pandas as pd
    >>> df = pd.DataFrame({"target": ["acme"] * 2, "method": ["boot", "delta"], "coverage": [0.95, 0.9],
    ...                    "coverage_mcse": [0.01, 0.01]})
    >>> fig = coverage_plot(df); plt.close(fig)
    """
    coverage_df = coverage_df.to_frame() if hasattr(coverage_df, "to_frame") else coverage_df
    _need(coverage_df, ["target", "method", "coverage"], "coverage_plot")
    d = coverage_df.reset_index(drop=True)
    if len(d) == 0:
        raise PlotError("coverage_plot: empty coverage table")
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
        ax.axvline(ci_level, color="black", ls="--", lw=0.8, label=f"Nominal {ci_level:.0%}")
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
        ax.set_xlabel(f"Coverage of the {ci_level:.0%} interval (error bars: \u00b12 MCSE)")
        n_entries = 2 + len(ns)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncol=n_entries if n_entries <= 5 else int(np.ceil(n_entries / 2)), fontsize=6.5,
                  handletextpad=0.3, columnspacing=0.9)
        if title:
            ax.set_title(title, pad=22)
        fig.tight_layout()
    return fig
