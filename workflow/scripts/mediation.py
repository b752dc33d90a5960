"""Adapter: clean scored data -> mediation, causal mediation, sensitivity, model comparison, evidence, verdict.

All statistics are in efficacy.mediation.run_stage; this script only reads and writes files.
"""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.codebook import load_codebook
from efficacy.io import atomic_write_text, read_clean, read_table, write_table
from efficacy.mediation import run_stage

panel = read_table(snakemake.input.panel) if "panel" in snakemake.input.keys() else None
tables = run_stage(
    read_clean(snakemake.input.clean),
    load_codebook(snakemake.input.codebook),
    panel_comparison=panel,
    **dict(snakemake.params.items()),
)
for key in ("mediation", "sensitivity", "causal_mediation", "model_comparison", "moderated_mediation", "evidence"):
    write_table(tables[key], snakemake.output[key])
atomic_write_text(snakemake.output.verdict, tables["verdict"]["text"].iloc[0] + "\n")
