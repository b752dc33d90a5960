import sys

sys.stderr = open(snakemake.log[0], "w")
from typing import TYPE_CHECKING

import pandas as pd

from efficacy.io import write_table
from efficacy.simulation import aggregate_power

if TYPE_CHECKING:
    from snakemake.script import snakemake

write_table(aggregate_power([pd.read_csv(p) for p in snakemake.input]), snakemake.output[0])
