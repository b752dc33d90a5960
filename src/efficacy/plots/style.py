"""One style for every figure: journal column widths, the Okabe-Ito palette, atomic byte-stable saving.

:func:`style` sets fonts legible at journal column width (3.5 in single, 7 in double column) and
the Okabe & Ito (2008) colour-blind-safe palette; :func:`save_figure` writes PNG (300 dpi) and PDF
atomically and without dates, so the same figure gives the same bytes; :func:`placeholder_figure`
states why a result is missing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from ..errors import PlotError
from ._pdf_fonts import fast_font_subsets

__all__ = ["OKABE_ITO", "SINGLE_COLUMN", "DOUBLE_COLUMN", "DPI", "style", "save_figure", "placeholder_figure"]

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
    # fig.tight_layout() leaves a PlaceHolderLayoutEngine on the figure: its execute() does nothing, but
    # savefig still draws the whole figure once more before every save "for the layout engine" (issue #22:
    # a third of a figure's cost). Without it for the two saves the files are the same bytes.
    engine = fig.get_layout_engine()
    idle = isinstance(engine, PlaceHolderLayoutEngine)
    if idle:
        with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)
    try:
        with style():
            png = _atomic_save(fig, stem.with_name(stem.name + ".png"), format="png", dpi=DPI,
                               metadata={"Software": None})
            with fast_font_subsets():  # the embedded font subsets cut from a pre-subset: same bytes, faster
                pdf = _atomic_save(fig, stem.with_name(stem.name + ".pdf"), format="pdf",
                                   metadata={"CreationDate": None, "Producer": None})
    finally:
        if idle:
            fig._layout_engine = engine  # as tight_layout left it (set_layout_engine cannot restore a placeholder)
    if close:
        plt.close(fig)
    return {"png": png, "pdf": pdf}


def _need(df, cols, what):
    if not isinstance(df, pd.DataFrame):
        raise PlotError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise PlotError(f"{what}: missing column(s) {missing}; has {list(df.columns)}")


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

def _reason_of(df):
    if isinstance(df, pd.DataFrame) and "reason" in df.columns and df["reason"].notna().any():
        return "; ".join(dict.fromkeys(str(r) for r in df["reason"].dropna()))
    return None
