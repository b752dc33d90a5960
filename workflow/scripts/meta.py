"""Adapter: literature table or per-study results -> meta-analysis tables (efficacy.meta.run_analysis)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.io import write_table
from efficacy.meta import load_tables, run_analysis

spec, tables = load_tables(
    snakemake.params.spec,
    list(snakemake.input.tables),
    list(snakemake.input.get("codebooks", [])),
)
for key, table in run_analysis(spec, tables).items():
    write_table(table, getattr(snakemake.output, key))
