"""Adapter: a stage's tables -> its figures, each PNG + PDF (efficacy.plots.render_stage_figures).

A missing or failed stage result gives a placeholder figure saying why (logged here); one figure that
fails does not lose the others."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

import matplotlib

matplotlib.use("Agg")  # files only, never a window

from efficacy.plots import render_stage_figures

jobs = [
    (kind, {name: snakemake.input[name] for name in spec["inputs"]}, snakemake.output[f"{kind}_png"],
     spec["options"])
    for kind, spec in snakemake.params.figures.items()
]
for out in render_stage_figures(jobs, strict=snakemake.params.strict):
    if out["placeholder"]:
        print(f"{out['kind']}: placeholder figure: {out['placeholder']}", file=sys.stderr)
