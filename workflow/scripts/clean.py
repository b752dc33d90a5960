"""Adapter: raw study folder -> clean, scored data (efficacy.cleaning)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.cleaning import clean_study
from efficacy.workflow import write_cleaning

result = clean_study(snakemake.input.codebook)
write_cleaning(result, snakemake.output)
