"""Adapter: a study's (or a meta-analysis') stage tables -> APA manuscript tables (efficacy.tables)."""
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.tables import meta_tables, study_tables, write_tables

folder = Path(snakemake.input[0]).parent
tables = study_tables(folder) if snakemake.params.kind == "study" else meta_tables(folder)
write_tables(tables, snakemake.output.docx, snakemake.output.tex, heading=snakemake.params.title)
print(f"{len(tables)} tables: {', '.join(t.extra.get('title', t.title) for t in tables)}", file=sys.stderr)
