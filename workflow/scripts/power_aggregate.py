"""Adapter: a study's per-n power tables -> power_from_fit.csv and its power curve (efficacy.power)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import pandas as pd

from efficacy.io import write_table
from efficacy.plots import power_curve, save_figure
from efficacy.power import aggregate_power, power_curve_frame

table = aggregate_power([pd.read_csv(p) for p in snakemake.input])
write_table(table, snakemake.output.table)
study = table["study"].iloc[0] if len(table) else ""
fig = power_curve(power_curve_frame(table), title=f"{study}: power from the fitted model")
save_figure(fig, snakemake.output.figure)  # writes the .png and the .pdf
