"""Adapter: clean scored data -> mediation, sensitivity and verdict (efficacy.mediation.run_stage)."""
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.codebook import load_codebook
from efficacy.io import read_clean, write_table
from efficacy.mediation import run_stage

tables = run_stage(
    read_clean(snakemake.input.clean),
    load_codebook(snakemake.input.codebook),
    **dict(snakemake.params.items()),
)
write_table(tables["mediation"], snakemake.output.mediation)
write_table(tables["sensitivity"], snakemake.output.sensitivity)
Path(snakemake.output.verdict).write_text(tables["verdict"]["text"].iloc[0] + "\n")
