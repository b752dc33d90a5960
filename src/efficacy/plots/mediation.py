"""Mediation figures: the sensitivity curve ACME(rho) (Imai, Keele & Yamamoto 2010; cf.
``plot(mediation::medsens(...))``) and the cross-study evidence profile (:func:`evidence_plot`).
"""

from __future__ import annotations

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .._api import renamed
from ..errors import PlotError
from .style import DOUBLE_COLUMN, OKABE_ITO, SINGLE_COLUMN, _need, style

__all__ = ["evidence_plot", "sensitivity_curve"]


@renamed(outcome="y", mediator="m")
def sensitivity_curve(sensitivity_df, *, y=None, m=None, title=None, width=SINGLE_COLUMN + 1.0):
    """ACME against the sensitivity parameter rho with its CI band (Imai, Keele & Yamamoto, 2010).

    The curve of ``mediation::medsens`` / ``plot.medsens`` in R: the average causal mediation
    effect if the mediator and outcome errors were correlated rho, its confidence band, the zero
    line, and the rho at which the ACME would vanish marked (a small \\|rho\\| means a fragile
    mediation claim).

    Parameters
    ----------
    sensitivity_df : DataFrame
        ``results/<study>/sensitivity.csv``: ``rho``, ``acme``, ``ci_low``, ``ci_high``;
        optional ``outcome``, ``mediator`` (one curve is drawn; pick it with ``y`` (the outcome)
        / ``m`` (the mediator), default the first with data), ``rho_at_zero``.

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> import matplotlib.pyplot as plt, numpy as np, pandas as pd
    >>> rho = np.linspace(-0.9, 0.9, 19)
    >>> df = pd.DataFrame({"rho": rho, "acme": 0.3 - rho, "ci_low": 0.1 - rho, "ci_high": 0.5 - rho})
    >>> fig = sensitivity_curve(df); plt.close(fig)
    """
    outcome, mediator = y, m
    _need(sensitivity_df, ["rho", "acme", "ci_low", "ci_high"], "sensitivity_curve")
    d = sensitivity_df[sensitivity_df["acme"].notna()]
    if outcome is not None and "outcome" in d.columns:
        d = d[d["outcome"].astype(str) == str(outcome)]
    if mediator is not None and "mediator" in d.columns:
        d = d[d["mediator"].astype(str) == str(mediator)]
    if len(d) == 0:
        raise PlotError("sensitivity_curve: no rows with an ACME to draw"
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


#: colour of each verdict class of efficacy.mediation.evidence (Okabe-Ito; strongest evidence darkest)
VERDICT_COLORS = {
    "robust": OKABE_ITO["blue"], "sensitive": OKABE_ITO["orange"], "unassessed": OKABE_ITO["sky_blue"],
    "association": OKABE_ITO["yellow"], "none": "0.8", "not_identified": "0.55", "": "white",
}
_VERDICT_LABELS = {
    "robust": "supported and robust", "sensitive": "supported, sensitive to confounding",
    "unassessed": "supported, robustness not assessed", "association": "association only",
    "none": "no evidence of mediation", "not_identified": "not identified by the design", "": "not analysed",
}


def _num(v, d=2):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if not np.isfinite(v) else f"{v:.{d}f}"


def evidence_plot(evidence, *, title=None, width=None):
    """The evidence profile of every study at a glance: one row per study x pair x link, coloured by verdict.

    Each row names the study, the mediator -> outcome pair and the link (X -> M, M -> Y, X -> M -> Y,
    X -> Y), and shows the estimate with its CI and the robustness evidence of that link (rho at
    ACME = 0, the b-path robustness value against the strongest covariate, the E-value, the panel
    temporal order). The row's colour is the pair's graded verdict
    (:func:`efficacy.mediation.evidence.grade`).

    Parameters
    ----------
    evidence : DataFrame
        ``results/<study>/evidence.csv`` of one or several studies, concatenated (columns of
        :data:`efficacy.mediation.evidence.EVIDENCE_COLUMNS` and ``study``).

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> import matplotlib.pyplot as plt, pandas as pd
    >>> ev = pd.DataFrame({"study": ["s"], "outcome": ["y"], "mediator": ["m"], "link": ["X -> M -> Y"],
    ...                    "estimate": [0.2], "ci_low": [0.1], "ci_high": [0.3], "verdict_class": ["robust"]})
    >>> fig = evidence_plot(ev); plt.close(fig)
    """
    _need(evidence, ["study", "outcome", "mediator", "link", "verdict_class"], "evidence_plot")
    if len(evidence) == 0:
        raise PlotError("evidence_plot: no evidence rows to draw")
    d = evidence.reset_index(drop=True)
    cls = d["verdict_class"].fillna("").astype(str)
    n = len(d)
    with style():
        fig, ax = plt.subplots(figsize=(width or DOUBLE_COLUMN, 0.9 + 0.22 * n + (0.25 if title else 0.0)))
        for i, r in d.iterrows():
            y = n - 1 - i
            ax.barh(y, 1, left=0, height=0.9, color=VERDICT_COLORS.get(cls[i], "white"), edgecolor="white")
            pair = f"{r['mediator']} -> {r['outcome']}" if isinstance(r["mediator"], str) and r["mediator"] else ""
            ax.text(-0.01, y, f"{r['study']}  {pair}  {r['link'] if isinstance(r['link'], str) else ''}",
                    ha="right", va="center", fontsize=6.5)
            bits = []
            if _num(r.get("estimate")):
                bits.append(f"{_num(r['estimate'], 3)} [{_num(r.get('ci_low'), 3)}, {_num(r.get('ci_high'), 3)}]")
            if _num(r.get("rho_at_zero")):
                bits.append(f"\u03c1\u2080 {_num(r['rho_at_zero'])}")
            if _num(r.get("rv_alpha")):
                b = r.get("benchmark")
                bits.append(f"RV {_num(r['rv_alpha'])}" + (f" vs {b} {_num(r.get('benchmark_r2'), 3)}"
                                                           if isinstance(b, str) else ""))
            if _num(r.get("evalue")):
                bits.append(f"E {_num(r['evalue'])}")
            if isinstance(r.get("temporal_order"), str) and r.get("temporal_order"):
                bits.append(f"order: {r['temporal_order']}")
            dark = cls[i] in ("robust", "not_identified")
            ax.text(0.01, y, "; ".join(bits), ha="left", va="center", fontsize=6.5,
                    color="white" if dark else "black")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        present = [c for c in VERDICT_COLORS if c in set(cls)]
        handles = [plt.Rectangle((0, 0), 1, 1, color=VERDICT_COLORS[c]) for c in present]
        ax.legend(handles, [_VERDICT_LABELS[c] for c in present], loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncol=min(2, len(present)), fontsize=6.5, frameon=False)
        if title:
            ax.set_title(title, pad=24)
        fig.tight_layout()
    return fig
