"""Adapter: clean scored data -> reliability tables (efficacy.reliability.run_stage)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.codebook import load_codebook
from efficacy.io import read_clean, write_table
from efficacy.reliability import run_stage

tables = run_stage(
    read_clean(snakemake.input.clean),
    load_codebook(snakemake.input.codebook),
    **dict(snakemake.params.items()),
)
# "items" is reserved in Snakemake, so that output is named item_stats in the rule.
for key, table in tables.items():
    write_table(table, getattr(snakemake.output, "item_stats" if key == "items" else key))
