"""The specification curve: every specification's estimate, ranked, with the choices behind it
(Simonsohn, Simmons & Nelson 2020, fig. 2).
"""

from __future__ import annotations

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..errors import PlotError
from .style import DOUBLE_COLUMN, OKABE_ITO, _need, style

__all__ = ["specification_curve"]

_DIMENSIONS = ("scoring", "covariates", "estimator", "missing", "ci")
_NAMES = {"scoring": "mediator scoring", "covariates": "covariates", "estimator": "estimator",
          "missing": "missing data", "ci": "bootstrap CI"}


def _dimension_label(d):
    return f"exclude {d[len('exclude_'):]}" if d.startswith("exclude_") else _NAMES.get(d, d)


def _level_label(v):
    if isinstance(v, (bool, np.bool_)) or str(v) in ("True", "False"):
        return "yes" if str(v) == "True" else "no"
    return str(v)


def specification_curve(table, *, estimate="indirect", ci_low="ci_low", ci_high="ci_high", dimensions=None,
                        ylabel=None, title=None, width=DOUBLE_COLUMN):
    """Specification curve: ranked estimates with their intervals above, the choices below.

    The upper panel shows each estimable specification's estimate (sorted from smallest to
    largest) with its confidence interval, coloured by whether the interval excludes zero
    (positive: blue, negative: vermillion, includes zero: grey), the zero line and the median. The
    lower panel marks, for every specification, the level of each dimension it uses (one row per
    level), as in Simonsohn, Simmons & Nelson (2020, fig. 2). Dimensions with a single level are
    left out; specifications that could not be estimated are counted in the caption line, not drawn.

    Parameters
    ----------
    table : DataFrame
        ``results/<study>/multiverse/specifications.csv``: the estimate and interval columns,
        ``verdict`` (optional; ``not estimable`` rows are dropped) and the choice columns.
    estimate, ci_low, ci_high : str
        Columns drawn.
    dimensions : list of str, optional
        Choice columns of the lower panel (default: ``exclude_*`` columns, then scoring,
        covariates, estimator, missing, ci).
    ylabel, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> df = pd.DataFrame({"indirect": [0.2, 0.5, 0.1, 0.4], "ci_low": [0.0, 0.2, -0.1, 0.1],
    ...                    "ci_high": [0.4, 0.8, 0.3, 0.7], "scoring": ["mean", "mean", "sum", "sum"],
    ...                    "exclude_age": [False, True, False, True]})
    >>> fig = specification_curve(df); plt.close(fig)
    """
    _need(table, [estimate, ci_low, ci_high], "specification_curve")
    d = table.copy()
    if "verdict" in d.columns:
        d = d[d["verdict"].astype(str) != "not estimable"]
    d = d[np.isfinite(pd.to_numeric(d[estimate], errors="coerce"))]
    n_all, n = len(table), len(d)
    if n == 0:
        raise PlotError("specification_curve: no estimable specification to draw")
    dims = list(dimensions) if dimensions is not None else (
        [c for c in d.columns if str(c).startswith("exclude_")] + [c for c in _DIMENSIONS if c in d.columns])
    missing = [c for c in dims if c not in d.columns]
    if missing:
        raise PlotError(f"specification_curve: missing choice column(s) {missing}; has {list(d.columns)}")
    dims = [c for c in dims if d[c].astype(str).nunique() > 1]
    d = d.sort_values(estimate, kind="stable").reset_index(drop=True)
    x = np.arange(1, n + 1)
    est = d[estimate].to_numpy(float)
    lo = pd.to_numeric(d[ci_low], errors="coerce").to_numpy(float)
    hi = pd.to_numeric(d[ci_high], errors="coerce").to_numpy(float)
    colour = np.where(lo > 0, OKABE_ITO["blue"], np.where(hi < 0, OKABE_ITO["vermillion"], "0.55"))
    rows = []  # (dimension, level, mask)
    for c in dims:
        vals = d[c]
        levels = list(dict.fromkeys(vals.astype(str)))
        if c in _DIMENSIONS or c.startswith("exclude_"):
            order = {"False": 0, "True": 1}
            levels.sort(key=lambda v: (order.get(v, 2), v))
        for v in levels:
            rows.append((c, v, (vals.astype(str) == v).to_numpy()))
    ms = 3.0 if n <= 60 else (2.0 if n <= 200 else 1.2)
    h_top, h_row = 2.3, 0.13
    h_bot = max(0.6, h_row * len(rows) + 0.1 * max(len(dims) - 1, 0))
    with style():
        fig, (ax, axb) = plt.subplots(2, 1, figsize=(width, h_top + h_bot + 0.7 + (0.2 if title else 0)),
                                      sharex=True, height_ratios=[h_top, h_bot], layout="constrained")
        ax.vlines(x, lo, hi, colors=colour, lw=0.6 if n > 100 else 0.9, alpha=0.7)
        ax.scatter(x, est, s=ms ** 2 * 2, c=colour, zorder=3, lw=0)
        ax.axhline(0, color="black", lw=0.7)
        med = float(np.median(est))
        ax.axhline(med, color="0.3", lw=0.7, ls="--")
        ax.annotate(f"median {med:.3g}", (0.01, med), xycoords=("axes fraction", "data"), xytext=(0, 2),
                    textcoords="offset points", fontsize=6.5, color="0.3", va="bottom")
        ax.set_ylabel(ylabel or ("Indirect effect" if estimate == "indirect" else estimate))
        note = f"{n} specifications" + (f" ({n_all - n} not estimable, not shown)" if n_all > n else "")
        share = np.mean((lo > 0) | (hi < 0))
        ax.set_title((title + "\n" if title else "") + f"{note}; {share:.0%} of the intervals exclude zero",
                     fontsize=8)
        ax.grid(axis="y", color="0.92", lw=0.5)
        # lower panel: one row per level, dimensions separated by thin lines
        ylabels, yticks = [], []
        ypos, prev = 0.0, None
        for c, v, mask in rows:
            if prev is not None and c != prev:
                axb.axhline(ypos - 0.25, color="0.8", lw=0.5)
                ypos += 0.5
            axb.scatter(x[mask], np.full(mask.sum(), ypos), marker="|", s=(ms * 2.2) ** 2, c=colour[mask], lw=0.9)
            yticks.append(ypos)
            ylabels.append(f"{_dimension_label(c)}: {_level_label(v)}")
            ypos += 1.0
            prev = c
        axb.set_yticks(yticks, ylabels, fontsize=6.5)
        axb.set_ylim(ypos - 0.5, -0.5)
        axb.set_xlim(0.3, n + 0.7)
        axb.set_xlabel("Specification (ranked by the estimate)")
        axb.spines["left"].set_visible(False)
        axb.tick_params(axis="y", length=0)
    return fig
