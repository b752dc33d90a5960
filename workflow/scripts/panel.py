"""Adapter: clean wide + long data -> CLPM, RI-CLPM, comparison, within-person tables (efficacy.panel)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.codebook import load_codebook
from efficacy.io import read_clean, write_table
from efficacy.panel import run_stage

tables = run_stage(
    read_clean(snakemake.input.clean),
    load_codebook(snakemake.input.codebook),
    read_clean(snakemake.input.long),
    **dict(snakemake.params.items()),
)
for key, table in tables.items():
    write_table(table, getattr(snakemake.output, key))
