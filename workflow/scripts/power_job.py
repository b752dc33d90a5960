"""Adapter: one study and planned n -> its rows of the power table (efficacy.power.power_job)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.codebook import load_codebook
from efficacy.io import read_clean, write_table
from efficacy.power import power_job

table = power_job(
    read_clean(snakemake.input.clean),
    load_codebook(snakemake.input.codebook),
    n=int(snakemake.wildcards.n),
    **dict(snakemake.params.items()),
)
write_table(table, snakemake.output[0], float_format="%.17g")
