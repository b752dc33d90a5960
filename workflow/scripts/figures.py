"""Adapter: a stage's tables -> one figure, PNG + PDF (efficacy.plots.render_stage_figure).

A missing or failed stage result gives a placeholder figure saying why (logged here)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

import matplotlib

matplotlib.use("Agg")  # files only, never a window

from efficacy.plots import render_stage_figure

out = render_stage_figure(
    snakemake.params.kind,
    dict(snakemake.input.items()),
    snakemake.output.png,
    **snakemake.params.options,
)
if out["placeholder"]:
    print(f"placeholder figure: {out['placeholder']}", file=sys.stderr)
