"""Adapter: the rows of a study's specifications -> specification table, curve test, variance
decomposition, report section and specification curve (efficacy.multiverse.aggregate)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

import matplotlib

matplotlib.use("Agg")  # files only, never a window

from efficacy.codebook import load_codebook
from efficacy.io import atomic_write_text, read_clean, read_table, write_table
from efficacy.multiverse import aggregate
from efficacy.errors import PlotError
from efficacy.plots import placeholder_figure, save_figure, specification_curve

codebook = load_codebook(snakemake.input.codebook)
res = aggregate([read_table(f) for f in snakemake.input.specs], read_clean(snakemake.input.data), codebook,
                n_null=snakemake.params.n_null, seed=snakemake.params.seed, fragile_rho=snakemake.params.fragile_rho)
write_table(res.to_frame(), snakemake.output.specifications)
write_table(res.curve.to_frame(), snakemake.output.curve_test)
write_table(res.variance.to_frame(), snakemake.output.variance)
atomic_write_text(snakemake.output.summary, res.summary())
first = res.table.iloc[0]
title = f"{codebook.study}: {first['treatment']} -> {first['mediator']} -> {first['outcome']}"
try:
    save_figure(specification_curve(res.table, title=title), snakemake.output.figure)
except PlotError as exc:  # no estimable specification: say why instead of a curve
    reasons = "; ".join(dict.fromkeys(res.table["reason"].astype(str)))
    placeholder_figure(snakemake.output.figure, f"{exc}. {reasons}", title=title)
