"""Meta-analysis figures: forest plot (Lewis & Clarke 2001; ``metafor::forest``), the subgrouped
forest plot (per-level diamonds and the Q-between test), and the contour-enhanced funnel plot
(Peters et al. 2008; ``metafor::funnel``) with trim-and-fill studies.
"""

from __future__ import annotations

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from ..errors import PlotError
from .style import (
    _FUNNEL_LABELS,
    _LINEAR_LABELS,
    _TRANSFORMS,
    DOUBLE_COLUMN,
    SINGLE_COLUMN,
    OKABE_ITO,
    _fmt,
    _fmt_tick,
    _need,
    _nice_ticks,
    _thin,
    style,
)

__all__ = ["forest_plot", "subgroup_forest_plot", "funnel_plot", "selection_function_plot"]


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
            raise PlotError(f"forest_plot summary: missing column {c!r}")
    if measure is None:
        measure = s.get("measure", None)
        measure = None if measure is None or (isinstance(measure, float) and np.isnan(measure)) else str(measure)
    st = studies
    if "filled" in st.columns and not show_filled:
        st = st[~st["filled"].astype(bool)]
    st = st.reset_index(drop=True)
    if len(st) == 0:
        raise PlotError("forest_plot: no studies to draw")
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
        back = _axis_scale(ax, measure, width, xs)
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


def _axis_scale(ax, measure, width, xs):
    """x limits (with 0 inside), ticks on the back-transformed scale, the axis label; returns ``back``."""
    back, xlab = _TRANSFORMS.get(str(measure).upper() if measure else "", (lambda v: v, "Effect size"))
    if measure and str(measure).upper() not in _TRANSFORMS:
        xlab = _LINEAR_LABELS.get(str(measure).upper(), f"Effect size ({measure})")
    xs = np.asarray(xs, float)
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
    return back


def subgroup_forest_plot(studies, subgroups, summary=None, *, group, measure=None, label="study", title=None,
                         width=DOUBLE_COLUMN, show_filled=False):
    """Forest plot with the studies grouped by a categorical moderator (cf. ``metafor::forest`` with
    ``addpoly()`` per subgroup, as in metafor's subgroup examples).

    Each level gets a heading, its studies (squares sized by their weight in the overall model,
    with CIs) and its own random-effects diamond; the overall diamond (``summary``) closes the plot,
    and the note under the axis gives the test for subgroup differences (``QM`` of
    ``rma(mods = ~ factor(group))``) and each level's tau-squared.

    Parameters
    ----------
    studies : DataFrame
        ``studies`` table of :func:`efficacy.meta.run_analysis`: ``label`` (default ``study``),
        ``yi``, ``ci_low``, ``ci_high``, the ``group`` column; optional ``weight``, ``filled``.
    subgroups : DataFrame
        ``subgroup`` table (:func:`efficacy.meta.univariate.subgroup` with ``group``, ``k``,
        ``estimate``, ``ci_low``, ``ci_high``, ``tau2``; the ``between`` row with ``Q``, ``Q_df``,
        ``Q_pvalue``; optional ``Q_df2`` for the F test).
    summary : DataFrame or Series, optional
        The overall model (``estimate``, ``ci_low``, ``ci_high``; first row used).
    group : str
        The moderator column of ``studies``.
    measure : str, optional
        Effect-size measure (axis scale); defaults to ``subgroups["measure"]`` or ``summary["measure"]``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(studies, [label, "yi", "ci_low", "ci_high", group], "subgroup_forest_plot studies")
    _need(subgroups, ["group", "estimate", "ci_low", "ci_high"], "subgroup_forest_plot subgroups")
    sg = subgroups
    between = sg[sg["group"].astype(str) == "between"]
    levels = sg[sg["group"].astype(str) != "between"]
    if len(levels) == 0:
        raise PlotError("subgroup_forest_plot: no subgroup rows")
    s = None
    if summary is not None:
        s = summary.iloc[0] if isinstance(summary, pd.DataFrame) else pd.Series(summary)
    if measure is None:
        for src in ([levels["measure"].iloc[0]] if "measure" in levels else []) + ([s.get("measure")] if s is not None
                                                                                  else []):
            if isinstance(src, str) and src:
                measure = src
                break
    st = studies
    if "filled" in st.columns and not show_filled:
        st = st[~st["filled"].astype(bool)]
    w_all = st["weight"].to_numpy(float) if "weight" in st.columns else np.ones(len(st))
    w_all = np.where(np.isfinite(w_all), w_all, np.nanmin(w_all) if np.isfinite(w_all).any() else 1.0)
    wmax = w_all.max() if len(w_all) else 1.0
    st = st.assign(_w=w_all)
    # rows from the top: per level a heading, its studies, its diamond, a gap; then the overall diamond
    items = []  # (kind, payload)
    for _, lev in levels.iterrows():
        members = st[st[group].astype(str) == str(lev["group"])]
        items.append(("head", f"{lev['group']} (k = {int(lev['k']) if pd.notna(lev.get('k')) else len(members)})"))
        items += [("study", r) for _, r in members.iterrows()]
        items.append(("sub", lev))
        items.append(("gap", None))
    if s is not None and pd.notna(s.get("estimate", np.nan)):
        items.append(("overall", s))
    n = len(items)
    ys = np.arange(n, 0, -1, dtype=float)
    xs = list(st["ci_low"]) + list(st["ci_high"]) + list(levels["ci_low"]) + list(levels["ci_high"])
    if s is not None and pd.notna(s.get("estimate", np.nan)):
        xs += [float(s["ci_low"]), float(s["ci_high"])]
    with style():
        fig, ax = plt.subplots(figsize=(width, 1.1 + 0.19 * n))
        back = _axis_scale(ax, measure, width, xs)
        tr = ax.get_yaxis_transform()
        names, ticks = [], []
        for y, (kind, obj) in zip(ys, items):
            if kind == "head":
                ax.text(-0.01, y, obj, transform=tr, ha="right", va="center", fontsize=7.5, fontweight="bold")
            elif kind == "study":
                ax.hlines(y, obj["ci_low"], obj["ci_high"], color="black", lw=0.8)
                ax.scatter([obj["yi"]], [y], s=10 + 70 * obj["_w"] / wmax, marker="s", color=OKABE_ITO["blue"],
                           zorder=3)
                names.append(str(obj[label]))
                ticks.append(y)
                ax.text(1.02, y, f"{_fmt(back(obj['yi']))} [{_fmt(back(obj['ci_low']))}, "
                        f"{_fmt(back(obj['ci_high']))}]", transform=tr, va="center", ha="left", fontsize=7)
            elif kind in ("sub", "overall"):
                est, lo, hi = float(obj["estimate"]), float(obj["ci_low"]), float(obj["ci_high"])
                colour = OKABE_ITO["orange"] if kind == "sub" else OKABE_ITO["black"]
                ax.add_patch(Polygon([[lo, y], [est, y + 0.32], [hi, y], [est, y - 0.32]], closed=True,
                                     color=colour, zorder=4))
                names.append("RE model, subgroup" if kind == "sub" else "RE model, all studies")
                ticks.append(y)
                ax.text(1.02, y, f"{_fmt(back(est))} [{_fmt(back(lo))}, {_fmt(back(hi))}]", transform=tr,
                        va="center", ha="left", fontsize=7, fontweight="bold")
        ax.set_yticks(ticks)
        ax.set_yticklabels(names)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_ylim(0.3, n + 0.8)
        ax.axvline(0.0, color="0.5", lw=0.6, ls="--", zorder=1)
        ax.text(1.02, n + 0.6, "Estimate [95% CI]", transform=tr, va="center", ha="left", fontsize=7,
                fontweight="bold")
        note = []
        if len(between):
            b = between.iloc[0]
            df2 = b.get("Q_df2", np.nan)
            stat = (f"F({int(b['Q_df'])}, {int(df2)}) = {float(b['Q']):.2f}" if pd.notna(df2)
                    else f"Q_M({int(b['Q_df'])}) = {float(b['Q']):.2f}")
            note.append(f"Test for subgroup differences: {stat}, p = {float(b['Q_pvalue']):.3f}")
        if "tau2" in levels:
            note.append("; ".join(f"\u03c4\u00b2 {g} = {float(t):.3f}" for g, t in zip(levels["group"], levels["tau2"])
                                  if pd.notna(t)))
        if note:
            ax.annotate("\n".join(x for x in note if x), xy=(0.5, 0.0), xycoords=ax.xaxis.label, xytext=(0, -3),
                        textcoords="offset points", va="top", ha="center", fontsize=7)
        if title:
            ax.set_title(title)
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
        raise PlotError("funnel_plot summary: missing column 'estimate'")
    if "sei" in studies.columns:
        se = studies["sei"].to_numpy(float)
    elif "vi" in studies.columns:
        se = np.sqrt(studies["vi"].to_numpy(float))
    else:
        raise PlotError("funnel_plot studies: need column 'sei' or 'vi'")
    yi = studies["yi"].to_numpy(float)
    filled = studies["filled"].astype(bool).to_numpy() if "filled" in studies.columns else np.zeros(len(yi), bool)
    if measure is None:
        measure = s.get("measure", None)
    xlab = _FUNNEL_LABELS.get(str(measure).upper(), f"Effect size ({measure})") if isinstance(measure, str) \
        and measure else "Effect size"
    # scipy here, not at import: the per-study figure job never draws a funnel (issue #22)
    from scipy import stats

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


def selection_function_plot(selection_df, *, title=None, step=True, width=SINGLE_COLUMN + 1.0):
    """The estimated selection function of a publication-bias selection model.

    The relative likelihood that an effect with a given p-value is published, against p (cf.
    ``plot(metafor::selmodel(...))``): a step function (Vevea & Hedges, 1995) drawn as steps with
    its Wald band, or the smooth beta weight function (Citkowicz & Vevea, 2017). A weight of 1 at
    all p means no selection.

    Parameters
    ----------
    selection_df : DataFrame
        :meth:`efficacy.meta.SelectionResult.selection_function`: ``p``, ``weight`` and, for a step
        function, ``ci_low`` / ``ci_high``.
    step : bool
        Draw as a step function (weight holds on (previous cut, cut]).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> import matplotlib.pyplot as plt, pandas as pd
    >>> df = pd.DataFrame({"p": [0.01, 0.025, 0.5, 0.99], "weight": [1, 1, 0.4, 0.4],
    ...                    "ci_low": [1, 1, 0.1, 0.1], "ci_high": [1, 1, 0.7, 0.7]})
    >>> fig = selection_function_plot(df); plt.close(fig)
    """
    _need(selection_df, ["p", "weight"], "selection_function_plot")
    d = selection_df.sort_values("p")
    if len(d) == 0 or not np.isfinite(d["weight"]).any():
        raise PlotError("selection_function_plot: no estimated weights to draw")
    ds = "steps-pre" if step else "default"
    with style():
        fig, ax = plt.subplots(figsize=(width, width * 0.7))
        if {"ci_low", "ci_high"} <= set(d.columns):
            ax.fill_between(d["p"], d["ci_low"], d["ci_high"], step="pre" if step else None,
                            color=OKABE_ITO["sky_blue"], alpha=0.3, linewidth=0, label="95% Wald band")
        ax.plot(d["p"], d["weight"], drawstyle=ds, color=OKABE_ITO["blue"], label="estimated weight")
        ax.axhline(1.0, color="0.5", linewidth=0.8, linestyle="--", label="no selection")
        ax.set_xlabel("One-sided p-value")
        ax.set_ylabel("Relative likelihood of publication")
        ax.set_xlim(0, 1)
        ax.set_ylim(bottom=0)
        ax.legend(frameon=False, loc="upper right")
        if title:
            ax.set_title(title)
        fig.tight_layout()
    return fig
