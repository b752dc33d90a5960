"""The workflow entry point for figures: :data:`FIGURES` lists the kinds,
:func:`stage_figure` draws one from a stage's tables and :func:`render_stage_figure` writes it (or
a placeholder saying why it cannot be drawn).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.pyplot as plt
import pandas as pd  # noqa: E402

from ..errors import PlotError
from .data import flow_diagram, item_distributions, missingness_map
from .measurement import invariance_plot, reliability_plot
from .mediation import evidence_plot, sensitivity_curve
from .meta import forest_plot, funnel_plot, subgroup_forest_plot
from .paths import (
    cfa_graph,
    latent_mediation_graph,
    masem_graph,
    mediation_graph,
    path_diagram,
    riclpm_graph,
)
from .simulation import coverage_plot, power_curve
from .style import DOUBLE_COLUMN, _reason_of, placeholder_figure, save_figure

__all__ = ["FIGURES", "stage_figure", "render_stage_figure", "render_stage_figures"]


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
    "subgroup_forest": "subgroup forest plot", "tssem_path": "TSSEM path diagram",
    "evidence": "cross-study evidence profile",
}


def _tssem_as_masem(t):
    """``tssem.csv`` in the shape :func:`masem_graph` reads: stage-2 paths and indirect effects, and the
    stage-2 correlations of the exogenous variables as the ``pooled`` rows it draws as curved arrows."""
    cov = t[t["table"].astype(str) == "covariance"].copy()
    cov["table"] = "pooled"
    cov["pair"] = cov["lhs"].astype(str) + "." + cov["rhs"].astype(str)
    keep = t[t["table"].astype(str).isin(["path", "indirect"])]
    return pd.concat([keep, cov], ignore_index=True).drop(columns=["label"], errors="ignore")  # numbers, not labels


def _read_inputs(inputs, cache=None):
    """Name -> path read into tables; ``cache`` (path -> object) shares a file read between figures."""
    from efficacy.codebook import load_codebook
    cache = {} if cache is None else cache
    out = {}
    for k, p in inputs.items():
        p = Path(p)
        if p not in cache:
            if p.suffix in (".yaml", ".yml"):
                cache[p] = load_codebook(p)
            elif p.suffix == ".csv":
                cache[p] = pd.read_csv(p)
            else:
                cache[p] = p
        # tables are copied so that one figure cannot change what the next one reads
        out[k] = cache[p].copy() if isinstance(cache[p], pd.DataFrame) else cache[p]
    return out



def stage_figure(kind, tables, *, threshold=0.70, delta_cfi=-0.010, delta_rmsea=0.015, study=None):
    """Draw the figure ``kind`` from a stage's tables (DataFrames, a ``codebook``).

    Returns a figure, or raises :class:`~efficacy.errors.PlotError` (a ``ValueError``) with the
    reason there is none (the caller, :func:`render_stage_figure`, turns that into a placeholder).
    ``threshold`` is the reliability figure's line; ``delta_cfi`` and ``delta_rmsea`` are the
    invariance figure's Chen (2007) cut-offs (the workflow passes the configured
    ``measurement.delta_cfi`` / ``delta_rmsea``).
    """
    t = tables
    if kind == "flow":
        return flow_diagram(t["flow"])
    if kind == "reliability":
        if len(t["reliability"]) == 0:
            raise PlotError("the codebook declares no multi-item scales: no reliability to estimate")
        if not t["reliability"]["alpha"].notna().any():
            raise PlotError(_reason_of(t["reliability"]) or "no reliability estimates")
        return reliability_plot(t["reliability"], threshold=threshold)
    if kind == "items":
        if not t["codebook"].scales:
            raise PlotError("the codebook declares no multi-item scales: no item distributions to draw")
        return item_distributions(t["clean"], t["codebook"])
    if kind == "missingness":
        return missingness_map(t["clean"], t["codebook"])
    if kind == "mediation_path":
        med = t["mediation"]
        if not med["estimate"].notna().any():
            raise PlotError(_reason_of(med) or "no mediation estimates")
        tr = t["codebook"].design.treatment if "codebook" in t else None
        return path_diagram(**mediation_graph(med, x=tr or "treatment"))
    if kind == "sensitivity":
        sens = t["sensitivity"]
        if not sens["acme"].notna().any():
            raise PlotError(_reason_of(sens) or "no sensitivity analysis")
        return sensitivity_curve(sens)
    if kind in ("riclpm_within", "riclpm_between"):
        r = t["riclpm"]
        if "converged" in r.columns and not r["converged"].astype(str).str.lower().eq("true").any():
            raise PlotError(_reason_of(r) or "the RI-CLPM did not converge")
        if "proper" in r.columns and not r["proper"].astype(str).str.lower().eq("true").any():
            raise PlotError("improper solution: " + (_reason_of(r) or "negative variance estimate"))
        g = riclpm_graph(r, part=kind.split("_")[1])
        return path_diagram(**g, width=DOUBLE_COLUMN)
    if kind == "forest":
        if not t["summary"]["estimate"].notna().any():
            raise PlotError(_reason_of(t["summary"]) or "no pooled estimate")
        return forest_plot(t["studies"], t["summary"])
    if kind == "subgroup_forest":
        sg = t["subgroup"]
        if "group" not in sg.columns or not (sg["group"].astype(str) != "between").any() \
                or not sg["estimate"].notna().any():
            raise PlotError(_reason_of(sg) or "no subgroup analysis")
        g = str(sg["subgroup"].iloc[0]) if "subgroup" in sg.columns else None
        if g is None or g not in t["studies"].columns:
            raise PlotError(f"studies.csv has no subgroup column {g!r}")
        summ = t.get("summary")  # the overall diamond, unless the summary is a meta-regression
        summ = summ if summ is not None and len(summ) == 1 and "estimate" in summ else None
        return subgroup_forest_plot(t["studies"], sg, summ, group=g)
    if kind == "tssem_path":
        m = t["tssem"]
        if "table" not in m.columns or not (m["table"].astype(str) == "path").any():
            raise PlotError(_reason_of(m) or "not a TSSEM analysis (no path estimates)")
        return path_diagram(**masem_graph(_tssem_as_masem(m)))
    if kind == "funnel":
        if not t["summary"]["estimate"].notna().any():
            raise PlotError(_reason_of(t["summary"]) or "no pooled estimate")
        return funnel_plot(t["studies"], t["summary"])
    if kind == "masem_path":
        m = t["masem"]
        if "table" not in m.columns or not (m["table"].astype(str) == "path").any():
            raise PlotError(_reason_of(m) or "not a MASEM analysis (no path estimates)")
        return path_diagram(**masem_graph(m))
    if kind == "invariance":
        return invariance_plot(t["invariance"], delta_cfi=delta_cfi, delta_rmsea=delta_rmsea)
    if kind == "latent_mediation_path":
        lat = t["latent_mediation"]
        if "model" not in lat.columns or not (lat["model"].astype(str).eq("latent") & lat["estimate"].notna()).any():
            raise PlotError(_reason_of(lat) or "no latent mediation estimates")
        if "proper" in lat.columns and lat.loc[lat["model"].astype(str).eq("latent"), "proper"].astype(str) \
                .str.lower().eq("false").any():
            raise PlotError("improper solution of the latent mediation model: " + (_reason_of(lat) or
                                                                                     "negative variance estimate"))
        tr = t["codebook"].design.treatment if "codebook" in t else None
        return path_diagram(**latent_mediation_graph(lat, x=tr or "treatment"))
    if kind == "cfa_path":
        fit, est = t.get("cfa_fit"), t["cfa_estimates"]
        if fit is not None and "model" in fit.columns:
            joint = fit[fit["model"].astype(str) == "joint"]
            if len(joint):
                j = joint.iloc[0]
                if str(j.get("converged")).lower() != "true":
                    raise PlotError(str(j.get("reason")) if pd.notna(j.get("reason")) and str(j.get("reason"))
                                     else "the CFA did not converge")
                if str(j.get("proper")).lower() != "true":
                    raise PlotError("improper solution: " + (str(j["reason"]) if pd.notna(j.get("reason"))
                                                              and str(j["reason"]) else "negative variance estimate"))
        if len(est) == 0 or "op" not in est.columns:
            raise PlotError(_reason_of(fit) or "no CFA estimates")
        g = cfa_graph(est, fit)
        return path_diagram(**g, width=DOUBLE_COLUMN if g["orientation"] == "TB" else None)
    if kind == "evidence":  # one input per study, evidence_<study>
        parts = [v for k, v in sorted(t.items()) if k.startswith("evidence") and isinstance(v, pd.DataFrame)]
        ev = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if ev.empty or "verdict_class" not in ev:
            raise PlotError("no evidence profile (evidence.csv) to draw")
        return evidence_plot(ev)
    if kind == "power":
        return power_curve(t["power"])
    if kind == "coverage":
        return coverage_plot(t["coverage"])
    raise PlotError(f"unknown figure kind {kind!r}; one of {sorted(FIGURES)}")


def render_stage_figure(kind, inputs, path_stem, *, _cache=None, **params):
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
        tables = _read_inputs(inputs, _cache)
        fig = stage_figure(kind, tables, **params)
    except (ValueError, KeyError, FileNotFoundError, pd.errors.EmptyDataError) as exc:
        reason = str(exc).strip("'\"") or type(exc).__name__
        out = placeholder_figure(path_stem, reason, title=f"No {FIGURES.get(kind, kind)}")
        return {**out, "placeholder": reason}
    out = save_figure(fig, path_stem)
    return {**out, "placeholder": None}


def render_stage_figures(jobs, *, strict=False):
    """Draw several figures in one process (the workflow's one figure job per study).

    Each figure is drawn as by :func:`render_stage_figure`, with the input files read once and shared.
    A figure that fails for a reason nobody planned for (a bug, a degenerate table) does not lose the
    others: it becomes a placeholder naming the error, and the others are still written.

    Parameters
    ----------
    jobs : iterable of (kind, inputs, path_stem, options)
        Figure kind (one of :data:`FIGURES`), name -> input path, output path (``.png`` allowed) and
        keyword options for :func:`stage_figure`.
    strict : bool
        After writing every figure, raise :class:`~efficacy.errors.PlotError` naming the figures that
        failed unexpectedly (placeholders for missing or failed stage results are not failures).

    Returns
    -------
    list of dict
        One :func:`render_stage_figure` result per job, with ``kind`` and ``error`` (the unexpected
        error's text, or None) added.
    """
    cache, results, failed = {}, [], []
    for kind, inputs, path_stem, options in jobs:
        try:
            out = {**render_stage_figure(kind, inputs, path_stem, _cache=cache, **options), "error": None}
        except Exception as exc:  # noqa: BLE001 - any failure of one figure must not lose the others
            plt.close("all")
            reason = f"could not be drawn ({type(exc).__name__}: {exc})"
            out = {**placeholder_figure(path_stem, reason, title=f"No {FIGURES.get(kind, kind)}"),
                   "placeholder": reason, "error": reason}
            failed.append(f"{kind}: {reason}")
        results.append({"kind": kind, **out})
    if strict and failed:
        raise PlotError("figures failed (placeholders written): " + "; ".join(failed))
    return results
