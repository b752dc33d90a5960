"""Adapter: one specification of the multiverse -> its one-row table (efficacy.multiverse.run_specification)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.codebook import load_codebook
from efficacy.io import read_clean, write_table
from efficacy.multiverse import run_specification

p = snakemake.params
res = run_specification(read_clean(snakemake.input.data), load_codebook(snakemake.input.codebook), dict(p.spec),
                        n_boot=p.n_boot, ci_level=p.ci_level, fragile_rho=p.fragile_rho, seed=p.seed)
write_table(res.to_frame(), snakemake.output[0])
