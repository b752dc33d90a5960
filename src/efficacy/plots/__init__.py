"""Publication figures for the efficacy pipeline (matplotlib only).

One style (:func:`style`): fonts legible at journal column width (3.5 in single, 7 in double
column), the Okabe-Ito colour-blind-safe palette, and :func:`save_figure`, which writes every
figure as PNG (300 dpi) and PDF atomically and without dates so the same figure gives the same
bytes.

Figures take the tables the workflow stages write:

- :func:`forest_plot` - ``studies`` and ``summary`` from :func:`efficacy.meta.run_analysis`
  (the forest plot of Lewis & Clarke, 2001; cf. ``metafor::forest``);
- :func:`subgroup_forest_plot` - the same tables and ``subgroup`` (studies grouped by a
  categorical moderator, per-level diamonds, the test for subgroup differences);
- :func:`funnel_plot` - the same tables, contour-enhanced (Peters et al., 2008; cf.
  ``metafor::funnel(level=c(90, 95, 99), shade=...)``) with trim-and-fill studies open
  (Duval & Tweedie, 2000);
- :func:`reliability_plot` - ``results/<study>/reliability.csv``;
- :func:`flow_diagram` - ``results/<study>/flow.csv`` (a CONSORT-style participant flow);
- :func:`item_distributions` / :func:`missingness_map` - ``clean.csv`` with the codebook
  (floor/ceiling effects, Terwee et al., 2007; missing-data patterns, cf. ``mice::md.pattern``);
- :func:`path_diagram` - any path model with "est [lo, hi]" on the arrows, laid out from the
  graph (layers by longest path, barycentre ordering; Sugiyama et al., 1981), with adapters
  :func:`mediation_graph` (``mediation.csv``), :func:`riclpm_graph` (``riclpm.csv``, within-
  and between-person parts) and :func:`masem_graph` (``results/meta/<name>/masem.csv``; the
  workflow draws ``tssem.csv`` with it too);
- :func:`sensitivity_curve` - ``sensitivity.csv`` (Imai, Keele & Yamamoto, 2010; cf.
  ``plot(mediation::medsens(...))``);
- :func:`specification_curve` - ``multiverse/specifications.csv``: ranked estimates with their
  intervals and the choice indicator panel (Simonsohn, Simmons & Nelson, 2020, fig. 2);
- :func:`evidence_plot` - every study's ``evidence.csv`` at a glance, rows coloured by the graded verdict;
- :func:`invariance_plot` - ``invariance_<group>.csv`` with Chen (2007) cut-off bands;
- :func:`power_curve` / :func:`coverage_plot` - the simulation study's ``power.csv`` and
  ``coverage.csv`` (2 x MCSE bars; Morris, White & Crowther, 2019);
- :func:`placeholder_figure` - a figure stating why a result is missing;
- :func:`render_stage_figure` - the workflow entry point (``workflow/rules/figures.smk``).

Modules
-------
style         palette, sizes, :func:`style`, :func:`save_figure`, :func:`placeholder_figure`
data          participant flow, item distributions, missingness map
measurement   reliability and invariance figures
mediation     the sensitivity curve
multiverse    the specification curve
meta          forest and funnel plots
simulation    power curves and coverage
paths         the path-diagram layout engine and the stage-table adapters
stage         :func:`render_stage_figure`, the workflow entry point

Example
-------
>>> import pandas as pd
>>> from efficacy.plots import flow_diagram, save_figure
>>> flow = pd.DataFrame({"step": [0, 1], "reason": ["raw data", "failed the attention check"],
...                      "excluded": [0, 7], "remaining": [100, 93]})
>>> fig = flow_diagram(flow)
>>> # save_figure(fig, "results/study/flow")  -> flow.png and flow.pdf
"""

from .data import flow_diagram, item_distributions, missingness_map
from .measurement import invariance_plot, reliability_plot
from .mediation import evidence_plot, sensitivity_curve
from .meta import forest_plot, funnel_plot, selection_function_plot, subgroup_forest_plot
from .multiverse import specification_curve
from .paths import (
                    cfa_graph,
                    graph_layers,
                    graph_layout,
                    latent_mediation_graph,
                    masem_graph,
                    mediation_graph,
                    path_diagram,
                    riclpm_graph,
)
from .simulation import coverage_plot, power_curve
from .stage import FIGURES, render_stage_figure, render_stage_figures, stage_figure
from .style import (
                    DOUBLE_COLUMN,
                    DPI,
                    OKABE_ITO,
                    SINGLE_COLUMN,
                    placeholder_figure,
                    save_figure,
                    style,
)

__all__ = [
    "OKABE_ITO", "SINGLE_COLUMN", "DOUBLE_COLUMN", "DPI", "style", "save_figure",
    "forest_plot", "subgroup_forest_plot", "funnel_plot", "selection_function_plot", "reliability_plot", "flow_diagram", "placeholder_figure",
    "power_curve", "coverage_plot", "sensitivity_curve", "evidence_plot", "graph_layers", "graph_layout", "path_diagram",
    "mediation_graph", "riclpm_graph", "masem_graph", "item_distributions", "missingness_map",
    "FIGURES", "stage_figure", "render_stage_figure", "render_stage_figures", "invariance_plot", "cfa_graph", "latent_mediation_graph",
    "specification_curve",
]
