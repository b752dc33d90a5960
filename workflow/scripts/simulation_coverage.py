import sys

sys.stderr = open(snakemake.log[0], "w")
from typing import TYPE_CHECKING

from efficacy.io import write_table
from efficacy.simulation import run_coverage

if TYPE_CHECKING:
    from snakemake.script import snakemake

write_table(run_coverage(snakemake.params.grid, snakemake.params.seed), snakemake.output[0])
