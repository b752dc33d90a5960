"""Adapter: clean scored data -> the per-study statistics of four stages in one job (rule analyse).

Reliability (efficacy.reliability.run_stage), measurement (efficacy.measurement.run_stage: CFA and
discriminant validity), mediation (efficacy.mediation.run_stage) and latent mediation
(efficacy.mediation.latent.run_stage), each called with the parameters its own job had, so the tables
are the same bytes. Each stage's tables are written before the next stage starts; the log says how long
each stage took.
"""
import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")
# BLAS threads = the rule's threads: small matrix algebra in many threads is slower, much slower on a busy machine
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(snakemake.threads)

from efficacy import measurement, mediation, reliability
from efficacy.codebook import load_codebook
from efficacy.io import atomic_write_text, read_clean, read_table, write_table
from efficacy.mediation import latent

clean = read_clean(snakemake.input.clean)
codebook = load_codebook(snakemake.input.codebook)
params = snakemake.params
out = snakemake.output


def stage(name, run, **kwargs):
    start = time.process_time()
    tables = run(clean, codebook, **kwargs)
    print(f"{name}: {time.process_time() - start:.2f} s CPU", file=sys.stderr)
    return tables


for key, table in stage("reliability", reliability.run_stage, **params.reliability).items():
    # "items" is reserved in Snakemake, so that output is named item_stats in the rule.
    write_table(table, out["item_stats" if key == "items" else key])
for key, table in stage("measurement", measurement.run_stage, model=params.measurement_model,
                        **params.measurement).items():
    write_table(table, out[key])
panel = read_table(snakemake.input.panel) if "panel" in snakemake.input.keys() else None
tables = stage("mediation", mediation.run_stage, panel_comparison=panel, **params.mediation)
for key in ("mediation", "sensitivity", "causal_mediation", "model_comparison", "moderated_mediation", "evidence"):
    write_table(tables[key], out[key])
atomic_write_text(out.verdict, tables["verdict"]["text"].iloc[0] + "\n")
for key, table in stage("latent mediation", latent.run_stage, **params.latent_mediation).items():
    write_table(table, out[key])
