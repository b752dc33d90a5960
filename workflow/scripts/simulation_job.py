import sys

sys.stderr = open(snakemake.log[0], "w")
from typing import TYPE_CHECKING

from efficacy.io import write_table
from efficacy.simulation import run_power_job

if TYPE_CHECKING:
    from snakemake.script import snakemake

write_table(run_power_job(snakemake.params.grid, snakemake.wildcards.job, snakemake.params.seed), snakemake.output[0])
