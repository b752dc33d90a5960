"""Adapter: a study's codebook and raw file -> its scored data before exclusions (the multiverse's input)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.codebook import load_codebook
from efficacy.io import write_table
from efficacy.multiverse import prepare_data

write_table(prepare_data(load_codebook(snakemake.input.codebook)), snakemake.output[0], float_format="%.17g")
