"""Adapter: clean scored data -> CFA fit/estimates, discriminant validity, invariance (efficacy.measurement)."""
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")
# BLAS threads = the rule's threads: small matrix algebra in many threads is slower, much slower on a busy machine
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(snakemake.threads)

from efficacy.codebook import load_codebook
from efficacy.io import read_clean, write_table
from efficacy.measurement import run_stage

tables = run_stage(
    read_clean(snakemake.input.clean),
    load_codebook(snakemake.input.codebook),
    **dict(snakemake.params.items()),
)
for key, table in tables.items():
    write_table(table, getattr(snakemake.output, "invariance" if key.startswith("invariance_") else key))
