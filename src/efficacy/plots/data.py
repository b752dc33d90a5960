"""Data figures: the CONSORT-style participant flow, item distributions with floor and ceiling
effects (Terwee et al. 2007), and the missing-data map (cf. ``mice::md.pattern``).
"""

from __future__ import annotations

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from ..errors import PlotError
from .style import DOUBLE_COLUMN, OKABE_ITO, SINGLE_COLUMN, _need, style

__all__ = ["flow_diagram", "item_distributions", "missingness_map"]


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
        raise PlotError("flow_diagram: empty flow table")
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
        raise PlotError(f"item_distributions: expected a DataFrame, got {type(clean).__name__}")
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
        raise PlotError("item_distributions: no scale items of the codebook found in the data")
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
        bars = []  # (y, width, left, colour) of every segment, drawn by one barh call in this order
        for sname, it, shares, fl, ce, nn, binned, (lo, hi) in rows:
            if prev is not None and sname != prev:
                y += 0.6
                sep.append(y - 0.8)
            prev = sname
            k = len(shares)
            left = 0.0
            for j, s in enumerate(shares):
                bars.append((-y, s, left, cmap(j / max(k - 1, 1))))
                left += s
            yt.append(-y)
            yl.append(f"{sname}: {it}")
            for xpos, val, lab in ((101.5, fl, "F"), (113.5, ce, "C")):
                bad = val > floor_ceiling
                ax.text(xpos, -y, f"{val:.0f}%", va="center", ha="left", fontsize=5.5,
                        color=OKABE_ITO["vermillion"] if bad else "black", fontweight="bold" if bad else "normal",
                        clip_on=False)
            y += 1.0
        by, bw, bl, bc = zip(*bars)
        ax.barh(list(by), list(bw), left=list(bl), height=0.8, color=list(bc), lw=0)
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
        raise PlotError(f"missingness_map: expected a DataFrame, got {type(data).__name__}")
    if codebook is not None:
        cols = [v for v, var in codebook.variables.items() if v in data.columns and var.type != "id"]
        cols += [s for s in codebook.scales if s in data.columns and s not in cols]
    else:
        cols = [c for c in data.columns if c != id_col]
    if not cols or len(data) == 0:
        raise PlotError("missingness_map: no variables or no rows to draw")
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
