"""Path diagrams laid out from the graph and the adapters that turn stage tables into graphs.

:func:`path_diagram` draws any path model with "est [lo, hi]" on the arrows, laid out in layers
by longest path with barycentre ordering (Sugiyama, Tagawa & Toda 1981); :func:`mediation_graph`,
:func:`latent_mediation_graph`, :func:`riclpm_graph`, :func:`masem_graph` and :func:`cfa_graph`
turn ``mediation.csv``, ``latent_mediation.csv``, ``riclpm.csv``, ``masem.csv`` and
``cfa_estimates.csv`` into nodes and edges.
"""

from __future__ import annotations

import matplotlib  # noqa: F401  (the backend is the caller's: Agg in workflow scripts, inline in notebooks)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from .._api import renamed
from ..errors import PlotError
from .style import DOUBLE_COLUMN, _need, _reason_of, style

__all__ = ["graph_layers", "graph_layout", "path_diagram", "mediation_graph", "riclpm_graph", "masem_graph", "cfa_graph", "latent_mediation_graph"]


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
                raise PlotError(f"path_diagram: edge {a!r} -> {b!r} names unknown node {v!r}")
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
        raise PlotError(f"path_diagram: directed edges contain a cycle through {cyc}; "
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
        raise PlotError("path_diagram: no nodes")
    if len(set(nodes)) != len(nodes):
        raise PlotError(f"path_diagram: duplicated node names in {nodes}")
    e = _edge_table(edges, "path_diagram edges")
    c = _edge_table(covariances, "path_diagram covariances")
    for df, what in ((e, "edge"), (c, "covariance")):
        for a, b in zip(df["from"].astype(str), df["to"].astype(str)):
            for v in (a, b):
                if v not in nodes:
                    raise PlotError(f"path_diagram: {what} {a!r} -> {b!r} names unknown node {v!r}")
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
        raise PlotError(f"path_diagram: orientation must be 'LR' or 'TB', got {orientation!r}")
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


@renamed(treatment="x", outcome="y")
def mediation_graph(mediation_df, *, x="X", y=None):
    """Nodes and edges of a (simple or parallel) mediation model from ``mediation.csv``.

    Parameters
    ----------
    mediation_df : DataFrame
        ``results/<study>/mediation.csv`` (rows ``effect`` in a, b, direct, indirect, ...).
    x : str
        Name of the treatment (the table does not hold it; the codebook's ``design.treatment``).
    y : str, optional
        Which outcome; default the first with estimates.

    Returns
    -------
    dict
        ``nodes``, ``edges`` (DataFrame), ``covariances`` (DataFrame or None), ``note``
        (indirect effects as text) - keyword arguments for :func:`path_diagram`.
    """
    treatment, outcome = x, y
    _need(mediation_df, ["outcome", "effect", "mediator", "estimate", "ci_low", "ci_high"], "mediation_graph")
    d = mediation_df[mediation_df["estimate"].notna() & mediation_df["effect"].notna()]
    if outcome is not None:
        d = d[d["outcome"].astype(str) == str(outcome)]
    if len(d) == 0:
        raise PlotError("mediation_graph: no estimated effects" + (f" for outcome {outcome!r}" if outcome else ""))
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
        ``ci_low``, ``ci_high``, optional ``stationary``, ``std_all``.
    part : {"within", "between"}
        ``within``: within-person centred scores (wx_t, wy_t) with autoregressive and
        cross-lagged paths and within-wave (residual) covariances; ``between``: the random
        intercepts (latent) loading 1 on each wave's observed score, with their covariance.
    stationary : bool
        Which fit to draw when the table holds both.
    standardized : bool
        Label with ``std_all`` (no CI) instead of the unstandardised estimate [CI].

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
        raise PlotError("riclpm_graph: no estimates (the model may not have converged)")
    typ = d["type"].astype(str)

    def lab(r):
        if standardized and "std_all" in r.index and pd.notna(r["std_all"]):
            return {"label": f"{float(r['std_all']):.2f}"}
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
    raise PlotError(f"riclpm_graph: part must be 'within' or 'between', got {part!r}")


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
        raise PlotError("masem_graph: no rows with table == 'path'")
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


@renamed(treatment="x", outcome="y")
def latent_mediation_graph(latent_df, *, x="X", y=None):
    """Structural part of a latent mediation model from ``latent_mediation.csv``.

    The mediator is drawn as a latent variable (ellipse), the paths as in
    :func:`mediation_graph`; the note gives the latent indirect effect beside the sum-score one,
    whose difference is the attenuation an unreliable score causes.

    Parameters
    ----------
    latent_df : DataFrame
        ``results/<study>/latent_mediation.csv``: ``outcome``, ``mediator``, ``model``
        (``latent`` / ``sum_score``), ``effect``, ``estimate``, ``ci_low``, ``ci_high``.
    x : str
        Name of the treatment (the codebook's ``design.treatment``).
    y : str, optional
        Which outcome; default the first with latent estimates.

    Returns
    -------
    dict
        Keyword arguments for :func:`path_diagram`.
    """
    _need(latent_df, ["outcome", "mediator", "model", "effect", "estimate", "ci_low", "ci_high"],
          "latent_mediation_graph")
    lat = latent_df[latent_df["model"].astype(str) == "latent"]
    g = mediation_graph(lat, x=x, y=y)
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
        ``results/<study>/cfa_estimates.csv``: ``model``, ``lhs``, ``op``, ``rhs``, ``estimate``,
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
        raise PlotError(f"cfa_graph: no loadings (op '=~') for model {model!r}")
    factors = list(dict.fromkeys(load["lhs"].astype(str)))
    items = list(dict.fromkeys(load["rhs"].astype(str)))

    def edge(r, a, b):  # label: the standardised value; line style: the unstandardised CI (fixed: solid)
        std = r.get("std_all", np.nan)
        return {"from": a, "to": b, "label": "NA" if pd.isna(std) else f"{float(std):.2f}",
                "estimate": r.get("estimate", np.nan), "ci_low": r.get("ci_low", np.nan),
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
