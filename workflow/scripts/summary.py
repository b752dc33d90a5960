"""Adapter: results/ tables -> results/summary.md and summary.html (efficacy.summary)."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w")

from efficacy.io import atomic_write_text
from efficacy.summary import build_summary, markdown_to_html

text = build_summary("results", snakemake.params.studies, fragile_rho=snakemake.params.fragile_rho)
atomic_write_text(snakemake.output.md, text)
atomic_write_text(snakemake.output.html, markdown_to_html(text, base="results"))
