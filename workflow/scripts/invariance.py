"""Adapter: clean scored data -> invariance table of one grouping variable (efficacy.measurement.run_stage)
and its figure (efficacy.plots.render_stage_figures; a figure that fails becomes a placeholder naming why,
the table is kept, and the job fails only with figures.strict: true)."""
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")
# BLAS threads = the rule's threads: small matrix algebra in many threads is slower, much slower on a busy machine
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(snakemake.threads)

from efficacy.codebook import load_codebook
from efficacy.io import read_clean, write_table
from efficacy.measurement import run_stage

params = dict(snakemake.params.items())
figures, strict = params.pop("figures"), params.pop("strict")
tables = run_stage(read_clean(snakemake.input.clean), load_codebook(snakemake.input.codebook), **params)
write_table(tables[f"invariance_{snakemake.wildcards.group}"], snakemake.output.invariance)

import matplotlib

matplotlib.use("Agg")  # files only, never a window

from efficacy.plots import render_stage_figures

jobs = [(kind, {name: snakemake.input[name] if name in snakemake.input.keys() else snakemake.output[name]
                for name in spec["inputs"]}, snakemake.output[f"{kind}_png"], spec["options"])
        for kind, spec in figures.items()]
for out in render_stage_figures(jobs, strict=strict):
    if out["placeholder"]:
        print(f"{out['kind']}: placeholder figure: {out['placeholder']}", file=sys.stderr)
