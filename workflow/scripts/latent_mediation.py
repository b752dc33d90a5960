"""Adapter: clean scored data -> latent mediation (the mediator scale as a factor).

All statistics are in efficacy.mediation.latent.run_stage; this script only reads and writes files.
"""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.codebook import load_codebook
from efficacy.io import read_clean, write_table
from efficacy.mediation.latent import run_stage

tables = run_stage(
    read_clean(snakemake.input.clean),
    load_codebook(snakemake.input.codebook),
    **dict(snakemake.params.items()),
)
write_table(tables["latent_mediation"], snakemake.output.latent_mediation)
