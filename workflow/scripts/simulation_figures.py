import sys

sys.stderr = open(snakemake.log[0], "w")
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import pandas as pd

from efficacy.plots import coverage_plot, power_curve, save_figure

if TYPE_CHECKING:
    from snakemake.script import snakemake

save_figure(power_curve(pd.read_csv(snakemake.input.power)), snakemake.output.power)
save_figure(coverage_plot(pd.read_csv(snakemake.input.coverage)), snakemake.output.coverage)
